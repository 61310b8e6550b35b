//! Per-node creates and deletes (spec 3.8, 3.10, 3.12): missing pods, pods on nodes that
//! must not run them, failed and succeeded pods, duplicates, and the surge pruning.

use std::time::Duration;

use everynode_model::intstr::is_zero;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;

use crate::history::object_ref;
use crate::observed::{DeleteReason, EventType, FailedPodBackoff, PlannedEvent, PodDelete};
use crate::world::{PodFacts, PodPhase, World};

/// The strategy type that enables rolling updates.
pub const ROLLING_UPDATE: &str = "RollingUpdate";
/// The strategy type that replaces pods only when users delete them.
pub const ON_DELETE: &str = "OnDelete";

/// True when the DaemonSet uses the RollingUpdate strategy (also when the type is unset,
/// since that is the default).
pub fn is_rolling_update(ds: &DaemonSet) -> bool {
    ds.spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        .is_none_or(|t| t == ROLLING_UPDATE)
}

/// True when surge is configured: RollingUpdate with a non-zero maxSurge (upstream resolves
/// maxSurge against one node here, so any non-zero value counts).
pub fn allows_surge(ds: &DaemonSet) -> bool {
    is_rolling_update(ds)
        && ds
            .spec
            .update_strategy
            .as_ref()
            .and_then(|u| u.rolling_update.as_ref())
            .is_some_and(|r| r.max_surge.is_some() && !is_zero(r.max_surge.as_ref()))
}

/// What manage decided, before the burst cap.
#[derive(Debug, Clone, Default)]
pub struct ManageOutcome {
    /// Nodes that get a new pod, in node name order.
    pub creates: Vec<String>,
    /// Pods to delete.
    pub deletes: Vec<PodDelete>,
    /// FailedDaemonPod / SucceededDaemonPod events.
    pub events: Vec<PlannedEvent>,
    /// The shortest remaining backoff of a failed pod that was skipped.
    pub requeue_after: Option<Duration>,
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

pub(crate) fn delete(pod: &Pod, node: &str, reason: DeleteReason) -> PodDelete {
    PodDelete {
        target: object_ref(&pod.metadata),
        node_name: Some(node.to_owned()),
        reason,
    }
}

/// A delete decided but not built yet: building one copies the pod's name and UID, and a
/// plan keeps at most [`crate::plan::BURST_REPLICAS`] of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingDelete<'a> {
    pub(crate) pod: &'a Pod,
    pub(crate) node: &'a str,
    pub(crate) reason: DeleteReason,
}

impl PendingDelete<'_> {
    pub(crate) fn build(&self) -> PodDelete {
        delete(self.pod, self.node, self.reason)
    }
}

/// Builds the first `cap` pending deletes.
pub(crate) fn build_deletes(pending: &[PendingDelete<'_>], cap: usize) -> Vec<PodDelete> {
    pending.iter().take(cap).map(PendingDelete::build).collect()
}

/// Owns the first `cap` node names.
pub(crate) fn build_creates(pending: &[&str], cap: usize) -> Vec<String> {
    pending.iter().take(cap).map(|n| (*n).to_owned()).collect()
}

/// [`manage`]'s decisions with creates and deletes not built yet.
#[derive(Debug, Default)]
pub(crate) struct PendingManage<'a> {
    pub(crate) creates: Vec<&'a str>,
    pub(crate) deletes: Vec<PendingDelete<'a>>,
    pub(crate) events: Vec<PlannedEvent>,
    pub(crate) requeue_after: Option<Duration>,
}

/// Decides per-node creates and deletes (spec 3.8); advances `backoff` for failed pods it
/// deletes.
pub fn manage(world: &World<'_>, surge: bool, backoff: &mut FailedPodBackoff) -> ManageOutcome {
    let pending = manage_pending(world, surge, backoff);
    ManageOutcome {
        creates: build_creates(&pending.creates, usize::MAX),
        deletes: build_deletes(&pending.deletes, usize::MAX),
        events: pending.events,
        requeue_after: pending.requeue_after,
    }
}

/// [`manage`], leaving the creates and deletes to be built by the caller (which keeps only
/// a burst of them). Events and backoff cover every pod, as upstream.
pub(crate) fn manage_pending<'a>(
    world: &World<'a>,
    surge: bool,
    backoff: &mut FailedPodBackoff,
) -> PendingManage<'a> {
    let mut out = PendingManage::default();
    let ds = world.ds;
    let namespace = ds.metadata.namespace.as_deref().unwrap_or("");
    let mut remove = |pod: &'a Pod, node: &'a str, reason: DeleteReason| {
        out.deletes.push(PendingDelete { pod, node, reason });
    };
    // Reused across nodes: most nodes have exactly one running pod.
    let mut running: Vec<&PodFacts<'a>> = Vec::new();
    let mut creates: Vec<&'a str> = Vec::new();
    let mut events: Vec<PlannedEvent> = Vec::new();
    let mut requeue_after: Option<Duration> = None;
    for slot in &world.slots {
        let pods = world.facts_of(slot);
        if slot.node.is_none() {
            // PodGC only removes pods bound to vanished nodes; unbound ones are ours to remove.
            for f in pods.iter().filter(|f| !f.bound && !f.deleting) {
                remove(f.pod, slot.name, DeleteReason::NodeGone);
            }
            continue;
        }
        let placement = &slot.placement;
        if placement.should_run && pods.is_empty() {
            creates.push(slot.name);
            continue;
        }
        if !placement.should_continue_running {
            for f in pods.iter().filter(|f| !f.deleting) {
                remove(f.pod, slot.name, DeleteReason::NodeNotEligible);
            }
            continue;
        }

        running.clear();
        for f in pods.iter().filter(|f| !f.deleting) {
            match f.phase {
                PodPhase::Failed => {
                    let key = FailedPodBackoff::key(ds, slot.name);
                    if let Some(remaining) = backoff.remaining(&key, world.now) {
                        requeue_after = Some(requeue_after.map_or(remaining, |r| r.min(remaining)));
                        continue;
                    }
                    backoff.advance(&key, world.now);
                    events.push(PlannedEvent {
                        event_type: EventType::Warning,
                        reason: "FailedDaemonPod".to_owned(),
                        message: format!(
                            "Found failed daemon pod {namespace}/{} on node {}, will try to kill it",
                            pod_name(f.pod),
                            slot.name
                        ),
                    });
                    remove(f.pod, slot.name, DeleteReason::Failed);
                }
                PodPhase::Succeeded => {
                    events.push(PlannedEvent {
                        event_type: EventType::Normal,
                        reason: "SucceededDaemonPod".to_owned(),
                        message: format!(
                            "Found succeeded daemon pod {namespace}/{} on node {}, will try to delete it",
                            pod_name(f.pod),
                            slot.name
                        ),
                    });
                    remove(f.pod, slot.name, DeleteReason::Succeeded);
                }
                PodPhase::Running => running.push(f),
            }
        }

        if !surge {
            // `pods` is already in upstream's order, so the first running pod survives.
            for f in running.iter().skip(1) {
                remove(f.pod, slot.name, DeleteReason::Duplicate);
            }
            continue;
        }
        if running.is_empty() {
            if placement.should_run {
                creates.push(slot.name);
            }
            continue;
        }
        let mut oldest_new: Option<&PodFacts<'a>> = None;
        let mut oldest_old: Option<&PodFacts<'a>> = None;
        for &f in &running {
            let bucket = if f.current_hash {
                &mut oldest_new
            } else {
                &mut oldest_old
            };
            if bucket.is_none() {
                *bucket = Some(f);
            } else {
                remove(f.pod, slot.name, DeleteReason::Duplicate);
            }
        }
        if let (Some(new), Some(old)) = (oldest_new, oldest_old)
            && (!old.ready || new.available)
        {
            remove(old.pod, slot.name, DeleteReason::SurgeReplaced);
        }
    }
    out.creates = creates;
    out.events = events;
    out.requeue_after = requeue_after;
    out
}
