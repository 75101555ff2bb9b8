//! The pods and services the reflectors keep, declared with only the fields the agent reads.
//!
//! serde skips every other field while deserializing, so a pod's probes, volumes, env, etc.
//! are never held. k8s-openapi's `Pod` would cost over 3 KiB per object even with every
//! optional part cleared (its nested structs are inline), measured in tests/k8s_memory.rs.
//! These types implement `kube::Resource` for the same API paths as `Pod` and `Service`.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Deserializer, Serialize};

use super::meta::{ANNOTATION_SERVICE_NAME, ANNOTATION_SERVICE_NAMESPACE, LABEL_INSTANCE, LABEL_NAME};

/// `null` or absent -> the default (the API may send either for an empty list).
fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodLite {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_default")]
    pub spec: PodSpecLite,
    #[serde(default, deserialize_with = "null_default")]
    pub status: PodStatusLite,
    /// The app labels and OTel annotations, moved out of `metadata` by `strip::pod` (a
    /// `BTreeMap` costs a few hundred bytes even for one entry).
    #[serde(skip)]
    pub hints: ServiceHints,
}

/// What names a pod's service besides its env and owners.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceHints {
    pub annotation_service_name: Option<String>,
    pub annotation_service_namespace: Option<String>,
    pub label_instance: Option<String>,
    pub label_name: Option<String>,
}

impl ServiceHints {
    pub fn from_meta(md: &ObjectMeta) -> ServiceHints {
        let label = |k: &str| md.labels.as_ref().and_then(|l| l.get(k)).filter(|v| !v.is_empty()).cloned();
        let annotation = |k: &str| {
            md.annotations.as_ref().and_then(|a| a.get(k)).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
        };
        ServiceHints {
            annotation_service_name: annotation(ANNOTATION_SERVICE_NAME),
            annotation_service_namespace: annotation(ANNOTATION_SERVICE_NAMESPACE),
            label_instance: label(LABEL_INSTANCE),
            label_name: label(LABEL_NAME),
        }
    }

    /// These hints, else (for a pod that was not stripped) those in its metadata.
    pub fn of(pod: &PodLite) -> ServiceHints {
        if pod.hints == ServiceHints::default() {
            ServiceHints::from_meta(&pod.metadata)
        } else {
            pod.hints.clone()
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecLite {
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub host_network: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub containers: Vec<ContainerLite>,
    #[serde(default, deserialize_with = "null_default")]
    pub init_containers: Vec<ContainerLite>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerLite {
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub env: Vec<EnvVarLite>,
}

/// An env var; `value` is absent for `valueFrom` references (not resolvable here).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvVarLite {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatusLite {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default, rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(default, rename = "podIPs", deserialize_with = "null_default")]
    pub pod_ips: Vec<PodIpLite>,
    #[serde(default, deserialize_with = "null_default")]
    pub container_statuses: Vec<ContainerStatusLite>,
    #[serde(default, deserialize_with = "null_default")]
    pub init_container_statuses: Vec<ContainerStatusLite>,
    #[serde(default, deserialize_with = "null_default")]
    pub ephemeral_container_statuses: Vec<ContainerStatusLite>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodIpLite {
    pub ip: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatusLite {
    pub name: String,
    #[serde(default, rename = "containerID")]
    pub container_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceLite {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_default")]
    pub spec: ServiceSpecLite,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpecLite {
    #[serde(default, rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    #[serde(default, rename = "clusterIPs", deserialize_with = "null_default")]
    pub cluster_ips: Vec<String>,
}

/// `kube::Resource` for a core/v1 namespaced kind.
macro_rules! core_v1_resource {
    ($ty:ty, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("")
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }
            fn api_version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

core_v1_resource!(PodLite, "Pod", "pods");
core_v1_resource!(ServiceLite, "Service", "services");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_declares_and_tolerates_nulls() {
        let pod: PodLite = serde_json::from_str(include_str!("../../../tests/fixtures/k8s/pod-checkout.json"))
            .expect("a real pod parses");
        assert_eq!(pod.spec.node_name.as_deref(), Some("node-a"));
        assert_eq!(pod.status.pod_ips.len(), 2);
        assert_eq!(pod.status.container_statuses.len(), 2);
        assert!(pod.status.container_statuses[0]
            .container_id
            .as_deref()
            .is_some_and(|c| c.starts_with("containerd://")));
        let pod: PodLite = serde_json::from_str(
            r#"{"metadata": {"name": "p"}, "spec": {"containers": null, "hostNetwork": null}, "status": null}"#,
        )
        .expect("nulls are empty");
        assert!(pod.spec.containers.is_empty() && !pod.spec.host_network);
        assert!(serde_json::from_str::<PodLite>(r#"{"spec": {"containers": "nope"}}"#).is_err());
        use kube::Resource as _;
        assert_eq!(PodLite::url_path(&(), Some("shop")), "/api/v1/namespaces/shop/pods");
        assert_eq!(ServiceLite::url_path(&(), None), "/api/v1/services");
    }
}
