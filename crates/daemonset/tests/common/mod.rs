//! Builders and a tiny idealised cluster for driving `plan()` in tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use everynode_daemonset::{FailedPodBackoff, Observed, Plan, PlanMemo, RevisionWrite};
use everynode_model::Timestamp;
use everynode_model::wellknown::{CONTROLLER_REVISION_HASH_LABEL, TEMPLATE_GENERATION_ANNOTATION};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetSpec, DaemonSetStatus, DaemonSetUpdateStrategy,
    RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Container, Node, NodeSpec, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint,
    Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const DS_UID: &str = "ds-uid";

pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("valid test timestamp")
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        value: value.map(str::to_owned),
        effect: effect.to_owned(),
        time_added: None,
    }
}

pub fn toleration(
    key: Option<&str>,
    operator: &str,
    value: Option<&str>,
    effect: Option<&str>,
) -> Toleration {
    Toleration {
        key: key.map(str::to_owned),
        operator: Some(operator.to_owned()),
        value: value.map(str::to_owned),
        effect: effect.map(str::to_owned),
        toleration_seconds: None,
    }
}

pub fn node(name: &str, label_pairs: &[(&str, &str)], taints: Vec<Taint>) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels(label_pairs)),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: if taints.is_empty() {
                None
            } else {
                Some(taints)
            },
            ..NodeSpec::default()
        }),
        status: None,
    }
}

/// A defaulted, stored-looking DaemonSet `agent` (RollingUpdate maxUnavailable 1).
pub fn daemonset() -> DaemonSet {
    let app = labels(&[("app", "agent")]);
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".to_owned()),
            namespace: Some("default".to_owned()),
            uid: Some(DS_UID.to_owned()),
            generation: Some(1),
            annotations: Some(labels(&[(TEMPLATE_GENERATION_ANNOTATION, "1")])),
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
                        image: Some("agent:v1".to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(1)),
                    max_surge: Some(IntOrString::Int(0)),
                }),
            }),
            revision_history_limit: Some(10),
            min_ready_seconds: None,
        },
        status: None,
    }
}

pub fn set_strategy(ds: &mut DaemonSet, max_unavailable: IntOrString, max_surge: IntOrString) {
    ds.spec.update_strategy = Some(DaemonSetUpdateStrategy {
        type_: Some("RollingUpdate".to_owned()),
        rolling_update: Some(RollingUpdateDaemonSet {
            max_unavailable: Some(max_unavailable),
            max_surge: Some(max_surge),
        }),
    });
}

pub fn set_on_delete(ds: &mut DaemonSet) {
    ds.spec.update_strategy = Some(DaemonSetUpdateStrategy {
        type_: Some("OnDelete".to_owned()),
        rolling_update: None,
    });
}

/// Changes the template's image as the API server would record it (generation and
/// templateGeneration bumped).
pub fn set_image(ds: &mut DaemonSet, image: &str) {
    if let Some(spec) = ds.spec.template.spec.as_mut() {
        spec.containers[0].image = Some(image.to_owned());
    }
    ds.metadata.generation = Some(ds.metadata.generation.unwrap_or(0) + 1);
    let annotations = ds.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let next = annotations
        .get(TEMPLATE_GENERATION_ANNOTATION)
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
        + 1;
    annotations.insert(TEMPLATE_GENERATION_ANNOTATION.to_owned(), next.to_string());
}

pub fn owner_ref(uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: "DaemonSet".to_owned(),
        name: "agent".to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

pub fn ready_condition(ready: bool, since: i64) -> PodCondition {
    PodCondition {
        type_: "Ready".to_owned(),
        status: if ready { "True" } else { "False" }.to_owned(),
        last_transition_time: Some(Time(t(since))),
        ..PodCondition::default()
    }
}

/// An owned, bound, Running daemon pod; `ready_since` None means not Ready.
pub fn pod(name: &str, node: &str, hash: &str, created: i64, ready_since: Option<i64>) -> Pod {
    let mut l = labels(&[("app", "agent")]);
    if !hash.is_empty() {
        l.insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.to_owned());
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("default".to_owned()),
            uid: Some(format!("uid-{name}")),
            labels: Some(l),
            creation_timestamp: Some(Time(t(created))),
            owner_references: Some(vec![owner_ref(DS_UID)]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.to_owned()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".to_owned()),
            conditions: Some(vec![ready_condition(
                ready_since.is_some(),
                ready_since.unwrap_or(created),
            )]),
            ..PodStatus::default()
        }),
    }
}

pub fn with_phase(mut p: Pod, phase: &str) -> Pod {
    p.status.get_or_insert_with(PodStatus::default).phase = Some(phase.to_owned());
    p
}

pub fn deleting(mut p: Pod, at: i64) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(t(at)));
    p
}

pub fn observed(
    ds: &DaemonSet,
    nodes: &[Node],
    pods: &[Pod],
    revisions: &[ControllerRevision],
) -> Observed {
    Observed {
        daemonset: Arc::new(ds.clone()),
        nodes: nodes.iter().cloned().map(Arc::new).collect(),
        pods: pods.iter().cloned().map(Arc::new).collect(),
        revisions: revisions.iter().cloned().map(Arc::new).collect(),
        expectations_satisfied: true,
        backoff: FailedPodBackoff::default(),
    }
}

pub fn pod_hash(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map(String::as_str)
}

pub fn pod_node(p: &Pod) -> Option<&str> {
    p.spec.as_ref()?.node_name.as_deref()
}

/// The nodes a node list was made from, and the list.
pub type SharedNodes = (Vec<Node>, Arc<[Arc<Node>]>);

/// An idealised cluster: writes take effect at once, created pods are bound to their target
/// node at once and become Ready `ready_delay` seconds later.
#[derive(Debug, Clone)]
pub struct Sim {
    pub ds: DaemonSet,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub revisions: Vec<ControllerRevision>,
    pub backoff: FailedPodBackoff,
    pub now: i64,
    pub ready_delay: i64,
    pub serial: u64,
    /// Pods that will never become Ready (by name prefix of their node).
    pub never_ready_nodes: Vec<String>,
    pub collisions: u32,
    /// Every plan is also made with a memo, as the controller makes it, and must come out
    /// the same; these hold what that needs between plans.
    pub memo: RefCell<PlanMemo>,
    /// The `Arc` last handed out per pod name, reused while the pod is unchanged (as the
    /// controller's cache reuses its `Arc`s), so the memo recognises unchanged pods.
    pub shared: RefCell<HashMap<String, Arc<Pod>>>,
    /// The node list last handed out, reused while the nodes are unchanged.
    pub shared_nodes: RefCell<Option<SharedNodes>>,
}

impl Sim {
    pub fn new(ds: DaemonSet, nodes: Vec<Node>) -> Self {
        Sim {
            ds,
            nodes,
            pods: Vec::new(),
            revisions: Vec::new(),
            backoff: FailedPodBackoff::default(),
            now: 1_000,
            ready_delay: 0,
            serial: 0,
            never_ready_nodes: Vec::new(),
            collisions: 0,
            memo: RefCell::new(PlanMemo::default()),
            shared: RefCell::new(HashMap::new()),
            shared_nodes: RefCell::new(None),
        }
    }

    pub fn observed(&self) -> Observed {
        let mut o = observed(&self.ds, &self.nodes, &self.pods, &self.revisions);
        o.backoff = self.backoff.clone();
        o
    }

    /// The plan for the current state; checks on the way that planning with a memo
    /// (reusing `Arc`s for unchanged pods) gives the same plan.
    pub fn plan(&self) -> Plan {
        let now = t(self.now);
        let plain = everynode_daemonset::plan(&self.observed(), now);
        let mut shared = self.shared.borrow_mut();
        let pods: Vec<Arc<Pod>> = self
            .pods
            .iter()
            .map(|p| {
                let name = p.metadata.name.clone().unwrap_or_default();
                match shared.get(&name) {
                    Some(known) if **known == *p => Arc::clone(known),
                    _ => {
                        let fresh = Arc::new(p.clone());
                        shared.insert(name, Arc::clone(&fresh));
                        fresh
                    }
                }
            })
            .collect();
        let mut shared_nodes = self.shared_nodes.borrow_mut();
        let nodes = match shared_nodes.as_ref() {
            Some((known, list)) if *known == self.nodes => Arc::clone(list),
            _ => {
                let list: Arc<[Arc<Node>]> = self.nodes.iter().cloned().map(Arc::new).collect();
                *shared_nodes = Some((self.nodes.clone(), Arc::clone(&list)));
                list
            }
        };
        let observed = Observed {
            pods,
            nodes,
            ..self.observed()
        };
        let remembered =
            everynode_daemonset::plan_with_memo(&observed, now, &mut self.memo.borrow_mut());
        assert_eq!(
            format!("{plain:?}"),
            format!("{remembered:?}"),
            "planning with a memo must not change the plan"
        );
        plain
    }

    /// Plans and applies one sync; returns the plan.
    pub fn step(&mut self) -> Plan {
        let plan = self.plan();
        self.apply(&plan);
        plan
    }

    pub fn apply(&mut self, plan: &Plan) {
        self.backoff = plan.backoff.clone();
        for r in &plan.adopt_pods {
            if let Some(p) = self
                .pods
                .iter_mut()
                .find(|p| p.metadata.uid.as_deref() == Some(&r.uid))
            {
                p.metadata.owner_references = Some(vec![owner_ref(DS_UID)]);
            }
        }
        for r in &plan.release_pods {
            if let Some(p) = self
                .pods
                .iter_mut()
                .find(|p| p.metadata.uid.as_deref() == Some(&r.uid))
            {
                p.metadata.owner_references = None;
            }
        }
        for r in &plan.adopt_revisions {
            if let Some(c) = self
                .revisions
                .iter_mut()
                .find(|c| c.metadata.uid.as_deref() == Some(&r.uid))
            {
                c.metadata.owner_references = Some(vec![owner_ref(DS_UID)]);
            }
        }
        for w in &plan.revision_writes {
            match w {
                RevisionWrite::Create(cr) => {
                    if let Some(existing) = self
                        .revisions
                        .iter()
                        .find(|c| c.metadata.name == cr.metadata.name)
                    {
                        if existing.data != cr.data {
                            // Hash collision: what the controller does on AlreadyExists.
                            self.collisions += 1;
                            let status =
                                self.ds.status.get_or_insert_with(DaemonSetStatus::default);
                            status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                            return;
                        }
                        continue;
                    }
                    self.serial += 1;
                    let mut cr = cr.clone();
                    cr.metadata.uid = Some(format!("cr-{}", self.serial));
                    self.revisions.push(cr);
                }
                RevisionWrite::AddHashLabel { target, hash } => {
                    if let Some(c) = self
                        .revisions
                        .iter_mut()
                        .find(|c| c.metadata.uid.as_deref() == Some(&target.uid))
                    {
                        c.metadata
                            .labels
                            .get_or_insert_with(BTreeMap::new)
                            .insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.clone());
                    }
                }
                RevisionWrite::Renumber { target, revision } => {
                    if let Some(c) = self
                        .revisions
                        .iter_mut()
                        .find(|c| c.metadata.uid.as_deref() == Some(&target.uid))
                    {
                        c.revision = Some(*revision);
                    }
                }
                RevisionWrite::Delete(target) => self
                    .revisions
                    .retain(|c| c.metadata.uid.as_deref() != Some(&target.uid)),
            }
        }
        for r in &plan.pod_relabels {
            if let Some(p) = self
                .pods
                .iter_mut()
                .find(|p| p.metadata.uid.as_deref() == Some(&r.target.uid))
            {
                p.metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), r.hash.clone());
            }
        }
        for d in &plan.pod_deletes {
            self.pods
                .retain(|p| p.metadata.uid.as_deref() != Some(&d.target.uid));
        }
        for c in &plan.pod_creates {
            self.serial += 1;
            let mut p = c.pod.clone();
            let name = format!(
                "{}{:05}",
                p.metadata.generate_name.clone().unwrap_or_default(),
                self.serial
            );
            p.metadata.uid = Some(format!("uid-{name}"));
            p.metadata.name = Some(name);
            p.metadata.creation_timestamp = Some(Time(t(self.now)));
            p.spec.get_or_insert_with(PodSpec::default).node_name = Some(c.node_name.clone());
            let ready = self.ready_delay == 0 && !self.never_ready_nodes.contains(&c.node_name);
            p.status = Some(PodStatus {
                phase: Some("Running".to_owned()),
                conditions: Some(vec![ready_condition(ready, self.now)]),
                ..PodStatus::default()
            });
            self.pods.push(p);
        }
        if let Some(status) = &plan.status {
            self.ds.status = Some(status.clone());
        }
    }

    /// Advances the clock; pods not Ready for `ready_delay` seconds become Ready.
    pub fn tick(&mut self, secs: i64) {
        self.now += secs;
        let now = self.now;
        for p in &mut self.pods {
            let node = pod_node(p).unwrap_or("").to_owned();
            if self.never_ready_nodes.contains(&node) {
                continue;
            }
            let created = p
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |c| c.0.as_second());
            if let Some(conds) = p.status.as_mut().and_then(|s| s.conditions.as_mut()) {
                for c in conds.iter_mut() {
                    if c.type_ == "Ready" && c.status != "True" && now - created >= self.ready_delay
                    {
                        c.status = "True".to_owned();
                        c.last_transition_time = Some(Time(t(now)));
                    }
                }
            }
        }
    }

    pub fn pods_on(&self, node: &str) -> Vec<&Pod> {
        self.pods
            .iter()
            .filter(|p| pod_node(p) == Some(node))
            .collect()
    }

    /// Steps until a plan does nothing (no writes at all); returns the number of steps.
    pub fn converge(&mut self, max_steps: usize) -> usize {
        for i in 0..max_steps {
            let plan = self.step();
            if is_noop(&plan) {
                return i;
            }
            self.tick(1);
        }
        panic!("did not converge in {max_steps} steps");
    }
}

pub fn is_noop(plan: &Plan) -> bool {
    plan.pod_creates.is_empty()
        && plan.pod_deletes.is_empty()
        && plan.revision_writes.is_empty()
        && plan.pod_relabels.is_empty()
        && plan.adopt_pods.is_empty()
        && plan.release_pods.is_empty()
        && plan.status.is_none()
}
