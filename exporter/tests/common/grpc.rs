//! The spanwire.test.Echo gRPC test apps (integration/servers/grpc, described in
//! its README): a server and a client in Go, Python and Node that all
//! interoperate. Clients run a plan of calls over one connection and report
//! every call as they saw it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use otlp_sink::serde_json::{self, Value};

use super::{clean_command, exe_name, go_build, servers_dir, wait_listening, which, ChildProc, Server};

/// Fully qualified service name, the first half of every gRPC `:path`.
pub const ECHO_SERVICE: &str = "spanwire.test.Echo";
/// Status message of the `not_found` command, identical in all three servers.
pub const NOT_FOUND_MESSAGE: &str = "not found: requested by client";
/// Status message of the `internal` command, identical in all three servers.
pub const INTERNAL_MESSAGE: &str = "internal error: requested by client";

/// Limit for one client run (plans include sleeps of a few hundred ms).
const GRPC_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Implementation language of a gRPC test app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrpcLang {
    /// grpc-go v1.85.0.
    Go,
    /// grpcio from Debian's python3-grpcio.
    Python,
    /// @grpc/grpc-js from npm.
    Node,
}

impl GrpcLang {
    pub const ALL: [GrpcLang; 3] = [GrpcLang::Go, GrpcLang::Python, GrpcLang::Node];

    /// The `lang` field of the client's output.
    pub fn name(self) -> &'static str {
        match self {
            GrpcLang::Go => "go",
            GrpcLang::Python => "python",
            GrpcLang::Node => "node",
        }
    }

    /// Program and leading arguments that run this language's `role`
    /// ("server" or "client").
    fn command(self, role: &str) -> Result<(PathBuf, Vec<String>)> {
        let dir = servers_dir().join("grpc");
        Ok(match self {
            GrpcLang::Go => (go_build("grpc/go")?.join(format!("grpc-echo-{role}")), Vec::new()),
            GrpcLang::Python => {
                (debian_python()?, vec![dir.join(format!("python/echo_{role}.py")).display().to_string()])
            }
            GrpcLang::Node => {
                let app = dir.join("node");
                ensure!(
                    app.join("node_modules/@grpc/grpc-js").is_dir(),
                    "{} has no node_modules/@grpc/grpc-js: run `sudo bash integration/setup.sh` (npm ci)",
                    app.display()
                );
                (which("node")?, vec![app.join(format!("echo_{role}.js")).display().to_string()])
            }
        })
    }
}

/// Debian's interpreter (realpath of /usr/bin/python3): the one that sees the
/// apt package python3-grpcio, whatever `python3` is first on PATH.
pub fn debian_python() -> Result<PathBuf> {
    std::fs::canonicalize("/usr/bin/python3")
        .context("/usr/bin/python3 missing: run `sudo bash integration/setup.sh` (installs python3-grpcio)")
}

/// Starts the `lang` Echo server on a free port with `OTEL_SERVICE_NAME=service`.
pub fn start_grpc_server(lang: GrpcLang, service: &str) -> Result<Server> {
    let (program, args) = lang.command("server")?;
    let mut cmd = clean_command(&program);
    cmd.args(args).args(["--port", "0"]).env("OTEL_SERVICE_NAME", service);
    let proc = ChildProc::spawn(&format!("grpc-server-{}", lang.name()), &mut cmd)?;
    let port = wait_listening(&proc)?;
    Ok(Server { proc, port, service: service.to_owned(), exe: exe_name(&program)? })
}

/// One call a gRPC test client made, as the client saw it.
#[derive(Debug, Clone)]
pub struct GrpcClientCall {
    pub client: GrpcLang,
    pub client_pid: u32,
    pub client_service: String,
    pub client_exe: String,
    /// Local port of the client's one connection; None if the client could not tell.
    pub client_port: Option<u16>,
    pub server_port: u16,
    /// Position in the plan (after `xN` expansion).
    pub index: usize,
    /// "spanwire.test.Echo/Unary": the `:path` without its leading '/'.
    pub method: String,
    /// The plan's command, e.g. "not_found", "n:5", "sleep:300".
    pub command: String,
    pub deadline_ms: Option<u64>,
    /// gRPC status code as the client saw it (0 = OK).
    pub code: i64,
    /// Its canonical name, e.g. "NOT_FOUND", "DEADLINE_EXCEEDED".
    pub status: String,
    /// Status message as the client saw it ("" for OK).
    pub message: String,
    /// Reply messages received.
    pub messages: u64,
    /// Total length of the replies' string values.
    pub reply_bytes: u64,
    /// The last reply's value, cut at 100 bytes ("" without replies).
    pub last_reply: String,
    /// Client-measured call interval (unix nanos): before the call starts, after its status.
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

impl GrpcClientCall {
    /// The HTTP/2 `:path` of the call, e.g. "/spanwire.test.Echo/Unary".
    pub fn path(&self) -> String {
        format!("/{}", self.method)
    }
}

/// Runs the `lang` client (`OTEL_SERVICE_NAME=service`) with a plan of calls made one
/// after the other over one connection, e.g. `"Unary:ok,ServerStream:n:5,Unary:sleep:300@deadline=100"`
/// (plan grammar in integration/servers/grpc/README.md).
pub fn grpc_client(lang: GrpcLang, server_port: u16, calls: &str, service: &str) -> Result<Vec<GrpcClientCall>> {
    grpc_client_concurrent(lang, server_port, calls, 1, service)
}

/// [`grpc_client`] with up to `concurrency` calls in flight at once, still on one connection.
pub fn grpc_client_concurrent(
    lang: GrpcLang,
    server_port: u16,
    calls: &str,
    concurrency: usize,
    service: &str,
) -> Result<Vec<GrpcClientCall>> {
    let (program, args) = lang.command("client")?;
    let mut cmd = clean_command(&program);
    cmd.args(args)
        .args(["--target", &format!("127.0.0.1:{server_port}"), "--calls", calls])
        .args(["--concurrency", &concurrency.to_string()])
        .env("OTEL_SERVICE_NAME", service);
    let mut proc = ChildProc::spawn(&format!("grpc-client-{}", lang.name()), &mut cmd)?;
    proc.finish(GRPC_CLIENT_TIMEOUT)?;
    let exe = exe_name(&program)?;
    let mut out = Vec::new();
    for line in proc.stdout.all() {
        let call =
            parse_call(&line, lang, server_port, service, &exe).with_context(|| format!("client line {line}"))?;
        ensure!(call.client_pid == proc.pid(), "client reported pid {}, spawned {}", call.client_pid, proc.pid());
        ensure!(call.index == out.len(), "calls out of plan order:\n{}", proc.describe());
        out.push(call);
    }
    ensure!(!out.is_empty(), "client printed no calls\n{}", proc.describe());
    Ok(out)
}

fn parse_call(line: &str, lang: GrpcLang, server_port: u16, service: &str, exe: &str) -> Result<GrpcClientCall> {
    let v: Value = serde_json::from_str(line)?;
    let field = |k: &str| v.get(k).with_context(|| format!("{k} missing"));
    let text =
        |k: &str| -> Result<String> { Ok(field(k)?.as_str().with_context(|| format!("{k}: not a string"))?.into()) };
    let uint = |k: &str| field(k)?.as_u64().with_context(|| format!("{k}: not an unsigned integer"));
    let opt_uint = |k: &str| -> Result<Option<u64>> {
        let f = field(k)?;
        if f.is_null() {
            return Ok(None);
        }
        Ok(Some(f.as_u64().with_context(|| format!("{k}: not null or an unsigned integer"))?))
    };
    ensure!(text("lang")? == lang.name(), "output of a {} client says lang {}", lang.name(), text("lang")?);
    Ok(GrpcClientCall {
        client: lang,
        client_pid: u32::try_from(uint("pid")?)?,
        client_service: service.to_owned(),
        client_exe: exe.to_owned(),
        client_port: opt_uint("local_port")?.map(u16::try_from).transpose()?,
        server_port,
        index: usize::try_from(uint("index")?)?,
        method: text("method")?,
        command: text("command")?,
        deadline_ms: opt_uint("deadline_ms")?,
        code: field("code")?.as_i64().context("code: not an integer")?,
        status: text("status")?,
        message: text("message")?,
        messages: uint("messages")?,
        reply_bytes: uint("reply_bytes")?,
        last_reply: text("last_reply")?,
        start_unix_nano: uint("start_unix_nano")?,
        end_unix_nano: uint("end_unix_nano")?,
    })
}
