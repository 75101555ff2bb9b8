//! kube-rs against a fake API server over real HTTP: list, watch (ADDED, MODIFIED, DELETED,
//! BOOKMARK), a 410 Gone that forces a relist, and the degraded modes (API unreachable,
//! forbidden). No root needed.

#[path = "common/fake_apiserver.rs"]
mod fake_apiserver;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use fake_apiserver::{fixture, FakeApiServer, Route};
use spanwire::config::{KubernetesConfig, KubernetesMode};
use spanwire::decorate::cgroup::ContainerId;
use spanwire::decorate::k8s::{self, peer, K8sMetadata, Peer};
use tokio_util::sync::CancellationToken;

const NODE: &str = "node-a";
const CHECKOUT_CID: &str = "7c2ef4ab5d6a6e0c3b1f0d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b";
const CART_CID: &str = "2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a";
const REPORT_CID: &str = "3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b";
const WAIT: Duration = Duration::from_secs(20);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s/apiserver")
}

fn read(name: &str) -> Result<String> {
    fixture(&fixtures().join(name), &[])
}

fn cid(s: &str) -> ContainerId {
    ContainerId::parse(s).expect("valid id")
}

/// Service name of the pod running container `id`, if known.
fn service_of(meta: &K8sMetadata, id: &str) -> Option<String> {
    meta.pod_of(&cid(id), None).map(|pc| {
        let env = pc.pod.containers.iter().find(|c| Some(&c.name) == pc.container.as_ref()).map(|c| c.env.clone());
        pc.pod.service_name(&env.unwrap_or_default())
    })
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !cond() {
        ensure!(start.elapsed() < WAIT, "timed out after {WAIT:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn config(kubeconfig: &Path, peers: bool) -> KubernetesConfig {
    KubernetesConfig {
        mode: KubernetesMode::On,
        kubeconfig: Some(kubeconfig.display().to_string()),
        node_name: Some(NODE.into()),
        peers,
        debounce_ms: 20,
    }
}

fn kubeconfig_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("spanwire-kubeconfig-{tag}-{}.yaml", std::process::id()))
}

async fn scripted_server(addr: &str) -> Result<FakeApiServer> {
    let server = FakeApiServer::start(addr).await?;
    let node = format!("spec.nodeName={NODE}");
    server.route(
        "/api/v1/pods",
        &node,
        Route::new()
            .list(read("pods-node.list-1.json")?)
            .list(read("pods-node.list-2.json")?)
            .watch(&read("pods-node.watch-1.jsonl")?)
            .watch(&read("pods-node.watch-2.jsonl")?),
    );
    server.route("/api/v1/pods", "", Route::new().list(read("pods-all.list.json")?));
    server.route("/apis/apps/v1/replicasets", "", Route::new().list(read("replicasets.list.json")?));
    server.route("/apis/batch/v1/jobs", "", Route::new().list(read("jobs.list.json")?));
    server.route("/api/v1/services", "", Route::new().list(read("services.list.json")?));
    Ok(server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_watch_bookmark_gone_relist_delete() -> Result<()> {
    let server = scripted_server("127.0.0.1:0").await?;
    let kubeconfig = kubeconfig_path("relist");
    server.write_kubeconfig(&kubeconfig)?;
    let cancel = CancellationToken::new();
    let k = k8s::start(&config(&kubeconfig, true), "host", cancel.clone()).await?.context("k8s must start")?;
    let meta = k.metadata.clone();

    // The initial list and the first watch: checkout (listed, then MODIFIED with an annotation)
    // and cart-0 (ADDED) are known.
    // The ReplicaSet reflector lists independently of the pods: wait for it too (the
    // deployment is resolved through it), not just for the pod events.
    wait_until("cart-0 added, checkout modified, its ReplicaSet known", || {
        service_of(&meta, CART_CID).is_some()
            && service_of(&meta, CHECKOUT_CID).as_deref() == Some("checkout-api")
            && meta.pod_of(&cid(CHECKOUT_CID), None).is_some_and(|p| p.pod.workload.deployment.is_some())
    })
    .await?;
    assert_eq!(service_of(&meta, CART_CID).as_deref(), Some("cart-prod"), "app.kubernetes.io/instance label");
    let checkout = meta.pod_of(&cid(CHECKOUT_CID), None).expect("checkout");
    assert_eq!(checkout.container.as_deref(), Some("app"));
    assert_eq!(checkout.pod.workload.deployment.as_deref(), Some("checkout"), "via the ReplicaSet reflector");
    let cart = meta.pod_of(&cid(CART_CID), None).expect("cart");
    assert_eq!(cart.pod.workload.statefulset.as_deref(), Some("cart"));
    assert!(service_of(&meta, REPORT_CID).is_none(), "report is created during the gap");

    // Peers: a pod on another node (cluster-wide reflector) and a Service cluster IP; their
    // reflectors run independently of the node's pods, so wait for them too.
    wait_until("peer pod and service listed", || {
        meta.peer("10.244.2.30".parse().expect("ip")).is_some()
            && meta.peer("10.96.0.20".parse().expect("ip")).is_some()
    })
    .await?;
    let frontend = peer::attributes(&meta, "10.244.2.30".parse()?);
    let get = |attrs: &[opentelemetry::KeyValue], k: &str| {
        attrs.iter().find(|kv| kv.key.as_str() == k).map(|kv| kv.value.to_string())
    };
    assert_eq!(get(&frontend, "service.peer.name").as_deref(), Some("web-frontend"));
    assert_eq!(get(&frontend, "peer.k8s.deployment.name").as_deref(), Some("frontend"));
    assert_eq!(get(&frontend, "peer.k8s.namespace.name").as_deref(), Some("web"));
    match meta.peer("10.96.0.20".parse()?) {
        Some(Peer::Service(s)) => assert_eq!(s.name, "checkout"),
        other => bail!("cluster IP should be the checkout Service, got {other:?}"),
    }

    // 410 Gone: the watcher must relist. The relist no longer has cart-0 (deleted during
    // the gap; no DELETED event was ever sent) and has the new report pod.
    server.advance();
    wait_until("relist after 410: cart-0 gone, report present", || {
        service_of(&meta, CART_CID).is_none() && service_of(&meta, REPORT_CID).is_some()
    })
    .await?;
    let report = meta.pod_of(&cid(REPORT_CID), None).expect("report");
    assert_eq!(report.pod.workload.cronjob.as_deref(), Some("report"), "Job -> CronJob via the Job reflector");
    assert_eq!(service_of(&meta, REPORT_CID).as_deref(), Some("report"), "top owner");

    // DELETED in the second watch.
    server.advance();
    wait_until("checkout deleted", || service_of(&meta, CHECKOUT_CID).is_none()).await?;

    // What went over the wire: two lists of this node's pods (initial + relist after 410),
    // the second watch resumed from the relist's resourceVersion, bookmarks were requested.
    let reqs = server.requests();
    let node_pods: Vec<_> = reqs
        .iter()
        .filter(|r| {
            r.path == "/api/v1/pods" && r.query.get("fieldSelector").map(String::as_str) == Some("spec.nodeName=node-a")
        })
        .collect();
    let lists = node_pods.iter().filter(|r| !r.is_watch()).count();
    let watches: Vec<_> = node_pods.iter().filter(|r| r.is_watch()).collect();
    assert_eq!(lists, 2, "initial list + relist after 410: {node_pods:#?}");
    ensure!(watches.len() >= 2, "{node_pods:#?}");
    assert_eq!(watches[0].query.get("resourceVersion").map(String::as_str), Some("1000"));
    assert_eq!(watches[1].query.get("resourceVersion").map(String::as_str), Some("1020"));
    assert!(watches.iter().all(|w| w.query.get("allowWatchBookmarks").map(String::as_str) == Some("true")));

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), k.task).await.context("watch task stops on cancel")??;
    let _ = std::fs::remove_file(&kubeconfig);
    Ok(())
}

/// Collects the agent's log output of this test.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

#[test]
fn unreachable_then_forbidden_then_recovered() -> Result<()> {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        // A port with nothing listening: the API is unreachable.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let kubeconfig = kubeconfig_path("degraded");
        let placeholder = FakeApiServer::start("127.0.0.1:0").await?;
        placeholder.write_kubeconfig(&kubeconfig)?;
        drop(placeholder);
        let text = std::fs::read_to_string(&kubeconfig)?;
        let text =
            text.lines().map(|l| if l.contains("server:") { format!("    server: http://{addr}") } else { l.into() });
        std::fs::write(&kubeconfig, text.collect::<Vec<_>>().join("\n"))?;

        let cancel = CancellationToken::new();
        let k = k8s::start(&config(&kubeconfig, false), "host", cancel.clone()).await?.context("starts anyway")?;
        // Several backoff rounds against the dead port: still no metadata, still running.
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(meta_is_empty(&k.metadata), "nothing known while unreachable");
        ensure!(!k.task.is_finished(), "the watch task keeps retrying");
        let unreachable = logs.text().matches("kubernetes API unavailable").count();

        // The API comes up, but ReplicaSets are forbidden: pods still work, without Deployments.
        let server = FakeApiServer::start(&addr).await?;
        let node = format!("spec.nodeName={NODE}");
        server.route("/api/v1/pods", &node, Route::new().list(read("pods-node.list-1.json")?));
        server.route("/apis/apps/v1/replicasets", "", Route::error(403));
        server.route("/apis/batch/v1/jobs", "", Route::new().list(read("jobs.list.json")?));
        wait_until("pods listed after the API came up", || service_of(&k.metadata, CHECKOUT_CID).is_some()).await?;
        let checkout = k.metadata.pod_of(&cid(CHECKOUT_CID), None).expect("checkout");
        assert_eq!(checkout.pod.workload.deployment, None, "ReplicaSets are forbidden");
        assert_eq!(checkout.pod.workload.replicaset.as_deref(), Some("checkout-7d9c6b5f4"));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rs_lists = server.requests().iter().filter(|r| r.path == "/apis/apps/v1/replicasets").count();
        ensure!(rs_lists >= 2, "forbidden lists are retried (backoff), got {rs_lists}");

        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), k.task).await.context("stops")??;
        let _ = std::fs::remove_file(&kubeconfig);
        let text = logs.text();
        // Each of the three watchers says once that the API is unavailable, however often it retries.
        ensure!(unreachable == 3, "one warning per watcher while unreachable, got {unreachable}:\n{text}");
        ensure!(text.matches("kubernetes API unavailable").count() == 3, "{text}");
        let forbidden = text.matches("kubernetes API refused access").count();
        ensure!(forbidden == 1, "403 logged once for {rs_lists} attempts, got {forbidden}:\n{text}");
        ensure!(text.contains("replicasets.apps"), "the message names the resource to grant:\n{text}");
        ensure!(text.contains("reachable again"), "recovery is logged:\n{text}");
        Ok(())
    })
}

fn meta_is_empty(meta: &K8sMetadata) -> bool {
    meta.snapshot().pods() == 0
}
