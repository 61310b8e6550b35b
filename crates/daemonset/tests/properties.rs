//! Property tests: convergence, the unavailability budget and the surge bound over random
//! clusters, in the idealised world of `common::Sim`.

mod common;

use common::*;
use everynode_daemonset::node_should_run;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Rollout {
    Unavailable(i32),
    Surge(i32),
    OnDelete,
}

const TAINTS: [(&str, &str); 4] = [
    ("dedicated", "NoSchedule"),
    ("maintenance", "NoExecute"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ("soft", "PreferNoSchedule"),
];

fn arb_node(i: usize) -> impl proptest::strategy::Strategy<Value = Node> {
    (
        prop::bool::ANY,
        prop::collection::vec(prop::bool::weighted(0.25), TAINTS.len()),
    )
        .prop_map(move |(pool_a, has)| {
            let taints = TAINTS
                .iter()
                .zip(has)
                .filter(|(_, h)| *h)
                .map(|((k, e), _)| taint(k, None, e))
                .collect();
            node(
                &format!("node-{i:02}"),
                &[("pool", if pool_a { "a" } else { "b" })],
                taints,
            )
        })
}

fn arb_cluster() -> impl proptest::strategy::Strategy<Value = (Vec<Node>, DaemonSet, Rollout)> {
    let nodes = (1usize..8).prop_flat_map(|n| (0..n).map(arb_node).collect::<Vec<_>>());
    let strategy = prop_oneof![
        (1i32..4).prop_map(Rollout::Unavailable),
        (1i32..3).prop_map(Rollout::Surge),
        Just(Rollout::OnDelete),
    ];
    let ds = (prop::bool::ANY, prop::collection::vec(prop::bool::ANY, 2)).prop_map(
        |(select, tolerate)| {
            let mut ds = daemonset();
            let spec = ds.spec.template.spec.as_mut().map(|s| {
                if select {
                    s.node_selector = Some(labels(&[("pool", "a")]));
                }
                let mut t: Vec<Toleration> = Vec::new();
                if tolerate[0] {
                    t.push(toleration(
                        Some("dedicated"),
                        "Exists",
                        None,
                        Some("NoSchedule"),
                    ));
                }
                if tolerate[1] {
                    t.push(toleration(Some("maintenance"), "Exists", None, None));
                }
                s.tolerations = Some(t);
            });
            let _ = spec;
            ds
        },
    );
    (nodes, ds, strategy)
}

fn apply_strategy(ds: &mut DaemonSet, s: Rollout) {
    match s {
        Rollout::Unavailable(n) => set_strategy(ds, IntOrString::Int(n), IntOrString::Int(0)),
        Rollout::Surge(n) => set_strategy(ds, IntOrString::Int(0), IntOrString::Int(n)),
        Rollout::OnDelete => set_on_delete(ds),
    }
}

fn assert_converged(sim: &Sim) -> Result<(), TestCaseError> {
    let hash = everynode_daemonset::history::current_template_hash(&sim.ds);
    for n in &sim.nodes {
        let name = n.metadata.name.as_deref().unwrap_or("");
        let pods = sim.pods_on(name);
        if node_should_run(&sim.ds, n).should_run {
            prop_assert_eq!(pods.len(), 1, "eligible node {} has one pod", name);
            prop_assert_eq!(
                pod_hash(pods[0]),
                Some(hash.as_str()),
                "node {} updated",
                name
            );
        } else {
            prop_assert!(pods.is_empty(), "ineligible node {} has no pod", name);
        }
    }
    let plan = sim.plan();
    prop_assert!(is_noop(&plan), "converged plan is a no-op: {:?}", plan);
    Ok(())
}

fn settle(sim: &mut Sim) {
    for _ in 0..60 {
        let plan = sim.step();
        sim.tick(1);
        if is_noop(&plan) && sim.plan().status.is_none() && is_noop(&sim.plan()) {
            let all_ready = sim.pods.iter().all(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.status == "True"))
            });
            if all_ready {
                return;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fresh_daemonset_converges_to_one_updated_pod_per_eligible_node(
        (nodes, mut ds, strategy) in arb_cluster(),
        ready_delay in 0i64..2,
    ) {
        apply_strategy(&mut ds, strategy);
        let mut sim = Sim::new(ds, nodes);
        sim.ready_delay = ready_delay;
        settle(&mut sim);
        assert_converged(&sim)?;
    }

    #[test]
    fn rolling_update_respects_budget_and_surge_bound_then_converges(
        (nodes, mut ds, strategy) in arb_cluster(),
        ready_delay in 0i64..3,
    ) {
        prop_assume!(!matches!(strategy, Rollout::OnDelete));
        apply_strategy(&mut ds, strategy);
        let mut sim = Sim::new(ds, nodes);
        sim.ready_delay = ready_delay;
        settle(&mut sim);
        set_image(&mut sim.ds, "agent:v2");
        let eligible: Vec<String> = sim
            .nodes
            .iter()
            .filter(|n| node_should_run(&sim.ds, n).should_run)
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        for _ in 0..200 {
            let plan = sim.step();
            let without_available = eligible
                .iter()
                .filter(|n| !sim.pods_on(n).iter().any(|p| {
                    p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                }))
                .count();
            match strategy {
                Rollout::Unavailable(max) => prop_assert!(
                    i32::try_from(without_available).unwrap_or(i32::MAX) <= max,
                    "{} nodes without an available pod, maxUnavailable {}", without_available, max
                ),
                Rollout::Surge(_) => {
                    for n in &sim.nodes {
                        prop_assert!(sim.pods_on(n.metadata.name.as_deref().unwrap_or("")).len() <= 2);
                    }
                }
                Rollout::OnDelete => {}
            }
            sim.tick(1);
            if is_noop(&plan) && is_noop(&sim.plan()) {
                break;
            }
        }
        settle(&mut sim);
        assert_converged(&sim)?;
    }
}
