//! gRPC over HTTP/2: detection, `rpc.method`, status codes and the
//! OpenTelemetry span-status rules.
//!
//! See the gRPC HTTP/2 protocol description (PROTOCOL-HTTP2.md) and the
//! OpenTelemetry semantic conventions for RPC spans.

pub(crate) use crate::protocol::truncate_lossy;
use std::fmt;

use crate::request::Role;

/// Content types of gRPC start with this (`application/grpc`, `+proto`, `+json`, `-web`, ...).
pub const CONTENT_TYPE_PREFIX: &str = "application/grpc";
/// `grpc-message` is kept up to this many bytes (after percent-decoding).
pub const MAX_MESSAGE_BYTES: usize = 256;

/// Whether a `content-type` value denotes gRPC.
pub fn is_grpc_content_type(content_type: &str) -> bool {
    content_type
        .as_bytes()
        .get(..CONTENT_TYPE_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(CONTENT_TYPE_PREFIX.as_bytes()))
}

/// `rpc.method` as `pkg.Service/Method` from a `:path` of `/pkg.Service/Method`.
pub fn rpc_method(path: &str) -> Option<&str> {
    let m = path.strip_prefix('/')?;
    let (service, method) = m.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/')).then_some(m)
}

/// A gRPC status code (grpc/doc/statuscodes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrpcCode {
    Ok,
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

const CODES: [(GrpcCode, &str); 17] = [
    (GrpcCode::Ok, "OK"),
    (GrpcCode::Cancelled, "CANCELLED"),
    (GrpcCode::Unknown, "UNKNOWN"),
    (GrpcCode::InvalidArgument, "INVALID_ARGUMENT"),
    (GrpcCode::DeadlineExceeded, "DEADLINE_EXCEEDED"),
    (GrpcCode::NotFound, "NOT_FOUND"),
    (GrpcCode::AlreadyExists, "ALREADY_EXISTS"),
    (GrpcCode::PermissionDenied, "PERMISSION_DENIED"),
    (GrpcCode::ResourceExhausted, "RESOURCE_EXHAUSTED"),
    (GrpcCode::FailedPrecondition, "FAILED_PRECONDITION"),
    (GrpcCode::Aborted, "ABORTED"),
    (GrpcCode::OutOfRange, "OUT_OF_RANGE"),
    (GrpcCode::Unimplemented, "UNIMPLEMENTED"),
    (GrpcCode::Internal, "INTERNAL"),
    (GrpcCode::Unavailable, "UNAVAILABLE"),
    (GrpcCode::DataLoss, "DATA_LOSS"),
    (GrpcCode::Unauthenticated, "UNAUTHENTICATED"),
];

impl GrpcCode {
    pub fn from_u32(code: u32) -> Option<GrpcCode> {
        CODES.get(usize::try_from(code).ok()?).map(|&(c, _)| c)
    }

    pub fn code(self) -> u32 {
        CODES.iter().position(|&(c, _)| c == self).unwrap_or(2) as u32
    }

    /// Canonical upper-case name (`NOT_FOUND`).
    pub fn name(self) -> &'static str {
        CODES.iter().find(|&&(c, _)| c == self).map_or("UNKNOWN", |&(_, n)| n)
    }

    pub fn from_name(name: &str) -> Option<GrpcCode> {
        CODES.iter().find(|&&(_, n)| n == name).map(|&(c, _)| c)
    }

    /// Whether a span of `role` with this status is an error (OpenTelemetry
    /// RPC conventions): any non-OK code for a client; for a server only
    /// codes that indicate a server fault.
    pub fn is_error(self, role: Role) -> bool {
        match role {
            Role::Client => self != GrpcCode::Ok,
            Role::Server => matches!(
                self,
                GrpcCode::Unknown
                    | GrpcCode::DeadlineExceeded
                    | GrpcCode::Unimplemented
                    | GrpcCode::Internal
                    | GrpcCode::Unavailable
                    | GrpcCode::DataLoss
            ),
        }
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Span-status rule for a numeric code; codes outside 0..=16 are errors for
/// a client (not OK) and not for a server (not a known server fault).
pub fn is_span_error(role: Role, code: u32) -> bool {
    match GrpcCode::from_u32(code) {
        Some(c) => c.is_error(role),
        None => role == Role::Client,
    }
}

/// One gRPC call seen on an HTTP/2 stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    /// `pkg.Service/Method`.
    pub method: String,
    /// `grpc-status`; `None` when the trailers were not seen.
    pub status_code: Option<u32>,
    /// `grpc-message`, percent-decoded, at most [`MAX_MESSAGE_BYTES`].
    pub message: Option<String>,
    /// The client's deadline from `grpc-timeout`, ns.
    pub timeout_ns: Option<u64>,
}

impl GrpcCall {
    pub fn status(&self) -> Option<GrpcCode> {
        self.status_code.and_then(GrpcCode::from_u32)
    }

    /// Span-status rule; an unknown outcome (no `grpc-status`) is not an error.
    pub fn is_error(&self, role: Role) -> bool {
        self.status_code.is_some_and(|c| is_span_error(role, c))
    }

    /// The call's status code: `grpc-status` when it was seen; otherwise what
    /// the stream's end implies. A stream reset (or cut) once the client's
    /// `grpc-timeout` had elapsed is DEADLINE_EXCEEDED (the client gives up
    /// with RST_STREAM(CANCEL) when its deadline passes); another reset maps
    /// by the gRPC HTTP/2 spec. `None` when nothing says how the call ended.
    pub fn outcome(&self, reset: Option<u32>, duration_ns: u64) -> Option<u32> {
        if self.status_code.is_some() {
            return self.status_code;
        }
        // Both ends measure the deadline from slightly different instants: allow 5 %.
        let deadline_passed = self.timeout_ns.is_some_and(|t| duration_ns.saturating_mul(100) >= t.saturating_mul(95));
        match reset {
            Some(_) if deadline_passed => Some(GrpcCode::DeadlineExceeded.code()),
            Some(code) => Some(code_of_reset(code).code()),
            None => None,
        }
    }
}

/// gRPC status of a call ended by RST_STREAM with this HTTP/2 error code
/// (PROTOCOL-HTTP2.md, "Errors").
pub fn code_of_reset(error_code: u32) -> GrpcCode {
    match error_code {
        0x7 => GrpcCode::Unavailable,       // REFUSED_STREAM
        0x8 => GrpcCode::Cancelled,         // CANCEL
        0xb => GrpcCode::ResourceExhausted, // ENHANCE_YOUR_CALM
        0xc => GrpcCode::PermissionDenied,  // INADEQUATE_SECURITY
        _ => GrpcCode::Internal,
    }
}

/// Parses a `grpc-timeout` value (up to 8 digits and a unit of H M S m u n) to ns.
pub fn parse_timeout(v: &[u8]) -> Option<u64> {
    let (&unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    let ns_per_unit: u64 = match unit {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    };
    // 99999999H does not fit in u64 ns: such a deadline is "never".
    Some(n.saturating_mul(ns_per_unit))
}

/// Parses a `grpc-status` value (decimal).
pub fn parse_status(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u32, |n, &d| n.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// Decodes a `grpc-message` value (percent-encoded UTF-8), keeping at most
/// `max` bytes (cut at a character boundary).
pub fn decode_message(v: &[u8], max: usize) -> String {
    let mut bytes = Vec::with_capacity(v.len().min(max + 4));
    let mut i = 0;
    while i < v.len() && bytes.len() < max + 4 {
        let b = v[i];
        let hex = |j: usize| v.get(j).and_then(|&c| char::from(c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                bytes.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    truncate_lossy(&bytes, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        for ct in ["application/grpc", "application/grpc+proto", "Application/GRPC+json", "application/grpc-web"] {
            assert!(is_grpc_content_type(ct), "{ct}");
        }
        for ct in ["application/json", "application/gr", "", "text/grpc"] {
            assert!(!is_grpc_content_type(ct), "{ct}");
        }
    }

    #[test]
    fn method_from_path() {
        assert_eq!(rpc_method("/grpc.examples.echo.Echo/UnaryEcho"), Some("grpc.examples.echo.Echo/UnaryEcho"));
        assert_eq!(rpc_method("/Svc/M"), Some("Svc/M"));
        for bad in ["", "/", "/Svc", "/Svc/", "//M", "Svc/M", "/a/b/c"] {
            assert_eq!(rpc_method(bad), None, "{bad}");
        }
    }

    #[test]
    fn code_names_round_trip() {
        assert_eq!(CODES.len(), 17);
        for (i, &(code, name)) in CODES.iter().enumerate() {
            assert_eq!(code.code(), i as u32);
            assert_eq!(GrpcCode::from_u32(i as u32), Some(code));
            assert_eq!(GrpcCode::from_name(name), Some(code));
            assert_eq!(code.to_string(), name);
        }
        assert_eq!(GrpcCode::from_u32(17), None);
        assert_eq!(GrpcCode::NotFound.name(), "NOT_FOUND");
        assert_eq!(GrpcCode::Unauthenticated.code(), 16);
    }

    #[test]
    fn span_status_rules() {
        let server_errors = [2, 4, 12, 13, 14, 15];
        for code in 0..=16u32 {
            assert_eq!(is_span_error(Role::Server, code), server_errors.contains(&code), "server {code}");
            assert_eq!(is_span_error(Role::Client, code), code != 0, "client {code}");
        }
        assert!(!is_span_error(Role::Server, 99));
        assert!(is_span_error(Role::Client, 99));
        let call = GrpcCall { method: "a/b".into(), status_code: None, message: None, timeout_ns: None };
        assert!(!call.is_error(Role::Client));
        let call = GrpcCall { status_code: Some(5), ..call };
        assert_eq!(call.status(), Some(GrpcCode::NotFound));
        assert!(call.is_error(Role::Client) && !call.is_error(Role::Server));
    }

    #[test]
    fn timeouts_and_outcomes() {
        assert_eq!(parse_timeout(b"100m"), Some(100_000_000));
        assert_eq!(parse_timeout(b"1S"), Some(1_000_000_000));
        assert_eq!(parse_timeout(b"99999999H"), Some(u64::MAX));
        assert_eq!(parse_timeout(b"2H"), Some(7_200_000_000_000));
        assert_eq!(parse_timeout(b"7n"), Some(7));
        for bad in [&b""[..], b"m", b"100", b"123456789m", b"10x", b"-1S"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
        let call = GrpcCall { method: "a/b".into(), status_code: None, message: None, timeout_ns: Some(100_000_000) };
        assert_eq!(call.outcome(None, 200_000_000), None, "no status, no reset: unknown");
        assert_eq!(call.outcome(Some(8), 99_000_000), Some(4), "reset at the deadline");
        assert_eq!(call.outcome(Some(8), 10_000_000), Some(1), "cancelled early");
        assert_eq!(call.outcome(Some(7), 1), Some(14));
        assert_eq!(call.outcome(Some(2), 1), Some(13));
        let done = GrpcCall { status_code: Some(5), ..call };
        assert_eq!(done.outcome(Some(8), 500_000_000), Some(5), "grpc-status wins");
    }

    #[test]
    fn status_and_message_values() {
        assert_eq!(parse_status(b"0"), Some(0));
        assert_eq!(parse_status(b"14"), Some(14));
        for bad in [&b""[..], b"-1", b"1a", b"99999999999"] {
            assert_eq!(parse_status(bad), None);
        }
        assert_eq!(decode_message(b"no such thing: missing", 256), "no such thing: missing");
        assert_eq!(decode_message(b"caf%C3%A9 %25 %zz", 256), "café % %zz");
        let long = "é".repeat(200);
        let cut = decode_message(long.as_bytes(), MAX_MESSAGE_BYTES);
        assert_eq!(cut.len(), 256);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
