//! Network metrics: reads the kernel's per-flow TCP counters (`ebpf::net`) each interval and
//! turns them into sums and gauges under each process's resource.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray};

use super::{AttrValue, Attrs, Metric, MetricData, Number, NumberPoint, ResourceMetrics, Temporality};
use crate::decorate::process::ProcessCache;
use crate::ebpf::net::{sys, FlowKey, FlowValue};
use crate::ebpf::records::Pid;
use crate::export::resource::{host_name, resource_attributes};
use crate::stats::Stats;

/// A flow: one process's connections in one direction with one peer address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId {
    pub pid: u32,
    pub server: bool,
    pub peer: IpAddr,
    /// Client: the peer's port; server: the local (listening) port.
    pub port: u16,
}

/// Counters of a flow since it was first seen by the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub opened: u64,
    pub closed: u64,
    pub failed_refused: u64,
    pub failed_timeout: u64,
    pub failed_other: u64,
    pub retransmits: u64,
    /// Latest smoothed RTT, microseconds (a gauge, not a counter).
    pub srtt_us: u64,
    pub comm: [u8; 16],
}

impl FlowId {
    /// `None` for a family other than IPv4/IPv6 or a bad direction (never written by the kernel).
    pub fn from_kernel(k: &FlowKey) -> Option<Self> {
        let peer = match u32::from(k.family) {
            sys::SW_AF_INET => IpAddr::V4(Ipv4Addr::new(k.peer[0], k.peer[1], k.peer[2], k.peer[3])),
            sys::SW_AF_INET6 => {
                let v6 = Ipv6Addr::from(k.peer);
                v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
            }
            _ => return None,
        };
        let server = match u32::from(k.direction) {
            sys::sw_net_direction_SW_NET_CLIENT => false,
            sys::sw_net_direction_SW_NET_SERVER => true,
            _ => return None,
        };
        Some(FlowId { pid: k.tgid, server, peer, port: k.port })
    }
}

impl From<&FlowValue> for FlowCounts {
    fn from(v: &FlowValue) -> Self {
        FlowCounts {
            bytes_sent: v.bytes_sent,
            bytes_received: v.bytes_received,
            opened: v.opened,
            closed: v.closed,
            failed_refused: v.failed_refused,
            failed_timeout: v.failed_timeout,
            failed_other: v.failed_other,
            retransmits: v.retransmits,
            srtt_us: v.srtt_us,
            comm: v.comm.map(|c| c as u8),
        }
    }
}

struct Seen {
    first_unix_ns: u64,
    /// Counts at the previous collection (for delta temporality).
    last: FlowCounts,
}

/// Flow counters → metrics, with the per-flow memory of what was reported.
pub struct FlowAggregator {
    seen: HashMap<FlowId, Seen>,
    procs: ProcessCache,
    previous_start_ns: u64,
}

fn attrs(f: &FlowId) -> Attrs {
    let mut a: Attrs = Vec::with_capacity(6);
    a.push(("network.transport", "tcp".into()));
    a.push(("network.type", if f.peer.is_ipv4() { "ipv4" } else { "ipv6" }.into()));
    a.push(("network.peer.address", f.peer.to_string().into()));
    if f.server {
        a.push(("spanwire.connection.direction", "server".into()));
        a.push(("server.port", i64::from(f.port).into()));
    } else {
        a.push(("spanwire.connection.direction", "client".into()));
        a.push(("network.peer.port", i64::from(f.port).into()));
    }
    a
}

fn with(mut a: Attrs, key: &'static str, v: &'static str) -> Attrs {
    a.push((key, AttrValue::from(v)));
    a
}

/// One sum of a flow: the value's source and the attribute that tells its points apart.
struct SumDesc {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    get: fn(&FlowCounts) -> u64,
    extra: Option<(&'static str, &'static str)>,
}

const IO: &str = "network.io.direction";
const CONNS: &str = "{connection}";
const SUMS: &[SumDesc] = &[
    SumDesc {
        name: "spanwire.tcp.io",
        unit: "By",
        description: "TCP payload bytes sent (acknowledged by the peer) and received.",
        get: |c| c.bytes_sent,
        extra: Some((IO, "transmit")),
    },
    SumDesc {
        name: "spanwire.tcp.io",
        unit: "By",
        description: "TCP payload bytes sent (acknowledged by the peer) and received.",
        get: |c| c.bytes_received,
        extra: Some((IO, "receive")),
    },
    SumDesc {
        name: "spanwire.tcp.connections.opened",
        unit: CONNS,
        description: "TCP connections established.",
        get: |c| c.opened,
        extra: None,
    },
    SumDesc {
        name: "spanwire.tcp.connections.closed",
        unit: CONNS,
        description: "Established TCP connections closed.",
        get: |c| c.closed,
        extra: None,
    },
    SumDesc {
        name: "spanwire.tcp.connections.failed",
        unit: CONNS,
        description: "TCP connects that failed.",
        get: |c| c.failed_refused,
        extra: Some(("error.type", "connection_refused")),
    },
    SumDesc {
        name: "spanwire.tcp.connections.failed",
        unit: CONNS,
        description: "TCP connects that failed.",
        get: |c| c.failed_timeout,
        extra: Some(("error.type", "timed_out")),
    },
    SumDesc {
        name: "spanwire.tcp.connections.failed",
        unit: CONNS,
        description: "TCP connects that failed.",
        get: |c| c.failed_other,
        extra: Some(("error.type", "other")),
    },
    SumDesc {
        name: "spanwire.tcp.retransmits",
        unit: "{segment}",
        description: "TCP segments retransmitted.",
        get: |c| c.retransmits,
        extra: None,
    },
];

impl FlowAggregator {
    pub fn new(now_unix_ns: u64) -> Self {
        FlowAggregator { seen: HashMap::new(), procs: ProcessCache::new("/proc"), previous_start_ns: now_unix_ns }
    }

    /// Metrics of `flows` (cumulative counts from the kernel) grouped by process.
    pub fn collect(
        &mut self,
        flows: &[(FlowId, FlowCounts)],
        now_unix_ns: u64,
        temporality: Temporality,
    ) -> Vec<ResourceMetrics> {
        let mut by_pid: HashMap<u32, Vec<Metric>> = HashMap::new();
        let mut comms: HashMap<u32, [u8; 16]> = HashMap::new();
        for (id, counts) in flows {
            let seen = self
                .seen
                .entry(*id)
                .or_insert(Seen { first_unix_ns: self.previous_start_ns, last: FlowCounts::default() });
            let start = match temporality {
                Temporality::Cumulative => seen.first_unix_ns,
                Temporality::Delta => self.previous_start_ns,
            };
            let base = attrs(id);
            let metrics = by_pid.entry(id.pid).or_default();
            comms.insert(id.pid, counts.comm);
            for d in SUMS {
                let total = (d.get)(counts);
                let value = match temporality {
                    Temporality::Cumulative => total,
                    Temporality::Delta => total.saturating_sub((d.get)(&seen.last)),
                };
                if value == 0 {
                    continue;
                }
                let attrs = match d.extra {
                    Some((k, v)) => with(base.clone(), k, v),
                    None => base.clone(),
                };
                let value = Number::Int(i64::try_from(value).unwrap_or(i64::MAX));
                let point = NumberPoint { attrs, start_unix_ns: start, value };
                push_sum(metrics, d.name, d.unit, d.description, point);
            }
            if counts.srtt_us > 0 {
                let point =
                    NumberPoint { attrs: base, start_unix_ns: 0, value: Number::Double(counts.srtt_us as f64 / 1e6) };
                metrics.push(Metric {
                    name: "spanwire.tcp.srtt".into(),
                    unit: "s",
                    description: "Latest smoothed round-trip time of the flow's TCP connections.",
                    data: MetricData::Gauge(vec![point]),
                });
            }
            seen.last = *counts;
        }
        if temporality == Temporality::Delta {
            self.previous_start_ns = now_unix_ns;
        }
        let mut out = Vec::with_capacity(by_pid.len());
        for (pid, metrics) in by_pid {
            if metrics.is_empty() {
                continue;
            }
            let comm = comms.get(&pid).map_or_else(|| "unknown".to_string(), comm_of);
            let process = self.procs.get(Pid(pid), None, &comm);
            out.push(ResourceMetrics {
                resource: resource_attributes(&process, host_name()),
                service: Arc::from(process.service_name.as_str()),
                pid,
                metrics: merge_same_name(metrics),
            });
        }
        out
    }

    /// Forgets flows of processes that exited (after their last report) and stale process entries.
    pub fn forget(&mut self, gone: impl Fn(&FlowId) -> bool) {
        self.seen.retain(|id, _| !gone(id));
        self.procs.sweep();
    }
}

/// The kernel's NUL-padded thread name.
fn comm_of(c: &[u8; 16]) -> String {
    let end = c.iter().position(|b| *b == 0).unwrap_or(c.len());
    String::from_utf8_lossy(&c[..end]).into_owned()
}

fn push_sum(
    metrics: &mut Vec<Metric>,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    p: NumberPoint,
) {
    metrics.push(Metric {
        name: name.into(),
        unit,
        description,
        data: MetricData::Sum { monotonic: true, points: vec![p] },
    });
}

/// One `Metric` per name, with all of its points (OTLP expects a metric once per scope).
fn merge_same_name(metrics: Vec<Metric>) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for m in metrics {
        match out.iter_mut().find(|o| o.name == m.name) {
            Some(o) => match (&mut o.data, m.data) {
                (MetricData::Sum { points, .. }, MetricData::Sum { points: more, .. })
                | (MetricData::Gauge(points), MetricData::Gauge(more)) => points.extend(more),
                (_, data) => out.push(Metric { data, ..m }),
            },
            None => out.push(m),
        }
    }
    out
}

/// Which flows are reported: the `run` selection (`--pid`, `--port`, `--exe`), applied to
/// flows the way it applies to connections. Empty: every process.
#[derive(Debug, Clone, Default)]
pub struct FlowSelection {
    pub pids: Vec<u32>,
    pub ports: Vec<u16>,
    pub exes: Vec<String>,
}

impl FlowSelection {
    pub fn from_config(sel: &crate::config::Selection) -> Self {
        FlowSelection { pids: sel.pids.clone(), ports: sel.ports.clone(), exes: sel.exes.clone() }
    }

    fn everything(&self) -> bool {
        self.pids.is_empty() && self.ports.is_empty() && self.exes.is_empty()
    }

    /// `exe` is asked only when an `--exe` selection needs it.
    pub fn selects(&self, id: &FlowId, exe: impl FnOnce() -> String) -> bool {
        self.everything()
            || self.pids.contains(&id.pid)
            || self.ports.contains(&id.port)
            || (!self.exes.is_empty() && self.exes.contains(&exe()))
    }
}

/// Reads the kernel maps each interval.
pub struct NetworkReader {
    flows: BpfHashMap<MapData, FlowKey, FlowValue>,
    counters: PerCpuArray<MapData, u64>,
    agg: FlowAggregator,
    selection: FlowSelection,
    stats: Arc<Stats>,
}

impl NetworkReader {
    pub fn new(
        flows: BpfHashMap<MapData, FlowKey, FlowValue>,
        counters: PerCpuArray<MapData, u64>,
        selection: FlowSelection,
        stats: Arc<Stats>,
        now_unix_ns: u64,
    ) -> Self {
        NetworkReader { flows, counters, agg: FlowAggregator::new(now_unix_ns), selection, stats }
    }

    pub fn collect(&mut self, now_unix_ns: u64, temporality: Temporality) -> Vec<ResourceMetrics> {
        let sum = |idx: u32| self.counters.get(&idx, 0).map(|v| v.iter().sum()).unwrap_or(0);
        self.stats.net_flows_dropped.lost_total(
            sum(sys::sw_net_counter_SW_NET_FLOW_TABLE_FULL),
            "network flow table full: flow updates dropped",
        );
        self.stats.net_sockets_dropped.lost_total(
            sum(sys::sw_net_counter_SW_NET_SOCK_TABLE_FULL),
            "network socket table full: connections not counted in network metrics",
        );
        let mut flows = Vec::new();
        let mut keys = Vec::new();
        for entry in self.flows.iter() {
            // An entry deleted while iterating ends that step with an error; skip it.
            let Ok((k, v)) = entry else { continue };
            let Some(id) = FlowId::from_kernel(&k) else { continue };
            keys.push((id, k));
            let counts = FlowCounts::from(&v);
            let procs = &mut self.agg.procs;
            if self.selection.selects(&id, || procs.get(Pid(id.pid), None, &comm_of(&counts.comm)).exe_name.clone()) {
                flows.push((id, counts));
            }
        }
        let out = self.agg.collect(&flows, now_unix_ns, temporality);
        // Flows of exited processes were just reported for the last time: free their entries.
        let gone = |id: &FlowId| !std::path::Path::new(&format!("/proc/{}", id.pid)).exists();
        for (id, k) in &keys {
            if gone(id) {
                let _ = self.flows.remove(k);
            }
        }
        self.agg.forget(gone);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(port: u16, server: bool) -> FlowId {
        FlowId { pid: std::process::id(), server, peer: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port }
    }

    fn value(rs: &[ResourceMetrics], name: &str, attr: Option<(&str, &str)>) -> Option<Number> {
        rs.iter().flat_map(|r| r.metrics.iter()).filter(|m| m.name == name).find_map(|m| match &m.data {
            MetricData::Sum { points, .. } | MetricData::Gauge(points) => points
                .iter()
                .find(|p| {
                    attr.is_none_or(|(k, v)| {
                        p.attrs.iter().any(|(pk, pv)| *pk == k && *pv == AttrValue::from(v.to_string()))
                    })
                })
                .map(|p| p.value),
            _ => None,
        })
    }

    #[test]
    fn kernel_counts_become_sums_per_direction_and_deltas() {
        let mut agg = FlowAggregator::new(1);
        let c = FlowCounts {
            bytes_sent: 1000,
            bytes_received: 50,
            opened: 2,
            failed_refused: 1,
            retransmits: 3,
            srtt_us: 1500,
            ..Default::default()
        };
        let r = agg.collect(&[(flow(80, false), c)], 10, Temporality::Delta);
        assert_eq!(r.len(), 1, "one resource for the process");
        assert_eq!(value(&r, "spanwire.tcp.io", Some(("network.io.direction", "transmit"))), Some(Number::Int(1000)));
        assert_eq!(value(&r, "spanwire.tcp.io", Some(("network.io.direction", "receive"))), Some(Number::Int(50)));
        assert_eq!(
            value(&r, "spanwire.tcp.connections.failed", Some(("error.type", "connection_refused"))),
            Some(Number::Int(1))
        );
        assert_eq!(
            value(&r, "spanwire.tcp.connections.failed", Some(("error.type", "timed_out"))),
            None,
            "zeros are not sent"
        );
        assert_eq!(value(&r, "spanwire.tcp.srtt", None), Some(Number::Double(0.0015)));
        assert_eq!(r[0].metrics.iter().filter(|m| m.name == "spanwire.tcp.io").count(), 1, "one metric, two points");
        let c2 = FlowCounts { bytes_sent: 1500, ..c };
        let r = agg.collect(&[(flow(80, false), c2)], 20, Temporality::Delta);
        assert_eq!(value(&r, "spanwire.tcp.io", Some(("network.io.direction", "transmit"))), Some(Number::Int(500)));
        assert_eq!(value(&r, "spanwire.tcp.retransmits", None), None);
        let r = agg.collect(&[(flow(80, false), c2)], 30, Temporality::Cumulative);
        assert_eq!(value(&r, "spanwire.tcp.retransmits", None), Some(Number::Int(3)));
    }

    #[test]
    fn selection_applies_to_flows_like_to_connections() {
        let all = FlowSelection::default();
        assert!(all.selects(&flow(80, false), || unreachable!("no exe needed")));
        let ports = FlowSelection { ports: vec![8080], ..Default::default() };
        assert!(ports.selects(&flow(8080, true), String::new));
        assert!(!ports.selects(&flow(80, false), String::new));
        let exes = FlowSelection { exes: vec!["nginx".into()], ..Default::default() };
        assert!(exes.selects(&flow(80, false), || "nginx".into()));
        assert!(!exes.selects(&flow(80, false), || "curl".into()));
    }

    #[test]
    fn kernel_keys_decode_and_garbage_is_rejected() {
        let mut k = FlowKey {
            tgid: 7,
            direction: sys::sw_net_direction_SW_NET_SERVER as u8,
            family: 2,
            port: 8080,
            ..Default::default()
        };
        k.peer[..4].copy_from_slice(&[127, 0, 0, 1]);
        let id = FlowId::from_kernel(&k).expect("valid");
        assert_eq!((id.pid, id.server, id.peer.to_string(), id.port), (7, true, "127.0.0.1".into(), 8080));
        let mut k6 = FlowKey { family: 10, direction: 1, ..k };
        k6.peer = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped().octets();
        assert_eq!(FlowId::from_kernel(&k6).expect("valid").peer.to_string(), "10.1.2.3");
        assert!(FlowId::from_kernel(&FlowKey { family: 1, ..k }).is_none());
        assert!(FlowId::from_kernel(&FlowKey { direction: 9, ..k }).is_none());
    }
}
