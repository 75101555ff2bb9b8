//! `http.route` derived from request paths off the wire: never a panic, never longer than
//! the path, the same number of segments, and stable (a route derives to itself).

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::signals::route::derive_route_counted;

fuzz_target!(|input: &[u8]| {
    let Ok(path) = std::str::from_utf8(input) else {
        return;
    };
    let (route, collapsed) = derive_route_counted(path);
    assert!(route.len() <= path.len());
    assert_eq!(route.matches('/').count(), path.matches('/').count());
    assert!(collapsed <= path.matches('/').count());
    assert_eq!(derive_route_counted(&route), (route.clone(), 0), "{path:?}");
});
