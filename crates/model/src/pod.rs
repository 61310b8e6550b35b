//! Pod readiness, availability and targeting (upstream `pkg/api/v1/pod/util.go` and the
//! DaemonSet controller's node mapping).

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::SignedDuration;

use crate::Timestamp;

/// The field key the DaemonSet controller pins daemon pods to nodes with.
const OBJECT_NAME_FIELD: &str = "metadata.name";

/// The pod's `Ready` condition, if it reports one.
pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    ready_among(pod.status.as_ref()?.conditions.as_deref()?)
}

/// The `Ready` condition among a pod's `conditions`, for callers holding only those.
pub fn ready_among(conditions: &[PodCondition]) -> Option<&PodCondition> {
    conditions.iter().find(|c| c.type_ == "Ready")
}

/// True when the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// True when ready and, if `min_ready_seconds > 0`, the Ready condition's
/// lastTransitionTime + minReadySeconds is strictly before `now`.
///
/// A Ready condition without a lastTransitionTime (Go's zero time) never becomes available
/// when `min_ready_seconds` is non-zero, as upstream.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    ready_condition(pod).is_some_and(|cond| ready_for_long_enough(cond, min_ready_seconds, now))
}

/// [`is_available`] on a pod's Ready condition already found: True, and (with
/// `min_ready_seconds`) since long enough before `now`.
#[inline]
pub fn ready_for_long_enough(cond: &PodCondition, min_ready_seconds: i32, now: Timestamp) -> bool {
    ready_since_long_enough(
        cond.status == "True",
        cond.last_transition_time.as_ref().map(|t| t.0),
        min_ready_seconds,
        now,
    )
}

/// [`ready_for_long_enough`] on what a caller kept of the Ready condition: whether it is
/// True, and its lastTransitionTime.
#[inline]
pub fn ready_since_long_enough(
    ready: bool,
    since: Option<Timestamp>,
    min_ready_seconds: i32,
    now: Timestamp,
) -> bool {
    if !ready {
        return false;
    }
    if min_ready_seconds == 0 {
        return true;
    }
    available_after(since, min_ready_seconds).is_some_and(|t| t < now)
}

/// The instant after which a pod whose Ready condition turned True at `since` counts as
/// available with `min_ready_seconds` (strictly after: a pod is available once
/// `since + minReadySeconds` is before now). `None` when it never will without a change: no
/// transition time, Go's zero time (upstream's "unset"), or a sum past representable time.
pub fn available_after(since: Option<Timestamp>, min_ready_seconds: i32) -> Option<Timestamp> {
    let since = since.filter(|t| !is_go_zero_time(*t))?;
    since
        .checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds)))
        .ok()
}

/// True for phase Failed or Succeeded.
pub fn is_terminal(pod: &Pod) -> bool {
    is_terminal_phase(pod.status.as_ref().and_then(|s| s.phase.as_deref()))
}

/// True for a pod phase of Failed or Succeeded (for callers holding only the phase).
pub fn is_terminal_phase(phase: Option<&str>) -> bool {
    matches!(phase, Some("Failed" | "Succeeded"))
}

/// True when the object has a deletionTimestamp.
pub fn is_being_deleted(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// The node a daemon pod targets: `spec.nodeName`, else the single value of the first
/// `matchFields` requirement `metadata.name In [x]` of the required node affinity.
///
/// `None` when the pod has neither, or when that first requirement has zero or several
/// values (upstream reports an error and the controller skips the pod).
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let required = spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    let first = required
        .node_selector_terms
        .iter()
        .flat_map(|term| term.match_fields.iter().flatten())
        .find(|req| req.key == OBJECT_NAME_FIELD && req.operator == "In")?;
    match first.values.as_deref() {
        Some([only]) => Some(only.as_str()),
        _ => None,
    }
}

/// The ownerReference with `controller: true`, if any.
#[inline]
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Go serialises its zero `time.Time` as `0001-01-01T00:00:00Z`; objects written by Go
/// clients can carry it, and upstream treats it as "unset".
fn is_go_zero_time(t: Timestamp) -> bool {
    t.as_second() == GO_ZERO_TIME_UNIX_SECONDS && t.subsec_nanosecond() == 0
}

/// Unix seconds of `0001-01-01T00:00:00Z`.
const GO_ZERO_TIME_UNIX_SECONDS: i64 = -62_135_596_800;
