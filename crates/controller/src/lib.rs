//! The DaemonSet controller: the IO shell around the pure engine in `everynode-daemonset`.
//!
//! The engine decides; this crate observes and acts. It keeps caches of DaemonSets, pods,
//! nodes and ControllerRevisions fed by watches, maps every change to the DaemonSets it
//! concerns (spec section 3.2), runs syncs from a deduplicating work queue, guards against a
//! lagging cache with expectations, applies each [`everynode_daemonset::Plan`] through the
//! Kubernetes API (slow-start creates, parallel deletes, status with one conflict retry),
//! records Events, and only does any of that while it holds a Lease (leader election).
//!
//! Modules, one concern each:
//! - [`queue`]: the work queue (dedup, delayed requeue, per-item backoff, one worker per key);
//! - [`expectations`]: creates and deletes issued but not yet observed, per DaemonSet;
//! - [`cache`]: the watched objects, secondary indexes and the event-to-DaemonSet mapping;
//! - [`events`]: core/v1 Events with aggregation of repeats;
//! - [`leader`]: a Lease-based leader elector behind a small IO trait;
//! - [`metrics`]: Prometheus metrics and the `/metrics` + `/healthz` listener;
//! - [`sync`]: one sync of one DaemonSet: observe, plan, apply;
//! - `watched_pod`: the part of a pod the controller watches (it skips the rest).

pub mod cache;
pub mod events;
pub mod expectations;
pub mod leader;
pub mod metrics;
pub mod queue;
pub mod sync;

mod runner;
mod watched_pod;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use leader::{LeaderElector, LeaseClient, LeaseError};
pub use metrics::Metrics;

/// How to run the controller.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Number of DaemonSets synced in parallel (upstream `ConcurrentDaemonSetSyncs`, default 2).
    pub concurrency: usize,
    /// Where to serve `/metrics` and `/healthz`; `None` serves nothing.
    pub metrics_addr: Option<SocketAddr>,
    /// Lease-based leader election; `None` acts as leader unconditionally (single instance).
    pub leader_election: Option<LeaderElectionConfig>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            concurrency: 2,
            metrics_addr: None,
            leader_election: None,
        }
    }
}

/// Leader election on a `coordination.k8s.io/v1` Lease, with client-go's timing model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This candidate's identity, written to `spec.holderIdentity`; must be unique per process.
    pub identity: String,
    /// How long a lease that stopped being renewed stays valid for the other candidates.
    pub lease_duration: Duration,
    /// How long the leader keeps acting without a successful renewal before stepping down;
    /// must be shorter than `lease_duration` so the old leader stops before a new one starts.
    pub renew_deadline: Duration,
    /// How often candidates retry acquisition and the leader renews.
    pub retry_period: Duration,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        LeaderElectionConfig {
            namespace: "kube-system".to_string(),
            name: "everynode-controller".to_string(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// `<hostname>_<random hex>`: unique even for two controllers on one host.
fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "everynode".to_string());
    format!("{host}_{:016x}", rand::random::<u64>())
}

/// Why the controller stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The configuration cannot work (for example `renew_deadline >= lease_duration`).
    #[error("invalid controller configuration: {0}")]
    InvalidConfig(String),
    /// The metrics listener could not be started.
    #[error("metrics listener on {addr}: {source}")]
    MetricsListener {
        /// The address that failed.
        addr: SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// An internal task ended abnormally.
    #[error("controller task failed: {0}")]
    Task(String),
}

/// Runs the controller until `shutdown` resolves, with fresh [`Metrics`].
pub async fn run(
    client: kube::Client,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    run_with_metrics(client, config, Arc::new(Metrics::new()), shutdown).await
}

/// Runs the controller until `shutdown` resolves, recording into `metrics` (so a caller such
/// as a benchmark can read the counters while it runs).
pub async fn run_with_metrics(
    client: kube::Client,
    config: ControllerConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    runner::run(client, config, metrics, shutdown).await
}
