//! The decisions and messages of `rollout status|history|undo` (spec 6.1–6.3), as pure
//! functions of the DaemonSet and its ControllerRevisions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use everynode_model::wellknown::CHANGE_CAUSE_ANNOTATION;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};

use crate::output::{TabSettings, tabwrite};

/// Why a rollout command cannot do what was asked; the texts are kubectl's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    /// `rollout status` on an OnDelete DaemonSet.
    #[error("rollout status is only available for RollingUpdate strategy type")]
    NotRollingUpdate,
    /// `rollout undo` with nothing older than the current revision.
    #[error("no last revision to roll back to")]
    NoLastRevision,
    /// `rollout undo --to-revision=N` where N is not in the history.
    #[error("unable to find specified revision {0} in history")]
    RevisionNotFound(i64),
    /// `rollout history --revision=N` where N is not in the history.
    #[error("unable to find the specified revision")]
    HistoryRevisionNotFound,
    /// `rollout history --revision` with a negative number.
    #[error("revision must be a positive integer: {0}")]
    NegativeRevision(i64),
}

/// Where a rollout stands, as `rollout status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStatus {
    /// The line kubectl prints.
    pub message: String,
    /// True once every desired pod is updated and available.
    pub done: bool,
    /// Pods updated so far (for a progress bar).
    pub updated: i32,
    /// Pods updated and available so far.
    pub available: i32,
    /// Pods the DaemonSet wants.
    pub desired: i32,
}

/// Evaluates a DaemonSet as `kubectl rollout status` does on every watch event (spec 6.1).
pub fn rollout_status(ds: &DaemonSet) -> Result<RolloutStatus, RolloutError> {
    let strategy = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate");
    if strategy != "RollingUpdate" {
        return Err(RolloutError::NotRollingUpdate);
    }
    let name = ds.metadata.name.as_deref().unwrap_or("");
    let status = ds.status.clone().unwrap_or_default();
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    let generation = ds.metadata.generation.unwrap_or(0);
    let observed = status.observed_generation.unwrap_or(0);
    let (message, done) = if generation <= observed {
        if updated < desired {
            (
                format!(
                    "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
                ),
                false,
            )
        } else if available < desired {
            (
                format!(
                    "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
                ),
                false,
            )
        } else {
            (format!("daemon set {name:?} successfully rolled out"), true)
        }
    } else {
        (
            "Waiting for daemon set spec update to be observed...".to_owned(),
            false,
        )
    };
    Ok(RolloutStatus {
        message,
        done,
        updated,
        available,
        desired,
    })
}

/// The DaemonSet's revisions keyed by number (a later duplicate wins, as upstream): those
/// controlled by the DaemonSet (by UID) among `revisions`.
pub fn owned_revisions<'a>(
    ds: &DaemonSet,
    revisions: &'a [ControllerRevision],
) -> BTreeMap<i64, &'a ControllerRevision> {
    let uid = ds.metadata.uid.as_deref();
    let mut out = BTreeMap::new();
    for cr in revisions {
        let controlled = cr
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.controller == Some(true) && Some(r.uid.as_str()) == uid);
        if controlled {
            out.insert(cr.revision.unwrap_or(0), cr);
        }
    }
    out
}

/// `rollout history` without `--revision`: the header line and the REVISION / CHANGE-CAUSE
/// table, or `No rollout history found.`.
pub fn history_table(ds_name: &str, revisions: &BTreeMap<i64, &ControllerRevision>) -> String {
    if revisions.is_empty() {
        return "No rollout history found.\n".to_owned();
    }
    let mut text = String::from("REVISION\tCHANGE-CAUSE\n");
    for (number, cr) in revisions {
        let cause = cr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CHANGE_CAUSE_ANNOTATION))
            .map(String::as_str)
            .unwrap_or("<none>");
        let _ = writeln!(text, "{number}\t{cause}");
    }
    let table = tabwrite(
        &text,
        TabSettings {
            min_width: 0,
            padding: 2,
        },
    );
    format!("daemonset.apps/{ds_name} \n{table}\n")
}

/// Picks the revision `rollout undo --to-revision=N` rolls back to (spec 6.3): N itself, or
/// for 0 the second-highest revision.
pub fn undo_target<'a>(
    revisions: &BTreeMap<i64, &'a ControllerRevision>,
    to_revision: i64,
) -> Result<&'a ControllerRevision, RolloutError> {
    if to_revision < 0 {
        return Err(RolloutError::RevisionNotFound(to_revision));
    }
    if to_revision == 0 {
        if revisions.len() <= 1 {
            return Err(RolloutError::NoLastRevision);
        }
        return revisions
            .values()
            .rev()
            .nth(1)
            .copied()
            .ok_or(RolloutError::NoLastRevision);
    }
    revisions
        .get(&to_revision)
        .copied()
        .ok_or(RolloutError::RevisionNotFound(to_revision))
}

/// Picks the revision `rollout history --revision=N` shows.
pub fn history_revision<'a>(
    revisions: &BTreeMap<i64, &'a ControllerRevision>,
    revision: i64,
) -> Result<&'a ControllerRevision, RolloutError> {
    if revision < 0 {
        return Err(RolloutError::NegativeRevision(revision));
    }
    revisions
        .get(&revision)
        .copied()
        .ok_or(RolloutError::HistoryRevisionNotFound)
}

/// The template a revision stands for, applied onto the DaemonSet (its `data` is a strategic
/// merge patch replacing the whole template).
pub fn template_of_revision(
    ds: &DaemonSet,
    cr: &ControllerRevision,
) -> Result<k8s_openapi::api::core::v1::PodTemplateSpec, String> {
    let current = serde_json::to_value(ds).map_err(|e| e.to_string())?;
    let merged =
        everynode_apiserver::patch::strategic::strategic_merge("DaemonSet", &current, &cr.data.0)
            .map_err(|e| e.to_string())?;
    let merged: DaemonSet = serde_json::from_value(merged).map_err(|e| e.to_string())?;
    Ok(merged.spec.template)
}
