//! Kernel tests (need root and a BPF-capable kernel): load the real object, drive real
//! sockets with each syscall family, and check the records the kernel writes.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use spanwire::ebpf::fs::ensure_tracefs;
use spanwire::ebpf::loader::{KernelConfig, ProbeMaps, Probes};
use spanwire::ebpf::records::{decode, Direction, EventKind, RawEvent};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "kernel tests need root (CAP_BPF, CAP_PERFMON): run them with sudo");
}

fn start(cfg: KernelConfig) -> (Probes, ProbeMaps) {
    require_root();
    ensure_tracefs().expect("tracefs");
    let mut probes = Probes::load(&cfg).expect("load kernel object");
    let maps = probes.take_maps().expect("maps");
    probes.attach().expect("attach");
    (probes, maps)
}

fn config(ports: Vec<u16>, payload: u32) -> KernelConfig {
    KernelConfig {
        agent_pid: u32::MAX, // nobody: this test process is observed
        payload_max_bytes: payload,
        payload_wide_bytes: 4096,
        ring_buffer_bytes: 1 << 22,
        wakeup_bytes: 1,
        capture_all: ports.is_empty(),
        ports,
        pids: vec![],
        logs: None,
    }
}

/// Collects events until `done` says so or 5 s pass.
fn collect(maps: &mut ProbeMaps, mut done: impl FnMut(&[RawEvent]) -> bool) -> Vec<RawEvent> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        while let Some(item) = maps.events.next() {
            out.push(decode(&item).expect("kernel record decodes"));
        }
        if done(&out) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    out
}

fn pair(addr: &str) -> (TcpStream, TcpStream, u16) {
    let l = TcpListener::bind(addr).expect("bind");
    let port = l.local_addr().expect("addr").port();
    let c = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s, port)
}

fn data_of(evs: &[RawEvent], fd: i32, dir: Direction) -> Vec<&RawEvent> {
    let me = std::process::id();
    evs.iter()
        .filter(|e| e.kind == EventKind::Data && e.pid.0 == me && e.fd == fd && e.direction == Some(dir))
        .collect()
}

#[test]
fn root_every_syscall_family_is_captured_with_tuple_and_payload() {
    // Ports are only known after bind, so select everything and filter by fd/pid here.
    let (_p, mut maps) = start(config(vec![], 512));
    for addr in ["127.0.0.1:0", "[::1]:0"] {
        let (mut c, mut s, port) = pair(addr);
        let (cfd, sfd) = (c.as_raw_fd(), s.as_raw_fd());
        let mut buf = [0u8; 64];
        // write/read
        // SAFETY: valid fds and buffers for the duration of each call.
        unsafe {
            assert_eq!(libc::write(cfd, b"w-one".as_ptr().cast(), 5), 5);
            assert_eq!(libc::read(sfd, buf.as_mut_ptr().cast(), 5), 5);
        }
        // send/recv (sendto/recvfrom)
        c.write_all(b"sendto").expect("send");
        s.read_exact(&mut buf[..6]).expect("recv");
        // writev/readv
        assert_eq!(c.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cdef")]).expect("writev"), 6);
        let (mut x, mut y) = ([0u8; 3], [0u8; 3]);
        assert_eq!(s.read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)]).expect("readv"), 6);
        // sendmsg/recvmsg
        let mut iov = [libc::iovec { iov_base: b"msg!".as_ptr() as *mut _, iov_len: 4 }];
        // SAFETY: msghdr points at live iovecs.
        unsafe {
            let mut m: libc::msghdr = std::mem::zeroed();
            m.msg_iov = iov.as_mut_ptr();
            m.msg_iovlen = 1;
            assert_eq!(libc::sendmsg(cfd, &m, 0), 4);
            let mut rbuf = [0u8; 16];
            let mut riov = [libc::iovec { iov_base: rbuf.as_mut_ptr().cast(), iov_len: 16 }];
            m.msg_iov = riov.as_mut_ptr();
            assert_eq!(libc::recvmsg(sfd, &mut m, 0), 4);
        }
        let evs = collect(&mut maps, |e| data_of(e, sfd, Direction::Ingress).len() >= 4);
        let sent: Vec<_> = data_of(&evs, cfd, Direction::Egress).iter().map(|e| e.payload.clone()).collect();
        let got: Vec<_> = data_of(&evs, sfd, Direction::Ingress).iter().map(|e| e.payload.clone()).collect();
        let want: Vec<Vec<u8>> = vec![b"w-one".to_vec(), b"sendto".to_vec(), b"abcdef".to_vec(), b"msg!".to_vec()];
        assert_eq!(sent, want, "client writes via write, sendto, writev, sendmsg ({addr})");
        assert_eq!(got, want, "server reads via read, recvfrom, readv, recvmsg ({addr})");
        let ev = data_of(&evs, sfd, Direction::Ingress)[0];
        let sys: SocketAddr = s.local_addr().expect("addr");
        assert_eq!(ev.tuple.local, sys, "server-side local address ({addr})");
        assert_eq!(ev.tuple.remote, s.peer_addr().expect("peer"), "server-side remote address ({addr})");
        assert_eq!(ev.tuple.local.port(), port);
        assert_eq!(ev.ret, 5);
        assert!(ev.exit_ns >= ev.enter_ns && ev.enter_ns > 0);
        let me = std::process::id();
        assert!(evs.iter().any(|e| e.kind == EventKind::Connect && e.pid.0 == me && e.tuple.remote.port() == port));
        assert!(evs.iter().any(|e| e.kind == EventKind::Accept && e.pid.0 == me && e.tuple.local.port() == port));
        drop(c);
        let evs = collect(&mut maps, |e| e.iter().any(|e| e.kind == EventKind::Close && e.fd == cfd));
        assert!(
            evs.iter().any(|e| e.kind == EventKind::Close && e.pid.0 == me && e.fd == cfd),
            "close of the client socket"
        );
    }
}

#[test]
fn root_payload_is_cut_at_the_limit_but_length_is_real() {
    let (mut c, mut s, port) = pair("127.0.0.1:0");
    let (_p, mut maps) = start(config(vec![port], 64));
    let big = vec![b'x'; 10_000];
    c.write_all(&big).expect("write");
    let mut got = vec![0u8; 10_000];
    s.read_exact(&mut got).expect("read");
    let evs = collect(&mut maps, |e| {
        data_of(e, s.as_raw_fd(), Direction::Ingress).iter().map(|e| e.ret).sum::<i64>() >= 10_000
    });
    let w = data_of(&evs, c.as_raw_fd(), Direction::Egress);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].ret, 10_000);
    assert_eq!(w[0].payload.len(), 64);
    let r = data_of(&evs, s.as_raw_fd(), Direction::Ingress);
    assert_eq!(r.iter().map(|e| e.ret).sum::<i64>(), 10_000);
    assert!(r.iter().all(|e| e.payload.len() as i64 == e.ret.min(64)));
}

#[test]
fn root_sockets_marked_wide_are_captured_up_to_the_wide_limit() {
    let (mut c, mut s, port) = pair("127.0.0.1:0");
    let (_p, mut maps) = start(config(vec![port], 64));
    let big = vec![b'y'; 3000];
    c.write_all(&big).expect("write");
    let mut got = vec![0u8; 3000];
    s.read_exact(&mut got).expect("read");
    let evs = collect(&mut maps, |e| !data_of(e, c.as_raw_fd(), Direction::Egress).is_empty());
    let first = data_of(&evs, c.as_raw_fd(), Direction::Egress);
    assert_eq!((first.len(), first[0].payload.len()), (1, 64), "not marked: the normal limit");
    // The agent marks a connection it found to speak HTTP/2 by its kernel socket.
    maps.wide_socks.insert(first[0].sock.0, 1, 0).expect("mark the socket");
    c.write_all(&big).expect("write");
    s.read_exact(&mut got).expect("read");
    let evs = collect(&mut maps, |e| !data_of(e, c.as_raw_fd(), Direction::Egress).is_empty());
    let wide = data_of(&evs, c.as_raw_fd(), Direction::Egress);
    assert_eq!(wide.len(), 1);
    assert_eq!((wide[0].ret, wide[0].payload.len()), (3000, 3000), "marked: up to 4096");
    assert!(wide[0].payload.iter().all(|&b| b == b'y'));
    // The server's end is another socket: still cut at the normal limit...
    let r = data_of(&evs, s.as_raw_fd(), Direction::Ingress);
    assert!(!r.is_empty() && r.iter().all(|e| e.payload.len() as i64 == e.ret.min(64)));
    // A new connection whose first write is an HTTP/2 client preface followed by frames: the
    // kernel marks both sockets by itself and recaptures that very segment wide.
    drop((c, s));
    let (mut c, mut s, _) = pair(&format!("127.0.0.1:{port}"));
    let mut msg = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    msg.extend_from_slice(&big);
    c.write_all(&msg).expect("write preface and frames");
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf).expect("read preface and frames");
    s.write_all(&big).expect("write");
    c.read_exact(&mut got).expect("read");
    let evs = collect(&mut maps, |e| !data_of(e, s.as_raw_fd(), Direction::Egress).is_empty());
    let pw = data_of(&evs, c.as_raw_fd(), Direction::Egress);
    assert_eq!((pw.len(), pw[0].payload.len()), (1, msg.len()), "the preface segment itself is wide");
    let w = data_of(&evs, s.as_raw_fd(), Direction::Egress);
    assert_eq!((w.len(), w[0].payload.len()), (1, 3000), "after the preface: up to 4096");
}

#[test]
fn root_port_selection_and_non_sockets_are_filtered_in_the_kernel() {
    let (mut c1, mut s1, port) = pair("127.0.0.1:0");
    let (mut c2, mut s2, _other) = pair("127.0.0.1:0");
    let (_p, mut maps) = start(config(vec![port], 128));
    c2.write_all(b"unselected").expect("write");
    s2.read_exact(&mut [0u8; 10]).expect("read");
    let path = std::env::temp_dir().join(format!("spanwire-kt-{}", std::process::id()));
    std::fs::write(&path, b"a file, not a socket").expect("file write");
    let _ = std::fs::remove_file(&path);
    c1.write_all(b"selected").expect("write");
    s1.read_exact(&mut [0u8; 8]).expect("read");
    let evs = collect(&mut maps, |e| !data_of(e, s1.as_raw_fd(), Direction::Ingress).is_empty());
    let me = std::process::id();
    let mine: Vec<_> = evs.iter().filter(|e| e.pid.0 == me).collect();
    assert!(!mine.is_empty());
    assert!(
        mine.iter().all(|e| e.tuple.local.port() == port || e.tuple.remote.port() == port),
        "only connections on the selected port: {mine:?}"
    );
}

/// A connection the peer reset (TCP_CLOSE) has its local port zeroed in the sock
/// (`inet_put_port`); its close, and writes that finished as the reset arrived, still belong to
/// the selected port. Before, a port-selected server never saw the close after a client's reset,
/// so a cut or close-delimited response ended only at the agent's shutdown.
#[test]
fn root_close_after_the_peer_reset_is_still_selected_by_port() {
    let (c, mut s, port) = pair("127.0.0.1:0");
    let (_p, mut maps) = start(config(vec![port], 128));
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: valid socket fd and a correctly sized linger struct.
    let rc = unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(c); // RST
    let err = s.read(&mut [0u8; 16]).expect_err("the peer reset the connection");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    let fd = s.as_raw_fd();
    drop(s);
    let me = std::process::id();
    let is_close = |e: &RawEvent| e.kind == EventKind::Close && e.pid.0 == me && e.fd == fd;
    let evs = collect(&mut maps, |e| e.iter().any(is_close));
    let close = evs.iter().find(|e| is_close(e)).unwrap_or_else(|| panic!("no close event after the reset: {evs:?}"));
    assert_eq!(close.tuple.local.port(), port, "the port the sock forgot: {close:?}");
}

#[test]
fn root_the_agent_never_observes_itself() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut s, _) = listener.accept().expect("accept");
    let mut cfg = config(vec![port], 128);
    cfg.agent_pid = std::process::id();
    let (_p, mut maps) = start(cfg);
    c.write_all(b"self").expect("write");
    s.read_exact(&mut [0u8; 4]).expect("read");
    // A helper process on the same port must still be seen, proving capture is live.
    let mut helper = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import socket;s=socket.create_connection(('127.0.0.1',{port}));s.sendall(b'peer');s.recv(1)"),
        ])
        .spawn()
        .expect("python3");
    let (mut from_helper, _) = listener.accept().expect("accept helper");
    from_helper.read_exact(&mut [0u8; 4]).expect("read helper");
    drop(from_helper);
    assert!(helper.wait().expect("wait").success());
    let evs = collect(&mut maps, |e| e.iter().any(|e| e.kind == EventKind::Data && e.payload == b"peer"));
    assert!(evs.iter().any(|e| e.payload == b"peer" && e.pid.0 == helper.id()), "the helper process is observed");
    let me = std::process::id();
    assert!(evs.iter().all(|e| e.pid.0 != me), "no event from the agent's own pid");
}
