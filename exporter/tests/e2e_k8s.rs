//! End-to-end Kubernetes metadata: a real HTTP server is moved into a cgroup v2 directory named
//! like a containerd container of a pod that a fake API server knows; the agent, pointed at
//! the fake API server, must export its spans and logs with that pod's `k8s.*` attributes and
//! derived `service.name`, also when the pod appears only after the first span (the resource
//! is rebuilt). Root needed (loads eBPF, writes cgroups); named `root_*`.

mod common;
#[path = "common/fake_apiserver.rs"]
mod fake_apiserver;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use common::{clean_command, curl, python, require_root, serial, servers_dir, Agent, ChildProc, Otlp};
use fake_apiserver::{fixture, FakeApiServer, Route};
use otlp_sink::{ReceivedSpan, Sink, SPAN_KIND_CLIENT, SPAN_KIND_SERVER};

const NODE: &str = "e2e-node";
const POD: &str = "shop-api-6b7c8d9e5-k2p4r";

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup` or, on hybrid hosts,
/// `/sys/fs/cgroup/unified`).
fn cgroup2_mount() -> Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    info.lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mount = left.split_whitespace().nth(4)?;
            (right.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount))
        })
        .context("no cgroup2 hierarchy is mounted: this test needs cgroup v2 (unified or hybrid)")
}

/// A containerd-style pod/container cgroup tree (systemd driver naming) under a test-owned
/// top directory; the process is moved back out and the tree removed on drop.
struct PodCgroup {
    top: PathBuf,
    leaf: PathBuf,
    root: PathBuf,
    pid: Option<u32>,
}

impl PodCgroup {
    fn create(pod_uid: &str, container_id: &str) -> Result<PodCgroup> {
        let root = cgroup2_mount()?;
        let top = root.join(format!("spanwire-e2e-{}", std::process::id()));
        let leaf = top
            .join("kubepods.slice/kubepods-besteffort.slice")
            .join(format!("kubepods-besteffort-pod{}.slice", pod_uid.replace('-', "_")))
            .join(format!("cri-containerd-{container_id}.scope"));
        std::fs::create_dir_all(&leaf).with_context(|| format!("creating {leaf:?}"))?;
        Ok(PodCgroup { top, leaf, root, pid: None })
    }

    fn enter(&mut self, pid: u32) -> Result<()> {
        std::fs::write(self.leaf.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("moving {pid} into {:?}", self.leaf))?;
        self.pid = Some(pid);
        Ok(())
    }
}

impl Drop for PodCgroup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = std::fs::write(self.root.join("cgroup.procs"), pid.to_string());
        }
        // rmdir bottom-up (cgroupfs directories cannot be removed recursively).
        let mut dir = self.leaf.clone();
        while dir.starts_with(&self.top) {
            let _ = std::fs::remove_dir(&dir);
            if !dir.pop() {
                break;
            }
        }
    }
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        ensure!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn server_span(sink: &Sink, pid: u32, path: &str) -> Option<ReceivedSpan> {
    sink.spans().into_iter().find(|s| {
        s.kind == SPAN_KIND_SERVER
            && s.resource_int("process.pid") == Some(i64::from(pid))
            && s.attr_str("url.path") == Some(path)
    })
}

#[test]
fn root_pod_metadata_on_spans_and_logs() -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let container_id = random_hex(32)?;
    let u = random_hex(16)?;
    let pod_uid = format!("{}-{}-{}-{}-{}", &u[..8], &u[8..12], &u[12..16], &u[16..20], &u[20..]);

    // The fake API server: no pods at first; the pod is ADDED when the test advances.
    let api = rt.block_on(FakeApiServer::start("127.0.0.1:0"))?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s/apiserver");
    let vars = [
        ("CONTAINER_ID", container_id.as_str()),
        ("POD_UID", pod_uid.as_str()),
        ("NODE_NAME", NODE),
        ("POD_IP", "127.0.0.1"),
    ];
    api.route(
        "/api/v1/pods",
        &format!("spec.nodeName={NODE}"),
        Route::new()
            .list(fixture(&dir.join("e2e-pods.list.json"), &vars)?)
            .watch(&fixture(&dir.join("e2e-pods.watch.jsonl"), &vars)?),
    );
    api.route(
        "/apis/apps/v1/replicasets",
        "",
        Route::new().list(fixture(&dir.join("e2e-replicasets.list.json"), &[])?),
    );
    let empty = r#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"1000"},"items":[]}"#;
    api.route("/apis/batch/v1/jobs", "", Route::new().list(empty.to_string()));

    // The "containerised" server: no OTEL_SERVICE_NAME, so service.name comes from the pod.
    let py = python()?;
    let mut cmd = clean_command(&py);
    cmd.arg(servers_dir().join("http_server.py")).args(["--port", "0"]);
    let server = ChildProc::spawn("py-server", &mut cmd)?;
    let line = server.stdout.wait_for(|l| l.starts_with("listening on "), Duration::from_secs(30))?;
    let port: u16 = line.rsplit(':').next().and_then(|p| p.parse().ok()).context("port")?;
    let mut cgroup = PodCgroup::create(&pod_uid, &container_id)?;
    cgroup.enter(server.pid())?;
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", server.pid()))?;
    ensure!(cg.contains(&format!("cri-containerd-{container_id}.scope")), "server's cgroup: {cg}");

    let tmp = std::env::temp_dir();
    let kubeconfig = tmp.join(format!("spanwire-e2e-kubeconfig-{}.yaml", std::process::id()));
    api.write_kubeconfig(&kubeconfig)?;
    let config = tmp.join(format!("spanwire-e2e-k8s-{}.yaml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "kubernetes:\n  mode: on\n  kubeconfig: {}\n  node_name: {NODE}\n  peers: false\n  debounce_ms: 20\n\
             export:\n  flush_interval_ms: 200\n",
            kubeconfig.display()
        ),
    )?;
    let args = ["--config".to_string(), config.display().to_string(), "--port".into(), port.to_string()];
    let agent = Agent::start_with(&args, Otlp::Grpc, &sink)?;
    let result = (|| -> Result<()> {
        // Before the pod is known: process metadata and the container id only.
        ensure!(curl(port, "GET", "/status/202", None)?.status == 202);
        let before = wait_for("the first server span", Duration::from_secs(20), || {
            Ok(server_span(&sink, server.pid(), "/status/202"))
        })?;
        ensure!(before.resource_str("container.id") == Some(container_id.as_str()), "{before:#?}");
        ensure!(before.resource_str("k8s.pod.name").is_none(), "pod not known yet: {before:#?}");
        let exe = before.resource_str("process.executable.name").context("exe")?.to_string();
        ensure!(before.resource_str("service.name") == Some(exe.as_str()), "{before:#?}");

        // The pod appears: the process's resource must be rebuilt for later telemetry.
        api.advance();
        let after = wait_for("a server span with pod metadata", Duration::from_secs(20), || {
            ensure!(curl(port, "GET", "/hello", None)?.status == 200);
            std::thread::sleep(Duration::from_millis(300));
            Ok(sink.spans().into_iter().find(|s| {
                s.kind == SPAN_KIND_SERVER
                    && s.resource_int("process.pid") == Some(i64::from(server.pid()))
                    && s.resource_str("k8s.pod.name").is_some()
            }))
        })?;
        let want = [
            ("service.name", "shop-api"),
            ("service.namespace", "shop"),
            ("container.id", container_id.as_str()),
            ("k8s.namespace.name", "shop"),
            ("k8s.pod.name", POD),
            ("k8s.pod.uid", pod_uid.as_str()),
            ("k8s.container.name", "api"),
            ("k8s.node.name", NODE),
            ("k8s.deployment.name", "shop-api"),
            ("k8s.replicaset.name", "shop-api-6b7c8d9e5"),
        ];
        for (k, v) in want {
            ensure!(after.resource_str(k) == Some(v), "resource {k} should be {v:?}: {after:#?}");
        }
        let instance = format!("shop.{POD}.api");
        ensure!(after.resource_str("service.instance.id") == Some(instance.as_str()), "{after:#?}");

        // Logs: a failed request's log record carries the same resource.
        ensure!(curl(port, "GET", "/status/503", None)?.status == 503);
        let log = wait_for("the failed-request log record", Duration::from_secs(20), || {
            Ok(sink.logs().into_iter().find(|l| l.body.contains("HTTP 503 GET /status/503")))
        })?;
        for (k, v) in want {
            ensure!(log.resource_str(k) == Some(v), "log resource {k} should be {v:?}: {log:#?}");
        }

        // Peers: the pod's IP in the fixture is 127.0.0.1 here, so curl's CLIENT span to the
        // server resolves to the pod's workload.
        let client = wait_for("curl's client span with peer attributes", Duration::from_secs(20), || {
            Ok(sink.spans().into_iter().find(|s| {
                s.kind == SPAN_KIND_CLIENT
                    && s.attr_int("server.port") == Some(i64::from(port))
                    && s.attr_str("peer.k8s.pod.name").is_some()
            }))
        })?;
        ensure!(client.attr_str("service.peer.name") == Some("shop-api"), "{client:#?}");
        ensure!(client.attr_str("peer.k8s.deployment.name") == Some("shop-api"), "{client:#?}");
        ensure!(client.attr_str("peer.k8s.namespace.name") == Some("shop"), "{client:#?}");
        Ok(())
    })();
    let describe = agent.proc.describe();
    let stats = agent.stop();
    let _ = std::fs::remove_file(&kubeconfig);
    let _ = std::fs::remove_file(&config);
    drop(cgroup);
    if let Err(e) = result {
        bail!("{e:#}\n{describe}");
    }
    stats?;
    ensure!(
        api.requests().iter().any(|r| r.path == "/api/v1/pods" && r.is_watch()),
        "the agent watched pods on the fake API server"
    );
    drop(rt);
    Ok(())
}
