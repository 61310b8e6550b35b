//! `everynode apiserver`: the embedded Kubernetes API server on its own.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use everynode_apiserver::{ApiServer, ApiServerConfig};

/// Arguments of `everynode apiserver`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  everynode apiserver --data-dir ./.everynode\n  kubectl --kubeconfig ./.everynode/kubeconfig get ns"
)]
pub struct ApiserverArgs {
    /// Where objects, certificates and the kubeconfig are kept (created on first start).
    #[arg(long, default_value = ".everynode")]
    pub data_dir: PathBuf,
    /// Address to listen on (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
}

/// Runs the API server until Ctrl-C.
pub fn run(args: &ApiserverArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = ApiServer::start(ApiServerConfig {
            data_dir: args.data_dir.clone(),
            listen: args.listen,
            ..ApiServerConfig::default()
        })
        .await
        .with_context(|| format!("starting the API server in {}", args.data_dir.display()))?;
        println!("everynode API server listening on {}", server.url());
        println!(
            "kubeconfig: {}\n  kubectl --kubeconfig {} get namespaces",
            server.kubeconfig_path().display(),
            server.kubeconfig_path().display()
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        println!("stopping");
        server.shutdown().await;
        Ok(0)
    })
}
