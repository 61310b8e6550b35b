//! Which nodes should run a daemon pod, and why not (spec 3.3 and 3.4).
//!
//! The check is done on a hypothetical daemon pod: the template plus the tolerations the
//! controller adds to every daemon pod. [`PlacementContext`] builds that toleration list once
//! per DaemonSet so that evaluating thousands of nodes allocates nothing for eligible nodes.

use std::collections::BTreeMap;
use std::fmt;

use everynode_model::affinity::{AffinityMismatch, check_node_affinity};
use everynode_model::taints::{add_or_update_toleration, find_untolerated_taint, format_taint};
use everynode_model::wellknown::taint_keys;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, PodSpec, Taint, Toleration};

/// Taint effect that blocks new pods but lets running ones stay.
pub const EFFECT_NO_SCHEDULE: &str = "NoSchedule";
/// Taint effect that blocks new pods and evicts running ones.
pub const EFFECT_NO_EXECUTE: &str = "NoExecute";

/// The answer for one node: may a new daemon pod go there, and may an existing one stay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodePlacement {
    /// A daemon pod should be running here (a missing one gets created).
    pub should_run: bool,
    /// An existing daemon pod may keep running here (false evicts it).
    pub should_continue_running: bool,
    /// Why `should_run` is false; empty when it is true.
    pub reasons: Vec<PlacementReason>,
}

impl NodePlacement {
    fn eligible() -> Self {
        NodePlacement {
            should_run: true,
            should_continue_running: true,
            reasons: Vec::new(),
        }
    }
}

/// One reason a node does not get a daemon pod.
#[derive(Debug, Clone, PartialEq)]
pub enum PlacementReason {
    /// The template pins `spec.nodeName` to another node.
    NodeNameMismatch {
        /// The node the template names.
        wanted: String,
    },
    /// The template's nodeSelector or required node affinity rejects the node.
    Affinity(AffinityMismatch),
    /// The node has a NoSchedule or NoExecute taint the daemon pod does not tolerate.
    UntoleratedTaint {
        /// The taint.
        taint: Taint,
    },
}

impl fmt::Display for PlacementReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementReason::NodeNameMismatch { wanted } => {
                write!(f, "template spec.nodeName pins the pod to node {wanted:?}")
            }
            PlacementReason::Affinity(mismatch) => write!(f, "{mismatch}"),
            PlacementReason::UntoleratedTaint { taint } => {
                write!(f, "taint {} is not tolerated", format_taint(taint))
            }
        }
    }
}

/// The tolerations every daemon pod gets (spec 3.4), in upstream's order.
///
/// `host_network` adds `network-unavailable:NoSchedule`, since a host-network pod does not
/// need the pod network to be up.
pub fn automatic_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut list = vec![
        exists_toleration(taint_keys::NOT_READY, EFFECT_NO_EXECUTE),
        exists_toleration(taint_keys::UNREACHABLE, EFFECT_NO_EXECUTE),
        exists_toleration(taint_keys::DISK_PRESSURE, EFFECT_NO_SCHEDULE),
        exists_toleration(taint_keys::MEMORY_PRESSURE, EFFECT_NO_SCHEDULE),
        exists_toleration(taint_keys::PID_PRESSURE, EFFECT_NO_SCHEDULE),
        exists_toleration(taint_keys::UNSCHEDULABLE, EFFECT_NO_SCHEDULE),
    ];
    if host_network {
        list.push(exists_toleration(
            taint_keys::NETWORK_UNAVAILABLE,
            EFFECT_NO_SCHEDULE,
        ));
    }
    list
}

fn exists_toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some(effect.to_owned()),
        value: None,
        toleration_seconds: None,
    }
}

/// Adds the automatic tolerations to a pod spec with upstream's add-or-update semantics.
pub fn add_automatic_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network.unwrap_or(false);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for toleration in automatic_tolerations(host_network) {
        add_or_update_toleration(tolerations, toleration);
    }
}

/// Everything about a DaemonSet that placement needs, computed once per sync.
#[derive(Debug, Clone)]
pub struct PlacementContext<'a> {
    spec: Option<&'a PodSpec>,
    tolerations: Vec<Toleration>,
}

/// What [`PlacementContext::key`] returns.
#[derive(Debug, Clone)]
pub(crate) struct PlacementKey {
    node_name: Option<String>,
    node_selector: Option<BTreeMap<String, String>>,
    affinity: Option<k8s_openapi::api::core::v1::Affinity>,
    tolerations: Vec<Toleration>,
}

impl<'a> PlacementContext<'a> {
    /// Prepares placement checks for `ds` (its template spec and the full toleration list).
    pub fn new(ds: &'a DaemonSet) -> Self {
        let spec = ds.spec.template.spec.as_ref();
        let mut tolerations = spec.and_then(|s| s.tolerations.clone()).unwrap_or_default();
        let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
        for toleration in automatic_tolerations(host_network) {
            add_or_update_toleration(&mut tolerations, toleration);
        }
        PlacementContext { spec, tolerations }
    }

    /// Everything placement depends on besides the node, owned: a placement decided under
    /// an equal key holds under this one.
    pub(crate) fn key(&self) -> PlacementKey {
        let spec = self.spec;
        PlacementKey {
            node_name: spec.and_then(|s| s.node_name.clone()),
            node_selector: spec.and_then(|s| s.node_selector.clone()),
            affinity: spec.and_then(|s| s.affinity.clone()),
            tolerations: self.tolerations.clone(),
        }
    }

    /// True when [`PlacementContext::key`] would equal `key`, without building it (asked
    /// once per sync).
    pub(crate) fn has_key(&self, key: &PlacementKey) -> bool {
        let spec = self.spec;
        key.node_name.as_ref() == spec.and_then(|s| s.node_name.as_ref())
            && key.node_selector.as_ref() == spec.and_then(|s| s.node_selector.as_ref())
            && key.affinity.as_ref() == spec.and_then(|s| s.affinity.as_ref())
            && key.tolerations == self.tolerations
    }

    /// The nodeSelector entries, for requesting the node labels they read ahead of time.
    pub(crate) fn node_selector(&self) -> Option<&'a BTreeMap<String, String>> {
        self.spec.and_then(|s| s.node_selector.as_ref())
    }

    /// The tolerations of the hypothetical daemon pod (template + automatic ones).
    pub fn tolerations(&self) -> &[Toleration] {
        &self.tolerations
    }

    /// Decides placement for one node (spec 3.3). Allocates only when the node is rejected.
    ///
    /// Upstream stops at the first failing check; we report every failing check so a user
    /// sees all that stands in the way, while the two booleans stay exactly upstream's.
    pub fn evaluate(&self, node: &Node) -> NodePlacement {
        let node_name = node.metadata.name.as_deref().unwrap_or("");
        let mut reasons = Vec::new();
        let mut blocked_hard = false;

        if let Some(spec) = self.spec {
            if let Some(wanted) = spec.node_name.as_deref().filter(|n| !n.is_empty())
                && wanted != node_name
            {
                blocked_hard = true;
                reasons.push(PlacementReason::NodeNameMismatch {
                    wanted: wanted.to_owned(),
                });
            }
            if let Err(mismatch) = check_node_affinity(spec, node) {
                blocked_hard = true;
                reasons.push(PlacementReason::Affinity(mismatch));
            }
        }

        let taints: &[Taint] = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[]);
        let mut evicting = false;
        if !taints.is_empty() {
            // Upstream only needs the first untolerated taint; listing all of them costs a
            // second pass only on nodes that are already rejected.
            if find_untolerated_taint(taints, &self.tolerations, is_blocking_effect).is_some() {
                for taint in taints.iter().filter(|t| is_blocking_effect(t)) {
                    if find_untolerated_taint(
                        std::slice::from_ref(taint),
                        &self.tolerations,
                        |_| true,
                    )
                    .is_some()
                    {
                        evicting |= taint.effect == EFFECT_NO_EXECUTE;
                        reasons.push(PlacementReason::UntoleratedTaint {
                            taint: taint.clone(),
                        });
                    }
                }
            }
        }

        if reasons.is_empty() {
            return NodePlacement::eligible();
        }
        NodePlacement {
            should_run: false,
            should_continue_running: !blocked_hard && !evicting,
            reasons,
        }
    }
}

fn is_blocking_effect(taint: &Taint) -> bool {
    taint.effect == EFFECT_NO_SCHEDULE || taint.effect == EFFECT_NO_EXECUTE
}

/// Decides whether `node` should run (and may keep running) a pod of `ds` (spec 3.3).
///
/// Convenience for one-off checks; loops over many nodes should build one
/// [`PlacementContext`] and call [`PlacementContext::evaluate`].
pub fn node_should_run(ds: &DaemonSet, node: &Node) -> NodePlacement {
    PlacementContext::new(ds).evaluate(node)
}
