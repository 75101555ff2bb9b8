//! `spanwire check` and `spanwire run` start-up errors, on the real binary (root needed).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_spanwire");

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "these tests need root: run them with sudo");
}

/// Runs the binary as user `nobody` with every capability dropped.
fn unprivileged(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", BIN])
        .args(args)
        .output()
        .expect("setpriv (util-linux) runs")
}

#[test]
fn root_check_passes_on_this_machine() {
    require_root();
    let out = Command::new(BIN).arg("check").output().expect("run check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "spanwire check failed here:\n{text}");
    for item in [
        "privileges",
        "kernel BTF",
        "tracefs",
        "syscall tracepoints",
        "program type tracepoint",
        "map type ringbuf",
        "programs load+verify",
    ] {
        assert!(text.lines().any(|l| l.starts_with("ok") && l.contains(item)), "{item} not ok:\n{text}");
    }
    assert!(!text.contains("MISSING"));
}

#[test]
fn root_check_explains_missing_privileges() {
    require_root();
    let out = unprivileged(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "check must fail without privileges:\n{text}");
    assert!(text.contains("MISSING privileges"), "{text}");
    assert!(text.contains("fix: run as root, or grant CAP_BPF, CAP_PERFMON"), "{text}");
    assert!(text.contains("MISSING programs load+verify"), "{text}");
    assert!(text.contains("spanwire check: FAILED"), "{text}");
}

#[test]
fn root_run_without_privileges_fails_with_a_fix() {
    require_root();
    let out = unprivileged(&["run", "--port", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing privileges: run as root, or grant CAP_BPF and CAP_PERFMON"), "{err}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("spanwire-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad.yaml");
    std::fs::write(&path, "capture:\n  payload_bytes: 10\n").expect("write");
    let out = Command::new(BIN).args(["run", "--config"]).arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("invalid config file") && err.contains("unknown field `payload_bytes`"), "{err}");
    std::fs::write(&path, "capture:\n  payload_max_bytes: 100000\n").expect("write");
    let out = Command::new(BIN).args(["run", "--config"]).arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid capture.payload_max_bytes: must be 1..=4096"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A dead collector: spans are counted as failed, the agent keeps running and still stops
/// within 5 s of SIGTERM.
#[test]
fn root_dead_collector_is_counted_and_shutdown_stays_bounded() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    require_root();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = closed.local_addr().expect("addr").port();
    drop(closed); // nothing listens there now
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = server.local_addr().expect("addr").port();
    let mut agent = Command::new(BIN)
        .args(["run", "--port", &port.to_string()])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{dead_port}"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("SPANWIRE_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn agent");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = agent.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.iter().any(|l: &String| l.contains("capture started")) {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("agent ready");
        log.push(line);
    }
    // One HTTP exchange on the observed port, served by hand.
    let srv = std::thread::spawn(move || {
        let (mut s, _) = server.accept().expect("accept");
        let mut buf = [0u8; 1024];
        let _ = std::io::Read::read(&mut s, &mut buf).expect("read");
        std::io::Write::write_all(&mut s, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").expect("write");
    });
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::io::Write::write_all(&mut c, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    let mut resp = [0u8; 64];
    let _ = std::io::Read::read(&mut c, &mut resp).expect("recv");
    srv.join().expect("server thread");
    std::thread::sleep(Duration::from_millis(1500)); // one flush interval: the export is attempted
                                                     // SAFETY: kill with a valid pid of our child.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    let status = agent.wait().expect("wait");
    let took = t0.elapsed();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        log.push(l);
    }
    let all = log.join("\n");
    assert!(status.success(), "agent exit status {status:?}\n{all}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}\n{all}");
    let stats = log.iter().find(|l| l.starts_with("spanwire_stats ")).expect("stats line");
    assert!(stats.contains("\"spans_created_total\":2"), "one server and one client span: {stats}");
    assert!(stats.contains("\"spans_exported_total\":0"), "{stats}");
    assert!(stats.contains("\"spans_export_failed_total\":2"), "{stats}");
    assert!(!stats.contains("\"export_failures_total\":0"), "{stats}");
    assert_eq!(all.matches("span export failed").count(), 1, "export failure logged once:\n{all}");
}
