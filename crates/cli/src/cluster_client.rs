//! Building a kube client for commands that talk to a running cluster.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where a command finds its cluster: an explicit kubeconfig, else a running embedded plane's
/// kubeconfig, else `$KUBECONFIG` / `~/.kube/config` as kubectl does.
pub fn kubeconfig_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let embedded = crate::up::default_data_dir().join("kubeconfig");
    if embedded.exists() {
        return Some(embedded);
    }
    None
}

/// Connects to the cluster a kubeconfig describes (or kube's own inference when `None`).
pub async fn connect(explicit: Option<&Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig_path(explicit) {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(&path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "no cluster found: start one with `everynode up` (or pass --kubeconfig / set KUBECONFIG)",
        )?,
    };
    kube::Client::try_from(config).context("building the API client")
}
