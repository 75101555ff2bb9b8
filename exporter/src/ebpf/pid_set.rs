//! The kernel's set of selected processes (`--pid`, `--exe`): a bitmap over every possible
//! pid in an array map. Every read/write syscall on the machine asks the kernel programs
//! whether its process is selected; an array lookup is inlined by the verifier, where a hash
//! lookup costs a helper call and a bucket walk (measured in docs/benchmarks.md).

use aya::maps::{Array, MapData, MapError};

/// Pids are below `PID_MAX_LIMIT` (2^22 on 64-bit Linux); one bit each.
pub const PID_WORDS: u32 = 1 << 16;

pub struct PidSet {
    words: Array<MapData, u64>,
}

impl PidSet {
    pub fn new(words: Array<MapData, u64>) -> Self {
        Self { words }
    }

    pub fn insert(&mut self, pid: u32) -> Result<(), MapError> {
        self.update(pid, true)
    }

    pub fn remove(&mut self, pid: u32) -> Result<(), MapError> {
        self.update(pid, false)
    }

    /// Read-modify-write of the pid's word: the agent has one writer at a time (the loader,
    /// then the `--exe` watcher), and the kernel programs only read.
    fn update(&mut self, pid: u32, on: bool) -> Result<(), MapError> {
        let (word, bit) = locate(pid).ok_or(MapError::OutOfBounds { index: pid >> 6, max_entries: PID_WORDS })?;
        let old = self.words.get(&word, 0)?;
        let new = if on { old | bit } else { old & !bit };
        if new != old {
            self.words.set(word, new, 0)?;
        }
        Ok(())
    }
}

/// The word index and bit mask of `pid`, or None past the largest possible pid.
pub fn locate(pid: u32) -> Option<(u32, u64)> {
    let word = pid >> 6;
    (word < PID_WORDS).then(|| (word, 1u64 << (pid & 63)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_map_to_one_bit_each_and_the_largest_pid_fits() {
        assert_eq!(locate(0), Some((0, 1)));
        assert_eq!(locate(63), Some((0, 1 << 63)));
        assert_eq!(locate(64), Some((1, 1)));
        assert_eq!(locate((1 << 22) - 1), Some((PID_WORDS - 1, 1 << 63)));
        assert_eq!(locate(1 << 22), None);
    }
}
