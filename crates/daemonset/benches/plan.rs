//! `plan()` for one DaemonSet over 1,000 / 5,000 / 20,000 nodes, in steady state and in the
//! middle of a rollout (half the pods on the old revision); and `plan_with_memo()` as the
//! controller calls it, with a memo that already knows every pod (`*_memo`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use everynode_daemonset::history::{current_template_hash, new_revision};
use everynode_daemonset::{FailedPodBackoff, Observed, PlanMemo, daemon_pod, plan, plan_with_memo};
use everynode_model::Timestamp;
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Container, Node, NodeSpec, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn daemonset(image: &str) -> DaemonSet {
    let app = map(&[("app", "agent")]);
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".to_owned()),
            namespace: Some("default".to_owned()),
            uid: Some("ds-uid".to_owned()),
            generation: Some(1),
            annotations: Some(map(&[("deprecated.daemonset.template.generation", "1")])),
            ..ObjectMeta::default()
        },
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(app.clone()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "agent".to_owned(),
                        image: Some(image.to_owned()),
                        ..Container::default()
                    }],
                    node_selector: Some(map(&[("kubernetes.io/os", "linux")])),
                    ..PodSpec::default()
                }),
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::String("10%".to_owned())),
                    max_surge: Some(IntOrString::Int(0)),
                }),
            }),
            revision_history_limit: Some(10),
            min_ready_seconds: None,
        },
        status: None,
    }
}

fn world(nodes: usize, rollout: bool) -> Observed {
    let old = daemonset("agent:v1");
    let ds = if rollout {
        daemonset("agent:v2")
    } else {
        old.clone()
    };
    let old_hash = current_template_hash(&old);
    let new_hash = current_template_hash(&ds);
    let now = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut node_list = Vec::with_capacity(nodes);
    let mut pods = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let name = format!("node-{i:05}");
        let taints = (i % 10 == 0).then(|| {
            vec![Taint {
                key: "node.kubernetes.io/unschedulable".to_owned(),
                effect: "NoSchedule".to_owned(),
                value: None,
                time_added: None,
            }]
        });
        node_list.push(Arc::new(Node {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(map(&[("kubernetes.io/os", "linux"), ("pool", "general")])),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints,
                ..NodeSpec::default()
            }),
            status: None,
        }));
        let hash = if rollout && i % 2 == 0 {
            &new_hash
        } else {
            &old_hash
        };
        let mut pod = daemon_pod(&ds, &name, hash);
        pod.metadata.name = Some(format!("agent-{i:05}"));
        pod.metadata.uid = Some(format!("pod-{i}"));
        pod.metadata.creation_timestamp = Some(Time(now));
        pod.spec.get_or_insert_with(PodSpec::default).node_name = Some(name);
        pod.status = Some(PodStatus {
            phase: Some("Running".to_owned()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: "True".to_owned(),
                last_transition_time: Some(Time(now)),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        pods.push(Arc::new(pod));
    }
    let mut revisions = vec![Arc::new(new_revision(&old, &old_hash, 1))];
    if rollout {
        revisions.push(Arc::new(new_revision(&ds, &new_hash, 2)));
    }
    Observed {
        daemonset: Arc::new(ds),
        nodes: node_list.into(),
        pods,
        revisions,
        expectations_satisfied: true,
        backoff: FailedPodBackoff::default(),
    }
}

fn bench_plan(c: &mut Criterion) {
    let now = Timestamp::from_second(1_000_100).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut group = c.benchmark_group("plan");
    group.sample_size(20);
    for nodes in [1_000usize, 5_000, 20_000] {
        for (label, rollout) in [("steady", false), ("rollout", true)] {
            let observed = world(nodes, rollout);
            group.bench_with_input(BenchmarkId::new(label, nodes), &observed, |b, o| {
                b.iter(|| plan(black_box(o), now))
            });
            let mut memo = PlanMemo::default();
            plan_with_memo(&observed, now, &mut memo);
            let memo_label = format!("{label}_memo");
            group.bench_with_input(BenchmarkId::new(memo_label, nodes), &observed, |b, o| {
                b.iter(|| plan_with_memo(black_box(o), now, &mut memo))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
