//! Ring-buffer records as the kernel writes them (header, then `captured` payload bytes): a
//! truncated or garbled record is an error, never a panic; a decoded event never carries more
//! payload than the record held or the kernel may capture.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::ebpf::records::{decode, HEADER_LEN, MAX_PAYLOAD};

fuzz_target!(|input: &[u8]| {
    if let Ok(ev) = decode(input) {
        assert!(input.len() >= HEADER_LEN);
        assert!(ev.payload.len() <= input.len() - HEADER_LEN);
        assert!(ev.payload.len() <= MAX_PAYLOAD as usize);
    }
});
