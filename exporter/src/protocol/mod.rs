pub mod grpc;
pub mod http1;
pub mod http2;

/// Cuts a request target at the first `?` or `#`: query strings and fragments can carry
/// secrets and never leave the agent.
pub fn strip_query(target: &[u8]) -> &[u8] {
    match target.iter().position(|&b| b == b'?' || b == b'#') {
        Some(p) => &target[..p],
        None => target,
    }
}

/// Lossy UTF-8 of at most `max` bytes, cut at a character boundary.
pub fn truncate_lossy(v: &[u8], max: usize) -> String {
    // The common case: short valid UTF-8 (ASCII), copied once.
    if v.len() <= max {
        if let Ok(s) = std::str::from_utf8(v) {
            return s.to_owned();
        }
    }
    // Every input byte gives at least one output byte: only the first `max` bytes (and a
    // character's worth more, to see whether one is cut) can reach the result.
    let s = String::from_utf8_lossy(&v[..v.len().min(max.saturating_add(4))]);
    if s.len() <= max {
        return s.into_owned();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}
