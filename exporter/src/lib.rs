//! spanwire: a zero-instrumentation eBPF agent that turns observed socket traffic into
//! OpenTelemetry spans. See docs/architecture.md.

pub mod agent;
pub mod clock;
pub mod config;
pub mod conn;
pub mod decorate;
pub mod ebpf;
pub mod export;
pub mod fast_map;
pub mod metrics;
pub mod pipeline;
pub mod protocol;
pub mod request;
pub mod signals;
pub mod stats;
pub mod trace;
