//! The lookup side of Kubernetes metadata: container id -> pod, IP -> peer workload.
//!
//! The watchers keep kube-runtime reflector stores of stripped objects; after each change
//! (debounced) an immutable [`Snapshot`] of indexes is built from them and swapped in. Readers
//! take an `Arc` of the current snapshot and never wait for the API.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::meta::{controller, Owners, PodMeta};
use super::objects::{PodLite, ServiceLite};
use crate::decorate::cgroup::ContainerId;

/// A Kubernetes Service, as a peer reached through its cluster IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMeta {
    pub namespace: String,
    pub name: String,
}

/// What a remote IP is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Pod(Arc<PodMeta>),
    Service(Arc<ServiceMeta>),
}

/// Indexes over the current objects. Built whole, never mutated.
#[derive(Debug, Default)]
pub struct Snapshot {
    by_container: HashMap<ContainerId, Arc<PodMeta>>,
    by_uid: HashMap<String, Arc<PodMeta>>,
    by_ip: HashMap<IpAddr, Peer>,
}

/// The objects a snapshot is built from (the reflector stores' current state).
#[derive(Default)]
pub struct Objects<'a> {
    pub node_pods: &'a [Arc<PodLite>],
    pub peer_pods: &'a [Arc<PodLite>],
    pub replicasets: Owners,
    pub jobs: Owners,
    pub services: &'a [Arc<ServiceLite>],
}

impl Snapshot {
    pub fn build(o: &Objects<'_>) -> Snapshot {
        let mut s = Snapshot::default();
        // Peers first, so this node's (richer) entries win for the same IP.
        for pod in o.peer_pods.iter().chain(o.node_pods) {
            if let Some(meta) = PodMeta::from_pod(pod, &o.replicasets, &o.jobs) {
                let meta = Arc::new(meta);
                for ip in &meta.ips {
                    s.by_ip.insert(*ip, Peer::Pod(meta.clone()));
                }
                s.by_uid.insert(meta.uid.clone(), meta);
            }
        }
        for pod in o.node_pods {
            let Some(meta) = pod.metadata.uid.as_ref().and_then(|uid| s.by_uid.get(uid)).cloned() else { continue };
            for id in meta.containers.iter().filter_map(|c| c.id.clone()) {
                s.by_container.insert(id, meta.clone());
            }
        }
        for svc in o.services {
            let (Some(namespace), Some(name)) = (svc.metadata.namespace.clone(), svc.metadata.name.clone()) else {
                continue;
            };
            let meta = Arc::new(ServiceMeta { namespace, name });
            let ips = svc.spec.cluster_ip.iter().chain(&svc.spec.cluster_ips);
            // "None" is a headless service: its names resolve to pod IPs, indexed above.
            for ip in ips.filter_map(|ip| ip.parse::<IpAddr>().ok()) {
                s.by_ip.entry(ip).or_insert_with(|| Peer::Service(meta.clone()));
            }
        }
        s
    }

    pub fn pods(&self) -> usize {
        self.by_uid.len()
    }
}

/// `(namespace, name) -> (kind, name)` of each object's controlling owner.
pub fn owners<'a>(
    objects: impl Iterator<Item = &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
) -> Owners {
    objects
        .filter_map(|md| {
            let owner = controller(md.owner_references.as_deref()?)?;
            Some(((md.namespace.clone()?, md.name.clone()?), (owner.kind.clone(), owner.name.clone())))
        })
        .collect()
}

/// Shared, read-mostly handle to the current snapshot.
#[derive(Debug, Default)]
pub struct K8sMetadata {
    current: RwLock<Arc<Snapshot>>,
    generation: AtomicU64,
}

/// A process's pod and, when the container is known, its container name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContainer {
    pub pod: Arc<PodMeta>,
    pub container: Option<String>,
}

impl K8sMetadata {
    /// Bumped on every swap: a cache that saw an older generation should look again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn swap(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        match self.current.write() {
            Ok(mut cur) => *cur = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(cur) => cur.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The pod of a container: by container id, else (container not in the pod status yet)
    /// by the pod UID from the cgroup path.
    pub fn pod_of(&self, container: &ContainerId, pod_uid: Option<&str>) -> Option<PodContainer> {
        let snap = self.snapshot();
        if let Some(pod) = snap.by_container.get(container) {
            let name = pod.container(container).map(|c| c.name.clone());
            return Some(PodContainer { pod: pod.clone(), container: name });
        }
        let pod = snap.by_uid.get(pod_uid?)?;
        Some(PodContainer { pod: pod.clone(), container: None })
    }

    /// The pod or service behind a remote IP.
    pub fn peer(&self, ip: IpAddr) -> Option<Peer> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.snapshot().by_ip.get(&ip).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKOUT: &str = include_str!("../../../tests/fixtures/k8s/pod-checkout.json");
    const APP_ID: &str = "7c2ef4ab5d6a6e0c3b1f0d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b";
    const UID: &str = "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

    fn service(ns: &str, name: &str, ip: &str) -> Arc<ServiceLite> {
        let json =
            format!(r#"{{"metadata": {{"namespace": "{ns}", "name": "{name}"}}, "spec": {{"clusterIP": "{ip}"}}}}"#);
        Arc::new(serde_json::from_str(&json).expect("service"))
    }

    #[test]
    fn lookups_by_container_uid_and_ip() {
        let pod: Arc<PodLite> = Arc::new(serde_json::from_str(CHECKOUT).expect("fixture"));
        let services = [service("shop", "checkout", "10.96.0.20"), service("shop", "headless", "None")];
        let meta = K8sMetadata::default();
        let g0 = meta.generation();
        assert_eq!(meta.pod_of(&ContainerId::parse(APP_ID).unwrap(), Some(UID)), None, "empty before the first swap");
        meta.swap(Snapshot::build(&Objects {
            node_pods: std::slice::from_ref(&pod),
            services: &services,
            ..Objects::default()
        }));
        assert!(meta.generation() > g0);

        let found = meta.pod_of(&ContainerId::parse(APP_ID).unwrap(), None).expect("by container id");
        assert_eq!((found.pod.name.as_str(), found.container.as_deref()), ("checkout-7d9c6b5f4-x2k8p", Some("app")));
        let other = ContainerId::parse(&"e".repeat(64)).unwrap();
        let by_uid = meta.pod_of(&other, Some(UID)).expect("by pod uid from the cgroup path");
        assert_eq!(by_uid.container, None);
        assert_eq!(meta.pod_of(&other, Some("00000000-0000-0000-0000-000000000000")), None);

        for ip in ["10.244.1.17", "::ffff:10.244.1.17", "fd00:10:244:1::11"] {
            match meta.peer(ip.parse().unwrap()) {
                Some(Peer::Pod(p)) => assert_eq!(p.uid, UID, "{ip}"),
                other => panic!("{ip}: {other:?}"),
            }
        }
        match meta.peer("10.96.0.20".parse().unwrap()) {
            Some(Peer::Service(s)) => assert_eq!((s.namespace.as_str(), s.name.as_str()), ("shop", "checkout")),
            other => panic!("{other:?}"),
        }
        assert_eq!(meta.peer("10.0.0.11".parse().unwrap()), None, "the node's IP is no pod");
    }

    #[test]
    fn owners_index_uses_the_controller() {
        let rs: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta = serde_json::from_str(
            r#"{"namespace": "shop", "name": "checkout-7d9c6b5f4", "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"},
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout", "uid": "2", "controller": true}]}"#,
        )
        .expect("meta");
        let orphan: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
            serde_json::from_str(r#"{"namespace": "shop", "name": "orphan"}"#).expect("meta");
        let o = owners([&rs, &orphan].into_iter());
        assert_eq!(o.len(), 1);
        assert_eq!(
            o[&("shop".to_string(), "checkout-7d9c6b5f4".to_string())],
            ("Deployment".into(), "checkout".into())
        );
    }
}
