//! kube-runtime watchers feeding reflector stores, and the task that turns the stores into
//! lookup snapshots.
//!
//! | reflector      | scope                                | kept (see strip.rs)                          |
//! |----------------|--------------------------------------|----------------------------------------------|
//! | pods           | `spec.nodeName=<this node>`          | identity, owner, app labels, OTel annotations, containers, IPs |
//! | peer pods      | cluster (when `peers` is on)         | identity, owner, app labels, OTel annotations, IPs |
//! | replicasets    | cluster, metadata only               | identity, controlling owner                  |
//! | jobs           | cluster, metadata only               | identity, controlling owner                  |
//! | services       | cluster (when `peers` is on)         | identity, cluster IPs                        |
//!
//! The watchers list, then watch from the list's resourceVersion with bookmarks; a watch that
//! expires (410 Gone) is relisted by kube-runtime. Errors (API down, 403) are retried with
//! kube-runtime's default exponential backoff; each watcher logs the first error of an outage
//! and the recovery, everything between at debug level.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::objects::{PodLite, ServiceLite};
use super::store::{owners, K8sMetadata, Objects, Snapshot};
use super::strip::{self, PodDetail};

/// What to watch.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    pub node_name: String,
    /// Cluster-wide pods and services for peer attributes.
    pub peers: bool,
    /// Changes arriving within this window are folded into one snapshot rebuild.
    pub debounce: Duration,
}

/// Starts the watchers and the indexer; they run until `cancel`.
pub fn spawn(
    client: Client,
    settings: WatchSettings,
    meta: Arc<K8sMetadata>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(client, settings, meta, cancel))
}

async fn run(client: Client, settings: WatchSettings, meta: Arc<K8sMetadata>, cancel: CancellationToken) {
    let changed = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();

    let node_selector = format!("spec.nodeName={}", settings.node_name);
    let (node_pods, w) = reflector::store::<PodLite>();
    let stream = watcher(Api::<PodLite>::all(client.clone()), watcher::Config::default().fields(&node_selector))
        .modify(|p| strip::pod(p, PodDetail::Local))
        .reflect(w);
    tasks.spawn(drive("pods", "pods (this node)", stream, changed.clone()));

    let (replicasets, w) = reflector::store();
    let stream = watcher(Api::<PartialObjectMeta<ReplicaSet>>::all(client.clone()), watcher::Config::default())
        .modify(strip::owner_meta)
        .reflect(w);
    tasks.spawn(drive("replicasets.apps", "replicasets", stream, changed.clone()));

    let (jobs, w) = reflector::store();
    let stream = watcher(Api::<PartialObjectMeta<Job>>::all(client.clone()), watcher::Config::default())
        .modify(strip::owner_meta)
        .reflect(w);
    tasks.spawn(drive("jobs.batch", "jobs", stream, changed.clone()));

    let mut peer_pods: Option<Store<PodLite>> = None;
    let mut services: Option<Store<ServiceLite>> = None;
    if settings.peers {
        let (r, w) = reflector::store::<PodLite>();
        let stream = watcher(Api::<PodLite>::all(client.clone()), watcher::Config::default())
            .modify(|p| strip::pod(p, PodDetail::Peer))
            .reflect(w);
        tasks.spawn(drive("pods", "pods (cluster, for peers)", stream, changed.clone()));
        peer_pods = Some(r);
        let (r, w) = reflector::store::<ServiceLite>();
        let stream = watcher(Api::<ServiceLite>::all(client.clone()), watcher::Config::default())
            .modify(strip::service)
            .reflect(w);
        tasks.spawn(drive("services", "services", stream, changed.clone()));
        services = Some(r);
    }

    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = changed.notified() => {}
        }
        // Let a burst (an initial list, a rollout) settle into one rebuild.
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(settings.debounce) => {}
        }
        let node = node_pods.state();
        let peers = peer_pods.as_ref().map(Store::state).unwrap_or_default();
        let svcs = services.as_ref().map(Store::state).unwrap_or_default();
        let rs = replicasets.state();
        let job = jobs.state();
        let snapshot = Snapshot::build(&Objects {
            node_pods: &node,
            peer_pods: &peers,
            replicasets: owners(rs.iter().map(|o| &o.metadata)),
            jobs: owners(job.iter().map(|o| &o.metadata)),
            services: &svcs,
        });
        tracing::debug!(
            node_pods = node.len(),
            peer_pods = peers.len(),
            replicasets = rs.len(),
            jobs = job.len(),
            services = svcs.len(),
            indexed_pods = snapshot.pods(),
            "kubernetes metadata updated"
        );
        meta.swap(snapshot);
    }
    tasks.abort_all();
}

/// A watcher with kube-runtime's default backoff (applied to every watcher the same way).
fn watcher<K>(api: Api<K>, config: watcher::Config) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, config).default_backoff()
}

/// Polls one reflector stream forever, waking the indexer on changes and reporting errors.
async fn drive<K>(
    resource: &'static str,
    what: &'static str,
    stream: impl Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    changed: Arc<Notify>,
) {
    let health = Health::default();
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone) => {
                health.ok(what);
                changed.notify_one();
            }
            Ok(Event::Init | Event::InitApply(_)) => {}
            Err(e) => health.error(resource, what, &e),
        }
    }
}

/// Logs the first error of an outage (and a change of its kind, e.g. unreachable ->
/// forbidden) and the recovery; repeats of the same error go to debug level.
#[derive(Default)]
struct Health {
    state: AtomicU8,
}

const HEALTHY: u8 = 0;
const UNAVAILABLE: u8 = 1;
const FORBIDDEN: u8 = 2;

impl Health {
    fn ok(&self, what: &str) {
        if self.state.swap(HEALTHY, Ordering::Relaxed) != HEALTHY {
            tracing::info!(watch = what, "kubernetes API reachable again: metadata is being updated");
        }
    }

    fn error(&self, resource: &str, what: &str, e: &watcher::Error) {
        let code = status_code(e);
        if code == Some(410) {
            tracing::debug!(watch = what, "watch expired (410 Gone): relisting");
            return;
        }
        let state = if matches!(code, Some(401 | 403)) { FORBIDDEN } else { UNAVAILABLE };
        if self.state.swap(state, Ordering::Relaxed) == state {
            tracing::debug!(watch = what, error = %e, "kubernetes API still failing");
            return;
        }
        if state == FORBIDDEN {
            tracing::warn!(
                watch = what,
                error = %e,
                "kubernetes API refused access: grant get/list/watch on {resource} to the agent's ServiceAccount \
                 (integration/kubernetes/rbac.yaml); retrying with backoff, exporting without k8s attributes meanwhile"
            );
        } else {
            tracing::warn!(
                watch = what,
                error = %e,
                "kubernetes API unavailable: retrying with backoff, exporting without k8s attributes meanwhile"
            );
        }
    }
}

fn status_code(e: &watcher::Error) -> Option<u16> {
    match e {
        watcher::Error::WatchError(status) => Some(status.code),
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.code),
        _ => None,
    }
}
