//! Process metadata from /proc, the container from its cgroup, and (when the agent watches
//! Kubernetes) its pod: together the resource its telemetry is exported under.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_semantic_conventions::resource as res;

use super::cgroup::{self, ContainerRef};
use super::env::EnvResource;
use super::k8s::{K8sMetadata, PodContainer};
use crate::ebpf::records::{Pid, ProcStart};
use crate::fast_map::FastMap;

/// One observed process and the resource its telemetry is exported under.
#[derive(Debug)]
pub struct ProcessInfo {
    pub pid: Pid,
    pub exe_name: String,
    pub service_name: String,
    /// Process start time (clock ticks since boot), to tell a reused pid apart.
    pub start_ticks: u64,
    /// The container, when the cgroup path names one.
    pub container: Option<ContainerRef>,
    /// `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` of the process.
    pub env: EnvResource,
    /// The pod and container, once the Kubernetes metadata knows them.
    pub pod: Option<PodContainer>,
    pub resource: Resource,
}

struct Entry {
    info: Arc<ProcessInfo>,
    /// The Kubernetes metadata generation `info` was checked against.
    generation: u64,
}

/// Caches `ProcessInfo` per process: pid and start time, so a reused pid is a new process.
/// Resolved at first sight of a process, so short-lived clients (curl) are usually still in
/// /proc; when they are not (or /proc already shows another process under the pid), the
/// kernel-reported thread name is used. A containerised process whose pod is not known yet
/// is looked up again whenever the Kubernetes metadata changes, and gets a new `ProcessInfo`
/// (resource) when its pod appears.
pub struct ProcessCache {
    proc_root: PathBuf,
    host_name: String,
    /// Keyed by pid and start time in clock ticks (0: unknown).
    map: FastMap<(Pid, u64), Entry>,
    /// The start time of the newest process seen under each pid, for callers that know only
    /// the pid.
    latest: FastMap<Pid, u64>,
    k8s: Option<Arc<K8sMetadata>>,
}

impl ProcessCache {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        ProcessCache {
            proc_root: proc_root.into(),
            host_name: host_name(),
            map: FastMap::default(),
            latest: FastMap::default(),
            k8s: None,
        }
    }

    /// Adds pod metadata to the resources of containerised processes.
    pub fn with_k8s(mut self, k8s: Option<Arc<K8sMetadata>>) -> Self {
        self.k8s = k8s;
        self
    }

    /// The process `pid` started at `start` (from the kernel event), or, without `start`, the
    /// newest process seen under `pid` (else the one /proc shows now).
    pub fn get(&mut self, pid: Pid, start: Option<ProcStart>, comm: &str) -> Arc<ProcessInfo> {
        let ticks = match start {
            Some(s) => s.ticks(),
            None => match self.latest.get(&pid) {
                Some(&t) => t,
                None => start_ticks(&self.proc_root, pid).unwrap_or(0),
            },
        };
        let generation = self.k8s.as_ref().map_or(0, |k| k.generation());
        if let Some(e) = self.map.get_mut(&(pid, ticks)) {
            if e.generation != generation {
                e.generation = generation;
                if let Some(k8s) = &self.k8s {
                    if let Some(updated) = refresh(&e.info, k8s, &self.host_name) {
                        e.info = Arc::new(updated);
                    }
                }
            }
            return e.info.clone();
        }
        let info = Arc::new(self.resolve(pid, ticks, comm));
        self.map.insert((pid, ticks), Entry { info: info.clone(), generation });
        let latest = self.latest.entry(pid).or_insert(ticks);
        *latest = (*latest).max(ticks);
        info
    }

    /// Drops entries of processes that exited or whose pid was reused.
    pub fn sweep(&mut self) {
        let root = self.proc_root.clone();
        self.map.retain(|(pid, ticks), _| start_ticks(&root, *pid) == Some(*ticks));
        let map = &self.map;
        self.latest.retain(|pid, ticks| map.contains_key(&(*pid, *ticks)));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Reads /proc/<pid> when it still shows the process started at `ticks` (0: whichever it
    /// shows), before and after reading; otherwise only the thread name is known.
    fn resolve(&self, pid: Pid, ticks: u64, comm: &str) -> ProcessInfo {
        let dir = self.proc_root.join(pid.0.to_string());
        let before = start_ticks(&self.proc_root, pid);
        let ours = |t: Option<u64>| t.is_some() && (ticks == 0 || t == Some(ticks));
        let mut exe_name = std::fs::read_link(dir.join("exe"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .map(|n| n.trim_end_matches(" (deleted)").to_string());
        let mut env = EnvResource::from_environ(&std::fs::read(dir.join("environ")).unwrap_or_default());
        let mut container = cgroup::read(&self.proc_root, pid.0);
        if !(ours(before) && start_ticks(&self.proc_root, pid) == before) {
            // Exited, or the pid is another process's now: nothing in /proc is about ours.
            (exe_name, env, container) = (None, EnvResource::default(), None);
        }
        let pod = match (&container, &self.k8s) {
            (Some(c), Some(k8s)) => k8s.pod_of(&c.id, c.pod_uid.as_deref()),
            _ => None,
        };
        build(
            ProcessInfo {
                pid,
                service_name: String::new(),
                exe_name: exe_name.unwrap_or_else(|| comm.to_string()),
                start_ticks: if ticks == 0 { before.unwrap_or(0) } else { ticks },
                container,
                env,
                pod,
                resource: Resource::builder_empty().build(),
            },
            &self.host_name,
        )
    }
}

/// A new `ProcessInfo` when the process's pod (or what is known about it) changed.
fn refresh(info: &ProcessInfo, k8s: &K8sMetadata, host_name: &str) -> Option<ProcessInfo> {
    let c = info.container.as_ref()?;
    let pod = k8s.pod_of(&c.id, c.pod_uid.as_deref());
    if pod == info.pod {
        return None;
    }
    Some(build(
        ProcessInfo {
            pid: info.pid,
            exe_name: info.exe_name.clone(),
            service_name: String::new(),
            start_ticks: info.start_ticks,
            container: info.container.clone(),
            env: info.env.clone(),
            pod,
            resource: Resource::builder_empty().build(),
        },
        host_name,
    ))
}

/// A process outside containers with `OTEL_SERVICE_NAME=service`, for unit tests.
#[cfg(test)]
pub(crate) fn test_process(pid: u32, exe: &str, service: &str) -> ProcessInfo {
    let env = EnvResource { service_name: Some(service.to_string()), ..Default::default() };
    build(
        ProcessInfo {
            pid: Pid(pid),
            exe_name: exe.into(),
            service_name: String::new(),
            start_ticks: 1,
            container: None,
            env,
            pod: None,
            resource: Resource::builder_empty().build(),
        },
        "node-1",
    )
}

/// Fills `service_name` and `resource` from the other fields.
///
/// `service.name`: in a pod, the process env, the container spec's literal env, the
/// annotation, the app labels, the top owner, the pod name (`PodMeta::service_name`);
/// elsewhere the process env, else the executable name.
fn build(mut p: ProcessInfo, host_name: &str) -> ProcessInfo {
    let mut attrs = vec![
        KeyValue::new(res::PROCESS_PID, i64::from(p.pid.0)),
        KeyValue::new(res::PROCESS_EXECUTABLE_NAME, p.exe_name.clone()),
        KeyValue::new(res::HOST_NAME, host_name.to_string()),
        KeyValue::new(res::TELEMETRY_SDK_NAME, "spanwire"),
        KeyValue::new(res::TELEMETRY_SDK_LANGUAGE, "rust"),
        KeyValue::new(res::TELEMETRY_SDK_VERSION, env!("CARGO_PKG_VERSION")),
    ];
    if let Some(c) = &p.container {
        attrs.push(KeyValue::new(res::CONTAINER_ID, c.id.to_string()));
    }
    match &p.pod {
        Some(PodContainer { pod, container }) => {
            let spec_env = container
                .as_ref()
                .and_then(|name| pod.containers.iter().find(|c| &c.name == name))
                .map(|c| c.env.clone())
                .unwrap_or_default();
            let env = p.env.clone().or(&spec_env);
            p.service_name = pod.service_name(&env);
            let instance = match container {
                Some(c) => format!("{}.{}.{}", pod.namespace, pod.name, c),
                None => format!("{}.{}", pod.namespace, pod.name),
            };
            attrs.push(KeyValue::new(res::SERVICE_NAMESPACE, pod.service_namespace(&env)));
            attrs.push(KeyValue::new(res::SERVICE_INSTANCE_ID, instance));
            attrs.push(KeyValue::new(res::K8S_NAMESPACE_NAME, pod.namespace.clone()));
            attrs.push(KeyValue::new(res::K8S_POD_NAME, pod.name.clone()));
            attrs.push(KeyValue::new(res::K8S_POD_UID, pod.uid.clone()));
            if let Some(c) = container {
                attrs.push(KeyValue::new(res::K8S_CONTAINER_NAME, c.clone()));
            }
            let w = &pod.workload;
            for (key, value) in [
                (res::K8S_NODE_NAME, &pod.node_name),
                (res::K8S_DEPLOYMENT_NAME, &w.deployment),
                (res::K8S_REPLICASET_NAME, &w.replicaset),
                (res::K8S_STATEFULSET_NAME, &w.statefulset),
                (res::K8S_DAEMONSET_NAME, &w.daemonset),
                (res::K8S_JOB_NAME, &w.job),
                (res::K8S_CRONJOB_NAME, &w.cronjob),
            ] {
                if let Some(v) = value {
                    attrs.push(KeyValue::new(key, v.clone()));
                }
            }
        }
        None => {
            p.service_name = p.env.service_name.clone().unwrap_or_else(|| p.exe_name.clone());
            if let Some(ns) = &p.env.service_namespace {
                attrs.push(KeyValue::new(res::SERVICE_NAMESPACE, ns.clone()));
            }
            // One instance per process: two processes of one service (workers, repeated
            // short-lived clients) must not feed the same cumulative series (Prometheus
            // `instance`).
            attrs.push(KeyValue::new(res::SERVICE_INSTANCE_ID, format!("{host_name}:{}", p.pid.0)));
        }
    }
    attrs.insert(0, KeyValue::new(res::SERVICE_NAME, p.service_name.clone()));
    p.resource = Resource::builder_empty().with_attributes(attrs).build();
    p
}

/// `OTEL_SERVICE_NAME`, else `service.name` inside `OTEL_RESOURCE_ATTRIBUTES`, from a
/// NUL-separated /proc/<pid>/environ.
pub fn service_name_from_env(environ: &[u8]) -> Option<String> {
    EnvResource::from_environ(environ).service_name
}

fn start_ticks(proc_root: &Path, pid: Pid) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_root.join(pid.0.to_string()).join("stat")).ok()?;
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_precedence() {
        let env = b"PATH=/bin\0OTEL_RESOURCE_ATTRIBUTES=a=b,service.name=from-attrs\0OTEL_SERVICE_NAME=checkout\0";
        assert_eq!(service_name_from_env(env).as_deref(), Some("checkout"));
        let env = b"OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod, service.name = cart\0";
        assert_eq!(service_name_from_env(env).as_deref(), Some("cart"));
        assert_eq!(service_name_from_env(b"OTEL_SERVICE_NAME=\0HOME=/root\0"), None);
        assert_eq!(service_name_from_env(b"\xff\xfe\0"), None);
    }

    #[test]
    fn resolves_this_process() {
        let mut cache = ProcessCache::new("/proc");
        let me = Pid(std::process::id());
        let info = cache.get(me, None, "ignored");
        assert!(info.start_ticks > 0);
        assert!(!info.exe_name.is_empty() && info.exe_name != "ignored");
        cache.sweep();
        assert_eq!(cache.len(), 1, "a live process survives the sweep");
    }

    #[test]
    fn falls_back_to_comm_for_vanished_process() {
        let mut cache = ProcessCache::new("/nonexistent-proc");
        let info = cache.get(Pid(4_000_000), None, "curl");
        assert_eq!(info.exe_name, "curl");
        assert_eq!(info.service_name, "curl");
        cache.sweep();
        assert!(cache.is_empty());
    }

    /// A fake /proc with one process: `pid` started at `ticks`, running `exe` with `service`.
    fn fake_proc(root: &Path, pid: u32, ticks: u64, exe: &str, service: &str) {
        let dir = root.join(pid.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let fields: Vec<String> = (1..=18).map(|i| i.to_string()).collect();
        let stat = format!("{pid} (x) S {} {ticks} 0 0\n", fields.join(" "));
        std::fs::write(dir.join("stat"), stat).expect("stat");
        std::fs::write(dir.join("environ"), format!("OTEL_SERVICE_NAME={service}\0")).expect("environ");
        std::os::unix::fs::symlink(format!("/usr/bin/{exe}"), dir.join("exe")).expect("exe");
    }

    #[test]
    fn a_reused_pid_is_another_process() {
        let root = std::env::temp_dir().join(format!("spanwire-fake-proc-{}", std::process::id()));
        let (pid, first, second) = (Pid(777), ProcStart(5_000_000_000), ProcStart(9_000_000_000));
        fake_proc(&root, pid.0, first.ticks(), "python3", "first");
        let mut cache = ProcessCache::new(&root);
        let a = cache.get(pid, Some(first), "python3");
        assert_eq!((a.service_name.as_str(), a.exe_name.as_str(), a.start_ticks), ("first", "python3", 500));

        // The process exits and another program gets its pid, before any sweep.
        fake_proc(&root, pid.0, second.ticks(), "gohttp", "second");
        let b = cache.get(pid, Some(second), "gohttp");
        assert_eq!((b.service_name.as_str(), b.exe_name.as_str(), b.start_ticks), ("second", "gohttp", 900));
        assert!(Arc::ptr_eq(&cache.get(pid, Some(first), "python3"), &a), "late events of the first stay its own");
        assert!(Arc::ptr_eq(&cache.get(pid, None, "?"), &b), "without a start time: the newest process");

        // An event of a process /proc no longer shows: only its thread name is known.
        let c = cache.get(pid, Some(ProcStart(7_000_000_000)), "other");
        assert_eq!((c.service_name.as_str(), c.exe_name.as_str(), c.start_ticks), ("other", "other", 700));

        cache.sweep();
        assert_eq!(cache.len(), 1, "only the process /proc shows survives the sweep");
        assert!(Arc::ptr_eq(&cache.get(pid, None, "?"), &b));
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
