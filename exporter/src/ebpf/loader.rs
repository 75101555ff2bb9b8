//! Loads the kernel object with aya, sets its read-only configuration, attaches the
//! syscall tracepoints, and hands out the maps userspace needs.

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{ProgramError, TracePoint};
use aya::{Ebpf, EbpfError, EbpfLoader};

use super::pid_set::{self, PidSet};
use super::records::{sys, MAX_PAYLOAD};

/// Every program in the object, with the tracepoint it attaches to. Exit programs come
/// first so that no enter program stashes arguments that nothing would consume.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("sw_exit_read", "sys_exit_read"),
    ("sw_exit_write", "sys_exit_write"),
    ("sw_exit_readv", "sys_exit_readv"),
    ("sw_exit_writev", "sys_exit_writev"),
    ("sw_exit_recvfrom", "sys_exit_recvfrom"),
    ("sw_exit_sendto", "sys_exit_sendto"),
    ("sw_exit_recvmsg", "sys_exit_recvmsg"),
    ("sw_exit_sendmsg", "sys_exit_sendmsg"),
    ("sw_exit_connect", "sys_exit_connect"),
    ("sw_exit_accept", "sys_exit_accept"),
    ("sw_exit_accept4", "sys_exit_accept4"),
    ("sw_enter_write", "sys_enter_write"),
    ("sw_enter_writev", "sys_enter_writev"),
    ("sw_enter_sendto", "sys_enter_sendto"),
    ("sw_enter_sendmsg", "sys_enter_sendmsg"),
    ("sw_enter_connect", "sys_enter_connect"),
    ("sw_enter_close", "sys_enter_close"),
];

/// What the kernel programs are told before they are verified.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    pub agent_pid: u32,
    pub payload_max_bytes: u32,
    /// Bytes copied per syscall on sockets in `wide_socks` (HTTP/2 connections).
    pub payload_wide_bytes: u32,
    pub ring_buffer_bytes: u32,
    /// Wake the reader when this many bytes are waiting; below that it polls on a timer.
    pub wakeup_bytes: u64,
    /// No selection: every process but the agent.
    pub capture_all: bool,
    pub ports: Vec<u16>,
    pub pids: Vec<u32>,
    /// Capture stdout/stderr writes of the processes put in `log_pids`.
    pub logs: Option<LogCapture>,
}

#[derive(Debug, Clone, Copy)]
pub struct LogCapture {
    /// Bytes copied per write (1..=4096).
    pub max_bytes: u32,
    /// Writes captured per process per second (token bucket in the kernel).
    pub rate_per_s: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("loading the kernel object failed (BTF/CO-RE relocation or map creation); run `spanwire check`")]
    Object(#[source] Box<EbpfError>),
    #[error("kernel object has no program or map named {0}")]
    Missing(&'static str),
    #[error("program {name} was rejected by the kernel")]
    Program {
        name: &'static str,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("attaching {name} to tracepoint syscalls/{tracepoint} failed; is tracefs mounted (`spanwire check`)?")]
    Attach {
        name: &'static str,
        tracepoint: &'static str,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("map {map}")]
    Map {
        map: &'static str,
        #[source]
        source: Box<aya::maps::MapError>,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot start the thread that loads the programs: {0}")]
    Thread(String),
}

/// The loaded (and possibly attached) programs. Dropping it detaches everything.
pub struct Probes {
    ebpf: Ebpf,
}

/// Handles on the maps the running agent reads or updates.
pub struct ProbeMaps {
    pub events: RingBuf<MapData>,
    pub counters: PerCpuArray<MapData, u64>,
    pub pid_filter: PidSet,
    pub log_pids: BpfHashMap<MapData, u32, u8>,
    /// Sockets captured up to `payload_wide_bytes` (the agent adds HTTP/2 connections).
    pub wide_socks: BpfHashMap<MapData, u64, u8>,
}

impl Probes {
    /// Loads the object and all programs (the verifier runs here) without attaching.
    pub fn load(cfg: &KernelConfig) -> Result<Self, LoadError> {
        super::on_scratch_thread(|| Self::load_here(cfg))
    }

    fn load_here(cfg: &KernelConfig) -> Result<Self, LoadError> {
        if cfg.payload_max_bytes == 0 || cfg.payload_max_bytes > MAX_PAYLOAD {
            return Err(LoadError::Config(format!(
                "payload_max_bytes must be 1..={MAX_PAYLOAD}, got {}",
                cfg.payload_max_bytes
            )));
        }
        if !cfg.ring_buffer_bytes.is_power_of_two() || cfg.ring_buffer_bytes < 4096 {
            return Err(LoadError::Config(format!(
                "ring_buffer_bytes must be a power of two >= 4096, got {}",
                cfg.ring_buffer_bytes
            )));
        }
        raise_memlock_limit();
        let capture_all = u8::from(cfg.capture_all);
        let logs_on = u8::from(cfg.logs.is_some());
        let log_max = cfg.logs.map_or(1, |l| l.max_bytes.clamp(1, MAX_PAYLOAD));
        let log_rate = cfg.logs.map_or(0, |l| l.rate_per_s);
        let port_filter_on = u8::from(!cfg.ports.is_empty());
        let mut ebpf = EbpfLoader::new()
            .override_global("agent_tgid", &cfg.agent_pid, true)
            .override_global("payload_max", &cfg.payload_max_bytes, true)
            .override_global("payload_wide", &cfg.payload_wide_bytes.clamp(cfg.payload_max_bytes, MAX_PAYLOAD), true)
            .override_global("capture_all", &capture_all, true)
            .override_global("port_filter_on", &port_filter_on, true)
            .override_global("wakeup_bytes", &cfg.wakeup_bytes, true)
            .override_global("logs_on", &logs_on, true)
            .override_global("log_max", &log_max, true)
            .override_global("log_rate", &log_rate, true)
            .map_max_entries("events", cfg.ring_buffer_bytes)
            .load(super::OBJECT)
            .map_err(|e| LoadError::Object(Box::new(e)))?;
        for (name, _) in PROGRAMS {
            let prog: &mut TracePoint = ebpf
                .program_mut(name)
                .ok_or(LoadError::Missing(name))?
                .try_into()
                .map_err(|e| LoadError::Program { name, source: Box::new(e) })?;
            prog.load().map_err(|e| LoadError::Program { name, source: Box::new(e) })?;
        }
        let mut probes = Probes { ebpf };
        probes.fill_filters(cfg)?;
        Ok(probes)
    }

    fn fill_filters(&mut self, cfg: &KernelConfig) -> Result<(), LoadError> {
        let map = |source| LoadError::Map { map: "port_filter", source: Box::new(source) };
        let mut ports: BpfHashMap<_, u16, u8> =
            BpfHashMap::try_from(self.ebpf.map_mut("port_filter").ok_or(LoadError::Missing("port_filter"))?)
                .map_err(map)?;
        for p in &cfg.ports {
            ports.insert(p, 1, 0).map_err(map)?;
        }
        let map = |source| LoadError::Map { map: "pid_filter", source: Box::new(source) };
        let mut pids: Array<_, u64> =
            Array::try_from(self.ebpf.map_mut("pid_filter").ok_or(LoadError::Missing("pid_filter"))?).map_err(map)?;
        for &p in &cfg.pids {
            let (word, bit) =
                pid_set::locate(p).ok_or_else(|| LoadError::Config(format!("pid {p} is out of range")))?;
            let old = pids.get(&word, 0).map_err(map)?;
            pids.set(word, old | bit, 0).map_err(map)?;
        }
        Ok(())
    }

    /// Attaches every program to its syscall tracepoint.
    pub fn attach(&mut self) -> Result<(), LoadError> {
        for (name, tracepoint) in PROGRAMS {
            let prog: &mut TracePoint = self
                .ebpf
                .program_mut(name)
                .ok_or(LoadError::Missing(name))?
                .try_into()
                .map_err(|e| LoadError::Program { name, source: Box::new(e) })?;
            prog.attach("syscalls", tracepoint).map_err(|e| LoadError::Attach {
                name,
                tracepoint,
                source: Box::new(e),
            })?;
        }
        Ok(())
    }

    /// Takes the maps userspace works with out of the object.
    pub fn take_maps(&mut self) -> Result<ProbeMaps, LoadError> {
        let mut take = |name: &'static str| self.ebpf.take_map(name).ok_or(LoadError::Missing(name));
        let events = take("events")?;
        let counters = take("counters")?;
        let pid_filter = take("pid_filter")?;
        let log_pids = take("log_pids")?;
        let wide_socks = take("wide_socks")?;
        Ok(ProbeMaps {
            wide_socks: BpfHashMap::try_from(wide_socks)
                .map_err(|e| LoadError::Map { map: "wide_socks", source: Box::new(e) })?,
            events: RingBuf::try_from(events).map_err(|e| LoadError::Map { map: "events", source: Box::new(e) })?,
            counters: PerCpuArray::try_from(counters)
                .map_err(|e| LoadError::Map { map: "counters", source: Box::new(e) })?,
            pid_filter: PidSet::new(
                Array::try_from(pid_filter).map_err(|e| LoadError::Map { map: "pid_filter", source: Box::new(e) })?,
            ),
            log_pids: BpfHashMap::try_from(log_pids)
                .map_err(|e| LoadError::Map { map: "log_pids", source: Box::new(e) })?,
        })
    }
}

/// Totals of the kernel's per-CPU loss counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelCounters {
    pub ringbuf_full: u64,
    pub payload_fault: u64,
    pub args_table_full: u64,
    pub log_rate_limited: u64,
}

pub fn read_counters(map: &PerCpuArray<MapData, u64>) -> KernelCounters {
    let sum = |idx: u32| map.get(&idx, 0).map(|v| v.iter().sum()).unwrap_or(0);
    KernelCounters {
        ringbuf_full: sum(sys::sw_counter_SW_CTR_RINGBUF_FULL),
        payload_fault: sum(sys::sw_counter_SW_CTR_PAYLOAD_FAULT),
        args_table_full: sum(sys::sw_counter_SW_CTR_ARGS_TABLE_FULL),
        log_rate_limited: sum(sys::sw_counter_SW_CTR_LOG_RATE_LIMITED),
    }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones (memcg) ignore it.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads a valid rlimit struct; failure is harmless and only logged.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        tracing::debug!("could not raise RLIMIT_MEMLOCK (harmless on kernels with memcg accounting)");
    }
}
