//! Drains the ring buffer into batches of decoded events.
//!
//! The kernel wakes the reader only when a lot of data is waiting (`BPF_RB_NO_WAKEUP`
//! otherwise, which is ~4x cheaper per event); a timer drains whatever arrived in between.

use std::sync::Arc;
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::loader::read_counters;
use super::records::{decode, RawEvent};
use crate::stats::Stats;

/// Events per batch handed to the next stage.
pub const BATCH_MAX: usize = 2048;

pub struct Reader {
    pub ring: RingBuf<MapData>,
    pub counters: PerCpuArray<MapData, u64>,
    pub stats: Arc<Stats>,
    pub poll_interval: Duration,
}

impl Reader {
    /// Runs until cancelled, then drains what is left and returns.
    pub async fn run(self, tx: mpsc::Sender<Vec<RawEvent>>, cancel: CancellationToken) -> std::io::Result<()> {
        let Reader { ring, counters, stats, poll_interval } = self;
        // SAFETY: the ring buffer owns its map fd, which stays open and unchanged for as long
        // as the AsyncFd (which owns the RingBuf) lives.
        let mut ring = unsafe { AsyncFd::register(ring) }.map_err(|e| e.into_parts().1)?;
        let mut tick = tokio::time::interval(poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut counter_tick = tokio::time::interval(Duration::from_secs(1));
        let mut capacity = 64;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                guard = ring.readable_mut() => guard?.clear_ready(),
                _ = tick.tick() => {}
                _ = counter_tick.tick() => update_kernel_counters(&counters, &stats),
            }
            if !drain(ring.get_mut(), &tx, &stats, &mut capacity).await {
                return Ok(());
            }
        }
        drain(ring.get_mut(), &tx, &stats, &mut capacity).await;
        update_kernel_counters(&counters, &stats);
        Ok(())
    }
}

/// Sends everything in the ring buffer downstream; false when the receiver is gone.
/// Batches are sized like the previous one plus a margin (`capacity`): no regrowth at a steady
/// rate, and no full-size batches held in the channel when traffic is light.
async fn drain(
    ring: &mut RingBuf<MapData>,
    tx: &mpsc::Sender<Vec<RawEvent>>,
    stats: &Stats,
    capacity: &mut usize,
) -> bool {
    loop {
        let mut batch = Vec::with_capacity(*capacity);
        while batch.len() < BATCH_MAX {
            let Some(item) = ring.next() else { break };
            match decode(&item) {
                Ok(ev) => batch.push(ev),
                Err(e) => stats.decode_errors.lost(1, leak_reason(&e)),
            }
        }
        if batch.is_empty() {
            return true;
        }
        let full = batch.len() == BATCH_MAX;
        *capacity = (batch.len() + batch.len() / 4 + 16).min(BATCH_MAX);
        stats.events_received.add(batch.len() as u64);
        // Backpressure: while the next stage is busy the kernel fills the ring and counts drops.
        if tx.send(batch).await.is_err() {
            return false;
        }
        if !full {
            return true;
        }
    }
}

fn leak_reason(e: &super::records::DecodeError) -> &'static str {
    match e {
        super::records::DecodeError::Short { .. } => "ring buffer record shorter than its header",
        super::records::DecodeError::PayloadLength { .. } => "ring buffer record with inconsistent payload length",
        super::records::DecodeError::Kind(_) => "ring buffer record of unknown kind",
        super::records::DecodeError::Family(_) => "ring buffer record with unknown address family",
    }
}

fn update_kernel_counters(map: &PerCpuArray<MapData, u64>, stats: &Stats) {
    let k = read_counters(map);
    stats
        .ringbuf_dropped
        .lost_total(k.ringbuf_full, "ring buffer full: the kernel dropped events; raise ring_buffer_bytes");
    stats.kernel_args_dropped.lost_total(k.args_table_full, "in-flight syscall table full: the kernel dropped events");
    stats.payload_faults.lost_total(k.payload_fault, "payload could not be read from user memory");
    stats
        .log_rate_limited
        .lost_total(k.log_rate_limited, "stdout/stderr writes over the per-process rate were not captured");
}
