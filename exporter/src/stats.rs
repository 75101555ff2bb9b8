//! The agent's own loss and throughput counters. Every place that drops something counts it
//! here and logs the first occurrence of each kind (never per event). The totals are printed
//! as one `spanwire_stats {json}` line at exit and logged periodically.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $field:ident => $name:literal ),* $(,)?) => {
        /// Self-telemetry counters, shared by all pipeline stages.
        #[derive(Debug, Default)]
        pub struct Stats {
            $( $(#[$doc])* pub $field: Counter, )*
        }

        impl Stats {
            /// `(metric name, value)` for every counter, in a stable order.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![ $( ($name, self.$field.get()), )* ]
            }
        }
    };
}

counters! {
    /// Records read from the ring buffer.
    events_received => "events_received_total",
    /// Events the kernel could not write because the ring buffer was full.
    ringbuf_dropped => "ringbuf_dropped_events_total",
    /// Events whose syscall arguments could not be stashed (in-flight table full).
    kernel_args_dropped => "kernel_args_dropped_events_total",
    /// Payload reads from user memory that faulted (event sent without payload).
    payload_faults => "payload_read_faults_total",
    /// stdout/stderr writes not captured: over the per-process rate (kernel token bucket).
    log_rate_limited => "log_writes_rate_limited_total",
    /// Log lines not exported: more lines in one write than allowed, or the queue was full.
    log_lines_dropped => "log_lines_dropped_total",
    /// Log records created (application lines and failed-request events).
    logs_created => "log_records_created_total",
    /// Log records exported.
    logs_exported => "log_records_exported_total",
    /// Log records lost because an export failed.
    logs_export_failed => "log_records_export_failed_total",
    /// Ring-buffer records that did not decode.
    decode_errors => "event_decode_errors_total",
    /// HTTP/1 heads that did not parse.
    http_parse_errors => "http_parse_errors_total",
    /// HTTP responses with no pending request (capture started mid-exchange, or lost request).
    http_unmatched_responses => "http_unmatched_responses_total",
    /// Requests discarded without a response (connection closed, evicted, or too many pending).
    http_unmatched_requests => "http_unmatched_requests_total",
    /// HTTP/1 heads cut off by the connection closing (slow or aborted peers).
    http_truncated_heads => "http_truncated_heads_total",
    /// Segments skipped while looking for the start of a message.
    http_skipped_segments => "http_skipped_segments_total",
    /// Messages whose body framing was lost to the capture limit.
    http_lost_sync => "http_lost_sync_total",
    /// HTTP/2 frames that broke the protocol.
    http2_frame_errors => "http2_frame_errors_total",
    /// HTTP/2 header blocks HPACK could not decode.
    http2_hpack_errors => "http2_hpack_errors_total",
    /// Times an HPACK dynamic table state became unknown (attributes left out until it is known again).
    http2_hpack_desync => "http2_hpack_desync_total",
    /// HTTP/2 frame headers that fell in uncaptured bytes.
    http2_lost_sync => "http2_lost_sync_total",
    /// HTTP/2 streams dropped by the per-connection stream or memory bound.
    http2_streams_evicted => "http2_streams_evicted_total",
    /// HTTP/2 header blocks not fully decoded (cut, too large, unknown table entries).
    http2_unknown_headers => "http2_unknown_headers_total",
    /// HTTP/2 streams whose request was never seen (not turned into spans).
    http2_orphan_streams => "http2_orphan_streams_total",
    /// HTTP/1.1 connections that switched to HTTP/2 with `Upgrade: h2c`.
    h2c_upgrades => "h2c_upgrades_total",
    /// Client requests left without a parent because several server requests in flight in
    /// their process could own them (thread linking refused to guess).
    link_ambiguous => "link_ambiguous_total",
    /// Connections evicted from the connection table (idle or table full).
    conn_evicted => "connections_evicted_total",
    /// Spans handed to the exporter.
    spans_created => "spans_created_total",
    /// Spans dropped because the export queue was full.
    spans_queue_dropped => "spans_queue_dropped_total",
    /// Spans successfully exported.
    spans_exported => "spans_exported_total",
    /// Spans lost because an export failed.
    spans_export_failed => "spans_export_failed_total",
    /// Failed export calls (every attempt, retried or not).
    export_failures => "export_failures_total",
    /// Export attempts repeated after a transient failure (collector down, overloaded).
    export_retries => "export_retries_total",
    /// Path segments collapsed into `*` while deriving `http.route`.
    route_segments_collapsed => "http_route_segments_collapsed_total",
    /// Request samples recorded into a service's overflow series (series cap reached).
    metric_series_overflow => "metric_series_overflow_samples_total",
    /// Metric data points exported.
    metric_points_exported => "metric_points_exported_total",
    /// Metric data points lost because an export failed.
    metric_points_export_failed => "metric_points_export_failed_total",
    /// Network flow updates the kernel could not record (flow table full).
    net_flows_dropped => "network_flow_updates_dropped_total",
    /// Sockets the kernel could not track for network metrics (socket table full).
    net_sockets_dropped => "network_sockets_untracked_total",
}

impl Stats {
    /// The exit summary: `spanwire_stats {"events_received_total":…,…}`.
    pub fn summary_line(&self) -> String {
        let body: Vec<String> = self.snapshot().iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("spanwire_stats {{{}}}", body.join(","))
    }
}

/// A monotonically increasing counter that logs once, the first time it moves.
#[derive(Debug, Default)]
pub struct Counter {
    value: AtomicU64,
    logged: AtomicBool,
}

impl Counter {
    pub fn add(&self, n: u64) {
        if n > 0 {
            self.value.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Raises the counter to an absolute total summed elsewhere (kernel maps), logging once
    /// the first time it becomes non-zero.
    pub fn lost_total(&self, total: u64, what: &'static str) {
        let before = self.value.fetch_max(total, Ordering::Relaxed);
        if total > before {
            self.log_once(total - before, what);
        }
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Adds `n` lost items and logs a warning the first time anything is lost of this kind.
    pub fn lost(&self, n: u64, what: &'static str) {
        if n == 0 {
            return;
        }
        self.add(n);
        self.log_once(n, what);
    }

    fn log_once(&self, n: u64, what: &'static str) {
        if !self.logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(count = n, "{what} (logged once; see spanwire_stats for totals)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_every_counter_as_json() {
        let s = Stats::default();
        s.http_parse_errors.lost(3, "bad http");
        s.http_parse_errors.lost(2, "bad http");
        s.ringbuf_dropped.lost_total(7, "ring full");
        s.ringbuf_dropped.lost_total(5, "ring full");
        let line = s.summary_line();
        assert!(line.starts_with("spanwire_stats {\"events_received_total\":0,"), "{line}");
        assert!(line.contains("\"http_parse_errors_total\":5"), "{line}");
        assert!(line.contains("\"ringbuf_dropped_events_total\":7"), "{line}");
        assert!(line.ends_with('}'));
    }
}
