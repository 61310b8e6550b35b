//! The one entry point: [`plan`], one sync of one DaemonSet (spec 3.7).

use std::time::Duration;

use everynode_model::Timestamp;
use everynode_model::pod::is_being_deleted;
use everynode_model::selector::Selector;
use everynode_model::wellknown::{CONTROLLER_REVISION_HASH_LABEL, POD_TEMPLATE_GENERATION_LABEL};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::claim::{ClaimContext, Claimed};
use crate::history::{cleanup_history, construct_history_revisions, relabels};
use crate::manage::{
    allows_surge, build_creates, build_deletes, is_rolling_update, manage_pending,
};
use crate::memo::PlanMemo;
use crate::observed::{EventType, Halt, Observed, Plan, PlannedEvent, PodCreate};
use crate::placement::PlacementContext;
use crate::pod_template::DaemonPodTemplate;
use crate::prefetch::{self, KeyLengths, PodLayout, Stage};
use crate::rolling_update::rolling_update_pending;
use crate::status::compute_status;
use crate::world::{CurrentRevision, WorldBuilder};

/// Upstream's `BurstReplicas`: at most this many creates, and separately this many deletes,
/// per sync.
pub const BURST_REPLICAS: usize = 250;

/// The `SelectingAll` warning's message.
pub const SELECTING_ALL_MESSAGE: &str =
    "This daemon set is selecting all pods. A non-empty selector is required.";

fn is_empty_selector(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
}

fn shorter(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Decides one sync of the observed DaemonSet at instant `now` (spec 3.7): ownership
/// changes, revision writes, pod creates and deletes, events, the status write and when to
/// sync again. Pure: the same input always gives the same plan.
pub fn plan(observed: &Observed, now: Timestamp) -> Plan {
    plan_with(observed, now, None)
}

/// [`plan`] for a caller that syncs the same DaemonSet again and again (the controller):
/// `memo` remembers what this sync reads of each pod, so the next one reads only the pods
/// that are new or changed. The plan is exactly [`plan`]'s; pass the same memo to every
/// sync of one DaemonSet, and a fresh one for another DaemonSet.
pub fn plan_with_memo(observed: &Observed, now: Timestamp, memo: &mut PlanMemo) -> Plan {
    plan_with(observed, now, Some(memo))
}

fn plan_with(observed: &Observed, now: Timestamp, memo: Option<&mut PlanMemo>) -> Plan {
    let ds = observed.daemonset.as_ref();
    let mut out = Plan {
        backoff: observed.backoff.clone(),
        ..Plan::default()
    };
    out.backoff.gc(now);

    let label_selector = &ds.spec.selector;
    if is_empty_selector(label_selector) {
        out.halt = Some(Halt::SelectingAll);
        out.events.push(PlannedEvent {
            event_type: EventType::Warning,
            reason: "SelectingAll".to_owned(),
            message: SELECTING_ALL_MESSAGE.to_owned(),
        });
        return out;
    }
    if is_being_deleted(&ds.metadata) {
        out.halt = Some(Halt::BeingDeleted);
        return out;
    }
    let selector = match Selector::from_label_selector(Some(label_selector)) {
        Ok(selector) => selector,
        Err(err) => {
            out.halt = Some(Halt::InvalidSelector(err.to_string()));
            return out;
        }
    };

    // The current hash comes from the revisions alone, so it is known before the pods are
    // visited; each pod is then read once, claimed and recorded in the world together.
    let claim_context = ClaimContext::new(ds, &selector);
    let mut claimed = Claimed::default();
    claimed.claim_revisions(&claim_context, &observed.revisions);
    let (history, relabel) = construct_history_revisions(ds, &claimed.revisions);
    let placement = PlacementContext::new(ds);
    let revision = CurrentRevision::new(ds, history.current_hash.clone());
    // With a memo, the node pass and each pod's facts come from it; only what is new or
    // changed since the last sync is read.
    let memo = memo.map(|memo| {
        memo.refresh_nodes(&placement, &observed.nodes);
        let at = memo.refresh(&claim_context, &revision, &observed.pods);
        (&*memo, at)
    });
    claimed.pods.reserve(observed.pods.len());
    let mut builder;
    match memo
        .as_ref()
        .and_then(|(memo, at)| Some((memo.node_pass()?, *memo, at)))
    {
        Some((nodes, memo, at)) => {
            builder = WorldBuilder::with_nodes(ds, nodes, revision, now, observed.pods.len());
            for (pod, &at) in observed.pods.iter().zip(at) {
                let known = memo.get(at);
                if claimed.record_pod(known.claim, pod) {
                    builder.add_known(pod, known);
                }
            }
        }
        None => {
            builder = WorldBuilder::new(
                ds,
                &placement,
                observed.nodes.iter().map(AsRef::as_ref),
                revision,
                now,
                observed.pods.len(),
            );
            let wanted =
                KeyLengths::of(selector.requirements.iter().map(|r| r.key.as_str()).chain([
                    CONTROLLER_REVISION_HASH_LABEL,
                    POD_TEMPLATE_GENERATION_LABEL,
                ]));
            let layout = PodLayout::learn(observed.pods.iter().map(AsRef::as_ref), wanted);
            prefetch::pipelined(&observed.pods, |stage, pod| match stage {
                Stage::Far => layout.pod(pod),
                Stage::Mid => layout.targets(pod),
                Stage::Near => {
                    layout.strings(pod);
                    builder.prefetch(pod);
                }
                Stage::Work => {
                    if claimed.claim_pod(&claim_context, pod) {
                        builder.add_pod(pod);
                    }
                }
            });
        }
    }
    let world = builder.finish();

    out.adopt_pods = claimed.adopt_pods;
    out.release_pods = claimed.release_pods;
    out.adopt_revisions = claimed.adopt_revisions;
    out.release_revisions = claimed.release_revisions;
    out.revision_writes = history.writes;
    if relabel {
        out.pod_relabels = relabels(&claimed.pods, &history.current_hash);
    }
    out.current_hash = history.current_hash;

    if !observed.expectations_satisfied {
        let status = compute_status(&world, false);
        out.status = status.status;
        out.requeue_after = status.requeue_after;
        return out;
    }

    let managed = manage_pending(&world, allows_surge(ds), &mut out.backoff);
    out.events.extend(managed.events);
    out.requeue_after = managed.requeue_after;
    let mut creates = managed.creates;
    let mut deletes = managed.deletes;
    if creates.is_empty() && deletes.is_empty() && is_rolling_update(ds) {
        // An unresolvable maxSurge/maxUnavailable (validation rejects those) skips the
        // step; like upstream, cleanup and status still happen.
        if let Ok(step) = rolling_update_pending(&world) {
            creates = step.creates;
            deletes = step.deletes;
        }
    }
    // Only the burst that is acted on gets built.
    out.pod_deletes = build_deletes(&deletes, BURST_REPLICAS);
    if !creates.is_empty() {
        let template = DaemonPodTemplate::new(ds, &world.revision.hash);
        out.pod_creates = build_creates(&creates, BURST_REPLICAS)
            .into_iter()
            .map(|node_name| PodCreate {
                pod: template.for_node(&node_name),
                node_name,
            })
            .collect();
    }

    out.revision_writes
        .extend(cleanup_history(ds, &history.old, &claimed.pods));

    let status = compute_status(&world, true);
    out.status = status.status;
    out.requeue_after = shorter(out.requeue_after, status.requeue_after);
    out
}
