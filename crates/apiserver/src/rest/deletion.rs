//! What a DELETE decides on: preconditions, finalizers and the grace period.
//!
//! A pod is deleted twice in its life (a graceful delete that marks it, then the kubelet's
//! final one), and most other objects once. Neither needs the whole object to decide: the
//! final delete removes it and the graceful one rewrites two metadata fields. So a delete
//! reads only the fields below from the stored JSON (serde skips the rest while parsing,
//! without allocating) and parses the whole object only when it has to rewrite it.

use serde::Deserialize;
use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::store::StoreError;

/// The fields of a stored object a delete looks at. Leaves are kept as JSON values, so an
/// odd shape in a kind that does not use them (a `spec.nodeName` that is not a string)
/// cannot make the read fail.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DeleteView {
    /// The object's metadata.
    pub metadata: ViewMetadata,
    /// The part of a pod's spec that decides its grace period.
    pub spec: Option<ViewSpec>,
    /// The part of a pod's status that decides its grace period.
    pub status: Option<ViewStatus>,
}

/// The metadata fields a delete reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ViewMetadata {
    /// `metadata.name`.
    pub name: Option<Value>,
    /// `metadata.uid`, checked against a UID precondition.
    pub uid: Option<Value>,
    /// `metadata.finalizers`.
    pub finalizers: Option<Value>,
    /// `metadata.deletionTimestamp`: set once the object is being deleted.
    pub deletion_timestamp: Option<Value>,
    /// `metadata.deletionGracePeriodSeconds`.
    pub deletion_grace_period_seconds: Option<Value>,
}

/// The spec fields a pod delete reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ViewSpec {
    /// `spec.nodeName`: only bound pods are deleted gracefully.
    pub node_name: Option<Value>,
    /// `spec.terminationGracePeriodSeconds`, the default grace period.
    pub termination_grace_period_seconds: Option<Value>,
}

/// The status fields a pod delete reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ViewStatus {
    /// `status.phase`: finished pods are removed at once.
    pub phase: Option<Value>,
}

impl DeleteView {
    /// Reads the view from a stored object's JSON.
    pub(crate) fn read(json: &[u8]) -> Result<DeleteView, StoreError> {
        serde_json::from_slice(json)
            .map_err(|e| StoreError::Storage(format!("corrupt stored object: {e}")))
    }

    /// The object's UID, empty when it has none.
    pub(crate) fn uid(&self) -> &str {
        self.metadata
            .uid
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// True once a deletion timestamp is set.
    pub(crate) fn is_being_deleted(&self) -> bool {
        self.metadata
            .deletion_timestamp
            .as_ref()
            .is_some_and(|v| !v.is_null())
    }

    /// The grace period already granted by an earlier graceful delete.
    pub(crate) fn granted_grace(&self) -> Option<i64> {
        self.metadata
            .deletion_grace_period_seconds
            .as_ref()
            .and_then(Value::as_i64)
    }

    /// The finalizers the object keeps after a delete with propagation `policy`: the
    /// policy replaces the garbage collector's own finalizers (orphan, foregroundDeletion).
    pub(crate) fn updated_finalizers(&self, policy: Option<&str>) -> Vec<String> {
        let existing = self
            .metadata
            .finalizers
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let Some(policy) = policy else {
            return existing;
        };
        let mut out: Vec<String> = existing
            .into_iter()
            .filter(|f| {
                f != everynode_model::wellknown::ORPHAN_FINALIZER
                    && f != everynode_model::wellknown::FOREGROUND_DELETION_FINALIZER
            })
            .collect();
        match policy {
            "Orphan" => out.push(everynode_model::wellknown::ORPHAN_FINALIZER.into()),
            "Foreground" => {
                out.push(everynode_model::wellknown::FOREGROUND_DELETION_FINALIZER.into())
            }
            _ => {}
        }
        out
    }

    /// The grace period a delete gets: only bound, unfinished pods are deleted gracefully,
    /// for the requested period or else their `terminationGracePeriodSeconds` (30 s).
    pub(crate) fn grace_period(&self, info: &ResourceInfo, requested: Option<i64>) -> i64 {
        if !(info.group.is_empty() && info.plural == "pods") {
            return 0;
        }
        let spec = self.spec.as_ref();
        let bound = spec
            .and_then(|s| s.node_name.as_ref())
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let terminal = matches!(
            self.status
                .as_ref()
                .and_then(|s| s.phase.as_ref())
                .and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if !bound || terminal {
            return 0;
        }
        requested
            .or_else(|| {
                spec.and_then(|s| s.termination_grace_period_seconds.as_ref())
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(object: Value) -> DeleteView {
        DeleteView::read(object.to_string().as_bytes()).expect("a view of any object")
    }

    fn pods() -> &'static ResourceInfo {
        crate::registry::lookup("", "v1", "pods").expect("pods served")
    }

    #[test]
    fn propagation_policy_replaces_gc_finalizers() {
        let obj = view(json!({"metadata": {"finalizers": ["orphan", "example.com/keep"]}}));
        let cases: [(Option<&str>, Vec<&str>); 4] = [
            (None, vec!["orphan", "example.com/keep"]),
            (Some("Background"), vec!["example.com/keep"]),
            (
                Some("Foreground"),
                vec!["example.com/keep", "foregroundDeletion"],
            ),
            (Some("Orphan"), vec!["example.com/keep", "orphan"]),
        ];
        for (policy, want) in cases {
            assert_eq!(obj.updated_finalizers(policy), want, "{policy:?}");
        }
    }

    #[test]
    fn only_bound_running_pods_get_a_grace_period() {
        let cases = [
            (
                json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10}}),
                None,
                10,
            ),
            (json!({"spec": {"nodeName": "n1"}}), None, 30),
            (json!({"spec": {"nodeName": "n1"}}), Some(0), 0),
            (json!({"spec": {"nodeName": "n1"}}), Some(5), 5),
            (json!({"spec": {"nodeName": "n1"}}), Some(-3), 0),
            (json!({"spec": {}}), Some(5), 0),
            (
                json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}}),
                None,
                0,
            ),
        ];
        for (pod, requested, want) in cases {
            assert_eq!(
                view(pod.clone()).grace_period(pods(), requested),
                want,
                "{pod} {requested:?}"
            );
        }
        let config_maps = crate::registry::lookup("", "v1", "configmaps").expect("served");
        assert_eq!(
            view(json!({"spec": {"nodeName": "n1"}})).grace_period(config_maps, Some(5)),
            0
        );
    }

    #[test]
    fn reads_the_decisive_fields_and_skips_the_rest() {
        let v = view(json!({
            "metadata": {"name": "p", "uid": "u1", "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "deletionGracePeriodSeconds": 30, "labels": {"a": "b"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        assert_eq!(v.uid(), "u1");
        assert!(v.is_being_deleted());
        assert_eq!(v.granted_grace(), Some(30));
        let fresh = view(json!({"metadata": {"name": "q", "deletionTimestamp": null}}));
        assert_eq!(fresh.uid(), "");
        assert!(!fresh.is_being_deleted());
        assert_eq!(fresh.granted_grace(), None);
    }

    #[test]
    fn odd_leaf_shapes_in_other_kinds_do_not_fail_the_read() {
        let v = view(
            json!({"metadata": {"name": "x", "finalizers": "not-a-list"},
                            "spec": {"nodeName": 7}, "status": {"phase": ["odd"]}}),
        );
        assert!(v.updated_finalizers(None).is_empty());
        assert_eq!(v.grace_period(pods(), None), 0);
        assert!(DeleteView::read(b"not json").is_err());
    }
}
