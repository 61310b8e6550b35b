//! Trimming decoded objects that a component keeps for a long time.
//!
//! A `Vec` decoded from JSON grows by doubling while its elements are read (JSON gives no
//! length up front), so a pod's four conditions sit in room for eight, one owner reference
//! in room for four, and so on. Short-lived objects do not care, but the components cache
//! every pod and node of the cluster: at 5,000 nodes that slack is tens of megabytes per
//! cache. [`pod`] and [`node`] give the memory back by shrinking the lists a pod or a node
//! actually carries; what they do not reach only stays as loose as it was decoded.

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerStatus, Node, NodeSelectorTerm, Pod, PodAffinityTerm,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn list<T>(items: &mut Vec<T>, each: impl FnMut(&mut T)) {
    items.iter_mut().for_each(each);
    items.shrink_to_fit();
}

fn optional_list<T>(items: &mut Option<Vec<T>>, each: impl FnMut(&mut T)) {
    if let Some(items) = items {
        list(items, each);
    }
}

fn nothing<T>(_: &mut T) {}

fn meta(meta: &mut ObjectMeta) {
    optional_list(&mut meta.owner_references, nothing);
    optional_list(&mut meta.finalizers, nothing);
    optional_list(&mut meta.managed_fields, nothing);
}

fn container(c: &mut Container) {
    optional_list(&mut c.args, nothing);
    optional_list(&mut c.command, nothing);
    optional_list(&mut c.env, nothing);
    optional_list(&mut c.env_from, nothing);
    optional_list(&mut c.ports, nothing);
    optional_list(&mut c.volume_mounts, nothing);
    optional_list(&mut c.volume_devices, nothing);
    optional_list(&mut c.resize_policy, nothing);
}

fn container_status(s: &mut ContainerStatus) {
    optional_list(&mut s.volume_mounts, nothing);
    optional_list(&mut s.allocated_resources_status, nothing);
}

fn selector_term(term: &mut NodeSelectorTerm) {
    for requirements in [&mut term.match_expressions, &mut term.match_fields] {
        optional_list(requirements, |r| optional_list(&mut r.values, nothing));
    }
}

fn affinity(a: &mut Affinity) {
    if let Some(node) = &mut a.node_affinity {
        if let Some(required) = &mut node.required_during_scheduling_ignored_during_execution {
            list(&mut required.node_selector_terms, selector_term);
        }
        optional_list(
            &mut node.preferred_during_scheduling_ignored_during_execution,
            |p| selector_term(&mut p.preference),
        );
    }
    if let Some(pod) = &mut a.pod_affinity {
        pod_terms(
            &mut pod.required_during_scheduling_ignored_during_execution,
            &mut pod.preferred_during_scheduling_ignored_during_execution,
        );
    }
    if let Some(anti) = &mut a.pod_anti_affinity {
        pod_terms(
            &mut anti.required_during_scheduling_ignored_during_execution,
            &mut anti.preferred_during_scheduling_ignored_during_execution,
        );
    }
}

fn pod_terms(
    required: &mut Option<Vec<PodAffinityTerm>>,
    preferred: &mut Option<Vec<WeightedPodAffinityTerm>>,
) {
    optional_list(required, nothing);
    optional_list(preferred, nothing);
}

/// Shrinks the lists of a decoded pod (metadata, containers, tolerations, affinity terms,
/// volumes, conditions, container statuses, addresses) to their lengths.
pub fn pod(pod: &mut Pod) {
    meta(&mut pod.metadata);
    if let Some(spec) = &mut pod.spec {
        list(&mut spec.containers, container);
        optional_list(&mut spec.init_containers, container);
        optional_list(&mut spec.tolerations, nothing);
        optional_list(&mut spec.volumes, nothing);
        optional_list(&mut spec.image_pull_secrets, nothing);
        optional_list(&mut spec.readiness_gates, nothing);
        optional_list(&mut spec.topology_spread_constraints, nothing);
        if let Some(a) = &mut spec.affinity {
            affinity(a);
        }
    }
    if let Some(status) = &mut pod.status {
        optional_list(&mut status.conditions, nothing);
        optional_list(&mut status.container_statuses, container_status);
        optional_list(&mut status.init_container_statuses, container_status);
        optional_list(&mut status.pod_ips, nothing);
        optional_list(&mut status.host_ips, nothing);
    }
}

/// Shrinks the lists of a decoded node (metadata, taints, pod CIDRs, conditions, addresses,
/// images, volumes) to their lengths.
pub fn node(node: &mut Node) {
    meta(&mut node.metadata);
    if let Some(spec) = &mut node.spec {
        optional_list(&mut spec.taints, nothing);
        optional_list(&mut spec.pod_cidrs, nothing);
    }
    if let Some(status) = &mut node.status {
        optional_list(&mut status.conditions, nothing);
        optional_list(&mut status.addresses, nothing);
        optional_list(&mut status.images, |i| optional_list(&mut i.names, nothing));
        optional_list(&mut status.volumes_attached, nothing);
        optional_list(&mut status.volumes_in_use, nothing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> T {
        serde_json::from_str(&json.to_string()).unwrap()
    }

    #[test]
    fn a_decoded_pods_lists_hold_no_spare_room_after_trimming() {
        let mut p: Pod = decode(serde_json::json!({
            "metadata": {"name": "p", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "uid": "u"}]},
            "spec": {
                "containers": [{"name": "c", "image": "i", "env": [{"name": "A"}],
                                "ports": [{"containerPort": 80}]}],
                "tolerations": [{"key": "a"}, {"key": "b"}, {"key": "c"}, {"key": "d"},
                                {"key": "e"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                    {"nodeSelectorTerms": [{"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
            },
            "status": {"conditions": [{"type": "A", "status": "True"},
                {"type": "B", "status": "True"}, {"type": "C", "status": "True"},
                {"type": "D", "status": "True"}, {"type": "E", "status": "True"}]}
        }));
        let spec = p.spec.as_ref().unwrap();
        // Decoding leaves room to spare, or this test would not pin anything down.
        assert!(spec.tolerations.as_ref().unwrap().capacity() > 5);
        pod(&mut p);
        let spec = p.spec.as_ref().unwrap();
        let owners = p.metadata.owner_references.as_ref().unwrap();
        assert_eq!(owners.capacity(), owners.len());
        assert_eq!(spec.containers.capacity(), 1);
        let env = spec.containers[0].env.as_ref().unwrap();
        assert_eq!(env.capacity(), env.len());
        assert_eq!(spec.tolerations.as_ref().unwrap().capacity(), 5);
        let terms = &spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.capacity(), 1);
        let fields = terms[0].match_fields.as_ref().unwrap();
        assert_eq!(fields.capacity(), 1);
        assert_eq!(fields[0].values.as_ref().unwrap().capacity(), 1);
        let conditions = p.status.as_ref().unwrap().conditions.as_ref().unwrap();
        assert_eq!(conditions.capacity(), 5);
        assert_eq!(conditions[4].type_, "E");
    }

    #[test]
    fn a_decoded_nodes_lists_hold_no_spare_room_after_trimming() {
        let mut n: Node = decode(serde_json::json!({
            "metadata": {"name": "n"},
            "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"},
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "DiskPressure", "status": "False"},
                    {"type": "PIDPressure", "status": "False"},
                    {"type": "NetworkUnavailable", "status": "False"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]
            }
        }));
        assert!(
            n.status
                .as_ref()
                .unwrap()
                .conditions
                .as_ref()
                .unwrap()
                .capacity()
                > 5
        );
        node(&mut n);
        let status = n.status.as_ref().unwrap();
        assert_eq!(status.conditions.as_ref().unwrap().capacity(), 5);
        assert_eq!(status.addresses.as_ref().unwrap().capacity(), 1);
        assert_eq!(
            n.spec.as_ref().unwrap().taints.as_ref().unwrap().capacity(),
            1
        );
    }
}
