//! CONTRACT between the engine and its callers (controller, CLI). The engine helper owns
//! this file and may ADD fields/variants, but must not rename or remove what is here
//! without telling the integrator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use everynode_model::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};

/// Everything one sync of one DaemonSet looks at.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The DaemonSet, as stored (defaulted; carries the templateGeneration annotation).
    pub daemonset: Arc<DaemonSet>,
    /// Every node in the cluster. Shared: a caller can hand the same list to every sync
    /// until a node changes.
    pub nodes: Arc<[Arc<Node>]>,
    /// Every pod in the DaemonSet's namespace (the engine claims: owned, adoptable, released).
    pub pods: Vec<Arc<Pod>>,
    /// Every ControllerRevision in the DaemonSet's namespace.
    pub revisions: Vec<Arc<ControllerRevision>>,
    /// False while creates/deletes issued by an earlier sync have not been observed yet;
    /// the plan then only recomputes status (without bumping observedGeneration).
    pub expectations_satisfied: bool,
    /// Failed-pod backoff state carried between syncs (returned updated in the plan).
    pub backoff: FailedPodBackoff,
}

/// Per-node backoff for deleting failed daemon pods: key `<dsUID>/<observedGeneration>/<node>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailedPodBackoff {
    /// Entries by key.
    pub entries: BTreeMap<String, BackoffEntry>,
}

/// One backoff entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffEntry {
    /// When the entry was last advanced.
    pub last_update: Timestamp,
    /// The current delay (1 s doubling to 15 min).
    pub delay: Duration,
}

/// A reference to an existing object the plan acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Object name.
    pub name: String,
    /// Object UID (used as a precondition).
    pub uid: String,
}

/// Everything one sync decided. The caller applies it in field order: ownership changes,
/// revision writes (a failed revision create aborts the rest), pod relabels, pod deletes
/// and creates (slow start), then the status write.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Set when the sync stops early (empty selector, DaemonSet being deleted).
    pub halt: Option<Halt>,
    /// Orphan pods to adopt (add a controller ownerReference to this DaemonSet).
    pub adopt_pods: Vec<ObjectRef>,
    /// Owned pods whose labels no longer match: remove this DaemonSet's ownerReference.
    pub release_pods: Vec<ObjectRef>,
    /// Orphan revisions to adopt.
    pub adopt_revisions: Vec<ObjectRef>,
    /// Owned revisions to release.
    pub release_revisions: Vec<ObjectRef>,
    /// ControllerRevision creates, updates and deletes, in order.
    pub revision_writes: Vec<RevisionWrite>,
    /// Pods whose `controller-revision-hash` label must be rewritten (duplicate current revisions).
    pub pod_relabels: Vec<PodRelabel>,
    /// Pods to delete (at most 250).
    pub pod_deletes: Vec<PodDelete>,
    /// Pods to create (at most 250), fully built.
    pub pod_creates: Vec<PodCreate>,
    /// Events the engine itself decided on (SelectingAll, FailedDaemonPod, SucceededDaemonPod).
    pub events: Vec<PlannedEvent>,
    /// The status to write, `None` when nothing changed.
    pub status: Option<DaemonSetStatus>,
    /// Sync again after this long (backoff, minReadySeconds), if nothing else triggers it.
    pub requeue_after: Option<Duration>,
    /// The backoff state after this sync.
    pub backoff: FailedPodBackoff,
    /// The current revision's hash label, as used for the pods in this plan.
    pub current_hash: String,
}

/// Why a sync stopped before doing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// `spec.selector` is `{}` (a Warning `SelectingAll` event is in `events`).
    SelectingAll,
    /// The DaemonSet has a deletionTimestamp.
    BeingDeleted,
    /// `spec.selector` cannot be converted (validation normally prevents this); upstream
    /// fails the sync and retries with backoff, so the caller should treat it as an error.
    InvalidSelector(String),
}

/// One ControllerRevision write.
// Boxing `Create` would change the contract other crates compile against; a plan holds at
// most a handful of these, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RevisionWrite {
    /// Create this revision (name `<ds>-<hash>`). On AlreadyExists the caller GETs it and
    /// compares `data` ([`crate::history`]); a different `data` is a hash collision: bump
    /// `status.collisionCount` and sync again.
    Create(ControllerRevision),
    /// Add the missing `controller-revision-hash` label (value = the revision's name).
    AddHashLabel {
        /// The revision.
        target: ObjectRef,
        /// The label value.
        hash: String,
    },
    /// Set `.revision` to a new number (renumbering on rollback).
    Renumber {
        /// The revision.
        target: ObjectRef,
        /// The new revision number.
        revision: i64,
    },
    /// Delete this revision (duplicate current revision, or history cleanup).
    Delete(ObjectRef),
}

/// Rewrite one pod's `controller-revision-hash` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRelabel {
    /// The pod.
    pub target: ObjectRef,
    /// The new hash label value.
    pub hash: String,
}

/// Delete one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDelete {
    /// The pod.
    pub target: ObjectRef,
    /// The node it is on or targets.
    pub node_name: Option<String>,
    /// Why the engine deletes it.
    pub reason: DeleteReason,
}

/// Why a pod is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// The node must not run this DaemonSet any more.
    NodeNotEligible,
    /// The pod failed (after backoff).
    Failed,
    /// The pod succeeded.
    Succeeded,
    /// More than one pod on the node.
    Duplicate,
    /// Unbound pod pinned to a node that no longer exists.
    NodeGone,
    /// Replaced by the rolling update.
    RollingUpdate,
    /// Old pod removed after its surge replacement became available.
    SurgeReplaced,
}

/// Create one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodCreate {
    /// The node it is for.
    pub node_name: String,
    /// The full pod (generateName, labels, ownerReference, node-affinity pin, tolerations).
    pub pod: Pod,
}

/// An event the engine decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Normal` or `Warning`.
    pub event_type: EventType,
    /// Upstream's reason, e.g. `FailedDaemonPod`.
    pub reason: String,
    /// Upstream's message.
    pub message: String,
}

/// Kubernetes event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Normal.
    Normal,
    /// Warning.
    Warning,
}
