//! Turning captured socket segments into request/response exchanges.
//!
//! Protocol-independent types live here; each protocol has a submodule.

pub mod http1;
pub mod http2;
#[cfg(test)]
pub(crate) mod test_support;

/// Which way the bytes of a segment flowed, seen from the traced process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The process read the bytes.
    Ingress,
    /// The process wrote the bytes.
    Egress,
}

impl Direction {
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Ingress => Direction::Egress,
            Direction::Egress => Direction::Ingress,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Direction::Ingress => 0,
            Direction::Egress => 1,
        }
    }
}

/// One captured read or write syscall on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Captured prefix of the payload.
    pub data: &'a [u8],
    /// Real number of bytes transferred by the syscall (`>= data.len()`).
    pub len: u64,
    /// Monotonic timestamp of syscall entry, ns.
    pub enter_ns: u64,
    /// Monotonic timestamp of syscall exit, ns.
    pub exit_ns: u64,
}

impl Segment<'_> {
    /// When the first byte of this segment existed for the traced process:
    /// at entry for a write, at exit for a read.
    pub fn start_ns(&self, dir: Direction) -> u64 {
        match dir {
            Direction::Egress => self.enter_ns,
            Direction::Ingress => self.exit_ns,
        }
    }

    /// Real length, never less than the captured length.
    pub fn real_len(&self) -> u64 {
        self.len.max(self.data.len() as u64)
    }

    /// Whether bytes of the syscall were not captured.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < self.len
    }
}

/// Which side of the connection the traced process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The process receives requests (reads them) and writes responses.
    Server,
    /// The process writes requests and reads responses.
    Client,
}

impl Role {
    /// Role implied by requests flowing in `dir`.
    pub fn from_request_direction(dir: Direction) -> Role {
        match dir {
            Direction::Ingress => Role::Server,
            Direction::Egress => Role::Client,
        }
    }

    /// Direction in which this role's requests flow.
    pub fn request_direction(self) -> Direction {
        match self {
            Role::Server => Direction::Ingress,
            Role::Client => Direction::Egress,
        }
    }
}

/// One completed request/response of any supported protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Http1(http1::Exchange),
    /// An HTTP/2 stream; gRPC when `StreamExchange::grpc` is set.
    Http2(http2::StreamExchange),
}

impl Call {
    pub fn role(&self) -> Role {
        match self {
            Call::Http1(e) => e.role,
            Call::Http2(e) => e.role,
        }
    }

    pub fn start_ns(&self) -> u64 {
        match self {
            Call::Http1(e) => e.start_ns,
            Call::Http2(e) => e.start_ns,
        }
    }

    /// The request path of a server's HTTP (not gRPC) request: what `http.route` is derived from.
    pub fn server_http_path(&self) -> Option<&str> {
        match self {
            Call::Http1(e) if e.role == Role::Server => Some(&e.request.path),
            Call::Http2(e) if e.role == Role::Server && e.grpc.is_none() => e.path.as_deref(),
            _ => None,
        }
    }

    pub fn end_ns(&self) -> u64 {
        match self {
            Call::Http1(e) => e.end_ns.max(e.start_ns),
            Call::Http2(e) => e.end_ns.max(e.start_ns),
        }
    }
}
