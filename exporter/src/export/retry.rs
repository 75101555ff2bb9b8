//! Retrying failed OTLP exports: exponential backoff with jitter for the failures the OTLP
//! specification calls transient (gRPC UNAVAILABLE and friends, HTTP 429/502/503/504,
//! connection errors and timeouts), bounded by a total time per request. While a request is
//! retried it keeps its export slot, so a dead collector backs up into the bounded queues
//! before the export stage (whose drops are counted) instead of growing memory.
//!
//! Failed attempts and recoveries are reported to the signal's `Outage` (one warning per outage).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use tokio_util::sync::CancellationToken;

use super::otlp::ExportError;
use super::outage::Outage;
use crate::stats::Stats;

/// How long and how often one request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No new attempt starts later than this after the first one; zero disables retries.
    pub max_elapsed: Duration,
}

impl RetryPolicy {
    pub fn new(max_elapsed: Duration) -> Self {
        RetryPolicy { initial_backoff: Duration::from_millis(250), max_backoff: Duration::from_secs(5), max_elapsed }
    }
}

/// Whether a failure may succeed when tried again (OTLP spec, "Failures"). RESOURCE_EXHAUSTED
/// is retryable there only with RetryInfo; without it (e.g. a message over the server's size
/// limit) retrying cannot help, so it is not retried.
pub fn retryable(error: &ExportError) -> bool {
    use tonic::Code;
    match error {
        ExportError::Grpc(status) => matches!(
            status.code(),
            Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unavailable
                | Code::DataLoss
        ),
        ExportError::Http(e) => !(e.is_builder() || e.is_redirect() || e.is_decode()),
        ExportError::HttpStatus { status } => matches!(status, 429 | 502 | 503 | 504),
    }
}

/// The export slot a request holds while it is sent (given back while it waits to retry), and
/// the bound on requests waiting to retry.
pub struct Slots<'a> {
    pub pool: &'a Arc<Semaphore>,
    pub held: Option<OwnedSemaphorePermit>,
    pub waiting: &'a Semaphore,
}

/// Runs `attempt` until it succeeds, fails for good, runs out of time, or `cancel` fires
/// (shutdown: no more waiting). Returns the last error when it gives up.
pub async fn export_with_retry<F, Fut>(
    policy: &RetryPolicy,
    outage: &Outage,
    stats: &Stats,
    cancel: &CancellationToken,
    mut slots: Slots<'_>,
    mut attempt: F,
) -> Result<(), ExportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ExportError>>,
{
    let start = Instant::now();
    let mut backoff = policy.initial_backoff;
    // Held from the first wait until this request is done.
    let mut waiting = None;
    loop {
        let error = match attempt().await {
            Ok(()) => {
                outage.succeeded();
                return Ok(());
            }
            Err(e) => e,
        };
        stats.export_failures.add(1);
        outage.failed(&error, 0);
        let wait = jitter(backoff);
        if !retryable(&error) || cancel.is_cancelled() || start.elapsed() + wait > policy.max_elapsed {
            return Err(error);
        }
        if waiting.is_none() {
            match slots.waiting.try_acquire() {
                Ok(p) => waiting = Some(p),
                Err(_) => return Err(error),
            }
        }
        drop(slots.held.take());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Err(error),
        }
        slots.held = tokio::select! {
            p = slots.pool.clone().acquire_owned() => Some(p.map_err(|_| error)?),
            _ = cancel.cancelled() => return Err(error),
        };
        stats.export_retries.add(1);
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

/// 50-100 % of `d`, so exporters that failed together do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|t| t.subsec_nanos()).unwrap_or(0);
    let frac = 0.5 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(frac)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn waiting_requests_are_bounded_and_give_their_slot_back() {
        let (pool, waiting) = (Arc::new(Semaphore::new(2)), Semaphore::new(1));
        let (stats, outage) = (Stats::default(), Outage::new("span"));
        let _other_waiter = waiting.try_acquire().expect("free");
        let tries = AtomicUsize::new(0);
        let result = export_with_retry(
            &policy(60_000),
            &outage,
            &stats,
            &CancellationToken::new(),
            slots(&pool, &waiting),
            || {
                tries.fetch_add(1, Ordering::SeqCst);
                async { Err(unavailable()) }
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1, "no room to wait: dropped after one attempt");
        assert_eq!(pool.available_permits(), 2, "slot given back");
    }

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn unavailable() -> ExportError {
        ExportError::Grpc(tonic::Status::unavailable("collector down"))
    }

    fn slots<'a>(pool: &'a Arc<Semaphore>, waiting: &'a Semaphore) -> Slots<'a> {
        Slots { pool, held: pool.clone().try_acquire_owned().ok(), waiting }
    }

    fn policy(max_elapsed_ms: u64) -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_elapsed: Duration::from_millis(max_elapsed_ms),
        }
    }

    #[test]
    fn classification_follows_the_otlp_spec() {
        assert!(retryable(&unavailable()));
        assert!(retryable(&ExportError::HttpStatus { status: 503 }));
        assert!(retryable(&ExportError::HttpStatus { status: 429 }));
        assert!(!retryable(&ExportError::HttpStatus { status: 400 }));
        assert!(!retryable(&ExportError::Grpc(tonic::Status::invalid_argument("bad"))));
        assert!(!retryable(&ExportError::Grpc(tonic::Status::unauthenticated("no"))));
        assert!(!retryable(&ExportError::Grpc(tonic::Status::resource_exhausted("message too large"))));
    }

    #[tokio::test]
    async fn retries_transient_failures_until_success() {
        let (pool, waiting) = (Arc::new(Semaphore::new(1)), Semaphore::new(1));
        let (stats, outage, tries) = (Stats::default(), Outage::new("span"), AtomicUsize::new(0));
        let result = export_with_retry(
            &policy(10_000),
            &outage,
            &stats,
            &CancellationToken::new(),
            slots(&pool, &waiting),
            || {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 3 {
                        Err(unavailable())
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await;
        assert!(result.is_ok());
        assert_eq!(tries.load(Ordering::SeqCst), 4);
        assert_eq!(stats.export_retries.get(), 3);
        assert_eq!(stats.export_failures.get(), 3);
        assert_eq!(outage.succeeded(), None, "the success already ended the outage");
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let (pool, waiting) = (Arc::new(Semaphore::new(1)), Semaphore::new(1));
        let (stats, outage, tries) = (Stats::default(), Outage::new("span"), AtomicUsize::new(0));
        let result = export_with_retry(
            &policy(10_000),
            &outage,
            &stats,
            &CancellationToken::new(),
            slots(&pool, &waiting),
            || {
                tries.fetch_add(1, Ordering::SeqCst);
                async { Err(ExportError::HttpStatus { status: 400 }) }
            },
        )
        .await;
        assert!(matches!(result, Err(ExportError::HttpStatus { status: 400 })));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_elapsed_and_on_cancel() {
        let (pool, waiting) = (Arc::new(Semaphore::new(1)), Semaphore::new(1));
        let (stats, outage) = (Stats::default(), Outage::new("span"));
        let start = Instant::now();
        let result = export_with_retry(
            &policy(30),
            &outage,
            &stats,
            &CancellationToken::new(),
            slots(&pool, &waiting),
            || async { Err(unavailable()) },
        )
        .await;
        assert!(result.is_err());
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(stats.export_retries.get() >= 2, "{}", stats.export_retries.get());

        let cancel = CancellationToken::new();
        cancel.cancel();
        let tries = AtomicUsize::new(0);
        let result = export_with_retry(&policy(60_000), &outage, &stats, &cancel, slots(&pool, &waiting), || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err(unavailable()) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1, "shutdown: one attempt, no waiting");
    }
}
