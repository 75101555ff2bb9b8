//! What the agent keeps about a pod, and how its service name and namespace are derived.

use std::collections::HashMap;
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::objects::{PodLite, ServiceHints};
use crate::decorate::cgroup::ContainerId;
use crate::decorate::env::EnvResource;

pub const ANNOTATION_SERVICE_NAME: &str = "resource.opentelemetry.io/service.name";
pub const ANNOTATION_SERVICE_NAMESPACE: &str = "resource.opentelemetry.io/service.namespace";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_NAME: &str = "app.kubernetes.io/name";

/// The controllers a pod belongs to, resolved through ownerReferences (pod -> ReplicaSet ->
/// Deployment, pod -> Job -> CronJob, pod -> StatefulSet / DaemonSet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    pub replicaset: Option<String>,
    pub deployment: Option<String>,
    pub statefulset: Option<String>,
    pub daemonset: Option<String>,
    pub job: Option<String>,
    pub cronjob: Option<String>,
    /// The name of the topmost owner of any kind (a Deployment, or e.g. a custom rollout
    /// controller that owns the ReplicaSet).
    pub top_owner: Option<String>,
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMeta {
    pub name: String,
    /// From the pod status; absent until the runtime has started the container.
    pub id: Option<ContainerId>,
    /// Literal `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` values of the container spec.
    pub env: EnvResource,
}

/// A pod, reduced to what resource and peer attributes need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodMeta {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node_name: Option<String>,
    pub workload: Workload,
    pub annotation_service_name: Option<String>,
    pub annotation_service_namespace: Option<String>,
    pub label_instance: Option<String>,
    pub label_name: Option<String>,
    pub containers: Vec<ContainerMeta>,
    /// Pod IPs; empty for host-network pods (their IP is the node's and names no pod).
    /// `node_name` is absent for peers (pods of other nodes keep no spec).
    pub ips: Vec<IpAddr>,
}

/// The owner of a ReplicaSet or Job: `(kind, name)`, keyed by `(namespace, name)`.
pub type Owners = HashMap<(String, String), (String, String)>;

impl PodMeta {
    /// Converts a (stripped) pod. `None` for a pod without name, namespace or uid, and for
    /// finished pods (their IPs may already belong to someone else).
    pub fn from_pod(pod: &PodLite, rs_owners: &Owners, job_owners: &Owners) -> Option<PodMeta> {
        let md = &pod.metadata;
        let (namespace, name, uid) = (md.namespace.clone()?, md.name.clone()?, md.uid.clone()?);
        let status = &pod.status;
        if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            return None;
        }
        let hints = ServiceHints::of(pod);
        let mut ips: Vec<IpAddr> = Vec::new();
        if !pod.spec.host_network {
            let listed = status.pod_ips.iter().map(|p| p.ip.as_str());
            for ip in status.pod_ip.as_deref().into_iter().chain(listed) {
                if let Ok(ip) = ip.parse() {
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
            }
        }
        Some(PodMeta {
            workload: workload(&namespace, md.owner_references.as_deref().unwrap_or_default(), rs_owners, job_owners),
            namespace,
            name,
            uid,
            node_name: pod.spec.node_name.clone(),
            annotation_service_name: hints.annotation_service_name,
            annotation_service_namespace: hints.annotation_service_namespace,
            label_instance: hints.label_instance,
            label_name: hints.label_name,
            containers: containers(pod),
            ips,
        })
    }

    pub fn container(&self, id: &ContainerId) -> Option<&ContainerMeta> {
        self.containers.iter().find(|c| c.id.as_ref() == Some(id))
    }

    /// `service.name`: the container's `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`, the
    /// annotation `resource.opentelemetry.io/service.name`, the labels
    /// `app.kubernetes.io/instance` then `app.kubernetes.io/name`, the top owner's name, the
    /// pod name.
    pub fn service_name(&self, env: &EnvResource) -> String {
        env.service_name
            .as_ref()
            .or(self.annotation_service_name.as_ref())
            .or(self.label_instance.as_ref())
            .or(self.label_name.as_ref())
            .or(self.workload.top_owner.as_ref())
            .unwrap_or(&self.name)
            .clone()
    }

    /// `service.namespace`: the environment, the annotation
    /// `resource.opentelemetry.io/service.namespace`, the Kubernetes namespace.
    pub fn service_namespace(&self, env: &EnvResource) -> String {
        env.service_namespace.as_ref().or(self.annotation_service_namespace.as_ref()).unwrap_or(&self.namespace).clone()
    }
}

fn containers(pod: &PodLite) -> Vec<ContainerMeta> {
    let mut out: Vec<ContainerMeta> = Vec::new();
    for c in pod.spec.containers.iter().chain(&pod.spec.init_containers) {
        let mut env = EnvResource::default();
        for var in &c.env {
            if let Some(v) = &var.value {
                env.set(&var.name, v);
            }
        }
        out.push(ContainerMeta { name: c.name.clone(), id: None, env });
    }
    let st = &pod.status;
    for cs in st.container_statuses.iter().chain(&st.init_container_statuses).chain(&st.ephemeral_container_statuses) {
        let id = cs.container_id.as_deref().and_then(ContainerId::from_status);
        match out.iter_mut().find(|c| c.name == cs.name) {
            Some(c) => c.id = id,
            None => out.push(ContainerMeta { name: cs.name.clone(), id, env: EnvResource::default() }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The controlling owner reference (or the first one when none is marked as controller).
pub fn controller(refs: &[OwnerReference]) -> Option<&OwnerReference> {
    refs.iter().find(|r| r.controller == Some(true)).or_else(|| refs.first())
}

fn workload(namespace: &str, refs: &[OwnerReference], rs_owners: &Owners, job_owners: &Owners) -> Workload {
    let mut w = Workload::default();
    let Some(owner) = controller(refs) else { return w };
    let name = owner.name.clone();
    let parent = |owners: &Owners| owners.get(&(namespace.to_string(), name.clone())).cloned();
    match owner.kind.as_str() {
        "ReplicaSet" => {
            w.top_owner = Some(name.clone());
            if let Some((kind, parent)) = parent(rs_owners) {
                if kind == "Deployment" {
                    w.deployment = Some(parent.clone());
                }
                w.top_owner = Some(parent);
            }
            w.replicaset = Some(name);
        }
        "Job" => {
            w.top_owner = Some(name.clone());
            if let Some((kind, parent)) = parent(job_owners) {
                if kind == "CronJob" {
                    w.cronjob = Some(parent.clone());
                }
                w.top_owner = Some(parent);
            }
            w.job = Some(name);
        }
        "StatefulSet" => {
            w.top_owner = Some(name.clone());
            w.statefulset = Some(name);
        }
        "DaemonSet" => {
            w.top_owner = Some(name.clone());
            w.daemonset = Some(name);
        }
        // Static pods are "owned" by their Node: that names no workload.
        "Node" => {}
        _ => w.top_owner = Some(name),
    }
    w
}

#[cfg(test)]
#[path = "meta_tests.rs"]
mod tests;
