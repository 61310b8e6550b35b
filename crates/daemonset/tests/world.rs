//! The per-sync world: slots in name order whatever the node list's order, pods grouped
//! under their node in upstream's order, and per-pod facts that agree with the predicates
//! they stand for.

mod common;

use common::*;
use everynode_daemonset::PlacementContext;
use everynode_daemonset::pod_template::pin_to_node;
use everynode_daemonset::world::{PodPhase, World, daemon_pod_order};
use everynode_model::wellknown::POD_TEMPLATE_GENERATION_LABEL;
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};

const HASH: &str = "current";

fn build<'a>(
    nodes: &'a [Node],
    pods: &'a [Pod],
    ds: &'a k8s_openapi::api::apps::v1::DaemonSet,
) -> World<'a> {
    let placement = PlacementContext::new(ds);
    let refs: Vec<&Pod> = pods.iter().collect();
    World::build(ds, &placement, nodes, &refs, HASH.to_owned(), t(100))
}

fn names(world: &World<'_>) -> Vec<String> {
    world.slots.iter().map(|s| s.name.to_owned()).collect()
}

fn pod_names(pods: &[&Pod]) -> Vec<String> {
    pods.iter()
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect()
}

fn unbound(mut p: Pod, node: &str) -> Pod {
    let spec = p.spec.get_or_insert_with(PodSpec::default);
    spec.node_name = None;
    pin_to_node(spec, node);
    p
}

#[test]
fn slots_are_in_name_order_whatever_the_node_list_order() {
    let ds = daemonset();
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        ("already sorted", vec!["a", "b", "c"], vec!["a", "b", "c"]),
        ("reversed", vec!["c", "b", "a"], vec!["a", "b", "c"]),
        (
            "shuffled",
            vec!["b", "d", "a", "c"],
            vec!["a", "b", "c", "d"],
        ),
        (
            "duplicates keep one slot",
            vec!["b", "a", "b", "a"],
            vec!["a", "b"],
        ),
        ("empty", vec![], vec![]),
    ];
    for (case, input, want) in cases {
        let nodes: Vec<Node> = input.iter().map(|n| node(n, &[], vec![])).collect();
        let world = build(&nodes, &[], &ds);
        assert_eq!(names(&world), want, "{case}");
        assert!(world.slots.iter().all(|s| s.node.is_some()), "{case}");
    }
}

#[test]
fn pods_land_under_their_node_and_vanished_nodes_get_slots() {
    let ds = daemonset();
    let nodes = [node("n2", &[], vec![]), node("n1", &[], vec![])];
    let pods = [
        pod("p-gone-b", "zz-gone", HASH, 0, Some(0)),
        pod("p1", "n1", HASH, 0, Some(0)),
        unbound(pod("p-gone-a", "a-gone", HASH, 0, Some(0)), "a-gone"),
        pod("p2", "n2", HASH, 0, Some(0)),
        pod("p1b", "n1", HASH, 5, Some(5)),
    ];
    let world = build(&nodes, &pods, &ds);
    assert_eq!(names(&world), ["a-gone", "n1", "n2", "zz-gone"]);
    let grouped: Vec<(String, bool, Vec<String>)> = world
        .slots
        .iter()
        .map(|s| {
            (
                s.name.to_owned(),
                s.node.is_some(),
                pod_names(world.pods_of(s)),
            )
        })
        .collect();
    assert_eq!(
        grouped,
        vec![
            ("a-gone".to_owned(), false, vec!["p-gone-a".to_owned()]),
            (
                "n1".to_owned(),
                true,
                vec!["p1".to_owned(), "p1b".to_owned()]
            ),
            ("n2".to_owned(), true, vec!["p2".to_owned()]),
            ("zz-gone".to_owned(), false, vec!["p-gone-b".to_owned()]),
        ]
    );
    for slot in &world.slots {
        let facts: Vec<&Pod> = world.facts_of(slot).iter().map(|f| f.pod).collect();
        assert_eq!(
            pod_names(&facts),
            pod_names(world.pods_of(slot)),
            "{}",
            slot.name
        );
    }
}

#[test]
fn many_nodes_with_look_alike_names_map_every_pod_to_its_own_node() {
    let ds = daemonset();
    // Names that differ only in one late or early byte, long and short, in an order that
    // is not name order; vanished targets make the index grow past its first size.
    let node_names: Vec<String> = (0..1500)
        .map(|i| match i % 3 {
            0 => format!("node-{i:07}"),
            1 => format!("{i}"),
            _ => format!("a-very-long-node-name-in-some-zone-{i}-pool"),
        })
        .rev()
        .collect();
    let nodes: Vec<Node> = node_names.iter().map(|n| node(n, &[], vec![])).collect();
    let pods: Vec<Pod> = node_names
        .iter()
        .chain(
            (0..700)
                .map(|i| format!("gone-{i}"))
                .collect::<Vec<_>>()
                .iter(),
        )
        .enumerate()
        .map(|(i, n)| pod(&format!("p{i}"), n, HASH, 0, Some(0)))
        .collect();
    let world = build(&nodes, &pods, &ds);
    assert_eq!(world.slots.len(), 2200);
    assert!(world.slots.windows(2).all(|w| w[0].name < w[1].name));
    for slot in &world.slots {
        let on_slot = world.pods_of(slot);
        assert_eq!(on_slot.len(), 1, "{}", slot.name);
        assert_eq!(pod_node(on_slot[0]), Some(slot.name));
        assert_eq!(slot.node.is_some(), !slot.name.starts_with("gone-"));
    }
}

#[test]
fn pods_of_a_node_follow_upstreams_order() {
    let ds = daemonset();
    let nodes = [node("n1", &[], vec![])];
    type Case = (&'static str, Vec<Pod>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "older first",
            vec![
                pod("new", "n1", HASH, 20, None),
                pod("old", "n1", HASH, 10, None),
            ],
            vec!["old", "new"],
        ),
        (
            "bound before unbound even when younger",
            vec![
                unbound(pod("pinned", "n1", HASH, 1, None), "n1"),
                pod("bound", "n1", HASH, 50, None),
            ],
            vec!["bound", "pinned"],
        ),
        (
            "same age: by name",
            vec![
                pod("c", "n1", HASH, 5, None),
                pod("a", "n1", HASH, 5, None),
                pod("b", "n1", HASH, 5, None),
            ],
            vec!["a", "b", "c"],
        ),
        (
            "no creation time sorts first",
            vec![pod("dated", "n1", HASH, 5, None), {
                let mut p = pod("undated", "n1", HASH, 0, None);
                p.metadata.creation_timestamp = None;
                p
            }],
            vec!["undated", "dated"],
        ),
    ];
    for (case, pods, want) in cases {
        let world = build(&nodes, &pods, &ds);
        let got = world.pods_of(&world.slots[0]);
        assert_eq!(pod_names(got), want, "{case}");
        assert!(
            got.windows(2)
                .all(|w| daemon_pod_order(w[0], w[1]) != std::cmp::Ordering::Greater),
            "{case}"
        );
    }
}

#[test]
fn terminal_pods_being_deleted_and_pods_without_a_node_are_left_out() {
    let ds = daemonset();
    let nodes = [node("n1", &[], vec![])];
    let mut no_target = pod("no-target", "n1", HASH, 0, None);
    no_target.spec = Some(PodSpec::default());
    let pods = [
        deleting(
            with_phase(pod("failed-deleting", "n1", HASH, 0, None), "Failed"),
            5,
        ),
        deleting(pod("running-deleting", "n1", HASH, 1, None), 5),
        with_phase(pod("failed", "n1", HASH, 2, None), "Failed"),
        no_target,
    ];
    let world = build(&nodes, &pods, &ds);
    assert_eq!(names(&world), ["n1"]);
    assert_eq!(
        pod_names(world.pods_of(&world.slots[0])),
        ["running-deleting", "failed"]
    );
}

#[test]
fn facts_agree_with_the_predicates_they_stand_for() {
    let mut ds = daemonset();
    ds.spec.min_ready_seconds = Some(30);
    let generation = everynode_daemonset::pod_template::template_generation(&ds)
        .map(|g| g.to_string())
        .unwrap_or_default();
    let nodes = [node("n1", &[], vec![])];
    let with_generation = |mut p: Pod, g: &str| {
        if let Some(l) = p.metadata.labels.as_mut() {
            l.insert(POD_TEMPLATE_GENERATION_LABEL.to_owned(), g.to_owned());
        }
        p
    };
    let cases: Vec<(&str, Pod)> = vec![
        ("ready long enough", pod("a", "n1", HASH, 0, Some(10))),
        ("ready too recently", pod("b", "n1", HASH, 0, Some(90))),
        ("not ready", pod("c", "n1", HASH, 0, None)),
        ("old hash", pod("d", "n1", "old", 0, Some(0))),
        (
            "no hash, current generation",
            with_generation(pod("e", "n1", "", 0, None), &generation),
        ),
        (
            "no hash, old generation",
            with_generation(pod("f", "n1", "", 0, None), "0"),
        ),
        (
            "failed",
            with_phase(pod("g", "n1", HASH, 0, None), "Failed"),
        ),
        (
            "succeeded",
            with_phase(pod("h", "n1", HASH, 0, None), "Succeeded"),
        ),
        (
            "pending",
            with_phase(pod("i", "n1", HASH, 0, None), "Pending"),
        ),
        ("deleting", deleting(pod("j", "n1", HASH, 0, Some(0)), 50)),
        (
            "pinned, not bound",
            unbound(pod("k", "n1", HASH, 0, Some(0)), "n1"),
        ),
    ];
    for (case, p) in cases {
        let pods = [p];
        let world = build(&nodes, &pods, &ds);
        let [facts] = world.facts_of(&world.slots[0]) else {
            panic!("{case}: expected one pod");
        };
        let pod = &pods[0];
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        assert_eq!(facts.ready, everynode_model::pod::is_ready(pod), "{case}");
        assert_eq!(facts.available, world.is_available(pod), "{case}");
        assert_eq!(facts.updated, world.is_updated(pod), "{case}");
        assert_eq!(facts.current_hash, world.has_current_hash(pod), "{case}");
        assert_eq!(
            facts.deleting,
            pod.metadata.deletion_timestamp.is_some(),
            "{case}"
        );
        assert_eq!(
            facts.bound,
            pod_node(pod).is_some_and(|n| !n.is_empty()),
            "{case}"
        );
        let want_phase = match phase {
            Some("Failed") => PodPhase::Failed,
            Some("Succeeded") => PodPhase::Succeeded,
            _ => PodPhase::Running,
        };
        assert_eq!(facts.phase, want_phase, "{case}");
    }
}

#[test]
fn facts_of_the_usual_pods_have_the_expected_values() {
    // Pins the values themselves, so that a predicate and its fact cannot drift together.
    let mut ds = daemonset();
    ds.spec.min_ready_seconds = Some(30);
    let nodes = [node("n1", &[], vec![])];
    // (case, pod, ready, available, updated)
    let cases: Vec<(&str, Pod, bool, bool, bool)> = vec![
        (
            "ready 90 s at t=100",
            pod("a", "n1", HASH, 0, Some(10)),
            true,
            true,
            true,
        ),
        (
            "ready 10 s at t=100",
            pod("b", "n1", HASH, 0, Some(90)),
            true,
            false,
            true,
        ),
        (
            "not ready",
            pod("c", "n1", HASH, 0, None),
            false,
            false,
            true,
        ),
        (
            "old revision",
            pod("d", "n1", "old", 0, Some(0)),
            true,
            true,
            false,
        ),
    ];
    for (case, p, ready, available, updated) in cases {
        let pods = [p];
        let world = build(&nodes, &pods, &ds);
        let f = world.facts_of(&world.slots[0])[0];
        assert_eq!(
            (f.ready, f.available, f.updated),
            (ready, available, updated),
            "{case}"
        );
    }
}
