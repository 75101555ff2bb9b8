//! `traceparent` values from request headers: never a panic; whatever parses re-encodes to
//! a value that parses to the same context.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::trace::traceparent::parse_traceparent;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Some(tp) = parse_traceparent(text) {
        let encoded = format!("00-{}-{}-{:02x}", tp.trace_id, tp.span_id, tp.flags.to_u8());
        assert_eq!(parse_traceparent(&encoded), Some(tp), "{encoded}");
    }
});
