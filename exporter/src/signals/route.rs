//! A low-cardinality `http.route` guessed from a concrete path: the wire carries no route
//! template, so path segments that look like identifiers collapse to `*`.

/// `/users/123/orders/9f8e…` → `/users/*/orders/*`.
pub fn derive_route(path: &str) -> String {
    derive_route_counted(path).0
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
    use super::{derive_route, derive_route_counted};

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
    fn many_ids_give_one_route() {
        let routes: std::collections::HashSet<String> =
            (0..10_000).map(|i| derive_route(&format!("/users/{i}"))).collect();
        assert_eq!(routes.len(), 1);
    }
}
