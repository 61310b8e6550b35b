//! Spec 3.11: status arithmetic, the skip rule and expectations pending.

mod common;

use std::time::Duration;

use common::*;
use everynode_daemonset::plan;
use k8s_openapi::api::apps::v1::DaemonSetStatus;

#[test]
fn status_counts_first_pod_per_node_and_misscheduled() {
    let mut ds = daemonset();
    ds.spec.min_ready_seconds = Some(30);
    let hash = everynode_daemonset::template_hash(&ds.spec.template, None);
    let nodes = [
        node("a", &[], vec![]),
        node("b", &[], vec![]),
        node("c", &[], vec![]),
        node("d", &[], vec![]),
        node("tainted", &[], vec![taint("x", None, "NoSchedule")]),
    ];
    let mut generation_only = pod("pb", "b", "stale", 0, Some(90));
    generation_only
        .metadata
        .labels
        .as_mut()
        .map(|l| l.insert("pod-template-generation".to_owned(), "1".to_owned()));
    let pods = [
        pod("pa", "a", &hash, 0, Some(10)), // ready and available (ready 90s > 30s)
        generation_only,                    // ready, not yet available; updated by generation
        pod("pc", "c", "old", 0, None),     // not ready, old
        pod("pt", "tainted", &hash, 0, Some(0)), // misscheduled
    ];
    let p = plan(&observed(&ds, &nodes, &pods, &[]), t(100));
    let s = p.status.expect("status changes");
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready,
            s.number_available,
            s.updated_number_scheduled,
            s.number_misscheduled,
            s.number_unavailable,
            s.observed_generation
        ),
        (4, 3, 2, Some(1), Some(2), 1, Some(3), Some(1))
    );
    assert_eq!(
        p.requeue_after,
        Some(Duration::from_secs(30)),
        "ready != available with minReadySeconds"
    );
}

#[test]
fn unchanged_status_is_not_written_and_pending_expectations_keep_observed_generation() {
    let mut sim = Sim::new(daemonset(), vec![node("a", &[], vec![])]);
    sim.converge(10);
    let p = sim.plan();
    assert!(
        p.status.is_none(),
        "unchanged counters and observedGeneration >= generation"
    );

    // Spec change observed while creates are still outstanding: counters recomputed, but
    // observedGeneration stays, and nothing else happens.
    set_image(&mut sim.ds, "agent:v2");
    sim.nodes.push(node("b", &[], vec![]));
    let mut o = sim.observed();
    o.expectations_satisfied = false;
    let p = plan(&o, t(sim.now));
    let s: DaemonSetStatus = p.status.expect("counters changed");
    assert_eq!(s.observed_generation, Some(1));
    assert_eq!(s.desired_number_scheduled, 2);
    assert_eq!(s.updated_number_scheduled, Some(0));
    assert!(p.pod_creates.is_empty() && p.pod_deletes.is_empty());
    o.expectations_satisfied = true;
    let p = plan(&o, t(sim.now));
    assert_eq!(p.status.and_then(|s| s.observed_generation), Some(2));
}
