//! `/proc/<pid>/cgroup` contents (v1 and v2 lines, container runtimes' path shapes): never a
//! panic; a container id found is non-empty and taken from the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::decorate::cgroup::parse;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Some(found) = parse(text) {
        let id = found.id.as_str();
        assert!(!id.is_empty() && text.contains(id), "{id:?}");
    }
});
