//! Pod garbage collection (spec 7.2): pods bound to nodes that no longer exist, and
//! terminating pods that will never be finished by a kubelet, are failed and force-deleted.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use everynode_model::pod::is_being_deleted;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ClusterError;
use crate::error::{is_conflict, is_not_found};
use crate::mirror::{Mirror, split_key, watch};
use crate::projection::PodProgress;
use crate::scheduler::now_rfc3339;

/// Timing of pod GC.
#[derive(Debug, Clone)]
pub struct PodGcConfig {
    /// How long a node must be missing from the node list before its pods are collected
    /// (upstream: 40 s), so a node that is only momentarily absent from a cache is spared.
    pub quarantine: Duration,
    /// How often pods are examined (upstream: 20 s).
    pub interval: Duration,
}

impl Default for PodGcConfig {
    fn default() -> Self {
        PodGcConfig {
            quarantine: Duration::from_secs(40),
            interval: Duration::from_secs(20),
        }
    }
}

/// What pod GC remembers about a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    /// `spec.nodeName`, if bound.
    pub node: Option<String>,
    /// The pod's uid (deletes are preconditioned on it).
    pub uid: String,
    /// Phase Succeeded or Failed.
    pub terminal: bool,
    /// Has a deletionTimestamp.
    pub deleting: bool,
}

impl PodFacts {
    fn of(pod: &PodProgress) -> PodFacts {
        PodFacts {
            node: pod.node().map(str::to_owned),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            terminal: pod.is_terminal(),
            deleting: is_being_deleted(&pod.metadata),
        }
    }
}

/// What pod GC remembers about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// Ready condition is not True.
    pub not_ready: bool,
    /// Carries the `node.kubernetes.io/out-of-service` taint.
    pub out_of_service: bool,
}

impl NodeFacts {
    fn of(node: &Node) -> NodeFacts {
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let out_of_service = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| t.iter().any(|t| t.key == OUT_OF_SERVICE_TAINT));
        NodeFacts {
            not_ready: !ready,
            out_of_service,
        }
    }
}

/// The taint an operator sets on a node that is down for good.
const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";

/// Why pod GC collects a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Collect {
    /// Its node is gone (after quarantine and a live check).
    Orphaned,
    /// It is terminating but was never scheduled, so no kubelet will finish it.
    UnscheduledTerminating,
    /// It is terminating on a NotReady node marked out-of-service.
    OutOfService,
}

/// Pure: which pods to collect now. `missing_nodes` are node names confirmed gone (past
/// quarantine and a live NotFound).
pub fn pods_to_collect<'a>(
    pods: impl Iterator<Item = (&'a String, &'a PodFacts)>,
    nodes: &HashMap<String, NodeFacts>,
    missing_nodes: &HashSet<String>,
) -> Vec<(String, Collect)> {
    let mut out = Vec::new();
    for (key, pod) in pods {
        match &pod.node {
            Some(node) if missing_nodes.contains(node) => {
                out.push((key.clone(), Collect::Orphaned))
            }
            Some(node)
                if pod.deleting
                    && nodes
                        .get(node)
                        .is_some_and(|n| n.not_ready && n.out_of_service) =>
            {
                out.push((key.clone(), Collect::OutOfService));
            }
            Some(_) => {}
            None if pod.deleting => out.push((key.clone(), Collect::UnscheduledTerminating)),
            None => {}
        }
    }
    out.sort();
    out
}

/// Runs pod GC until `shutdown` is cancelled.
pub async fn run(
    client: Client,
    config: PodGcConfig,
    shutdown: CancellationToken,
) -> Result<(), ClusterError> {
    let nodes_api: Api<Node> = Api::all(client.clone());
    let mut pod_events = watch(
        Api::<PodProgress>::all(client.clone()),
        watcher::Config::default(),
    );
    let mut node_events = watch(nodes_api.clone(), watcher::Config::default());
    let mut pods: Mirror<PodFacts> = Mirror::default();
    let mut nodes: Mirror<NodeFacts> = Mirror::default();
    // Node names first seen missing, and when.
    let mut quarantined: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(config.interval.max(Duration::from_millis(10)));

    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(event) = pod_events.next() => match event {
                Ok(event) => { pods.apply(event, |p: PodProgress| PodFacts::of(&p)); }
                Err(err) => tracing::warn!(%err, "pod GC: pod watch error"),
            },
            Some(event) = node_events.next() => match event {
                Ok(event) => { nodes.apply(event, |n: Node| NodeFacts::of(&n)); }
                Err(err) => tracing::warn!(%err, "pod GC: node watch error"),
            },
            _ = tick.tick() => {
                if !pods.is_synced() || !nodes.is_synced() {
                    continue;
                }
                let node_map: HashMap<String, NodeFacts> =
                    nodes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let now = Instant::now();
                let absent: HashSet<String> = pods
                    .iter()
                    .filter_map(|(_, p)| p.node.clone())
                    .filter(|n| !node_map.contains_key(n))
                    .collect();
                quarantined.retain(|n, _| absent.contains(n));
                let mut missing = HashSet::new();
                for name in absent {
                    let since = *quarantined.entry(name.clone()).or_insert(now);
                    if now.duration_since(since) < config.quarantine {
                        continue;
                    }
                    // The cache may lag; only a live NotFound counts.
                    match nodes_api.get_opt(&name).await {
                        Ok(None) => { missing.insert(name); }
                        Ok(Some(_)) => {}
                        Err(err) => tracing::warn!(%err, node = %name, "pod GC: node check failed"),
                    }
                }
                for (key, why) in pods_to_collect(pods.iter(), &node_map, &missing) {
                    let Some(facts) = pods.get(&key) else { continue };
                    if let Err(err) = collect(&client, &key, facts, &why).await
                        && !is_not_found(&err)
                        && !is_conflict(&err)
                    {
                        tracing::warn!(%err, pod = %key, "pod GC: could not collect pod");
                    }
                }
            }
        }
    }
    Ok(())
}

async fn collect(
    client: &Client,
    key: &str,
    facts: &PodFacts,
    why: &Collect,
) -> Result<(), kube::Error> {
    let (ns, name) = split_key(key);
    let api: Api<Pod> = Api::namespaced(client.clone(), ns.unwrap_or("default"));
    if !facts.terminal {
        let mut status = json!({ "phase": "Failed" });
        if *why == Collect::Orphaned {
            status["conditions"] = json!([{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists",
                "lastTransitionTime": now_rfc3339(),
            }]);
        }
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Strategic(&json!({ "status": status })),
        )
        .await?;
    }
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(facts.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    api.delete(name, &params).await?;
    tracing::info!(pod = %key, reason = ?why, "pod GC: force-deleted pod");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(node: Option<&str>, deleting: bool) -> PodFacts {
        PodFacts {
            node: node.map(str::to_owned),
            uid: "u".into(),
            terminal: false,
            deleting,
        }
    }

    #[test]
    fn pods_to_collect_by_case() {
        let nodes: HashMap<String, NodeFacts> = [
            (
                "alive".to_owned(),
                NodeFacts {
                    not_ready: false,
                    out_of_service: false,
                },
            ),
            (
                "oos".to_owned(),
                NodeFacts {
                    not_ready: true,
                    out_of_service: true,
                },
            ),
            (
                "oos-ready".to_owned(),
                NodeFacts {
                    not_ready: false,
                    out_of_service: true,
                },
            ),
        ]
        .into();
        let missing: HashSet<String> = ["gone".to_owned()].into();
        let cases = [
            ("pod on live node kept", facts(Some("alive"), false), None),
            (
                "terminating pod on live node kept",
                facts(Some("alive"), true),
                None,
            ),
            (
                "pod on missing node collected",
                facts(Some("gone"), false),
                Some(Collect::Orphaned),
            ),
            (
                "pod on still-quarantined node kept",
                facts(Some("absent-recently"), false),
                None,
            ),
            (
                "unscheduled terminating collected",
                facts(None, true),
                Some(Collect::UnscheduledTerminating),
            ),
            ("unscheduled pending kept", facts(None, false), None),
            (
                "terminating on out-of-service not-ready node",
                facts(Some("oos"), true),
                Some(Collect::OutOfService),
            ),
            (
                "running on out-of-service node kept",
                facts(Some("oos"), false),
                None,
            ),
            (
                "terminating on out-of-service ready node kept",
                facts(Some("oos-ready"), true),
                None,
            ),
        ];
        for (name, pod, want) in cases {
            let key = "ns/p".to_owned();
            let got = pods_to_collect([(&key, &pod)].into_iter(), &nodes, &missing);
            let got = got.into_iter().next().map(|(_, why)| why);
            assert_eq!(got, want, "{name}");
        }
    }
}
