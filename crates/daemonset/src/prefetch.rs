//! Software prefetching for the two big passes of a sync (nodes, pods).
//!
//! At a few thousand nodes the objects a sync reads (several KiB each, with their strings
//! and maps in separate heap blocks) no longer fit in cache, and each pass becomes a chain
//! of cache misses the CPU cannot overlap: every object is a pointer chase (pod, then its
//! label map, then the label's bytes). Asking for the objects a few iterations ahead lets
//! those misses overlap. A prefetch is only a hint: it never faults and never changes a
//! result, so a wrong or stale address costs nothing but the wasted hint.

use k8s_openapi::api::core::v1::{Node, Pod};

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

/// How many label entries the last stage covers: the selector's and the revision labels
/// of a daemon pod, the first few (alphabetical) labels of a node.
const LABELS_AHEAD: usize = 4;

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
}

impl PodLayout {
    /// Learns the layout from the first pods that have a spec and a status (without one,
    /// those lines are simply not requested).
    pub(crate) fn learn<'p>(pods: impl IntoIterator<Item = &'p Pod>) -> Self {
        let mut layout = PodLayout::default();
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
        line(&meta.creation_timestamp);
        line(&meta.labels);
        line(&meta.deletion_timestamp);
        line(&meta.owner_references);
        for offset in [self.node_name, self.phase, self.conditions]
            .into_iter()
            .flatten()
        {
            line(at(pod, offset));
        }
    }

    /// Second stage, a few pods ahead (its lines requested by [`PodLayout::pod`] have
    /// arrived): the heap blocks those lines point to.
    #[inline]
    pub(crate) fn targets(&self, pod: &Pod) {
        let meta = &pod.metadata;
        if let Some(owners) = &meta.owner_references {
            line(owners.as_ptr());
        }
        if let Some((key, value)) = meta.labels.as_ref().and_then(|l| l.iter().next()) {
            line(key.as_ptr());
            line(value.as_ptr());
        }
        if let Some(name) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()) {
            line(name.as_ptr());
        }
        if let Some(status) = &pod.status {
            if let Some(phase) = &status.phase {
                line(phase.as_ptr());
            }
            if let Some(conditions) = &status.conditions {
                line(conditions.as_ptr());
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
        labels(meta.labels.as_ref());
        if let Some(condition) = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.first())
        {
            line(condition.type_.as_ptr());
            line(condition.status.as_ptr());
        }
    }
}

fn labels(labels: Option<&std::collections::BTreeMap<String, String>>) {
    for (key, value) in labels.into_iter().flatten().take(LABELS_AHEAD) {
        line(key.as_ptr());
        line(value.as_ptr());
    }
}

/// Where, inside a `Node`, the taints live (see [`PodLayout`] for why it is learnt).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeLayout {
    taints: Option<usize>,
}

impl NodeLayout {
    /// Learns the layout from the first node that has a spec.
    pub(crate) fn learn<'n>(nodes: impl IntoIterator<Item = &'n Node>) -> Self {
        NodeLayout {
            taints: nodes
                .into_iter()
                .take(LEARN_FROM)
                .find_map(|n| n.spec.as_ref().map(|s| offset_in(n, &s.taints))),
        }
    }

    /// First stage: the node's own lines.
    #[inline]
    pub(crate) fn node(&self, node: &Node) {
        line(&node.metadata.name);
        line(&node.metadata.labels);
        if let Some(offset) = self.taints {
            line(at(node, offset));
        }
    }

    /// Third stage: label keys and values, taint strings.
    #[inline]
    pub(crate) fn strings(&self, node: &Node) {
        labels(node.metadata.labels.as_ref());
        for taint in node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
        {
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
        if let Some((key, value)) = node.metadata.labels.as_ref().and_then(|l| l.iter().next()) {
            line(key.as_ptr());
            line(value.as_ptr());
        }
        if let Some(taints) = node.spec.as_ref().and_then(|s| s.taints.as_ref()) {
            line(taints.as_ptr());
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
    fn layouts_learnt_from_objects_without_spec_or_status_request_only_fixed_lines() {
        let bare = Pod::default();
        let layout = PodLayout::learn([&bare]);
        assert!(layout.node_name.is_none() && layout.phase.is_none());
        // Requests on bare objects must not touch absent parts.
        layout.pod(&bare);
        layout.targets(&bare);
        layout.strings(&bare);
        let node = Node::default();
        let node_layout = NodeLayout::learn([&node]);
        assert!(node_layout.taints.is_none());
        node_layout.node(&node);
        node_layout.targets(&node);
        node_layout.strings(&node);
    }
}
