//! Network metrics against the kernel's own accounting, in network namespaces made here:
//! packet loss from nftables (`numgen random`) must produce exactly the retransmits TCP_INFO
//! reports for the socket, the exported RTT must agree with `tcpi_rtt`, and a connect to a
//! closed port (refused) or to a blackholed one (timed out) must count one failed connection.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables; integration/setup.sh installs both).
//! Run: `sudo -E cargo test -p spanwire --test e2e_network`.

mod common;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use common::{python, require_root, serial, Agent, ChildProc, Otlp};
use otlp_sink::{ReceivedPoint, Sink};

const PAYLOAD: usize = 4 << 20;

fn run(args: &[&str], stdin: Option<&str>) -> Result<()> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child =
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().with_context(|| format!("running {args:?}"))?;
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// Two namespaces joined by a veth pair; deleted on drop (also when the test fails).
struct Netns {
    a: String,
    b: String,
    addr_b: Ipv4Addr,
}

impl Netns {
    fn create(tag: u32) -> Result<Netns> {
        let (a, b) = (format!("swmA{tag}"), format!("swmB{tag}"));
        let net = (tag % 200) as u8 + 20;
        let guard = Netns { a: a.clone(), b: b.clone(), addr_b: Ipv4Addr::new(10, 251, net, 2) };
        let (va, vb) = (format!("swma{tag}"), format!("swmb{tag}"));
        run(&["ip", "netns", "add", &a], None)?;
        run(&["ip", "netns", "add", &b], None)?;
        run(&["ip", "link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b], None)?;
        run(&["ip", "-n", &a, "addr", "add", &format!("10.251.{net}.1/24"), "dev", &va], None)?;
        run(&["ip", "-n", &b, "addr", "add", &format!("10.251.{net}.2/24"), "dev", &vb], None)?;
        for (ns, dev) in [(&a, &va), (&b, &vb)] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"], None)?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"], None)?;
        }
        Ok(guard)
    }

    /// Drops every segment arriving in B for `port` (connects to it time out).
    fn blackhole_in_b(&self, port: u16) -> Result<()> {
        let rules = format!(
            "table inet swblack {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  \
             tcp dport {port} drop\n }}\n}}\n"
        );
        run(&["ip", "netns", "exec", &self.b, "nft", "-f", "-"], Some(&rules))
    }

    /// Drops 1 in `n` data-carrying segments arriving in B for `port` (handshake, pure ACKs
    /// and FINs pass, so every loss is a data retransmit that happens before the test reads
    /// TCP_INFO).
    fn drop_in_b(&self, port: u16, n: u32) -> Result<()> {
        let rules = format!(
            "table inet swloss {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  \
             tcp dport {port} ip length > 100 numgen random mod {n} == 0 drop\n }}\n}}\n"
        );
        run(&["ip", "netns", "exec", &self.b, "nft", "-f", "-"], Some(&rules))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
        }
    }
}

/// Server in B: reads PAYLOAD bytes, answers "ok", pauses, sends "bye", waits for EOF.
const SERVER: &str = r#"
import socket, sys, time
host, port, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port)); ls.listen(4)
print("listening", flush=True)
c, _ = ls.accept()
got = 0
while got < want:
    d = c.recv(1 << 16)
    if not d:
        sys.exit("client closed early")
    got += len(d)
c.sendall(b"ok")
time.sleep(0.3)
c.sendall(b"bye")
while c.recv(1 << 16):
    pass
print("done", got, flush=True)
"#;

/// TCP_INFO of a socket: (total retransmits, smoothed RTT in microseconds).
fn tcp_info(s: &TcpStream) -> Result<(u32, u32)> {
    // SAFETY: tcp_info is plain old data; getsockopt writes at most `len` bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: valid fd, pointer and length for TCP_INFO.
    let rc =
        unsafe { libc::getsockopt(s.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, (&raw mut info).cast(), &mut len) };
    ensure!(rc == 0, "getsockopt(TCP_INFO): {}", std::io::Error::last_os_error());
    Ok((info.tcpi_total_retrans, info.tcpi_rtt))
}

struct ClientResult {
    total_retrans: u32,
    rtt_us: u32,
    refused: bool,
    timed_out: bool,
}

/// Runs the client in namespace A, on a thread of this process (setns affects only the thread).
fn client_in(
    ns: &str,
    server: SocketAddr,
    closed: SocketAddr,
    blackhole: SocketAddr,
    keep_open: Duration,
) -> Result<ClientResult> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| -> Result<ClientResult> {
            let f = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
            // SAFETY: setns on a valid namespace fd, for this thread only.
            let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            ensure!(rc == 0, "setns({path}): {}", std::io::Error::last_os_error());
            let refused = match TcpStream::connect_timeout(&closed, Duration::from_secs(5)) {
                Err(e) => e.kind() == ErrorKind::ConnectionRefused,
                Ok(_) => false,
            };
            // With net.ipv4.tcp_syn_retries=1 in A the kernel gives up after ~3 s (ETIMEDOUT).
            let timed_out = match TcpStream::connect_timeout(&blackhole, Duration::from_secs(20)) {
                Err(e) => e.kind() == ErrorKind::TimedOut,
                Ok(_) => false,
            };
            let mut c = TcpStream::connect_timeout(&server, Duration::from_secs(5))?;
            c.set_read_timeout(Some(Duration::from_secs(60)))?;
            c.write_all(&vec![0x5a; PAYLOAD])?;
            let mut reply = [0u8; 5];
            c.read_exact(&mut reply)?;
            ensure!(&reply == b"okbye", "server replied {reply:?}");
            let (total_retrans, rtt_us) = tcp_info(&c)?;
            // Keep the connection open across exports so the gauge is reported while it lives.
            std::thread::sleep(keep_open);
            Ok(ClientResult { total_retrans, rtt_us, refused, timed_out })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("client thread panicked"))?
    })
}

fn latest_by_name<'a>(
    all: &'a [ReceivedPoint],
    name: &str,
    pick: impl Fn(&ReceivedPoint) -> bool,
) -> Option<&'a ReceivedPoint> {
    all.iter().filter(|p| p.name == name && pick(p)).max_by_key(|p| p.time_unix_nano)
}

#[test]
fn root_netns_retransmits_rtt_and_refused_connects_match_the_kernel() -> Result<()> {
    require_root();
    let _serial = serial();
    for tool in ["ip", "nft"] {
        if Command::new(tool).arg("-V").output().is_err() {
            bail!("{tool} not found: run integration/setup.sh (installs iproute2 and nftables)");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let netns = Netns::create(std::process::id() % 10_000)?;
    let (port, closed_port, blackhole_port) = (18_400, 18_401, 18_402);
    netns.drop_in_b(port, 10)?;
    netns.blackhole_in_b(blackhole_port)?;
    run(&["ip", "netns", "exec", &netns.a, "sysctl", "-q", "-w", "net.ipv4.tcp_syn_retries=1"], None)?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &netns.b]).arg(python()?).args([
        "-c",
        SERVER,
        &netns.addr_b.to_string(),
        &port.to_string(),
        &PAYLOAD.to_string(),
    ]);
    let mut server = ChildProc::spawn("netns-server", &mut cmd)?;
    server.stdout.wait_for(|l| l.contains("listening"), Duration::from_secs(10))?;
    let agent = Agent::start_env(&[], Otlp::Grpc, &sink, &[("OTEL_METRIC_EXPORT_INTERVAL", "300")])?;

    let server_addr = SocketAddr::from((netns.addr_b, port));
    let closed_addr = SocketAddr::from((netns.addr_b, closed_port));
    let blackhole_addr = SocketAddr::from((netns.addr_b, blackhole_port));
    let client = client_in(&netns.a, server_addr, closed_addr, blackhole_addr, Duration::from_millis(1000))?;
    server.finish(Duration::from_secs(30))?;
    agent.stop()?;
    ensure!(client.refused, "connect to the closed port was not refused");
    ensure!(client.timed_out, "connect to the blackholed port did not time out");
    ensure!(client.total_retrans > 0, "10 % loss caused no retransmit: is the nftables rule active?");

    let all = sink.metrics();
    let pid = i64::from(std::process::id());
    let peer = netns.addr_b.to_string();
    let flow = |p: &ReceivedPoint, port: u16| {
        p.resource.get("process.pid").and_then(|v| v.as_int()) == Some(pid)
            && p.attr_str("network.peer.address") == Some(peer.as_str())
            && p.attr_int("network.peer.port") == Some(i64::from(port))
            && p.attr_str("spanwire.connection.direction") == Some("client")
    };
    let retrans =
        latest_by_name(&all, "spanwire.tcp.retransmits", |p| flow(p, port)).context("no retransmit metric")?;
    assert_eq!(retrans.number() as u32, client.total_retrans, "exported retransmits vs TCP_INFO tcpi_total_retrans");

    let rtt = latest_by_name(&all, "spanwire.tcp.srtt", |p| flow(p, port)).context("no RTT metric")?;
    let (got_us, want_us) = (rtt.number() * 1e6, f64::from(client.rtt_us));
    ensure!(
        (got_us - want_us).abs() <= want_us * 0.2,
        "exported srtt {got_us:.0} us vs tcpi_rtt {want_us} us: more than 20 % apart"
    );

    let failed = |p: &ReceivedPoint| flow(p, closed_port) && p.attr_str("error.type") == Some("connection_refused");
    let refused = latest_by_name(&all, "spanwire.tcp.connections.failed", failed).context("no failed connection")?;
    assert_eq!(refused.number(), 1.0, "one refused connect");
    let timeout = |p: &ReceivedPoint| flow(p, blackhole_port) && p.attr_str("error.type") == Some("timed_out");
    let timed_out = latest_by_name(&all, "spanwire.tcp.connections.failed", timeout).context("no timed-out connect")?;
    assert_eq!(timed_out.number(), 1.0, "one timed-out connect");
    let opened = latest_by_name(&all, "spanwire.tcp.connections.opened", |p| flow(p, port)).context("no opened")?;
    assert_eq!(opened.number(), 1.0);
    let closed = latest_by_name(&all, "spanwire.tcp.connections.closed", |p| flow(p, port)).context("no closed")?;
    assert_eq!(closed.number(), 1.0);
    let by_name: BTreeMap<&str, f64> =
        [("retransmits", retrans.number()), ("srtt_us", got_us), ("tcpi_rtt_us", want_us)].into_iter().collect();
    eprintln!("netns loss test: {by_name:?} tcpi_total_retrans={}", client.total_retrans);
    Ok(())
}
