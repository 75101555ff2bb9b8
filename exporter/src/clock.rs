//! Kernel timestamps (`bpf_ktime_get_ns`, CLOCK_MONOTONIC) to wall-clock time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Offset between CLOCK_REALTIME and CLOCK_MONOTONIC, re-measured by `resync` so NTP
/// adjustments of the wall clock are followed.
#[derive(Debug)]
pub struct Clock {
    offset_ns: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        let c = Clock { offset_ns: AtomicI64::new(0) };
        c.resync();
        c
    }
}

impl Clock {
    /// Measures the offset, bracketing the wall-clock read between two monotonic reads.
    pub fn resync(&self) {
        let before = monotonic_ns();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        let after = monotonic_ns();
        let mono_mid = before / 2 + after / 2;
        self.offset_ns.store(wall - mono_mid as i64, Ordering::Relaxed);
    }

    pub fn to_system_time(&self, mono_ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.to_unix_nanos(mono_ns))
    }

    /// Nanoseconds since the Unix epoch, as OTLP timestamps are.
    pub fn to_unix_nanos(&self, mono_ns: u64) -> u64 {
        (mono_ns as i64 + self.offset_ns.load(Ordering::Relaxed)).max(0) as u64
    }
}

/// CLOCK_MONOTONIC now, the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the valid timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_now_maps_to_wall_now() {
        let c = Clock::default();
        let mapped = c.to_system_time(monotonic_ns());
        let now = SystemTime::now();
        let diff = now.duration_since(mapped).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_millis(5), "clock mapping off by {diff:?}");
    }
}
