//! HTTP/1.x wire parsing: message heads and body framing. Pure functions and
//! small state machines, no I/O; see `crate::request::http1` for pairing.

pub mod body;
pub mod head;

pub use body::{BodyDecoder, BodyError, BodyKind, Progress};
pub use head::{
    looks_like_request_start, looks_like_response_start, parse_request_head, parse_response_head, HeadError, Method,
    RequestHead, ResponseHead,
};

#[cfg(test)]
mod body_tests;
#[cfg(test)]
mod head_tests;
