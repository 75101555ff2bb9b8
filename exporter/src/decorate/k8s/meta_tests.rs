use std::net::IpAddr;

use super::*;
use crate::decorate::k8s::objects::PodLite as Pod;
use crate::decorate::k8s::strip::{self, PodDetail};

const CHECKOUT: &str = include_str!("../../../tests/fixtures/k8s/pod-checkout.json");
const APP_ID: &str = "7c2ef4ab5d6a6e0c3b1f0d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b";

fn pod(json: &str) -> Pod {
    serde_json::from_str(json).expect("fixture parses")
}

fn owners(entries: &[(&str, &str, &str, &str)]) -> Owners {
    entries
        .iter()
        .map(|(ns, name, kind, owner)| ((ns.to_string(), name.to_string()), (kind.to_string(), owner.to_string())))
        .collect()
}

#[test]
fn deployment_pod_resolves_through_its_replicaset() {
    let rs = owners(&[("shop", "checkout-7d9c6b5f4", "Deployment", "checkout")]);
    let m = PodMeta::from_pod(&pod(CHECKOUT), &rs, &Owners::new()).expect("meta");
    assert_eq!((m.namespace.as_str(), m.name.as_str()), ("shop", "checkout-7d9c6b5f4-x2k8p"));
    assert_eq!(m.uid, "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
    assert_eq!(m.node_name.as_deref(), Some("node-a"));
    assert_eq!(m.workload.replicaset.as_deref(), Some("checkout-7d9c6b5f4"));
    assert_eq!(m.workload.deployment.as_deref(), Some("checkout"));
    assert_eq!(m.workload.top_owner.as_deref(), Some("checkout"));
    let ips: Vec<IpAddr> = vec!["10.244.1.17".parse().unwrap(), "fd00:10:244:1::11".parse().unwrap()];
    assert_eq!(m.ips, ips);
    let app = m.container(&ContainerId::parse(APP_ID).unwrap()).expect("app container");
    assert_eq!(app.name, "app");
    assert_eq!(app.env, EnvResource::default());
    let proxy = m.containers.iter().find(|c| c.name == "proxy").expect("proxy");
    assert_eq!(proxy.env.service_name.as_deref(), Some("checkout-sidecar"));
}

#[test]
fn unknown_replicaset_still_names_the_replicaset() {
    let m = PodMeta::from_pod(&pod(CHECKOUT), &Owners::new(), &Owners::new()).expect("meta");
    assert_eq!(m.workload.deployment, None);
    assert_eq!(m.workload.replicaset.as_deref(), Some("checkout-7d9c6b5f4"));
    assert_eq!(m.workload.top_owner.as_deref(), Some("checkout-7d9c6b5f4"));
}

#[test]
fn service_name_precedence() {
    let rs = owners(&[("shop", "checkout-7d9c6b5f4", "Deployment", "checkout-deploy")]);
    let mut m = PodMeta::from_pod(&pod(CHECKOUT), &rs, &Owners::new()).expect("meta");
    let none = EnvResource::default();
    let env = EnvResource { service_name: Some("from-env".into()), service_namespace: Some("env-ns".into()) };
    m.annotation_service_name = Some("from-annotation".into());
    m.label_instance = Some("from-instance".into());
    assert_eq!(m.service_name(&env), "from-env");
    assert_eq!(m.service_name(&none), "from-annotation");
    m.annotation_service_name = None;
    assert_eq!(m.service_name(&none), "from-instance");
    m.label_instance = None;
    assert_eq!(m.service_name(&none), "checkout", "app.kubernetes.io/name from the fixture");
    m.label_name = None;
    assert_eq!(m.service_name(&none), "checkout-deploy", "top owner");
    m.workload = Workload::default();
    assert_eq!(m.service_name(&none), "checkout-7d9c6b5f4-x2k8p", "pod name");

    assert_eq!(m.service_namespace(&env), "env-ns");
    m.annotation_service_namespace = Some("annotated".into());
    assert_eq!(m.service_namespace(&none), "annotated");
    m.annotation_service_namespace = None;
    assert_eq!(m.service_namespace(&none), "shop");
}

#[test]
fn owners_of_other_kinds() {
    let mut p = pod(CHECKOUT);
    let set_owner = |p: &mut Pod, kind: &str, name: &str| {
        let r = &mut p.metadata.owner_references.as_mut().unwrap()[0];
        r.kind = kind.into();
        r.name = name.into();
    };
    set_owner(&mut p, "StatefulSet", "db");
    let w = PodMeta::from_pod(&p, &Owners::new(), &Owners::new()).unwrap().workload;
    assert_eq!((w.statefulset.as_deref(), w.top_owner.as_deref()), (Some("db"), Some("db")));
    set_owner(&mut p, "DaemonSet", "agent");
    let w = PodMeta::from_pod(&p, &Owners::new(), &Owners::new()).unwrap().workload;
    assert_eq!((w.daemonset.as_deref(), w.top_owner.as_deref()), (Some("agent"), Some("agent")));
    set_owner(&mut p, "Job", "report-29391");
    let jobs = owners(&[("shop", "report-29391", "CronJob", "report")]);
    let w = PodMeta::from_pod(&p, &Owners::new(), &jobs).unwrap().workload;
    assert_eq!(w.job.as_deref(), Some("report-29391"));
    assert_eq!(w.cronjob.as_deref(), Some("report"));
    assert_eq!(w.top_owner.as_deref(), Some("report"));
    set_owner(&mut p, "Node", "node-a");
    let w = PodMeta::from_pod(&p, &Owners::new(), &Owners::new()).unwrap().workload;
    assert_eq!(w, Workload::default(), "a static pod's Node owner is no workload");
}

#[test]
fn finished_host_network_and_incomplete_pods() {
    let mut p = pod(CHECKOUT);
    p.status.phase = Some("Succeeded".into());
    assert_eq!(PodMeta::from_pod(&p, &Owners::new(), &Owners::new()), None);
    let mut p = pod(CHECKOUT);
    p.spec.host_network = true;
    assert!(PodMeta::from_pod(&p, &Owners::new(), &Owners::new()).unwrap().ips.is_empty());
    let mut p = pod(CHECKOUT);
    p.metadata.uid = None;
    assert_eq!(PodMeta::from_pod(&p, &Owners::new(), &Owners::new()), None);
    let p = pod(r#"{"metadata": {"name": "bare", "namespace": "ns", "uid": "u"}}"#);
    let m = PodMeta::from_pod(&p, &Owners::new(), &Owners::new()).expect("a pod with nothing else is fine");
    assert_eq!(m.service_name(&EnvResource::default()), "bare");
}

#[test]
fn stripping_keeps_what_is_read_and_shrinks_the_pod() {
    let full = pod(CHECKOUT);
    let mut local = full.clone();
    strip::pod(&mut local, PodDetail::Local);
    let rs = owners(&[("shop", "checkout-7d9c6b5f4", "Deployment", "checkout")]);
    assert_eq!(
        PodMeta::from_pod(&local, &rs, &Owners::new()),
        PodMeta::from_pod(&full, &rs, &Owners::new()),
        "the stripped pod yields the same metadata"
    );
    let mut peer = full.clone();
    strip::pod(&mut peer, PodDetail::Peer);
    let peer_meta = PodMeta::from_pod(&peer, &rs, &Owners::new()).unwrap();
    assert!(peer_meta.containers.is_empty());
    assert_eq!(peer_meta.ips.len(), 2);
    assert_eq!(peer_meta.workload.deployment.as_deref(), Some("checkout"));
    let size = |p: &Pod| serde_json::to_vec(p).unwrap().len();
    let full_json = CHECKOUT.len();
    assert!(size(&local) * 4 < full_json, "local {} vs the pod's JSON {full_json}", size(&local));
    assert!(size(&local) < size(&full), "local {} vs full {}", size(&local), size(&full));
    assert!(size(&peer) < size(&local), "peer {} vs local {}", size(&peer), size(&local));
    assert!(local.metadata.managed_fields.is_none());
    assert!(local.metadata.labels.is_none() && local.metadata.annotations.is_none());
    assert_eq!(local.hints.label_name.as_deref(), Some("checkout"), "the app label is kept, outside the map");
}
