//! The per-sync view the decisions work on: every node (in name order) with its placement
//! and its daemon pods (spec 3.6), built once in O(nodes + pods).
//!
//! Speed matters here: one sync looks at every node and every pod of a DaemonSet, and the
//! `Pod` objects are large with their strings scattered over the heap, so at a few thousand
//! pods every visit to a pod is a run of cache misses. [`World::build`] therefore visits
//! each pod exactly once and keeps what the decisions need in a compact [`PodFacts`];
//! manage, the rolling update and the status only read those.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use everynode_model::Timestamp;
use everynode_model::pod::{
    is_available, is_being_deleted, ready_condition, ready_since_long_enough, target_node,
};
use everynode_model::wellknown::{CONTROLLER_REVISION_HASH_LABEL, POD_TEMPLATE_GENERATION_LABEL};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::memo::KnownPod;
use crate::placement::{NodePlacement, PlacementContext, PlacementKey};
use crate::pod_template::template_generation;
use crate::prefetch::{self, KeyLengths, NodeLayout, Stage};

/// One node name the sync looks at: a node in the node list, or a node that vanished but
/// that daemon pods still target.
#[derive(Debug, Clone)]
pub struct Slot<'a> {
    /// The node name.
    pub name: &'a str,
    /// The node, `None` when it is not in the node list any more.
    pub node: Option<&'a Node>,
    /// Placement for existing nodes; (false, false) for vanished ones.
    pub placement: NodePlacement,
    pods: Range<usize>,
}

/// The pod phases the decisions tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// `Failed`: deleted (after backoff) and replaced.
    Failed,
    /// `Succeeded`: deleted and replaced.
    Succeeded,
    /// Any other phase (or none): the pod counts as running.
    Running,
}

impl PodPhase {
    /// Classifies a pod's `status.phase`.
    pub fn of(pod: &Pod) -> Self {
        match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Failed") => PodPhase::Failed,
            Some("Succeeded") => PodPhase::Succeeded,
            _ => PodPhase::Running,
        }
    }

    /// True for Failed and Succeeded.
    pub fn is_terminal(self) -> bool {
        self != PodPhase::Running
    }
}

/// What the decisions need to know about one daemon pod, read from the `Pod` once when the
/// [`World`] is built. The flags that depend on the sync (`available`, `updated`,
/// `current_hash`) are evaluated for that world's instant and current revision.
#[derive(Debug, Clone, Copy)]
pub struct PodFacts<'a> {
    /// The pod itself, for building plan entries about it.
    pub pod: &'a Pod,
    /// Its phase.
    pub phase: PodPhase,
    /// `spec.nodeName` is set (not merely pinned by node affinity).
    pub bound: bool,
    /// It has a deletionTimestamp.
    pub deleting: bool,
    /// Its Ready condition is True.
    pub ready: bool,
    /// Available with the DaemonSet's minReadySeconds at the world's instant.
    pub available: bool,
    /// It runs the current template ([`World::is_updated`]).
    pub updated: bool,
    /// Its hash label is the current hash ([`World::has_current_hash`]).
    pub current_hash: bool,
}

/// Nodes and daemon pods of one DaemonSet at one instant, with the current revision.
#[derive(Debug, Clone)]
pub struct World<'a> {
    /// The DaemonSet.
    pub ds: &'a DaemonSet,
    /// All node names, sorted by name (existing and vanished).
    pub slots: Vec<Slot<'a>>,
    pods: Vec<&'a Pod>,
    facts: Vec<PodFacts<'a>>,
    /// The current revision, as the pods' labels name it.
    pub revision: CurrentRevision,
    /// `spec.minReadySeconds`.
    pub min_ready_seconds: i32,
    /// The instant the plan is made for.
    pub now: Timestamp,
}

/// The current revision as a pod's labels would name it: what decides whether a pod runs
/// the current template (spec 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentRevision {
    /// The `controller-revision-hash` label of the current revision.
    pub hash: String,
    /// The DaemonSet's templateGeneration as the `pod-template-generation` label spells it.
    generation_label: Option<String>,
}

/// What a pod's revision labels say under a [`CurrentRevision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevisionVerdict {
    /// It runs the current template ([`World::is_updated`]).
    pub updated: bool,
    /// Its hash label is the current hash ([`World::has_current_hash`]).
    pub current_hash: bool,
}

impl CurrentRevision {
    /// The revision with hash label `hash` of `ds`'s current template.
    pub fn new(ds: &DaemonSet, hash: String) -> Self {
        CurrentRevision {
            hash,
            generation_label: template_generation(ds).map(|g| g.to_string()),
        }
    }

    /// Judges a pod by its hash label and (asked for only when the hash does not decide it:
    /// it is one more key and value to fetch from the pod) its generation label.
    pub fn judge<'l>(
        &self,
        hash: Option<&str>,
        generation: impl FnOnce() -> Option<&'l str>,
    ) -> RevisionVerdict {
        let current_hash = hash == Some(self.hash.as_str());
        let updated = (current_hash && !self.hash.is_empty())
            || self
                .generation_label
                .as_deref()
                .is_some_and(|g| generation() == Some(g));
        RevisionVerdict {
            updated,
            current_hash,
        }
    }
}

fn is_bound(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

fn creation_time(pod: &Pod) -> Option<Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Upstream's daemon pod order (spec 3.8): bound before unbound, older first, then name.
pub fn daemon_pod_order(a: &Pod, b: &Pod) -> Ordering {
    is_bound(b)
        .cmp(&is_bound(a))
        .then_with(|| creation_time(a).cmp(&creation_time(b)))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The revision labels of one pod: the hash label looked up at once, the generation label
/// only when asked for.
struct Labels<'p> {
    map: Option<&'p BTreeMap<String, String>>,
    hash: Option<&'p str>,
}

impl<'p> Labels<'p> {
    fn of(pod: &'p Pod) -> Self {
        let map = pod.metadata.labels.as_ref();
        Labels {
            map,
            hash: map.and_then(|l| everynode_model::labels::get(l, CONTROLLER_REVISION_HASH_LABEL)),
        }
    }

    fn generation(&self) -> Option<&'p str> {
        self.map
            .and_then(|l| everynode_model::labels::get(l, POD_TEMPLATE_GENERATION_LABEL))
    }
}

/// Node name to slot number, for mapping every pod to its node.
///
/// The names are copied into one block as the nodes are read: a pod's lookup then compares
/// against that small, dense block instead of going back to the node's own string, which
/// by the time the pods are read has long left the cache. Open addressing with linear
/// probing; a bucket holds the full hash, so a probe reads nothing else until the hash
/// matches. The table is kept at most three quarters full.
#[derive(Debug, Clone)]
struct NameIndex {
    bytes: String,
    /// Per slot: where its name sits in `bytes`.
    names: Vec<Range<usize>>,
    /// Per bucket: the name's hash and its slot number + 1 (0 for an empty bucket).
    table: Vec<(u64, usize)>,
}

impl NameIndex {
    fn with_capacity(names: usize) -> Self {
        NameIndex {
            bytes: String::with_capacity(names.saturating_mul(16)),
            names: Vec::with_capacity(names),
            table: vec![(0, 0); Self::buckets_for(names)],
        }
    }

    fn buckets_for(names: usize) -> usize {
        (names.saturating_mul(4) / 3 + 1)
            .next_power_of_two()
            .max(16)
    }

    /// A multiply-rotate hash taking 8 bytes per step, with a final mix so that every bit
    /// of the input reaches the bits the table uses. Node names come from the cluster's
    /// own API server, so resistance to crafted collisions buys nothing here.
    fn hash(name: &str) -> u64 {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = name.len() as u64;
        let mut chunks = name.as_bytes().chunks_exact(8);
        let mut word = [0u8; 8];
        for chunk in &mut chunks {
            word.copy_from_slice(chunk);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        // MurmurHash3's finaliser.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn bucket(&self, hash: u64) -> usize {
        // The table length is a power of two; the final mix makes the low bits good.
        (hash as usize) & (self.table.len() - 1)
    }

    /// The name of slot number `slot`.
    fn name(&self, slot: usize) -> &str {
        self.names
            .get(slot)
            .and_then(|r| self.bytes.get(r.clone()))
            .unwrap_or("")
    }

    /// Requests the bucket `name` hashes to, ahead of an [`NameIndex::insert`].
    fn prefetch(&self, name: &str) {
        prefetch::line(&self.table[self.bucket(Self::hash(name))]);
    }

    /// The bucket holding `name`, or the empty bucket where it would go.
    fn probe(&self, name: &str, hash: u64) -> usize {
        let mask = self.table.len() - 1;
        let mut at = self.bucket(hash);
        loop {
            let (h, slot) = self.table[at];
            if slot == 0
                || (h == hash
                    && self
                        .names
                        .get(slot - 1)
                        .and_then(|r| self.bytes.get(r.clone()))
                        == Some(name))
            {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds `name` as the next slot number unless it is present; returns its slot number
    /// and whether it was added.
    fn insert(&mut self, name: &str) -> (usize, bool) {
        let hash = Self::hash(name);
        let at = self.probe(name, hash);
        if let Some(slot) = self.table[at].1.checked_sub(1) {
            return (slot, false);
        }
        let slot = self.names.len();
        let start = self.bytes.len();
        self.bytes.push_str(name);
        self.names.push(start..self.bytes.len());
        self.table[at] = (hash, slot + 1);
        if self.names.len() * 4 > self.table.len() * 3 {
            self.grow();
        }
        (slot, true)
    }

    fn grow(&mut self) {
        let doubled = vec![(0, 0); self.table.len() * 2];
        let old = std::mem::replace(&mut self.table, doubled);
        let mask = self.table.len() - 1;
        for (hash, slot) in old.into_iter().filter(|(_, slot)| *slot != 0) {
            let mut at = self.bucket(hash);
            while self.table[at].1 != 0 {
                at = (at + 1) & mask;
            }
            self.table[at] = (hash, slot);
        }
    }
}

/// Every node's slot and placement: nodes in list order, repeated names skipped.
#[derive(Debug, Clone)]
struct NodeSlots {
    index: NameIndex,
    /// Per slot: the node's position in the list and its placement.
    slots: Vec<(usize, NodePlacement)>,
    /// The names came in order.
    sorted: bool,
}

impl NodeSlots {
    /// Evaluates placement for every node, requesting each node's fields ahead of reading
    /// them (see [`prefetch`]).
    fn evaluate(placement: &PlacementContext<'_>, nodes: &[&Node]) -> NodeSlots {
        let mut index = NameIndex::with_capacity(nodes.len());
        let mut slots = Vec::with_capacity(nodes.len());
        let mut sorted = true;
        let mut last: Option<&str> = None;
        let layout = NodeLayout::learn(
            nodes.iter().copied(),
            KeyLengths::of(
                placement
                    .node_selector()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.as_str()),
            ),
        );
        // `pipelined` visits the items in order for Work, so this counts list positions.
        let mut at = 0;
        prefetch::pipelined(nodes, |stage, &node| match stage {
            Stage::Far => layout.node(node),
            Stage::Mid => layout.targets(node),
            Stage::Near => {
                layout.strings(node);
                index.prefetch(node.metadata.name.as_deref().unwrap_or(""));
            }
            Stage::Work => {
                let here = at;
                at += 1;
                let name = node.metadata.name.as_deref().unwrap_or("");
                if !index.insert(name).1 {
                    return;
                }
                // Checked here, while the name is in cache.
                sorted &= last.is_none_or(|l| l <= name);
                last = Some(name);
                slots.push((here, placement.evaluate(node)));
            }
        });
        NodeSlots {
            index,
            slots,
            sorted,
        }
    }
}

/// The node half of a world, kept by a [`crate::memo::PlanMemo`] for the next sync over
/// the same node list: it depends only on the list and the DaemonSet's placement inputs (the
/// controller hands every sync the same `Arc` until a node changes).
#[derive(Debug, Clone)]
pub(crate) struct NodePass {
    /// The node list it was built from (kept, so its identity stays meaningful).
    nodes: Arc<[Arc<Node>]>,
    /// What the placements were decided under.
    key: PlacementKey,
    slots: NodeSlots,
}

impl NodePass {
    /// Evaluates placement for every node of `nodes`.
    pub(crate) fn build(placement: &PlacementContext<'_>, nodes: &Arc<[Arc<Node>]>) -> NodePass {
        let list: Vec<&Node> = nodes.iter().map(AsRef::as_ref).collect();
        NodePass {
            nodes: Arc::clone(nodes),
            key: placement.key(),
            slots: NodeSlots::evaluate(placement, &list),
        }
    }

    /// The slot of the node named `name`, if the pass has that node.
    pub(crate) fn slot_of(&self, name: &str) -> Option<usize> {
        let index = &self.slots.index;
        let at = index.probe(name, NameIndex::hash(name));
        index.table[at].1.checked_sub(1)
    }

    /// True when this pass holds for `nodes` under `placement`.
    pub(crate) fn holds_for(
        &self,
        placement: &PlacementContext<'_>,
        nodes: &Arc<[Arc<Node>]>,
    ) -> bool {
        Arc::ptr_eq(&self.nodes, nodes) && placement.has_key(&self.key)
    }
}

/// What the world reads of one pod, from the pod itself or from a memo.
struct PodRead {
    phase: PodPhase,
    bound: bool,
    deleting: bool,
    ready: bool,
    ready_since: Option<Timestamp>,
    revision: RevisionVerdict,
}

/// A pod on its way into the world: its facts and its slot (in node-list order).
struct Staged<'a> {
    facts: PodFacts<'a>,
    slot: usize,
}

/// [`daemon_pod_order`] on staged pods. The creation time is read from the pod only here:
/// most nodes have one pod, so most pods are never compared.
fn staged_order(a: &Staged<'_>, b: &Staged<'_>) -> Ordering {
    b.facts
        .bound
        .cmp(&a.facts.bound)
        .then_with(|| creation_time(a.facts.pod).cmp(&creation_time(b.facts.pod)))
        .then_with(|| a.facts.pod.metadata.name.cmp(&b.facts.pod.metadata.name))
}

/// Builds a [`World`] one pod at a time, so that the caller can read each pod once for
/// everything it needs (`plan` claims the pod in the same visit).
pub(crate) struct WorldBuilder<'a> {
    world: World<'a>,
    index: NameIndex,
    staged: Vec<Staged<'a>>,
    /// Slots so far are in name order (the controller's node cache is, so the sort is
    /// usually skipped).
    sorted: bool,
}

impl<'a> WorldBuilder<'a> {
    /// Evaluates placement for every node; `pods_hint` is the number of pods to expect.
    pub(crate) fn new(
        ds: &'a DaemonSet,
        placement: &PlacementContext<'_>,
        nodes: impl IntoIterator<Item = &'a Node>,
        revision: CurrentRevision,
        now: Timestamp,
        pods_hint: usize,
    ) -> Self {
        let nodes: Vec<&'a Node> = nodes.into_iter().collect();
        let NodeSlots {
            index,
            slots,
            sorted,
        } = NodeSlots::evaluate(placement, &nodes);
        let slots = slots
            .into_iter()
            .map(|(at, placement)| {
                let node = nodes[at];
                Slot {
                    name: node.metadata.name.as_deref().unwrap_or(""),
                    node: Some(node),
                    placement,
                    pods: 0..0,
                }
            })
            .collect();
        WorldBuilder {
            world: World::empty(ds, slots, revision, now),
            index,
            staged: Vec::with_capacity(pods_hint),
            sorted,
        }
    }

    /// [`WorldBuilder::new`] from a node pass made earlier, without reading the nodes.
    pub(crate) fn with_nodes(
        ds: &'a DaemonSet,
        pass: &'a NodePass,
        revision: CurrentRevision,
        now: Timestamp,
        pods_hint: usize,
    ) -> Self {
        let NodeSlots {
            index,
            slots,
            sorted,
        } = &pass.slots;
        let slots = slots
            .iter()
            .enumerate()
            .map(|(slot, (at, placement))| Slot {
                name: index.name(slot),
                node: pass.nodes.get(*at).map(AsRef::as_ref),
                placement: placement.clone(),
                pods: 0..0,
            })
            .collect();
        WorldBuilder {
            world: World::empty(ds, slots, revision, now),
            index: index.clone(),
            staged: Vec::with_capacity(pods_hint),
            sorted: *sorted,
        }
    }

    /// Requests what [`WorldBuilder::add_pod`] will look up for `pod` (the index bucket
    /// of its node), ahead of the call.
    pub(crate) fn prefetch(&self, pod: &Pod) {
        if let Some(target) = target_node(pod) {
            self.index.prefetch(target);
        }
    }

    /// Adds one of the DaemonSet's owned pods, reading everything the decisions need from
    /// it now. Terminal pods that are being deleted are invisible (spec 3.6), as are pods
    /// that target no node.
    pub(crate) fn add_pod(&mut self, pod: &'a Pod) {
        let phase = PodPhase::of(pod);
        let deleting = is_being_deleted(&pod.metadata);
        if phase.is_terminal() && deleting {
            return;
        }
        let Some(target) = target_node(pod) else {
            return;
        };
        let slot = self.slot_for(target);
        let labels = Labels::of(pod);
        let ready = ready_condition(pod);
        self.stage(
            pod,
            slot,
            PodRead {
                phase,
                bound: is_bound(pod),
                deleting,
                ready: ready.is_some_and(|c| c.status == "True"),
                ready_since: ready.and_then(|c| c.last_transition_time.as_ref().map(|t| t.0)),
                revision: self
                    .world
                    .revision
                    .judge(labels.hash, || labels.generation()),
            },
        );
    }

    /// [`WorldBuilder::add_pod`] from what a [`crate::memo::PlanMemo`] remembers of `pod`,
    /// without reading the pod.
    pub(crate) fn add_known(&mut self, pod: &'a Pod, known: &'a KnownPod) {
        if known.phase.is_terminal() && known.deleting {
            return;
        }
        let Some(target) = known.target.as_deref() else {
            return;
        };
        // A node the pass has was looked up once, when the memo first saw this pod; only
        // a node that vanished needs a slot made here.
        let slot = match known.slot {
            Some(slot) => slot,
            None => self.slot_for(target),
        };
        self.stage(
            pod,
            slot,
            PodRead {
                phase: known.phase,
                bound: known.bound,
                deleting: known.deleting,
                ready: known.ready,
                ready_since: known.ready_since,
                revision: known.revision,
            },
        );
    }

    /// Turns what was read of `pod` into its facts at the world's instant and stages it on
    /// `slot`.
    fn stage(&mut self, pod: &'a Pod, slot: usize, read: PodRead) {
        let world = &self.world;
        let facts = PodFacts {
            pod,
            phase: read.phase,
            bound: read.bound,
            deleting: read.deleting,
            ready: read.ready,
            available: ready_since_long_enough(
                read.ready,
                read.ready_since,
                world.min_ready_seconds,
                world.now,
            ),
            updated: read.revision.updated,
            current_hash: read.revision.current_hash,
        };
        self.staged.push(Staged { facts, slot });
    }

    /// The slot of the node named `target`; a name not in the node list is a node that
    /// vanished, and gets a slot too.
    fn slot_for(&mut self, target: &'a str) -> usize {
        let slots = &mut self.world.slots;
        let (slot, added) = self.index.insert(target);
        if added {
            self.sorted &= slots.last().is_none_or(|l| l.name <= target);
            slots.push(Slot {
                name: target,
                node: None,
                placement: NodePlacement::default(),
                pods: 0..0,
            });
        }
        slot
    }

    /// Puts the slots in name order and every slot's pods in upstream's order.
    pub(crate) fn finish(self) -> World<'a> {
        let WorldBuilder {
            mut world,
            index,
            staged,
            sorted,
        } = self;
        drop(index);
        let slots = &mut world.slots;

        // `rank[i]`: where slot `i` (node-list order) goes in name order.
        let rank: Option<Vec<usize>> = (!sorted).then(|| {
            let mut order: Vec<usize> = (0..slots.len()).collect();
            order.sort_unstable_by(|a, b| slots[*a].name.cmp(slots[*b].name));
            let mut rank = vec![0usize; slots.len()];
            for (new, old) in order.iter().enumerate() {
                rank[*old] = new;
            }
            rank
        });
        let position = |slot: usize| rank.as_ref().map_or(slot, |r| r[slot]);

        // Bucket the pods by slot in name order (a counting sort: pods per slot are few,
        // so sorting all of them would mostly compare slot numbers), then order each
        // bucket the way upstream does.
        let mut starts = vec![0usize; slots.len() + 1];
        for s in &staged {
            starts[position(s.slot) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut fill = starts.clone();
        let mut order = vec![0usize; staged.len()];
        for (i, s) in staged.iter().enumerate() {
            let at = &mut fill[position(s.slot)];
            order[*at] = i;
            *at += 1;
        }
        drop(fill);
        for (i, slot) in slots.iter_mut().enumerate() {
            let p = position(i);
            let range = starts[p]..starts[p + 1];
            if range.len() > 1 {
                // Stable, so pods equal in upstream's order keep the input order.
                order[range.clone()].sort_by(|a, b| staged_order(&staged[*a], &staged[*b]));
            }
            slot.pods = range;
        }

        if let Some(mut rank) = rank {
            // Move every slot to its place in name order (following the permutation's
            // cycles, so the slots are not copied).
            for i in 0..slots.len() {
                while rank[i] != i {
                    let j = rank[i];
                    slots.swap(i, j);
                    rank.swap(i, j);
                }
            }
        }

        world.pods = order.iter().map(|i| staged[*i].facts.pod).collect();
        world.facts = order.iter().map(|i| staged[*i].facts).collect();
        world
    }
}

impl<'a> World<'a> {
    /// A world with `slots` and no pods yet.
    fn empty(
        ds: &'a DaemonSet,
        slots: Vec<Slot<'a>>,
        revision: CurrentRevision,
        now: Timestamp,
    ) -> Self {
        World {
            ds,
            slots,
            pods: Vec::new(),
            facts: Vec::new(),
            revision,
            min_ready_seconds: ds.spec.min_ready_seconds.unwrap_or(0),
            now,
        }
    }

    /// Groups `pods` (the DaemonSet's owned pods) by target node and evaluates placement
    /// for every node. Terminal pods that are being deleted are invisible (spec 3.6), as are
    /// pods that target no node.
    pub fn build(
        ds: &'a DaemonSet,
        placement: &PlacementContext<'_>,
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: &[&'a Pod],
        hash: String,
        now: Timestamp,
    ) -> Self {
        let revision = CurrentRevision::new(ds, hash);
        let mut builder = WorldBuilder::new(ds, placement, nodes, revision, now, pods.len());
        for pod in pods {
            builder.add_pod(pod);
        }
        builder.finish()
    }

    /// The daemon pods mapped to a slot, in upstream's order (deleting ones included).
    pub fn pods_of(&self, slot: &Slot<'_>) -> &[&'a Pod] {
        &self.pods[slot.pods.clone()]
    }

    /// The facts of the daemon pods mapped to a slot, in the same order as
    /// [`World::pods_of`].
    pub fn facts_of(&self, slot: &Slot<'_>) -> &[PodFacts<'a>] {
        &self.facts[slot.pods.clone()]
    }

    /// True when the pod runs the current template: its hash label equals the current hash,
    /// or its generation label equals the templateGeneration (spec 4.5).
    pub fn is_updated(&self, pod: &Pod) -> bool {
        let labels = Labels::of(pod);
        self.revision
            .judge(labels.hash, || labels.generation())
            .updated
    }

    /// True when the pod's hash label is the current hash (surge pruning uses only this).
    pub fn has_current_hash(&self, pod: &Pod) -> bool {
        self.revision
            .judge(Labels::of(pod).hash, || None)
            .current_hash
    }

    /// Availability with the DaemonSet's minReadySeconds at the plan's instant.
    pub fn is_available(&self, pod: &Pod) -> bool {
        is_available(pod, self.min_ready_seconds, self.now)
    }

    /// Number of nodes that should run a daemon pod.
    pub fn desired(&self) -> i32 {
        let n = self
            .slots
            .iter()
            .filter(|s| s.node.is_some() && s.placement.should_run)
            .count();
        i32::try_from(n).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_index_gives_each_name_one_slot_in_insertion_order() {
        // Small table, many names: forces shared buckets, probing and several doublings.
        let names: Vec<String> = (0..200)
            .map(|i| match i % 4 {
                0 => format!("n{i}"),
                1 => format!("node-{i:03}"),
                2 => format!("node-{i:03}x"),
                _ => String::new() + &"z".repeat(i % 19) + &i.to_string(),
            })
            .collect();
        let mut index = NameIndex::with_capacity(0);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.insert(name), (i, true), "{name}");
        }
        for (i, name) in names.iter().enumerate().rev() {
            assert_eq!(index.insert(name), (i, false), "{name}");
        }
        assert_eq!(index.insert(""), (names.len(), true));
        assert_eq!(index.insert(""), (names.len(), false));
        assert!(index.table.len() >= NameIndex::buckets_for(names.len()));
    }

    /// The reference: upstream's rule written with plain map lookups.
    fn updated_by_the_book(
        labels: &BTreeMap<String, String>,
        hash: &str,
        generation: Option<&str>,
    ) -> bool {
        let hash_matches = !hash.is_empty()
            && labels
                .get(CONTROLLER_REVISION_HASH_LABEL)
                .map(String::as_str)
                == Some(hash);
        let generation_matches = generation.is_some_and(|g| {
            labels
                .get(POD_TEMPLATE_GENERATION_LABEL)
                .map(String::as_str)
                == Some(g)
        });
        hash_matches || generation_matches
    }

    #[test]
    fn updated_and_current_hash_follow_the_labels_whatever_is_read_first() {
        let label_sets: Vec<BTreeMap<String, String>> = [
            vec![],
            vec![(CONTROLLER_REVISION_HASH_LABEL, "h1")],
            vec![(CONTROLLER_REVISION_HASH_LABEL, "h2")],
            vec![(CONTROLLER_REVISION_HASH_LABEL, "")],
            vec![(POD_TEMPLATE_GENERATION_LABEL, "3")],
            vec![
                (CONTROLLER_REVISION_HASH_LABEL, "h2"),
                (POD_TEMPLATE_GENERATION_LABEL, "3"),
            ],
            vec![
                (CONTROLLER_REVISION_HASH_LABEL, "h1"),
                (POD_TEMPLATE_GENERATION_LABEL, "2"),
            ],
            // Same lengths as the real keys, different bytes.
            vec![
                ("controller-revision-hasH", "h1"),
                ("pod-template-generatioN", "3"),
            ],
        ]
        .into_iter()
        .map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect();
        for (hash, generation) in [("h1", Some("3")), ("", Some("3")), ("h1", None), ("", None)] {
            let mut ds = DaemonSet::default();
            if let Some(g) = generation {
                ds.metadata.annotations = Some(BTreeMap::from([(
                    "deprecated.daemonset.template.generation".to_owned(),
                    g.to_owned(),
                )]));
            }
            let world = World::build(
                &ds,
                &PlacementContext::new(&ds),
                [],
                &[],
                hash.to_owned(),
                Timestamp::UNIX_EPOCH,
            );
            assert_eq!(world.revision.generation_label.as_deref(), generation);
            for labels in &label_sets {
                let mut pod = Pod::default();
                pod.metadata.labels = Some(labels.clone());
                let case = format!("hash {hash:?} generation {generation:?} labels {labels:?}");
                assert_eq!(
                    world.is_updated(&pod),
                    updated_by_the_book(labels, hash, generation),
                    "{case}"
                );
                assert_eq!(
                    world.has_current_hash(&pod),
                    labels
                        .get(CONTROLLER_REVISION_HASH_LABEL)
                        .map(String::as_str)
                        == Some(hash),
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn name_hash_depends_on_every_byte_and_the_length() {
        let base = "node-0001-abcdefgh";
        let h = NameIndex::hash(base);
        for i in 0..base.len() {
            let mut bytes = base.as_bytes().to_vec();
            bytes[i] ^= 1;
            let changed = String::from_utf8(bytes).unwrap_or_default();
            assert_ne!(NameIndex::hash(&changed), h, "byte {i}");
        }
        assert_ne!(NameIndex::hash("node-0001"), NameIndex::hash("node-0001\0"));
    }
}
