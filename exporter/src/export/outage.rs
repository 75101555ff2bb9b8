//! Export outages: one warning when exports of a signal start failing and one info line when
//! they succeed again, so a collector that is down for a minute costs two log lines, not one
//! per batch. What was lost is counted in the stats either way.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// The export health of one signal (spans, logs, metric points).
#[derive(Debug)]
pub struct Outage {
    signal: &'static str,
    /// Set while failing: successful exports check only this.
    failing: AtomicBool,
    current: Mutex<Summary>,
}

/// What one outage cost.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub failed_requests: u64,
    pub lost: u64,
}

impl Outage {
    pub fn new(signal: &'static str) -> Self {
        Outage { signal, failing: AtomicBool::new(false), current: Mutex::new(Summary::default()) }
    }

    /// An export of `lost` items failed. Warns (and returns true) when this starts an outage.
    pub fn failed(&self, error: &dyn Display, lost: u64) -> bool {
        let mut s = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let started = !self.failing.swap(true, Ordering::Relaxed);
        if started {
            *s = Summary::default();
            tracing::warn!(
                %error,
                lost,
                "{} export failed: transient failures are retried (spans, logs), what still fails is \
                 dropped and counted in spanwire_stats (warned once per outage)",
                self.signal
            );
        }
        s.failed_requests += 1;
        s.lost += lost;
        started
    }

    /// Items given up on after retries (the failures themselves were reported by `failed`).
    pub fn lost(&self, n: u64) {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).lost += n;
    }

    /// An export succeeded. Ends an outage (logging what it cost, and returning it) if one was on.
    pub fn succeeded(&self) -> Option<Summary> {
        if !self.failing.load(Ordering::Relaxed) {
            return None;
        }
        let s = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.failing.swap(false, Ordering::Relaxed) {
            return None;
        }
        tracing::info!(
            failed_requests = s.failed_requests,
            lost = s.lost,
            "{} export recovered after an outage",
            self.signal
        );
        Some(*s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outage_per_run_of_failures() {
        let o = Outage::new("span");
        assert_eq!(o.succeeded(), None, "no outage yet");
        assert!(o.failed(&"refused", 10), "the first failure starts an outage");
        assert!(!o.failed(&"refused", 5), "later failures are the same outage");
        assert_eq!(o.succeeded(), Some(Summary { failed_requests: 2, lost: 15 }));
        assert_eq!(o.succeeded(), None, "recovered once");
        assert!(o.failed(&"refused", 1), "a new failure is a new outage");
        assert_eq!(o.succeeded(), Some(Summary { failed_requests: 1, lost: 1 }));
    }
}
