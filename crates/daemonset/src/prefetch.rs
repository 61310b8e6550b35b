//! Software prefetching for the two big passes of a sync (nodes, pods).
//!
//! At a few thousand nodes the objects a sync reads (several KiB each, with their strings
//! and maps in separate heap blocks) no longer fit in cache, and each pass becomes a chain
//! of cache misses the CPU cannot overlap: every object is a pointer chase (pod, then its
//! label map, then the label's bytes). Asking for the objects a few iterations ahead lets
//! those misses overlap. A prefetch is only a hint: it never faults and never changes a
//! result, so a wrong or stale address costs nothing but the wasted hint.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

/// Objects per batch: each prefetch stage runs over a batch in a short loop of its own,
/// so that the loads it has to make (pointers inside lines the previous stage requested)
/// are many at once in flight instead of one stalled load per object.
const BATCH: usize = 8;

/// What [`pipelined`] asks of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Three batches ahead: request the item's own lines.
    Far,
    /// Two batches ahead: request the blocks those lines point to.
    Mid,
    /// One batch ahead: request the blocks those point to in turn.
    Near,
    /// Now: the real work.
    Work,
}

/// Visits every item in order for [`Stage::Work`], with the prefetch stages running over
/// the batches ahead of it.
pub(crate) fn pipelined<'a, T>(items: &'a [T], mut visit: impl FnMut(Stage, &'a T)) {
    let batch = |k: Option<usize>| -> &'a [T] {
        let Some(start) = k.and_then(|k| k.checked_mul(BATCH)) else {
            return &[];
        };
        let start = start.min(items.len());
        &items[start..start.saturating_add(BATCH).min(items.len())]
    };
    for step in 0..items.len().div_ceil(BATCH) + 3 {
        for (stage, k) in [
            (Stage::Far, Some(step)),
            (Stage::Mid, step.checked_sub(1)),
            (Stage::Near, step.checked_sub(2)),
            (Stage::Work, step.checked_sub(3)),
        ] {
            for item in batch(k) {
                visit(stage, item);
            }
        }
    }
}

/// How many objects the layouts are learnt from at most.
const LEARN_FROM: usize = 16;

/// How many label entries the last stage looks at (their headers sit together in the map's
/// node, so looking is cheap; only the wanted ones have their strings requested).
const LABELS_AHEAD: usize = 16;

/// The lengths of the label keys a sync looks up, as a bit set (lengths from 63 up share
/// the last bit). The lookups (`everynode_model::labels::get`) read only keys of these lengths, so only
/// those are worth requesting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeyLengths(u64);

impl KeyLengths {
    /// The set of the lengths of `keys`.
    pub(crate) fn of<'k>(keys: impl IntoIterator<Item = &'k str>) -> Self {
        KeyLengths(keys.into_iter().fold(0, |set, k| set | Self::bit(k.len())))
    }

    fn bit(len: usize) -> u64 {
        1 << len.min(63)
    }

    fn has(self, len: usize) -> bool {
        self.0 & Self::bit(len) != 0
    }
}

/// A node's taints, in order (none when it has no spec or no taints).
fn taints(node: &Node) -> impl Iterator<Item = &Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
}

/// Hints that the cache line holding `p` will be read soon.
#[inline(always)]
pub(crate) fn line<T: ?Sized>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: the intrinsic only needs SSE, which every x86_64 CPU has (it is in the
        // target's baseline features), and a prefetch never dereferences its address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Hints that all of `*r` will be read soon: a field can straddle two lines, and a
/// prefetch covers only the line of its address.
#[inline(always)]
fn field<T>(r: &T) {
    span((r as *const T).cast::<u8>(), size_of::<T>());
}

/// [`field`] for `len` bytes at `p` (a pointer computed, never dereferenced).
#[inline(always)]
fn span(p: *const u8, len: usize) {
    line(p);
    line(p.wrapping_add(len.saturating_sub(1)));
}

/// The size of the optional string and list fields the learnt offsets point at.
const OPTIONAL_FIELD: usize = size_of::<Option<String>>();

fn offset_in<T, F: ?Sized>(base: &T, field: &F) -> usize {
    ((field as *const F).cast::<u8>() as usize)
        .wrapping_sub((base as *const T).cast::<u8>() as usize)
}

fn at<T>(base: &T, offset: usize) -> *const u8 {
    (base as *const T).cast::<u8>().wrapping_add(offset)
}

/// Where, inside a `Pod`, the fields a sync reads live. The spec and status are optional
/// structs whose in-`Option` position the language does not fix, so it is taken from a
/// sample pod that has them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PodLayout {
    node_name: Option<usize>,
    phase: Option<usize>,
    conditions: Option<usize>,
    wanted: KeyLengths,
}

impl PodLayout {
    /// Learns the layout from the first pods that have a spec and a status (without one,
    /// those lines are simply not requested); `wanted` are the label keys the sync reads.
    pub(crate) fn learn<'p>(pods: impl IntoIterator<Item = &'p Pod>, wanted: KeyLengths) -> Self {
        let mut layout = PodLayout {
            wanted,
            ..PodLayout::default()
        };
        // Only a few: a pod list without statuses must not cost a pass over every pod.
        for pod in pods.into_iter().take(LEARN_FROM) {
            if layout.node_name.is_none()
                && let Some(spec) = &pod.spec
            {
                layout.node_name = Some(offset_in(pod, &spec.node_name));
            }
            if layout.phase.is_none()
                && let Some(status) = &pod.status
            {
                layout.phase = Some(offset_in(pod, &status.phase));
                layout.conditions = Some(offset_in(pod, &status.conditions));
            }
            if layout.node_name.is_some() && layout.phase.is_some() {
                break;
            }
        }
        layout
    }

    /// First stage, several pods ahead: the pod's own lines that hold what a sync reads.
    #[inline]
    pub(crate) fn pod(&self, pod: &Pod) {
        let meta = &pod.metadata;
        field(&meta.labels);
        field(&meta.deletion_timestamp);
        field(&meta.owner_references);
        for offset in [self.node_name, self.phase, self.conditions]
            .into_iter()
            .flatten()
        {
            span(at(pod, offset), OPTIONAL_FIELD);
        }
    }

    /// Second stage, a few pods ahead (its lines requested by [`PodLayout::pod`] have
    /// arrived): the heap blocks those lines point to.
    #[inline]
    pub(crate) fn targets(&self, pod: &Pod) {
        let meta = &pod.metadata;
        for owner in meta.owner_references.iter().flatten().take(OWNERS_AHEAD) {
            field(&owner.controller);
            field(&owner.uid);
        }
        first_label(meta.labels.as_ref(), self.wanted);
        if let Some(name) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()) {
            line(name.as_ptr());
        }
        if let Some(status) = &pod.status {
            // The phase's bytes are only compared when its length is a terminal phase's.
            if let Some(phase) = status
                .phase
                .as_ref()
                .filter(|p| p.len() == "Failed".len() || p.len() == "Succeeded".len())
            {
                line(phase.as_ptr());
            }
            // The type and status headers of the first few conditions: the Ready one is
            // found by reading types in order.
            for condition in status.conditions.iter().flatten().take(CONDITIONS_AHEAD) {
                field(&condition.status);
                field(&condition.type_);
            }
        }
    }
}

impl PodLayout {
    /// Third stage, just ahead: the strings inside the blocks [`PodLayout::targets`]
    /// requested (owner UID, label keys and values, the Ready condition's strings).
    #[inline]
    pub(crate) fn strings(&self, pod: &Pod) {
        let meta = &pod.metadata;
        if let Some(owner) = meta.owner_references.as_ref().and_then(|o| o.first()) {
            line(owner.uid.as_ptr());
        }
        labels(meta.labels.as_ref(), self.wanted);
        // Only a condition whose type is as long as "Ready" has its type string read.
        if let Some(condition) = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_.len() == READY.len()))
        {
            line(condition.type_.as_ptr());
            line(condition.status.as_ptr());
        }
    }
}

const READY: &str = "Ready";

/// How many ownerReferences have their `controller` and `uid` fields requested (the
/// controller one is nearly always the only one); the UID's bytes are requested for the
/// first only.
const OWNERS_AHEAD: usize = 2;

/// How many pod conditions have their headers requested (the kubelet writes Ready third).
const CONDITIONS_AHEAD: usize = 4;

/// How many taints have their headers requested.
const TAINTS_AHEAD: usize = 4;

/// How many keys a B-tree node of the standard library holds at most: an implementation
/// detail of `BTreeMap` (2B - 1 with B = 6), so a wrong guess after a std change only wastes
/// the hint.
const LEAF_HEADERS: usize = 11;

/// Requests the strings of the wanted labels among the first [`LABELS_AHEAD`].
fn labels(labels: Option<&BTreeMap<String, String>>, wanted: KeyLengths) {
    for (key, value) in labels.into_iter().flatten().take(LABELS_AHEAD) {
        if wanted.has(key.len()) {
            line(key.as_ptr());
            line(value.as_ptr());
        }
    }
}

/// Requests the strings of the first label when it is a wanted one, and the headers of
/// the labels after it for the last stage's scan. Finding the first label brings the map's
/// first node in; the later headers are requested by address only, assuming the node
/// keeps its keys, and its values, side by side. Were that not so, only the hint would be
/// wasted.
fn first_label(labels: Option<&BTreeMap<String, String>>, wanted: KeyLengths) {
    let Some(map) = labels else {
        return;
    };
    if let Some((key, value)) = map.iter().next() {
        let count = map.len().min(LEAF_HEADERS);
        span(
            (key as *const String).cast::<u8>(),
            count * size_of::<String>(),
        );
        span(
            (value as *const String).cast::<u8>(),
            count * size_of::<String>(),
        );
        if wanted.has(key.len()) {
            line(key.as_ptr());
            line(value.as_ptr());
        }
    }
}

/// Where, inside a `Node`, the taints live (see [`PodLayout`] for why it is learnt).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeLayout {
    taints: Option<usize>,
    wanted: KeyLengths,
}

impl NodeLayout {
    /// Learns the layout from the first node that has a spec; `wanted` are the label keys
    /// placement reads.
    pub(crate) fn learn<'n>(nodes: impl IntoIterator<Item = &'n Node>, wanted: KeyLengths) -> Self {
        NodeLayout {
            taints: nodes
                .into_iter()
                .take(LEARN_FROM)
                .find_map(|n| n.spec.as_ref().map(|s| offset_in(n, &s.taints))),
            wanted,
        }
    }

    /// First stage: the node's own lines.
    #[inline]
    pub(crate) fn node(&self, node: &Node) {
        field(&node.metadata.name);
        field(&node.metadata.labels);
        if let Some(offset) = self.taints {
            span(at(node, offset), OPTIONAL_FIELD);
        }
    }

    /// Third stage: label keys and values, taint strings.
    #[inline]
    pub(crate) fn strings(&self, node: &Node) {
        labels(node.metadata.labels.as_ref(), self.wanted);
        for taint in taints(node) {
            line(taint.key.as_ptr());
            line(taint.effect.as_ptr());
        }
    }

    /// Second stage: the name's bytes and the first label block.
    #[inline]
    pub(crate) fn targets(&self, node: &Node) {
        if let Some(name) = &node.metadata.name {
            line(name.as_ptr());
        }
        first_label(node.metadata.labels.as_ref(), self.wanted);
        for taint in taints(node).take(TAINTS_AHEAD) {
            field(&taint.key);
            field(&taint.effect);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_works_every_item_once_in_order_after_its_prefetch_stages() {
        for len in [0usize, 1, 7, 8, 9, 17, 100] {
            let items: Vec<usize> = (0..len).collect();
            let mut seen: Vec<(Stage, usize)> = Vec::new();
            pipelined(&items, |stage, item| seen.push((stage, *item)));
            let worked: Vec<usize> = seen
                .iter()
                .filter(|(s, _)| *s == Stage::Work)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(worked, items, "len {len}");
            for stage in [Stage::Far, Stage::Mid, Stage::Near] {
                for item in &items {
                    let at = |s: Stage| seen.iter().position(|e| *e == (s, *item));
                    let prefetched = at(stage);
                    assert!(prefetched.is_some(), "len {len}: {stage:?} of {item}");
                    assert!(
                        prefetched < at(Stage::Work),
                        "len {len}: {stage:?} of {item}"
                    );
                    assert_eq!(
                        seen.iter().filter(|e| **e == (stage, *item)).count(),
                        1,
                        "len {len}: {stage:?} of {item}"
                    );
                }
            }
        }
    }

    #[test]
    fn key_lengths_hold_exactly_the_lengths_given() {
        let set = KeyLengths::of(["app", "controller-revision-hash", &"k".repeat(100)]);
        for (len, want) in [
            (3, true),
            (24, true),
            (63, true),
            (100, true),
            (4, false),
            (0, false),
        ] {
            assert_eq!(set.has(len), want, "{len}");
        }
        assert!(!KeyLengths::default().has(3));
    }

    #[test]
    fn layouts_learnt_from_objects_without_spec_or_status_request_only_fixed_lines() {
        let bare = Pod::default();
        let layout = PodLayout::learn([&bare], KeyLengths::of(["app"]));
        assert!(layout.node_name.is_none() && layout.phase.is_none());
        // Requests on bare objects must not touch absent parts.
        layout.pod(&bare);
        layout.targets(&bare);
        layout.strings(&bare);
        let node = Node::default();
        let node_layout = NodeLayout::learn([&node], KeyLengths::default());
        assert!(node_layout.taints.is_none());
        node_layout.node(&node);
        node_layout.targets(&node);
        node_layout.strings(&node);
    }
}
