//! Process metadata from /proc: executable name, service name (its OTLP resource is built from
//! this in `export::resource`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ebpf::records::Pid;

/// One observed process.
#[derive(Debug)]
pub struct ProcessInfo {
    pub pid: Pid,
    pub exe_name: String,
    pub service_name: String,
    /// Process start time (clock ticks since boot), to tell a reused pid apart.
    pub start_ticks: u64,
}

/// Caches `ProcessInfo` per pid. Resolved at first sight of a pid, so short-lived clients
/// (curl) are usually still in /proc; when they are not, the kernel-reported thread name is used.
pub struct ProcessCache {
    proc_root: PathBuf,
    map: HashMap<Pid, Arc<ProcessInfo>>,
}

impl ProcessCache {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        ProcessCache { proc_root: proc_root.into(), map: HashMap::new() }
    }

    pub fn get(&mut self, pid: Pid, comm: &str) -> Arc<ProcessInfo> {
        if let Some(p) = self.map.get(&pid) {
            return p.clone();
        }
        let info = Arc::new(self.resolve(pid, comm));
        self.map.insert(pid, info.clone());
        info
    }

    /// Drops entries of processes that exited or whose pid was reused.
    pub fn sweep(&mut self) {
        let root = self.proc_root.clone();
        self.map.retain(|pid, info| start_ticks(&root, *pid) == Some(info.start_ticks));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn resolve(&self, pid: Pid, comm: &str) -> ProcessInfo {
        let dir = self.proc_root.join(pid.0.to_string());
        let exe_name = std::fs::read_link(dir.join("exe"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .map(|n| n.trim_end_matches(" (deleted)").to_string())
            .unwrap_or_else(|| comm.to_string());
        let env = std::fs::read(dir.join("environ")).unwrap_or_default();
        let service_name = service_name_from_env(&env).unwrap_or_else(|| exe_name.clone());
        let start_ticks = start_ticks(&self.proc_root, pid).unwrap_or(0);
        ProcessInfo { pid, exe_name, service_name, start_ticks }
    }
}

/// `OTEL_SERVICE_NAME`, else `service.name` inside `OTEL_RESOURCE_ATTRIBUTES`, from a
/// NUL-separated /proc/<pid>/environ.
pub fn service_name_from_env(environ: &[u8]) -> Option<String> {
    let vars = environ.split(|&b| b == 0).filter_map(|kv| std::str::from_utf8(kv).ok());
    let mut from_attrs = None;
    for kv in vars {
        if let Some(v) = kv.strip_prefix("OTEL_SERVICE_NAME=") {
            if !v.trim().is_empty() {
                return Some(v.trim().to_string());
            }
        } else if let Some(attrs) = kv.strip_prefix("OTEL_RESOURCE_ATTRIBUTES=") {
            from_attrs = attrs
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim() == "service.name")
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty());
        }
    }
    from_attrs
}

fn start_ticks(proc_root: &Path, pid: Pid) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_root.join(pid.0.to_string()).join("stat")).ok()?;
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
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
        let info = cache.get(me, "ignored");
        assert!(info.start_ticks > 0);
        assert!(!info.exe_name.is_empty() && info.exe_name != "ignored");
        cache.sweep();
        assert_eq!(cache.len(), 1, "a live process survives the sweep");
    }

    #[test]
    fn falls_back_to_comm_for_vanished_process() {
        let mut cache = ProcessCache::new("/nonexistent-proc");
        let info = cache.get(Pid(4_000_000), "curl");
        assert_eq!(info.exe_name, "curl");
        assert_eq!(info.service_name, "curl");
        cache.sweep();
        assert!(cache.is_empty());
    }
}
