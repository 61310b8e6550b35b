//! Simulated nodes and their kubelets, KWOK-style.
//!
//! The fleet creates the profile's Node objects, keeps one Lease per node renewed
//! (heartbeats), writes a node's status only when it needs fixing (first Ready, defaults for
//! a node someone else created), and plays kubelet for pods bound to its nodes: Pending,
//! then Running and Ready after `start_delay`, or never ready, or crash-looping for the
//! configured fractions, and finishes pods being deleted.
//!
//! Everything runs in one task with two timer wheels (heartbeats and pod steps) and a
//! bounded set of in-flight API writes, so 5,000 idle nodes cost one heap entry each and
//! about `nodes / heartbeat_interval` small writes per second.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use everynode_model::wellknown::taint_keys;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Pod, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ClusterError;
use crate::error::{is_conflict, is_not_found};
use crate::mirror::{Change, Mirror, split_key, trimmed_node, trimmed_pod, watch};
use crate::node_lifecycle::NODE_LEASE_NAMESPACE;
use crate::projection::KubeletPod;
use crate::writes;

/// Annotation the fleet honours: when set to "true" on a Node, its kubelet stops heartbeating
/// (`everynode node fail`); removing it resumes (`node recover`).
pub const HEARTBEAT_PAUSED_ANNOTATION: &str = "everynode.io/heartbeat-paused";

/// Annotation the fleet puts on nodes it created, so they are recognisable.
pub const SIMULATED_ANNOTATION: &str = "everynode.io/simulated";

/// The kubelet version simulated nodes report.
pub const KUBELET_VERSION: &str = "v1.32.0-everynode";

/// A fleet profile: pools of identical nodes (YAML for `everynode up --profile`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetProfile {
    /// The pools, created in order.
    pub pools: Vec<NodePool>,
}

/// A pool of identical nodes named `<namePrefix><index>` (index from 0).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePool {
    /// Node name prefix, e.g. `worker-` gives `worker-0`, `worker-1`, ...
    pub name_prefix: String,
    /// How many nodes.
    pub count: usize,
    /// Extra node labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Capacity (also allocatable): `cpu`, `memory`, `pods`, `ephemeral-storage`, extended
    /// resources. Unset ones default to cpu 4, memory 16Gi, pods 110, ephemeral-storage 100Gi.
    #[serde(default)]
    pub capacity: BTreeMap<String, String>,
    /// Adds the `node-role.kubernetes.io/control-plane` label and NoSchedule taint.
    #[serde(default)]
    pub control_plane: bool,
    /// Creates the nodes cordoned (`spec.unschedulable`).
    #[serde(default)]
    pub unschedulable: bool,
}

impl NodePool {
    /// One control-plane node: the control-plane label and its NoSchedule taint.
    pub fn control_plane(name_prefix: &str) -> Self {
        NodePool {
            control_plane: true,
            ..NodePool::workers(1, name_prefix)
        }
    }

    fn workers(count: usize, name_prefix: &str) -> Self {
        NodePool {
            name_prefix: name_prefix.to_owned(),
            count,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            capacity: BTreeMap::new(),
            control_plane: false,
            unschedulable: false,
        }
    }
}

impl FleetProfile {
    /// `nodes` plain worker nodes named `<name_prefix><index>`.
    pub fn uniform(nodes: usize, name_prefix: &str) -> Self {
        FleetProfile {
            pools: vec![NodePool::workers(nodes, name_prefix)],
        }
    }

    /// Reads a profile from YAML and checks it (names, quantities, taint effects).
    pub fn from_yaml(text: &str) -> Result<Self, ClusterError> {
        let profile: FleetProfile = serde_saphyr::from_str(text)
            .map_err(|e| ClusterError::Config(format!("invalid fleet profile: {e}")))?;
        profile.validate()?;
        Ok(profile)
    }

    /// Checks what the API server would otherwise reject node by node.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let mut names = HashSet::new();
        for (i, pool) in self.pools.iter().enumerate() {
            let bad = |why: String| ClusterError::Config(format!("pools[{i}]: {why}"));
            if pool.count > 0 && pool.name_prefix.is_empty() {
                return Err(bad("namePrefix must not be empty".to_owned()));
            }
            let sample = format!("{}{}", pool.name_prefix, pool.count.saturating_sub(1));
            if !is_dns_subdomain(&sample) {
                return Err(bad(format!(
                    "namePrefix {:?} does not make valid node names (lowercase letters, digits, '-' and '.')",
                    pool.name_prefix
                )));
            }
            if !names.insert(pool.name_prefix.clone()) {
                return Err(bad(format!(
                    "namePrefix {:?} is used twice",
                    pool.name_prefix
                )));
            }
            for (name, value) in &pool.capacity {
                everynode_model::quantity::parse_quantity_milli(value)
                    .map_err(|e| bad(format!("capacity {name}: {e}")))?;
            }
            for taint in &pool.taints {
                if !everynode_model::taints::TAINT_EFFECTS.contains(&taint.effect.as_str()) {
                    return Err(bad(format!(
                        "taint {}: effect must be NoSchedule, PreferNoSchedule or NoExecute",
                        taint.key
                    )));
                }
            }
        }
        Ok(())
    }

    /// Total number of nodes.
    pub fn node_count(&self) -> usize {
        self.pools.iter().map(|p| p.count).sum()
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// What the fleet simulates and how.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// Nodes to create (those that already exist are left as they are).
    pub profile: FleetProfile,
    /// How long a pod takes from bound to Running (0: at once, for benchmarks).
    pub start_delay: Duration,
    /// How often each node renews its Lease.
    pub heartbeat_interval: Duration,
    /// Simulate every Node in the cluster, not only the profile's.
    pub manage_all_nodes: bool,
    /// Fraction of pods that run but never become Ready.
    pub never_ready_fraction: f64,
    /// Fraction of pods that crash-loop.
    pub crash_fraction: f64,
    /// Seed for the (deterministic, per pod uid) choice of failing pods.
    pub seed: u64,
    /// API writes in flight at once. Every simulated node stands for a kubelet of its own,
    /// so a wave of pods finishing or starting (a rolling update's waves are as large as
    /// its budget: 500 pods at 5,000 nodes with 10% unavailable) is best issued at once: an
    /// API server that commits concurrent writes together (the embedded plane's, which
    /// `everynode up` gives [`PLANE_MAX_IN_FLIGHT`]) then finishes it in a few commits,
    /// where a smaller window splits it into rounds that each wait for the previous one.
    /// The default suits a real API server, which limits mutating requests in flight (200
    /// by default) and answers the excess with 429.
    pub max_in_flight: usize,
}

/// The [`FleetConfig::max_in_flight`] for the embedded plane's own API server, which has
/// no in-flight limit and commits concurrent writes in one fsync.
pub const PLANE_MAX_IN_FLIGHT: usize = 1024;

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            profile: FleetProfile { pools: Vec::new() },
            start_delay: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(10),
            manage_all_nodes: true,
            never_ready_fraction: 0.0,
            crash_fraction: 0.0,
            seed: 0,
            max_in_flight: 128,
        }
    }
}

impl FleetConfig {
    fn validate(&self) -> Result<(), ClusterError> {
        self.profile.validate()?;
        let fraction_ok = |f: f64| (0.0..=1.0).contains(&f);
        if !fraction_ok(self.never_ready_fraction)
            || !fraction_ok(self.crash_fraction)
            || self.never_ready_fraction + self.crash_fraction > 1.0
        {
            return Err(ClusterError::Config(
                "never_ready_fraction and crash_fraction must be within 0..=1 and sum to at most 1"
                    .to_owned(),
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(ClusterError::Config(
                "heartbeat_interval must be positive".to_owned(),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ClusterError::Config(
                "max_in_flight must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Default allocatable of a simulated node.
const DEFAULT_CAPACITY: [(&str, &str); 4] = [
    ("cpu", "4"),
    ("memory", "16Gi"),
    ("pods", "110"),
    ("ephemeral-storage", "100Gi"),
];

/// The InternalIP of the i-th profile node: 10.1.0.1, 10.1.0.2, ... (never contacted).
fn node_ip(index: u32) -> String {
    let v = (10u32 << 24) + (1 << 16) + index + 1;
    dotted(v)
}

fn dotted(v: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        v >> 24,
        (v >> 16) & 255,
        (v >> 8) & 255,
        v & 255
    )
}

/// The Node objects of a profile, in pool order, names `<prefix><index>`.
pub fn build_nodes(profile: &FleetProfile) -> Vec<Node> {
    let mut out = Vec::with_capacity(profile.node_count());
    let mut index: u32 = 0;
    for pool in &profile.pools {
        for i in 0..pool.count {
            out.push(build_node(
                pool,
                &format!("{}{}", pool.name_prefix, i),
                &node_ip(index),
            ));
            index = index.wrapping_add(1);
        }
    }
    out
}

fn internal_ip(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
}

fn build_node(pool: &NodePool, name: &str, ip: &str) -> Node {
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_owned(), name.to_owned()),
        ("kubernetes.io/os".to_owned(), "linux".to_owned()),
        ("kubernetes.io/arch".to_owned(), "amd64".to_owned()),
        ("beta.kubernetes.io/os".to_owned(), "linux".to_owned()),
        ("beta.kubernetes.io/arch".to_owned(), "amd64".to_owned()),
    ]);
    let mut taints = pool.taints.clone();
    if pool.control_plane {
        labels.insert(taint_keys::CONTROL_PLANE.to_owned(), String::new());
        if !taints.iter().any(|t| t.key == taint_keys::CONTROL_PLANE) {
            taints.push(Taint {
                key: taint_keys::CONTROL_PLANE.to_owned(),
                effect: "NoSchedule".to_owned(),
                ..Taint::default()
            });
        }
    }
    labels.extend(pool.labels.clone());
    let mut capacity: BTreeMap<String, Quantity> = DEFAULT_CAPACITY
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect();
    for (k, v) in &pool.capacity {
        capacity.insert(k.clone(), Quantity(v.clone()));
    }
    let now = Time(Timestamp::now());
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                SIMULATED_ANNOTATION.to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: (!taints.is_empty()).then_some(taints),
            unschedulable: pool.unschedulable.then_some(true),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            conditions: Some(healthy_conditions(None, &now)),
            addresses: Some(addresses(name, ip)),
            node_info: Some(node_info()),
            ..NodeStatus::default()
        }),
    }
}

fn addresses(name: &str, ip: &str) -> Vec<NodeAddress> {
    vec![
        NodeAddress {
            type_: "InternalIP".to_owned(),
            address: ip.to_owned(),
        },
        NodeAddress {
            type_: "Hostname".to_owned(),
            address: name.to_owned(),
        },
    ]
}

fn node_info() -> NodeSystemInfo {
    NodeSystemInfo {
        architecture: "amd64".to_owned(),
        operating_system: "linux".to_owned(),
        os_image: "everynode simulated".to_owned(),
        kernel_version: "6.0.0-everynode".to_owned(),
        container_runtime_version: "everynode://0.1.0".to_owned(),
        kubelet_version: KUBELET_VERSION.to_owned(),
        ..NodeSystemInfo::default()
    }
}

/// The kubelet conditions of a healthy node. Existing conditions keep their
/// lastTransitionTime when their status does not change.
fn healthy_conditions(existing: Option<&[NodeCondition]>, now: &Time) -> Vec<NodeCondition> {
    const HEALTHY: [(&str, &str, &str, &str); 4] = [
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        (
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        (
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        (
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ];
    HEALTHY
        .iter()
        .map(|(kind, status, reason, message)| {
            let old = existing.and_then(|list| list.iter().find(|c| c.type_ == *kind));
            let transition = match old {
                Some(c) if c.status == *status => c.last_transition_time.clone(),
                _ => Some(now.clone()),
            };
            NodeCondition {
                type_: (*kind).to_owned(),
                status: (*status).to_owned(),
                reason: Some((*reason).to_owned()),
                message: Some((*message).to_owned()),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: transition,
            }
        })
        .collect()
}

/// The status patch a managed node needs, or `None` when its status is already fine: Ready
/// is True and every kubelet condition exists; capacity, allocatable, nodeInfo and addresses
/// are filled in (defaults) when a node was created without them. A pressure condition
/// someone set to True is left alone.
pub fn node_status_patch(node: &Node, ip: &str) -> Option<Value> {
    let now = Time(Timestamp::now());
    let status = node.status.clone().unwrap_or_default();
    let mut patch = serde_json::Map::new();
    let conditions = status.conditions.as_deref().unwrap_or(&[]);
    let ready = conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let complete = ["MemoryPressure", "DiskPressure", "PIDPressure"]
        .iter()
        .all(|k| conditions.iter().any(|c| c.type_ == *k));
    if !ready || !complete {
        let wanted: Vec<NodeCondition> = healthy_conditions(Some(conditions), &now)
            .into_iter()
            .filter(|c| c.type_ == "Ready" || !conditions.iter().any(|old| old.type_ == c.type_))
            .collect();
        patch.insert("conditions".to_owned(), json!(wanted));
    }
    let defaults: BTreeMap<String, Quantity> = DEFAULT_CAPACITY
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect();
    if status.capacity.as_ref().is_none_or(BTreeMap::is_empty) {
        patch.insert("capacity".to_owned(), json!(defaults));
    }
    if status.allocatable.as_ref().is_none_or(BTreeMap::is_empty) {
        let from = status
            .capacity
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or(defaults);
        patch.insert("allocatable".to_owned(), json!(from));
    }
    if status
        .node_info
        .as_ref()
        .is_none_or(|i| i.kubelet_version.is_empty())
    {
        patch.insert("nodeInfo".to_owned(), json!(node_info()));
    }
    if status.addresses.as_ref().is_none_or(Vec::is_empty) {
        patch.insert(
            "addresses".to_owned(),
            json!(addresses(&node.name_any(), ip)),
        );
    }
    (!patch.is_empty()).then(|| json!({ "status": patch }))
}

/// How a simulated pod behaves, chosen deterministically from the seed and its uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodFate {
    /// Runs and becomes Ready.
    Ready,
    /// Runs but never becomes Ready.
    NeverReady,
    /// Crash-loops (CrashLoopBackOff, restartCount increasing).
    Crash,
}

/// The fate of a pod: a uniform draw from `seed` and `uid` compared with the fractions.
pub fn pod_fate(seed: u64, uid: &str, never_ready_fraction: f64, crash_fraction: f64) -> PodFate {
    let draw = (mix(seed, uid) >> 11) as f64 / (1u64 << 53) as f64;
    if draw < crash_fraction {
        PodFate::Crash
    } else if draw < crash_fraction + never_ready_fraction {
        PodFate::NeverReady
    } else {
        PodFate::Ready
    }
}

/// FNV-1a over the uid, then a SplitMix64 finaliser with the seed: stable across runs
/// and platforms (unlike `std`'s hasher).
fn mix(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Crash-loop back-off after the `crashes`-th crash (kubelet: 10 s, doubling, capped at
/// 5 min).
fn crash_backoff(crashes: i32) -> Duration {
    let secs = 10u64.saturating_mul(1u64 << (crashes - 1).clamp(0, 5));
    Duration::from_secs(secs.min(300))
}

/// The status a running pod should report. `pod_ip`/`host_ip` are used when the pod has
/// none yet; `restarts` only matters for crash-looping pods. Returns `None` when the
/// current status already says all of that.
pub fn running_status_patch(
    pod: &Pod,
    fate: PodFate,
    host_ip: &str,
    pod_ip: &str,
    restarts: i32,
    now: Timestamp,
) -> Option<Value> {
    let spec = pod.spec.as_ref()?;
    let status = pod.status.clone().unwrap_or_default();
    let ready = fate == PodFate::Ready;
    let images_match = status.container_statuses.as_ref().is_some_and(|cs| {
        cs.len() == spec.containers.len()
            && spec.containers.iter().all(|c| {
                cs.iter().any(|s| {
                    s.name == c.name && Some(&s.image) == c.image.as_ref() && s.ready == ready
                })
            })
    });
    let restarts_match = fate != PodFate::Crash
        || status
            .container_statuses
            .as_ref()
            .is_some_and(|cs| cs.iter().all(|s| s.restart_count >= restarts));
    if status.phase.as_deref() == Some("Running")
        && status.pod_ip.is_some()
        && images_match
        && restarts_match
        && is_condition(pod, "Ready", if ready { "True" } else { "False" })
    {
        return None;
    }
    let now_time = Time(now);
    let stamp = now_time.clone();
    let pod_ip = status.pod_ip.clone().unwrap_or_else(|| pod_ip.to_owned());
    let host_ip = status.host_ip.clone().unwrap_or_else(|| host_ip.to_owned());
    let start_time = status
        .start_time
        .clone()
        .unwrap_or_else(|| now_time.clone());
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            let old = status.container_statuses.iter().flatten().find(|s| s.name == c.name);
            let image_changed = old.is_some_and(|s| Some(&s.image) != c.image.as_ref());
            let started_at = old
                .filter(|_| !image_changed)
                .and_then(|s| s.state.as_ref())
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.clone())
                .unwrap_or_else(|| stamp.clone());
            let base_restarts = old.map_or(0, |s| s.restart_count) + i32::from(image_changed);
            let container_id = format!("containerd://{:016x}", mix(u64::from(image_changed), &format!("{uid}/{}", c.name)));
            let image_id = format!("{image}@sha256:{:016x}{:016x}", mix(1, &image), mix(2, &image));
            match fate {
                PodFate::Crash => json!({
                    "name": c.name, "image": image, "imageID": image_id, "containerID": container_id,
                    "ready": false, "started": false, "restartCount": restarts.max(base_restarts),
                    "state": { "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": format!("back-off {}s restarting failed container={} pod={}_{}({})",
                            crash_backoff(restarts).as_secs(), c.name, name, ns, uid),
                    }},
                    "lastState": { "terminated": {
                        "exitCode": 1, "reason": "Error", "startedAt": stamp, "finishedAt": stamp,
                        "containerID": container_id,
                    }},
                }),
                _ => json!({
                    "name": c.name, "image": image, "imageID": image_id, "containerID": container_id,
                    "ready": ready, "started": true, "restartCount": base_restarts,
                    "state": { "running": { "startedAt": started_at } },
                }),
            }
        })
        .collect();
    let init: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(),
                "imageID": "", "ready": true, "restartCount": 0, "started": false,
                "state": { "terminated": { "exitCode": 0, "reason": "Completed", "startedAt": start_time, "finishedAt": start_time } },
            })
        })
        .collect();
    let unready: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let not_ready_message = format!("containers with unready status: [{}]", unready.join(" "));
    let cond = |kind: &str, ok: bool| {
        let s = if ok { "True" } else { "False" };
        let mut c = json!({
            "type": kind, "status": s, "lastProbeTime": null,
            "lastTransitionTime": transition_time(pod, kind, s, &now_time),
        });
        if !ok {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(not_ready_message);
        }
        c
    };
    let mut out = json!({ "status": {
        "phase": "Running",
        "hostIP": host_ip, "hostIPs": [{ "ip": host_ip }],
        "podIP": pod_ip, "podIPs": [{ "ip": pod_ip }],
        "startTime": start_time,
        "conditions": [
            cond("PodReadyToStartContainers", true),
            cond("Initialized", true),
            cond("Ready", ready),
            cond("ContainersReady", ready),
            cond("PodScheduled", true),
        ],
        "containerStatuses": containers,
    }});
    if !init.is_empty() {
        out["status"]["initContainerStatuses"] = json!(init);
    }
    Some(out)
}

/// The status of a pod whose containers are being created (bound, before `start_delay`).
fn pending_status_patch(pod: &Pod, host_ip: &str, now: Timestamp) -> Option<Value> {
    let spec = pod.spec.as_ref()?;
    let status = pod.status.as_ref();
    if status.is_some_and(|s| s.host_ip.is_some() || s.phase.as_deref() == Some("Running")) {
        return None;
    }
    let now = Time(now);
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": false, "started": false, "restartCount": 0,
                "state": { "waiting": { "reason": "ContainerCreating" } },
            })
        })
        .collect();
    Some(json!({ "status": {
        "phase": "Pending",
        "hostIP": host_ip, "hostIPs": [{ "ip": host_ip }],
        "startTime": now,
        "conditions": [
            { "type": "Initialized", "status": "True", "lastProbeTime": null,
              "lastTransitionTime": transition_time(pod, "Initialized", "True", &now) },
            { "type": "PodScheduled", "status": "True", "lastProbeTime": null,
              "lastTransitionTime": transition_time(pod, "PodScheduled", "True", &now) },
        ],
        "containerStatuses": containers,
    }}))
}

fn is_condition(pod: &Pod, kind: &str, status: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == status))
}

/// Keeps a condition's lastTransitionTime when its status does not change.
fn transition_time(pod: &Pod, kind: &str, status: &str, now: &Time) -> Value {
    let old = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == kind));
    match old {
        Some(c) if c.status == status && c.last_transition_time.is_some() => {
            json!(c.last_transition_time)
        }
        _ => json!(now),
    }
}

/// Lease duration the simulated kubelets advertise (upstream default).
const LEASE_DURATION_SECONDS: i32 = 40;

/// Runs the fleet until `shutdown` is cancelled.
pub async fn run(
    client: Client,
    config: FleetConfig,
    shutdown: CancellationToken,
) -> Result<(), ClusterError> {
    config.validate()?;
    let nodes_api: Api<Node> = Api::all(client.clone());
    let desired = build_nodes(&config.profile);
    let own: HashSet<String> = desired.iter().map(|n| n.name_any()).collect();
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        created = create_missing_nodes(&nodes_api, desired, config.max_in_flight) => created?,
    }

    let mut fleet = Fleet::new(config, own);
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        existing = existing_leases(&client) => fleet.leases = existing,
    }
    let mut node_events = watch(nodes_api, watcher::Config::default());
    let mut pod_events = watch(
        Api::<KubeletPod>::all(client.clone()),
        watcher::Config::default(),
    );
    let mut tasks: JoinSet<Done> = JoinSet::new();

    loop {
        let now = Instant::now();
        fleet.collect_due(now);
        while tasks.len() < fleet.config.max_in_flight {
            let Some(work) = fleet.next_work() else { break };
            let client = client.clone();
            tasks.spawn(async move { work.run(&client).await });
        }
        let next_due = fleet.next_due();
        let can_spawn = tasks.len() < fleet.config.max_in_flight;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(event) = node_events.next() => match event {
                Ok(event) => {
                    let changes = fleet.nodes.apply(event, trimmed_node);
                    for change in changes {
                        fleet.on_node_change(change);
                    }
                }
                Err(err) => tracing::warn!(%err, "fleet: node watch error"),
            },
            Some(event) = pod_events.next() => match event {
                Ok(event) => {
                    let changes = fleet.pods.apply(event, |p| trimmed_pod(p.into_pod()));
                    for change in changes {
                        fleet.on_pod_change(change);
                    }
                }
                Err(err) => tracing::warn!(%err, "fleet: pod watch error"),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                match done {
                    Ok(Done::Pod(pod_key)) => fleet.pod_write_done(&pod_key),
                    Ok(Done::Lease { node, exists }) => fleet.lease_outcome(&node, exists),
                    Ok(Done::Other) | Err(_) => {}
                }
            }
            _ = sleep_until(next_due), if can_spawn && next_due.is_some() => {}
        }
    }
    tasks.shutdown().await;
    Ok(())
}

/// Names of the Leases already in the node-lease namespace, so a restarted fleet renews
/// them instead of trying to create each one first. A failed list is not fatal: creating
/// falls back to patching on AlreadyExists, it only costs one extra request per node.
async fn existing_leases(client: &Client) -> HashSet<String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    match api.list(&ListParams::default()).await {
        Ok(list) => list.items.iter().map(ResourceExt::name_any).collect(),
        Err(err) => {
            tracing::warn!(%err, "fleet: cannot list node leases; will create them");
            HashSet::new()
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

async fn create_missing_nodes(
    api: &Api<Node>,
    desired: Vec<Node>,
    max_in_flight: usize,
) -> Result<(), ClusterError> {
    if desired.is_empty() {
        return Ok(());
    }
    let listed = api.list(&ListParams::default()).await?.items;
    let existing: HashSet<String> = listed.iter().map(ResourceExt::name_any).collect();
    let mut used_ips: HashSet<String> = listed.iter().filter_map(internal_ip).collect();
    let mut missing: Vec<Node> = desired
        .into_iter()
        .filter(|n| !existing.contains(&n.name_any()))
        .collect();
    // Nodes left by an earlier profile may hold the addresses this one would use.
    let mut candidate: u32 = 0;
    for node in &mut missing {
        let Some(ip) = internal_ip(node) else {
            continue;
        };
        if used_ips.insert(ip) {
            continue;
        }
        let fresh = loop {
            candidate += 1;
            let ip = dotted((10u32 << 24) + (1 << 16) + candidate);
            if used_ips.insert(ip.clone()) {
                break ip;
            }
        };
        let name = node.name_any();
        if let Some(status) = node.status.as_mut() {
            status.addresses = Some(addresses(&name, &fresh));
        }
    }
    let count = missing.len();
    futures::stream::iter(missing.into_iter().map(|node| async move {
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => Ok(()),
            Err(err) if is_conflict(&err) => Ok(()),
            Err(err) => Err(ClusterError::Kube(err)),
        }
    }))
    .buffer_unordered(max_in_flight)
    .try_collect::<Vec<()>>()
    .await?;
    if count > 0 {
        tracing::info!(count, "fleet: created simulated nodes");
    }
    Ok(())
}

/// What the fleet knows about one managed node.
#[derive(Debug, Clone)]
struct SimNode {
    ip: String,
    uid: String,
    paused: bool,
}

/// An API write of the fleet.
enum Work {
    /// Renews (`lease_known`) or creates the node's Lease.
    Heartbeat {
        node: String,
        uid: String,
        lease_known: bool,
    },
    NodeStatus {
        node: String,
        patch: Value,
    },
    DeleteLease {
        node: String,
    },
    PodStatus {
        key: String,
        patch: Value,
    },
    FinishDeletion {
        key: String,
        uid: String,
    },
}

/// What a finished write tells the fleet.
enum Done {
    /// A pod write finished; the pod is re-examined.
    Pod(String),
    /// A heartbeat finished: whether the node's Lease now exists (`None`: still unknown).
    Lease {
        node: String,
        exists: Option<bool>,
    },
    Other,
}

impl Work {
    /// Performs the write and reports what the fleet should learn from it.
    async fn run(self, client: &Client) -> Done {
        let mut lease_exists = None;
        let result = match &self {
            Work::Heartbeat {
                node,
                uid,
                lease_known,
            } => {
                let result = heartbeat(client, node, uid, *lease_known).await;
                lease_exists = match &result {
                    Ok(()) => Some(true),
                    Err(err) if is_not_found(err) => Some(false),
                    Err(_) => None,
                };
                result
            }
            Work::NodeStatus { node, patch } => {
                let request = writes::requests::<Node>(None).patch_subresource(
                    "status",
                    node,
                    &writes::patch(),
                    &Patch::Strategic(patch),
                );
                writes::send(client, request).await
            }
            Work::DeleteLease { node } => {
                let request = writes::requests::<Lease>(Some(NODE_LEASE_NAMESPACE))
                    .delete(node, &DeleteParams::default());
                writes::send(client, request).await
            }
            Work::PodStatus { key, patch } => {
                let (ns, name) = split_key(key);
                let request = writes::requests::<Pod>(Some(ns.unwrap_or("default")))
                    .patch_subresource("status", name, &writes::patch(), &Patch::Strategic(patch));
                writes::send(client, request).await
            }
            Work::FinishDeletion { key, uid } => {
                let (ns, name) = split_key(key);
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                let request =
                    writes::requests::<Pod>(Some(ns.unwrap_or("default"))).delete(name, &params);
                writes::send(client, request).await
            }
        };
        if let Err(err) = result
            && !is_not_found(&err)
            && !is_conflict(&err)
        {
            tracing::warn!(%err, "fleet: API write failed");
        }
        match &self {
            Work::PodStatus { key, .. } => {
                tracing::debug!(target: "everynode::timeline", pod = %key, "fleet pod status done")
            }
            Work::FinishDeletion { key, .. } => {
                tracing::debug!(target: "everynode::timeline", pod = %key, "fleet finish deletion done")
            }
            _ => {}
        }
        match self {
            Work::PodStatus { key, .. } | Work::FinishDeletion { key, .. } => Done::Pod(key),
            Work::Heartbeat { node, .. } => Done::Lease {
                node,
                exists: lease_exists,
            },
            _ => Done::Other,
        }
    }
}

/// One heartbeat: one request in the common case. A Lease the fleet has seen is renewed
/// (created if someone deleted it); an unseen one is created (renewed if it turns out to
/// exist), so converging thousands of new nodes does not cost a failed PATCH each.
async fn heartbeat(
    client: &Client,
    node: &str,
    uid: &str,
    lease_known: bool,
) -> Result<(), kube::Error> {
    let now = MicroTime(Timestamp::now());
    if lease_known {
        match renew_lease(client, node, &now).await {
            Err(err) if is_not_found(&err) => create_lease(client, node, uid, now).await,
            other => other,
        }
    } else {
        match create_lease(client, node, uid, now.clone()).await {
            Err(err) if is_conflict(&err) => renew_lease(client, node, &now).await,
            other => other,
        }
    }
}

async fn renew_lease(client: &Client, node: &str, now: &MicroTime) -> Result<(), kube::Error> {
    let patch = json!({ "spec": {
        "holderIdentity": node,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": now,
    }});
    let request = writes::requests::<Lease>(Some(NODE_LEASE_NAMESPACE)).patch(
        node,
        &writes::patch(),
        &Patch::Merge(&patch),
    );
    writes::send(client, request).await
}

async fn create_lease(
    client: &Client,
    node: &str,
    uid: &str,
    now: MicroTime,
) -> Result<(), kube::Error> {
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(node.to_owned()),
            namespace: Some(NODE_LEASE_NAMESPACE.to_owned()),
            owner_references: (!uid.is_empty()).then(|| {
                vec![OwnerReference {
                    api_version: "v1".to_owned(),
                    kind: "Node".to_owned(),
                    name: node.to_owned(),
                    uid: uid.to_owned(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_owned()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(now),
            ..LeaseSpec::default()
        }),
    };
    writes::create(client, Some(NODE_LEASE_NAMESPACE), &lease).await
}

/// When a node first heartbeats, as an offset into the first interval: a stable hash of its
/// name, so thousands of nodes appearing at once renew spread over the interval, not in a
/// burst.
fn first_beat_offset(node: &str, interval: Duration) -> Duration {
    interval.mul_f64((mix(7, node) % 10_000) as f64 / 10_000.0)
}

/// The heartbeat after the one due at `due`, collected at `now`. When the fleet fell
/// behind (a backlog, a suspended process) the missed beats are skipped but the node keeps
/// its phase: restarting every late node's cycle at `now` would bunch them together for
/// good.
fn next_beat(due: Instant, now: Instant, interval: Duration) -> Instant {
    let next = due + interval;
    if next > now {
        return next;
    }
    let missed = now.duration_since(due).as_nanos() / interval.as_nanos().max(1);
    u32::try_from(missed + 1)
        .ok()
        .and_then(|n| interval.checked_mul(n))
        .and_then(|d| due.checked_add(d))
        .unwrap_or(now + interval)
}

/// A timer wheel entry: when, and a sequence number so equal times stay ordered.
type Due = Reverse<(Instant, u64, String)>;

struct Fleet {
    config: FleetConfig,
    own: HashSet<String>,
    nodes: Mirror<Node>,
    pods: Mirror<Pod>,
    managed: HashMap<String, SimNode>,
    pods_by_node: HashMap<String, HashSet<String>>,
    heartbeats: BinaryHeap<Due>,
    /// Nodes whose Lease the fleet created or observed: their heartbeats renew, the others'
    /// create.
    leases: HashSet<String>,
    pod_timers: BinaryHeap<Due>,
    /// When each pod is due for its next step (one timer per pod).
    pod_due: HashMap<String, Instant>,
    /// When each pod was first seen bound to a managed node.
    first_seen: HashMap<String, Instant>,
    /// Crash-looping pods: restarts so far and when the next one happens.
    crash_restarts: HashMap<String, (i32, Instant)>,
    /// Pods to examine now, in arrival order, without duplicates.
    ready_pods: VecDeque<String>,
    ready_set: HashSet<String>,
    pod_in_flight: HashSet<String>,
    pod_redo: HashSet<String>,
    /// Writes waiting for a slot. Pod and node writes alternate so that neither a wave of
    /// pod starts nor the steady heartbeat load starves the other.
    pod_work: VecDeque<Work>,
    node_work: VecDeque<Work>,
    pod_turn: bool,
    seq: u64,
    next_ip: u32,
    used_pod_ips: HashSet<String>,
    next_foreign_node: u32,
}

impl Fleet {
    fn new(config: FleetConfig, own: HashSet<String>) -> Self {
        Fleet {
            config,
            own,
            nodes: Mirror::default(),
            pods: Mirror::default(),
            managed: HashMap::new(),
            pods_by_node: HashMap::new(),
            heartbeats: BinaryHeap::new(),
            leases: HashSet::new(),
            pod_timers: BinaryHeap::new(),
            pod_due: HashMap::new(),
            first_seen: HashMap::new(),
            crash_restarts: HashMap::new(),
            ready_pods: VecDeque::new(),
            ready_set: HashSet::new(),
            pod_in_flight: HashSet::new(),
            pod_redo: HashSet::new(),
            pod_work: VecDeque::new(),
            node_work: VecDeque::new(),
            pod_turn: false,
            seq: 0,
            next_ip: 0,
            used_pod_ips: HashSet::new(),
            next_foreign_node: 0,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn next_due(&self) -> Option<Instant> {
        let a = self.heartbeats.peek().map(|Reverse((t, _, _))| *t);
        let b = self.pod_timers.peek().map(|Reverse((t, _, _))| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn next_work(&mut self) -> Option<Work> {
        while self.pod_work.is_empty() {
            let Some(key) = self.ready_pods.pop_front() else {
                break;
            };
            self.ready_set.remove(&key);
            self.step_pod(&key);
        }
        self.pod_turn = !self.pod_turn;
        if self.pod_turn {
            self.pod_work
                .pop_front()
                .or_else(|| self.node_work.pop_front())
        } else {
            self.node_work
                .pop_front()
                .or_else(|| self.pod_work.pop_front())
        }
    }

    /// Moves due timers into work (bounded so the write queue does not balloon).
    fn collect_due(&mut self, now: Instant) {
        while self.node_work.len() < self.config.max_in_flight * 4 {
            match self.heartbeats.peek() {
                Some(Reverse((t, _, _))) if *t <= now => {}
                _ => break,
            }
            let Some(Reverse((t, _, node))) = self.heartbeats.pop() else {
                break;
            };
            let Some(sim) = self.managed.get(&node) else {
                continue;
            };
            if !sim.paused {
                self.node_work.push_back(Work::Heartbeat {
                    node: node.clone(),
                    uid: sim.uid.clone(),
                    lease_known: self.leases.contains(&node),
                });
            }
            let next = next_beat(t, now, self.config.heartbeat_interval);
            let seq = self.next_seq();
            self.heartbeats.push(Reverse((next, seq, node)));
        }
        while self.ready_pods.len() < self.config.max_in_flight * 4 {
            match self.pod_timers.peek() {
                Some(Reverse((t, _, _))) if *t <= now => {}
                _ => break,
            }
            let Some(Reverse((t, _, key))) = self.pod_timers.pop() else {
                break;
            };
            if self.pod_due.get(&key) == Some(&t) {
                self.pod_due.remove(&key);
                if self.ready_set.insert(key.clone()) {
                    self.ready_pods.push_back(key);
                }
            }
        }
    }

    /// Records what a heartbeat learned about a node's Lease.
    fn lease_outcome(&mut self, node: &str, exists: Option<bool>) {
        match exists {
            // A node deleted meanwhile has had its Lease deleted too.
            Some(true) if self.managed.contains_key(node) => {
                self.leases.insert(node.to_owned());
            }
            Some(_) => {
                self.leases.remove(node);
            }
            None => {}
        }
    }

    fn is_managed(&self, node: &Node) -> bool {
        let name = node.metadata.name.as_deref().unwrap_or("");
        self.own.contains(name) || (self.config.manage_all_nodes && !has_real_kubelet(node))
    }

    fn on_node_change(&mut self, change: Change<Node>) {
        match change {
            Change::Upsert { key, .. } => {
                let Some(node) = self.nodes.get(&key) else {
                    return;
                };
                if !self.is_managed(node) {
                    if self.managed.remove(&key).is_some() {
                        tracing::info!(node = %key, "fleet: a real kubelet reports for this node; no longer simulated");
                    }
                    return;
                }
                let paused = node
                    .annotations()
                    .get(HEARTBEAT_PAUSED_ANNOTATION)
                    .is_some_and(|v| v == "true");
                let ip = node
                    .status
                    .as_ref()
                    .and_then(|s| s.addresses.as_ref())
                    .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
                    .map(|a| a.address.clone());
                let uid = node.metadata.uid.clone().unwrap_or_default();
                let known = self.managed.get(&key).cloned();
                let ip = match (ip, &known) {
                    (Some(ip), _) => ip,
                    (None, Some(k)) => k.ip.clone(),
                    (None, None) => {
                        // Nodes someone else created get addresses from 10.128.0.0/9.
                        self.next_foreign_node += 1;
                        dotted((10u32 << 24) + (128 << 16) + self.next_foreign_node)
                    }
                };
                let patch = if paused {
                    None
                } else {
                    node_status_patch(node, &ip)
                };
                let was_paused = known.as_ref().is_some_and(|k| k.paused);
                self.managed.insert(
                    key.clone(),
                    SimNode {
                        ip,
                        uid: uid.clone(),
                        paused,
                    },
                );
                if known.is_none() {
                    // Spread first renewals over one interval so heartbeats never come in bursts.
                    let offset = first_beat_offset(&key, self.config.heartbeat_interval);
                    let seq = self.next_seq();
                    self.heartbeats
                        .push(Reverse((Instant::now() + offset, seq, key.clone())));
                }
                if let Some(patch) = patch {
                    self.node_work.push_back(Work::NodeStatus {
                        node: key.clone(),
                        patch,
                    });
                }
                if known.is_none() || was_paused != paused {
                    let pods: Vec<String> = self
                        .pods_by_node
                        .get(&key)
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect();
                    for pod in pods {
                        self.touch_pod(&pod);
                    }
                }
            }
            Change::Delete { key, .. } => {
                if self.managed.remove(&key).is_some() {
                    self.leases.remove(&key);
                    self.node_work.push_back(Work::DeleteLease { node: key });
                }
            }
        }
    }

    fn on_pod_change(&mut self, change: Change<Pod>) {
        match change {
            Change::Upsert { key, old } => {
                let old_node = old.as_ref().and_then(bound_node).map(str::to_owned);
                let new_node = self.pods.get(&key).and_then(bound_node).map(str::to_owned);
                tracing::trace!(target: "everynode::timeline", pod = %key, bound = new_node.is_some(), deleting = self.pods.get(&key).is_some_and(|p| p.metadata.deletion_timestamp.is_some()), "fleet saw pod");
                let running_node = new_node
                    .as_ref()
                    .and_then(|n| self.managed.get(n))
                    .is_some_and(|sim| !sim.paused);
                if running_node {
                    // The start delay runs from when the kubelet learns of the pod, not from
                    // when a free write slot lets the fleet look at it again.
                    self.first_seen
                        .entry(key.clone())
                        .or_insert_with(Instant::now);
                }
                if let Some(ip) = self
                    .pods
                    .get(&key)
                    .and_then(|p| p.status.as_ref()?.pod_ip.clone())
                {
                    self.used_pod_ips.insert(ip);
                }
                if old_node != new_node {
                    if let Some(n) = &old_node
                        && let Some(set) = self.pods_by_node.get_mut(n)
                    {
                        set.remove(&key);
                    }
                    if let Some(n) = &new_node {
                        self.pods_by_node
                            .entry(n.clone())
                            .or_default()
                            .insert(key.clone());
                    }
                }
                self.touch_pod(&key);
            }
            Change::Delete { key, old } => {
                if let Some(ip) = old.status.as_ref().and_then(|s| s.pod_ip.as_ref()) {
                    self.used_pod_ips.remove(ip);
                }
                if let Some(n) = bound_node(&old)
                    && let Some(set) = self.pods_by_node.get_mut(n)
                {
                    set.remove(&key);
                }
                self.pod_due.remove(&key);
                self.first_seen.remove(&key);
                self.crash_restarts.remove(&key);
            }
        }
    }

    fn pod_write_done(&mut self, key: &str) {
        self.pod_in_flight.remove(key);
        if self.pod_redo.remove(key) {
            self.touch_pod(key);
        }
    }

    /// Re-examines a pod now (or after its in-flight write finishes).
    fn touch_pod(&mut self, key: &str) {
        if self.pod_in_flight.contains(key) {
            self.pod_redo.insert(key.to_owned());
            return;
        }
        self.pod_due.remove(key);
        if self.ready_set.insert(key.to_owned()) {
            self.ready_pods.push_back(key.to_owned());
        }
    }

    fn schedule_pod(&mut self, key: &str, at: Instant) {
        if self.pod_due.get(key).is_some_and(|t| *t <= at) {
            return;
        }
        self.pod_due.insert(key.to_owned(), at);
        let seq = self.next_seq();
        self.pod_timers.push(Reverse((at, seq, key.to_owned())));
    }

    /// The next free pod IP in 10.244.0.0/16, skipping addresses pods already have (for
    /// instance pods that kept running across a restart of the fleet).
    fn alloc_pod_ip(&mut self) -> String {
        for _ in 0..=0xffff {
            self.next_ip = self.next_ip.wrapping_add(1) & 0xffff;
            if matches!(self.next_ip & 255, 0 | 255) {
                continue;
            }
            let ip = dotted((10u32 << 24) + (244 << 16) + self.next_ip);
            if !self.used_pod_ips.contains(&ip) {
                self.used_pod_ips.insert(ip.clone());
                return ip;
            }
        }
        // More than 65,000 pods: reuse addresses rather than fail (they are only data).
        dotted((10u32 << 24) + (244 << 16) + self.next_ip)
    }

    /// Decides the next kubelet step for one pod.
    fn step_pod(&mut self, key: &str) {
        if self.pod_in_flight.contains(key) {
            self.pod_redo.insert(key.to_owned());
            return;
        }
        let Some(pod) = self.pods.get(key) else {
            return;
        };
        let Some(node) = bound_node(pod) else { return };
        let Some(sim) = self.managed.get(node) else {
            return;
        };
        if sim.paused || everynode_model::pod::is_terminal(pod) {
            return;
        }
        let host_ip = sim.ip.clone();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let now = Instant::now();
        let first_seen = *self.first_seen.entry(key.to_owned()).or_insert(now);
        if pod.metadata.deletion_timestamp.is_some() {
            // Finish at once: the deletion mark is itself a committed, watched state, so every
            // observer already sees the pod Terminating, and any pause here would be paid again
            // by every step of a rolling update (which waits for the pod to be gone).
            tracing::debug!(target: "everynode::timeline", pod = key, "fleet finish deletion queued");
            self.pod_in_flight.insert(key.to_owned());
            self.pod_work.push_back(Work::FinishDeletion {
                key: key.to_owned(),
                uid,
            });
            return;
        }
        let start_at = first_seen + self.config.start_delay;
        let ts_now = Timestamp::now();
        if now < start_at {
            if let Some(patch) = pending_status_patch(pod, &host_ip, ts_now) {
                self.pod_in_flight.insert(key.to_owned());
                self.pod_work.push_back(Work::PodStatus {
                    key: key.to_owned(),
                    patch,
                });
            }
            self.schedule_pod(key, start_at);
            return;
        }
        let fate = pod_fate(
            self.config.seed,
            &uid,
            self.config.never_ready_fraction,
            self.config.crash_fraction,
        );
        let needs_ip = pod.status.as_ref().is_none_or(|s| s.pod_ip.is_none());
        let mut restarts = 0;
        if fate == PodFate::Crash {
            let (count, next) = self
                .crash_restarts
                .get(key)
                .copied()
                .unwrap_or((1, now + crash_backoff(1)));
            let (count, next) = if now >= next {
                (count + 1, now + crash_backoff(count + 1))
            } else {
                (count, next)
            };
            self.crash_restarts.insert(key.to_owned(), (count, next));
            self.schedule_pod(key, next);
            restarts = count;
        }
        let pod_ip = if needs_ip {
            self.alloc_pod_ip()
        } else {
            String::new()
        };
        let Some(pod) = self.pods.get(key) else {
            return;
        };
        if let Some(patch) = running_status_patch(pod, fate, &host_ip, &pod_ip, restarts, ts_now) {
            tracing::debug!(target: "everynode::timeline", pod = key, "fleet running queued");
            self.pod_in_flight.insert(key.to_owned());
            self.pod_work.push_back(Work::PodStatus {
                key: key.to_owned(),
                patch,
            });
        }
    }
}

/// True when a node's status says another kubelet runs it (a real one, or another
/// simulator): its nodeInfo names a kubelet version that is not ours. Such nodes are never
/// simulated, so `everynode sim` against a real cluster leaves real nodes and their pods
/// alone even when it manages "all" nodes.
pub fn has_real_kubelet(node: &Node) -> bool {
    if node
        .annotations()
        .get(SIMULATED_ANNOTATION)
        .is_some_and(|v| v == "true")
    {
        return false;
    }
    node.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .is_some_and(|i| !i.kubelet_version.is_empty() && i.kubelet_version != KUBELET_VERSION)
}

fn bound_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    #[test]
    fn profile_yaml_parses_pools_with_defaults() {
        let text = r#"
pools:
  - namePrefix: control-plane-
    count: 1
    controlPlane: true
  - namePrefix: gpu-
    count: 2
    labels: { node-type: gpu }
    taints:
      - { key: nvidia.com/gpu, value: present, effect: NoSchedule }
    capacity: { cpu: 16, memory: 64Gi, nvidia.com/gpu: "4" }
    unschedulable: true
"#;
        let profile = FleetProfile::from_yaml(text).expect("valid profile");
        assert_eq!(profile.pools.len(), 2);
        assert_eq!(profile.node_count(), 3);
        assert!(profile.pools[0].control_plane);
        assert!(profile.pools[0].labels.is_empty());
        assert_eq!(profile.pools[1].taints[0].value.as_deref(), Some("present"));
        assert!(profile.pools[1].unschedulable);
        assert_eq!(
            profile.pools[1].capacity.get("cpu").map(String::as_str),
            Some("16"),
            "unquoted numbers are read as quantities"
        );
    }

    #[test]
    fn config_validation_names_the_bad_setting() {
        type Change = fn(&mut FleetConfig);
        let cases: [(&str, Change, Option<&str>); 4] = [
            ("defaults", |_| {}, None),
            (
                "no writes in flight",
                |c| c.max_in_flight = 0,
                Some("max_in_flight"),
            ),
            (
                "zero heartbeat interval",
                |c| c.heartbeat_interval = Duration::ZERO,
                Some("heartbeat_interval"),
            ),
            (
                "fractions above one",
                |c| {
                    c.never_ready_fraction = 0.6;
                    c.crash_fraction = 0.6;
                },
                Some("never_ready_fraction"),
            ),
        ];
        for (case, change, want) in cases {
            let mut config = FleetConfig::default();
            change(&mut config);
            match (config.validate(), want) {
                (Ok(()), None) => {}
                (Err(err), Some(text)) => {
                    assert!(err.to_string().contains(text), "{case}: {err}")
                }
                (got, want) => panic!("{case}: got {got:?}, wanted an error naming {want:?}"),
            }
        }
    }

    #[test]
    fn profile_yaml_rejects_bad_input() {
        let cases = [
            (
                "missing count",
                "pools:\n  - namePrefix: a-\n",
                "invalid fleet profile",
            ),
            (
                "not yaml of a profile",
                "just text",
                "invalid fleet profile",
            ),
            (
                "bad name",
                "pools:\n  - namePrefix: Upper_\n    count: 1\n",
                "does not make valid node names",
            ),
            (
                "bad quantity",
                "pools:\n  - namePrefix: a-\n    count: 1\n    capacity: { cpu: lots }\n",
                "capacity cpu",
            ),
            (
                "bad effect",
                "pools:\n  - namePrefix: a-\n    count: 1\n    taints: [{ key: k, effect: Sometimes }]\n",
                "effect must be",
            ),
            (
                "misspelt field",
                "pools:\n  - { namePrefix: a-, count: 1, lables: { a: b } }\n",
                "unknown field",
            ),
            (
                "duplicate prefix",
                "pools:\n  - { namePrefix: a-, count: 1 }\n  - { namePrefix: a-, count: 2 }\n",
                "used twice",
            ),
        ];
        for (name, text, want) in cases {
            match FleetProfile::from_yaml(text) {
                Ok(p) => panic!("{name}: accepted {p:?}"),
                Err(err) => assert!(err.to_string().contains(want), "{name}: {err}"),
            }
        }
    }

    #[test]
    fn build_nodes_names_labels_taints_and_capacity() {
        let mut profile = FleetProfile::uniform(2, "node-");
        profile.pools.insert(0, NodePool::control_plane("cp-"));
        profile.pools[1]
            .capacity
            .insert("memory".into(), "1Gi".into());
        let nodes = build_nodes(&profile);
        let names: Vec<String> = nodes.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["cp-0", "node-0", "node-1"]);
        let cp = &nodes[0];
        assert_eq!(
            cp.labels()
                .get(taint_keys::CONTROL_PLANE)
                .map(String::as_str),
            Some("")
        );
        let taints = cp
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        assert_eq!(taints.len(), 1);
        assert_eq!(
            (taints[0].key.as_str(), taints[0].effect.as_str()),
            (taint_keys::CONTROL_PLANE, "NoSchedule")
        );
        let worker = &nodes[1];
        assert_eq!(
            worker
                .labels()
                .get("kubernetes.io/hostname")
                .map(String::as_str),
            Some("node-0")
        );
        assert_eq!(
            worker.labels().get("kubernetes.io/os").map(String::as_str),
            Some("linux")
        );
        assert!(
            worker
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_none()
        );
        let status = worker.status.clone().unwrap_or_default();
        let alloc = status.allocatable.unwrap_or_default();
        assert_eq!(alloc.get("cpu"), Some(&Quantity("4".into())));
        assert_eq!(alloc.get("memory"), Some(&Quantity("1Gi".into())));
        assert_eq!(alloc.get("pods"), Some(&Quantity("110".into())));
        assert_eq!(
            status.node_info.map(|i| i.kubelet_version),
            Some(KUBELET_VERSION.to_owned())
        );
        let ips: Vec<String> = nodes
            .iter()
            .filter_map(|n| {
                n.status
                    .as_ref()?
                    .addresses
                    .as_ref()?
                    .first()
                    .map(|a| a.address.clone())
            })
            .collect();
        assert_eq!(ips, ["10.1.0.1", "10.1.0.2", "10.1.0.3"]);
        // A fresh simulated node needs no status fix-up.
        assert_eq!(node_status_patch(worker, "10.1.0.2"), None);
    }

    #[test]
    fn node_status_patch_fills_in_what_is_missing() {
        let bare = Node {
            metadata: ObjectMeta {
                name: Some("x".into()),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        let patch = node_status_patch(&bare, "10.128.0.1").unwrap_or_default();
        let status = &patch["status"];
        assert_eq!(status["capacity"]["pods"], "110");
        assert_eq!(status["allocatable"]["memory"], "16Gi");
        assert_eq!(status["nodeInfo"]["kubeletVersion"], KUBELET_VERSION);
        assert_eq!(status["addresses"][0]["address"], "10.128.0.1");
        let kinds: Vec<&str> = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(
            kinds,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );

        // Ready=Unknown (after a pause) becomes True again; a pressure condition set by
        // someone else is left alone.
        let mut node = build_nodes(&FleetProfile::uniform(1, "n-")).remove(0);
        if let Some(conditions) = node.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            for c in conditions.iter_mut() {
                if c.type_ == "Ready" {
                    c.status = "Unknown".into();
                }
                if c.type_ == "DiskPressure" {
                    c.status = "True".into();
                }
            }
        }
        let patch = node_status_patch(&node, "10.1.0.1").unwrap_or_default();
        let conditions = patch["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["type"], "Ready");
        assert_eq!(conditions[0]["status"], "True");
        assert!(patch["status"].get("capacity").is_none());
    }

    #[test]
    fn has_real_kubelet_by_node_info() {
        let mut node = build_nodes(&FleetProfile::uniform(1, "n-")).remove(0);
        assert!(!has_real_kubelet(&node), "our own node");
        node.metadata.annotations = None;
        assert!(!has_real_kubelet(&node), "our kubelet version");
        if let Some(info) = node.status.as_mut().and_then(|s| s.node_info.as_mut()) {
            info.kubelet_version = "v1.31.4".into();
        }
        assert!(has_real_kubelet(&node), "a real kubelet's version");
        node.status = None;
        assert!(!has_real_kubelet(&node), "a hand-made node with no status");
    }

    #[test]
    fn pod_fate_is_deterministic_and_follows_fractions() {
        let cases = [(0.0, 0.0, 0, 0), (1.0, 0.0, 1000, 0), (0.0, 1.0, 0, 1000)];
        for (never, crash, want_never, want_crash) in cases {
            let fates: Vec<PodFate> = (0..1000)
                .map(|i| pod_fate(42, &format!("uid-{i}"), never, crash))
                .collect();
            assert_eq!(
                fates.iter().filter(|f| **f == PodFate::NeverReady).count(),
                want_never
            );
            assert_eq!(
                fates.iter().filter(|f| **f == PodFate::Crash).count(),
                want_crash
            );
        }
        let quarter: usize = (0..4000)
            .filter(|i| pod_fate(7, &format!("u{i}"), 0.25, 0.0) == PodFate::NeverReady)
            .count();
        assert!(
            (800..1200).contains(&quarter),
            "about a quarter never ready, got {quarter}"
        );
        assert_eq!(pod_fate(1, "abc", 0.5, 0.2), pod_fate(1, "abc", 0.5, 0.2));
    }

    fn bound_pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                uid: Some("uid-1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n-0".into()),
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("img:1".into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn running_status_patch_by_fate() {
        let now = Timestamp::UNIX_EPOCH;
        for (fate, ready, waiting) in [
            (PodFate::Ready, true, false),
            (PodFate::NeverReady, false, false),
            (PodFate::Crash, false, true),
        ] {
            let patch = running_status_patch(&bound_pod(), fate, "10.1.0.1", "10.244.0.1", 2, now);
            let status = patch.map(|p| p["status"].clone()).unwrap_or_default();
            assert_eq!(status["phase"], "Running", "{fate:?}");
            assert_eq!(status["podIP"], "10.244.0.1");
            assert_eq!(status["hostIP"], "10.1.0.1");
            let cs = &status["containerStatuses"][0];
            assert_eq!(cs["ready"], ready, "{fate:?}");
            assert_eq!(cs["state"].get("waiting").is_some(), waiting, "{fate:?}");
            let ready_cond = status["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
                .unwrap_or_default();
            assert_eq!(ready_cond["status"], if ready { "True" } else { "False" });
            if fate == PodFate::Crash {
                assert_eq!(cs["restartCount"], 2);
                assert_eq!(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
            }
        }
    }

    #[test]
    fn running_status_patch_is_none_once_applied() {
        let mut pod = bound_pod();
        let patch = running_status_patch(&pod, PodFate::Ready, "h", "p", 0, Timestamp::UNIX_EPOCH)
            .unwrap_or_default();
        pod.status = serde_json::from_value(patch["status"].clone()).ok();
        assert!(pod.status.is_some());
        assert_eq!(
            running_status_patch(&pod, PodFate::Ready, "h", "q", 0, Timestamp::UNIX_EPOCH),
            None
        );
        // A changed image needs a new status.
        if let Some(spec) = pod.spec.as_mut() {
            spec.containers[0].image = Some("img:2".into());
        }
        let again = running_status_patch(&pod, PodFate::Ready, "h", "q", 0, Timestamp::UNIX_EPOCH)
            .unwrap_or_default();
        assert_eq!(again["status"]["containerStatuses"][0]["image"], "img:2");
        assert_eq!(again["status"]["containerStatuses"][0]["restartCount"], 1);
        assert_eq!(again["status"]["podIP"], "p", "the pod keeps its IP");
    }

    #[test]
    fn crash_backoff_doubles_and_caps() {
        let got: Vec<u64> = (1..9).map(|r| crash_backoff(r).as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 300, 300, 300]);
    }

    fn fleet_with_node(name: &str) -> Fleet {
        let mut fleet = Fleet::new(FleetConfig::default(), HashSet::new());
        fleet.managed.insert(
            name.to_owned(),
            SimNode {
                ip: "10.1.0.1".to_owned(),
                uid: "u".to_owned(),
                paused: false,
            },
        );
        fleet
    }

    /// The `lease_known` of the next heartbeat the fleet sends for `name`.
    fn next_heartbeat_renews(fleet: &mut Fleet, name: &str) -> Option<bool> {
        let now = Instant::now();
        let seq = fleet.next_seq();
        fleet.heartbeats.push(Reverse((now, seq, name.to_owned())));
        fleet.collect_due(now);
        match fleet.node_work.pop_front() {
            Some(Work::Heartbeat { lease_known, .. }) => Some(lease_known),
            _ => None,
        }
    }

    #[test]
    fn heartbeat_creates_unseen_leases_and_renews_known_ones() {
        // (case, listed at start, outcomes of earlier heartbeats, next heartbeat renews)
        let cases: &[(&str, bool, &[Option<bool>], bool)] = &[
            ("never seen: create", false, &[], false),
            ("listed at start: renew", true, &[], true),
            ("created by a heartbeat: renew", false, &[Some(true)], true),
            (
                "deleted behind our back: create",
                true,
                &[Some(false)],
                false,
            ),
            ("transient error keeps what we knew", true, &[None], true),
            ("transient error before any create", false, &[None], false),
            (
                "recreated after a 404",
                true,
                &[Some(false), Some(true)],
                true,
            ),
        ];
        for (case, listed, outcomes, renews) in cases {
            let mut fleet = fleet_with_node("n");
            if *listed {
                fleet.leases.insert("n".to_owned());
            }
            for outcome in *outcomes {
                fleet.lease_outcome("n", *outcome);
            }
            assert_eq!(
                next_heartbeat_renews(&mut fleet, "n"),
                Some(*renews),
                "{case}"
            );
        }
    }

    #[test]
    fn lease_of_a_deleted_node_is_forgotten() {
        let mut fleet = fleet_with_node("n");
        fleet.leases.insert("n".to_owned());
        fleet.on_node_change(Change::Delete {
            key: "n".to_owned(),
            old: Node::default(),
        });
        assert!(!fleet.leases.contains("n"));
        // A create that lands after the node went away must not mark the lease known.
        fleet.lease_outcome("n", Some(true));
        assert!(!fleet.leases.contains("n"));
    }

    #[test]
    fn first_heartbeats_spread_evenly_over_the_interval() {
        let interval = Duration::from_secs(10);
        let mut per_second = [0usize; 10];
        for i in 0..5_000 {
            let offset = first_beat_offset(&format!("sim-{i}"), interval);
            assert!(offset < interval);
            per_second[offset.as_secs() as usize] += 1;
        }
        // 500 expected per second; a burst would leave some seconds far off.
        for (second, count) in per_second.iter().enumerate() {
            assert!(
                (425..=575).contains(count),
                "second {second}: {per_second:?}"
            );
        }
    }

    #[test]
    fn late_heartbeats_keep_their_phase() {
        let interval = Duration::from_secs(10);
        let due = Instant::now();
        let s = Duration::from_secs;
        // (case, collected this long after due, next beat this long after due)
        let cases = [
            ("on time", s(0), s(10)),
            ("a little late", s(3), s(10)),
            ("exactly one interval late", s(10), s(20)),
            ("several intervals late", s(35), s(40)),
        ];
        for (case, late, next) in cases {
            assert_eq!(next_beat(due, due + late, interval), due + next, "{case}");
        }
    }
}
