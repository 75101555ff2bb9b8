//! Process helpers for spanwire's end-to-end tests: child processes that are
//! always killed (on drop, i.e. also on panic), line readers with timed waits,
//! the test servers/clients under integration/servers, and the agent itself.

#![allow(dead_code)]

pub mod chain;
pub mod grpc;
pub mod h2c;
pub mod stack;
pub mod steady;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, ensure, Context, Result};
use otlp_sink::serde_json;

/// Agent readiness: probes attached.
pub const CAPTURE_STARTED: &str = "capture started";
/// Prefix of the agent's last stderr line.
pub const STATS_PREFIX: &str = "spanwire_stats ";
pub const AGENT_READY_TIMEOUT: Duration = Duration::from_secs(60);
pub const AGENT_EXIT_TIMEOUT: Duration = Duration::from_secs(5);
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fails (never skips) unless running as root: these tests load eBPF programs.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "spanwire e2e tests load eBPF programs and must run as root (euid is {euid}). \
         Run e.g. `sudo -E cargo test -p spanwire --test e2e_http1`, or exclude them with \
         `cargo test -- --skip root_`."
    );
}

/// Serialises the root tests of one test binary: one agent at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    lock(&SERIAL)
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("exporter/ has a parent").to_path_buf()
}

pub fn servers_dir() -> PathBuf {
    repo_root().join("integration/servers")
}

/// `file_name(realpath(path))`: what `process.executable.name` must be.
pub fn exe_name(path: &Path) -> Result<String> {
    let real = std::fs::canonicalize(path).with_context(|| format!("resolving {path:?}"))?;
    Ok(real.file_name().with_context(|| format!("{real:?} has no file name"))?.to_string_lossy().into_owned())
}

/// Finds `program` on PATH and canonicalises it.
pub fn which(program: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("{program} not found on PATH"))
        .and_then(|p| std::fs::canonicalize(&p).with_context(|| format!("resolving {p:?}")))
}

pub fn hostname() -> Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_owned())
}

/// VmRSS of a live process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS line")?;
    line.split_whitespace().nth(1).context("malformed VmRSS line")?.parse().context("parsing VmRSS")
}

#[derive(Default)]
struct LinesState {
    lines: Vec<String>,
    eof: bool,
}

/// All lines read so far from a pipe (drained by a thread), with timed waits.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<LinesState>, Condvar)>);

impl Lines {
    pub fn spawn(reader: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let shared = lines.0.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\n', '\r']).to_owned();
                        lock(&shared.0).lines.push(line);
                        shared.1.notify_all();
                    }
                }
            }
            lock(&shared.0).eof = true;
            shared.1.notify_all();
        });
        lines
    }

    pub fn all(&self) -> Vec<String> {
        lock(&self.0 .0).lines.clone()
    }

    pub fn text(&self) -> String {
        self.all().join("\n")
    }

    /// Waits for the first line matching `pred`. Fails on timeout or EOF.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.0 .0);
        loop {
            if let Some(line) = state.lines.iter().find(|l| pred(l)) {
                return Ok(line.clone());
            }
            ensure!(!state.eof, "stream ended before the expected line");
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(!left.is_zero(), "timed out after {timeout:?}");
            state = self.0 .1.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits until the writer closed the pipe (all output read).
    pub fn wait_eof(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.0 .0);
        while !state.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(!left.is_zero(), "output not closed within {timeout:?}");
            state = self.0 .1.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        Ok(())
    }
}

/// A child process with drained stdout/stderr; SIGKILLed and reaped on drop.
pub struct ChildProc {
    pub name: String,
    child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
    exited: Option<ExitStatus>,
}

impl ChildProc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<ChildProc> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe. If the test process dies without
        // running destructors, the kernel kills the child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("spawning {name}: {cmd:?}"))?;
        let stdout = Lines::spawn(child.stdout.take().context("stdout")?);
        let stderr = Lines::spawn(child.stderr.take().context("stderr")?);
        Ok(ChildProc { name: name.to_owned(), child, stdout, stderr, exited: None })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Output so far, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "--- {} (pid {}) stdout:\n{}\n--- {} stderr:\n{}\n---",
            self.name,
            self.pid(),
            self.stdout.text(),
            self.name,
            self.stderr.text()
        )
    }

    pub fn signal(&self, sig: libc::c_int) -> Result<()> {
        ensure!(self.exited.is_none(), "{} already exited", self.name);
        let pid = libc::pid_t::try_from(self.pid())?;
        // SAFETY: kill(2) on our own, not yet reaped, child.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(std::io::Error::last_os_error()).context("kill");
        }
        Ok(())
    }

    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        Ok(self.exited)
    }

    /// Polls for exit (std has no timed wait); fails after `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("{} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for exit and for all output; fails unless it exited with 0.
    pub fn finish(&mut self, timeout: Duration) -> Result<()> {
        let status = self.wait_timeout(timeout).with_context(|| self.describe())?;
        self.stdout.wait_eof(Duration::from_secs(5))?;
        self.stderr.wait_eof(Duration::from_secs(5))?;
        ensure!(status.success(), "{} failed: {status}\n{}", self.name, self.describe());
        Ok(())
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running test server and what its spans' resource must say.
pub struct Server {
    pub proc: ChildProc,
    pub port: u16,
    pub service: String,
    pub exe: String,
}

fn wait_listening(proc: &ChildProc) -> Result<u16> {
    let line = proc
        .stdout
        .wait_for(|l| l.starts_with("listening on "), Duration::from_secs(30))
        .with_context(|| format!("{} never became ready\n{}", proc.name, proc.describe()))?;
    let port =
        line.rsplit(':').next().and_then(|p| p.parse().ok()).with_context(|| format!("bad readiness line {line:?}"))?;
    Ok(port)
}

/// Realpath of the Python interpreter (not a pyenv shim script), resolved once.
pub fn python() -> Result<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let out = Command::new("python3")
                .args(["-c", "import os,sys; print(os.path.realpath(sys.executable))"])
                .output()
                .map_err(|e| format!("running python3: {e}"))?;
            if !out.status.success() {
                return Err(format!("python3 failed: {}", out.status));
            }
            Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// A command with OTEL_* inherited variables removed (they would change the
/// expected `service.name` or the agent's exporter config).
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Starts integration/servers/http_server.py with `OTEL_SERVICE_NAME=service`.
pub fn start_py_server(service: &str) -> Result<Server> {
    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.arg(servers_dir().join("http_server.py")).args(["--port", "0"]).env("OTEL_SERVICE_NAME", service);
    let proc = ChildProc::spawn("py-server", &mut cmd)?;
    let port = wait_listening(&proc)?;
    Ok(Server { proc, port, service: service.to_owned(), exe: exe_name(&py)? })
}

/// Builds every main package of the Go module in integration/servers/`module`
/// once per test binary, into CARGO_TARGET_TMPDIR/go/`module`/ (one executable
/// per package, named after it), and returns that directory. Offline when the
/// module cache holds the dependencies pinned in the committed go.sum.
pub fn go_build(module: &'static str) -> Result<PathBuf> {
    static BUILT: Mutex<BTreeMap<&'static str, Result<PathBuf, String>>> = Mutex::new(BTreeMap::new());
    // Held during the build: concurrent tests wait for one build instead of racing.
    let mut built = lock(&BUILT);
    let result = built.entry(module).or_insert_with(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go").join(module);
        let mut cmd = Command::new("go");
        cmd.current_dir(servers_dir().join(module))
            .env("GOTOOLCHAIN", "local")
            .args(["build", "-o"])
            .arg(format!("{}/", out.display()))
            .arg("./...");
        let mut build = ChildProc::spawn("go build", &mut cmd).map_err(|e| format!("{e:#}"))?;
        build.finish(Duration::from_secs(300)).map_err(|e| format!("{e:#}"))?;
        Ok(out)
    });
    result.clone().map_err(|e| anyhow!("building integration/servers/{module}: {e}"))
}

/// The integration/servers/go-http server binary.
pub fn go_server_binary() -> Result<PathBuf> {
    Ok(go_build("go-http")?.join("gohttp"))
}

/// Starts integration/servers/chain_a.py (`OTEL_SERVICE_NAME=service`), which calls
/// `downstream_port` for every request without propagating trace context.
pub fn start_chain_a(service: &str, downstream_port: u16) -> Result<Server> {
    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.arg(servers_dir().join("chain_a.py"))
        .args(["--port", "0", "--downstream-port", &downstream_port.to_string()])
        .env("OTEL_SERVICE_NAME", service);
    let proc = ChildProc::spawn("chain-a", &mut cmd)?;
    let port = wait_listening(&proc)?;
    Ok(Server { proc, port, service: service.to_owned(), exe: exe_name(&py)? })
}

/// Starts the Go server with no OTEL_SERVICE_NAME: its service.name is its file name.
pub fn start_go_server() -> Result<Server> {
    let bin = go_server_binary()?;
    let mut cmd = clean_command(&bin);
    cmd.args(["-addr", "127.0.0.1:0"]);
    let proc = ChildProc::spawn("go-server", &mut cmd)?;
    let port = wait_listening(&proc)?;
    let exe = exe_name(&bin)?;
    Ok(Server { proc, port, service: exe.clone(), exe })
}

/// The Go server with `OTEL_SERVICE_NAME=service`.
pub fn start_go_server_named(service: &str) -> Result<Server> {
    let bin = go_server_binary()?;
    let mut cmd = clean_command(&bin);
    cmd.args(["-addr", "127.0.0.1:0"]).env("OTEL_SERVICE_NAME", service);
    let proc = ChildProc::spawn("go-server", &mut cmd)?;
    let port = wait_listening(&proc)?;
    Ok(Server { proc, port, service: service.to_owned(), exe: exe_name(&bin)? })
}

/// Which client produced a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Curl,
    KeepAlive,
}

/// One HTTP request a test client made, as the client observed it.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    pub client: ClientKind,
    pub client_pid: u32,
    pub client_service: String,
    pub client_exe: String,
    pub client_port: u16,
    pub server_port: u16,
    pub method: String,
    /// Request target as sent (may carry a query string).
    pub target: String,
    pub status: i64,
    /// HTTP version of the response as curl prints it: "1.1", "2".
    pub http_version: String,
    /// Client-measured duration of the request.
    pub elapsed_nanos: u64,
    /// Slack on `elapsed_nanos` for the client's output precision.
    pub elapsed_slack_nanos: u64,
    /// Wall-clock window (unix nanos) that contains the whole request.
    pub window: (u64, u64),
}

impl ClientRequest {
    /// The target without its query string: what `url.path` must be.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

pub fn unix_nanos(t: SystemTime) -> u64 {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One curl invocation (one request on a fresh connection).
pub fn curl(server_port: u16, method: &str, target: &str, body: Option<&str>) -> Result<ClientRequest> {
    curl_with_headers(server_port, method, target, body, &[])
}

/// [`curl`] with extra request headers (`"name: value"`).
pub fn curl_with_headers(
    server_port: u16,
    method: &str,
    target: &str,
    body: Option<&str>,
    headers: &[&str],
) -> Result<ClientRequest> {
    let args: Vec<&str> = headers.iter().flat_map(|h| ["-H", h]).collect();
    curl_with_args(server_port, method, target, body, &args)
}

/// [`curl`] with extra curl arguments, e.g. `["--http2-prior-knowledge"]`.
pub fn curl_with_args(
    server_port: u16,
    method: &str,
    target: &str,
    body: Option<&str>,
    args: &[&str],
) -> Result<ClientRequest> {
    let curl = which("curl")?;
    let mut cmd = clean_command(&curl);
    cmd.args(["-s", "-o", "/dev/null", "--noproxy", "*", "--max-time", "20"])
        .args(["-w", "%{http_code} %{http_version} %{time_total} %{local_port}\n"])
        .args(args);
    match (method, body) {
        ("POST", Some(b)) => {
            cmd.args(["-d", b]);
        }
        ("GET", None) => {}
        _ => bail!("unsupported curl request {method} {body:?}"),
    }
    cmd.arg(format!("http://127.0.0.1:{server_port}{target}"));
    let start = unix_nanos(SystemTime::now());
    let mut proc = ChildProc::spawn("curl", &mut cmd)?;
    let pid = proc.pid();
    proc.finish(CLIENT_TIMEOUT)?;
    let end = unix_nanos(SystemTime::now());
    let out = proc.stdout.text();
    let fields: Vec<&str> = out.split_whitespace().collect();
    let [code, http_version, total, local_port] = fields[..] else {
        bail!("unexpected curl output {out:?}");
    };
    let secs: f64 = total.parse().context("curl time_total")?;
    Ok(ClientRequest {
        client: ClientKind::Curl,
        client_pid: pid,
        client_service: exe_name(&curl)?,
        client_exe: exe_name(&curl)?,
        client_port: local_port.parse().context("curl local_port")?,
        server_port,
        method: method.to_owned(),
        target: target.to_owned(),
        status: code.parse().context("curl http_code")?,
        http_version: http_version.to_owned(),
        elapsed_nanos: (secs * 1e9).round() as u64,
        // %{time_total} is printed with microsecond precision.
        elapsed_slack_nanos: 1_000,
        window: (start, end),
    })
}

/// Runs keepalive_client.py (OTEL_SERVICE_NAME=`service`) with `plan`.
pub fn keepalive(server_port: u16, plan: &str, service: &str) -> Result<Vec<ClientRequest>> {
    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.arg(servers_dir().join("keepalive_client.py"))
        .args(["--host", "127.0.0.1", "--port", &server_port.to_string()])
        .args(["--plan", plan])
        .env("OTEL_SERVICE_NAME", service);
    let start = unix_nanos(SystemTime::now());
    let mut proc = ChildProc::spawn("keepalive_client", &mut cmd)?;
    let pid = proc.pid();
    proc.finish(CLIENT_TIMEOUT)?;
    let end = unix_nanos(SystemTime::now());
    let exe = exe_name(&py)?;
    let mut out = Vec::new();
    for line in proc.stdout.all() {
        let v: serde_json::Value = serde_json::from_str(&line).with_context(|| line.clone())?;
        let field = |k: &str| v.get(k).with_context(|| format!("{k} missing in {line}"));
        let str_field = |k: &str| -> Result<String> { Ok(field(k)?.as_str().context("not a string")?.to_owned()) };
        let int_field = |k: &str| -> Result<i64> { field(k)?.as_i64().context("not an int") };
        let secs = field("elapsed_s")?.as_f64().context("elapsed_s")?;
        out.push(ClientRequest {
            client: ClientKind::KeepAlive,
            client_pid: pid,
            client_service: service.to_owned(),
            client_exe: exe.clone(),
            client_port: u16::try_from(int_field("local_port")?)?,
            server_port,
            method: str_field("method")?,
            target: str_field("path")?,
            status: int_field("status")?,
            http_version: "1.1".to_owned(),
            elapsed_nanos: (secs * 1e9).ceil() as u64,
            elapsed_slack_nanos: 0,
            window: (start, end),
        });
    }
    Ok(out)
}

/// Runs bad_client.py against a port; returns its per-case JSON lines.
pub fn bad_client(port: u16) -> Result<Vec<String>> {
    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.arg(servers_dir().join("bad_client.py"))
        .args(["--port", &port.to_string(), "--seed", "20240611"])
        .env("OTEL_SERVICE_NAME", "bad-client");
    let mut proc = ChildProc::spawn("bad_client", &mut cmd)?;
    proc.finish(Duration::from_secs(120))?;
    Ok(proc.stdout.all())
}

/// How the agent exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otlp {
    Grpc,
    HttpProtobuf,
}

impl Otlp {
    pub fn env_value(self) -> &'static str {
        match self {
            Otlp::Grpc => "grpc",
            Otlp::HttpProtobuf => "http/protobuf",
        }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for this protocol (a base URL for HTTP).
    pub fn endpoint(self, sink: &otlp_sink::Sink) -> String {
        match self {
            Otlp::Grpc => sink.grpc_endpoint(),
            Otlp::HttpProtobuf => sink.http_endpoint(),
        }
    }

    pub fn via(self) -> otlp_sink::Protocol {
        match self {
            Otlp::Grpc => otlp_sink::Protocol::Grpc,
            Otlp::HttpProtobuf => otlp_sink::Protocol::Http,
        }
    }
}

/// The agent's final `spanwire_stats {json}` counters.
#[derive(Debug, Clone)]
pub struct Stats(pub BTreeMap<String, serde_json::Value>);

impl Stats {
    pub fn get(&self, key: &str) -> Result<u64> {
        self.0
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .with_context(|| format!("stats have no integer {key:?}: {:?}", self.0))
    }
}

/// The spanwire agent under test.
pub struct Agent {
    pub proc: ChildProc,
}

impl Agent {
    /// Starts `spanwire run --port ...` and waits for "capture started".
    pub fn start(ports: &[u16], otlp: Otlp, sink: &otlp_sink::Sink) -> Result<Agent> {
        let args: Vec<String> = ports.iter().flat_map(|p| ["--port".to_string(), p.to_string()]).collect();
        Agent::start_with(&args, otlp, sink)
    }

    /// Starts `spanwire run ARGS...` and waits for "capture started".
    pub fn start_with(args: &[String], otlp: Otlp, sink: &otlp_sink::Sink) -> Result<Agent> {
        Agent::start_env(args, otlp, sink, &[])
    }

    /// Like [`Agent::start_with`], with extra environment variables (e.g. a short
    /// `OTEL_METRIC_EXPORT_INTERVAL`).
    pub fn start_env(args: &[String], otlp: Otlp, sink: &otlp_sink::Sink, env: &[(&str, &str)]) -> Result<Agent> {
        Agent::start_to(args, &otlp.endpoint(sink), otlp, env)
    }

    /// `spanwire run ARGS...` exporting to `endpoint` (e.g. a real Collector) over `otlp`.
    pub fn start_to(args: &[String], endpoint: &str, otlp: Otlp, env: &[(&str, &str)]) -> Result<Agent> {
        let mut cmd = clean_command(env!("CARGO_BIN_EXE_spanwire"));
        cmd.arg("run").args(args);
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", otlp.env_value())
            .env("SPANWIRE_LOG", "info")
            .envs(env.iter().copied());
        let proc = ChildProc::spawn("spanwire", &mut cmd)?;
        proc.stderr
            .wait_for(|l| l.contains(CAPTURE_STARTED), AGENT_READY_TIMEOUT)
            .with_context(|| format!("agent did not log {CAPTURE_STARTED:?}\n{}", proc.describe()))?;
        Ok(Agent { proc })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Fails if the agent has exited.
    pub fn ensure_alive(&mut self) -> Result<()> {
        if let Some(status) = self.proc.try_status()? {
            bail!("agent exited early: {status}\n{}", self.proc.describe());
        }
        Ok(())
    }

    /// SIGTERM; the agent must exit 0 within 5 s and print its stats line.
    pub fn stop(mut self) -> Result<Stats> {
        self.proc.signal(libc::SIGTERM)?;
        let status = self
            .proc
            .wait_timeout(AGENT_EXIT_TIMEOUT)
            .with_context(|| format!("agent ignored SIGTERM\n{}", self.proc.describe()))?;
        self.proc.stderr.wait_eof(Duration::from_secs(5))?;
        ensure!(status.success(), "agent exited with {status}\n{}", self.proc.describe());
        let line = self
            .proc
            .stderr
            .all()
            .into_iter()
            .rev()
            .find(|l| l.contains(STATS_PREFIX))
            .with_context(|| format!("no {STATS_PREFIX:?} line\n{}", self.proc.describe()))?;
        let json = &line[line.find(STATS_PREFIX).unwrap_or(0) + STATS_PREFIX.len()..];
        let map = serde_json::from_str(json.trim()).with_context(|| format!("parsing stats line {line:?}"))?;
        Ok(Stats(map))
    }
}
