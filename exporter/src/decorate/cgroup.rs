//! Container identity from `/proc/<pid>/cgroup`.
//!
//! Container runtimes name a container's cgroup after the container id (64 lowercase hex
//! characters), with a runtime-specific prefix under the systemd cgroup driver and no prefix
//! under the cgroupfs driver:
//!
//! | runtime    | systemd driver                                  | cgroupfs driver                   |
//! |------------|-------------------------------------------------|-----------------------------------|
//! | containerd | `…/kubepods-…-pod<uid>.slice/cri-containerd-<id>.scope` | `/kubepods/<qos>/pod<uid>/<id>` |
//! | CRI-O      | `…/kubepods-…-pod<uid>.slice/crio-<id>.scope`   | `/kubepods/<qos>/pod<uid>/crio-<id>` |
//! | Docker     | `/system.slice/docker-<id>.scope`               | `/docker/<id>`                    |
//!
//! cgroup v2 has one line `0::<path>`; cgroup v1 has one line per hierarchy
//! `<n>:<controllers>:<path>` and any of them may carry the id. When the reader is in another
//! cgroup namespace (a DaemonSet pod), paths start with `/../..`; only the last components
//! matter, so that works unchanged.

use std::fmt;
use std::path::Path;

/// A container id: 64 lowercase hex characters, as runtimes and the Kubernetes API print it
/// (without the `containerd://` style scheme).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// Accepts exactly 64 lowercase hex characters.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| ContainerId(s.to_string()))
    }

    /// From a pod status `containerID` (`containerd://<id>`, `cri-o://<id>`, `docker://<id>`).
    pub fn from_status(s: &str) -> Option<Self> {
        let id = s.split_once("://").map_or(s, |(_, id)| id);
        ContainerId::parse(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which runtime named the cgroup, as far as the name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Containerd,
    CriO,
    Docker,
    Podman,
    /// A bare id (cgroupfs driver of containerd or cri-dockerd under `kubepods`).
    Unknown,
}

/// What a process's cgroup path says about its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub id: ContainerId,
    pub runtime: Runtime,
    /// The pod UID when the path is under a `kubepods` hierarchy (dashes restored).
    pub pod_uid: Option<String>,
}

/// Reads and parses `<proc_root>/<pid>/cgroup`. `None` for processes outside containers and
/// for processes that are gone.
pub fn read(proc_root: &Path, pid: u32) -> Option<ContainerRef> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    parse(&text)
}

/// Parses the contents of a `/proc/<pid>/cgroup` file (v1 or v2). The unified (v2) line is
/// preferred; otherwise the first v1 hierarchy whose path names a container wins.
pub fn parse(contents: &str) -> Option<ContainerRef> {
    let mut paths: Vec<(bool, &str)> = contents
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((id == "0" && controllers.is_empty(), path))
        })
        .collect();
    // Stable sort: the unified line first, v1 lines in file order after it.
    paths.sort_by_key(|(unified, _)| !unified);
    paths.into_iter().find_map(|(_, path)| parse_path(path))
}

/// Finds the innermost path component that names a container. Sub-cgroups a container
/// creates below its own (`…/cri-containerd-<id>.scope/init`) are skipped over.
pub fn parse_path(path: &str) -> Option<ContainerRef> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (idx, id, mut runtime) =
        parts.iter().enumerate().rev().find_map(|(i, part)| component_id(part).map(|(id, rt)| (i, id, rt)))?;
    if runtime == Runtime::Unknown && idx > 0 && parts[idx - 1] == "docker" {
        runtime = Runtime::Docker;
    }
    let pod_uid = parts[..idx].iter().rev().find_map(|p| pod_uid(p));
    Some(ContainerRef { id, runtime, pod_uid })
}

fn component_id(part: &str) -> Option<(ContainerId, Runtime)> {
    const PREFIXES: [(&str, Runtime); 4] = [
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
        ("docker-", Runtime::Docker),
        ("libpod-", Runtime::Podman),
    ];
    let name = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, runtime) in PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            // `crio-conmon-<id>.scope` is CRI-O's monitor process, not the container.
            return ContainerId::parse(rest).map(|id| (id, runtime));
        }
    }
    ContainerId::parse(name).map(|id| (id, Runtime::Unknown))
}

/// `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid_with_underscores>.slice` (systemd).
fn pod_uid(part: &str) -> Option<String> {
    let name = part.strip_suffix(".slice").unwrap_or(part);
    let start = name.rfind("pod")?;
    let uid = name[start + 3..].replace('_', "-");
    let valid = uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    valid.then_some(uid)
}

#[cfg(test)]
#[path = "cgroup_tests.rs"]
mod tests;
