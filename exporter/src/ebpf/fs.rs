//! Pseudo-filesystems the programs need: tracefs (tracepoint ids) and bpffs.

use std::path::Path;

pub const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("tracefs is not mounted and could not be mounted at {TRACEFS}; run as root or `mount -t tracefs nodev {TRACEFS}`")]
    Mount {
        #[source]
        source: std::io::Error,
    },
}

/// Whether the syscall tracepoints are visible (tracefs mounted somewhere aya looks).
pub fn tracefs_ready() -> bool {
    Path::new(TRACEFS).join("events/syscalls").is_dir() || Path::new(DEBUGFS_TRACING).join("events/syscalls").is_dir()
}

/// Mounts tracefs at /sys/kernel/tracing unless it is already available.
pub fn ensure_tracefs() -> Result<(), FsError> {
    if tracefs_ready() {
        return Ok(());
    }
    let rc = mount("nodev", TRACEFS, "tracefs");
    if rc != 0 {
        return Err(FsError::Mount { source: std::io::Error::last_os_error() });
    }
    if !tracefs_ready() {
        return Err(FsError::Mount {
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "events/syscalls missing after mount"),
        });
    }
    tracing::info!(path = TRACEFS, "mounted tracefs");
    Ok(())
}

fn mount(source: &str, target: &str, fstype: &str) -> i32 {
    let (Ok(s), Ok(t), Ok(f)) =
        (std::ffi::CString::new(source), std::ffi::CString::new(target), std::ffi::CString::new(fstype))
    else {
        return -1;
    };
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call; data is null.
    unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, std::ptr::null()) }
}
