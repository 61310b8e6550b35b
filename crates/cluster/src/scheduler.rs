//! The scheduler: binds pods whose `schedulerName` is ours and that have no node yet
//! (spec 7.1), marks the rest `PodScheduled=False` with upstream's message, and lets a
//! higher-priority pod preempt lower-priority pods on the node it is pinned to.
//!
//! One task owns all state (a pod mirror indexed by node, a node mirror, a queue), so there
//! are no locks; API writes run concurrently (bounded) and report back to it. Daemon pods are
//! pinned to one node through `matchFields`, so a decision looks at that node only: binding
//! 5,000 of them costs 5,000 single-node filter runs.

pub mod filters;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use everynode_model::pod::{is_being_deleted, is_terminal};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ClusterError;
use crate::error::{is_conflict, is_not_found};
use crate::events::{self, PodRef};
use crate::mirror::{Change, Mirror, split_key, trimmed_node, trimmed_pod, watch};
use crate::projection::SchedulingPod;
use crate::writes;
use filters::{Unfit, filter_node, prefilter_node_names, unschedulable_message};

/// How the scheduler identifies itself and which pods it takes.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Pods whose `spec.schedulerName` equals this (unset counts as `default-scheduler`)
    /// are ours.
    pub scheduler_name: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: DEFAULT_SCHEDULER.to_owned(),
        }
    }
}

/// The scheduler name API defaulting gives pods.
const DEFAULT_SCHEDULER: &str = "default-scheduler";
/// API writes in flight at once (bindings, status patches, preemption deletes). Large enough
/// that a rolling update's wave of new pods (hundreds at thousands of nodes) is bound in a
/// few commits of the API server's group commit rather than in rounds. The scheduler only
/// serves the embedded plane, whose API server has no in-flight limit.
const MAX_IN_FLIGHT: usize = 1024;
/// `Scheduled` events start only while fewer writes than this are in flight, so they never
/// hold the slots a burst of new pods needs for binding.
const MAX_EVENTS_IN_FLIGHT: usize = 16;
/// Events buffered at most while binding has priority.
const MAX_PENDING_EVENTS: usize = 10_000;
/// Unschedulable pods are retried at least this often even without a triggering change,
/// as upstream's unschedulable-pod flush does (theirs is 5 minutes).
const UNSCHEDULABLE_FLUSH: Duration = Duration::from_secs(60);

/// Runs the scheduler until `shutdown` is cancelled.
pub async fn run(
    client: Client,
    config: SchedulerConfig,
    shutdown: CancellationToken,
) -> Result<(), ClusterError> {
    let mut pod_events = watch(
        Api::<SchedulingPod>::all(client.clone()),
        watcher::Config::default(),
    );
    let mut node_events = watch(Api::<Node>::all(client.clone()), watcher::Config::default());
    let mut class_events = watch(
        Api::<PriorityClass>::all(client.clone()),
        watcher::Config::default(),
    );
    let mut state = State::new(config.scheduler_name);
    let mut tasks: JoinSet<TaskOutcome> = JoinSet::new();
    let mut flush = tokio::time::interval(UNSCHEDULABLE_FLUSH);
    flush.tick().await;

    loop {
        // Schedule as much as the in-flight budget allows before waiting again; only once
        // both caches are complete, so a half-listed cluster never yields a wrong verdict.
        while state.ready() && tasks.len() < MAX_IN_FLIGHT {
            let Some(key) = state.active.pop_front() else {
                break;
            };
            state.in_active.remove(&key);
            for work in state.schedule(&key) {
                spawn_work(&mut tasks, &client, work);
            }
        }
        // Events wait until no pod is waiting to be scheduled: they must not slow binding.
        while state.active.is_empty() && tasks.len() < MAX_EVENTS_IN_FLIGHT {
            let Some(event) = state.events.pop_front() else {
                break;
            };
            spawn_work(&mut tasks, &client, event);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(event) = pod_events.next() => match event {
                Ok(event) => {
                    let changes = state.pods.apply(event, |p| trimmed_pod(p.into_pod()));
                    for change in changes {
                        state.on_pod_change(change);
                    }
                }
                Err(err) => tracing::warn!(%err, "scheduler: pod watch error"),
            },
            Some(event) = node_events.next() => match event {
                Ok(event) => {
                    let changes = state.nodes.apply(event, trimmed_node);
                    for change in changes {
                        state.on_node_change(change);
                    }
                }
                Err(err) => tracing::warn!(%err, "scheduler: node watch error"),
            },
            Some(event) = class_events.next() => match event {
                Ok(event) => {
                    let changes = state.classes.apply(event, |c: PriorityClass| c.value.unwrap_or(0));
                    if !changes.is_empty() {
                        state.requeue_all_unschedulable();
                    }
                }
                Err(err) => tracing::debug!(%err, "scheduler: priorityclass watch error"),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => match done {
                Ok(outcome) => state.on_task_done(outcome),
                Err(err) => tracing::warn!(%err, "scheduler: API task failed"),
            },
            _ = flush.tick() => state.requeue_all_unschedulable(),
        }
    }
    tasks.shutdown().await;
    Ok(())
}

/// An API write decided by the scheduling loop.
#[derive(Debug)]
enum Work {
    /// POST pods/<name>/binding, then a `Scheduled` event.
    Bind {
        key: String,
        node: String,
        uid: String,
    },
    /// Patch PodScheduled=False (and optionally nominatedNodeName) into the pod's status,
    /// with a `FailedScheduling` event.
    MarkUnschedulable {
        key: String,
        uid: String,
        message: String,
        transition: bool,
        nominated: Option<String>,
    },
    /// Record an event about a pod (after the write it reports).
    Event {
        pod: PodRef,
        type_: &'static str,
        reason: &'static str,
        message: String,
    },
    /// Delete a preemption victim (graceful, with a uid precondition).
    Evict {
        key: String,
        uid: String,
        preemptor: String,
        node: String,
    },
}

/// What a finished API write reports back.
#[derive(Debug)]
enum TaskOutcome {
    Bound {
        key: String,
        node: String,
        uid: String,
        result: Result<(), kube::Error>,
    },
    Other,
}

/// The component name the scheduler's events carry.
const SCHEDULER_COMPONENT: &str = "default-scheduler";

fn pod_ref(key: &str, uid: &str) -> PodRef {
    let (ns, name) = split_key(key);
    PodRef {
        namespace: ns.unwrap_or("default").to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
    }
}

fn spawn_work(tasks: &mut JoinSet<TaskOutcome>, client: &Client, work: Work) {
    let client = client.clone();
    tasks.spawn(async move {
        match work {
            Work::Bind { key, node, uid } => {
                let result = bind(&client, &key, &node).await;
                TaskOutcome::Bound { key, node, uid, result }
            }
            Work::Event { pod, type_, reason, message } => {
                events::record(&client, SCHEDULER_COMPONENT, &pod, type_, reason, &message).await;
                TaskOutcome::Other
            }
            Work::MarkUnschedulable { key, uid, message, transition, nominated } => {
                match mark_unschedulable(&client, &key, &message, transition, nominated).await {
                    Ok(()) => {
                        let pod = pod_ref(&key, &uid);
                        events::record(&client, SCHEDULER_COMPONENT, &pod, "Warning", "FailedScheduling", &message)
                            .await;
                    }
                    Err(err) if is_not_found(&err) => {}
                    Err(err) => {
                        tracing::warn!(%err, pod = %key, "scheduler: could not write PodScheduled=False");
                    }
                }
                TaskOutcome::Other
            }
            Work::Evict { key, uid, preemptor, node } => {
                let (ns, name) = split_key(&key);
                let api: Api<Pod> = Api::namespaced(client.clone(), ns.unwrap_or("default"));
                let params = DeleteParams {
                    preconditions: Some(kube::api::Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                match api.delete(name, &params).await {
                    Ok(_) => {
                        tracing::info!(pod = %key, "scheduler: preempted");
                        let victim = pod_ref(&key, &uid);
                        let message = format!("Preempted by pod {preemptor} on node {node}");
                        events::record(&client, SCHEDULER_COMPONENT, &victim, "Normal", "Preempted", &message).await;
                    }
                    Err(err) if is_not_found(&err) || is_conflict(&err) => {}
                    Err(err) => tracing::warn!(%err, pod = %key, "scheduler: preemption delete failed"),
                }
                TaskOutcome::Other
            }
        }
    });
}

async fn bind(client: &Client, key: &str, node: &str) -> Result<(), kube::Error> {
    let (ns, name) = split_key(key);
    let ns = ns.unwrap_or("default");
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(node.to_owned()),
            ..ObjectReference::default()
        },
    };
    let _: serde_json::Value = api
        .create_subresource("binding", name, &PostParams::default(), &binding)
        .await?;
    Ok(())
}

async fn mark_unschedulable(
    client: &Client,
    key: &str,
    message: &str,
    transition: bool,
    nominated: Option<String>,
) -> Result<(), kube::Error> {
    let (ns, name) = split_key(key);
    let api: Api<Pod> = Api::namespaced(client.clone(), ns.unwrap_or("default"));
    let mut condition = json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
    });
    if transition {
        condition["lastTransitionTime"] = json!(now_rfc3339());
    }
    let mut status = json!({ "conditions": [condition] });
    if let Some(node) = nominated {
        status["nominatedNodeName"] = json!(node);
    }
    let patch = json!({ "status": status });
    api.patch_status(name, &writes::patch(), &Patch::Strategic(&patch))
        .await?;
    Ok(())
}

/// The current time as Kubernetes writes it (RFC 3339, seconds).
pub(crate) fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map_or_else(
            |_| k8s_openapi::jiff::Timestamp::now().to_string(),
            |t| t.to_string(),
        )
}

/// Everything the scheduling loop knows.
struct State {
    scheduler_name: String,
    pods: Mirror<Pod>,
    nodes: Mirror<Node>,
    classes: Mirror<i32>,
    /// Pods bound or assumed bound, by node name.
    by_node: HashMap<String, HashSet<String>>,
    /// Pods whose binding is in flight, with the node they were assumed onto.
    assumed: HashMap<String, String>,
    active: VecDeque<String>,
    in_active: HashSet<String>,
    /// Unschedulable pods, with the nodes they are restricted to (`None`: any node).
    unschedulable: HashMap<String, Option<BTreeSet<String>>>,
    /// Unschedulable pinned pods by node, so a node's change wakes only its pods.
    unschedulable_by_node: HashMap<String, HashSet<String>>,
    unschedulable_anywhere: HashSet<String>,
    /// `Scheduled` events not yet written (bounded; the oldest are dropped first).
    events: VecDeque<Work>,
}

impl State {
    fn new(scheduler_name: String) -> Self {
        State {
            scheduler_name,
            pods: Mirror::default(),
            nodes: Mirror::default(),
            classes: Mirror::default(),
            by_node: HashMap::new(),
            assumed: HashMap::new(),
            active: VecDeque::new(),
            in_active: HashSet::new(),
            unschedulable: HashMap::new(),
            unschedulable_by_node: HashMap::new(),
            unschedulable_anywhere: HashSet::new(),
            events: VecDeque::new(),
        }
    }

    fn ready(&self) -> bool {
        self.pods.is_synced() && self.nodes.is_synced()
    }

    fn is_ours_and_pending(&self, pod: &Pod) -> bool {
        let Some(spec) = pod.spec.as_ref() else {
            return false;
        };
        let name = spec
            .scheduler_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_SCHEDULER);
        name == self.scheduler_name
            && spec.node_name.as_deref().is_none_or(str::is_empty)
            && !is_being_deleted(&pod.metadata)
            && !is_terminal(pod)
    }

    fn priority(&self, pod: &Pod) -> i32 {
        let spec = pod.spec.as_ref();
        if let Some(p) = spec.and_then(|s| s.priority) {
            return p;
        }
        let class = spec.and_then(|s| s.priority_class_name.as_deref());
        class
            .and_then(|class| self.classes.get(class).copied())
            .or_else(|| class.and_then(builtin_priority))
            .unwrap_or(0)
    }

    fn enqueue(&mut self, key: &str) {
        self.forget_unschedulable(key);
        if self.in_active.insert(key.to_owned()) {
            self.active.push_back(key.to_owned());
        }
    }

    fn forget_unschedulable(&mut self, key: &str) {
        if let Some(restriction) = self.unschedulable.remove(key) {
            match restriction {
                Some(names) => {
                    for name in names {
                        if let Some(set) = self.unschedulable_by_node.get_mut(&name) {
                            set.remove(key);
                            if set.is_empty() {
                                self.unschedulable_by_node.remove(&name);
                            }
                        }
                    }
                }
                None => {
                    self.unschedulable_anywhere.remove(key);
                }
            }
        }
    }

    fn park_unschedulable(&mut self, key: &str, restriction: Option<BTreeSet<String>>) {
        self.forget_unschedulable(key);
        match &restriction {
            Some(names) => {
                for name in names {
                    self.unschedulable_by_node
                        .entry(name.clone())
                        .or_default()
                        .insert(key.to_owned());
                }
            }
            None => {
                self.unschedulable_anywhere.insert(key.to_owned());
            }
        }
        self.unschedulable.insert(key.to_owned(), restriction);
    }

    /// Something on `node` changed that may let waiting pods fit.
    fn wake_for_node(&mut self, node: &str) {
        let mut keys: Vec<String> = self
            .unschedulable_by_node
            .get(node)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        keys.extend(self.unschedulable_anywhere.iter().cloned());
        for key in keys {
            self.enqueue(&key);
        }
    }

    fn requeue_all_unschedulable(&mut self) {
        let keys: Vec<String> = self.unschedulable.keys().cloned().collect();
        for key in keys {
            self.enqueue(&key);
        }
    }

    fn index_remove(&mut self, key: &str, node: &str) {
        if let Some(set) = self.by_node.get_mut(node) {
            set.remove(key);
            if set.is_empty() {
                self.by_node.remove(node);
            }
        }
    }

    fn on_pod_change(&mut self, change: Change<Pod>) {
        match change {
            Change::Upsert { key, old } => {
                let Some(new) = self.pods.get(&key) else {
                    return;
                };
                let new_node = bound_node(new).map(str::to_owned);
                let pending = self.is_ours_and_pending(new);
                let freed = is_terminal(new) && old.as_ref().is_some_and(|o| !is_terminal(o));
                let spec_changed = old
                    .as_ref()
                    .is_none_or(|o| o.spec != new.spec || o.metadata.labels != new.metadata.labels);
                let old_node = old.as_ref().and_then(bound_node).map(str::to_owned);
                if let Some(old_node) = &old_node
                    && Some(old_node) != new_node.as_ref()
                {
                    self.index_remove(&key, old_node);
                }
                if let Some(node) = &new_node {
                    if self.assumed.get(&key).is_some_and(|a| a != node)
                        && let Some(assumed) = self.assumed.remove(&key)
                    {
                        self.index_remove(&key, &assumed);
                    }
                    self.assumed.remove(&key);
                    self.by_node
                        .entry(node.clone())
                        .or_default()
                        .insert(key.clone());
                    self.forget_unschedulable(&key);
                    if freed {
                        self.wake_for_node(node);
                    }
                }
                if pending && !self.assumed.contains_key(&key) {
                    if !self.unschedulable.contains_key(&key) || spec_changed {
                        self.enqueue(&key);
                    }
                } else if !pending {
                    self.forget_unschedulable(&key);
                }
            }
            Change::Delete { key, old } => {
                self.forget_unschedulable(&key);
                if let Some(node) = bound_node(&old)
                    .map(str::to_owned)
                    .or_else(|| self.assumed.remove(&key))
                {
                    self.index_remove(&key, &node);
                    self.wake_for_node(&node);
                }
            }
        }
    }

    fn on_node_change(&mut self, change: Change<Node>) {
        let key = match &change {
            Change::Upsert { key, .. } | Change::Delete { key, .. } => key.clone(),
        };
        self.wake_for_node(&key);
    }

    fn on_task_done(&mut self, outcome: TaskOutcome) {
        let TaskOutcome::Bound {
            key,
            node,
            uid,
            result,
        } = outcome
        else {
            return;
        };
        match result {
            Ok(()) => {
                tracing::debug!(target: "everynode::timeline", pod = %key, "scheduler bound");
                let pod = pod_ref(&key, &uid);
                let message = format!(
                    "Successfully assigned {}/{} to {node}",
                    pod.namespace, pod.name
                );
                if self.events.len() >= MAX_PENDING_EVENTS {
                    self.events.pop_front();
                }
                self.events.push_back(Work::Event {
                    pod,
                    type_: "Normal",
                    reason: "Scheduled",
                    message,
                });
            }
            Err(err) => {
                if self.assumed.get(&key) == Some(&node) {
                    self.assumed.remove(&key);
                    self.index_remove(&key, &node);
                }
                if is_not_found(&err) {
                    return;
                }
                tracing::debug!(%err, pod = %key, "scheduler: binding failed; will retry");
                // A conflict means someone else bound it (or it is being deleted); the watch
                // will tell. Anything else: retry on the next change or flush.
                let restriction = self.pods.get(&key).and_then(prefilter_node_names);
                if !is_conflict(&err) {
                    self.park_unschedulable(&key, restriction);
                }
            }
        }
    }

    /// Decides what to do with one queued pod; returns the API writes to make.
    fn schedule(&mut self, key: &str) -> Vec<Work> {
        let Some(pod) = self.pods.get(key) else {
            return Vec::new();
        };
        if !self.is_ours_and_pending(pod) || self.assumed.contains_key(key) {
            return Vec::new();
        }
        let restriction = prefilter_node_names(pod);
        let total_nodes = self.nodes.len();
        let candidates: Vec<&String> = match &restriction {
            Some(names) => names
                .iter()
                .filter(|n| self.nodes.get(n).is_some())
                .collect(),
            None => {
                let mut all: Vec<&String> = self.nodes.iter().map(|(k, _)| k).collect();
                all.sort();
                all
            }
        };
        let mut failures: HashMap<Unfit, usize> = HashMap::new();
        let mut resolvable: Vec<String> = Vec::new();
        let mut best: Option<(usize, String)> = None;
        for name in &candidates {
            let Some(node) = self.nodes.get(name) else {
                continue;
            };
            let on_node = self.pods_on(name, None);
            match filter_node(pod, node, &on_node) {
                Ok(()) => {
                    let load = on_node.len();
                    if best.as_ref().is_none_or(|(l, _)| load < *l) {
                        best = Some((load, (*name).clone()));
                    }
                }
                Err(unfit) => {
                    if unfit.resolvable_by_preemption() {
                        resolvable.push((*name).clone());
                    }
                    *failures.entry(unfit).or_default() += 1;
                }
            }
        }
        if let Some((_, node)) = best {
            self.assumed.insert(key.to_owned(), node.clone());
            self.by_node
                .entry(node.clone())
                .or_default()
                .insert(key.to_owned());
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            return vec![Work::Bind {
                key: key.to_owned(),
                node,
                uid,
            }];
        }
        let skipped = total_nodes.saturating_sub(candidates.len());
        let mut reasons: Vec<(Unfit, usize)> = failures.into_iter().collect();
        if skipped > 0 {
            reasons.push((Unfit::NodeAffinity, skipped));
        }
        let message = unschedulable_message(total_nodes, &reasons);

        let mut work = Vec::new();
        let mut nominated = None;
        let preemptor = pod.metadata.uid.clone().unwrap_or_default();
        if let Some((node, victims)) = self.preemption(pod, &resolvable) {
            work.extend(victims.into_iter().map(|(key, uid)| Work::Evict {
                key,
                uid,
                preemptor: preemptor.clone(),
                node: node.clone(),
            }));
            nominated = Some(node);
        }
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
        let unchanged = current.is_some_and(|c| {
            c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
                && c.message.as_deref() == Some(message.as_str())
        });
        let nominated_unchanged = nominated.is_none()
            || nominated.as_deref()
                == pod
                    .status
                    .as_ref()
                    .and_then(|s| s.nominated_node_name.as_deref());
        if !unchanged || !nominated_unchanged {
            let transition = current.is_none_or(|c| c.status != "False");
            work.push(Work::MarkUnschedulable {
                key: key.to_owned(),
                uid: preemptor,
                message,
                transition,
                nominated,
            });
        }
        self.park_unschedulable(key, restriction);
        work
    }

    /// Pods counted against a node (bound or assumed, not terminal), except `skip`.
    fn pods_on(&self, node: &str, skip: Option<&str>) -> Vec<&Pod> {
        self.by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter(|k| Some(k.as_str()) != skip)
            .filter_map(|k| self.pods.get(k))
            .filter(|p| !is_terminal(p))
            .collect()
    }

    /// Chooses a node where deleting lower-priority pods makes `pod` fit, and those victims
    /// (upstream's selectVictimsOnNode: remove every lower-priority pod, then give back as
    /// many as still fit, highest priority first). `None` when preemption cannot help or is
    /// already under way (a lower-priority pod on the nominated node is still terminating).
    fn preemption(&self, pod: &Pod, nodes: &[String]) -> Option<(String, Vec<(String, String)>)> {
        let priority = self.priority(pod);
        if let Some(nominated) = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            && self
                .pods_on(nominated, None)
                .iter()
                .any(|p| is_being_deleted(&p.metadata) && self.priority(p) < priority)
        {
            return None;
        }
        let mut best: Option<PreemptionCandidate> = None;
        for name in nodes {
            let Some(node) = self.nodes.get(name) else {
                continue;
            };
            let on_node = self.pods_on(name, None);
            // Pods already terminating will go anyway; they are neither kept nor victims.
            let (mut keep, mut lower): (Vec<&Pod>, Vec<&Pod>) = on_node
                .into_iter()
                .filter(|p| !is_being_deleted(&p.metadata))
                .partition(|p| self.priority(p) >= priority);
            if filter_node(pod, node, &keep).is_err() {
                continue;
            }
            lower.sort_by_key(|p| std::cmp::Reverse(self.priority(p)));
            let mut victims = Vec::new();
            for candidate in lower {
                keep.push(candidate);
                if filter_node(pod, node, &keep).is_err() {
                    keep.pop();
                    victims.push(candidate);
                }
            }
            let top = victims
                .iter()
                .map(|p| self.priority(p))
                .max()
                .unwrap_or(i32::MIN);
            let ids: Vec<(String, String)> = victims
                .iter()
                .map(|p| {
                    (
                        crate::mirror::key_of(*p),
                        p.metadata.uid.clone().unwrap_or_default(),
                    )
                })
                .collect();
            let better = best
                .as_ref()
                .is_none_or(|(t, n, _, _)| (top, ids.len()) < (*t, *n));
            if better {
                best = Some((top, ids.len(), name.clone(), ids));
            }
        }
        best.map(|(_, _, node, victims)| (node, victims))
    }
}

/// A node where preemption works: highest victim priority, victim count, node, victims
/// (key, uid).
type PreemptionCandidate = (i32, usize, String, Vec<(String, String)>);

/// The values of the PriorityClasses every cluster has, for servers that do not create
/// them as objects.
fn builtin_priority(class: &str) -> Option<i32> {
    match class {
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    }
}

/// The node a pod is bound to.
fn bound_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}
