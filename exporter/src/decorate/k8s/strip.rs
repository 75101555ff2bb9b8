//! Drops every field the agent does not read before objects enter the reflector stores.
//! `objects.rs` already declares only the fields that are read; this removes what is not
//! needed of `ObjectMeta` (managed fields, most labels and annotations, finalizers, ...) and,
//! for pods, the env vars other than the OTel ones and the per-container data of peers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;

use super::meta::{controller, ANNOTATION_SERVICE_NAME, ANNOTATION_SERVICE_NAMESPACE, LABEL_INSTANCE, LABEL_NAME};
use super::objects::{PodLite, ServiceHints, ServiceLite};

/// How much of a pod to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodDetail {
    /// Pods on this node: containers (ids, names, literal OTEL_* env) for the resource.
    Local,
    /// Pods anywhere, for peer attributes: identity, owner, IPs.
    Peer,
}

/// Keeps name, namespace, uid, resourceVersion, the controller owner, the two app labels and
/// the two OTel annotations (maps left empty are dropped).
fn strip_meta(md: &mut ObjectMeta) {
    let keep = ObjectMeta {
        name: md.name.take(),
        namespace: md.namespace.take(),
        uid: md.uid.take(),
        resource_version: md.resource_version.take(),
        owner_references: md.owner_references.take().and_then(|refs| controller(&refs).cloned()).map(|r| vec![r]),
        labels: md
            .labels
            .take()
            .map(|mut l| {
                l.retain(|k, _| k == LABEL_INSTANCE || k == LABEL_NAME);
                l
            })
            .filter(|l| !l.is_empty()),
        annotations: md
            .annotations
            .take()
            .map(|mut a| {
                a.retain(|k, _| k == ANNOTATION_SERVICE_NAME || k == ANNOTATION_SERVICE_NAMESPACE);
                a
            })
            .filter(|a| !a.is_empty()),
        ..ObjectMeta::default()
    };
    *md = keep;
}

pub fn pod(p: &mut PodLite, detail: PodDetail) {
    strip_meta(&mut p.metadata);
    p.hints = ServiceHints::from_meta(&p.metadata);
    p.metadata.labels = None;
    p.metadata.annotations = None;
    if p.spec.host_network {
        // A host-network pod's IP is its node's: it names no pod.
        p.status.pod_ip = None;
        p.status.pod_ips.clear();
    }
    match detail {
        PodDetail::Local => {
            // Containers are named by their statuses; the spec is only kept for literal OTel env.
            for c in p.spec.containers.iter_mut().chain(p.spec.init_containers.iter_mut()) {
                c.env.retain(|v| {
                    v.value.is_some() && (v.name == "OTEL_SERVICE_NAME" || v.name == "OTEL_RESOURCE_ATTRIBUTES")
                });
            }
            p.spec.containers.retain(|c| !c.env.is_empty());
            p.spec.init_containers.retain(|c| !c.env.is_empty());
        }
        PodDetail::Peer => {
            p.spec.containers = Vec::new();
            p.spec.init_containers = Vec::new();
            p.status.container_statuses = Vec::new();
            p.status.init_container_statuses = Vec::new();
            p.status.ephemeral_container_statuses = Vec::new();
        }
    }
    p.spec.containers.shrink_to_fit();
    p.spec.init_containers.shrink_to_fit();
}

/// ReplicaSets and Jobs: only the identity and the controlling owner are read.
pub fn owner_meta<K>(o: &mut PartialObjectMeta<K>) {
    strip_meta(&mut o.metadata);
    o.metadata.labels = None;
    o.metadata.annotations = None;
}

/// Services: identity and cluster IPs.
pub fn service(s: &mut ServiceLite) {
    strip_meta(&mut s.metadata);
    s.metadata.labels = None;
    s.metadata.annotations = None;
    s.metadata.owner_references = None;
}
