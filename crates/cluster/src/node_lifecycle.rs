//! Node lifecycle (spec 7.4): a node whose kubelet stops renewing its Lease goes
//! `Ready=Unknown`, and node conditions and `spec.unschedulable` are mirrored as taints.
//!
//! Heartbeats are judged by when *this* controller saw a lease renewal change (as upstream
//! does), not by comparing the lease's timestamp with our clock, so clock skew between the
//! kubelet and us does not matter and a restarted plane gives every node a fresh grace period.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use everynode_model::wellknown::taint_keys;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ClusterError;
use crate::error::{is_conflict, is_not_found};
use crate::mirror::{Change, Mirror, trimmed_node, watch};

/// How quickly silence is noticed.
#[derive(Debug, Clone)]
pub struct NodeLifecycleConfig {
    /// A node whose lease was not renewed for this long goes `Ready=Unknown`
    /// (upstream's node-monitor-grace-period).
    pub grace_period: Duration,
    /// How often heartbeats are checked (upstream's node-monitor-period).
    pub monitor_period: Duration,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            grace_period: Duration::from_secs(40),
            monitor_period: Duration::from_secs(5),
        }
    }
}

/// The namespace kubelets keep their Leases in.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The conditions a kubelet posts, which go Unknown when it falls silent.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];
/// Reason set on conditions of a silent node.
pub const NODE_STATUS_UNKNOWN_REASON: &str = "NodeStatusUnknown";
/// Message set on conditions of a silent node.
pub const NODE_STATUS_UNKNOWN_MESSAGE: &str = "Kubelet stopped posting node status.";

/// Taint keys this controller owns; other taints on a node are never touched.
const MANAGED: [(&str, &str); 9] = [
    (taint_keys::NOT_READY, "NoSchedule"),
    (taint_keys::UNREACHABLE, "NoSchedule"),
    (taint_keys::MEMORY_PRESSURE, "NoSchedule"),
    (taint_keys::DISK_PRESSURE, "NoSchedule"),
    (taint_keys::PID_PRESSURE, "NoSchedule"),
    (taint_keys::NETWORK_UNAVAILABLE, "NoSchedule"),
    (taint_keys::UNSCHEDULABLE, "NoSchedule"),
    (taint_keys::NOT_READY, "NoExecute"),
    (taint_keys::UNREACHABLE, "NoExecute"),
];

fn is_managed(taint: &Taint) -> bool {
    MANAGED
        .iter()
        .any(|(k, e)| taint.key == *k && taint.effect == *e)
}

/// The taints (key, effect) a node's conditions and `spec.unschedulable` call for:
/// Ready=False → not-ready NoSchedule+NoExecute, Ready=Unknown → unreachable
/// NoSchedule+NoExecute, pressure / NetworkUnavailable=True → their NoSchedule taints,
/// unschedulable → `node.kubernetes.io/unschedulable:NoSchedule`.
pub fn condition_taints(
    conditions: &[NodeCondition],
    unschedulable: bool,
) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for c in conditions {
        match (c.type_.as_str(), c.status.as_str()) {
            ("Ready", "False") => {
                out.push((taint_keys::NOT_READY, "NoSchedule"));
                out.push((taint_keys::NOT_READY, "NoExecute"));
            }
            ("Ready", "Unknown") => {
                out.push((taint_keys::UNREACHABLE, "NoSchedule"));
                out.push((taint_keys::UNREACHABLE, "NoExecute"));
            }
            ("MemoryPressure", "True") => out.push((taint_keys::MEMORY_PRESSURE, "NoSchedule")),
            ("DiskPressure", "True") => out.push((taint_keys::DISK_PRESSURE, "NoSchedule")),
            ("PIDPressure", "True") => out.push((taint_keys::PID_PRESSURE, "NoSchedule")),
            ("NetworkUnavailable", "True") => {
                out.push((taint_keys::NETWORK_UNAVAILABLE, "NoSchedule"));
            }
            _ => {}
        }
    }
    if unschedulable {
        out.push((taint_keys::UNSCHEDULABLE, "NoSchedule"));
    }
    out
}

/// The node's new taint list, or `None` when it already matches: taints this controller
/// does not own are kept as they are, owned ones that are still wanted keep their
/// `timeAdded`, missing ones are added with `timeAdded = now`.
pub fn reconcile_taints(
    existing: &[Taint],
    wanted: &[(&str, &str)],
    now: Time,
) -> Option<Vec<Taint>> {
    let mut out: Vec<Taint> = existing
        .iter()
        .filter(|t| !is_managed(t) || wanted.iter().any(|(k, e)| t.key == *k && t.effect == *e))
        .cloned()
        .collect();
    let mut changed = out.len() != existing.len();
    for (key, effect) in wanted {
        if !out.iter().any(|t| t.key == *key && t.effect == *effect) {
            out.push(Taint {
                key: (*key).to_owned(),
                effect: (*effect).to_owned(),
                value: None,
                time_added: Some(now.clone()),
            });
            changed = true;
        }
    }
    changed.then_some(out)
}

/// The kubelet conditions to write for a node that stopped heartbeating: each kubelet
/// condition that is not yet Unknown becomes Unknown with reason `NodeStatusUnknown` (a
/// missing one is added with `NodeStatusNeverUpdated`), lastTransitionTime now. Empty
/// when every condition is already Unknown.
pub fn unknown_conditions(conditions: &[NodeCondition], now: Time) -> Vec<NodeCondition> {
    let mut out = Vec::new();
    for kind in KUBELET_CONDITIONS {
        match conditions.iter().find(|c| c.type_ == kind) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => out.push(NodeCondition {
                type_: kind.to_owned(),
                status: "Unknown".to_owned(),
                reason: Some(NODE_STATUS_UNKNOWN_REASON.to_owned()),
                message: Some(NODE_STATUS_UNKNOWN_MESSAGE.to_owned()),
                last_heartbeat_time: c.last_heartbeat_time.clone(),
                last_transition_time: Some(now.clone()),
            }),
            None => out.push(NodeCondition {
                type_: kind.to_owned(),
                status: "Unknown".to_owned(),
                reason: Some("NodeStatusNeverUpdated".to_owned()),
                message: Some("Kubelet never posted node status.".to_owned()),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(now.clone()),
            }),
        }
    }
    out
}

/// Runs node lifecycle until `shutdown` is cancelled.
pub async fn run(
    client: Client,
    config: NodeLifecycleConfig,
    shutdown: CancellationToken,
) -> Result<(), ClusterError> {
    let nodes_api: Api<Node> = Api::all(client.clone());
    let mut node_events = watch(nodes_api.clone(), watcher::Config::default());
    let mut lease_events = watch(
        Api::<Lease>::namespaced(client.clone(), NODE_LEASE_NAMESPACE),
        watcher::Config::default(),
    );
    let mut nodes: Mirror<Node> = Mirror::default();
    let mut leases: Mirror<Option<String>> = Mirror::default();
    // When we last saw each node's heartbeat change.
    let mut probe: HashMap<String, Instant> = HashMap::new();
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut tick = tokio::time::interval(config.monitor_period.max(Duration::from_millis(10)));

    loop {
        let mut touched: Vec<String> = Vec::new();
        // Events before the tick: after this task has been held up (a busy machine), the
        // heartbeats that arrived meanwhile must be applied before silence is judged, or a
        // node that kept heartbeating would look silent for as long as the task waited.
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(event) = node_events.next() => match event {
                Ok(event) => {
                    for change in nodes.apply(event, trimmed_node) {
                        match change {
                            Change::Upsert { key, old } => {
                                let beat = |n: &Node| ready_heartbeat(n).cloned();
                                let new_beat = nodes.get(&key).and_then(beat);
                                if old.is_none() || old.as_ref().and_then(beat) != new_beat {
                                    probe.insert(key.clone(), Instant::now());
                                }
                                touched.push(key);
                            }
                            Change::Delete { key, .. } => {
                                probe.remove(&key);
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(%err, "node lifecycle: node watch error"),
            },
            Some(event) = lease_events.next() => match event {
                Ok(event) => {
                    let renew = |l: Lease| l.spec.and_then(|s| s.renew_time).map(|t| t.0.to_string());
                    for change in leases.apply(event, renew) {
                        if let Change::Upsert { key, old } = change
                            && old.as_ref() != leases.get(&key)
                        {
                            probe.insert(key, Instant::now());
                        }
                    }
                }
                Err(err) => tracing::warn!(%err, "node lifecycle: lease watch error"),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(name) = done {
                    in_flight.remove(&name);
                    touched.push(name);
                }
            }
            _ = tick.tick() => {
                if nodes.is_synced() && leases.is_synced() {
                    touched.extend(nodes.iter().map(|(k, _)| k.clone()));
                }
            }
        }
        if !nodes.is_synced() {
            continue;
        }
        let now = Instant::now();
        for name in touched {
            if in_flight.contains(&name) {
                continue;
            }
            let Some(node) = nodes.get(&name) else {
                continue;
            };
            let silent = probe
                .get(&name)
                .is_some_and(|seen| now.duration_since(*seen) > config.grace_period);
            if let Some(update) = plan_node(node, silent) {
                in_flight.insert(name.clone());
                let api = nodes_api.clone();
                tasks.spawn(async move {
                    if let Err(err) = write_node(&api, &name, update).await
                        && !is_not_found(&err)
                        && !is_conflict(&err)
                    {
                        tracing::warn!(%err, node = %name, "node lifecycle: write failed");
                    }
                    name
                });
            }
        }
    }
    tasks.shutdown().await;
    Ok(())
}

fn ready_heartbeat(node: &Node) -> Option<&Time> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?
        .last_heartbeat_time
        .as_ref()
}

/// The writes one node needs.
#[derive(Debug)]
struct NodeUpdate {
    conditions: Vec<NodeCondition>,
    taints: Option<(Vec<Taint>, Option<String>)>,
}

fn plan_node(node: &Node, silent: bool) -> Option<NodeUpdate> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mut conditions: Vec<NodeCondition> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut changed_conditions = Vec::new();
    if silent {
        changed_conditions = unknown_conditions(&conditions, now.clone());
        for c in &changed_conditions {
            match conditions.iter_mut().find(|x| x.type_ == c.type_) {
                Some(slot) => *slot = c.clone(),
                None => conditions.push(c.clone()),
            }
        }
    }
    let spec = node.spec.as_ref();
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let wanted = condition_taints(&conditions, unschedulable);
    let existing = spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]);
    let taints = reconcile_taints(existing, &wanted, now)
        .map(|t| (t, node.metadata.resource_version.clone()));
    if changed_conditions.is_empty() && taints.is_none() {
        return None;
    }
    Some(NodeUpdate {
        conditions: changed_conditions,
        taints,
    })
}

async fn write_node(api: &Api<Node>, name: &str, update: NodeUpdate) -> Result<(), kube::Error> {
    if !update.conditions.is_empty() {
        let patch = json!({ "status": { "conditions": update.conditions } });
        api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await?;
        tracing::info!(node = %name, "node lifecycle: kubelet stopped posting node status; Ready=Unknown");
    }
    if let Some((taints, resource_version)) = update.taints {
        // The resourceVersion makes this a compare-and-swap: a concurrent taint change by
        // someone else wins and we recompute from the newer node.
        let taints = if taints.is_empty() {
            serde_json::Value::Null
        } else {
            json!(taints)
        };
        let patch = json!({
            "metadata": { "resourceVersion": resource_version },
            "spec": { "taints": taints },
        });
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(kind: &str, status: &str) -> NodeCondition {
        NodeCondition {
            type_: kind.into(),
            status: status.into(),
            ..NodeCondition::default()
        }
    }

    fn t0() -> Time {
        Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    /// name, conditions, unschedulable, expected taints.
    type TaintCase = (
        &'static str,
        Vec<NodeCondition>,
        bool,
        Vec<(&'static str, &'static str)>,
    );

    #[test]
    fn condition_taints_follow_upstream_mapping() {
        let cases: Vec<TaintCase> = vec![
            (
                "healthy node has no taints",
                vec![cond("Ready", "True"), cond("MemoryPressure", "False")],
                false,
                vec![],
            ),
            (
                "not ready gets not-ready NoSchedule and NoExecute",
                vec![cond("Ready", "False")],
                false,
                vec![
                    (taint_keys::NOT_READY, "NoSchedule"),
                    (taint_keys::NOT_READY, "NoExecute"),
                ],
            ),
            (
                "unknown gets unreachable NoSchedule and NoExecute",
                vec![cond("Ready", "Unknown")],
                false,
                vec![
                    (taint_keys::UNREACHABLE, "NoSchedule"),
                    (taint_keys::UNREACHABLE, "NoExecute"),
                ],
            ),
            (
                "pressure conditions get NoSchedule only",
                vec![
                    cond("Ready", "True"),
                    cond("MemoryPressure", "True"),
                    cond("DiskPressure", "True"),
                    cond("PIDPressure", "True"),
                ],
                false,
                vec![
                    (taint_keys::MEMORY_PRESSURE, "NoSchedule"),
                    (taint_keys::DISK_PRESSURE, "NoSchedule"),
                    (taint_keys::PID_PRESSURE, "NoSchedule"),
                ],
            ),
            (
                "network unavailable",
                vec![cond("NetworkUnavailable", "True")],
                false,
                vec![(taint_keys::NETWORK_UNAVAILABLE, "NoSchedule")],
            ),
            (
                "cordoned node gets unschedulable",
                vec![cond("Ready", "True")],
                true,
                vec![(taint_keys::UNSCHEDULABLE, "NoSchedule")],
            ),
            (
                "missing ready condition gets nothing",
                vec![],
                false,
                vec![],
            ),
        ];
        for (name, conditions, unschedulable, want) in cases {
            assert_eq!(condition_taints(&conditions, unschedulable), want, "{name}");
        }
    }

    #[test]
    fn reconcile_taints_keeps_foreign_taints_and_time_added() {
        let foreign = Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let old_time = Time(
            k8s_openapi::jiff::Timestamp::from_second(1000)
                .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        );
        let existing_unreachable = Taint {
            key: taint_keys::UNREACHABLE.into(),
            value: None,
            effect: "NoExecute".into(),
            time_added: Some(old_time.clone()),
        };
        // Already matching: nothing to write.
        let existing = vec![foreign.clone(), existing_unreachable.clone()];
        assert_eq!(
            reconcile_taints(&existing, &[(taint_keys::UNREACHABLE, "NoExecute")], t0()),
            None
        );
        // Condition cleared: owned taint removed, foreign kept.
        assert_eq!(
            reconcile_taints(&existing, &[], t0()),
            Some(vec![foreign.clone()])
        );
        // New taint added with timeAdded=now, existing one keeps its time.
        let got = reconcile_taints(
            &existing,
            &[
                (taint_keys::UNREACHABLE, "NoExecute"),
                (taint_keys::UNREACHABLE, "NoSchedule"),
            ],
            t0(),
        );
        let got = got.unwrap_or_default();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].time_added, Some(old_time));
        assert_eq!(got[2].key, taint_keys::UNREACHABLE);
        assert_eq!(got[2].effect, "NoSchedule");
        assert_eq!(got[2].time_added, Some(t0()));
        // A foreign taint with an owned key but an effect we do not manage stays.
        let odd = Taint {
            key: taint_keys::MEMORY_PRESSURE.into(),
            effect: "NoExecute".into(),
            ..Taint::default()
        };
        assert_eq!(reconcile_taints(&[odd], &[], t0()), None);
    }

    #[test]
    fn unknown_conditions_mark_every_kubelet_condition_once() {
        let conditions = vec![
            cond("Ready", "True"),
            cond("MemoryPressure", "False"),
            cond("NetworkUnavailable", "False"),
        ];
        let got = unknown_conditions(&conditions, t0());
        let kinds: Vec<&str> = got.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            kinds,
            ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"]
        );
        assert!(got.iter().all(|c| c.status == "Unknown"));
        assert_eq!(got[0].reason.as_deref(), Some(NODE_STATUS_UNKNOWN_REASON));
        assert_eq!(got[0].message.as_deref(), Some(NODE_STATUS_UNKNOWN_MESSAGE));
        assert_eq!(got[2].reason.as_deref(), Some("NodeStatusNeverUpdated"));
        // Applying again changes nothing.
        assert!(unknown_conditions(&got, t0()).is_empty());
    }
}
