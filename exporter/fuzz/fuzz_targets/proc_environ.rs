//! `/proc/<pid>/environ` (NUL-separated `NAME=value`, arbitrary bytes): never a panic; a
//! service name found comes from the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::decorate::env::EnvResource;

fuzz_target!(|input: &[u8]| {
    let env = EnvResource::from_environ(input);
    for value in [env.service_name, env.service_namespace].into_iter().flatten() {
        let haystack = String::from_utf8_lossy(input);
        assert!(haystack.contains(value.trim()), "{value:?}");
    }
});
