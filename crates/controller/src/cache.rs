//! The controller's view of the cluster: DaemonSets, pods, nodes and ControllerRevisions as
//! last seen by the watches, with the secondary indexes a sync needs, and the mapping from
//! each change to the DaemonSets it concerns (spec section 3.2).
//!
//! Every mutation returns [`Effect`]s (enqueue a DaemonSet, record an observed create or
//! delete) instead of performing them, so the mapping is testable without queues or clocks.
//!
//! Indexes, so one sync costs O(nodes + pods of that DaemonSet):
//! - pods and revisions by `(namespace, controller UID)`, orphans under the empty UID;
//! - DaemonSets by namespace (for orphans, whose owners are found by selector);
//! - nodes in name order, shared as `Arc`s, and the whole list as one `Arc` between node
//!   changes (most syncs see the same nodes as the one before).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use everynode_daemonset::placement::PlacementContext;
use everynode_model::pod::{controller_ref, is_being_deleted, is_ready};
use everynode_model::selector::Selector;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// What a cache change asks the controller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Sync this DaemonSet (`namespace/name`).
    Enqueue(String),
    /// Sync this DaemonSet after a delay.
    EnqueueAfter(String, Duration),
    /// One pod of this DaemonSet was observed created.
    CreationObserved(String),
    /// One pod of this DaemonSet was observed deleted (or marked for deletion).
    DeletionObserved(String),
    /// Forget this DaemonSet's expectations (deleted or replaced by a new UID).
    DropExpectations(String),
}

/// `namespace/name`.
pub fn key_of(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// Splits `namespace/name`.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// A cached DaemonSet with its parsed selector.
#[derive(Debug, Clone)]
pub struct DsEntry {
    /// The object.
    pub ds: Arc<DaemonSet>,
    /// `spec.selector` parsed; `None` when invalid (such a DaemonSet claims nothing by label).
    pub selector: Option<Selector>,
}

/// What one sync reads from the cache.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The DaemonSet.
    pub daemonset: Arc<DaemonSet>,
    /// Every node, in name order (shared with other snapshots until a node changes).
    pub nodes: Arc<[Arc<Node>]>,
    /// Pods owned by the DaemonSet plus orphans in its namespace (adoption candidates).
    pub pods: Vec<Arc<Pod>>,
    /// ControllerRevisions owned by the DaemonSet plus orphans in its namespace.
    pub revisions: Vec<Arc<ControllerRevision>>,
}

/// Objects by `(namespace, controller UID)`, then by name. Holding the objects themselves
/// (not their names) lets a snapshot copy them without a lookup per object.
type OwnerIndex<T> = HashMap<(String, String), HashMap<String, Arc<T>>>;

/// The cached objects and their indexes.
#[derive(Debug, Default)]
pub struct Cache {
    daemonsets: HashMap<String, DsEntry>,
    ds_by_ns: HashMap<String, BTreeSet<String>>,
    nodes: BTreeMap<String, Arc<Node>>,
    /// `nodes` as a list, built by the first snapshot after a node change.
    node_list: OnceLock<Arc<[Arc<Node>]>>,
    pods: HashMap<String, Arc<Pod>>,
    pods_by_owner: OwnerIndex<Pod>,
    revisions: HashMap<String, Arc<ControllerRevision>>,
    revisions_by_owner: OwnerIndex<ControllerRevision>,
}

fn owner_slot(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        controller_ref(meta)
            .map(|r| r.uid.clone())
            .unwrap_or_default(),
    )
}

fn index_insert<T: kube::Resource>(index: &mut OwnerIndex<T>, object: &Arc<T>) {
    let meta = object.meta();
    let name = meta.name.clone().unwrap_or_default();
    index
        .entry(owner_slot(meta))
        .or_default()
        .insert(name, Arc::clone(object));
}

fn index_remove<T>(index: &mut OwnerIndex<T>, meta: &ObjectMeta) {
    let slot = owner_slot(meta);
    if let Some(set) = index.get_mut(&slot) {
        if let Some(name) = meta.name.as_deref() {
            set.remove(name);
        }
        if set.is_empty() {
            index.remove(&slot);
        }
    }
}

/// Appends the objects `index` holds under `slot` to `out`.
fn collect_indexed<T>(index: &OwnerIndex<T>, slot: &(String, String), out: &mut Vec<Arc<T>>) {
    if let Some(objects) = index.get(slot) {
        out.extend(objects.values().cloned());
    }
}

fn is_enqueue(effect: &Effect) -> bool {
    matches!(effect, Effect::Enqueue(_))
}

fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

fn same_ref(a: Option<&OwnerReference>, b: Option<&OwnerReference>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.uid == b.uid && a.kind == b.kind && a.name == b.name,
        _ => false,
    }
}

fn placement_pair(ds: &DaemonSet, node: &Node) -> (bool, bool) {
    let p = PlacementContext::new(ds).evaluate(node);
    (p.should_run, p.should_continue_running)
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached DaemonSet for `key`.
    pub fn daemonset(&self, key: &str) -> Option<&DsEntry> {
        self.daemonsets.get(key)
    }

    /// Keys of every cached DaemonSet.
    pub fn daemonset_keys(&self) -> Vec<String> {
        self.daemonsets.keys().cloned().collect()
    }

    /// The cached pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.pods.get(&format!("{namespace}/{name}")).cloned()
    }

    /// The cached revision `namespace/name`.
    pub fn revision(&self, namespace: &str, name: &str) -> Option<Arc<ControllerRevision>> {
        self.revisions.get(&format!("{namespace}/{name}")).cloned()
    }

    /// Number of cached (daemonsets, nodes, pods, revisions).
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.daemonsets.len(),
            self.nodes.len(),
            self.pods.len(),
            self.revisions.len(),
        )
    }

    /// What a sync of `key` looks at; `None` when the DaemonSet is not cached.
    pub fn snapshot(&self, key: &str) -> Option<Snapshot> {
        let entry = self.daemonsets.get(key)?;
        let ns = entry.ds.metadata.namespace.clone().unwrap_or_default();
        let uid = entry.ds.metadata.uid.clone().unwrap_or_default();
        // Owned objects plus orphans (adoption candidates); objects owned by anything else
        // are none of this sync's business.
        let slots: &[&str] = if uid.is_empty() {
            &[""]
        } else {
            &[uid.as_str(), ""]
        };
        let mut pods = Vec::new();
        let mut revisions = Vec::new();
        for slot in slots {
            let slot = (ns.clone(), (*slot).to_string());
            collect_indexed(&self.pods_by_owner, &slot, &mut pods);
            collect_indexed(&self.revisions_by_owner, &slot, &mut revisions);
        }
        let nodes = self
            .node_list
            .get_or_init(|| self.nodes.values().cloned().collect());
        Some(Snapshot {
            daemonset: entry.ds.clone(),
            nodes: Arc::clone(nodes),
            pods,
            revisions,
        })
    }

    /// The DaemonSet a controller reference points to, if cached with the same UID.
    fn resolve(&self, namespace: &str, r: &OwnerReference) -> Option<String> {
        if r.kind != "DaemonSet" {
            return None;
        }
        let key = format!("{namespace}/{}", r.name);
        let entry = self.daemonsets.get(&key)?;
        (entry.ds.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(key)
    }

    /// DaemonSets in `namespace` whose (non-empty, valid) selector matches `labels`.
    fn matching(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Vec<String> {
        if labels.is_empty() {
            return Vec::new();
        }
        let Some(names) = self.ds_by_ns.get(namespace) else {
            return Vec::new();
        };
        let out: Vec<String> = names
            .iter()
            .map(|n| format!("{namespace}/{n}"))
            .filter(|k| {
                self.daemonsets.get(k).is_some_and(|e| {
                    e.selector
                        .as_ref()
                        .is_some_and(|s| !s.is_everything() && s.matches(labels))
                })
            })
            .collect();
        if out.len() > 1 {
            tracing::warn!(namespace, daemonsets = ?out, "an object matches more than one DaemonSet selector");
        }
        out
    }

    // ---- DaemonSets ----

    /// A DaemonSet was added or modified.
    pub fn apply_daemonset(&mut self, ds: DaemonSet) -> Vec<Effect> {
        let key = key_of(&ds.metadata);
        let selector = Selector::from_label_selector(Some(&ds.spec.selector)).ok();
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let name = ds.metadata.name.clone().unwrap_or_default();
        let new_uid = ds.metadata.uid.clone();
        let old = self.daemonsets.insert(
            key.clone(),
            DsEntry {
                ds: Arc::new(ds),
                selector,
            },
        );
        self.ds_by_ns.entry(ns).or_default().insert(name);
        let mut effects = Vec::new();
        if old.is_some_and(|o| o.ds.metadata.uid != new_uid) {
            effects.push(Effect::DropExpectations(key.clone()));
        }
        effects.push(Effect::Enqueue(key));
        effects
    }

    /// A DaemonSet was deleted.
    pub fn delete_daemonset(&mut self, ds: &DaemonSet) -> Vec<Effect> {
        let key = key_of(&ds.metadata);
        if self.daemonsets.remove(&key).is_some() {
            let ns = ds.metadata.namespace.clone().unwrap_or_default();
            if let Some(set) = self.ds_by_ns.get_mut(&ns) {
                if let Some(n) = ds.metadata.name.as_deref() {
                    set.remove(n);
                }
                if set.is_empty() {
                    self.ds_by_ns.remove(&ns);
                }
            }
        }
        vec![Effect::DropExpectations(key.clone()), Effect::Enqueue(key)]
    }

    // ---- Pods ----

    /// A pod was added or modified.
    pub fn apply_pod(&mut self, mut pod: Pod) -> Vec<Effect> {
        // Kept until the next change to this pod: do not keep decoding's spare room too.
        everynode_model::compact::pod(&mut pod);
        let key = key_of(&pod.metadata);
        let old = self.pods.get(&key).cloned();
        if let Some(old) = &old {
            index_remove(&mut self.pods_by_owner, &old.metadata);
        }
        let pod = Arc::new(pod);
        index_insert(&mut self.pods_by_owner, &pod);
        self.pods.insert(key, pod.clone());
        match old {
            None => self.pod_added(&pod),
            Some(old) => self.pod_updated(&old, &pod),
        }
    }

    fn pod_added(&self, pod: &Pod) -> Vec<Effect> {
        if is_being_deleted(&pod.metadata) {
            // Arriving already deleted (e.g. seen first after a restart): count as deletion
            // so a replacement is not held back by expectations.
            return self.pod_deleted(pod);
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        if let Some(r) = controller_ref(&pod.metadata) {
            return match self.resolve(ns, r) {
                Some(k) => vec![Effect::CreationObserved(k.clone()), Effect::Enqueue(k)],
                None => Vec::new(),
            };
        }
        self.matching(ns, &labels(&pod.metadata))
            .into_iter()
            .map(Effect::Enqueue)
            .collect()
    }

    fn pod_updated(&self, old: &Pod, cur: &Pod) -> Vec<Effect> {
        if old.metadata.resource_version == cur.metadata.resource_version {
            // A relist's unchanged copy: nothing happened.
            return Vec::new();
        }
        let ns = cur.metadata.namespace.as_deref().unwrap_or("");
        let labels_changed = old.metadata.labels != cur.metadata.labels;
        if is_being_deleted(&cur.metadata) {
            if is_being_deleted(&old.metadata) {
                // Its deletion was counted when the mark appeared; counting every later update
                // too would lower expectations a newer sync set for other pods.
                return self
                    .pod_deleted(cur)
                    .into_iter()
                    .filter(is_enqueue)
                    .collect();
            }
            // Act on the deletion mark at once instead of waiting for the grace period.
            return self.pod_deleted(cur);
        }
        let old_ref = controller_ref(&old.metadata);
        let cur_ref = controller_ref(&cur.metadata);
        let ref_changed = !same_ref(old_ref, cur_ref);
        let mut effects = Vec::new();
        if ref_changed && let Some(k) = old_ref.and_then(|r| self.resolve(ns, r)) {
            effects.push(Effect::Enqueue(k));
        }
        if let Some(r) = cur_ref {
            if let Some(k) = self.resolve(ns, r) {
                effects.push(Effect::Enqueue(k.clone()));
                let min_ready = self
                    .daemonsets
                    .get(&k)
                    .and_then(|e| e.ds.spec.min_ready_seconds)
                    .unwrap_or(0);
                if min_ready > 0 && !is_ready(old) && is_ready(cur) {
                    let secs = u64::try_from(min_ready).unwrap_or(0).saturating_add(1);
                    effects.push(Effect::EnqueueAfter(k, Duration::from_secs(secs)));
                }
            }
            return effects;
        }
        if labels_changed || ref_changed {
            effects.extend(
                self.matching(ns, &labels(&cur.metadata))
                    .into_iter()
                    .map(Effect::Enqueue),
            );
        }
        effects
    }

    fn pod_deleted(&self, pod: &Pod) -> Vec<Effect> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        match controller_ref(&pod.metadata).and_then(|r| self.resolve(ns, r)) {
            Some(k) => vec![Effect::DeletionObserved(k.clone()), Effect::Enqueue(k)],
            None => Vec::new(),
        }
    }

    /// A pod was deleted.
    pub fn delete_pod(&mut self, pod: &Pod) -> Vec<Effect> {
        let key = key_of(&pod.metadata);
        let cached = self.pods.remove(&key);
        if let Some(old) = &cached {
            index_remove(&mut self.pods_by_owner, &old.metadata);
        }
        // The final state carries the owner; fall back to the cached copy.
        let subject = if controller_ref(&pod.metadata).is_some() {
            pod
        } else {
            cached.as_deref().unwrap_or(pod)
        };
        let effects = self.pod_deleted(subject);
        if cached.is_some_and(|c| is_being_deleted(&c.metadata)) {
            // Counted when the deletion mark was seen: one pod, one observed deletion. A
            // second count would satisfy the expectations of a later sync before the pods it
            // deleted show their marks, letting it plan from a cache that still sees them
            // running (and so spend the unavailability budget twice).
            return effects.into_iter().filter(is_enqueue).collect();
        }
        effects
    }

    // ---- ControllerRevisions ----

    /// A ControllerRevision was added or modified.
    pub fn apply_revision(&mut self, cr: ControllerRevision) -> Vec<Effect> {
        let key = key_of(&cr.metadata);
        let old = self.revisions.get(&key).cloned();
        if let Some(old) = &old {
            index_remove(&mut self.revisions_by_owner, &old.metadata);
        }
        let cr = Arc::new(cr);
        index_insert(&mut self.revisions_by_owner, &cr);
        self.revisions.insert(key, cr.clone());
        let ns = cr.metadata.namespace.as_deref().unwrap_or("");
        match old {
            None => {
                if is_being_deleted(&cr.metadata) {
                    return self.revision_deleted(&cr);
                }
                if controller_ref(&cr.metadata).is_some() {
                    // Upstream only logs an owned revision's creation: the owner made it.
                    return Vec::new();
                }
                self.matching(ns, &labels(&cr.metadata))
                    .into_iter()
                    .map(Effect::Enqueue)
                    .collect()
            }
            Some(old) => {
                if old.metadata.resource_version == cr.metadata.resource_version {
                    return Vec::new();
                }
                let old_ref = controller_ref(&old.metadata);
                let cur_ref = controller_ref(&cr.metadata);
                let ref_changed = !same_ref(old_ref, cur_ref);
                let mut effects = Vec::new();
                if ref_changed && let Some(k) = old_ref.and_then(|r| self.resolve(ns, r)) {
                    effects.push(Effect::Enqueue(k));
                }
                if let Some(r) = cur_ref {
                    if let Some(k) = self.resolve(ns, r) {
                        effects.push(Effect::Enqueue(k));
                    }
                    return effects;
                }
                if ref_changed || old.metadata.labels != cr.metadata.labels {
                    effects.extend(
                        self.matching(ns, &labels(&cr.metadata))
                            .into_iter()
                            .map(Effect::Enqueue),
                    );
                }
                effects
            }
        }
    }

    fn revision_deleted(&self, cr: &ControllerRevision) -> Vec<Effect> {
        let ns = cr.metadata.namespace.as_deref().unwrap_or("");
        controller_ref(&cr.metadata)
            .and_then(|r| self.resolve(ns, r))
            .map(Effect::Enqueue)
            .into_iter()
            .collect()
    }

    /// A ControllerRevision was deleted.
    pub fn delete_revision(&mut self, cr: &ControllerRevision) -> Vec<Effect> {
        let key = key_of(&cr.metadata);
        let cached = self.revisions.remove(&key);
        if let Some(old) = &cached {
            index_remove(&mut self.revisions_by_owner, &old.metadata);
        }
        let subject = if controller_ref(&cr.metadata).is_some() {
            cr
        } else {
            cached.as_deref().unwrap_or(cr)
        };
        self.revision_deleted(subject)
    }

    // ---- Nodes ----

    /// A node was added or modified. Costs O(DaemonSets): each DaemonSet's placement on the
    /// old and new node is compared, and only those whose answer changed are enqueued.
    pub fn apply_node(&mut self, mut node: Node) -> Vec<Effect> {
        everynode_model::compact::node(&mut node);
        let name = node.metadata.name.clone().unwrap_or_default();
        let node = Arc::new(node);
        let old = self.nodes.insert(name, node.clone());
        self.node_list = OnceLock::new();
        match old {
            None => self
                .daemonsets
                .iter()
                .filter(|(_, e)| placement_pair(&e.ds, &node).0)
                .map(|(k, _)| Effect::Enqueue(k.clone()))
                .collect(),
            Some(old) => {
                let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
                if old.metadata.labels == node.metadata.labels && taints(&old) == taints(&node) {
                    // Placement depends only on name, labels and taints.
                    return Vec::new();
                }
                self.daemonsets
                    .iter()
                    .filter(|(_, e)| placement_pair(&e.ds, &old) != placement_pair(&e.ds, &node))
                    .map(|(k, _)| Effect::Enqueue(k.clone()))
                    .collect()
            }
        }
    }

    /// A node was deleted. Upstream does not watch node deletions; we enqueue the
    /// DaemonSets that could have had a pod there so status and unbound pods pinned to the
    /// vanished node are dealt with promptly rather than at the next unrelated sync.
    pub fn delete_node(&mut self, node: &Node) -> Vec<Effect> {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let Some(old) = self.nodes.remove(name) else {
            return Vec::new();
        };
        self.node_list = OnceLock::new();
        self.daemonsets
            .iter()
            .filter(|(_, e)| {
                let (run, keep) = placement_pair(&e.ds, &old);
                run || keep
            })
            .map(|(k, _)| Effect::Enqueue(k.clone()))
            .collect()
    }

    // ---- Relists ----

    /// Replaces all DaemonSets after a relist, emitting the adds, updates and deletes the
    /// watch missed.
    pub fn replace_daemonsets(&mut self, objects: Vec<DaemonSet>) -> Vec<Effect> {
        let cached = self.daemonsets.iter().map(|(k, e)| (k, &e.ds));
        let gone = missing_from(&objects, |o| Some(key_of(&o.metadata)), cached);
        self.relist(gone, objects, Self::delete_daemonset, Self::apply_daemonset)
    }

    /// Replaces all pods after a relist.
    pub fn replace_pods(&mut self, objects: Vec<Pod>) -> Vec<Effect> {
        let gone = missing_from(&objects, |o| Some(key_of(&o.metadata)), self.pods.iter());
        self.relist(gone, objects, Self::delete_pod, Self::apply_pod)
    }

    /// Replaces all nodes after a relist.
    pub fn replace_nodes(&mut self, objects: Vec<Node>) -> Vec<Effect> {
        let name = |o: &Node| o.metadata.name.clone();
        let gone = missing_from(&objects, name, self.nodes.iter());
        self.relist(gone, objects, Self::delete_node, Self::apply_node)
    }

    /// Replaces all ControllerRevisions after a relist.
    pub fn replace_revisions(&mut self, objects: Vec<ControllerRevision>) -> Vec<Effect> {
        let gone = missing_from(
            &objects,
            |o| Some(key_of(&o.metadata)),
            self.revisions.iter(),
        );
        self.relist(gone, objects, Self::delete_revision, Self::apply_revision)
    }

    /// The effects of a relist: deletes for the cached objects the listing no longer has,
    /// then every listed object applied as if it had been watched.
    fn relist<T>(
        &mut self,
        gone: Vec<Arc<T>>,
        listed: Vec<T>,
        delete: fn(&mut Self, &T) -> Vec<Effect>,
        apply: fn(&mut Self, T) -> Vec<Effect>,
    ) -> Vec<Effect> {
        let mut effects: Vec<Effect> = gone.iter().flat_map(|o| delete(self, o)).collect();
        for o in listed {
            effects.extend(apply(self, o));
        }
        effects
    }
}

/// The cached objects (key and object) whose key no listed object has (`key` is `None` for
/// a listed object that has none).
fn missing_from<'a, T: 'a>(
    listed: &[T],
    key: impl Fn(&T) -> Option<String>,
    cached: impl Iterator<Item = (&'a String, &'a Arc<T>)>,
) -> Vec<Arc<T>> {
    let keep: HashSet<String> = listed.iter().filter_map(key).collect();
    cached
        .filter(|(k, _)| !keep.contains(*k))
        .map(|(_, o)| Arc::clone(o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSetSpec;
    use k8s_openapi::api::core::v1::{
        NodeSpec, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint, Toleration,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ds(
        name: &str,
        uid: &str,
        app: &str,
        node_selector: &[(&str, &str)],
        tolerate_all: bool,
    ) -> DaemonSet {
        DaemonSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                ..Default::default()
            },
            spec: DaemonSetSpec {
                selector: LabelSelector {
                    match_labels: Some(map(&[("app", app)])),
                    ..Default::default()
                },
                min_ready_seconds: Some(0),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(map(&[("app", app)])),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        node_selector: (!node_selector.is_empty()).then(|| map(node_selector)),
                        tolerations: tolerate_all.then(|| {
                            vec![Toleration {
                                operator: Some("Exists".into()),
                                ..Default::default()
                            }]
                        }),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            },
            status: None,
        }
    }

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(map(labels)),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: (!taints.is_empty()).then(|| {
                    taints
                        .iter()
                        .map(|(k, e)| Taint {
                            key: k.to_string(),
                            effect: e.to_string(),
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, labels: &[(&str, &str)], owner: Option<(&str, &str)>, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some(rv.into()),
                labels: Some(map(labels)),
                owner_references: owner.map(|(ds_name, uid)| {
                    vec![OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "DaemonSet".into(),
                        name: ds_name.into(),
                        uid: uid.into(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]
                }),
                ..Default::default()
            },
            spec: None,
            status: None,
        }
    }

    fn enqueued(effects: &[Effect]) -> BTreeSet<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Enqueue(k) => Some(k.clone()),
                _ => None,
            })
            .collect()
    }

    fn keys(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| format!("ns/{n}")).collect()
    }

    /// DaemonSets: `all` (no constraints), `workload` (nodeSelector nodepool=workload),
    /// `tolerant` (tolerates every taint).
    fn cache_with_three_daemonsets() -> Cache {
        let mut c = Cache::new();
        c.apply_daemonset(ds("all", "u-all", "all", &[], false));
        c.apply_daemonset(ds(
            "workload",
            "u-workload",
            "workload",
            &[("nodepool", "workload")],
            false,
        ));
        c.apply_daemonset(ds("tolerant", "u-tolerant", "tolerant", &[], true));
        c
    }

    #[test]
    fn node_add_enqueues_only_daemonsets_that_should_run_there() {
        let table: [(&str, Node, &[&str]); 4] = [
            ("plain", node("n1", &[], &[]), &["all", "tolerant"]),
            (
                "workload pool",
                node("n1", &[("nodepool", "workload")], &[]),
                &["all", "workload", "tolerant"],
            ),
            (
                "control plane",
                node(
                    "n1",
                    &[],
                    &[("node-role.kubernetes.io/control-plane", "NoSchedule")],
                ),
                &["tolerant"],
            ),
            (
                "prefer-no-schedule is ignored",
                node("n1", &[], &[("x", "PreferNoSchedule")]),
                &["all", "tolerant"],
            ),
        ];
        for (case, n, want) in table {
            let mut c = cache_with_three_daemonsets();
            assert_eq!(enqueued(&c.apply_node(n)), keys(want), "{case}");
        }
    }

    #[test]
    fn node_update_enqueues_only_daemonsets_whose_placement_changed() {
        // (case, old node, new node, enqueued)
        let table: [(&str, Node, Node, &[&str]); 7] = [
            (
                "nothing placement-relevant changed",
                node("n1", &[], &[]),
                node("n1", &[], &[]),
                &[],
            ),
            (
                "label joins the workload pool",
                node("n1", &[], &[]),
                node("n1", &[("nodepool", "workload")], &[]),
                &["workload"],
            ),
            (
                "unrelated label",
                node("n1", &[], &[]),
                node("n1", &[("x", "y")], &[]),
                &[],
            ),
            (
                "NoSchedule taint: keep running, no new pods",
                node("n1", &[], &[]),
                node("n1", &[], &[("k", "NoSchedule")]),
                &["all"],
            ),
            (
                "NoExecute taint evicts",
                node("n1", &[], &[]),
                node("n1", &[], &[("k", "NoExecute")]),
                &["all"],
            ),
            (
                "NoSchedule to NoExecute",
                node("n1", &[], &[("k", "NoSchedule")]),
                node("n1", &[], &[("k", "NoExecute")]),
                &["all"],
            ),
            (
                "taint removed in the workload pool",
                node("n1", &[("nodepool", "workload")], &[("k", "NoExecute")]),
                node("n1", &[("nodepool", "workload")], &[]),
                &["all", "workload"],
            ),
        ];
        for (case, old, new, want) in table {
            let mut c = cache_with_three_daemonsets();
            c.apply_node(old);
            assert_eq!(enqueued(&c.apply_node(new)), keys(want), "{case}");
        }
    }

    #[test]
    fn node_status_only_updates_are_ignored_even_if_placement_inputs_are_unchanged() {
        let mut c = cache_with_three_daemonsets();
        c.apply_node(node("n1", &[], &[]));
        let mut heartbeat = node("n1", &[], &[]);
        heartbeat.metadata.resource_version = Some("99".into());
        heartbeat.status = Some(Default::default());
        assert!(c.apply_node(heartbeat).is_empty());
    }

    #[test]
    fn pod_events_map_to_their_owner_or_matching_daemonsets() {
        let owned = || pod("p1", &[("app", "all")], Some(("all", "u-all")), "1");
        let marked = || {
            let mut p = pod("p1", &[("app", "all")], Some(("all", "u-all")), "2");
            p.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
            p
        };
        // (case, setup pods, event, expected effects)
        type Case = (
            &'static str,
            Vec<Pod>,
            Box<dyn Fn(&mut Cache) -> Vec<Effect>>,
            Vec<Effect>,
        );
        let table: Vec<Case> = vec![
            (
                "owned pod created",
                vec![],
                Box::new(move |c| c.apply_pod(owned())),
                vec![
                    Effect::CreationObserved("ns/all".into()),
                    Effect::Enqueue("ns/all".into()),
                ],
            ),
            (
                "orphan pod created: matching selectors only",
                vec![],
                Box::new(|c| c.apply_pod(pod("o1", &[("app", "workload")], None, "1"))),
                vec![Effect::Enqueue("ns/workload".into())],
            ),
            (
                "orphan without labels",
                vec![],
                Box::new(|c| c.apply_pod(pod("o1", &[], None, "1"))),
                vec![],
            ),
            (
                "owner uid differs from the cached DaemonSet",
                vec![],
                Box::new(|c| {
                    c.apply_pod(pod("p1", &[("app", "all")], Some(("all", "stale")), "1"))
                }),
                vec![],
            ),
            (
                "unchanged resourceVersion",
                vec![owned()],
                Box::new(move |c| c.apply_pod(owned())),
                vec![],
            ),
            (
                "owned pod updated",
                vec![owned()],
                Box::new(|c| {
                    c.apply_pod(pod("p1", &[("app", "all")], Some(("all", "u-all")), "2"))
                }),
                vec![Effect::Enqueue("ns/all".into())],
            ),
            (
                "marked for deletion counts as deleted",
                vec![owned()],
                Box::new(|c| {
                    let mut p = pod("p1", &[("app", "all")], Some(("all", "u-all")), "2");
                    p.metadata.deletion_timestamp =
                        Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
                    c.apply_pod(p)
                }),
                vec![
                    Effect::DeletionObserved("ns/all".into()),
                    Effect::Enqueue("ns/all".into()),
                ],
            ),
            (
                "owned pod deleted",
                vec![owned()],
                Box::new(move |c| c.delete_pod(&owned())),
                vec![
                    Effect::DeletionObserved("ns/all".into()),
                    Effect::Enqueue("ns/all".into()),
                ],
            ),
            (
                "deleted after its mark was seen counts only once",
                vec![marked()],
                Box::new(move |c| c.delete_pod(&marked())),
                vec![Effect::Enqueue("ns/all".into())],
            ),
            (
                "a further update of a terminating pod counts nothing",
                vec![marked()],
                Box::new(move |c| {
                    let mut p = marked();
                    p.metadata.resource_version = Some("3".into());
                    c.apply_pod(p)
                }),
                vec![Effect::Enqueue("ns/all".into())],
            ),
            (
                "orphan deleted is ignored",
                vec![pod("o1", &[("app", "all")], None, "1")],
                Box::new(|c| c.delete_pod(&pod("o1", &[("app", "all")], None, "1"))),
                vec![],
            ),
            (
                "released pod notifies the old owner and matching DaemonSets",
                vec![owned()],
                Box::new(|c| c.apply_pod(pod("p1", &[("app", "tolerant")], None, "2"))),
                vec![
                    Effect::Enqueue("ns/all".into()),
                    Effect::Enqueue("ns/tolerant".into()),
                ],
            ),
            (
                "orphan update without label change",
                vec![pod("o1", &[("app", "all")], None, "1")],
                Box::new(|c| c.apply_pod(pod("o1", &[("app", "all")], None, "2"))),
                vec![],
            ),
        ];
        for (case, setup, event, want) in table {
            let mut c = cache_with_three_daemonsets();
            for p in setup {
                c.apply_pod(p);
            }
            assert_eq!(event(&mut c), want, "{case}");
        }
    }

    #[test]
    fn pod_becoming_ready_with_min_ready_seconds_requeues_after_it() {
        let mut c = Cache::new();
        let mut d = ds("slow", "u-slow", "slow", &[], false);
        d.spec.min_ready_seconds = Some(10);
        c.apply_daemonset(d);
        c.apply_pod(pod("p1", &[("app", "slow")], Some(("slow", "u-slow")), "1"));
        let mut ready = pod("p1", &[("app", "slow")], Some(("slow", "u-slow")), "2");
        ready.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert_eq!(
            c.apply_pod(ready),
            vec![
                Effect::Enqueue("ns/slow".into()),
                Effect::EnqueueAfter("ns/slow".into(), Duration::from_secs(11)),
            ]
        );
    }

    #[test]
    fn snapshot_holds_owned_pods_and_orphans_of_the_namespace_only() {
        let mut c = cache_with_three_daemonsets();
        c.apply_node(node("b", &[], &[]));
        c.apply_node(node("a", &[], &[]));
        c.apply_pod(pod("mine", &[("app", "all")], Some(("all", "u-all")), "1"));
        c.apply_pod(pod("orphan", &[("app", "x")], None, "1"));
        c.apply_pod(pod(
            "theirs",
            &[("app", "all")],
            Some(("workload", "u-workload")),
            "1",
        ));
        let mut elsewhere = pod("elsewhere", &[("app", "all")], None, "1");
        elsewhere.metadata.namespace = Some("other".into());
        c.apply_pod(elsewhere);
        let snap = c.snapshot("ns/all");
        let names = |s: &Option<Snapshot>| -> BTreeSet<String> {
            s.iter()
                .flat_map(|s| s.pods.iter().filter_map(|p| p.metadata.name.clone()))
                .collect()
        };
        assert_eq!(
            names(&snap),
            ["mine", "orphan"].iter().map(|s| s.to_string()).collect()
        );
        let node_names: Vec<_> = snap
            .iter()
            .flat_map(|s| s.nodes.iter().filter_map(|n| n.metadata.name.clone()))
            .collect();
        assert_eq!(node_names, ["a", "b"], "nodes come in name order");
        // Adoption moves the orphan out of the orphan slot.
        c.apply_pod(pod(
            "orphan",
            &[("app", "x")],
            Some(("workload", "u-workload")),
            "2",
        ));
        assert_eq!(
            names(&c.snapshot("ns/all")),
            ["mine"].iter().map(|s| s.to_string()).collect()
        );
        c.delete_pod(&pod("mine", &[], None, "3"));
        assert!(names(&c.snapshot("ns/all")).is_empty());
        assert!(c.snapshot("ns/missing").is_none());
    }

    #[test]
    fn snapshots_share_the_node_list_until_a_node_changes() {
        let mut c = cache_with_three_daemonsets();
        c.apply_node(node("a", &[], &[]));
        let first = c.snapshot("ns/all").expect("cached").nodes;
        let again = c.snapshot("ns/all").expect("cached").nodes;
        assert!(Arc::ptr_eq(&first, &again), "no node changed in between");

        c.apply_node(node("a", &[("zone", "z1")], &[]));
        let relabelled = c.snapshot("ns/all").expect("cached").nodes;
        assert!(!Arc::ptr_eq(&first, &relabelled));
        let labels = relabelled[0].metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("zone").map(String::as_str), Some("z1"));

        c.apply_node(node("b", &[], &[]));
        let names = |nodes: &[Arc<Node>]| -> Vec<String> {
            nodes
                .iter()
                .filter_map(|n| n.metadata.name.clone())
                .collect()
        };
        assert_eq!(
            names(&c.snapshot("ns/all").expect("cached").nodes),
            ["a", "b"]
        );
        c.delete_node(&node("a", &[], &[]));
        assert_eq!(names(&c.snapshot("ns/all").expect("cached").nodes), ["b"]);
        assert_eq!(names(&first), ["a"], "an older snapshot keeps what it saw");
    }

    #[test]
    fn revision_events_follow_upstream() {
        let cr = |name: &str, app: &str, owner: Option<(&str, &str)>, rv: &str| {
            let p = pod(name, &[("app", app)], owner, rv);
            ControllerRevision {
                metadata: p.metadata,
                data: Default::default(),
                revision: Some(1),
            }
        };
        let mut c = cache_with_three_daemonsets();
        assert!(
            c.apply_revision(cr("r1", "all", Some(("all", "u-all")), "1"))
                .is_empty(),
            "owned add only logs"
        );
        assert_eq!(
            enqueued(&c.apply_revision(cr("r2", "all", None, "1"))),
            keys(&["all"]),
            "orphan add"
        );
        assert_eq!(
            enqueued(&c.apply_revision(cr("r1", "all", Some(("all", "u-all")), "2"))),
            keys(&["all"]),
            "owned update"
        );
        assert_eq!(
            enqueued(&c.delete_revision(&cr("r1", "all", Some(("all", "u-all")), "3"))),
            keys(&["all"])
        );
        assert!(
            c.delete_revision(&cr("r2", "all", None, "2")).is_empty(),
            "orphan delete ignored"
        );
        let snap = c.snapshot("ns/all");
        assert!(snap.is_some_and(|s| s.revisions.is_empty()));
    }

    #[test]
    fn daemonset_recreated_with_a_new_uid_drops_expectations() {
        let mut c = cache_with_three_daemonsets();
        let effects = c.apply_daemonset(ds("all", "u-all-2", "all", &[], false));
        assert_eq!(
            effects,
            vec![
                Effect::DropExpectations("ns/all".into()),
                Effect::Enqueue("ns/all".into())
            ]
        );
        let same = c.apply_daemonset(ds("all", "u-all-2", "all", &[], false));
        assert_eq!(same, vec![Effect::Enqueue("ns/all".into())]);
    }

    #[test]
    fn relist_reports_objects_that_vanished_while_not_watching() {
        let mut c = cache_with_three_daemonsets();
        c.apply_pod(pod("p1", &[("app", "all")], Some(("all", "u-all")), "1"));
        c.apply_pod(pod("p2", &[("app", "all")], Some(("all", "u-all")), "1"));
        let effects = c.replace_pods(vec![pod(
            "p2",
            &[("app", "all")],
            Some(("all", "u-all")),
            "1",
        )]);
        assert_eq!(
            effects,
            vec![
                Effect::DeletionObserved("ns/all".into()),
                Effect::Enqueue("ns/all".into())
            ]
        );
        assert_eq!(c.sizes().2, 1);
        let effects = c.replace_daemonsets(vec![ds("all", "u-all", "all", &[], false)]);
        assert_eq!(enqueued(&effects), keys(&["all", "workload", "tolerant"]));
        assert_eq!(c.sizes().0, 1);
    }
}
