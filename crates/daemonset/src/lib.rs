//! The DaemonSet engine: a pure function from what the controller observed to what it
//! should do.
//!
//! Everything here follows upstream Kubernetes as written down in
//! `shared/spec/daemonset-semantics.md`. Nothing here does IO, awaits, reads a clock or
//! draws random numbers: `now` is an input, and every decision is in the returned [`Plan`].
//!
//! Modules, one concern each:
//! - [`placement`]: should a node run (and keep running) a daemon pod, and why not;
//! - [`pod_template`]: how a daemon pod is built for a node;
//! - [`history`]: ControllerRevisions, hashing, revision numbers, cleanup;
//! - [`claim`]: adoption and release of pods and revisions by selector;
//! - [`world`]: nodes in name order with their placement and daemon pods;
//! - [`manage`]: per-node creates and deletes (failed pods, duplicates, surge);
//! - [`rolling_update`]: the RollingUpdate strategy (maxUnavailable / maxSurge), visiting
//!   nodes in name order;
//! - [`status`]: the status the controller writes;
//! - [`backoff`]: per-node failed-pod backoff, as explicit state;
//! - `memo`: what earlier syncs read of each pod ([`PlanMemo`]), so a sync reads only the
//!   pods that changed;
//! - [`mod@plan`]: [`plan()`], tying the above together.

pub mod backoff;
pub mod claim;
pub mod history;
pub mod manage;
mod memo;
mod observed;
pub mod placement;
pub mod plan;
pub mod pod_template;
mod prefetch;
pub mod rolling_update;
pub mod status;
pub mod world;

pub use history::{revision_matches, revision_name, template_hash};
pub use memo::PlanMemo;
pub use observed::*;
pub use placement::{NodePlacement, PlacementContext, PlacementReason, node_should_run};
pub use plan::{plan, plan_with_memo};
pub use pod_template::daemon_pod;
