//! The rest of the embedded control plane. Each part is a plain Kubernetes API client, so it
//! works against everynode's embedded API server and against a real kube-apiserver alike:
//!
//! - [`scheduler`]: binds pods with `schedulerName: default-scheduler` (spec 7.1);
//! - [`garbage_collector`]: ownerReference cascade for Background, Foreground, Orphan (spec 7.3);
//! - [`pod_gc`]: removes pods bound to nodes that no longer exist (spec 7.2);
//! - [`node_lifecycle`]: Ready=Unknown and taints for silent nodes, condition taints (spec 7.4);
//! - [`fleet`]: simulated nodes and their kubelets, KWOK-style.
//!
//! Every `run` function returns when `shutdown` is cancelled.

pub mod fleet;
pub mod garbage_collector;
pub mod node_lifecycle;
pub mod pod_gc;
pub mod scheduler;

mod error;
mod events;
mod mirror;
mod projection;
mod writes;
pub use error::ClusterError;
pub use projection::{PodProgress, ProgressSpec, ProgressStatus};
