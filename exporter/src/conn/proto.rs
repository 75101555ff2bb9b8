//! Which protocol a connection speaks, decided from its first payload bytes.

use crate::protocol::http2::{is_client_preface, looks_like_http2_frames};
use crate::request::http1::Http1Connection;
use crate::request::http2::Http2Connection;
use crate::request::Role;

use super::ProtoLimits;

/// Protocol state of one connection.
#[derive(Debug)]
pub enum Proto {
    /// No payload seen yet.
    Unknown,
    Http1(Http1Connection),
    Http2(Box<Http2Connection>),
}

impl Proto {
    /// Settles the protocol before `data` (the first captured bytes of a segment) is fed.
    ///
    /// HTTP/2 is recognised by the client preface, or, when the capture started
    /// mid-connection, by plausible SETTINGS/HEADERS frames; everything else is
    /// fed to the HTTP/1 parser, which skips what it cannot sync to. An HTTP/1
    /// connection that has not yet seen a single request head switches to HTTP/2
    /// when a later segment starts with HTTP/2 frames.
    pub fn detect(&mut self, data: &[u8], limits: &ProtoLimits) {
        if data.is_empty() {
            return;
        }
        let h2 = || is_client_preface(data) || looks_like_http2_frames(data);
        let switch = match self {
            Proto::Unknown => true,
            Proto::Http1(h1) => h1.role().is_none() && h1.pending_requests() == 0 && h2(),
            Proto::Http2(_) => false,
        };
        if switch {
            *self = if h2() {
                Proto::Http2(Box::new(Http2Connection::new(limits.http2)))
            } else {
                Proto::Http1(Http1Connection::new(limits.http1))
            };
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Proto::Unknown => None,
            Proto::Http1(h) => h.role(),
            Proto::Http2(h) => h.role(),
        }
    }

    pub fn shrink_idle(&mut self) {
        if let Proto::Http1(h) = self {
            h.shrink_idle();
        }
    }

    /// Requests that were seen and have no response yet.
    pub fn pending_requests(&self) -> usize {
        match self {
            Proto::Unknown => 0,
            Proto::Http1(h) => h.pending_requests(),
            Proto::Http2(h) => h.tracked_streams(),
        }
    }

    pub fn is_opaque(&self) -> bool {
        match self {
            Proto::Unknown => false,
            Proto::Http1(h) => h.is_opaque(),
            Proto::Http2(h) => h.is_opaque(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http2::PREFACE;

    fn kind(p: &Proto) -> &'static str {
        match p {
            Proto::Unknown => "unknown",
            Proto::Http1(_) => "http1",
            Proto::Http2(_) => "http2",
        }
    }

    #[test]
    fn preface_frames_and_text_are_told_apart() {
        let limits = ProtoLimits::default();
        let mut p = Proto::Unknown;
        p.detect(b"", &limits);
        assert_eq!(kind(&p), "unknown");
        p.detect(&PREFACE[..10], &limits);
        assert_eq!(kind(&p), "http2");

        // A SETTINGS frame (empty payload) seen mid-connection.
        let mut p = Proto::Unknown;
        p.detect(&[0, 0, 0, 4, 0, 0, 0, 0, 0], &limits);
        assert_eq!(kind(&p), "http2");

        let mut p = Proto::Unknown;
        p.detect(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &limits);
        assert_eq!(kind(&p), "http1");
        // Random bytes do not switch an HTTP/1 connection that never synced...
        p.detect(b"\x17\x03\x03 tls-ish", &limits);
        assert_eq!(kind(&p), "http1");
        // ...but HTTP/2 frames do.
        p.detect(&[0, 0, 0, 4, 0, 0, 0, 0, 0], &limits);
        assert_eq!(kind(&p), "http2");
    }
}
