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

/// Runs a program load on a thread of its own. aya parses the kernel's BTF (5.5 MB here) into
/// ~25 MB of objects for every object it loads; freed on a long-lived thread, mimalloc kept those
/// pages resident (idle RSS 30 MB of heap). Freed by a thread that then exits, they go back to
/// the arena, and [`release_load_memory`] returns them to the OS.
fn on_scratch_thread<T: Send>(
    load: impl FnOnce() -> Result<T, loader::LoadError> + Send,
) -> Result<T, loader::LoadError> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("spanwire-load".into())
            .spawn_scoped(s, load)
            .map_err(|e| loader::LoadError::Thread(e.to_string()))?;
        handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Returns the memory freed by the program loads to the OS now. mimalloc purges freed arena pages
/// lazily, on later arena activity, which a busy agent may not cause for minutes (anonymous RSS
/// stayed at 26 MB through a 45 s benchmark; 3 MB once purged).
pub fn release_load_memory() {
    // SAFETY: mi_collect has no preconditions; it only frees memory no live allocation uses.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
