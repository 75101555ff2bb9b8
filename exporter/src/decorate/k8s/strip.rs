//! Drops every field the agent does not read before objects enter the reflector stores, so
//! memory follows the number of objects, not their size (a pod with managed fields, probes,
//! volumes and a long env is often 10-20 KiB of JSON; what is kept is a few hundred bytes).

use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, EnvVar, Pod, PodIP, PodSpec, PodStatus, Service, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;

use super::meta::{controller, ANNOTATION_SERVICE_NAME, ANNOTATION_SERVICE_NAMESPACE, LABEL_INSTANCE, LABEL_NAME};

/// How much of a pod to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodDetail {
    /// Pods on this node: containers (ids, names, literal OTEL_* env) for the resource.
    Local,
    /// Pods anywhere, for peer attributes: identity, owner, IPs.
    Peer,
}

/// Keeps name, namespace, uid, the controller owner, the two app labels and the two OTel
/// annotations; drops managed fields, other labels and annotations, finalizers, etc.
fn strip_meta(md: &mut ObjectMeta) {
    let keep = ObjectMeta {
        name: md.name.take(),
        namespace: md.namespace.take(),
        uid: md.uid.take(),
        resource_version: md.resource_version.take(),
        owner_references: md.owner_references.take().and_then(|refs| controller(&refs).cloned()).map(|r| vec![r]),
        labels: md.labels.take().map(|mut l| {
            l.retain(|k, _| k == LABEL_INSTANCE || k == LABEL_NAME);
            l
        }),
        annotations: md.annotations.take().map(|mut a| {
            a.retain(|k, _| k == ANNOTATION_SERVICE_NAME || k == ANNOTATION_SERVICE_NAMESPACE);
            a
        }),
        ..ObjectMeta::default()
    };
    *md = keep;
}

pub fn pod(p: &mut Pod, detail: PodDetail) {
    strip_meta(&mut p.metadata);
    let local = detail == PodDetail::Local;
    p.spec = p.spec.take().map(|s| PodSpec {
        node_name: s.node_name,
        host_network: s.host_network,
        containers: if local { s.containers.into_iter().map(container).collect() } else { Vec::new() },
        init_containers: s.init_containers.filter(|_| local).map(|cs| cs.into_iter().map(container).collect()),
        ..PodSpec::default()
    });
    p.status = p.status.take().map(|s| PodStatus {
        phase: s.phase,
        pod_ip: s.pod_ip,
        pod_ips: s.pod_ips.map(|ips| ips.into_iter().map(|ip| PodIP { ip: ip.ip }).collect()),
        container_statuses: s.container_statuses.filter(|_| local).map(statuses),
        init_container_statuses: s.init_container_statuses.filter(|_| local).map(statuses),
        ephemeral_container_statuses: s.ephemeral_container_statuses.filter(|_| local).map(statuses),
        ..PodStatus::default()
    });
}

/// Name and the literal `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` env values.
fn container(c: Container) -> Container {
    let env: Vec<EnvVar> = c
        .env
        .into_iter()
        .flatten()
        .filter(|v| v.value.is_some() && (v.name == "OTEL_SERVICE_NAME" || v.name == "OTEL_RESOURCE_ATTRIBUTES"))
        .map(|v| EnvVar { name: v.name, value: v.value, value_from: None })
        .collect();
    Container { name: c.name, env: (!env.is_empty()).then_some(env), ..Container::default() }
}

fn statuses(list: Vec<ContainerStatus>) -> Vec<ContainerStatus> {
    list.into_iter()
        .map(|s| ContainerStatus { name: s.name, container_id: s.container_id, ..ContainerStatus::default() })
        .collect()
}

/// ReplicaSets and Jobs: only the identity and the controlling owner are read.
pub fn owner_meta<K>(o: &mut PartialObjectMeta<K>) {
    strip_meta(&mut o.metadata);
    o.metadata.labels = None;
    o.metadata.annotations = None;
}

/// Services: identity and cluster IPs.
pub fn service(s: &mut Service) {
    strip_meta(&mut s.metadata);
    s.metadata.labels = None;
    s.metadata.annotations = None;
    s.metadata.owner_references = None;
    s.spec = s.spec.take().map(|spec| ServiceSpec {
        cluster_ip: spec.cluster_ip,
        cluster_ips: spec.cluster_ips,
        ..ServiceSpec::default()
    });
    s.status = None;
}
