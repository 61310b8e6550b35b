//! What the controller reads of a pod, and only that.
//!
//! The controller sees every change to every pod, and a pod's JSON is mostly containers,
//! tolerations, volumes and container statuses, none of which a sync reads: the engine
//! looks at a pod's metadata, where it runs (`spec.nodeName`, or the node affinity that pins
//! an unbound daemon pod), its phase and its conditions. Watching pods as [`WatchedPod`]
//! lets serde skip the rest while parsing, which makes each watch event cheaper to apply
//! and each cached pod smaller; [`WatchedPod::into_pod`] turns it into the `Pod` the cache
//! and the engine work with, carrying just those fields.

use k8s_openapi::api::core::v1::{Affinity, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

/// A pod as far as a sync reads it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WatchedPod {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<WatchedSpec>,
    #[serde(default)]
    status: Option<WatchedStatus>,
}

/// The part of a pod's spec a sync reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatchedSpec {
    node_name: Option<String>,
    affinity: Option<Affinity>,
}

/// The part of a pod's status a sync reads.
#[derive(Debug, Clone, Default, Deserialize)]
struct WatchedStatus {
    phase: Option<String>,
    conditions: Option<Vec<PodCondition>>,
}

impl WatchedPod {
    /// The pod with the fields read and every other field empty.
    pub(crate) fn into_pod(self) -> Pod {
        Pod {
            metadata: self.metadata,
            spec: self.spec.map(|s| PodSpec {
                node_name: s.node_name,
                affinity: s.affinity,
                ..PodSpec::default()
            }),
            status: self.status.map(|s| PodStatus {
                phase: s.phase,
                conditions: s.conditions,
                ..PodStatus::default()
            }),
        }
    }
}

everynode_model::pod_projection!(WatchedPod);

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn keeps_what_a_sync_reads_and_drops_the_rest() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                         "labels": {"app": "a", "controller-revision-hash": "h1"},
                         "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                              "name": "d", "uid": "d1", "controller": true}]},
            "spec": {
                "containers": [{"name": "c", "image": "i"}],
                "tolerations": [{"operator": "Exists"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                    {"nodeSelectorTerms": [{"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
            },
            "status": {"phase": "Running", "podIP": "10.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                       "containerStatuses": [{"name": "c", "image": "i", "imageID": "",
                                              "ready": true, "restartCount": 0}]}
        });
        let watched: WatchedPod = serde_json::from_value(pod).expect("a pod decodes");
        let pod = watched.into_pod();
        assert_eq!(pod.metadata.name.as_deref(), Some("p"));
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert!(everynode_model::pod::controller_ref(&pod.metadata).is_some());
        assert_eq!(everynode_model::pod::target_node(&pod), Some("n1"));
        assert!(everynode_model::pod::is_ready(&pod));
        let spec = pod.spec.as_ref().expect("spec kept");
        assert!(spec.containers.is_empty() && spec.tolerations.is_none());
        let status = pod.status.as_ref().expect("status kept");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.pod_ip.is_none() && status.container_statuses.is_none());
        assert_eq!(
            WatchedPod::url_path(&(), Some("ns")),
            "/api/v1/namespaces/ns/pods"
        );
    }
}
