//! The RollingUpdate strategy (spec 5.1 to 5.4).
//!
//! Upstream walks nodes in Go map order, which is effectively random. We walk them in node
//! NAME order so that plans are reproducible and a rollout proceeds alphabetically; since
//! upstream promises no order, any fixed order is faithful.

use everynode_model::intstr::{IntOrStringError, scaled_value};
use k8s_openapi::api::apps::v1::DaemonSet;

use crate::manage::{PendingDelete, build_creates, build_deletes};
use crate::observed::{DeleteReason, PodDelete};
use crate::world::{PodFacts, World};

/// maxUnavailable and maxSurge resolved against the number of nodes that should run the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Resolved maxSurge.
    pub max_surge: i32,
    /// Resolved maxUnavailable (forced to 1 when both would be 0 and `desired > 0`).
    pub max_unavailable: i32,
}

/// Resolves the rolling-update numbers against `desired` (percentages rounded up).
pub fn resolve_budget(ds: &DaemonSet, desired: i32) -> Result<Budget, IntOrStringError> {
    let rolling = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.rolling_update.as_ref());
    let max_surge = scaled_value(rolling.and_then(|r| r.max_surge.as_ref()), desired, true)?;
    let mut max_unavailable = scaled_value(
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        desired,
        true,
    )?;
    if desired > 0 && max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    Ok(Budget {
        max_surge,
        max_unavailable,
    })
}

/// What the rolling update decided, before the burst cap.
#[derive(Debug, Clone, Default)]
pub struct RollingOutcome {
    /// Nodes that get a new pod (surge mode only).
    pub creates: Vec<String>,
    /// Old pods to delete.
    pub deletes: Vec<PodDelete>,
}

/// [`RollingOutcome`] with creates and deletes not built yet.
#[derive(Debug, Default)]
pub(crate) struct PendingRolling<'a> {
    pub(crate) creates: Vec<&'a str>,
    pub(crate) deletes: Vec<PendingDelete<'a>>,
}

/// The non-deleting pods on a node split into the updated one and the old one; `None` when
/// the node has two of either kind (messy: manage prunes it first).
fn new_and_old<'f, 'p>(
    pods: &'f [PodFacts<'p>],
) -> Option<(Option<&'f PodFacts<'p>>, Option<&'f PodFacts<'p>>)> {
    let mut new = None;
    let mut old = None;
    for f in pods.iter().filter(|f| !f.deleting) {
        let bucket = if f.updated { &mut new } else { &mut old };
        if bucket.is_some() {
            return None;
        }
        *bucket = Some(f);
    }
    Some((new, old))
}

/// Decides the rolling update step (spec 5.2 for maxSurge 0, 5.3 otherwise).
pub fn rolling_update(world: &World<'_>) -> Result<RollingOutcome, IntOrStringError> {
    let pending = rolling_update_pending(world)?;
    Ok(RollingOutcome {
        creates: build_creates(&pending.creates, usize::MAX),
        deletes: build_deletes(&pending.deletes, usize::MAX),
    })
}

/// [`rolling_update`], leaving the creates and deletes to be built by the caller (which
/// keeps only a burst of them).
pub(crate) fn rolling_update_pending<'a>(
    world: &World<'a>,
) -> Result<PendingRolling<'a>, IntOrStringError> {
    let desired = world.desired();
    let budget = resolve_budget(world.ds, desired)?;
    // Nodes that should run but have no pod count as unavailable; nodes with pods are
    // visited even when they should not run any more (misscheduled or vanished).
    let visited = world.slots.iter().filter_map(|s| {
        let pods = world.facts_of(s);
        (!pods.is_empty() || (s.node.is_some() && s.placement.should_run)).then_some((s, pods))
    });
    let mut out = PendingRolling::default();
    let pending = |f: &PodFacts<'a>, node: &'a str, reason: DeleteReason| PendingDelete {
        pod: f.pod,
        node,
        reason,
    };

    if budget.max_surge == 0 {
        let mut unavailable = 0;
        let mut must_delete: Vec<PendingDelete<'a>> = Vec::new();
        let mut candidates: Vec<PendingDelete<'a>> = Vec::new();
        for (slot, pods) in visited {
            let Some((new, old)) = new_and_old(pods) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !new.available {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !old.available {
                        must_delete.push(pending(old, slot.name, DeleteReason::RollingUpdate));
                        unavailable += 1;
                    } else if unavailable < budget.max_unavailable {
                        candidates.push(pending(old, slot.name, DeleteReason::RollingUpdate));
                    }
                }
            }
        }
        let room = usize::try_from(budget.max_unavailable - unavailable)
            .unwrap_or(0)
            .min(candidates.len());
        out.deletes = must_delete;
        out.deletes.extend(candidates.into_iter().take(room));
        return Ok(out);
    }

    let mut surging = 0;
    let mut available = 0i64;
    let mut forced: Vec<&'a str> = Vec::new();
    let mut candidates: Vec<&'a str> = Vec::new();
    let mut delete_later: Vec<PendingDelete<'a>> = Vec::new();
    for (slot, pods) in visited {
        let Some((new, old)) = new_and_old(pods) else {
            surging += 1;
            continue;
        };
        let should_run = slot.node.is_some() && slot.placement.should_run;
        match (old, new) {
            (Some(old), _) if old.available => available += 1,
            (None, Some(new)) if new.available => available += 1,
            _ => {}
        }
        match (old, new) {
            (None, _) => {}
            (Some(old), None) => {
                if !old.available {
                    if should_run {
                        forced.push(slot.name);
                    } else {
                        out.deletes
                            .push(pending(old, slot.name, DeleteReason::NodeNotEligible));
                    }
                } else if !should_run {
                    delete_later.push(pending(old, slot.name, DeleteReason::NodeNotEligible));
                } else if surging < budget.max_surge {
                    candidates.push(slot.name);
                }
            }
            (Some(old), Some(new)) => {
                if new.available {
                    out.deletes
                        .push(pending(old, slot.name, DeleteReason::SurgeReplaced));
                } else {
                    surging += 1;
                }
            }
        }
    }
    let room = usize::try_from(budget.max_surge - surging)
        .unwrap_or(0)
        .min(candidates.len());
    out.creates = forced;
    out.creates.extend(candidates.into_iter().take(room));
    let surplus = usize::try_from(available - i64::from(desired)).unwrap_or(0);
    out.deletes.extend(delete_later.into_iter().take(surplus));
    Ok(out)
}
