//! The header fields spans need, picked from decoded HPACK fields. Every other
//! field (`authorization`, `cookie`, ...) is dropped here, so it never
//! reaches an exchange.

use crate::protocol::grpc;
use crate::protocol::strip_query;

/// Values other than `:path` are kept up to this many bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// Kept fields of one stream direction (request or response, trailers merged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFields {
    pub method: Option<String>,
    /// `:path` without query string or fragment.
    pub path: Option<String>,
    /// `:authority`, else `host`.
    pub authority: Option<String>,
    pub scheme: Option<String>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub grpc_status: Option<u32>,
    /// Percent-decoded, at most [`grpc::MAX_MESSAGE_BYTES`].
    pub grpc_message: Option<String>,
    /// `grpc-timeout`, ns.
    pub grpc_timeout_ns: Option<u64>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub user_agent: Option<String>,
    host: Option<String>,
}

fn set(slot: &mut Option<String>, v: &[u8], max: usize) {
    if slot.is_none() {
        *slot = Some(grpc::truncate_lossy(v, max));
    }
}

/// `:status` is exactly three digits.
fn parse_status(v: &[u8]) -> Option<u16> {
    match v {
        [a, b, c] if v.iter().all(u8::is_ascii_digit) && *a != b'0' => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

impl HeaderFields {
    /// Takes one decoded field. Within a block the first occurrence wins.
    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        match name {
            b":method" => set(&mut self.method, value, MAX_VALUE_BYTES),
            b":path" => set(&mut self.path, strip_query(value), usize::MAX),
            b":authority" => set(&mut self.authority, value, MAX_VALUE_BYTES),
            b"host" => set(&mut self.host, value, MAX_VALUE_BYTES),
            b":scheme" => set(&mut self.scheme, value, MAX_VALUE_BYTES),
            b":status" if self.status.is_none() => self.status = parse_status(value),
            b"content-type" => set(&mut self.content_type, value, MAX_VALUE_BYTES),
            b"grpc-status" if self.grpc_status.is_none() => self.grpc_status = grpc::parse_status(value),
            b"grpc-message" if self.grpc_message.is_none() && !value.is_empty() => {
                self.grpc_message = Some(grpc::decode_message(value, grpc::MAX_MESSAGE_BYTES));
            }
            b"grpc-timeout" if self.grpc_timeout_ns.is_none() => self.grpc_timeout_ns = grpc::parse_timeout(value),
            b"traceparent" => set(&mut self.traceparent, value, MAX_VALUE_BYTES),
            b"tracestate" => set(&mut self.tracestate, value, MAX_VALUE_BYTES),
            b"user-agent" => set(&mut self.user_agent, value, MAX_VALUE_BYTES),
            _ => {}
        }
    }

    /// Folds in the fields of a later block on the same side (a final
    /// response after 1xx, trailers): missing values are filled, and a final
    /// `:status` replaces an informational one.
    pub fn merge(&mut self, later: HeaderFields) {
        let informational = self.status.is_some_and(|s| s < 200);
        if later.status.is_some() && (self.status.is_none() || informational) {
            self.status = later.status;
        }
        let HeaderFields {
            method,
            path,
            authority,
            scheme,
            status: _,
            content_type,
            grpc_status,
            grpc_message,
            grpc_timeout_ns,
            traceparent,
            tracestate,
            user_agent,
            host,
        } = later;
        fill(&mut self.method, method);
        fill(&mut self.path, path);
        fill(&mut self.authority, authority);
        fill(&mut self.scheme, scheme);
        fill(&mut self.content_type, content_type);
        if self.grpc_status.is_none() {
            self.grpc_status = grpc_status;
        }
        fill(&mut self.grpc_message, grpc_message);
        self.grpc_timeout_ns = self.grpc_timeout_ns.or(grpc_timeout_ns);
        fill(&mut self.traceparent, traceparent);
        fill(&mut self.tracestate, tracestate);
        fill(&mut self.user_agent, user_agent);
        fill(&mut self.host, host);
    }

    /// `:authority`, falling back to `host`.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref().or(self.host.as_deref())
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        [
            &self.method,
            &self.path,
            &self.authority,
            &self.scheme,
            &self.content_type,
            &self.grpc_message,
            &self.traceparent,
            &self.tracestate,
            &self.user_agent,
            &self.host,
        ]
        .iter()
        .map(|s| s.as_ref().map_or(0, String::capacity))
        .sum()
    }
}

fn fill(slot: &mut Option<String>, v: Option<String>) {
    if slot.is_none() {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_span_fields() {
        let mut f = HeaderFields::default();
        for (n, v) in [
            (":method", "GET"),
            (":path", "/a/b?token=s3cr3t#frag"),
            (":authority", "example.com:8080"),
            (":scheme", "https"),
            ("authorization", "Bearer s3cr3t"),
            ("cookie", "session=c00kie"),
            ("user-agent", "curl/8"),
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            (":method", "POST"),
        ] {
            f.add(n.as_bytes(), v.as_bytes());
        }
        assert_eq!(f.method.as_deref(), Some("GET"));
        assert_eq!(f.path.as_deref(), Some("/a/b"));
        assert_eq!(f.authority(), Some("example.com:8080"));
        assert_eq!(f.user_agent.as_deref(), Some("curl/8"));
        let dbg = format!("{f:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("c00kie"), "{dbg}");
    }

    #[test]
    fn status_and_trailers_merge() {
        let mut head = HeaderFields::default();
        head.add(b":status", b"100");
        let mut fin = HeaderFields::default();
        fin.add(b":status", b"200");
        fin.add(b"content-type", b"application/grpc");
        head.merge(fin);
        let mut trailers = HeaderFields::default();
        trailers.add(b"grpc-status", b"5");
        trailers.add(b"grpc-message", b"not%20found");
        head.merge(trailers);
        assert_eq!(head.status, Some(200));
        assert_eq!(head.grpc_status, Some(5));
        assert_eq!(head.grpc_message.as_deref(), Some("not found"));
        let mut bad = HeaderFields::default();
        for v in ["20", "2000", "abc", "099"] {
            bad.add(b":status", v.as_bytes());
        }
        assert_eq!(bad.status, None);
        let mut host = HeaderFields::default();
        host.add(b"host", b"h:1");
        assert_eq!(host.authority(), Some("h:1"));
    }
}
