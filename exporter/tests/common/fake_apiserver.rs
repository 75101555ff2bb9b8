//! A fake Kubernetes API server for tests: real HTTP/1.1 over TCP on 127.0.0.1, serving
//! recorded List responses and Watch streams (newline-delimited watch events, chunked, as the
//! real API server sends them), so kube-rs runs its real client and watcher code against it.
//!
//! A route is a collection URL plus its field selector (`/api/v1/pods` +
//! `spec.nodeName=node-a`). Each route has:
//! - list bodies: the n-th list request gets the n-th body (the last one repeats);
//! - watch sessions: the n-th watch request gets the n-th session; a session is the lines of a
//!   `.jsonl` file, where `#wait` pauses until the test calls [`FakeApiServer::advance`] and
//!   the end of the file ends the response (as the server does after an `ERROR` event);
//!   once the sessions are used up, further watches stay open and silent;
//! - or a fixed error status (403, 500, ...) for every request.
//!
//! Every request is recorded (path, query) so tests can check e.g. that a 410 led to a relist.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Default)]
pub struct Route {
    pub lists: Vec<String>,
    pub watches: Vec<Vec<String>>,
    pub error: Option<u16>,
    lists_served: usize,
    watches_served: usize,
}

impl Route {
    pub fn new() -> Route {
        Route::default()
    }

    pub fn list(mut self, body: String) -> Route {
        self.lists.push(body);
        self
    }

    /// A watch session from `.jsonl` text (blank lines ignored).
    pub fn watch(mut self, text: &str) -> Route {
        self.watches.push(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect());
        self
    }

    pub fn error(status: u16) -> Route {
        Route { error: Some(status), ..Route::default() }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub query: HashMap<String, String>,
}

impl Request {
    pub fn is_watch(&self) -> bool {
        self.query.get("watch").is_some_and(|v| v == "true" || v == "1")
    }
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<(String, String), Route>>,
    requests: Mutex<Vec<Request>>,
    gate: Notify,
}

pub struct FakeApiServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeApiServer {
    /// Listens on `addr` (port 0: any free port). Must be called inside a tokio runtime.
    pub async fn start(addr: &str) -> Result<FakeApiServer> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, st.clone()));
            }
        });
        Ok(FakeApiServer { addr, state, task })
    }

    /// Serves `route` for `path` with `field_selector` ("" for none).
    pub fn route(&self, path: &str, field_selector: &str, route: Route) {
        lock(&self.state.routes).insert((path.to_string(), field_selector.to_string()), route);
    }

    /// Releases the watch session waiting at a `#wait` line, or the next one to reach one.
    /// (One gate for all routes: script at most one waiting session at a time.)
    pub fn advance(&self) {
        self.state.gate.notify_one();
    }

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.requests).clone()
    }

    /// A kubeconfig file that points kube-rs at this server (plain HTTP, no auth).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://{addr}
contexts:
- name: fake
  context:
    cluster: fake
    user: test
    namespace: default
current-context: fake
users:
- name: test
  user: {{}}
",
            addr = self.addr
        );
        std::fs::write(path, text).with_context(|| format!("writing {path:?}"))
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads a fixture file and substitutes `${NAME}` placeholders.
pub fn fixture(path: &Path, vars: &[(&str, &str)]) -> Result<String> {
    let mut text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    for (k, v) in vars {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    Ok(text)
}

enum Reply {
    Body(u16, String),
    Watch(Vec<String>),
    Idle,
}

async fn serve(mut sock: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        let head = match read_head(&mut sock, &mut buf).await {
            Some(h) => h,
            None => return,
        };
        let Some(req) = parse_request(&head) else {
            let _ = write_body(&mut sock, 400, &status_body(400, "BadRequest", "malformed request")).await;
            return;
        };
        lock(&state.requests).push(req.clone());
        let reply = {
            let mut routes = lock(&state.routes);
            let key = (req.path.clone(), req.query.get("fieldSelector").cloned().unwrap_or_default());
            match routes.get_mut(&key) {
                None => Reply::Body(404, status_body(404, "NotFound", &format!("no route for {key:?}"))),
                Some(r) => match r.error {
                    Some(code) => Reply::Body(code, status_body(code, reason(code), "scripted error")),
                    None if req.is_watch() => {
                        r.watches_served += 1;
                        r.watches.get(r.watches_served - 1).cloned().map_or(Reply::Idle, Reply::Watch)
                    }
                    None => {
                        r.lists_served += 1;
                        let i = (r.lists_served - 1).min(r.lists.len().saturating_sub(1));
                        match r.lists.get(i) {
                            Some(body) => Reply::Body(200, body.clone()),
                            None => Reply::Body(500, status_body(500, "InternalError", "no list scripted")),
                        }
                    }
                },
            }
        };
        let ok = match reply {
            Reply::Body(code, body) => write_body(&mut sock, code, &body).await.is_ok(),
            Reply::Watch(lines) => stream_watch(&mut sock, &lines, &state).await.is_ok(),
            Reply::Idle => {
                // An open, silent watch: wait for the client to go away.
                let _ = sock.write_all(chunked_head().as_bytes()).await;
                let mut sink = [0u8; 512];
                while matches!(sock.read(&mut sink).await, Ok(n) if n > 0) {}
                false
            }
        };
        if !ok {
            return;
        }
    }
}

async fn stream_watch(sock: &mut TcpStream, lines: &[String], state: &State) -> std::io::Result<()> {
    sock.write_all(chunked_head().as_bytes()).await?;
    sock.flush().await?;
    for line in lines {
        if line == "#wait" {
            state.gate.notified().await;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let data = format!("{line}\n");
        sock.write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes()).await?;
        sock.flush().await?;
    }
    sock.write_all(b"0\r\n\r\n").await?;
    sock.flush().await
}

fn chunked_head() -> String {
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
}

async fn write_body(sock: &mut TcpStream, code: u16, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        reason(code),
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.flush().await
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        410 => "Gone",
        _ => "InternalError",
    }
}

fn status_body(code: u16, reason: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","code":{code}}}"#
    )
}

/// Reads one request head (GET requests have no body). `None` on EOF or error.
async fn read_head(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    }
}

fn parse_request(head: &str) -> Option<Request> {
    let target = head.lines().next()?.split_whitespace().nth(1)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Some(Request { path: path.to_string(), query })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
