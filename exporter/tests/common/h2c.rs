//! The plain HTTP/2 cleartext test apps (integration/servers/h2c): a Go server
//! that speaks h2c with prior knowledge and via `Upgrade: h2c`, and a Go client
//! that runs concurrent requests over one connection.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use otlp_sink::serde_json::{self, Value};

use super::{clean_command, exe_name, go_build, wait_listening, ChildProc, Server};

const H2C_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the h2c server on a free port. It has no OTEL_SERVICE_NAME, so its
/// service.name is its file name, `h2c-server`. Routes: `/hello`,
/// `/status/<code>`, `/bytes/<n>`, `/sleep/<ms>`, `POST /echo`.
pub fn start_h2c_server() -> Result<Server> {
    let bin = go_build("h2c")?.join("h2c-server");
    let mut cmd = clean_command(&bin);
    cmd.args(["--port", "0"]);
    let proc = ChildProc::spawn("h2c-server", &mut cmd)?;
    let port = wait_listening(&proc)?;
    let exe = exe_name(&bin)?;
    Ok(Server { proc, port, service: exe.clone(), exe })
}

/// One request the h2c client made, as it saw it.
#[derive(Debug, Clone)]
pub struct H2cRequest {
    pub client_pid: u32,
    /// The client's file name, `h2c-client`; also its service.name.
    pub client_exe: String,
    /// Local port of the client's one connection.
    pub client_port: u16,
    pub server_port: u16,
    /// Position in the plan.
    pub index: usize,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Response protocol, "HTTP/2.0".
    pub proto: String,
    pub body_bytes: u64,
    /// Unix nanos: before the request is handed to the connection, when its
    /// HEADERS were written, when the response HEADERS arrived, when the body ended.
    pub start_unix_nano: u64,
    pub wrote_headers_unix_nano: u64,
    pub first_byte_unix_nano: u64,
    pub end_unix_nano: u64,
}

/// Runs the h2c client: one connection, the requests in `plan` (each `"/path"` or
/// `"METHOD /path [xN] [body=BYTES]"`), up to `concurrency` in flight at once.
pub fn h2c_client(server_port: u16, plan: &[&str], concurrency: usize) -> Result<Vec<H2cRequest>> {
    let bin = go_build("h2c")?.join("h2c-client");
    let mut cmd = clean_command(&bin);
    cmd.args(["--target", &format!("127.0.0.1:{server_port}"), "--plan", &plan.join(",")])
        .args(["--concurrency", &concurrency.to_string()]);
    let mut proc = ChildProc::spawn("h2c-client", &mut cmd)?;
    proc.finish(H2C_CLIENT_TIMEOUT)?;
    let exe = exe_name(&bin)?;
    let mut out = Vec::new();
    for line in proc.stdout.all() {
        let req = parse_request(&line, server_port, &exe).with_context(|| format!("client line {line}"))?;
        ensure!(req.client_pid == proc.pid(), "client reported pid {}, spawned {}", req.client_pid, proc.pid());
        ensure!(req.index == out.len(), "requests out of plan order:\n{}", proc.describe());
        out.push(req);
    }
    ensure!(!out.is_empty(), "client printed no requests\n{}", proc.describe());
    Ok(out)
}

fn parse_request(line: &str, server_port: u16, exe: &str) -> Result<H2cRequest> {
    let v: Value = serde_json::from_str(line)?;
    let field = |k: &str| v.get(k).with_context(|| format!("{k} missing"));
    let text =
        |k: &str| -> Result<String> { Ok(field(k)?.as_str().with_context(|| format!("{k}: not a string"))?.into()) };
    let uint = |k: &str| field(k)?.as_u64().with_context(|| format!("{k}: not an unsigned integer"));
    Ok(H2cRequest {
        client_pid: u32::try_from(uint("pid")?)?,
        client_exe: exe.to_owned(),
        client_port: u16::try_from(uint("local_port")?)?,
        server_port,
        index: usize::try_from(uint("index")?)?,
        method: text("method")?,
        path: text("path")?,
        status: u16::try_from(uint("status")?)?,
        proto: text("proto")?,
        body_bytes: uint("body_bytes")?,
        start_unix_nano: uint("start_unix_nano")?,
        wrote_headers_unix_nano: uint("wrote_headers_unix_nano")?,
        first_byte_unix_nano: uint("first_byte_unix_nano")?,
        end_unix_nano: uint("end_unix_nano")?,
    })
}
