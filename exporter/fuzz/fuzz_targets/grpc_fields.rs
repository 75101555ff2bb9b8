//! gRPC header values from the wire (`grpc-timeout`, `grpc-status`, `grpc-message`, the
//! `:path`): never a panic, and results within their documented bounds.
//!
//! Input layout: one byte choosing the `grpc-message` length cap, then the value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::protocol::grpc::{decode_message, parse_status, parse_timeout, rpc_method};

fuzz_target!(|input: &[u8]| {
    let Some((&cap, value)) = input.split_first() else {
        return;
    };
    if let Some(ns) = parse_timeout(value) {
        assert!(value.len() <= 9, "at most 8 digits and a unit");
        let _ = ns;
    }
    if let Some(code) = parse_status(value) {
        let digits = std::str::from_utf8(value).expect("digits are ASCII");
        assert_eq!(digits.parse::<u32>().ok(), Some(code));
    }
    let max = usize::from(cap) * 4;
    assert!(decode_message(value, max).len() <= max);
    if let Ok(path) = std::str::from_utf8(value) {
        if let Some(method) = rpc_method(path) {
            assert!(path.contains(method));
        }
    }
});
