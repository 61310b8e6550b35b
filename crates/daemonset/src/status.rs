//! The status the controller writes (spec 3.11).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};

use crate::world::World;

/// The seven counters of a DaemonSet status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Nodes that should run the pod.
    pub desired: i32,
    /// Of those, nodes that have at least one daemon pod.
    pub current: i32,
    /// Nodes with a daemon pod that should not run one.
    pub misscheduled: i32,
    /// Nodes whose first daemon pod is Ready.
    pub ready: i32,
    /// Nodes whose first daemon pod is available.
    pub available: i32,
    /// Nodes whose first daemon pod runs the current template.
    pub updated: i32,
    /// `desired - available`.
    pub unavailable: i32,
}

impl Counters {
    /// The counters a stored status carries (unset fields read as 0).
    pub fn of_status(status: &DaemonSetStatus) -> Self {
        Counters {
            desired: status.desired_number_scheduled,
            current: status.current_number_scheduled,
            misscheduled: status.number_misscheduled,
            ready: status.number_ready,
            available: status.number_available.unwrap_or(0),
            updated: status.updated_number_scheduled.unwrap_or(0),
            unavailable: status.number_unavailable.unwrap_or(0),
        }
    }
}

/// Counts nodes as upstream does: only existing nodes, only the first pod per node.
pub fn count(world: &World<'_>) -> Counters {
    let mut c = Counters::default();
    for slot in world.slots.iter().filter(|s| s.node.is_some()) {
        let first = world.facts_of(slot).first();
        if slot.placement.should_run {
            c.desired += 1;
            if let Some(pod) = first {
                c.current += 1;
                c.ready += i32::from(pod.ready);
                c.available += i32::from(pod.available);
                c.updated += i32::from(pod.updated);
            }
        } else if first.is_some() {
            c.misscheduled += 1;
        }
    }
    c.unavailable = c.desired - c.available;
    c
}

/// What the status step decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusOutcome {
    /// The status to write; `None` when nothing would change.
    pub status: Option<DaemonSetStatus>,
    /// Sync again after minReadySeconds when some ready pod is not yet available.
    pub requeue_after: Option<Duration>,
    /// The freshly computed counters (also when no write is needed).
    pub counters: Counters,
}

/// Builds the status write (spec 3.11). `bump_observed_generation` is false when the sync
/// stopped because expectations were pending: the previous observedGeneration is kept.
pub fn compute_status(world: &World<'_>, bump_observed_generation: bool) -> StatusOutcome {
    let ds: &DaemonSet = world.ds;
    let counters = count(world);
    let old = ds.status.clone().unwrap_or_default();
    let generation = ds.metadata.generation.unwrap_or(0);
    let old_observed = old.observed_generation.unwrap_or(0);

    let requeue_after = (world.min_ready_seconds > 0 && counters.ready != counters.available)
        .then(|| Duration::from_secs(u64::try_from(world.min_ready_seconds).unwrap_or(0)));

    if Counters::of_status(&old) == counters && old_observed >= generation {
        return StatusOutcome {
            status: None,
            requeue_after,
            counters,
        };
    }
    let observed_generation = if bump_observed_generation {
        ds.metadata.generation
    } else {
        old.observed_generation
    };
    let status = DaemonSetStatus {
        collision_count: old.collision_count,
        conditions: old.conditions,
        current_number_scheduled: counters.current,
        desired_number_scheduled: counters.desired,
        number_available: Some(counters.available),
        number_misscheduled: counters.misscheduled,
        number_ready: counters.ready,
        number_unavailable: Some(counters.unavailable),
        observed_generation,
        updated_number_scheduled: Some(counters.updated),
    };
    StatusOutcome {
        status: Some(status),
        requeue_after,
        counters,
    }
}
