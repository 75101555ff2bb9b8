//! Peer attributes: the workload behind a span's remote address.
//!
//! OpenTelemetry has no attributes for a *peer's* Kubernetes identity, and the `k8s.*`
//! names describe the resource (the observed process itself), so the peer's are the same
//! names under a `peer.` prefix: `peer.k8s.pod.name` is "the peer's `k8s.pod.name`". The
//! peer's service uses the semantic conventions' own `service.peer.name` /
//! `service.peer.namespace` (the peer's derived `service.name` / `service.namespace`; for a
//! Service cluster IP, the Service's name and namespace).
//!
//! | attribute                    | pod peer                          | Service peer     |
//! |------------------------------|-----------------------------------|------------------|
//! | `service.peer.name`          | the peer's service.name           | Service name     |
//! | `service.peer.namespace`     | the peer's service.namespace      | its namespace    |
//! | `peer.k8s.namespace.name`    | namespace                         | namespace        |
//! | `peer.k8s.pod.name`          | pod name                          |                  |
//! | `peer.k8s.service.name`      |                                   | Service name     |
//! | `peer.k8s.deployment.name` (`.replicaset`, `.statefulset`, `.daemonset`, `.job`, `.cronjob`) | owner names | |

use std::net::IpAddr;

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute as sc;

use super::store::{K8sMetadata, Peer};
use crate::decorate::env::EnvResource;

pub const PEER_NAMESPACE: &str = "peer.k8s.namespace.name";
pub const PEER_POD: &str = "peer.k8s.pod.name";
pub const PEER_SERVICE: &str = "peer.k8s.service.name";
pub const PEER_DEPLOYMENT: &str = "peer.k8s.deployment.name";
pub const PEER_REPLICASET: &str = "peer.k8s.replicaset.name";
pub const PEER_STATEFULSET: &str = "peer.k8s.statefulset.name";
pub const PEER_DAEMONSET: &str = "peer.k8s.daemonset.name";
pub const PEER_JOB: &str = "peer.k8s.job.name";
pub const PEER_CRONJOB: &str = "peer.k8s.cronjob.name";

/// The attributes of the peer at `ip`; empty when the IP is not a known pod or Service.
/// Also the hook for network/RED metrics that want peer workloads as dimensions.
pub fn attributes(meta: &K8sMetadata, ip: IpAddr) -> Vec<KeyValue> {
    let Some(peer) = meta.peer(ip) else { return Vec::new() };
    let mut out = Vec::with_capacity(6);
    match peer {
        Peer::Pod(pod) => {
            // The peer's own env is not visible from here; its spec's literal env is.
            let env = pod.containers.iter().fold(EnvResource::default(), |acc, c| acc.or(&c.env));
            out.push(KeyValue::new(sc::SERVICE_PEER_NAME, pod.service_name(&env)));
            out.push(KeyValue::new(sc::SERVICE_PEER_NAMESPACE, pod.service_namespace(&env)));
            out.push(KeyValue::new(PEER_NAMESPACE, pod.namespace.clone()));
            out.push(KeyValue::new(PEER_POD, pod.name.clone()));
            let w = &pod.workload;
            for (key, value) in [
                (PEER_DEPLOYMENT, &w.deployment),
                (PEER_REPLICASET, &w.replicaset),
                (PEER_STATEFULSET, &w.statefulset),
                (PEER_DAEMONSET, &w.daemonset),
                (PEER_JOB, &w.job),
                (PEER_CRONJOB, &w.cronjob),
            ] {
                if let Some(v) = value {
                    out.push(KeyValue::new(key, v.clone()));
                }
            }
        }
        Peer::Service(svc) => {
            out.push(KeyValue::new(sc::SERVICE_PEER_NAME, svc.name.clone()));
            out.push(KeyValue::new(sc::SERVICE_PEER_NAMESPACE, svc.namespace.clone()));
            out.push(KeyValue::new(PEER_NAMESPACE, svc.namespace.clone()));
            out.push(KeyValue::new(PEER_SERVICE, svc.name.clone()));
        }
    }
    out
}
