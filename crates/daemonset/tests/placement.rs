//! Spec 3.3 / 3.4: which nodes should run a daemon pod, with reasons.

mod common;

use common::*;
use everynode_daemonset::placement::{PlacementContext, automatic_tolerations};
use everynode_daemonset::{PlacementReason, node_should_run};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Taint,
    Toleration,
};

fn ds_with(
    tolerations: Vec<Toleration>,
    host_network: bool,
) -> k8s_openapi::api::apps::v1::DaemonSet {
    let mut ds = daemonset();
    let spec = ds.spec.template.spec.as_mut().expect("template spec");
    spec.tolerations = if tolerations.is_empty() {
        None
    } else {
        Some(tolerations)
    };
    spec.host_network = Some(host_network);
    ds
}

#[test]
fn taints_decide_should_run_and_continue_running() {
    let cp = taint("node-role.kubernetes.io/control-plane", None, "NoSchedule");
    // (name, taints, tolerations, hostNetwork, shouldRun, shouldContinueRunning)
    type Case = (&'static str, Vec<Taint>, Vec<Toleration>, bool, bool, bool);
    let cases: Vec<Case> = vec![
        ("untainted node runs", vec![], vec![], false, true, true),
        (
            "untolerated NoSchedule keeps existing pods",
            vec![cp.clone()],
            vec![],
            false,
            false,
            true,
        ),
        (
            "untolerated NoExecute evicts",
            vec![taint("example.com/x", Some("y"), "NoExecute")],
            vec![],
            false,
            false,
            false,
        ),
        (
            "PreferNoSchedule is ignored",
            vec![taint("example.com/x", None, "PreferNoSchedule")],
            vec![],
            false,
            true,
            true,
        ),
        (
            "tolerated control-plane taint",
            vec![cp.clone()],
            vec![toleration(
                Some("node-role.kubernetes.io/control-plane"),
                "Exists",
                None,
                Some("NoSchedule"),
            )],
            false,
            true,
            true,
        ),
        (
            "operator Exists without key tolerates all",
            vec![cp, taint("a", Some("b"), "NoExecute")],
            vec![toleration(None, "Exists", None, None)],
            false,
            true,
            true,
        ),
        (
            "automatic: not-ready NoExecute tolerated",
            vec![taint("node.kubernetes.io/not-ready", None, "NoExecute")],
            vec![],
            false,
            true,
            true,
        ),
        (
            "automatic: unreachable NoExecute tolerated",
            vec![taint("node.kubernetes.io/unreachable", None, "NoExecute")],
            vec![],
            false,
            true,
            true,
        ),
        (
            "not-ready NoSchedule is NOT tolerated",
            vec![taint("node.kubernetes.io/not-ready", None, "NoSchedule")],
            vec![],
            false,
            false,
            true,
        ),
        (
            "unreachable NoSchedule is NOT tolerated",
            vec![taint("node.kubernetes.io/unreachable", None, "NoSchedule")],
            vec![],
            false,
            false,
            true,
        ),
        (
            "automatic: pressure and unschedulable tolerated",
            vec![
                taint("node.kubernetes.io/disk-pressure", None, "NoSchedule"),
                taint("node.kubernetes.io/memory-pressure", None, "NoSchedule"),
                taint("node.kubernetes.io/pid-pressure", None, "NoSchedule"),
                taint("node.kubernetes.io/unschedulable", None, "NoSchedule"),
            ],
            vec![],
            false,
            true,
            true,
        ),
        (
            "network-unavailable blocks without hostNetwork",
            vec![taint(
                "node.kubernetes.io/network-unavailable",
                None,
                "NoSchedule",
            )],
            vec![],
            false,
            false,
            true,
        ),
        (
            "hostNetwork tolerates network-unavailable",
            vec![taint(
                "node.kubernetes.io/network-unavailable",
                None,
                "NoSchedule",
            )],
            vec![],
            true,
            true,
            true,
        ),
        (
            "Equal needs equal value",
            vec![taint("gpu", Some("a100"), "NoSchedule")],
            vec![toleration(
                Some("gpu"),
                "Equal",
                Some("h100"),
                Some("NoSchedule"),
            )],
            false,
            false,
            true,
        ),
        (
            "Equal with equal value tolerates",
            vec![taint("gpu", Some("a100"), "NoSchedule")],
            vec![toleration(Some("gpu"), "Equal", Some("a100"), None)],
            false,
            true,
            true,
        ),
    ];
    for (name, taints, tolerations, host_network, want_run, want_continue) in cases {
        let ds = ds_with(tolerations, host_network);
        let got = node_should_run(&ds, &node("n1", &[], taints));
        assert_eq!(
            (got.should_run, got.should_continue_running),
            (want_run, want_continue),
            "{name}"
        );
        assert_eq!(
            got.reasons.is_empty(),
            want_run,
            "{name}: reasons only when not running: {:?}",
            got.reasons
        );
    }
}

#[test]
fn untolerated_taint_reason_reads_like_kubectl() {
    let ds = ds_with(vec![], false);
    let got = node_should_run(
        &ds,
        &node(
            "cp",
            &[],
            vec![taint(
                "node-role.kubernetes.io/control-plane",
                None,
                "NoSchedule",
            )],
        ),
    );
    let lines: Vec<String> = got.reasons.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        vec!["taint node-role.kubernetes.io/control-plane:NoSchedule is not tolerated".to_owned()]
    );
}

#[test]
fn node_name_pinning_and_selectors() {
    let mut pinned = daemonset();
    pinned.spec.template.spec.as_mut().expect("spec").node_name = Some("n2".to_owned());
    let mut selected = daemonset();
    selected
        .spec
        .template
        .spec
        .as_mut()
        .expect("spec")
        .node_selector = Some(labels(&[("pool", "workload")]));
    let mut affinity = daemonset();
    affinity.spec.template.spec.as_mut().expect("spec").affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: "node-type".to_owned(),
                        operator: "NotIn".to_owned(),
                        values: Some(vec!["gpu".to_owned()]),
                    }]),
                    match_fields: None,
                }],
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        ..Affinity::default()
    });
    let plain = node("n1", &[("pool", "workload")], vec![]);
    let gpu = node("n1", &[("node-type", "gpu")], vec![]);
    let cases = [
        ("nodeName pins elsewhere", &pinned, &plain, false, false),
        (
            "nodeName pins here",
            &pinned,
            &node("n2", &[], vec![]),
            true,
            true,
        ),
        ("nodeSelector matches", &selected, &plain, true, true),
        (
            "nodeSelector mismatch stops existing pods too",
            &selected,
            &gpu,
            false,
            false,
        ),
        (
            "affinity NotIn matches absent label",
            &affinity,
            &plain,
            true,
            true,
        ),
        ("affinity NotIn rejects gpu", &affinity, &gpu, false, false),
    ];
    for (name, ds, n, want_run, want_continue) in cases {
        let got = node_should_run(ds, n);
        assert_eq!(
            (got.should_run, got.should_continue_running),
            (want_run, want_continue),
            "{name}"
        );
    }
    let got = node_should_run(&pinned, &plain);
    assert!(
        matches!(&got.reasons[0], PlacementReason::NodeNameMismatch { wanted } if wanted == "n2")
    );
    let got = node_should_run(&affinity, &gpu);
    assert!(matches!(&got.reasons[0], PlacementReason::Affinity(_)));
}

#[test]
fn automatic_tolerations_replace_matching_user_toleration() {
    let mut user = toleration(
        Some("node.kubernetes.io/not-ready"),
        "Exists",
        None,
        Some("NoExecute"),
    );
    user.toleration_seconds = Some(30);
    let ds = ds_with(vec![user], false);
    let ctx = PlacementContext::new(&ds);
    let not_ready: Vec<&Toleration> = ctx
        .tolerations()
        .iter()
        .filter(|t| t.key.as_deref() == Some("node.kubernetes.io/not-ready"))
        .collect();
    assert_eq!(not_ready.len(), 1);
    assert_eq!(
        not_ready[0].toleration_seconds, None,
        "user tolerationSeconds is dropped"
    );
    assert_eq!(ctx.tolerations().len(), automatic_tolerations(false).len());
    assert_eq!(
        automatic_tolerations(true).len(),
        automatic_tolerations(false).len() + 1
    );
}
