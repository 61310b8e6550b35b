//! Ownership: which pods and revisions belong to the DaemonSet, which orphans it adopts and
//! which it releases (spec 3.5).

use std::collections::BTreeMap;
use std::sync::Arc;

use everynode_model::pod::{controller_ref, is_being_deleted};
use everynode_model::selector::Selector;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::history::object_ref;
use crate::observed::ObjectRef;

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// What to do with one object found in the DaemonSet's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Owned by this DaemonSet and still selected.
    Keep,
    /// An orphan the selector matches: add our controller ownerReference.
    Adopt,
    /// Owned, but the selector no longer matches: remove our ownerReference.
    Release,
    /// Not ours (another controller, or an orphan we do not take).
    Ignore,
}

/// Decides ownership of one object (pod or revision) for `ds` with its parsed `selector`.
pub fn claim_decision(ds: &DaemonSet, selector: &Selector, meta: &ObjectMeta) -> ClaimDecision {
    ClaimContext::new(ds, selector).decide(meta)
}

/// What a claim needs from the DaemonSet, read once per sync rather than once per object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimContext<'d> {
    uid: &'d str,
    namespace: Option<&'d str>,
    deleting: bool,
    selector: &'d Selector,
}

impl<'d> ClaimContext<'d> {
    /// Reads what claiming needs from `ds`; `selector` is its parsed selector.
    pub(crate) fn new(ds: &'d DaemonSet, selector: &'d Selector) -> Self {
        ClaimContext {
            uid: ds.metadata.uid.as_deref().unwrap_or(""),
            namespace: ds.metadata.namespace.as_deref(),
            deleting: is_being_deleted(&ds.metadata),
            selector,
        }
    }

    /// Everything a claim decision depends on besides the object, owned: a decision made
    /// under an equal key holds under this one.
    pub(crate) fn key(&self) -> ClaimKey {
        ClaimKey {
            uid: self.uid.to_owned(),
            namespace: self.namespace.map(str::to_owned),
            deleting: self.deleting,
            selector: self.selector.clone(),
        }
    }

    /// True when [`ClaimContext::key`] would equal `key`, without building it (asked once
    /// per sync).
    pub(crate) fn has_key(&self, key: &ClaimKey) -> bool {
        key.uid == self.uid
            && key.namespace.as_deref() == self.namespace
            && key.deleting == self.deleting
            && key.selector == *self.selector
    }

    /// [`claim_decision`] for one object.
    pub(crate) fn decide(&self, meta: &ObjectMeta) -> ClaimDecision {
        let labels = meta.labels.as_ref().unwrap_or(&NO_LABELS);
        match controller_ref(meta) {
            Some(owner) if owner.uid == self.uid => {
                if self.selector.matches(labels) {
                    ClaimDecision::Keep
                } else if self.deleting {
                    // A DaemonSet on its way out changes no ownership; the GC deals with it.
                    ClaimDecision::Ignore
                } else {
                    ClaimDecision::Release
                }
            }
            Some(_) => ClaimDecision::Ignore,
            None => {
                if self.deleting
                    || is_being_deleted(meta)
                    || meta.namespace.as_deref() != self.namespace
                    || !self.selector.matches(labels)
                {
                    ClaimDecision::Ignore
                } else {
                    ClaimDecision::Adopt
                }
            }
        }
    }
}

/// What [`ClaimContext::key`] returns.
#[derive(Debug, Clone)]
pub(crate) struct ClaimKey {
    uid: String,
    namespace: Option<String>,
    deleting: bool,
    selector: Selector,
}

/// The result of claiming: owned objects (adopted ones included) and the ownership changes.
#[derive(Debug, Clone, Default)]
pub struct Claimed<'a> {
    /// Pods that belong to the DaemonSet for the rest of the sync.
    pub pods: Vec<&'a Pod>,
    /// Revisions that belong to the DaemonSet for the rest of the sync.
    pub revisions: Vec<&'a ControllerRevision>,
    /// Orphan pods to adopt.
    pub adopt_pods: Vec<ObjectRef>,
    /// Owned pods to release.
    pub release_pods: Vec<ObjectRef>,
    /// Orphan revisions to adopt.
    pub adopt_revisions: Vec<ObjectRef>,
    /// Owned revisions to release.
    pub release_revisions: Vec<ObjectRef>,
}

/// Claims pods and revisions for `ds` (spec 3.5).
pub fn claim<'a>(
    ds: &DaemonSet,
    selector: &Selector,
    pods: &'a [Arc<Pod>],
    revisions: &'a [Arc<ControllerRevision>],
) -> Claimed<'a> {
    let mut out = Claimed::default();
    out.pods.reserve(pods.len());
    let context = ClaimContext::new(ds, selector);
    for pod in pods {
        out.claim_pod(&context, pod);
    }
    out.claim_revisions(&context, revisions);
    out
}

impl<'a> Claimed<'a> {
    /// Claims one pod, in input order; true when it belongs to the DaemonSet for the rest
    /// of the sync. Lets `plan` claim a pod in the same visit that reads it for the world.
    pub(crate) fn claim_pod(&mut self, context: &ClaimContext<'_>, pod: &'a Pod) -> bool {
        self.record_pod(context.decide(&pod.metadata), pod)
    }

    /// Records a decision already made about `pod` (by [`Claimed::claim_pod`], or earlier
    /// and remembered); true when the pod belongs to the DaemonSet.
    pub(crate) fn record_pod(&mut self, decision: ClaimDecision, pod: &'a Pod) -> bool {
        match decision {
            ClaimDecision::Keep => {
                self.pods.push(pod);
                true
            }
            ClaimDecision::Adopt => {
                self.adopt_pods.push(object_ref(&pod.metadata));
                self.pods.push(pod);
                true
            }
            ClaimDecision::Release => {
                self.release_pods.push(object_ref(&pod.metadata));
                false
            }
            ClaimDecision::Ignore => false,
        }
    }

    /// Claims the revisions.
    pub(crate) fn claim_revisions(
        &mut self,
        context: &ClaimContext<'_>,
        revisions: &'a [Arc<ControllerRevision>],
    ) {
        for cr in revisions {
            match context.decide(&cr.metadata) {
                ClaimDecision::Keep => self.revisions.push(cr),
                ClaimDecision::Adopt => {
                    self.adopt_revisions.push(object_ref(&cr.metadata));
                    self.revisions.push(cr);
                }
                ClaimDecision::Release => self.release_revisions.push(object_ref(&cr.metadata)),
                ClaimDecision::Ignore => {}
            }
        }
    }
}
