//! Kubernetes metadata: which pod, workload and service a process (or a remote IP) belongs to.
//!
//! [`start`] decides whether the API is used at all (see [`KubernetesMode`]), builds a kube
//! client and spawns the watchers; [`K8sMetadata`] is the lookup API the resource builder
//! (`ProcessCache`) and the peer enrichment of spans use.

pub mod meta;
pub mod objects;
pub mod peer;
pub mod store;
pub mod strip;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio_util::sync::CancellationToken;

use crate::config::{KubernetesConfig, KubernetesMode};
pub use store::{K8sMetadata, Peer, PodContainer};

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("cannot read kubeconfig {path}: fix the file or the kubernetes.kubeconfig / SPANWIRE_KUBECONFIG setting")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("in-cluster Kubernetes configuration failed (service account token or KUBERNETES_SERVICE_HOST/PORT)")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("cannot build the Kubernetes client")]
    Client(#[source] kube::Error),
    #[error(
        "kubernetes.mode is on but no API is configured: run in a pod, set KUBECONFIG, or set kubernetes.kubeconfig"
    )]
    NotConfigured,
}

/// Where the client configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Kubeconfig(Option<PathBuf>),
    InCluster,
}

/// Picks the client configuration: an explicit kubeconfig, then the in-cluster service
/// account, then `KUBECONFIG` / `~/.kube/config`. `None`: no Kubernetes here.
pub fn source(cfg: &KubernetesConfig, env: impl Fn(&str) -> Option<String>) -> Option<Source> {
    if cfg.mode == KubernetesMode::Off {
        return None;
    }
    if let Some(path) = &cfg.kubeconfig {
        return Some(Source::Kubeconfig(Some(PathBuf::from(path))));
    }
    if env("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty()) {
        return Some(Source::InCluster);
    }
    if let Some(path) = env("KUBECONFIG").filter(|p| !p.is_empty()) {
        return Some(Source::Kubeconfig(Some(PathBuf::from(path))));
    }
    let home = env("HOME").map(|h| Path::new(&h).join(".kube/config"));
    home.filter(|p| p.is_file()).map(|p| Source::Kubeconfig(Some(p)))
}

/// This node's name: the config, then `NODE_NAME` (downward API), then the host name.
pub fn node_name(cfg: &KubernetesConfig, env: impl Fn(&str) -> Option<String>, host_name: &str) -> String {
    cfg.node_name
        .clone()
        .or_else(|| env("NODE_NAME"))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| host_name.to_string())
}

/// A running metadata source.
pub struct K8s {
    pub metadata: Arc<K8sMetadata>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts watching when the configuration says so. `Ok(None)`: process metadata only (logged
/// once at info level, not an error).
pub async fn start(
    cfg: &KubernetesConfig,
    host_name: &str,
    cancel: CancellationToken,
) -> Result<Option<K8s>, K8sError> {
    start_with_env(cfg, host_name, cancel, |k| std::env::var(k).ok()).await
}

async fn start_with_env(
    cfg: &KubernetesConfig,
    host_name: &str,
    cancel: CancellationToken,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<K8s>, K8sError> {
    let Some(source) = source(cfg, &env) else {
        if cfg.mode == KubernetesMode::On {
            return Err(K8sError::NotConfigured);
        }
        tracing::info!(mode = ?cfg.mode, "no Kubernetes API configured: resources carry process metadata only");
        return Ok(None);
    };
    let config = match client_config(&source).await {
        Ok(c) => c,
        // Found rather than configured (in-cluster env, KUBECONFIG, ~/.kube/config) in auto
        // mode: a broken one must not stop the agent.
        Err(e) if cfg.mode == KubernetesMode::Auto && cfg.kubeconfig.is_none() => {
            tracing::warn!(error = %e, "Kubernetes client configuration unusable: resources carry process metadata only");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).map_err(K8sError::Client)?;
    let settings = watch::WatchSettings {
        node_name: node_name(cfg, &env, host_name),
        peers: cfg.peers,
        debounce: Duration::from_millis(cfg.debounce_ms),
    };
    tracing::info!(?source, server, node = settings.node_name, peers = settings.peers, "watching Kubernetes metadata");
    let metadata = Arc::new(K8sMetadata::default());
    let task = watch::spawn(client, settings, metadata.clone(), cancel);
    Ok(Some(K8s { metadata, task }))
}

async fn client_config(source: &Source) -> Result<kube::Config, K8sError> {
    match source {
        Source::InCluster => kube::Config::incluster().map_err(K8sError::InCluster),
        Source::Kubeconfig(path) => {
            let path = path.clone().unwrap_or_default();
            let err = |source| K8sError::Kubeconfig { path: path.display().to_string(), source };
            let kubeconfig = Kubeconfig::read_from(&path).map_err(err)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.map_err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_precedence() {
        let mut cfg = KubernetesConfig::default();
        let none = |_: &str| None;
        let in_cluster = |k: &str| (k == "KUBERNETES_SERVICE_HOST").then(|| "10.0.0.1".to_string());
        assert_eq!(source(&cfg, |k| (k == "HOME").then(|| "/nonexistent".into())), None);
        assert_eq!(source(&cfg, none), None);
        assert_eq!(source(&cfg, in_cluster), Some(Source::InCluster));
        let kubeconfig = |k: &str| (k == "KUBECONFIG").then(|| "/k".to_string());
        assert_eq!(source(&cfg, kubeconfig), Some(Source::Kubeconfig(Some("/k".into()))));
        cfg.kubeconfig = Some("/explicit".into());
        assert_eq!(source(&cfg, in_cluster), Some(Source::Kubeconfig(Some("/explicit".into()))));
        cfg.mode = KubernetesMode::Off;
        assert_eq!(source(&cfg, in_cluster), None);
    }

    #[test]
    fn node_name_precedence() {
        let mut cfg = KubernetesConfig::default();
        assert_eq!(node_name(&cfg, |_| None, "host"), "host");
        assert_eq!(node_name(&cfg, |k| (k == "NODE_NAME").then(|| " node-a ".into()), "host"), "node-a");
        cfg.node_name = Some("node-b".into());
        assert_eq!(node_name(&cfg, |k| (k == "NODE_NAME").then(|| "node-a".into()), "host"), "node-b");
    }

    #[tokio::test]
    async fn broken_kubeconfig_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("spanwire-kubeconfig-{}", std::process::id()));
        std::fs::write(&dir, "this: [is not a kubeconfig").expect("write");
        let cfg = KubernetesConfig { kubeconfig: Some(dir.display().to_string()), ..KubernetesConfig::default() };
        let err = start(&cfg, "host", CancellationToken::new()).await.err().expect("must fail");
        let _ = std::fs::remove_file(&dir);
        assert!(err.to_string().contains("cannot read kubeconfig"), "{err}");
        // The same file found through KUBECONFIG in auto mode: process metadata only, no error.
        std::fs::write(&dir, "this: [is not a kubeconfig").expect("write");
        let found = |k: &str| (k == "KUBECONFIG").then(|| dir.display().to_string());
        let auto = KubernetesConfig::default();
        let got = start_with_env(&auto, "host", CancellationToken::new(), found).await;
        let on = KubernetesConfig { mode: KubernetesMode::On, ..KubernetesConfig::default() };
        let required = start_with_env(&on, "host", CancellationToken::new(), found).await;
        let _ = std::fs::remove_file(&dir);
        assert!(got.expect("auto degrades").is_none());
        assert!(required.is_err(), "mode on requires a usable configuration");
        let cfg = KubernetesConfig { mode: KubernetesMode::Off, ..KubernetesConfig::default() };
        assert!(start(&cfg, "host", CancellationToken::new()).await.expect("off is fine").is_none());
    }
}
