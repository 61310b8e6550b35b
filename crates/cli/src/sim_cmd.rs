//! `everynode sim`: the simulated fleet alone, against any Kubernetes API server.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use everynode_cluster::fleet;
use tokio_util::sync::CancellationToken;

/// Arguments of `everynode sim`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  everynode sim --kubeconfig ~/.kube/config --nodes 100 --start-delay 2s"
)]
pub struct SimArgs {
    /// The cluster to add simulated nodes to.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Number of simulated nodes (ignored with --profile).
    #[arg(long, default_value_t = 10)]
    pub nodes: usize,
    /// Node name prefix (ignored with --profile).
    #[arg(long, default_value = "sim-node-")]
    pub prefix: String,
    /// A fleet profile (YAML pools).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// How long a simulated kubelet takes to start a pod.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub start_delay: Duration,
    /// Simulate only the nodes this fleet created, not every Node in the cluster.
    #[arg(long)]
    pub only_own_nodes: bool,
}

/// Runs the fleet until Ctrl-C.
pub fn run(args: &SimArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let client = crate::cluster_client::connect(args.kubeconfig.as_deref()).await?;
        let profile = match &args.profile {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading fleet profile {}", path.display()))?;
                fleet::FleetProfile::from_yaml(&text)
                    .with_context(|| format!("fleet profile {}", path.display()))?
            }
            None => fleet::FleetProfile::uniform(args.nodes, &args.prefix),
        };
        let config = fleet::FleetConfig {
            profile,
            start_delay: args.start_delay,
            manage_all_nodes: !args.only_own_nodes,
            ..fleet::FleetConfig::default()
        };
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
        fleet::run(client, config, shutdown)
            .await
            .context("simulated fleet")?;
        Ok(0)
    })
}
