#![allow(clippy::unwrap_used)]

use super::head::*;

fn req(s: &str) -> RequestHead {
    parse_request_head(s.as_bytes()).unwrap()
}

fn req_err(s: &str) -> HeadError {
    parse_request_head(s.as_bytes()).unwrap_err()
}

fn resp(s: &str) -> ResponseHead {
    parse_response_head(s.as_bytes()).unwrap()
}

fn is_invalid(e: HeadError) -> bool {
    matches!(e, HeadError::Invalid { .. })
}

#[test]
fn simple_get() {
    let h = req("GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\n\r\nBODY");
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.path, "/index.html");
    assert_eq!(h.version_minor, 1);
    assert_eq!(h.host.as_deref(), Some("example.com"));
    assert_eq!(h.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(h.content_length, None);
    assert!(!h.chunked && !h.connection_close && !h.truncated && !h.expect_continue);
    assert_eq!(h.head_len, 67);
}

#[test]
fn query_and_fragment_stripped() {
    assert_eq!(req("GET /a/b?token=secret HTTP/1.1\r\n\r\n").path, "/a/b");
    assert_eq!(req("GET /a#frag HTTP/1.1\r\n\r\n").path, "/a");
    assert_eq!(req("GET /?x HTTP/1.1\r\n\r\n").path, "/");
    let h = req("GET /p?secret=1 HTTP/1.1\r\n\r\n");
    assert!(!format!("{h:?}").contains("secret"));
}

#[test]
fn target_forms() {
    assert_eq!(req("OPTIONS * HTTP/1.1\r\n\r\n").path, "*");
    let h = req("GET http://user:pw@example.com:8080/x/y?q=1 HTTP/1.1\r\n\r\n");
    assert_eq!(h.path, "/x/y");
    assert_eq!(h.host.as_deref(), Some("example.com:8080"));
    assert!(!format!("{h:?}").contains("pw"));
    let h = req("GET http://example.com HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(h.path, "/");
    assert_eq!(h.host.as_deref(), Some("other"));
    let h = req("CONNECT example.com:443 HTTP/1.1\r\n\r\n");
    assert_eq!(h.method, Method::Connect);
    assert_eq!(h.path, "example.com:443");
    assert_eq!(h.host.as_deref(), Some("example.com:443"));
}

#[test]
fn credentials_not_retained() {
    let h = req("GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nCookie: sid=abc123\r\nProxy-Authorization: x-pa\r\n\r\n");
    let dbg = format!("{h:?}");
    assert!(!dbg.contains("dXNlcjpwYXNz"));
    assert!(!dbg.contains("abc123"));
    assert!(!dbg.contains("x-pa"));
    let r = resp("HTTP/1.1 200 OK\r\nSet-Cookie: sid=zzz999\r\nContent-Length: 0\r\n\r\n");
    assert!(!format!("{r:?}").contains("zzz999"));
}

#[test]
fn methods() {
    assert_eq!(req("PATCH / HTTP/1.1\r\n\r\n").method, Method::Patch);
    let m = req("PROPFIND /dav HTTP/1.1\r\n\r\n").method;
    assert_eq!(m, Method::Other("PROPFIND".into()));
    assert_eq!(m.as_str(), "PROPFIND");
    assert_eq!(Method::Delete.as_str(), "DELETE");
    assert!(is_invalid(req_err("get / HTTP/1.1\r\n\r\n")));
    assert!(is_invalid(req_err("ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n\r\n")));
    assert!(is_invalid(req_err("G(T / HTTP/1.1\r\n\r\n")));
}

#[test]
fn header_names_case_insensitive_and_lf_only() {
    let h = req("POST /u HTTP/1.1\nhOsT: h\ncontent-LENGTH: 12\nEXPECT: 100-Continue\nConnection: Keep-Alive, Upgrade\nupgrade: websocket\nTraceParent: 00-abc-def-01\nTRACESTATE: k=v\n\n");
    assert_eq!(h.host.as_deref(), Some("h"));
    assert_eq!(h.content_length, Some(12));
    assert!(h.expect_continue);
    assert_eq!(h.upgrade.as_deref(), Some("websocket"));
    assert_eq!(h.traceparent.as_deref(), Some("00-abc-def-01"));
    assert_eq!(h.tracestate.as_deref(), Some("k=v"));
    assert!(!h.connection_close);
    // mixed line endings
    let h = req("GET / HTTP/1.1\r\nHost: a\n\r\n");
    assert_eq!(h.head_len, 26);
}

#[test]
fn connection_close_semantics() {
    assert!(req("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").connection_close);
    assert!(req("GET / HTTP/1.0\r\n\r\n").connection_close);
    assert!(!req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").connection_close);
    assert!(resp("HTTP/1.0 200 OK\r\n\r\n").connection_close);
    assert!(resp("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").connection_close);
}

#[test]
fn content_length_rules() {
    assert!(is_invalid(req_err("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")));
    assert!(is_invalid(req_err("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")));
    assert!(is_invalid(req_err("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")));
    assert!(is_invalid(req_err("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n")));
    assert!(is_invalid(req_err("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n")));
    // chunked wins over content-length
    let h = req("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert!(h.chunked);
    assert_eq!(h.content_length, None);
    assert!(is_invalid(req_err("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")));
    let r = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
    assert!(r.chunked);
    assert_eq!(r.content_length, None);
    // response with non-chunked transfer-encoding: close-delimited
    let r = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n");
    assert!(!r.chunked);
    assert_eq!(r.content_length, None);
}

#[test]
fn request_line_rejections() {
    assert!(is_invalid(req_err("GET /a\x01b HTTP/1.1\r\n\r\n")));
    assert!(is_invalid(req_err("GET /a\tb HTTP/1.1\r\n\r\n")));
    assert!(is_invalid(req_err("GET /a\rb HTTP/1.1\r\n\r\n")));
    assert!(is_invalid(req_err("GET / HTTP/2.0\r\n\r\n")));
    assert!(is_invalid(req_err("GET  / HTTP/1.1\r\n\r\n")));
    assert!(is_invalid(req_err("GET /\r\n\r\n")));
    assert!(is_invalid(req_err("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n")));
    assert!(is_invalid(req_err("GET / HTTP/1.1\r\nNoColon\r\n\r\n")));
    assert!(is_invalid(req_err("GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n")));
    assert!(is_invalid(req_err("\r\n\r\n")));
}

#[test]
fn incomplete_and_early_invalid() {
    assert_eq!(req_err("GET / HTTP/1.1\r\nHost: x\r\n"), HeadError::Incomplete);
    assert_eq!(req_err("GE"), HeadError::Incomplete);
    assert_eq!(req_err(""), HeadError::Incomplete);
    assert!(is_invalid(req_err("GeT")));
    assert!(is_invalid(req_err(" /x")));
    assert!(is_invalid(req_err("GET / HTTP/9.9\r\nHost")));
    assert_eq!(parse_response_head(b"HTTP/1.1 2").unwrap_err(), HeadError::Incomplete);
    assert!(is_invalid(parse_response_head(b"HTTX").unwrap_err()));
}

#[test]
fn size_limit() {
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(DEFAULT_MAX_HEAD_BYTES));
    assert!(is_invalid(req_err(&big)));
    let unterminated = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(DEFAULT_MAX_HEAD_BYTES));
    assert!(is_invalid(req_err(&unterminated)));
    let ok = "GET / HTTP/1.1\r\n\r\n";
    assert!(parse_request_head_limited(ok.as_bytes(), ok.len()).is_ok());
    assert!(parse_request_head_limited(ok.as_bytes(), ok.len() - 1).is_err());
}

#[test]
fn response_status_lines() {
    let r = resp("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n");
    assert_eq!((r.status, r.version_minor, r.content_length), (404, 1, Some(9)));
    assert_eq!(resp("HTTP/1.1 204\r\n\r\n").status, 204);
    assert_eq!(resp("HTTP/1.0 200 \r\n\r\n").status, 200);
    assert!(is_invalid(parse_response_head(b"HTTP/1.1 099 X\r\n\r\n").unwrap_err()));
    assert!(is_invalid(parse_response_head(b"HTTP/1.1 2000 X\r\n\r\n").unwrap_err()));
    assert!(is_invalid(parse_response_head(b"HTTP/1.1 20 X\r\n\r\n").unwrap_err()));
    assert!(is_invalid(parse_response_head(b"HTTP/2 200\r\n\r\n").unwrap_err()));
}

#[test]
fn sniffing() {
    assert!(looks_like_request_start(b"GET /"));
    assert!(looks_like_request_start(b"PROPFIND /"));
    assert!(!looks_like_request_start(b"GET"));
    assert!(!looks_like_request_start(b"get /"));
    assert!(!looks_like_request_start(b"GETX /"));
    assert_eq!(sniff_request(b"GE"), Sniff::Partial);
    assert_eq!(sniff_request(b"XY"), Sniff::NoMatch);
    assert!(looks_like_response_start(b"HTTP/1.1 200 OK"));
    assert!(looks_like_response_start(b"HTTP/1.0 404"));
    assert!(!looks_like_response_start(b"HTTP/1.2 200"));
    assert!(!looks_like_response_start(b"HTTP/1.1 2x0"));
    assert_eq!(sniff_response(b"HTTP/1.1 2"), Sniff::Partial);
    assert_eq!(sniff_response(b"HTTP/2"), Sniff::NoMatch);
}

#[test]
fn find_end() {
    assert_eq!(find_head_end(b"a\r\n\r\nb", 0), Some(5));
    assert_eq!(find_head_end(b"a\n\nb", 0), Some(3));
    assert_eq!(find_head_end(b"a\r\nb\r\n", 0), None);
    assert_eq!(find_head_end(b"a\r\n", 99), None);
}

#[test]
fn truncated_heads() {
    let h = parse_request_head_truncated(b"GET /very/long/path?q=1 HTTP/1.1\r\nHost: h\r\nContent-Len").unwrap();
    assert!(h.truncated);
    assert_eq!(h.path, "/very/long/path");
    assert_eq!(h.host.as_deref(), Some("h"));
    assert_eq!(h.content_length, None, "partial header line must be ignored");
    assert_eq!(h.head_len, 54);
    // request line itself cut
    let h = parse_request_head_truncated(b"POST /upload/fi").unwrap();
    assert_eq!((h.method, h.path.as_str(), h.version_minor), (Method::Post, "/upload/fi", 1));
    let h = parse_request_head_truncated(b"GET /x HTTP/1.0").unwrap();
    assert_eq!(h.version_minor, 0);
    assert!(parse_request_head_truncated(b"GET ").is_err());
    assert!(parse_request_head_truncated(b"GET /x HTTP/3").is_err());
    // a complete head is parsed normally
    assert!(!parse_request_head_truncated(b"GET / HTTP/1.1\r\n\r\n").unwrap().truncated);
    let r = parse_response_head_truncated(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nDate: Mo").unwrap();
    assert!(r.truncated);
    assert_eq!((r.status, r.content_length), (200, Some(10)));
    assert!(parse_response_head_truncated(b"HTTP/1.1 2").is_err());
}

#[test]
fn long_values_are_capped() {
    let ua = "u".repeat(5000);
    let h = req(&format!("GET / HTTP/1.1\r\nUser-Agent: {ua}\r\n\r\n"));
    assert_eq!(h.user_agent.map(|s| s.len()), Some(1024));
}
