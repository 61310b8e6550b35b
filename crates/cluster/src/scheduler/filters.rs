//! The scheduler's filters (spec 7.1), as pure functions of a pod, a node and the pods
//! already on that node, and upstream's "0/N nodes are available" message.
//!
//! Filters run in upstream's plugin order and a node is rejected by the first plugin that
//! fails (as the scheduling framework does), except that NodeResourcesFit reports every
//! insufficient resource at once.

use std::collections::{BTreeMap, BTreeSet};

use everynode_model::affinity::check_node_affinity;
use everynode_model::quantity::quantity_milli;
use everynode_model::taints::tolerates;
use everynode_model::wellknown::taint_keys;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec, Taint};

/// The node field daemon pods are pinned with.
const NODE_NAME_FIELD: &str = "metadata.name";

/// Why one node cannot take a pod. Each variant renders as upstream's reason text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Unfit {
    /// NodeUnschedulable: `spec.unschedulable` and the pod does not tolerate it.
    Unschedulable,
    /// NodeName: the pod names another node.
    NodeName,
    /// TaintToleration: a NoSchedule/NoExecute taint the pod does not tolerate.
    UntoleratedTaint {
        /// The taint's key.
        key: String,
        /// The taint's value (empty when unset).
        value: String,
    },
    /// NodeAffinity: nodeSelector or required node affinity does not match.
    NodeAffinity,
    /// NodePorts: a requested host port is already used on the node.
    HostPorts,
    /// NodeResourcesFit: one or more resources (or the pod count) are exhausted.
    Resources(Vec<Insufficient>),
}

/// One exhausted resource, as NodeResourcesFit reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Insufficient {
    /// The node's `pods` allocatable is used up: `Too many pods`.
    Pods,
    /// A resource (`cpu`, `memory`, `ephemeral-storage`, extended): `Insufficient <name>`.
    Resource(String),
}

impl Unfit {
    /// Upstream's reason strings for this rejection (one per exhausted resource).
    pub fn reasons(&self) -> Vec<String> {
        match self {
            Unfit::Unschedulable => vec!["node(s) were unschedulable".to_owned()],
            Unfit::NodeName => vec!["node(s) didn't match the requested node name".to_owned()],
            Unfit::UntoleratedTaint { key, value } => {
                vec![format!("node(s) had untolerated taint {{{key}: {value}}}")]
            }
            Unfit::NodeAffinity => {
                vec!["node(s) didn't match Pod's node affinity/selector".to_owned()]
            }
            Unfit::HostPorts => {
                vec!["node(s) didn't have free ports for the requested pod ports".to_owned()]
            }
            Unfit::Resources(list) => list
                .iter()
                .map(|r| match r {
                    Insufficient::Pods => "Too many pods".to_owned(),
                    Insufficient::Resource(name) => format!("Insufficient {name}"),
                })
                .collect(),
        }
    }

    /// True when removing pods from the node could make it fit (upstream's `Unschedulable`
    /// as opposed to `UnschedulableAndUnresolvable`), i.e. preemption may help.
    pub fn resolvable_by_preemption(&self) -> bool {
        matches!(self, Unfit::HostPorts | Unfit::Resources(_))
    }
}

/// Upstream's FitError text: `0/<total> nodes are available: <count> <reason>, ....`, the
/// "count reason" strings sorted as strings, as upstream does.
pub fn unschedulable_message(total_nodes: usize, reasons: &[(Unfit, usize)]) -> String {
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for (unfit, count) in reasons {
        for reason in unfit.reasons() {
            *histogram.entry(reason).or_default() += count;
        }
    }
    let mut parts: Vec<String> = histogram
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    parts.sort();
    let mut message = format!("0/{total_nodes} nodes are available:");
    if !parts.is_empty() {
        message.push(' ');
        message.push_str(&parts.join(", "));
        message.push('.');
    }
    message
}

/// Runs every filter for one node. `pods_on_node` are the pods bound (or assumed bound) to
/// it; terminal ones are ignored.
pub fn filter_node(pod: &Pod, node: &Node, pods_on_node: &[&Pod]) -> Result<(), Unfit> {
    let empty = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty);
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    let node_spec = node.spec.as_ref();
    let node_name = node.metadata.name.as_deref().unwrap_or("");

    if node_spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        let taint = Taint {
            key: taint_keys::UNSCHEDULABLE.to_owned(),
            effect: "NoSchedule".to_owned(),
            ..Taint::default()
        };
        if !tolerations.iter().any(|t| tolerates(t, &taint)) {
            return Err(Unfit::Unschedulable);
        }
    }
    if let Some(wanted) = spec.node_name.as_deref().filter(|n| !n.is_empty())
        && wanted != node_name
    {
        return Err(Unfit::NodeName);
    }
    let taints = node_spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]);
    if let Some(taint) = taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
    {
        return Err(Unfit::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone().unwrap_or_default(),
        });
    }
    if check_node_affinity(spec, node).is_err() {
        return Err(Unfit::NodeAffinity);
    }
    let live: Vec<&Pod> = pods_on_node
        .iter()
        .copied()
        .filter(|p| !everynode_model::pod::is_terminal(p))
        .collect();
    if host_ports_conflict(pod, &live) {
        return Err(Unfit::HostPorts);
    }
    let missing = insufficient_resources(pod, node, &live);
    if !missing.is_empty() {
        return Err(Unfit::Resources(missing));
    }
    Ok(())
}

/// The node names a pod's required affinity restricts it to through `matchFields`
/// `metadata.name In [...]` (NodeAffinity's PreFilter), or `None` when any node may do.
///
/// Every term must carry such a requirement for the restriction to hold, because terms
/// are ORed: one unrestricted term lets every node in.
pub fn prefilter_node_names(pod: &Pod) -> Option<BTreeSet<String>> {
    let terms = &pod
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let mut names = BTreeSet::new();
    for term in terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for req in term.match_fields.iter().flatten() {
            if req.key == NODE_NAME_FIELD && req.operator == "In" {
                let values: BTreeSet<String> = req.values.iter().flatten().cloned().collect();
                term_names = Some(match term_names {
                    // Requirements within a term are ANDed.
                    Some(previous) => previous.intersection(&values).cloned().collect(),
                    None => values,
                });
            }
        }
        names.extend(term_names?);
    }
    Some(names)
}

/// A pod's priority: `spec.priority`, else 0 (callers resolve PriorityClasses first).
pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// One requested host port: protocol, host IP, port.
type HostPort = (String, String, i32);

fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = p.host_port.filter(|port| *port > 0)?;
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".to_owned());
            let ip = p
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| "0.0.0.0".to_owned());
            Some((protocol, ip, host_port))
        })
        .collect()
}

fn ports_overlap(a: &HostPort, b: &HostPort) -> bool {
    a.0 == b.0 && a.2 == b.2 && (a.1 == b.1 || a.1 == "0.0.0.0" || b.1 == "0.0.0.0")
}

fn host_ports_conflict(pod: &Pod, pods_on_node: &[&Pod]) -> bool {
    let wanted = host_ports(pod);
    if wanted.is_empty() {
        return false;
    }
    pods_on_node
        .iter()
        .flat_map(|p| host_ports(p))
        .any(|used| wanted.iter().any(|w| ports_overlap(w, &used)))
}

/// Resource requests of a pod in milli-units, keyed by resource name (upstream
/// `computePodResourceRequest`): the sum of app containers and restartable (sidecar) init
/// containers, at least each ordinary init container plus the sidecars started before it,
/// plus the pod overhead. A container's limit stands in for a missing request, as API
/// defaulting would have made it.
pub fn pod_requests(pod: &Pod) -> BTreeMap<String, i128> {
    let Some(spec) = pod.spec.as_ref() else {
        return BTreeMap::new();
    };
    let mut total: BTreeMap<String, i128> = BTreeMap::new();
    for c in &spec.containers {
        add_into(&mut total, &container_requests(c));
    }
    let mut sidecars: BTreeMap<String, i128> = BTreeMap::new();
    for c in spec.init_containers.iter().flatten() {
        let req = container_requests(c);
        if c.restart_policy.as_deref() == Some("Always") {
            add_into(&mut sidecars, &req);
            add_into(&mut total, &req);
        } else {
            let mut needed = req;
            add_into(&mut needed, &sidecars);
            for (name, value) in needed {
                let slot = total.entry(name).or_default();
                *slot = (*slot).max(value);
            }
        }
    }
    if let Some(overhead) = spec.overhead.as_ref() {
        for (name, q) in overhead {
            if let Ok(v) = quantity_milli(q) {
                *total.entry(name.clone()).or_default() += v;
            }
        }
    }
    total
}

fn container_requests(c: &Container) -> BTreeMap<String, i128> {
    let mut out = BTreeMap::new();
    let Some(res) = c.resources.as_ref() else {
        return out;
    };
    for (name, q) in res.limits.iter().flatten() {
        if let Ok(v) = quantity_milli(q) {
            out.insert(name.clone(), v);
        }
    }
    for (name, q) in res.requests.iter().flatten() {
        if let Ok(v) = quantity_milli(q) {
            out.insert(name.clone(), v);
        }
    }
    out
}

fn add_into(into: &mut BTreeMap<String, i128>, from: &BTreeMap<String, i128>) {
    for (name, value) in from {
        *into.entry(name.clone()).or_default() += value;
    }
}

/// The node's allocatable (falling back to capacity) in milli-units.
pub fn node_allocatable(node: &Node) -> BTreeMap<String, i128> {
    let status = node.status.as_ref();
    let list = status
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    list.iter()
        .flat_map(|m| m.iter())
        .filter_map(|(name, q)| quantity_milli(q).ok().map(|v| (name.clone(), v)))
        .collect()
}

/// NodeResourcesFit: what the pod needs that the node no longer has, in upstream's order
/// (pod count, cpu, memory, ephemeral-storage, then other resources by name).
fn insufficient_resources(pod: &Pod, node: &Node, pods_on_node: &[&Pod]) -> Vec<Insufficient> {
    let allocatable = node_allocatable(node);
    let mut missing = Vec::new();
    let allowed_pods = allocatable.get("pods").copied().unwrap_or(0) / 1000;
    if pods_on_node.len() as i128 + 1 > allowed_pods {
        missing.push(Insufficient::Pods);
    }
    let wanted = pod_requests(pod);
    if wanted.values().all(|v| *v == 0) {
        return missing;
    }
    let mut used: BTreeMap<String, i128> = BTreeMap::new();
    for p in pods_on_node {
        add_into(&mut used, &pod_requests(p));
    }
    let free = |name: &str| {
        allocatable.get(name).copied().unwrap_or(0) - used.get(name).copied().unwrap_or(0)
    };
    const FIRST: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];
    for name in FIRST {
        let want = wanted.get(name).copied().unwrap_or(0);
        if want > 0 && want > free(name) {
            missing.push(Insufficient::Resource(name.to_owned()));
        }
    }
    for (name, want) in &wanted {
        if FIRST.contains(&name.as_str()) || name == "pods" || *want <= 0 {
            continue;
        }
        if *want > free(name) {
            missing.push(Insufficient::Resource(name.clone()));
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Affinity, ContainerPort, NodeAffinity, NodeSelector, NodeSelectorRequirement,
        NodeSelectorTerm, NodeSpec, NodeStatus, PodStatus, ResourceRequirements, Toleration,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, cpu: &str, memory: &str, pods: &str) -> Node {
        let alloc: BTreeMap<String, Quantity> = [("cpu", cpu), ("memory", memory), ("pods", pods)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Quantity(v.to_owned())))
            .collect();
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("kubernetes.io/hostname".to_owned(), name.to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                allocatable: Some(alloc),
                ..NodeStatus::default()
            }),
        }
    }

    fn pod(cpu: Option<&str>, memory: Option<&str>) -> Pod {
        let mut requests = BTreeMap::new();
        if let Some(cpu) = cpu {
            requests.insert("cpu".to_owned(), Quantity(cpu.into()));
        }
        if let Some(memory) = memory {
            requests.insert("memory".to_owned(), Quantity(memory.into()));
        }
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("i".into()),
                    resources: Some(ResourceRequirements {
                        requests: Some(requests),
                        ..ResourceRequirements::default()
                    }),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    fn with_port(mut p: Pod, port: i32, protocol: Option<&str>, ip: Option<&str>) -> Pod {
        if let Some(spec) = p.spec.as_mut() {
            spec.containers[0].ports = Some(vec![ContainerPort {
                container_port: port,
                host_port: Some(port),
                protocol: protocol.map(str::to_owned),
                host_ip: ip.map(str::to_owned),
                ..ContainerPort::default()
            }]);
        }
        p
    }

    fn pinned(mut p: Pod, nodes: &[&str]) -> Pod {
        if let Some(spec) = p.spec.as_mut() {
            spec.affinity = Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_fields: Some(vec![NodeSelectorRequirement {
                                key: "metadata.name".into(),
                                operator: "In".into(),
                                values: Some(nodes.iter().map(|s| (*s).to_owned()).collect()),
                            }]),
                            match_expressions: None,
                        }],
                    }),
                    ..NodeAffinity::default()
                }),
                ..Affinity::default()
            });
        }
        p
    }

    fn tolerate(mut p: Pod, key: &str, effect: Option<&str>) -> Pod {
        if let Some(spec) = p.spec.as_mut() {
            spec.tolerations
                .get_or_insert_with(Vec::new)
                .push(Toleration {
                    key: Some(key.into()),
                    operator: Some("Exists".into()),
                    effect: effect.map(str::to_owned),
                    ..Toleration::default()
                });
        }
        p
    }

    fn taint(mut n: Node, key: &str, value: Option<&str>, effect: &str) -> Node {
        if let Some(spec) = n.spec.as_mut() {
            spec.taints.get_or_insert_with(Vec::new).push(Taint {
                key: key.into(),
                value: value.map(str::to_owned),
                effect: effect.into(),
                time_added: None,
            });
        }
        n
    }

    fn cordon(mut n: Node) -> Node {
        if let Some(spec) = n.spec.as_mut() {
            spec.unschedulable = Some(true);
        }
        n
    }

    fn failed(mut p: Pod) -> Pod {
        p.status = Some(PodStatus {
            phase: Some("Failed".into()),
            ..PodStatus::default()
        });
        p
    }

    /// name, pod, node, pods on the node, expected verdict.
    type FilterCase = (&'static str, Pod, Node, Vec<Pod>, Result<(), Unfit>);
    /// name, total nodes, reasons, expected message.
    type MessageCase = (&'static str, usize, Vec<(Unfit, usize)>, &'static str);

    #[test]
    fn filter_node_applies_each_upstream_filter() {
        let small = node("n1", "1", "100M", "110");
        let busy = pod(Some("800m"), Some("10M"));
        let cases: Vec<FilterCase> = vec![
            (
                "empty node fits",
                pod(Some("100m"), None),
                small.clone(),
                vec![],
                Ok(()),
            ),
            (
                "pod without requests fits",
                pod(None, None),
                small.clone(),
                vec![busy.clone()],
                Ok(()),
            ),
            (
                "memory larger than allocatable",
                pod(None, Some("120M")),
                small.clone(),
                vec![],
                Err(Unfit::Resources(vec![Insufficient::Resource(
                    "memory".into(),
                )])),
            ),
            (
                "cpu exhausted by existing pod",
                pod(Some("300m"), None),
                small.clone(),
                vec![busy.clone()],
                Err(Unfit::Resources(vec![Insufficient::Resource("cpu".into())])),
            ),
            (
                "terminal pods free their resources",
                pod(Some("300m"), None),
                small.clone(),
                vec![failed(busy.clone())],
                Ok(()),
            ),
            (
                "cpu and memory both reported, pods first",
                pod(Some("2"), Some("1G")),
                node("n1", "1", "100M", "1"),
                vec![pod(None, None)],
                Err(Unfit::Resources(vec![
                    Insufficient::Pods,
                    Insufficient::Resource("cpu".into()),
                    Insufficient::Resource("memory".into()),
                ])),
            ),
            (
                "pod count alone",
                pod(None, None),
                node("n1", "1", "100M", "1"),
                vec![pod(None, None)],
                Err(Unfit::Resources(vec![Insufficient::Pods])),
            ),
            (
                "cordoned node rejects",
                pod(None, None),
                cordon(small.clone()),
                vec![],
                Err(Unfit::Unschedulable),
            ),
            (
                "cordoned node accepts pod tolerating unschedulable",
                tolerate(
                    pod(None, None),
                    taint_keys::UNSCHEDULABLE,
                    Some("NoSchedule"),
                ),
                cordon(small.clone()),
                vec![],
                Ok(()),
            ),
            (
                "untolerated NoSchedule taint",
                pod(None, None),
                taint(small.clone(), "dedicated", Some("gpu"), "NoSchedule"),
                vec![],
                Err(Unfit::UntoleratedTaint {
                    key: "dedicated".into(),
                    value: "gpu".into(),
                }),
            ),
            (
                "untolerated NoExecute taint",
                pod(None, None),
                taint(small.clone(), "k", None, "NoExecute"),
                vec![],
                Err(Unfit::UntoleratedTaint {
                    key: "k".into(),
                    value: String::new(),
                }),
            ),
            (
                "PreferNoSchedule does not filter",
                pod(None, None),
                taint(small.clone(), "k", None, "PreferNoSchedule"),
                vec![],
                Ok(()),
            ),
            (
                "tolerated taint",
                tolerate(pod(None, None), "dedicated", None),
                taint(small.clone(), "dedicated", Some("gpu"), "NoSchedule"),
                vec![],
                Ok(()),
            ),
            (
                "pinned to another node",
                pinned(pod(None, None), &["n2"]),
                small.clone(),
                vec![],
                Err(Unfit::NodeAffinity),
            ),
            (
                "pinned to this node",
                pinned(pod(None, None), &["n1"]),
                small.clone(),
                vec![],
                Ok(()),
            ),
            (
                "host port in use",
                with_port(pod(None, None), 9100, None, None),
                small.clone(),
                vec![with_port(pod(None, None), 9100, Some("TCP"), None)],
                Err(Unfit::HostPorts),
            ),
            (
                "same port, other protocol",
                with_port(pod(None, None), 9100, Some("UDP"), None),
                small.clone(),
                vec![with_port(pod(None, None), 9100, None, None)],
                Ok(()),
            ),
            (
                "same port, distinct host IPs",
                with_port(pod(None, None), 9100, None, Some("10.0.0.1")),
                small.clone(),
                vec![with_port(pod(None, None), 9100, None, Some("10.0.0.2"))],
                Ok(()),
            ),
            (
                "0.0.0.0 overlaps a specific host IP",
                with_port(pod(None, None), 9100, None, Some("10.0.0.1")),
                small.clone(),
                vec![with_port(pod(None, None), 9100, None, Some("0.0.0.0"))],
                Err(Unfit::HostPorts),
            ),
            (
                "unschedulable is checked before resources",
                pod(None, Some("1G")),
                cordon(small.clone()),
                vec![],
                Err(Unfit::Unschedulable),
            ),
        ];
        for (name, pod, node, others, want) in cases {
            let refs: Vec<&Pod> = others.iter().collect();
            assert_eq!(filter_node(&pod, &node, &refs), want, "{name}");
        }
    }

    #[test]
    fn pod_requests_take_init_containers_and_limits_into_account() {
        let mut p = pod(Some("100m"), None);
        if let Some(spec) = p.spec.as_mut() {
            spec.containers.push(Container {
                name: "limits-only".into(),
                resources: Some(ResourceRequirements {
                    limits: Some([("cpu".to_owned(), Quantity("200m".into()))].into()),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            });
            spec.init_containers = Some(vec![Container {
                name: "init".into(),
                resources: Some(ResourceRequirements {
                    requests: Some([("cpu".to_owned(), Quantity("500m".into()))].into()),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }]);
        }
        assert_eq!(pod_requests(&p).get("cpu"), Some(&500));
        let plain = pod(Some("100m"), Some("1Ki"));
        assert_eq!(pod_requests(&plain).get("cpu"), Some(&100));
        assert_eq!(pod_requests(&plain).get("memory"), Some(&1_024_000));
    }

    #[test]
    fn unschedulable_message_matches_upstream_format() {
        let cases: Vec<MessageCase> = vec![
            (
                "brief example",
                5,
                vec![
                    (Unfit::NodeAffinity, 4),
                    (
                        Unfit::Resources(vec![Insufficient::Resource("cpu".into())]),
                        1,
                    ),
                ],
                "0/5 nodes are available: 1 Insufficient cpu, 4 node(s) didn't match Pod's node affinity/selector.",
            ),
            (
                "one resource status counts each reason",
                2,
                vec![(
                    Unfit::Resources(vec![
                        Insufficient::Resource("cpu".into()),
                        Insufficient::Resource("memory".into()),
                    ]),
                    2,
                )],
                "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.",
            ),
            (
                "taint text and string sort of counts",
                12,
                vec![
                    (
                        Unfit::UntoleratedTaint {
                            key: "node-role.kubernetes.io/control-plane".into(),
                            value: String::new(),
                        },
                        2,
                    ),
                    (Unfit::Unschedulable, 10),
                ],
                "0/12 nodes are available: 10 node(s) were unschedulable, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.",
            ),
            (
                "same reason from two variants is merged",
                3,
                vec![
                    (Unfit::Resources(vec![Insufficient::Pods]), 1),
                    (
                        Unfit::Resources(vec![
                            Insufficient::Pods,
                            Insufficient::Resource("cpu".into()),
                        ]),
                        1,
                    ),
                    (Unfit::HostPorts, 1),
                ],
                "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't have free ports for the requested pod ports, 2 Too many pods.",
            ),
            ("no nodes at all", 0, vec![], "0/0 nodes are available:"),
        ];
        for (name, total, reasons, want) in cases {
            assert_eq!(unschedulable_message(total, &reasons), want, "{name}");
        }
    }

    #[test]
    fn prefilter_node_names_only_when_every_term_pins() {
        assert_eq!(prefilter_node_names(&pod(None, None)), None);
        let one = pinned(pod(None, None), &["n1"]);
        assert_eq!(prefilter_node_names(&one), Some(["n1".to_owned()].into()));
        let mut two_terms = pinned(pod(None, None), &["n1"]);
        if let Some(req) = two_terms
            .spec
            .as_mut()
            .and_then(|s| s.affinity.as_mut())
            .and_then(|a| a.node_affinity.as_mut())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_mut()
            })
        {
            req.node_selector_terms.push(NodeSelectorTerm::default());
        }
        assert_eq!(
            prefilter_node_names(&two_terms),
            None,
            "an unpinned term lets every node in"
        );
    }

    #[test]
    fn only_port_and_resource_failures_invite_preemption() {
        assert!(Unfit::HostPorts.resolvable_by_preemption());
        assert!(Unfit::Resources(vec![Insufficient::Pods]).resolvable_by_preemption());
        assert!(!Unfit::NodeAffinity.resolvable_by_preemption());
        assert!(!Unfit::Unschedulable.resolvable_by_preemption());
        assert!(
            !Unfit::UntoleratedTaint {
                key: "k".into(),
                value: String::new()
            }
            .resolvable_by_preemption()
        );
    }
}
