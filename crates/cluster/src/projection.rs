//! Watching a kind for a few of its fields.
//!
//! Every component watches pods, and a pod event is a few KiB of JSON. The garbage collector
//! reads only metadata, pod GC only a pod's node and phase, the benchmarks only whether each
//! pod is available, the scheduler nothing of the status the kubelets write, and the
//! simulated kubelets nothing of the spec but the node and the containers' images; decoding
//! whole objects for them would build (and free) every container, condition and status
//! string of the cluster's pod churn. The types here name just those fields: serde skips the
//! rest while parsing, without allocating, and the same watch serves them (upstream's
//! components get the same effect from metadata-only informers).

use std::borrow::Cow;
use std::marker::PhantomData;

use everynode_model::pod::{is_terminal_phase, ready_among};
use k8s_openapi::api::core::v1::{Container, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;

/// An object of kind `K` as far as its metadata goes.
#[derive(Debug, Deserialize)]
pub(crate) struct MetadataOnly<K> {
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for MetadataOnly<K> {
    fn clone(&self) -> Self {
        MetadataOnly {
            metadata: self.metadata.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Resource<DynamicType = ()>> Resource for MetadataOnly<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

everynode_model::pod_projection!(PodProgress);

/// A pod as far as where it runs and how far it got: metadata, `spec.nodeName`,
/// `status.phase` and `status.conditions`. What pod GC (node and phase) and a watcher of
/// rollout progress (the benchmarks: availability) read.
#[derive(Debug, Clone, Deserialize)]
pub struct PodProgress {
    /// The pod's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec's `nodeName`.
    #[serde(default)]
    pub spec: Option<ProgressSpec>,
    /// The status's `phase` and `conditions`.
    #[serde(default)]
    pub status: Option<ProgressStatus>,
}

/// The part of a pod spec [`PodProgress`] keeps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressSpec {
    /// The node the pod is bound to.
    pub node_name: Option<String>,
}

/// The part of a pod status [`PodProgress`] keeps.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProgressStatus {
    /// Pending, Running, Succeeded, Failed or Unknown.
    pub phase: Option<String>,
    /// The pod's conditions (Ready among them).
    pub conditions: Option<Vec<PodCondition>>,
}

impl PodProgress {
    /// The bound node, if any (an empty name is no node).
    pub fn node(&self) -> Option<&str> {
        self.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
    }

    /// Phase Succeeded or Failed.
    pub fn is_terminal(&self) -> bool {
        is_terminal_phase(self.status.as_ref().and_then(|s| s.phase.as_deref()))
    }

    /// The `Ready` condition, if the pod has one.
    pub fn ready_condition(&self) -> Option<&PodCondition> {
        ready_among(self.status.as_ref()?.conditions.as_deref()?)
    }
}

everynode_model::pod_projection!(SchedulingPod);

/// A pod as the scheduler reads it: metadata, the whole spec, and of the status only what
/// the scheduler itself writes or checks (phase, nominatedNodeName, and each condition's
/// type, status, reason and message). The container statuses, addresses and times the
/// kubelets report are skipped.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SchedulingPod {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<PodSpec>,
    #[serde(default)]
    status: Option<SchedulingStatus>,
}

/// The part of a pod status [`SchedulingPod`] keeps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchedulingStatus {
    phase: Option<String>,
    conditions: Option<Vec<ConditionVerdict>>,
    nominated_node_name: Option<String>,
}

/// A pod condition without its times, which the scheduler never reads (parsing them is most of
/// the cost of a condition).
#[derive(Debug, Clone, Default, Deserialize)]
struct ConditionVerdict {
    #[serde(default, rename = "type")]
    type_: String,
    #[serde(default)]
    status: String,
    reason: Option<String>,
    message: Option<String>,
}

impl SchedulingPod {
    /// The pod with the fields read (the rest left empty), for code written against `Pod`.
    pub(crate) fn into_pod(self) -> Pod {
        Pod {
            metadata: self.metadata,
            spec: self.spec,
            status: self.status.map(|s| PodStatus {
                phase: s.phase,
                conditions: s.conditions.map(|c| {
                    c.into_iter()
                        .map(|c| PodCondition {
                            type_: c.type_,
                            status: c.status,
                            reason: c.reason,
                            message: c.message,
                            ..PodCondition::default()
                        })
                        .collect()
                }),
                nominated_node_name: s.nominated_node_name,
                ..PodStatus::default()
            }),
        }
    }
}

everynode_model::pod_projection!(KubeletPod);

/// A pod as the simulated kubelets read it: metadata, the node it is bound to, the names and
/// images of its containers and init containers, and the whole status (which they write).
/// Scheduling constraints, volumes and the rest of each container are skipped.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct KubeletPod {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<KubeletSpec>,
    #[serde(default)]
    status: Option<PodStatus>,
}

/// The part of a pod spec [`KubeletPod`] keeps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KubeletSpec {
    node_name: Option<String>,
    #[serde(default)]
    containers: Vec<ContainerImage>,
    init_containers: Option<Vec<ContainerImage>>,
}

/// A container's name and image.
#[derive(Debug, Clone, Default, Deserialize)]
struct ContainerImage {
    #[serde(default)]
    name: String,
    image: Option<String>,
}

impl ContainerImage {
    fn into_container(self) -> Container {
        Container {
            name: self.name,
            image: self.image,
            ..Container::default()
        }
    }
}

impl KubeletPod {
    /// The pod with the fields read (the rest left empty), for code written against `Pod`.
    pub(crate) fn into_pod(self) -> Pod {
        Pod {
            metadata: self.metadata,
            spec: self.spec.map(|s| PodSpec {
                node_name: s.node_name,
                containers: s
                    .containers
                    .into_iter()
                    .map(ContainerImage::into_container)
                    .collect(),
                init_containers: s
                    .init_containers
                    .map(|c| c.into_iter().map(ContainerImage::into_container).collect()),
                ..PodSpec::default()
            }),
            status: self.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod_json() -> String {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                              "name": "d", "uid": "d1", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}]}
        })
        .to_string()
    }

    #[test]
    fn metadata_only_reads_the_metadata_of_a_whole_object_and_names_its_kind() {
        let m: MetadataOnly<Pod> = serde_json::from_str(&pod_json()).unwrap();
        assert_eq!(m.metadata.name.as_deref(), Some("p"));
        assert_eq!(m.metadata.owner_references.as_ref().unwrap()[0].uid, "d1");
        assert_eq!(MetadataOnly::<Pod>::kind(&()), "Pod");
        assert_eq!(MetadataOnly::<Pod>::plural(&()), "pods");
        assert_eq!(
            MetadataOnly::<k8s_openapi::api::apps::v1::DaemonSet>::api_version(&()),
            "apps/v1"
        );
    }

    #[test]
    fn pod_progress_reads_node_phase_and_ready_and_treats_an_empty_node_as_unbound() {
        let p: PodProgress = serde_json::from_str(&pod_json()).unwrap();
        assert_eq!(p.node(), Some("n1"));
        assert!(p.is_terminal());
        assert_eq!(
            p.ready_condition().map(|c| c.status.as_str()),
            Some("False")
        );
        assert_eq!(p.metadata.uid.as_deref(), Some("u1"));
        let pending: PodProgress = serde_json::from_str(
            &json!({"metadata": {"name": "q"}, "spec": {"nodeName": ""},
                    "status": {"phase": "Pending"}})
            .to_string(),
        )
        .unwrap();
        assert_eq!(pending.node(), None);
        assert!(!pending.is_terminal());
        assert!(pending.ready_condition().is_none());
        assert_eq!(PodProgress::api_version(&()), "v1");
        assert_eq!(
            PodProgress::url_path(&(), Some("ns")),
            "/api/v1/namespaces/ns/pods"
        );
    }

    #[test]
    fn scheduling_pod_keeps_spec_and_scheduling_status_and_skips_kubelet_status() {
        let json = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "priority": 7,
                     "containers": [{"name": "c", "image": "i",
                                     "resources": {"requests": {"cpu": "100m"}}}]},
            "status": {"phase": "Running", "nominatedNodeName": "n2", "podIP": "10.0.0.1",
                       "conditions": [{"type": "PodScheduled", "status": "True"}],
                       "containerStatuses": [{"name": "c", "image": "i", "imageID": "",
                                              "ready": true, "restartCount": 0}]}
        });
        let pod = serde_json::from_value::<SchedulingPod>(json)
            .unwrap()
            .into_pod();
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.priority, Some(7));
        assert!(spec.containers[0].resources.is_some());
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.nominated_node_name.as_deref(), Some("n2"));
        assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "PodScheduled");
        assert!(status.container_statuses.is_none() && status.pod_ip.is_none());
        assert_eq!(SchedulingPod::plural(&()), "pods");
    }

    #[test]
    fn kubelet_pod_keeps_node_images_and_status_and_skips_the_rest_of_the_spec() {
        let json = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"nodeName": "n1",
                     "tolerations": [{"operator": "Exists"}],
                     "initContainers": [{"name": "init", "image": "i0"}],
                     "containers": [{"name": "c", "image": "i1",
                                     "env": [{"name": "A", "value": "1"}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1",
                       "containerStatuses": [{"name": "c", "image": "i1", "imageID": "",
                                              "ready": true, "restartCount": 2}]}
        });
        let pod = serde_json::from_value::<KubeletPod>(json)
            .unwrap()
            .into_pod();
        assert_eq!(pod.metadata.uid.as_deref(), Some("u1"));
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.containers[0].name, "c");
        assert_eq!(spec.containers[0].image.as_deref(), Some("i1"));
        assert!(spec.containers[0].env.is_none() && spec.tolerations.is_none());
        assert_eq!(
            spec.init_containers.as_ref().unwrap()[0].image.as_deref(),
            Some("i0")
        );
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(
            status.container_statuses.as_ref().unwrap()[0].restart_count,
            2
        );
    }
}
