//! A low-cardinality `http.route` guessed from a concrete path: the wire carries no route
//! template, so path segments that look like identifiers collapse to `*`.

use std::sync::Arc;

use crate::fast_map::FastMap;

/// Routes longer than this are cut (a route is an attribute value, not a payload).
pub const MAX_ROUTE_BYTES: usize = 256;
/// Paths remembered by a [`RouteCache`] before it starts over.
const CACHE_PATHS: usize = 4096;

/// `/users/123/orders/9f8e…` → `/users/*/orders/*`.
pub fn derive_route(path: &str) -> String {
    derive_route_counted(path).0
}

/// The `http.route` of a path as spans and metrics carry it: identifiers collapsed and
/// length-bounded. Returns the route and how many segments were collapsed.
pub fn route_of(path: &str) -> (String, usize) {
    let (mut route, collapsed) = derive_route_counted(path);
    if route.len() > MAX_ROUTE_BYTES {
        let mut cut = MAX_ROUTE_BYTES;
        while !route.is_char_boundary(cut) {
            cut -= 1;
        }
        route.truncate(cut);
    }
    (route, collapsed)
}

/// The routes of recently seen paths: a service answers the same few paths over and over, so
/// the route is derived (and allocated) once per path, not once per request. Bounded: when
/// `CACHE_PATHS` distinct paths were seen it starts over (paths full of ids never repeat).
#[derive(Default)]
pub struct RouteCache {
    routes: FastMap<Box<str>, (Arc<str>, usize)>,
}

impl RouteCache {
    /// [`route_of`] of `path`, shared.
    pub fn route(&mut self, path: &str) -> (Arc<str>, usize) {
        if let Some((route, collapsed)) = self.routes.get(path) {
            return (route.clone(), *collapsed);
        }
        if self.routes.len() >= CACHE_PATHS {
            self.routes.clear();
        }
        let (route, collapsed) = route_of(path);
        let route: Arc<str> = route.into();
        self.routes.insert(path.into(), (route.clone(), collapsed));
        (route, collapsed)
    }
}

/// The route and how many path segments were collapsed into `*`.
pub fn derive_route_counted(path: &str) -> (String, usize) {
    if !path.starts_with('/') {
        return (path.to_string(), 0);
    }
    let mut out = String::with_capacity(path.len());
    let mut collapsed = 0;
    for seg in path.split('/').skip(1) {
        out.push('/');
        if looks_like_id(seg) {
            out.push('*');
            collapsed += 1;
        } else {
            out.push_str(seg);
        }
    }
    (out, collapsed)
}

fn looks_like_id(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    if digits == seg.len() {
        return true; // 123
    }
    if is_uuid(seg) {
        return true;
    }
    let hex = seg.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && seg.len() >= 8 && digits > 0 {
        return true; // 9f8e1c2d, sha digests
    }
    // Long opaque tokens (base64, ULIDs, slugs with numbers) that mix digits in.
    seg.len() >= 20 && digits > 0
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::{derive_route, derive_route_counted, route_of, RouteCache, CACHE_PATHS, MAX_ROUTE_BYTES};

    #[test]
    fn collapses_identifiers() {
        assert_eq!(derive_route("/users/123/orders"), "/users/*/orders");
        assert_eq!(derive_route("/items/550e8400-e29b-41d4-a716-446655440000"), "/items/*");
        assert_eq!(derive_route("/blobs/9f8e1c2dab"), "/blobs/*");
        assert_eq!(derive_route("/t/AbCdEfGhIjKlMnOpQrSt1234"), "/t/*");
        assert_eq!(derive_route("/hello"), "/hello");
        assert_eq!(derive_route("/"), "/");
        assert_eq!(derive_route("/api/v2/cafe"), "/api/v2/cafe");
        assert_eq!(derive_route("*"), "*");
    }

    #[test]
    fn counts_collapsed_segments() {
        assert_eq!(derive_route_counted("/users/123/orders/9f8e1c2dab"), ("/users/*/orders/*".to_string(), 2));
        assert_eq!(derive_route_counted("/users/me"), ("/users/me".to_string(), 0));
    }

    #[test]
    fn routes_are_bounded() {
        assert_eq!(route_of("/users/42"), ("/users/*".to_string(), 1));
        let long = format!("/{}", "é".repeat(400));
        let (r, _) = route_of(&long);
        assert!(r.len() <= MAX_ROUTE_BYTES && r.starts_with("/é"));
    }

    #[test]
    fn the_cache_gives_the_same_route_and_count_and_stays_bounded() {
        let mut c = RouteCache::default();
        let (a, n) = c.route("/users/7/orders");
        let (b, m) = c.route("/users/7/orders");
        assert_eq!((&*a, n), ("/users/*/orders", 1));
        assert_eq!((&*b, m), ("/users/*/orders", 1));
        assert!(std::sync::Arc::ptr_eq(&a, &b), "a cached path shares its route");
        for i in 0..(CACHE_PATHS * 3) {
            assert_eq!(&*c.route(&format!("/u/{i}")).0, "/u/*");
        }
        assert!(c.routes.len() <= CACHE_PATHS);
    }

    #[test]
    fn many_ids_give_one_route() {
        let routes: std::collections::HashSet<String> =
            (0..10_000).map(|i| derive_route(&format!("/users/{i}"))).collect();
        assert_eq!(routes.len(), 1);
    }
}
