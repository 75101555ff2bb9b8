//! Pid reuse (issue 8): an observed server exits and a different program, with another
//! service name, is started under the same host pid (forced through
//! /proc/sys/kernel/ns_last_pid) on the same port. Each one's spans must carry its own
//! resource, never the other's. Root needed (loads eBPF, writes ns_last_pid).

mod common;

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use common::{
    clean_command, curl, exe_name, go_server_binary, python, require_root, serial, servers_dir, Agent, ChildProc, Otlp,
};
use otlp_sink::{ReceivedSpan, Sink, SPAN_KIND_SERVER};

const FIRST: &str = "pid-reuse-first";
const SECOND: &str = "pid-reuse-second";
/// Requests made to each of the two servers.
const REQUESTS: usize = 3;
/// Forks of other processes on the machine can take the pid first: try this often.
const PID_ATTEMPTS: usize = 200;

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_listening(proc: &ChildProc) -> Result<()> {
    proc.stdout
        .wait_for(|l| l.starts_with("listening on "), Duration::from_secs(30))
        .with_context(|| format!("{} never became ready\n{}", proc.name, proc.describe()))?;
    Ok(())
}

/// Spawns `make()` as pid `pid`: sets the kernel's last allocated pid to `pid - 1` right
/// before each fork, and retries when another fork on the machine got there first.
fn spawn_as_pid(pid: u32, name: &str, make: impl Fn() -> Command) -> Result<ChildProc> {
    for _ in 0..PID_ATTEMPTS {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).context("writing ns_last_pid")?;
        let child = ChildProc::spawn(name, &mut make())?;
        if child.pid() == pid {
            return Ok(child);
        }
        // Dropping kills and reaps the miss.
    }
    bail!("could not start {name} as pid {pid} in {PID_ATTEMPTS} attempts")
}

fn describe(s: &ReceivedSpan) -> String {
    format!(
        "{} {:?} service.name={} process.pid={:?} process.executable.name={:?}",
        s.name,
        s.attr_str("url.path"),
        s.service_name(),
        s.resource_int("process.pid"),
        s.resource_str("process.executable.name")
    )
}

/// Every span must name `service`, `pid` and `exe` in its resource.
fn check_owner(spans: &[&ReceivedSpan], service: &str, pid: u32, exe: &str) -> Result<()> {
    ensure!(spans.len() == REQUESTS, "{} spans for {REQUESTS} requests to {service}", spans.len());
    for s in spans {
        ensure!(
            s.service_name() == service
                && s.resource_int("process.pid") == Some(i64::from(pid))
                && s.resource_str("process.executable.name") == Some(exe),
            "span of {service} (pid {pid}, {exe}) has another resource: {}",
            describe(s)
        );
    }
    Ok(())
}

#[test]
fn root_reused_pid_gets_its_own_resource() -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let port = free_port()?;
    let agent = Agent::start(&[port], Otlp::Grpc, &sink)?;

    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.arg(servers_dir().join("http_server.py")).args(["--port", &port.to_string()]).env("OTEL_SERVICE_NAME", FIRST);
    let mut first = ChildProc::spawn("py-server", &mut cmd)?;
    wait_listening(&first)?;
    let pid = first.pid();
    for _ in 0..REQUESTS {
        let r = curl(port, "GET", "/hello", None)?;
        ensure!(r.status == 200, "first server answered {}", r.status);
    }
    rt.block_on(sink.wait_for_spans(2 * REQUESTS, Duration::from_secs(30)))?;
    first.signal(libc::SIGKILL)?;
    first.wait_timeout(Duration::from_secs(10))?;

    let go = go_server_binary()?;
    let mut second = spawn_as_pid(pid, "go-server", || {
        let mut cmd = clean_command(&go);
        cmd.args(["-addr", &format!("127.0.0.1:{port}")]).env("OTEL_SERVICE_NAME", SECOND);
        cmd
    })?;
    wait_listening(&second)?;
    for _ in 0..REQUESTS {
        let r = curl(port, "GET", "/status/202", None)?;
        ensure!(r.status == 202, "second server answered {}", r.status);
    }
    // Server and curl client spans for both servers.
    rt.block_on(sink.wait_for_spans(4 * REQUESTS, Duration::from_secs(30)))?;
    second.signal(libc::SIGTERM)?;
    second.wait_timeout(Duration::from_secs(10))?;
    let stats = agent.stop()?;

    let spans = sink.spans();
    let server: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.kind == SPAN_KIND_SERVER).collect();
    let all = || server.iter().map(|s| describe(s)).collect::<Vec<_>>().join("\n");
    ensure!(server.len() == 2 * REQUESTS, "server spans:\n{}\n{stats:?}", all());
    let of_path = |p: &str| server.iter().copied().filter(|s| s.attr_str("url.path") == Some(p)).collect::<Vec<_>>();
    check_owner(&of_path("/hello"), FIRST, pid, &exe_name(&py)?).with_context(all)?;
    check_owner(&of_path("/status/202"), SECOND, pid, &exe_name(&go)?).with_context(all)?;
    Ok(())
}
