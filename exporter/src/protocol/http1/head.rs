//! HTTP/1.x request and response head parsing.
//!
//! The parsers are pure functions over a byte buffer that starts at the first
//! byte of a head. They never panic, never allocate more than the head itself
//! and never retain credentials: `Authorization`, `Cookie`, `Set-Cookie` and
//! the query string / fragment of the request target are dropped on the floor.

use crate::protocol::{strip_query, truncate_lossy as lossy};
use thiserror::Error;

/// Default upper bound for a request or response head (request line + headers).
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;

/// Longest method token accepted as [`Method::Other`].
const MAX_METHOD_LEN: usize = 20;
/// Longest header value retained in a head (longer values are cut on a char boundary).
const MAX_VALUE_LEN: usize = 1024;
/// Bytes needed to recognise a status line: `HTTP/1.1 200`.
pub const RESPONSE_SNIFF_LEN: usize = 12;

/// Request method. `Other` only holds short, upper-case token methods.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other(String),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(s) => s,
        }
    }

    /// Parses a method token; `None` unless it is a known method or an
    /// upper-case token (`A-Z`, `-`, `_`, starting with a letter) of at most 20 bytes.
    pub fn from_token(tok: &[u8]) -> Option<Method> {
        let known = match tok {
            b"GET" => Some(Method::Get),
            b"HEAD" => Some(Method::Head),
            b"POST" => Some(Method::Post),
            b"PUT" => Some(Method::Put),
            b"DELETE" => Some(Method::Delete),
            b"CONNECT" => Some(Method::Connect),
            b"OPTIONS" => Some(Method::Options),
            b"TRACE" => Some(Method::Trace),
            b"PATCH" => Some(Method::Patch),
            _ => None,
        };
        if known.is_some() {
            return known;
        }
        if !is_method_token(tok) {
            return None;
        }
        std::str::from_utf8(tok).ok().map(|s| Method::Other(s.to_owned()))
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_method_token(tok: &[u8]) -> bool {
    match tok.first() {
        Some(b) if b.is_ascii_uppercase() => {}
        _ => return false,
    }
    tok.len() <= MAX_METHOD_LEN && tok.iter().all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
}

/// A parsed request head. Never contains credentials or the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// Request target without query string or fragment. `*` for asterisk-form,
    /// the path part for absolute-form, `host:port` for authority-form (CONNECT).
    pub path: String,
    pub version_minor: u8,
    pub host: Option<String>,
    /// Declared body length; `None` when absent or when chunked framing wins.
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// Effective: `Connection: close`, or HTTP/1.0 without `keep-alive`.
    pub connection_close: bool,
    pub expect_continue: bool,
    pub upgrade: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub user_agent: Option<String>,
    /// Bytes of the head including the terminating empty line
    /// (for a truncated head: the captured bytes that were looked at).
    pub head_len: usize,
    /// The head was cut by the capture limit: only the request line (possibly
    /// itself cut) and the complete header lines that fit are known.
    pub truncated: bool,
}

/// A parsed response head. Never contains `Set-Cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub version_minor: u8,
    /// Declared body length; `None` when absent or when `Transfer-Encoding` is present.
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub connection_close: bool,
    pub head_len: usize,
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeadError {
    #[error("incomplete HTTP/1 head")]
    Incomplete,
    #[error("invalid HTTP/1 head: {reason}")]
    Invalid { reason: &'static str },
}

fn invalid<T>(reason: &'static str) -> Result<T, HeadError> {
    Err(HeadError::Invalid { reason })
}

/// Outcome of sniffing the first bytes of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Starts like a head.
    Match,
    /// Too short to tell, but consistent with a head.
    Partial,
    NoMatch,
}

impl Sniff {
    /// Combines two sniffs: the best of both.
    pub fn or(self, other: Sniff) -> Sniff {
        match (self, other) {
            (Sniff::Match, _) | (_, Sniff::Match) => Sniff::Match,
            (Sniff::Partial, _) | (_, Sniff::Partial) => Sniff::Partial,
            _ => Sniff::NoMatch,
        }
    }
}

/// Methods recognised by the cheap sniff (request-line prefix incl. the space).
const SNIFF_METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"PATCH ",
    b"OPTIONS ",
    b"CONNECT ",
    b"TRACE ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"REPORT ",
    b"SEARCH ",
    b"MKCALENDAR ",
    b"PURGE ",
    b"QUERY ",
];

pub fn sniff_request(buf: &[u8]) -> Sniff {
    let mut partial = false;
    for m in SNIFF_METHODS {
        if buf.starts_with(m) {
            return Sniff::Match;
        }
        if buf.len() < m.len() && m.starts_with(buf) {
            partial = true;
        }
    }
    if partial {
        Sniff::Partial
    } else {
        Sniff::NoMatch
    }
}

pub fn sniff_response(buf: &[u8]) -> Sniff {
    for (i, &b) in buf.iter().take(RESPONSE_SNIFF_LEN).enumerate() {
        let ok = match i {
            0..=6 => b == b"HTTP/1."[i],
            7 => b == b'0' || b == b'1',
            8 => b == b' ',
            _ => b.is_ascii_digit(),
        };
        if !ok {
            return Sniff::NoMatch;
        }
    }
    if buf.len() >= RESPONSE_SNIFF_LEN {
        Sniff::Match
    } else {
        Sniff::Partial
    }
}

/// Cheap sniff: a known method followed by a space.
pub fn looks_like_request_start(buf: &[u8]) -> bool {
    sniff_request(buf) == Sniff::Match
}

/// Cheap sniff: `HTTP/1.0 ` or `HTTP/1.1 ` followed by three digits.
pub fn looks_like_response_start(buf: &[u8]) -> bool {
    sniff_response(buf) == Sniff::Match
}

/// Finds the end of a head: the index just past the first empty line
/// (`\n\n` or `\n\r\n`). Scanning starts at `from` (an LF before `from` is not
/// looked at, so callers resuming a scan should back off by 2 bytes).
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    for off in memchr::memchr_iter(b'\n', rest) {
        let lf = from + off;
        match buf.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => {}
        }
    }
    None
}

/// Splits on LF and strips one trailing CR from every line.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', head);
    std::iter::from_fn(move || {
        if start > head.len() {
            return None;
        }
        let end = ends.next().unwrap_or(head.len());
        let line = &head[start..end];
        start = end + 1;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// Byte classes of RFC 9110 tokens and field values, looked up once per byte.
const TCHAR: u8 = 1;
/// A control character other than HTAB: not allowed in a field value.
const VALUE_CTL: u8 = 2;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() {
            t[b] |= TCHAR;
        }
        if (c < 0x20 && c != b'\t') || c == 0x7f {
            t[b] |= VALUE_CTL;
        }
        b += 1;
    }
    let specials = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < specials.len() {
        t[specials[i] as usize] |= TCHAR;
        i += 1;
    }
    t
};

fn is_tchar(b: u8) -> bool {
    CLASSES[usize::from(b)] & TCHAR != 0
}

/// Whether a field value holds a control character other than HTAB. Eight bytes at a time:
/// a word with no byte below 0x20 and none equal to 0x7f is clean; only words that may hold
/// one (or a tab) are checked byte by byte.
fn has_value_ctl(v: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = v.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_le_bytes(b);
        let below_space = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
        let y = x ^ (0x7f * ONES);
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        if (below_space | del) != 0 && w.iter().any(|&b| CLASSES[usize::from(b)] & VALUE_CTL != 0) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| CLASSES[usize::from(b)] & VALUE_CTL != 0)
}

fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn parse_version(v: &[u8]) -> Option<u8> {
    match v {
        b"HTTP/1.1" => Some(1),
        b"HTTP/1.0" => Some(0),
        _ => None,
    }
}

struct RequestLine {
    method: Method,
    path: String,
    authority: Option<String>,
    version_minor: u8,
}

/// Parses a request line. With `partial`, the line may be cut anywhere after
/// `METHOD SP x` (the version is then assumed to be 1.1 unless visible).
fn parse_request_line(line: &[u8], partial: bool) -> Result<RequestLine, HeadError> {
    if line.iter().any(|&b| is_ctl(b)) {
        return invalid("control character in request line");
    }
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return invalid("request line without target");
    };
    let method = match Method::from_token(&line[..sp]) {
        Some(m) => m,
        None => return invalid("invalid method"),
    };
    let rest = &line[sp + 1..];
    let (target, version) = match rest.iter().position(|&b| b == b' ') {
        Some(p) => (&rest[..p], Some(&rest[p + 1..])),
        None => (rest, None),
    };
    if target.is_empty() {
        return invalid("empty request target");
    }
    let version_minor = match version {
        Some(v) => match parse_version(v) {
            Some(m) => m,
            None if partial && v.len() < 8 && b"HTTP/1.1".starts_with(v) => 1,
            None => return invalid("unsupported HTTP version"),
        },
        None if partial => 1,
        None => return invalid("request line without version"),
    };
    let (path, authority) = split_target(target, &method);
    Ok(RequestLine { method, path, authority, version_minor })
}

/// Returns (path, authority from absolute/authority form without userinfo).
fn split_target(target: &[u8], method: &Method) -> (String, Option<String>) {
    if target == b"*" || target.first() == Some(&b'/') {
        return (lossy(strip_query(target), usize::MAX), None);
    }
    let scheme_end = target
        .windows(3)
        .position(|w| w == b"://")
        .filter(|&p| p > 0 && target[..p].iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)));
    if let Some(p) = scheme_end {
        let after = &target[p + 3..];
        let auth_end = after.iter().position(|&b| b == b'/' || b == b'?' || b == b'#').unwrap_or(after.len());
        let authority = strip_userinfo(&after[..auth_end]);
        let path = strip_query(&after[auth_end..]);
        let path = if path.is_empty() { "/".to_owned() } else { lossy(path, usize::MAX) };
        let authority = (!authority.is_empty()).then(|| lossy(authority, MAX_VALUE_LEN));
        return (path, authority);
    }
    // authority-form (CONNECT host:port) or something odd: keep it, minus query and userinfo.
    let t = strip_userinfo(strip_query(target));
    let authority = (*method == Method::Connect && !t.is_empty()).then(|| lossy(t, MAX_VALUE_LEN));
    (lossy(t, usize::MAX), authority)
}

fn strip_userinfo(auth: &[u8]) -> &[u8] {
    match auth.iter().rposition(|&b| b == b'@') {
        Some(p) => &auth[p + 1..],
        None => auth,
    }
}

/// Header facts collected from the header lines.
#[derive(Default)]
struct Fields {
    content_length: Option<u64>,
    te_present: bool,
    te_chunked_last: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    host: Option<String>,
    expect_continue: bool,
    upgrade: Option<String>,
    traceparent: Option<String>,
    tracestate: Option<String>,
    user_agent: Option<String>,
}

fn parse_content_length(v: &[u8]) -> Result<u64, HeadError> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return invalid("invalid content-length");
    }
    let mut n: u64 = 0;
    for &d in v {
        n = match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d - b'0'))) {
            Some(n) => n,
            None => return invalid("content-length overflow"),
        };
    }
    Ok(n)
}

fn list_items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim_ows).filter(|t| !t.is_empty())
}

fn set_once(slot: &mut Option<String>, v: &[u8]) {
    if slot.is_none() {
        *slot = Some(lossy(v, MAX_VALUE_LEN));
    }
}

/// Parses header lines into `f`. Lines that are empty are ignored (the caller
/// passes only the header section). obs-fold continuation lines are ignored.
fn parse_fields<'a>(header_lines: impl Iterator<Item = &'a [u8]>, request: bool) -> Result<Fields, HeadError> {
    let mut f = Fields::default();
    for line in header_lines {
        if line.is_empty() || line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        // The name is a token ended by the colon: one pass finds and checks it.
        let colon = line.iter().position(|&b| !is_tchar(b)).unwrap_or(line.len());
        match line.get(colon) {
            Some(b':') if colon > 0 => {}
            Some(b':') => return invalid("invalid header name"),
            Some(_) if line[colon..].contains(&b':') => return invalid("invalid header name"),
            _ => return invalid("header line without colon"),
        }
        let name = &line[..colon];
        let value = trim_ows(&line[colon + 1..]);
        if has_value_ctl(value) {
            return invalid("control character in header value");
        }
        // The names kept are 4, 6, 7, 10, 11, 14 or 17 bytes long: most other headers
        // (Date, Content-Type, Accept-Encoding…) are passed over without a comparison.
        if !matches!(name.len(), 4 | 6 | 7 | 10 | 11 | 14 | 17) {
            continue;
        }
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("content-length") {
            let n = parse_content_length(value)?;
            if f.content_length.is_some() {
                return invalid("duplicate content-length");
            }
            f.content_length = Some(n);
        } else if is("transfer-encoding") {
            f.te_present = true;
            if let Some(last) = list_items(value).last() {
                f.te_chunked_last = last.eq_ignore_ascii_case(b"chunked");
            }
        } else if is("connection") {
            for t in list_items(value) {
                if t.eq_ignore_ascii_case(b"close") {
                    f.conn_close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    f.conn_keep_alive = true;
                }
            }
        } else if !request {
            // Responses: nothing else is retained (notably not Set-Cookie).
        } else if is("host") {
            set_once(&mut f.host, value);
        } else if is("expect") {
            f.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        } else if is("upgrade") {
            set_once(&mut f.upgrade, value);
        } else if is("traceparent") {
            set_once(&mut f.traceparent, value);
        } else if is("tracestate") {
            set_once(&mut f.tracestate, value);
        } else if is("user-agent") {
            set_once(&mut f.user_agent, value);
        }
        // Authorization, Cookie and everything else: deliberately not kept.
    }
    Ok(f)
}

/// Parses a complete request head with the default size limit.
pub fn parse_request_head(buf: &[u8]) -> Result<RequestHead, HeadError> {
    parse_request_head_limited(buf, DEFAULT_MAX_HEAD_BYTES)
}

/// Parses a complete response head with the default size limit.
pub fn parse_response_head(buf: &[u8]) -> Result<ResponseHead, HeadError> {
    parse_response_head_limited(buf, DEFAULT_MAX_HEAD_BYTES)
}

/// Like [`parse_request_head`] with an explicit head size limit.
pub fn parse_request_head_limited(buf: &[u8], max_head_bytes: usize) -> Result<RequestHead, HeadError> {
    match find_head_end(buf, 0) {
        Some(end) if end > max_head_bytes => invalid("head too large"),
        Some(end) => build_request(&buf[..end], end, false),
        None if buf.len() >= max_head_bytes => invalid("head too large"),
        None => {
            validate_request_prefix(buf)?;
            Err(HeadError::Incomplete)
        }
    }
}

/// Like [`parse_response_head`] with an explicit head size limit.
pub fn parse_response_head_limited(buf: &[u8], max_head_bytes: usize) -> Result<ResponseHead, HeadError> {
    match find_head_end(buf, 0) {
        Some(end) if end > max_head_bytes => invalid("head too large"),
        Some(end) => build_response(&buf[..end], end, false),
        None if buf.len() >= max_head_bytes => invalid("head too large"),
        None => {
            validate_response_prefix(buf)?;
            Err(HeadError::Incomplete)
        }
    }
}

/// Parses the captured prefix of a request head whose remainder was not
/// captured: the (possibly cut) request line and every complete header line.
/// The result has `truncated: true` and `head_len == buf.len()`.
pub fn parse_request_head_truncated(buf: &[u8]) -> Result<RequestHead, HeadError> {
    if let Some(end) = find_head_end(buf, 0) {
        return build_request(&buf[..end], end, false);
    }
    build_request(complete_lines_prefix(buf), buf.len(), true)
}

/// Response counterpart of [`parse_request_head_truncated`]; the status code must be visible.
pub fn parse_response_head_truncated(buf: &[u8]) -> Result<ResponseHead, HeadError> {
    if let Some(end) = find_head_end(buf, 0) {
        return build_response(&buf[..end], end, false);
    }
    build_response(complete_lines_prefix(buf), buf.len(), true)
}

/// For a truncated head: everything up to the last LF, or the whole buffer
/// when even the first line is incomplete (the first line may then be cut).
fn complete_lines_prefix(buf: &[u8]) -> &[u8] {
    match buf.iter().rposition(|&b| b == b'\n') {
        Some(p) => &buf[..=p],
        None => buf,
    }
}

/// Checks the incomplete first line of a would-be request head.
pub fn validate_request_prefix(buf: &[u8]) -> Result<(), HeadError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let line = buf[..lf].strip_suffix(b"\r").unwrap_or(&buf[..lf]);
            parse_request_line(line, false).map(|_| ())
        }
        None => {
            if buf.iter().any(|&b| is_ctl(b) && b != b'\r') {
                return invalid("control character in request line");
            }
            let method_end = buf.iter().position(|&b| b == b' ').unwrap_or(buf.len());
            let m = &buf[..method_end];
            let ok = (method_end > 0 || buf.is_empty())
                && m.len() <= MAX_METHOD_LEN
                && m.iter().all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
            if ok {
                Ok(())
            } else {
                invalid("invalid method")
            }
        }
    }
}

/// Checks the incomplete first line of a would-be response head.
pub fn validate_response_prefix(buf: &[u8]) -> Result<(), HeadError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let line = buf[..lf].strip_suffix(b"\r").unwrap_or(&buf[..lf]);
            parse_status_line(line).map(|_| ())
        }
        None if sniff_response(buf) == Sniff::NoMatch => invalid("invalid status line"),
        None => Ok(()),
    }
}

/// Parses a request head that ends exactly at the end of `head` (the caller found its end
/// with [`find_head_end`]): one pass less than [`parse_request_head_limited`].
pub fn parse_request_head_exact(head: &[u8]) -> Result<RequestHead, HeadError> {
    build_request(head, head.len(), false)
}

/// Response counterpart of [`parse_request_head_exact`].
pub fn parse_response_head_exact(head: &[u8]) -> Result<ResponseHead, HeadError> {
    build_response(head, head.len(), false)
}

fn build_request(head: &[u8], head_len: usize, truncated: bool) -> Result<RequestHead, HeadError> {
    let mut it = lines(head);
    let first = it.next().unwrap_or_default();
    // A truncated head whose first line has no LF: the line itself may be cut.
    let line_cut = truncated && !head.contains(&b'\n');
    let rl = parse_request_line(first, line_cut)?;
    let f = parse_fields(it, true)?;
    if f.te_present && !f.te_chunked_last {
        return invalid("request transfer-encoding not ending in chunked");
    }
    let chunked = f.te_present;
    Ok(RequestHead {
        method: rl.method,
        path: rl.path,
        version_minor: rl.version_minor,
        host: f.host.or(rl.authority),
        content_length: if chunked { None } else { f.content_length },
        chunked,
        connection_close: f.conn_close || (rl.version_minor == 0 && !f.conn_keep_alive),
        expect_continue: f.expect_continue,
        upgrade: f.upgrade,
        traceparent: f.traceparent,
        tracestate: f.tracestate,
        user_agent: f.user_agent,
        head_len,
        truncated,
    })
}

struct StatusLine {
    status: u16,
    version_minor: u8,
}

fn parse_status_line(line: &[u8]) -> Result<StatusLine, HeadError> {
    if line.len() < RESPONSE_SNIFF_LEN || sniff_response(line) != Sniff::Match {
        return invalid("invalid status line");
    }
    let version_minor = line[7] - b'0';
    let status = line[9..12].iter().fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if status < 100 {
        return invalid("invalid status code");
    }
    match line.get(12) {
        None => {}
        Some(b' ') if line[13..].iter().any(|&b| is_ctl(b) && b != b'\t') => {
            return invalid("control character in reason phrase");
        }
        Some(b' ') => {}
        Some(_) => return invalid("invalid status line"),
    }
    Ok(StatusLine { status, version_minor })
}

fn build_response(head: &[u8], head_len: usize, truncated: bool) -> Result<ResponseHead, HeadError> {
    let mut it = lines(head);
    let first = it.next().unwrap_or_default();
    let sl = parse_status_line(first)?;
    let f = parse_fields(it, false)?;
    let chunked = f.te_present && f.te_chunked_last;
    Ok(ResponseHead {
        status: sl.status,
        version_minor: sl.version_minor,
        // Any transfer-encoding overrides content-length (RFC 9112 §6.3).
        content_length: if f.te_present { None } else { f.content_length },
        chunked,
        connection_close: f.conn_close || (sl.version_minor == 0 && !f.conn_keep_alive),
        head_len,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::{has_value_ctl, CLASSES, VALUE_CTL};

    #[test]
    fn the_word_at_a_time_control_check_agrees_with_the_byte_check() {
        let naive = |v: &[u8]| v.iter().any(|&b| CLASSES[usize::from(b)] & VALUE_CTL != 0);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..40 {
            for _ in 0..2000 {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly printable, sometimes a tab, a control byte, DEL or a high byte.
                        match seed % 16 {
                            0 => b'\t',
                            1 => (seed >> 8) as u8 % 0x20,
                            2 => 0x7f,
                            3 => 0x80 | (seed >> 8) as u8,
                            _ => 0x20 + (seed >> 8) as u8 % 0x5f,
                        }
                    })
                    .collect();
                assert_eq!(has_value_ctl(&v), naive(&v), "{v:?}");
            }
        }
        assert!(!has_value_ctl(b"text/plain; charset=utf-8\t"));
        assert!(has_value_ctl(b"text/plain; charset=utf-8\x00"));
        assert!(has_value_ctl(b"abcdefgh\x7fijk"));
    }
}
