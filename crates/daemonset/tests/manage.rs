//! Spec 3.8, 3.10, 3.12: per-node creates and deletes.

mod common;

use std::time::Duration;

use common::*;
use everynode_daemonset::{DeleteReason, Halt, plan};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn deleted(plan: &everynode_daemonset::Plan) -> Vec<(&str, DeleteReason)> {
    plan.pod_deletes
        .iter()
        .map(|d| (d.target.name.as_str(), d.reason))
        .collect()
}

fn created(plan: &everynode_daemonset::Plan) -> Vec<&str> {
    plan.pod_creates
        .iter()
        .map(|c| c.node_name.as_str())
        .collect()
}

#[test]
fn creates_on_eligible_nodes_and_deletes_where_pods_must_go() {
    let ds = daemonset();
    let hash = everynode_daemonset::template_hash(&ds.spec.template, None);
    let nodes = [
        node("a-empty", &[], vec![]),
        node("b-noschedule", &[], vec![taint("x", None, "NoSchedule")]),
        node("c-noexecute", &[], vec![taint("x", None, "NoExecute")]),
        node("d-ok", &[], vec![]),
    ];
    let pods = [
        pod("p-b", "b-noschedule", &hash, 0, Some(0)),
        pod("p-c", "c-noexecute", &hash, 0, Some(0)),
        pod("p-d", "d-ok", &hash, 0, Some(0)),
    ];
    let p = plan(&observed(&ds, &nodes, &pods, &[]), t(100));
    assert_eq!(created(&p), vec!["a-empty"]);
    assert_eq!(deleted(&p), vec![("p-c", DeleteReason::NodeNotEligible)]);
    assert_eq!(
        p.pod_creates[0]
            .pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("controller-revision-hash")),
        Some(&hash)
    );
}

#[test]
fn duplicates_keep_bound_then_oldest_then_smallest_name() {
    let ds = daemonset();
    let hash = everynode_daemonset::template_hash(&ds.spec.template, None);
    let unbound = |name: &str, created: i64| {
        let mut p = pod(name, "n1", &hash, created, Some(created));
        if let Some(s) = p.spec.as_mut() {
            s.node_name = None;
        }
        everynode_daemonset::pod_template::pin_to_node(
            p.spec.get_or_insert_with(Default::default),
            "n1",
        );
        p
    };
    let cases: Vec<(&str, Vec<Pod>, &str)> = vec![
        (
            "older survives",
            vec![
                pod("young", "n1", &hash, 20, Some(20)),
                pod("old", "n1", "other", 10, Some(10)),
            ],
            "old",
        ),
        (
            "bound beats older unbound",
            vec![unbound("early", 1), pod("bound", "n1", &hash, 50, Some(50))],
            "bound",
        ),
        (
            "same age: smaller name",
            vec![
                pod("b", "n1", &hash, 5, Some(5)),
                pod("a", "n1", &hash, 5, Some(5)),
            ],
            "a",
        ),
    ];
    for (name, pods, survivor) in cases {
        let p = plan(
            &observed(&ds, &[node("n1", &[], vec![])], &pods, &[]),
            t(100),
        );
        let gone: Vec<&str> = p
            .pod_deletes
            .iter()
            .map(|d| d.target.name.as_str())
            .collect();
        assert_eq!(gone.len(), pods.len() - 1, "{name}");
        assert!(!gone.contains(&survivor), "{name}: {gone:?}");
        assert!(
            p.pod_deletes
                .iter()
                .all(|d| d.reason == DeleteReason::Duplicate),
            "{name}"
        );
        assert!(p.pod_creates.is_empty(), "{name}");
    }
}

#[test]
fn failed_pods_are_deleted_with_backoff_succeeded_without() {
    let ds = daemonset();
    let hash = everynode_daemonset::template_hash(&ds.spec.template, None);
    let nodes = [node("n1", &[], vec![])];
    let failed = with_phase(pod("f1", "n1", &hash, 0, None), "Failed");
    let mut o = observed(&ds, &nodes, std::slice::from_ref(&failed), &[]);
    let first = plan(&o, t(100));
    assert_eq!(deleted(&first), vec![("f1", DeleteReason::Failed)]);
    assert_eq!(first.events[0].reason, "FailedDaemonPod");
    assert_eq!(
        first.events[0].message,
        "Found failed daemon pod default/f1 on node n1, will try to kill it"
    );
    // The replacement fails at once too: in backoff, skipped, requeued after what remains.
    o.backoff = first.backoff.clone();
    o.pods = vec![std::sync::Arc::new(with_phase(
        pod("f2", "n1", &hash, 100, None),
        "Failed",
    ))];
    let second = plan(&o, t(100));
    assert!(second.pod_deletes.is_empty());
    assert_eq!(second.requeue_after, Some(Duration::from_secs(1)));
    let third = plan(&o, t(101));
    assert_eq!(deleted(&third), vec![("f2", DeleteReason::Failed)]);
    let entry = third.backoff.entries.values().next().expect("entry");
    assert_eq!(entry.delay, Duration::from_secs(2), "delay doubles");

    let succeeded = with_phase(pod("s1", "n1", &hash, 0, None), "Succeeded");
    let mut o = observed(&ds, &nodes, &[succeeded], &[]);
    o.backoff = third.backoff.clone();
    let p = plan(&o, t(101));
    assert_eq!(deleted(&p), vec![("s1", DeleteReason::Succeeded)]);
    assert_eq!(p.events[0].reason, "SucceededDaemonPod");
}

#[test]
fn terminating_pod_blocks_create_without_surge_but_not_with_surge() {
    let hash = everynode_daemonset::template_hash(&daemonset().spec.template, None);
    let nodes = [node("n1", &[], vec![])];
    let terminating = deleting(pod("old", "n1", &hash, 0, Some(0)), 50);
    let mut surge = daemonset();
    set_strategy(&mut surge, IntOrString::Int(0), IntOrString::Int(1));
    let cases = [
        ("no surge waits", daemonset(), 0usize),
        ("surge replaces at once", surge, 1),
    ];
    for (name, ds, creates) in cases {
        let p = plan(
            &observed(&ds, &nodes, std::slice::from_ref(&terminating), &[]),
            t(100),
        );
        assert_eq!(p.pod_creates.len(), creates, "{name}");
        assert!(p.pod_deletes.is_empty(), "{name}: never delete twice");
    }
    // A terminal pod being deleted is invisible: the node is empty.
    let gone = deleting(with_phase(pod("old", "n1", &hash, 0, None), "Failed"), 50);
    let p = plan(&observed(&daemonset(), &nodes, &[gone], &[]), t(100));
    assert_eq!(created(&p), vec!["n1"]);
}

#[test]
fn unbound_pods_on_vanished_nodes_are_deleted_bound_ones_left_to_podgc() {
    let ds = daemonset();
    let hash = everynode_daemonset::template_hash(&ds.spec.template, None);
    let mut unbound = pod("unbound", "gone", &hash, 0, None);
    if let Some(s) = unbound.spec.as_mut() {
        s.node_name = None;
    }
    everynode_daemonset::pod_template::pin_to_node(
        unbound.spec.get_or_insert_with(Default::default),
        "gone",
    );
    let bound = pod("bound", "gone2", &hash, 0, Some(0));
    let p = plan(&observed(&ds, &[], &[unbound, bound], &[]), t(100));
    assert_eq!(deleted(&p), vec![("unbound", DeleteReason::NodeGone)]);
}

#[test]
fn burst_cap_limits_creates_and_deletes_separately() {
    let ds = daemonset();
    let mut nodes = Vec::new();
    let mut pods = Vec::new();
    for i in 0..300 {
        nodes.push(node(&format!("new-{i:03}"), &[], vec![]));
        let name = format!("evict-{i:03}");
        nodes.push(node(&name, &[], vec![taint("x", None, "NoExecute")]));
        pods.push(pod(&format!("p{i:03}"), &name, "h", 0, Some(0)));
    }
    let p = plan(&observed(&ds, &nodes, &pods, &[]), t(100));
    assert_eq!(p.pod_creates.len(), 250);
    assert_eq!(p.pod_deletes.len(), 250);
}

#[test]
fn surge_keeps_oldest_new_and_old_and_drops_old_once_new_available() {
    let mut ds = daemonset();
    set_strategy(&mut ds, IntOrString::Int(0), IntOrString::Int(1));
    let hash = everynode_daemonset::template_hash(&ds.spec.template, None);
    let nodes = [node("n1", &[], vec![])];
    type Case = (&'static str, Vec<Pod>, Vec<(&'static str, DeleteReason)>);
    let cases: Vec<Case> = vec![
        (
            "new not ready: keep both",
            vec![
                pod("old", "n1", "x", 0, Some(0)),
                pod("new", "n1", &hash, 10, None),
            ],
            vec![],
        ),
        (
            "new available: old goes",
            vec![
                pod("old", "n1", "x", 0, Some(0)),
                pod("new", "n1", &hash, 10, Some(10)),
            ],
            vec![("old", DeleteReason::SurgeReplaced)],
        ),
        (
            "old unready: old goes",
            vec![
                pod("old", "n1", "x", 0, None),
                pod("new", "n1", &hash, 10, None),
            ],
            vec![("old", DeleteReason::SurgeReplaced)],
        ),
        (
            "extra new and old pruned",
            vec![
                pod("old", "n1", "x", 0, Some(0)),
                pod("old2", "n1", "y", 1, Some(1)),
                pod("new", "n1", &hash, 10, None),
                pod("new2", "n1", &hash, 11, None),
            ],
            vec![
                ("old2", DeleteReason::Duplicate),
                ("new2", DeleteReason::Duplicate),
            ],
        ),
    ];
    for (name, pods, want) in cases {
        let p = plan(&observed(&ds, &nodes, &pods, &[]), t(100));
        assert_eq!(deleted(&p), want, "{name}");
    }
}

#[test]
fn empty_selector_and_deletion_halt_the_sync() {
    let mut all = daemonset();
    all.spec.selector = Default::default();
    let p = plan(&observed(&all, &[node("n1", &[], vec![])], &[], &[]), t(1));
    assert_eq!(p.halt, Some(Halt::SelectingAll));
    assert_eq!(p.events[0].reason, "SelectingAll");
    assert!(p.pod_creates.is_empty() && p.status.is_none());
    let mut gone = daemonset();
    gone.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(0)));
    let p = plan(&observed(&gone, &[node("n1", &[], vec![])], &[], &[]), t(1));
    assert_eq!(p.halt, Some(Halt::BeingDeleted));
    assert!(p.pod_creates.is_empty() && p.status.is_none() && p.revision_writes.is_empty());
}

#[test]
fn orphans_are_adopted_and_unmatched_pods_released() {
    let ds = daemonset();
    let hash = everynode_daemonset::template_hash(&ds.spec.template, None);
    let mut orphan = pod("orphan", "n1", &hash, 0, Some(0));
    orphan.metadata.owner_references = None;
    let mut strayed = pod("strayed", "n2", &hash, 0, Some(0));
    strayed.metadata.labels = Some(labels(&[("app", "other")]));
    let mut foreign = pod("foreign", "n2", &hash, 0, Some(0));
    foreign.metadata.owner_references = Some(vec![owner_ref("someone-else")]);
    let p = plan(
        &observed(
            &ds,
            &[node("n1", &[], vec![]), node("n2", &[], vec![])],
            &[orphan, strayed, foreign],
            &[],
        ),
        t(100),
    );
    assert_eq!(
        p.adopt_pods
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["orphan"]
    );
    assert_eq!(
        p.release_pods
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["strayed"]
    );
    // The adopted pod counts as n1's pod; n2 has none of ours.
    assert_eq!(created(&p), vec!["n2"]);
}
