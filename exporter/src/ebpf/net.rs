//! Loads and attaches the network-metrics object (`exporter-ebpf/src/net.bpf.c`), a second
//! `Ebpf` independent of the request-capture programs, and hands out its maps.

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray};
use aya::programs::{ProgramError, RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader, Pod};

use super::loader::LoadError;

pub mod sys {
    #![allow(non_camel_case_types, non_upper_case_globals, dead_code, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/net_types.rs"));
}

pub use sys::{sw_flow_key as FlowKey, sw_flow_value as FlowValue};

// SAFETY: plain `#[repr(C)]` structs of integers and byte arrays generated from net.h, with
// explicit padding fields: every bit pattern is valid and there is no implicit padding.
unsafe impl Pod for FlowKey {}
// SAFETY: as above.
unsafe impl Pod for FlowValue {}

const _: () = assert!(std::mem::size_of::<FlowKey>() == 28, "sw_flow_key layout changed");
const _: () = assert!(std::mem::size_of::<FlowValue>() == 104, "sw_flow_value layout changed");

/// The compiled object (built by build.rs from exporter-ebpf/src/net.bpf.c).
pub static NET_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/net.bpf.o"));

/// Raw tracepoints (no tracefs needed) and the two accept exits (syscall tracepoints).
const RAW: &[(&str, &str)] = &[("sw_net_state", "inet_sock_set_state"), ("sw_net_probe", "tcp_probe")];
const SYSCALL: &[(&str, &str)] = &[("sw_net_accept", "sys_exit_accept"), ("sw_net_accept4", "sys_exit_accept4")];

pub struct NetProbes {
    ebpf: Ebpf,
}

pub struct NetMaps {
    pub flows: BpfHashMap<MapData, FlowKey, FlowValue>,
    pub counters: PerCpuArray<MapData, u64>,
}

fn program_err(name: &'static str) -> impl Fn(ProgramError) -> LoadError {
    move |e| LoadError::Program { name, source: Box::new(e) }
}

impl NetProbes {
    pub fn load(agent_pid: u32) -> Result<Self, LoadError> {
        super::on_scratch_thread(|| Self::load_here(agent_pid))
    }

    fn load_here(agent_pid: u32) -> Result<Self, LoadError> {
        let mut ebpf = EbpfLoader::new()
            .override_global("agent_tgid", &agent_pid, true)
            .load(NET_OBJECT)
            .map_err(|e| LoadError::Object(Box::new(e)))?;
        for (name, _) in RAW {
            let prog: &mut RawTracePoint =
                ebpf.program_mut(name).ok_or(LoadError::Missing(name))?.try_into().map_err(program_err(name))?;
            prog.load().map_err(program_err(name))?;
        }
        for (name, _) in SYSCALL {
            let prog: &mut TracePoint =
                ebpf.program_mut(name).ok_or(LoadError::Missing(name))?.try_into().map_err(program_err(name))?;
            prog.load().map_err(program_err(name))?;
        }
        Ok(NetProbes { ebpf })
    }

    pub fn attach(&mut self) -> Result<(), LoadError> {
        for (name, tp) in RAW {
            let prog: &mut RawTracePoint =
                self.ebpf.program_mut(name).ok_or(LoadError::Missing(name))?.try_into().map_err(program_err(name))?;
            prog.attach(tp).map_err(|e| LoadError::Attach { name, tracepoint: tp, source: Box::new(e) })?;
        }
        for (name, tp) in SYSCALL {
            let prog: &mut TracePoint =
                self.ebpf.program_mut(name).ok_or(LoadError::Missing(name))?.try_into().map_err(program_err(name))?;
            prog.attach("syscalls", tp).map_err(|e| LoadError::Attach { name, tracepoint: tp, source: Box::new(e) })?;
        }
        Ok(())
    }

    pub fn take_maps(&mut self) -> Result<NetMaps, LoadError> {
        let flows = self.ebpf.take_map("flows").ok_or(LoadError::Missing("flows"))?;
        let counters = self.ebpf.take_map("net_counters").ok_or(LoadError::Missing("net_counters"))?;
        Ok(NetMaps {
            flows: BpfHashMap::try_from(flows).map_err(|e| LoadError::Map { map: "flows", source: Box::new(e) })?,
            counters: PerCpuArray::try_from(counters)
                .map_err(|e| LoadError::Map { map: "net_counters", source: Box::new(e) })?,
        })
    }
}
