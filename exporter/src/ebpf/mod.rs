//! Kernel side of the agent: load and attach the programs, read the ring buffer, check
//! capabilities.

pub mod check;
pub mod exe_watch;
pub mod fs;
pub mod loader;
pub mod net;
pub mod pid_set;
pub mod reader;
pub mod records;

/// The compiled kernel object (built by build.rs from exporter-ebpf/).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/spanwire.bpf.o"));
