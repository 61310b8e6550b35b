//! `everynode why DAEMONSET [NODE]`: for each node, whether the DaemonSet should run there and
//! exactly why not, what pod is there, at which revision, and for a Pending pod what the
//! scheduler said.
//!
//! The controller's answer comes from the engine's own placement check
//! ([`PlacementContext::evaluate`]), so `why` can never disagree with what the controller does;
//! the scheduler's answer is read from the pod's `PodScheduled=False` condition.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use everynode_daemonset::placement::PlacementContext;
use everynode_model::pod::{controller_ref, target_node};
use everynode_model::wellknown::CONTROLLER_REVISION_HASH_LABEL;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;

use crate::output::{GET_TABS, tabwrite};

/// The verdict for one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeVerdict {
    /// The node.
    pub node: String,
    /// The controller wants a daemon pod here.
    pub should_run: bool,
    /// An existing daemon pod may stay here (false: the controller deletes it).
    pub should_continue_running: bool,
    /// Why `should_run` is false, one user-facing line each; empty when it is true.
    pub reasons: Vec<String>,
    /// The DaemonSet's pods on (or aimed at) this node, oldest first.
    pub pods: Vec<PodVerdict>,
    /// One line summing it up for the table.
    pub summary: String,
}

/// What one daemon pod on a node is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVerdict {
    /// Pod name.
    pub name: String,
    /// Its `controller-revision-hash` label.
    pub revision: Option<String>,
    /// True when that is the DaemonSet's current revision.
    pub current_revision: bool,
    /// `status.phase` (`Pending` when unset).
    pub phase: String,
    /// Condition Ready=True.
    pub ready: bool,
    /// Bound to the node (`spec.nodeName` set).
    pub bound: bool,
    /// Being deleted.
    pub terminating: bool,
    /// For an unbound pod, the scheduler's message from `PodScheduled=False`.
    pub scheduler_message: Option<String>,
    /// Why a container is not running yet (e.g. `CrashLoopBackOff`), from its waiting state.
    pub waiting_reason: Option<String>,
}

/// Explains every node in `nodes` (in name order) for `ds`.
///
/// `pods` may hold any pods; only those controlled by the DaemonSet (by UID) count.
/// `current_hash` is the hash label of the DaemonSet's current ControllerRevision, when known.
pub fn explain(
    ds: &DaemonSet,
    nodes: &[Node],
    pods: &[Pod],
    current_hash: Option<&str>,
) -> Vec<NodeVerdict> {
    let placement = PlacementContext::new(ds);
    let uid = ds.metadata.uid.as_deref();
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        let controlled = controller_ref(&pod.metadata).is_some_and(|r| Some(r.uid.as_str()) == uid);
        if !controlled {
            continue;
        }
        // `spec.nodeName`, or for an unbound pod the node its required affinity pins it to.
        if let Some(node) = target_node(pod) {
            by_node.entry(node.to_owned()).or_default().push(pod);
        }
    }
    let mut sorted: Vec<&Node> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    sorted
        .into_iter()
        .map(|node| {
            let name = node.metadata.name.clone().unwrap_or_default();
            let decision = placement.evaluate(node);
            let mut node_pods = by_node.remove(&name).unwrap_or_default();
            node_pods.sort_by(|a, b| {
                a.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
                    .then_with(|| a.metadata.name.cmp(&b.metadata.name))
            });
            let pods: Vec<PodVerdict> = node_pods
                .into_iter()
                .map(|p| pod_verdict(p, current_hash))
                .collect();
            let reasons: Vec<String> = decision.reasons.iter().map(ToString::to_string).collect();
            let summary = summarize(
                decision.should_run,
                decision.should_continue_running,
                &reasons,
                &pods,
                node.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false),
            );
            NodeVerdict {
                node: name,
                should_run: decision.should_run,
                should_continue_running: decision.should_continue_running,
                reasons,
                pods,
                summary,
            }
        })
        .collect()
}

fn pod_verdict(pod: &Pod, current_hash: Option<&str>) -> PodVerdict {
    let status = pod.status.clone().unwrap_or_default();
    let conditions = status.conditions.unwrap_or_default();
    let ready = conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let scheduler_message = if bound {
        None
    } else {
        conditions
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .map(|c| {
                c.message
                    .clone()
                    .filter(|m| !m.is_empty())
                    .or_else(|| c.reason.clone())
                    .unwrap_or_else(|| "not scheduled".to_owned())
            })
    };
    let waiting_reason = status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .filter(|r| !r.is_empty());
    let revision = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
        .cloned();
    PodVerdict {
        name: pod.metadata.name.clone().unwrap_or_default(),
        current_revision: revision.is_some() && revision.as_deref() == current_hash,
        revision,
        phase: status.phase.unwrap_or_else(|| "Pending".to_owned()),
        ready,
        bound,
        terminating: pod.metadata.deletion_timestamp.is_some(),
        scheduler_message,
        waiting_reason,
    }
}

fn summarize(
    should_run: bool,
    may_stay: bool,
    reasons: &[String],
    pods: &[PodVerdict],
    cordoned: bool,
) -> String {
    let live: Vec<&PodVerdict> = pods.iter().filter(|p| !p.terminating).collect();
    if !should_run {
        let why = reasons.join("; ");
        return match (live.is_empty(), may_stay) {
            (true, _) => format!("not placed: {why}"),
            (false, true) => {
                format!("existing pod may stay, but no new pod would be placed: {why}")
            }
            (false, false) => format!("pod will be removed: {why}"),
        };
    }
    let Some(pod) = live.first() else {
        return if pods.is_empty() {
            "should run, but no pod exists yet (the controller has not created it)".to_owned()
        } else {
            "should run; the old pod is terminating and a new one will follow".to_owned()
        };
    };
    if !pod.bound {
        let msg = pod
            .scheduler_message
            .clone()
            .unwrap_or_else(|| "waiting for the scheduler".to_owned());
        return format!("pod is Pending, not scheduled: {msg}");
    }
    let mut text = match (pod.phase.as_str(), pod.ready, &pod.waiting_reason) {
        ("Running", true, _) => "running and ready".to_owned(),
        (_, false, Some(reason)) => format!("pod is {}, not ready: {reason}", pod.phase),
        ("Running", false, None) => "running, not ready yet".to_owned(),
        (phase, _, _) => format!("pod is {phase}"),
    };
    if pod.revision.is_some() && !pod.current_revision {
        text.push_str(" (old revision: waiting for the rolling update)");
    }
    if cordoned {
        text.push_str(" (node is cordoned; daemon pods tolerate that)");
    }
    text
}

/// Renders verdicts as a table: NODE, RUN, POD, REVISION, STATUS, WHY.
pub fn render_table(verdicts: &[NodeVerdict]) -> String {
    let mut text = String::from("NODE\tSHOULD RUN\tPOD\tREVISION\tSTATUS\tWHY\n");
    for v in verdicts {
        let run = if v.should_run {
            "yes"
        } else if v.should_continue_running && !v.pods.is_empty() {
            "no (may stay)"
        } else {
            "no"
        };
        match v.pods.first() {
            None => {
                let _ = writeln!(text, "{}\t{run}\t<none>\t\t\t{}", v.node, v.summary);
            }
            Some(_) => {
                for (i, p) in v.pods.iter().enumerate() {
                    let revision = match (&p.revision, p.current_revision) {
                        (Some(r), true) => format!("{r} (current)"),
                        (Some(r), false) => format!("{r} (old)"),
                        (None, _) => "<none>".to_owned(),
                    };
                    let status = if p.terminating {
                        "Terminating".to_owned()
                    } else if p.phase == "Running" {
                        format!("Running, {}", if p.ready { "ready" } else { "not ready" })
                    } else {
                        p.phase.clone()
                    };
                    let (node, run, why) = if i == 0 {
                        (v.node.as_str(), run, v.summary.as_str())
                    } else {
                        ("", "", "")
                    };
                    let _ = writeln!(
                        text,
                        "{node}\t{run}\t{}\t{revision}\t{status}\t{why}",
                        p.name
                    );
                }
            }
        }
    }
    tabwrite(&text, GET_TABS)
}
