//! `everynode up`: the whole control plane in one process, with a simulated fleet.
//!
//! The API server runs in-process; every other component (controller, scheduler, garbage
//! collector, pod GC, node lifecycle, fleet) is an ordinary API client that reaches it through
//! the Kubernetes wire protocol (an in-process kube `Client` built on the server's router, so no
//! component ever touches the store directly).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use everynode_apiserver::{ApiServer, ApiServerConfig};
use everynode_cluster::{fleet, garbage_collector, node_lifecycle, pod_gc, scheduler};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::apply;

/// Arguments of `everynode up`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode up --nodes 10 --apply examples/seeds\n  everynode up --profile examples/profile.yaml\n  kubectl --kubeconfig ~/.everynode/kubeconfig get ds -A"
)]
pub struct UpArgs {
    /// Where objects, certificates and the kubeconfig are kept; starting again on the same
    /// directory resumes everything.
    #[arg(long, env = "EVERYNODE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Number of simulated worker nodes to create (ignored with --profile).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// A fleet profile (YAML: pools with name prefix, count, labels, taints, capacity).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Also create a control-plane node with its NoSchedule taint (ignored with --profile).
    #[arg(long)]
    pub control_plane: bool,
    /// Address the API server listens on (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// How long a simulated kubelet takes to start a pod (e.g. `1s`, `0s`).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub start_delay: Duration,
    /// Manifests (files or directories) to apply once the plane is up.
    #[arg(long)]
    pub apply: Vec<PathBuf>,
    /// Stop after applying and waiting for every DaemonSet to be rolled out (for scripts).
    #[arg(long)]
    pub exit_when_ready: bool,
}

/// The data directory used when none is given: `$HOME/.everynode`, or `.everynode` here.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => Path::new(&home).join(".everynode"),
        None => PathBuf::from(".everynode"),
    }
}

/// Runs the plane until Ctrl-C.
pub fn run(args: &UpArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: &UpArgs) -> anyhow::Result<i32> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let profile = match &args.profile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading fleet profile {}", path.display()))?;
            fleet::FleetProfile::from_yaml(&text)
                .with_context(|| format!("fleet profile {}", path.display()))?
        }
        None => {
            let mut profile = fleet::FleetProfile::uniform(args.nodes, "node-");
            if args.control_plane {
                profile
                    .pools
                    .insert(0, fleet::NodePool::control_plane("control-plane-"));
            }
            profile
        }
    };

    let plane = Plane::start(PlaneConfig {
        data_dir: data_dir.clone(),
        listen: args.listen,
        profile,
        start_delay: args.start_delay,
    })
    .await?;
    let kubeconfig = plane.server.kubeconfig_path().to_path_buf();
    println!("everynode is up: API server on {}", plane.server.url());
    println!("kubeconfig: {}", kubeconfig.display());
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl get nodes");

    for path in &args.apply {
        let outcomes = apply::apply_path(&plane.client, path).await?;
        for line in outcomes {
            println!("{line}");
        }
    }

    if args.exit_when_ready {
        apply::wait_for_daemonsets(&plane.client, Duration::from_secs(120)).await?;
        println!("every DaemonSet is rolled out");
    } else {
        println!("press Ctrl-C to stop");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        println!("stopping");
    }
    plane.stop().await;
    Ok(0)
}

/// What an embedded plane is started with.
pub struct PlaneConfig {
    /// Data directory (store, certificates, kubeconfig).
    pub data_dir: PathBuf,
    /// HTTPS listen address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The simulated fleet.
    pub profile: fleet::FleetProfile,
    /// Simulated pod start delay.
    pub start_delay: Duration,
}

/// A running embedded plane: the API server plus every component as an API client.
pub struct Plane {
    /// The API server.
    pub server: ApiServer,
    /// An in-process client to it.
    pub client: kube::Client,
    components: Components,
}

impl Plane {
    /// Starts the API server and every component.
    pub async fn start(config: PlaneConfig) -> anyhow::Result<Plane> {
        let server = ApiServer::start(ApiServerConfig {
            data_dir: config.data_dir.clone(),
            listen: config.listen,
            ..ApiServerConfig::default()
        })
        .await
        .with_context(|| {
            format!(
                "starting the API server in {} (is another `everynode up` using it or the port?)",
                config.data_dir.display()
            )
        })?;
        let client = kube::Client::new(server.router(), "default");
        let router = server.router();
        let components = Components::spawn(
            move || kube::Client::new(router.clone(), "default"),
            config.profile,
            config.start_delay,
            Arc::new(everynode_controller::Metrics::new()),
        );
        Ok(Plane {
            server,
            client,
            components,
        })
    }

    /// Stops every component, then the API server (which flushes the store).
    pub async fn stop(self) {
        self.components.stop().await;
        self.server.shutdown().await;
    }
}

/// Everything of the plane but the API server: the controller, scheduler, garbage collector,
/// pod GC, node lifecycle and fleet, each an ordinary API client, run as tasks until stopped.
pub struct Components {
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Components {
    /// Starts every component, each on its own client from `client`, with the settings
    /// `everynode up` uses. The controller reports into `controller_metrics`, so callers (the
    /// benchmarks) can read it.
    ///
    /// One client per component, as in a real cluster: a kube `Client` hands every request to
    /// one dispatch task (a tower `Buffer`), so a single client shared by the whole plane would
    /// queue the controller's creates behind the fleet's heartbeats and status writes.
    pub fn spawn(
        client: impl Fn() -> kube::Client,
        profile: fleet::FleetProfile,
        start_delay: Duration,
        controller_metrics: Arc<everynode_controller::Metrics>,
    ) -> Components {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let (c, s) = (client(), shutdown.clone());
        tasks.spawn(async move {
            let config = everynode_controller::ControllerConfig::default();
            let stopped = s.cancelled_owned();
            if let Err(err) =
                everynode_controller::run_with_metrics(c, config, controller_metrics, stopped).await
            {
                tracing::error!(%err, "DaemonSet controller stopped");
            }
        });
        let (c, s) = (client(), shutdown.clone());
        tasks.spawn(async move {
            if let Err(err) = scheduler::run(c, scheduler::SchedulerConfig::default(), s).await {
                tracing::error!(%err, "scheduler stopped");
            }
        });
        let (c, s) = (client(), shutdown.clone());
        tasks.spawn(async move {
            if let Err(err) = garbage_collector::run(c, s).await {
                tracing::error!(%err, "garbage collector stopped");
            }
        });
        let (c, s) = (client(), shutdown.clone());
        tasks.spawn(async move {
            // Much shorter than upstream's 40 s quarantine so a removed simulated node's pods
            // disappear while the user is still looking.
            let config = pod_gc::PodGcConfig {
                quarantine: Duration::from_secs(5),
                interval: Duration::from_secs(2),
            };
            if let Err(err) = pod_gc::run(c, config, s).await {
                tracing::error!(%err, "pod GC stopped");
            }
        });
        let (c, s) = (client(), shutdown.clone());
        tasks.spawn(async move {
            let config = node_lifecycle::NodeLifecycleConfig::default();
            if let Err(err) = node_lifecycle::run(c, config, s).await {
                tracing::error!(%err, "node lifecycle stopped");
            }
        });
        let s = shutdown.clone();
        let fleet_config = fleet::FleetConfig {
            profile,
            start_delay,
            max_in_flight: fleet::PLANE_MAX_IN_FLIGHT,
            ..fleet::FleetConfig::default()
        };
        let c = client();
        tasks.spawn(async move {
            if let Err(err) = fleet::run(c, fleet_config, s).await {
                tracing::error!(%err, "simulated fleet stopped");
            }
        });
        Components { shutdown, tasks }
    }

    /// Cancels every component and waits up to 10 s for them to finish, then aborts the rest.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => {
                    tracing::warn!("components did not stop within 10 s; aborting them");
                    self.tasks.abort_all();
                    break;
                }
            }
        }
    }
}
