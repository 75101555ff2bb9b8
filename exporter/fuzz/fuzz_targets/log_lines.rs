//! Captured stdout/stderr writes: split into bounded lines and given a severity; never a
//! panic, never a line or a line count over its limit.
//!
//! Input layout: one byte for the line length cap, one for the line count cap, then the write.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::signals::logs::{detect_level, split_lines};

fuzz_target!(|input: &[u8]| {
    let [max_len, max_lines, write @ ..] = input else {
        return;
    };
    let (max_len, max_lines) = (usize::from(*max_len) + 1, usize::from(*max_lines % 64));
    let (lines, skipped) = split_lines(write, max_len, max_lines);
    assert!(lines.len() <= max_lines);
    assert!(lines.len() + skipped <= write.split(|&b| b == b'\n').count());
    for (line, _cut) in &lines {
        assert!(line.len() <= max_len);
        let _ = detect_level(line);
    }
});
