//! `everynode controller`: the DaemonSet controller alone, against any Kubernetes API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use everynode_controller::{ControllerConfig, LeaderElectionConfig};

/// Arguments of `everynode controller`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  everynode controller --kubeconfig ~/.kube/config --metrics-addr 127.0.0.1:9090"
)]
pub struct ControllerArgs {
    /// The cluster to drive.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// DaemonSets synced at once.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Serve Prometheus `/metrics` and `/healthz` here.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Run without leader election (only when no other controller can run).
    #[arg(long)]
    pub no_leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, default_value = "kube-system")]
    pub lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "everynode-controller")]
    pub lease_name: String,
    /// Identity in the Lease (default: hostname plus a random suffix).
    #[arg(long)]
    pub identity: Option<String>,
    /// How long a leader's Lease is valid without renewal.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
}

/// Runs the controller until Ctrl-C.
pub fn run(args: &ControllerArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let client = crate::cluster_client::connect(args.kubeconfig.as_deref()).await?;
        let leader_election = if args.no_leader_elect {
            None
        } else {
            let mut le = LeaderElectionConfig {
                namespace: args.lease_namespace.clone(),
                name: args.lease_name.clone(),
                lease_duration: args.lease_duration,
                ..LeaderElectionConfig::default()
            };
            if let Some(identity) = &args.identity {
                le.identity = identity.clone();
            }
            Some(le)
        };
        let config = ControllerConfig {
            concurrency: args.concurrency,
            metrics_addr: args.metrics_addr,
            leader_election,
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        everynode_controller::run(client, config, shutdown)
            .await
            .context("DaemonSet controller")?;
        Ok(0)
    })
}
