//! What a sync read of each pod, kept for the next sync.
//!
//! A plan visits every pod of the DaemonSet, and a `Pod` is large with its strings spread
//! over the heap: at thousands of pods that visit is most of a plan's cost, even though
//! between two syncs only the few pods that changed have anything new to say. A
//! [`PlanMemo`] remembers, per pod object, what the plan reads of it (its claim decision and
//! the facts the world is built from), so [`crate::plan::plan_with_memo`] reads only the
//! pods it has not seen. It also keeps the node half of the last world (every node's
//! placement), reused while the caller passes the same node list (the same `Arc`) and
//! the DaemonSet's placement inputs have not changed.
//!
//! Pods are recognised by identity: the `Arc` the caller passes. Callers replace a pod's
//! `Arc` whenever the pod changes (the controller's cache does, as every watch event
//! carries a new object), so a known `Arc` is a pod whose facts are known. The memo holds a
//! clone of each `Arc`, so an address cannot be reused by another pod while it is
//! remembered. Claim decisions also depend on the DaemonSet; the memo forgets everything
//! when what they depend on changes. Whether a pod is updated depends on the current
//! revision: each pod's verdict is kept with the revision it was made under and made again
//! when the revision changes. Nothing here depends on the instant, which is applied when the
//! world is built.

use std::sync::Arc;

use everynode_model::Timestamp;
use everynode_model::pod::{is_being_deleted, ready_condition, target_node};
use everynode_model::wellknown::{CONTROLLER_REVISION_HASH_LABEL, POD_TEMPLATE_GENERATION_LABEL};
use fnv::FnvHashMap;
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::claim::{ClaimContext, ClaimDecision, ClaimKey};
use crate::placement::PlacementContext;
use crate::world::{CurrentRevision, NodePass, PodPhase, RevisionVerdict};

/// What one sync read of one pod.
#[derive(Debug, Clone)]
pub(crate) struct KnownPod {
    /// Keeps the pod's allocation (the memo's key) from being reused while remembered.
    _pinned: Arc<Pod>,
    /// The claim decision under the memo's claim key.
    pub claim: ClaimDecision,
    /// Its phase.
    pub phase: PodPhase,
    /// It has a deletionTimestamp.
    pub deleting: bool,
    /// `spec.nodeName` is set.
    pub bound: bool,
    /// The node it runs on or is pinned to.
    pub target: Option<String>,
    /// Its Ready condition is True.
    pub ready: bool,
    /// The Ready condition's lastTransitionTime.
    pub ready_since: Option<Timestamp>,
    /// Its `controller-revision-hash` label.
    pub hash: Option<String>,
    /// Its `pod-template-generation` label.
    pub generation: Option<String>,
    /// What its labels say under the memo's current revision, valid while `revision_of`
    /// is that revision's number.
    pub revision: RevisionVerdict,
    revision_of: u64,
    /// Its node's slot in the remembered node pass (`None` for a node the pass does not
    /// have), valid while `slot_of_pass` is the pass's number.
    pub slot: Option<usize>,
    slot_of_pass: u64,
    /// The last refresh that saw it.
    seen: u64,
}

impl KnownPod {
    fn read(pod: &Arc<Pod>, claim: &ClaimContext<'_>) -> KnownPod {
        let label = |key: &str| {
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| everynode_model::labels::get(l, key))
                .map(str::to_owned)
        };
        let ready = ready_condition(pod);
        KnownPod {
            _pinned: Arc::clone(pod),
            claim: claim.decide(&pod.metadata),
            phase: PodPhase::of(pod),
            deleting: is_being_deleted(&pod.metadata),
            bound: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty()),
            target: target_node(pod).map(str::to_owned),
            ready: ready.is_some_and(|c| c.status == "True"),
            ready_since: ready.and_then(|c| c.last_transition_time.as_ref().map(|t| t.0)),
            hash: label(CONTROLLER_REVISION_HASH_LABEL),
            generation: label(POD_TEMPLATE_GENERATION_LABEL),
            revision: RevisionVerdict::default(),
            revision_of: 0,
            slot: None,
            slot_of_pass: 0,
            seen: 0,
        }
    }
}

/// What earlier syncs of one DaemonSet read of its pods and nodes, so that the next sync
/// reads only what changed. Pods and the node list are recognised by their `Arc`s (a caller
/// replaces an object's `Arc` when it changes, as the controller's cache does), and the
/// memo forgets what the DaemonSet's identity, selector or placement inputs no longer
/// support. Start with [`PlanMemo::default`] and pass the same memo to every
/// [`crate::plan::plan_with_memo`] of that DaemonSet.
#[derive(Debug, Clone, Default)]
pub struct PlanMemo {
    /// The node half of the last world, reused while the node list and the DaemonSet's
    /// placement inputs stay the same.
    nodes: Option<NodePass>,
    /// Numbers the node passes built, so a remembered slot can tell which pass it is in.
    passes: u64,
    claim: Option<ClaimKey>,
    /// The revision the pods' verdicts are for, and its number (counting the revisions seen),
    /// so a verdict can tell whether it is current.
    revision: Option<CurrentRevision>,
    revisions: u64,
    known: Vec<KnownPod>,
    /// Pod address → position in `known`.
    index: FnvHashMap<usize, usize>,
    /// Counts refreshes; a pod not seen by the latest one is gone or changed.
    refreshes: u64,
}

impl PlanMemo {
    /// Number of pods remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Makes the remembered node pass the one for `nodes` under `placement`, building it
    /// unless the remembered one still holds.
    pub(crate) fn refresh_nodes(
        &mut self,
        placement: &PlacementContext<'_>,
        nodes: &Arc<[Arc<Node>]>,
    ) {
        let holds = self
            .nodes
            .as_ref()
            .is_some_and(|pass| pass.holds_for(placement, nodes));
        if !holds {
            self.nodes = Some(NodePass::build(placement, nodes));
            self.passes += 1;
        }
    }

    /// The node pass [`PlanMemo::refresh_nodes`] settled on.
    pub(crate) fn node_pass(&self) -> Option<&NodePass> {
        self.nodes.as_ref()
    }

    /// Makes sure every one of `pods` is known (reading the ones that are not) and answers
    /// where each one's facts are, in the same order, with each one's slot in the node pass
    /// [`PlanMemo::refresh_nodes`] settled on (so call that first) and its verdict under
    /// `revision`. Pods remembered from earlier syncs but absent now are forgotten once they
    /// make up a quarter of the memo.
    pub(crate) fn refresh(
        &mut self,
        claim: &ClaimContext<'_>,
        revision: &CurrentRevision,
        pods: &[Arc<Pod>],
    ) -> Vec<usize> {
        if !self.claim.as_ref().is_some_and(|key| claim.has_key(key)) {
            self.known.clear();
            self.index.clear();
            self.claim = Some(claim.key());
        }
        if self.revision.as_ref() != Some(revision) {
            self.revision = Some(revision.clone());
            self.revisions += 1;
        }
        let revision_number = self.revisions;
        self.refreshes += 1;
        let now = self.refreshes;
        let pass = self.nodes.as_ref().map(|p| (p, self.passes));
        let mut at: Vec<usize> = Vec::with_capacity(pods.len());
        // Counted here so that finding the stale entries needs no pass over them all.
        let mut seen = 0;
        for pod in pods {
            let address = Arc::as_ptr(pod) as usize;
            let i = match self.index.get(&address) {
                Some(&i) => i,
                None => {
                    self.known.push(KnownPod::read(pod, claim));
                    let i = self.known.len() - 1;
                    self.index.insert(address, i);
                    i
                }
            };
            let known = &mut self.known[i];
            if known.revision_of != revision_number {
                known.revision =
                    revision.judge(known.hash.as_deref(), || known.generation.as_deref());
                known.revision_of = revision_number;
            }
            if known.seen != now {
                known.seen = now;
                seen += 1;
            }
            if let Some((pass, number)) = pass
                && known.slot_of_pass != number
            {
                known.slot = known.target.as_deref().and_then(|t| pass.slot_of(t));
                known.slot_of_pass = number;
            }
            at.push(i);
        }
        let stale = self.known.len() - seen;
        if stale > 0 && stale * 4 >= self.known.len() {
            self.forget_stale(now, &mut at);
        }
        at
    }

    /// Drops the pods the latest refresh did not see, renumbering `at`.
    fn forget_stale(&mut self, now: u64, at: &mut [usize]) {
        let mut moved_to = vec![usize::MAX; self.known.len()];
        let mut kept = 0;
        for (i, k) in self.known.iter().enumerate() {
            if k.seen == now {
                moved_to[i] = kept;
                kept += 1;
            }
        }
        self.known.retain(|k| k.seen == now);
        self.index.retain(|_, i| {
            *i = moved_to[*i];
            *i != usize::MAX
        });
        for i in at.iter_mut() {
            *i = moved_to[*i];
        }
    }

    /// The facts at a position [`PlanMemo::refresh`] answered.
    pub(crate) fn get(&self, at: usize) -> &KnownPod {
        &self.known[at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use everynode_model::selector::Selector;
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

    fn ds(uid: &str) -> DaemonSet {
        DaemonSet {
            metadata: ObjectMeta {
                name: Some("d".into()),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                ..ObjectMeta::default()
            },
            ..DaemonSet::default()
        }
    }

    fn selector() -> Selector {
        let labels = LabelSelector {
            match_labels: Some([("app".to_owned(), "a".to_owned())].into()),
            ..LabelSelector::default()
        };
        Selector::from_label_selector(Some(&labels)).expect("valid")
    }

    fn pod(name: &str, node: &str) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                labels: Some([("app".to_owned(), "a".to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                node_name: Some(node.into()),
                ..Default::default()
            }),
            ..Pod::default()
        })
    }

    #[test]
    fn known_pods_are_not_read_again_and_changed_ones_are() {
        let (ds, selector) = (ds("u1"), selector());
        let claim = ClaimContext::new(&ds, &selector);
        let mut memo = PlanMemo::default();
        let (a, b) = (pod("a", "n1"), pod("b", "n2"));
        let first = memo.refresh(&claim, &revision(&ds, "h1"), &[a.clone(), b.clone()]);
        assert_eq!(memo.len(), 2);
        assert_eq!(memo.get(first[1]).target.as_deref(), Some("n2"));
        assert_eq!(memo.get(first[0]).claim, ClaimDecision::Adopt);

        // b changes (a new Arc), a does not.
        let b2 = pod("b", "n3");
        let second = memo.refresh(&claim, &revision(&ds, "h1"), &[a.clone(), b2.clone()]);
        assert_eq!(second[0], first[0], "a is remembered");
        assert_eq!(memo.get(second[1]).target.as_deref(), Some("n3"));
        // The old b is stale: a third of the memo, so it is forgotten and positions move.
        assert_eq!(memo.len(), 2);
        assert_eq!(memo.get(second[0]).target.as_deref(), Some("n1"));
    }

    fn revision(ds: &DaemonSet, hash: &str) -> CurrentRevision {
        CurrentRevision::new(ds, hash.to_owned())
    }

    fn with_hash(pod: &Arc<Pod>, hash: &str) -> Arc<Pod> {
        let mut pod = Pod::clone(pod);
        pod.metadata
            .labels
            .get_or_insert_default()
            .insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.to_owned());
        Arc::new(pod)
    }

    #[test]
    fn remembered_verdicts_follow_a_new_revision() {
        let (ds, selector) = (ds("u1"), selector());
        let claim = ClaimContext::new(&ds, &selector);
        let mut memo = PlanMemo::default();
        let pods = [
            with_hash(&pod("a", "n1"), "h1"),
            with_hash(&pod("b", "n2"), "h2"),
        ];
        let verdicts = |memo: &PlanMemo, at: &[usize]| -> Vec<bool> {
            at.iter().map(|&i| memo.get(i).revision.updated).collect()
        };

        let at = memo.refresh(&claim, &revision(&ds, "h1"), &pods);
        assert_eq!(verdicts(&memo, &at), [true, false]);
        assert!(memo.get(at[0]).revision.current_hash);

        // The same pods, remembered, judged again under the next revision.
        let at = memo.refresh(&claim, &revision(&ds, "h2"), &pods);
        assert_eq!(verdicts(&memo, &at), [false, true]);
        assert!(!memo.get(at[0]).revision.current_hash);
    }

    fn nodes(names: &[&str]) -> Arc<[Arc<Node>]> {
        names
            .iter()
            .map(|n| {
                Arc::new(Node {
                    metadata: ObjectMeta {
                        name: Some((*n).into()),
                        ..ObjectMeta::default()
                    },
                    ..Node::default()
                })
            })
            .collect()
    }

    #[test]
    fn remembered_slots_follow_a_new_node_pass() {
        let (ds, selector) = (ds("u1"), selector());
        let claim = ClaimContext::new(&ds, &selector);
        let placement = PlacementContext::new(&ds);
        let mut memo = PlanMemo::default();
        let pods = [pod("a", "n2"), pod("b", "gone")];

        memo.refresh_nodes(&placement, &nodes(&["n1", "n2"]));
        let at = memo.refresh(&claim, &revision(&ds, "h1"), &pods);
        assert_eq!(memo.get(at[0]).slot, Some(1));
        assert_eq!(
            memo.get(at[1]).slot,
            None,
            "a node the pass lacks has no slot"
        );

        // Same names, new list (a node changed): slots are looked up again.
        memo.refresh_nodes(&placement, &nodes(&["n0", "n2", "n3"]));
        let at = memo.refresh(&claim, &revision(&ds, "h1"), &pods);
        assert_eq!(memo.get(at[0]).slot, Some(1));
        let list = nodes(&["n2"]);
        memo.refresh_nodes(&placement, &list);
        let at = memo.refresh(&claim, &revision(&ds, "h1"), &pods);
        assert_eq!(memo.get(at[0]).slot, Some(0));
        let passes = memo.passes;
        memo.refresh_nodes(&placement, &list);
        assert_eq!(memo.passes, passes, "the same list keeps the pass");
    }

    #[test]
    fn a_different_daemonset_identity_forgets_every_decision() {
        let selector = selector();
        let (one, other) = (ds("u1"), ds("u2"));
        let mut memo = PlanMemo::default();
        let a = pod("a", "n1");
        memo.refresh(
            &ClaimContext::new(&one, &selector),
            &revision(&one, "h1"),
            std::slice::from_ref(&a),
        );
        let mut owned = (*a).clone();
        owned.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                kind: "DaemonSet".into(),
                name: "d".into(),
                uid: "u2".into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        let owned = Arc::new(owned);
        let at = memo.refresh(
            &ClaimContext::new(&other, &selector),
            &revision(&other, "h1"),
            &[owned],
        );
        assert_eq!(memo.len(), 1);
        assert_eq!(memo.get(at[0]).claim, ClaimDecision::Keep);
    }
}
