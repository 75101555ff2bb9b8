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
