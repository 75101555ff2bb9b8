//! `spanwire check`: can `spanwire run` work on this machine? Each item says ok or what is
//! missing and how to fix it.

use std::fmt;
use std::path::Path;

use aya::maps::MapType;
use aya::programs::ProgramType;

use super::fs;
use super::loader::{KernelConfig, Probes};

pub const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

#[derive(Debug)]
pub struct CheckItem {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
}

impl fmt::Display for CheckItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.ok { "ok     " } else { "MISSING" };
        write!(f, "{status} {:<22} {}", self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n        fix: {fix}")?;
        }
        Ok(())
    }
}

fn item(name: &'static str, ok: bool, detail: impl Into<String>, fix: &str) -> CheckItem {
    CheckItem { name, ok, detail: detail.into(), fix: (!ok).then(|| fix.to_string()) }
}

/// Runs every check in order; later checks that need earlier ones still run and say why they fail.
pub fn run_checks() -> Vec<CheckItem> {
    let mut items = Vec::new();
    let caps = effective_caps();
    let has = |c: u32| caps & (1u64 << c) != 0;
    let privileged = has_bpf_privileges();
    items.push(item(
        "privileges",
        privileged,
        format!(
            "CapEff={caps:#x} (CAP_BPF={} CAP_PERFMON={} CAP_SYS_ADMIN={})",
            has(CAP_BPF),
            has(CAP_PERFMON),
            has(CAP_SYS_ADMIN)
        ),
        "run as root, or grant CAP_BPF, CAP_PERFMON (and CAP_SYS_ADMIN to mount tracefs / read other processes' /proc)",
    ));
    let btf = Path::new(BTF_PATH).exists();
    items.push(item(
        "kernel BTF",
        btf,
        BTF_PATH,
        "the kernel needs CONFIG_DEBUG_INFO_BTF=y (CO-RE relocation of kernel struct offsets)",
    ));
    let tracefs = if fs::tracefs_ready() {
        Ok(())
    } else if privileged {
        fs::ensure_tracefs().map_err(|e| e.to_string())
    } else {
        Err(format!("{} not accessible (not mounted, or no permission)", fs::TRACEFS))
    };
    items.push(item(
        "tracefs",
        tracefs.is_ok(),
        tracefs.err().unwrap_or_else(|| fs::TRACEFS.to_string()),
        "mount -t tracefs nodev /sys/kernel/tracing (spanwire does this itself when run as root)",
    ));
    let syscalls = Path::new(fs::TRACEFS).join("events/syscalls/sys_enter_read").exists();
    items.push(item(
        "syscall tracepoints",
        syscalls,
        "events/syscalls/sys_enter_read",
        "the kernel needs CONFIG_FTRACE_SYSCALLS=y (and tracefs mounted)",
    ));
    let tp = aya::sys::is_program_supported(ProgramType::TracePoint);
    items.push(item(
        "program type tracepoint",
        matches!(tp, Ok(true)),
        support(tp.map_err(|e| error_chain(&e))),
        "BPF tracepoint programs need CAP_BPF+CAP_PERFMON and CONFIG_BPF_EVENTS=y",
    ));
    let rb = aya::sys::is_map_supported(MapType::RingBuf);
    items.push(item(
        "map type ringbuf",
        matches!(rb, Ok(true)),
        support(rb.map_err(|e| error_chain(&e))),
        "BPF ring buffers need Linux >= 5.8 and CAP_BPF",
    ));
    let load = Probes::load(&KernelConfig {
        agent_pid: std::process::id(),
        payload_max_bytes: 512,
        payload_wide_bytes: 4096,
        ring_buffer_bytes: 1 << 16,
        wakeup_bytes: 1 << 15,
        capture_all: true,
        ports: vec![],
        pids: vec![],
        logs: Some(super::loader::LogCapture { max_bytes: 1024, rate_per_s: 200 }),
    });
    items.push(item(
        "programs load+verify",
        load.is_ok(),
        match &load {
            Ok(_) => format!("{} programs accepted by the verifier", super::loader::PROGRAMS.len()),
            Err(e) => error_chain(e),
        },
        "see the error above; `spanwire check` as root on a kernel with BTF must pass",
    ));
    items
}

fn support(probe: Result<bool, String>) -> String {
    match probe {
        Ok(true) => "supported".into(),
        Ok(false) => "not supported by this kernel".into(),
        Err(e) => format!("probe failed: {e}"),
    }
}

/// Whether this process may load and attach tracing programs.
pub fn has_bpf_privileges() -> bool {
    let caps = effective_caps();
    let has = |c: u32| caps & (1u64 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// Effective capability bits of this process, from /proc/self/status.
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
