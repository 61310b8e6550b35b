//! Spec 3.9: how a daemon pod is built.

mod common;

use common::*;
use everynode_daemonset::daemon_pod;
use everynode_daemonset::pod_template::generate_name;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorTerm, PreferredSchedulingTerm,
};

#[test]
fn daemon_pod_carries_labels_owner_and_pin() {
    let mut ds = daemonset();
    let meta = ds.spec.template.metadata.as_mut().expect("meta");
    meta.annotations = Some(labels(&[("a", "b")]));
    meta.finalizers = Some(vec!["example.com/f".to_owned()]);
    let spec = ds.spec.template.spec.as_mut().expect("spec");
    spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm::default(), NodeSelectorTerm::default()],
            }),
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                PreferredSchedulingTerm {
                    weight: 1,
                    preference: NodeSelectorTerm::default(),
                },
            ]),
        }),
        ..Affinity::default()
    });
    let pod = daemon_pod(&ds, "node-a", "abc123");
    let l = pod.metadata.labels.clone().expect("labels");
    assert_eq!(l.get("app").map(String::as_str), Some("agent"));
    assert_eq!(
        l.get("controller-revision-hash").map(String::as_str),
        Some("abc123")
    );
    assert_eq!(
        l.get("pod-template-generation").map(String::as_str),
        Some("1")
    );
    assert_eq!(pod.metadata.annotations, Some(labels(&[("a", "b")])));
    assert_eq!(
        pod.metadata.finalizers,
        Some(vec!["example.com/f".to_owned()])
    );
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("agent-"));
    assert_eq!(pod.metadata.name, None);
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    let owner = &pod.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.uid.as_str(),
            owner.controller,
            owner.block_owner_deletion
        ),
        ("DaemonSet", DS_UID, Some(true), Some(true))
    );
    let spec = pod.spec.expect("spec");
    assert_eq!(spec.node_name, None, "the scheduler binds");
    let na = spec
        .affinity
        .and_then(|a| a.node_affinity)
        .expect("node affinity");
    let terms = na
        .required_during_scheduling_ignored_during_execution
        .expect("required")
        .node_selector_terms;
    assert_eq!(terms.len(), 1, "user terms replaced");
    let field = &terms[0].match_fields.as_ref().expect("matchFields")[0];
    assert_eq!(
        (
            field.key.as_str(),
            field.operator.as_str(),
            field.values.clone()
        ),
        ("metadata.name", "In", Some(vec!["node-a".to_owned()]))
    );
    assert_eq!(
        na.preferred_during_scheduling_ignored_during_execution
            .map(|p| p.len()),
        Some(1),
        "preferred kept"
    );
    let keys: Vec<String> = spec
        .tolerations
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| t.key)
        .collect();
    assert!(keys.contains(&"node.kubernetes.io/unschedulable".to_owned()));
}

#[test]
fn daemon_pod_without_hash_or_generation_omits_those_labels() {
    let mut ds = daemonset();
    ds.metadata.annotations = Some(labels(&[(
        "deprecated.daemonset.template.generation",
        "not-a-number",
    )]));
    let pod = daemon_pod(&ds, "n", "");
    let l = pod.metadata.labels.expect("labels");
    assert!(!l.contains_key("controller-revision-hash"));
    assert!(!l.contains_key("pod-template-generation"));
}

#[test]
fn generate_name_falls_back_when_prefix_too_long() {
    let long = "a".repeat(253);
    let cases = [
        ("agent", "agent-"),
        ("a.b", "a.b-"),
        (long.as_str(), long.as_str()),
    ];
    for (ds_name, want) in cases {
        assert_eq!(generate_name(ds_name), want, "{ds_name}");
    }
}
