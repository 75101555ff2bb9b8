//! Agent configuration: defaults, then a YAML file, then environment, then the command line.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The whole configuration. Every field has a documented default (see `spanwire.example.yaml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub selection: Selection,
    pub capture: CaptureConfig,
    pub export: ExportConfig,
    pub limits: Limits,
    pub logs: LogsConfig,
    pub kubernetes: KubernetesConfig,
    pub metrics: MetricsConfig,
}

/// RED, network and self metrics (docs/metrics.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Export metrics (default true); env SPANWIRE_METRICS=0 turns them off.
    pub enabled: bool,
    /// Collection and export period (default 60000 ms); `OTEL_METRIC_EXPORT_INTERVAL` wins.
    pub export_interval_ms: u64,
    /// Default cumulative; `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` wins.
    pub temporality: crate::metrics::Temporality,
    /// Distinct series per metric family per service (default 1000); beyond it samples go to one
    /// series with `otel.metric.overflow=true`.
    pub series_cap_per_metric: usize,
    /// TCP network metrics from the kernel (default true).
    pub network: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            export_interval_ms: 60_000,
            temporality: crate::metrics::Temporality::Cumulative,
            series_cap_per_metric: 1000,
            network: true,
        }
    }
}

fn parse_switch(field: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        other => Err(ConfigError::Invalid { field, reason: format!("{other:?}: expected 1/0, true/false, on/off") }),
    }
}

/// Kubernetes metadata on resources and peers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesMode {
    /// Use the API when the agent runs in a cluster (`KUBERNETES_SERVICE_HOST`) or a kubeconfig
    /// is configured or found (`KUBECONFIG`, `~/.kube/config`); otherwise quietly do without.
    #[default]
    Auto,
    /// Require the API: startup fails when no client can be configured.
    On,
    /// Never talk to the API; process metadata (and `container.id`) only.
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// `auto` (default), `on` or `off`; env SPANWIRE_KUBERNETES.
    pub mode: KubernetesMode,
    /// A kubeconfig file to use instead of the in-cluster service account (default none);
    /// env SPANWIRE_KUBECONFIG.
    pub kubeconfig: Option<String>,
    /// This node's name, for the node-scoped pod watch (default: env NODE_NAME, set from the
    /// downward API `spec.nodeName`, else the host name).
    pub node_name: Option<String>,
    /// Watch all pods and services (stripped to names, owners and IPs) so that remote IPs of
    /// spans resolve to peer workloads (default true).
    pub peers: bool,
    /// Changes within this window are applied together (default 200 ms).
    pub debounce_ms: u64,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            mode: KubernetesMode::Auto,
            kubeconfig: None,
            node_name: None,
            peers: true,
            debounce_ms: 200,
        }
    }
}

/// stdout/stderr of observed processes as log records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Capture stdout/stderr writes of observed processes (default true); env SPANWIRE_LOGS=0 turns it off.
    pub enabled: bool,
    /// Bytes kept per line, and copied per write (default 1024, at most 4096).
    pub max_line_bytes: u32,
    /// Lines kept from one write (default 16); the rest are counted as dropped.
    pub max_lines_per_write: usize,
    /// stdout/stderr writes captured per process per second, enforced in the kernel (default 200).
    pub rate_per_process_per_s: u64,
    /// A log record for each failed request (server 5xx, client >= 400) (default true).
    pub failed_requests: bool,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            enabled: true,
            max_line_bytes: 1024,
            max_lines_per_write: 16,
            rate_per_process_per_s: 200,
            failed_requests: true,
        }
    }
}

/// Which processes and connections to observe. All empty: every process but the agent.
/// Non-empty lists combine as a union.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Selection {
    pub pids: Vec<u32>,
    /// Connections whose local or remote port is one of these.
    pub ports: Vec<u16>,
    /// Processes whose executable file name (or thread name) is one of these.
    pub exes: Vec<String>,
}

impl Selection {
    pub fn is_everything(&self) -> bool {
        self.pids.is_empty() && self.ports.is_empty() && self.exes.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Payload bytes copied per syscall (default 512, at most 4096).
    pub payload_max_bytes: u32,
    /// Bytes copied per syscall on connections found to speak HTTP/2 (default 4096, max 4096).
    pub http2_payload_max_bytes: u32,
    /// Kernel ring buffer size (default 8 MiB, a power of two).
    pub ring_buffer_bytes: u32,
    /// The reader drains the ring buffer at least this often (default 10 ms).
    pub poll_interval_ms: u64,
    /// The kernel wakes the reader early when this much is waiting (default 256 KiB).
    pub wakeup_bytes: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            payload_max_bytes: 512,
            http2_payload_max_bytes: 4096,
            ring_buffer_bytes: 8 << 20,
            poll_interval_ms: 10,
            wakeup_bytes: 256 << 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// Which generation of the RPC semantic conventions spans use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpcSemconv {
    /// `rpc.system.name`, `rpc.method` = `pkg.Service/Method`, `rpc.response.status_code` (name).
    #[default]
    New,
    /// `rpc.system`, `rpc.service`, `rpc.method` = `Method`, `rpc.grpc.status_code` (number).
    Old,
    /// Both; where a key is shared (`rpc.method`) the new value is kept.
    Dup,
}

impl RpcSemconv {
    /// From `OTEL_SEMCONV_STABILITY_OPT_IN` (comma-separated): `rpc/dup` gives both
    /// generations, `rpc/old` the older one; anything else leaves `current`.
    pub fn from_opt_in(v: &str, current: RpcSemconv) -> RpcSemconv {
        let tokens: Vec<&str> = v.split(',').map(str::trim).collect();
        if tokens.contains(&"rpc/dup") {
            RpcSemconv::Dup
        } else if tokens.contains(&"rpc/old") {
            RpcSemconv::Old
        } else if tokens.contains(&"rpc") {
            RpcSemconv::New
        } else {
            current
        }
    }

    pub fn new_names(self) -> bool {
        self != RpcSemconv::Old
    }

    pub fn old_names(self) -> bool {
        self != RpcSemconv::New
    }
}

impl OtlpProtocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "grpc" => Some(OtlpProtocol::Grpc),
            "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// OTLP endpoint; `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` wins. None and no env: console.
    pub endpoint: Option<String>,
    /// `grpc` or `http/protobuf`; `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` wins. Default http/protobuf.
    pub protocol: Option<OtlpProtocol>,
    /// Spans per export request (default 1024).
    pub batch_max_spans: usize,
    /// Pending spans are exported at least this often (default 1000 ms).
    pub flush_interval_ms: u64,
    /// Timeout of one export call (default 3000 ms), so shutdown finishes within 5 s.
    pub timeout_ms: u64,
    /// Span batches queued for export before new ones are dropped and counted (default 256).
    pub queue_batches: usize,
    /// Export requests in flight at once (default 4).
    pub max_concurrent_exports: usize,
    /// A request that fails transiently (collector down or overloaded) is retried with
    /// backoff for up to this long, holding its slot (default 30000 ms; 0 = no retries).
    pub retry_max_elapsed_ms: u64,
    /// RPC attribute names: `new` (default), `old`, `dup`; `OTEL_SEMCONV_STABILITY_OPT_IN` wins.
    pub rpc_semconv: RpcSemconv,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            endpoint: None,
            protocol: None,
            batch_max_spans: 1024,
            flush_interval_ms: 1000,
            timeout_ms: 3000,
            queue_batches: 256,
            max_concurrent_exports: 4,
            retry_max_elapsed_ms: 30_000,
            rpc_semconv: RpcSemconv::New,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections tracked at once (default 65536); the least recently active is evicted.
    pub max_connections: usize,
    /// Connections idle this long are forgotten (default 300 s).
    pub connection_idle_timeout_s: u64,
    /// Requests awaiting a response per connection (default 64).
    pub max_pending_requests: usize,
    /// Largest HTTP head buffered per connection direction (default 16384).
    pub max_head_bytes: usize,
    /// HTTP/2 streams tracked per connection; beyond it the oldest is evicted (default 256).
    pub http2_max_streams: usize,
    /// Largest HTTP/2 header block buffered per direction (default 16384).
    pub http2_max_header_block_bytes: usize,
    /// Cap on each HPACK dynamic table, whatever the peers negotiate (default 65536).
    pub http2_max_table_size: usize,
    /// Cap on the memory of one HTTP/2 connection's state (default 524288).
    pub http2_max_connection_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 65536,
            connection_idle_timeout_s: 300,
            max_pending_requests: 64,
            max_head_bytes: 16384,
            http2_max_streams: 256,
            http2_max_header_block_bytes: 16384,
            http2_max_table_size: 65536,
            http2_max_connection_bytes: 512 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.display().to_string(), source })
    }

    /// `SPANWIRE_PAYLOAD_MAX_BYTES`, `SPANWIRE_LOGS`, `SPANWIRE_METRICS`, `SPANWIRE_KUBERNETES`,
    /// `SPANWIRE_KUBECONFIG`, `OTEL_METRIC_EXPORT_INTERVAL` and
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` override the file.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("SPANWIRE_LOGS") {
            self.logs.enabled = parse_switch("SPANWIRE_LOGS", &v)?;
        }
        if let Some(v) = env("SPANWIRE_METRICS") {
            self.metrics.enabled = parse_switch("SPANWIRE_METRICS", &v)?;
        }
        if let Some(v) = env("OTEL_METRIC_EXPORT_INTERVAL").filter(|v| !v.trim().is_empty()) {
            self.metrics.export_interval_ms = v.trim().parse().map_err(|e| ConfigError::Invalid {
                field: "OTEL_METRIC_EXPORT_INTERVAL",
                reason: format!("{v:?}: {e} (milliseconds expected)"),
            })?;
        }
        if let Some(v) = env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE").filter(|v| !v.trim().is_empty()) {
            self.metrics.temporality = crate::metrics::Temporality::parse(&v).ok_or_else(|| ConfigError::Invalid {
                field: "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                reason: format!("{v:?}: expected cumulative, delta or lowmemory"),
            })?;
        }
        if let Some(v) = env("SPANWIRE_KUBERNETES") {
            self.kubernetes.mode = match v.trim() {
                "auto" => KubernetesMode::Auto,
                "on" => KubernetesMode::On,
                "off" => KubernetesMode::Off,
                other => {
                    return Err(ConfigError::Invalid {
                        field: "SPANWIRE_KUBERNETES",
                        reason: format!("{other:?}: expected auto, on or off"),
                    })
                }
            };
        }
        if let Some(v) = env("SPANWIRE_KUBECONFIG").filter(|v| !v.trim().is_empty()) {
            self.kubernetes.kubeconfig = Some(v.trim().to_string());
        }
        if let Some(v) = env("OTEL_SEMCONV_STABILITY_OPT_IN") {
            self.export.rpc_semconv = RpcSemconv::from_opt_in(&v, self.export.rpc_semconv);
        }
        if let Some(v) = env("SPANWIRE_PAYLOAD_MAX_BYTES") {
            self.capture.payload_max_bytes = v.trim().parse().map_err(|e| ConfigError::Invalid {
                field: "SPANWIRE_PAYLOAD_MAX_BYTES",
                reason: format!("{v:?}: {e}"),
            })?;
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let max = crate::ebpf::records::MAX_PAYLOAD;
        if self.capture.payload_max_bytes == 0 || self.capture.payload_max_bytes > max {
            return Err(ConfigError::Invalid {
                field: "capture.payload_max_bytes",
                reason: format!("must be 1..={max}, got {}", self.capture.payload_max_bytes),
            });
        }
        if self.capture.http2_payload_max_bytes > max {
            return Err(ConfigError::Invalid {
                field: "capture.http2_payload_max_bytes",
                reason: format!("must be <= {max}, got {}", self.capture.http2_payload_max_bytes),
            });
        }
        if self.logs.max_line_bytes == 0 || self.logs.max_line_bytes > max {
            return Err(ConfigError::Invalid {
                field: "logs.max_line_bytes",
                reason: format!("must be 1..={max}, got {}", self.logs.max_line_bytes),
            });
        }
        if !self.capture.ring_buffer_bytes.is_power_of_two() || self.capture.ring_buffer_bytes < 4096 {
            return Err(ConfigError::Invalid {
                field: "capture.ring_buffer_bytes",
                reason: format!("must be a power of two >= 4096, got {}", self.capture.ring_buffer_bytes),
            });
        }
        if self.export.batch_max_spans == 0
            || self.export.queue_batches == 0
            || self.export.max_concurrent_exports == 0
            || self.limits.max_connections == 0
            || self.limits.http2_max_streams == 0
            || self.limits.http2_max_header_block_bytes == 0
        {
            return Err(ConfigError::Invalid {
                field: "export/limits",
                reason: "batch_max_spans, queue_batches, max_concurrent_exports, max_connections, http2_max_streams \
                         and http2_max_header_block_bytes must be > 0"
                    .into(),
            });
        }
        if self.kubernetes.debounce_ms > 60_000 {
            return Err(ConfigError::Invalid {
                field: "kubernetes.debounce_ms",
                reason: format!("must be at most 60000, got {}", self.kubernetes.debounce_ms),
            });
        }
        if self.metrics.export_interval_ms == 0 || self.metrics.series_cap_per_metric == 0 {
            return Err(ConfigError::Invalid {
                field: "metrics",
                reason: "export_interval_ms and series_cap_per_metric must be > 0".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../spanwire.example.yaml");

    #[test]
    fn documented_example_round_trips_and_equals_defaults() {
        let parsed: Config = serde_yaml::from_str(EXAMPLE).expect("example parses");
        let mut expected = Config::default();
        expected.selection.ports = vec![8080];
        expected.export.endpoint = Some("http://127.0.0.1:4317".into());
        expected.export.protocol = Some(OtlpProtocol::Grpc);
        assert_eq!(parsed, expected);
        let again: Config = serde_yaml::from_str(&serde_yaml::to_string(&parsed).expect("serialise")).expect("reparse");
        assert_eq!(again, parsed);
        parsed.validate().expect("example is valid");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        assert!(serde_yaml::from_str::<Config>("capture:\n  payload_bytes: 10\n").is_err());
        let mut c = Config::default();
        c.capture.payload_max_bytes = 10_000;
        assert!(c.validate().expect_err("must fail").to_string().contains("payload_max_bytes"));
        let mut c = Config::default();
        assert!(c.apply_env(|_| Some("lots".into())).is_err());
        c.apply_env(|k| (k == "SPANWIRE_PAYLOAD_MAX_BYTES").then(|| "1024".into())).expect("valid");
        assert_eq!(c.capture.payload_max_bytes, 1024);
        let err = c.apply_env(|k| (k == "SPANWIRE_KUBERNETES").then(|| "maybe".into())).expect_err("bad mode");
        assert!(err.to_string().contains("SPANWIRE_KUBERNETES"), "{err}");
        c.apply_env(|k| match k {
            "SPANWIRE_KUBERNETES" => Some("on".into()),
            "SPANWIRE_KUBECONFIG" => Some("/etc/kube.yaml".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(c.kubernetes.mode, KubernetesMode::On);
        assert_eq!(c.kubernetes.kubeconfig.as_deref(), Some("/etc/kube.yaml"));
        assert!(serde_yaml::from_str::<Config>("kubernetes:\n  mode: sometimes\n").is_err());
    }

    #[test]
    fn metrics_env_overrides_and_rejects_garbage() {
        let mut c = Config::default();
        let vars = [
            ("OTEL_METRIC_EXPORT_INTERVAL", "250"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
            ("SPANWIRE_METRICS", "off"),
        ];
        c.apply_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).expect("valid");
        assert_eq!(c.metrics.export_interval_ms, 250);
        assert_eq!(c.metrics.temporality, crate::metrics::Temporality::Delta);
        assert!(!c.metrics.enabled);
        let e = Config::default()
            .apply_env(|k| (k == "OTEL_METRIC_EXPORT_INTERVAL").then(|| "1m".into()))
            .expect_err("not a number");
        assert!(e.to_string().contains("OTEL_METRIC_EXPORT_INTERVAL"), "{e}");
        let e = Config::default()
            .apply_env(|k| (k == "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE").then(|| "sometimes".into()))
            .expect_err("unknown temporality");
        assert!(e.to_string().contains("TEMPORALITY"), "{e}");
        let mut c = Config::default();
        c.metrics.series_cap_per_metric = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn rpc_semconv_opt_in() {
        use RpcSemconv::*;
        assert_eq!(RpcSemconv::from_opt_in("http,rpc/dup", New), Dup);
        assert_eq!(RpcSemconv::from_opt_in(" rpc/old ", New), Old);
        assert_eq!(RpcSemconv::from_opt_in("rpc", Old), New);
        assert_eq!(RpcSemconv::from_opt_in("http/dup", Old), Old);
        let mut c = Config::default();
        c.apply_env(|k| (k == "OTEL_SEMCONV_STABILITY_OPT_IN").then(|| "rpc/dup".into())).expect("valid");
        assert_eq!(c.export.rpc_semconv, Dup);
        assert!(Dup.new_names() && Dup.old_names() && New.new_names() && !New.old_names() && !Old.new_names());
    }
}
