//! The garbage collector (spec 7.3): ownerReference cascades for Background, Foreground and
//! Orphan deletion.
//!
//! It watches the kinds that carry ownerReferences among the objects we serve (pods,
//! ControllerRevisions, DaemonSets) and keeps a uid index and an owner → dependents index.
//! Decisions are pure ([`decide_dependent`], [`decide_owner`]); an owner missing from the
//! caches is only believed gone after a live GET says NotFound (or finds another uid), so a
//! lagging watch never deletes anything.

use std::collections::{HashMap, HashSet, VecDeque};

use everynode_model::wellknown::{FOREGROUND_DELETION_FINALIZER, ORPHAN_FINALIZER};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ClusterError;
use crate::error::{is_conflict, is_not_found};
use crate::mirror::{Change, Mirror, watch};
use crate::projection::MetadataOnly;

/// A kind the collector knows how to reach: (group, version, kind, plural, namespaced).
type KindInfo = (&'static str, &'static str, &'static str, &'static str, bool);

/// The kinds whose objects are watched as dependents (and owners).
const WATCHED: [KindInfo; 3] = [
    ("", "v1", "Pod", "pods", true),
    (
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
    ),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
];

/// Further owner kinds that can be checked with a live GET. Owners of any other kind are
/// assumed present: deleting on a guess would be worse than keeping an orphan.
const OWNER_KINDS: [KindInfo; 7] = [
    ("", "v1", "Node", "nodes", false),
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "Service", "services", true),
    ("coordination.k8s.io", "v1", "Lease", "leases", true),
];

/// One ownerReference, as the collector needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    /// The owner's apiVersion.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// `blockOwnerDeletion: true`.
    pub block: bool,
}

/// The metadata the collector keeps per object.
#[derive(Debug, Clone)]
struct Meta {
    namespace: Option<String>,
    name: String,
    uid: String,
    resource_version: Option<String>,
    owners: Vec<OwnerRef>,
    raw_owners: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    finalizers: Vec<String>,
    deleting: bool,
}

fn meta_of<K: Resource>(obj: K) -> Meta {
    let m = obj.meta();
    let raw_owners = m.owner_references.clone().unwrap_or_default();
    Meta {
        namespace: m.namespace.clone(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        resource_version: m.resource_version.clone(),
        owners: raw_owners
            .iter()
            .map(|r| OwnerRef {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
                uid: r.uid.clone(),
                block: r.block_owner_deletion == Some(true),
            })
            .collect(),
        raw_owners,
        finalizers: m.finalizers.clone().unwrap_or_default(),
        deleting: m.deletion_timestamp.is_some(),
    }
}

/// What an owner is, seen from one of its dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists and is not being deleted in the foreground.
    Present,
    /// Gone (confirmed by a live GET) or replaced by another object with the same name.
    Absent,
    /// Being deleted with the `foregroundDeletion` finalizer: it waits for its dependents.
    WaitingForDependents,
}

/// What to do with a dependent.
#[derive(Debug, Clone, PartialEq)]
pub enum DependentAction {
    /// Nothing.
    Keep,
    /// Strip these owners (by uid) from its ownerReferences; it has another live owner.
    RemoveOwners(Vec<String>),
    /// Delete it with this propagation policy.
    Delete(PropagationPolicy),
}

/// Pure: upstream's attemptToDeleteItem. `owners` pairs each owner uid with its state;
/// `has_dependents` says whether the item owns anything itself.
pub fn decide_dependent(
    owners: &[(String, OwnerState)],
    finalizers: &[String],
    deleting: bool,
    has_dependents: bool,
) -> DependentAction {
    let foreground = finalizers
        .iter()
        .any(|f| f == FOREGROUND_DELETION_FINALIZER);
    if owners.is_empty() || (deleting && !foreground) {
        return DependentAction::Keep;
    }
    let solid = owners
        .iter()
        .filter(|(_, s)| *s == OwnerState::Present)
        .count();
    let waiting = owners
        .iter()
        .any(|(_, s)| *s == OwnerState::WaitingForDependents);
    if solid > 0 {
        let gone: Vec<String> = owners
            .iter()
            .filter(|(_, s)| *s != OwnerState::Present)
            .map(|(uid, _)| uid.clone())
            .collect();
        return if gone.is_empty() {
            DependentAction::Keep
        } else {
            DependentAction::RemoveOwners(gone)
        };
    }
    if deleting {
        // Already being deleted in the foreground; nothing more to ask of it.
        return DependentAction::Keep;
    }
    if waiting && has_dependents {
        return DependentAction::Delete(PropagationPolicy::Foreground);
    }
    let policy = if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
        PropagationPolicy::Orphan
    } else if foreground {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    DependentAction::Delete(policy)
}

/// What to do with an owner that is being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerAction {
    /// Nothing yet (not deleting, no GC finalizer, or dependents still block).
    Wait,
    /// Strip this owner from every listed dependent's ownerReferences (orphan).
    OrphanDependents,
    /// Every dependent is handled: remove this finalizer.
    RemoveFinalizer(&'static str),
    /// Dependents must go first: evaluate them (they see this owner as waiting).
    DeleteDependents,
}

/// Pure: upstream's processDeletingDependentsItem / orphanDependents decision.
/// `dependents` is how many objects still reference the owner and `blocking` how many of
/// those references carry blockOwnerDeletion.
pub fn decide_owner(
    finalizers: &[String],
    deleting: bool,
    dependents: usize,
    blocking: usize,
) -> OwnerAction {
    if !deleting {
        return OwnerAction::Wait;
    }
    if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
        return if dependents == 0 {
            OwnerAction::RemoveFinalizer(ORPHAN_FINALIZER)
        } else {
            OwnerAction::OrphanDependents
        };
    }
    if finalizers
        .iter()
        .any(|f| f == FOREGROUND_DELETION_FINALIZER)
    {
        return if blocking == 0 {
            OwnerAction::RemoveFinalizer(FOREGROUND_DELETION_FINALIZER)
        } else {
            OwnerAction::DeleteDependents
        };
    }
    OwnerAction::Wait
}

/// An object: index into [`WATCHED`] and its `namespace/name` key.
type Id = (usize, String);

/// Concurrent API calls at most.
const MAX_IN_FLIGHT: usize = 16;

/// Runs the garbage collector until `shutdown` is cancelled.
pub async fn run(client: Client, shutdown: CancellationToken) -> Result<(), ClusterError> {
    // Ownership lives in metadata: the rest of each object is skipped while decoding.
    let mut pods = watch(
        Api::<MetadataOnly<Pod>>::all(client.clone()),
        watcher::Config::default(),
    );
    let mut revisions = watch(
        Api::<MetadataOnly<ControllerRevision>>::all(client.clone()),
        watcher::Config::default(),
    );
    let mut daemonsets = watch(
        Api::<MetadataOnly<DaemonSet>>::all(client.clone()),
        watcher::Config::default(),
    );
    let mut gc = Collector::default();
    let mut tasks: JoinSet<(Id, Vec<String>)> = JoinSet::new();

    loop {
        while gc.synced() && tasks.len() < MAX_IN_FLIGHT {
            let Some(id) = gc.queue.pop_front() else {
                break;
            };
            gc.queued.remove(&id);
            if let Some(job) = gc.plan(&id) {
                gc.in_flight.insert(id.clone());
                let client = client.clone();
                tasks.spawn(async move {
                    let mut gone = Vec::new();
                    if let Err(err) = job.run(&client, &mut gone).await
                        && !is_not_found(&err)
                        && !is_conflict(&err)
                    {
                        tracing::warn!(%err, object = %id.1, "garbage collector: action failed");
                    }
                    (id, gone)
                });
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(event) = pods.next() => match event {
                Ok(event) => { let c = gc.mirrors[0].apply(event, meta_of); gc.on_changes(0, c); }
                Err(err) => tracing::warn!(%err, "garbage collector: pod watch error"),
            },
            Some(event) = revisions.next() => match event {
                Ok(event) => { let c = gc.mirrors[1].apply(event, meta_of); gc.on_changes(1, c); }
                Err(err) => tracing::warn!(%err, "garbage collector: controllerrevision watch error"),
            },
            Some(event) = daemonsets.next() => match event {
                Ok(event) => { let c = gc.mirrors[2].apply(event, meta_of); gc.on_changes(2, c); }
                Err(err) => tracing::warn!(%err, "garbage collector: daemonset watch error"),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok((id, gone)) = done {
                    gc.gone.extend(gone);
                    gc.in_flight.remove(&id);
                    if gc.redo.remove(&id) {
                        gc.mark(id);
                    }
                }
            }
        }
    }
    tasks.shutdown().await;
    Ok(())
}

#[derive(Default)]
struct Collector {
    mirrors: [Mirror<Meta>; 3],
    by_uid: HashMap<String, Id>,
    dependents: HashMap<String, HashSet<Id>>,
    queue: VecDeque<Id>,
    queued: HashSet<Id>,
    in_flight: HashSet<Id>,
    redo: HashSet<Id>,
    /// Owner uids a live GET found gone; uids are never reused, so this stays true.
    gone: HashSet<String>,
}

impl Collector {
    fn synced(&self) -> bool {
        self.mirrors.iter().all(Mirror::is_synced)
    }

    fn mark(&mut self, id: Id) {
        if self.in_flight.contains(&id) {
            self.redo.insert(id);
        } else if self.queued.insert(id.clone()) {
            self.queue.push_back(id);
        }
    }

    fn mark_uid(&mut self, uid: &str) {
        if let Some(id) = self.by_uid.get(uid).cloned() {
            self.mark(id);
        }
    }

    /// Marks every object that names `uid` as an owner.
    fn mark_dependents(&mut self, uid: &str) {
        let deps: Vec<Id> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for dep in deps {
            self.mark(dep);
        }
    }

    fn on_changes(&mut self, kind: usize, changes: Vec<Change<Meta>>) {
        for change in changes {
            match change {
                Change::Upsert { key, old } => {
                    let id = (kind, key.clone());
                    if let Some(old) = &old {
                        self.unindex(&id, old);
                    }
                    let Some(new) = self.mirrors[kind].get(&key).cloned() else {
                        continue;
                    };
                    self.by_uid.insert(new.uid.clone(), id.clone());
                    for owner in &new.owners {
                        self.dependents
                            .entry(owner.uid.clone())
                            .or_default()
                            .insert(id.clone());
                        self.mark_uid(&owner.uid);
                    }
                    if let Some(old) = &old {
                        for owner in &old.owners {
                            self.mark_uid(&owner.uid);
                        }
                    }
                    // Its dependents may now see it differently (e.g. it started a
                    // foreground deletion). Most updates (a status write) change neither,
                    // and an owner can have thousands of dependents: list them only then.
                    if old.as_ref().is_none_or(|o| {
                        o.deleting != new.deleting || o.finalizers != new.finalizers
                    }) {
                        self.mark_dependents(&new.uid);
                    }
                    self.mark(id);
                }
                Change::Delete { key, old } => {
                    let id = (kind, key);
                    self.unindex(&id, &old);
                    if self.by_uid.get(&old.uid) == Some(&id) {
                        self.by_uid.remove(&old.uid);
                    }
                    for owner in &old.owners {
                        self.mark_uid(&owner.uid);
                    }
                    self.mark_dependents(&old.uid);
                }
            }
        }
    }

    fn unindex(&mut self, id: &Id, meta: &Meta) {
        for owner in &meta.owners {
            if let Some(set) = self.dependents.get_mut(&owner.uid) {
                set.remove(id);
                if set.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
        }
    }

    /// Decides from the caches what (if anything) to do about one object.
    fn plan(&self, id: &Id) -> Option<Job> {
        let meta = self.mirrors[id.0].get(&id.1)?;
        // As an owner being deleted.
        if meta.deleting {
            let deps: Vec<&Id> = self
                .dependents
                .get(&meta.uid)
                .into_iter()
                .flatten()
                .collect();
            let blocking = deps
                .iter()
                .filter_map(|d| self.mirrors[d.0].get(&d.1))
                .filter(|d| d.owners.iter().any(|o| o.uid == meta.uid && o.block))
                .count();
            match decide_owner(&meta.finalizers, true, deps.len(), blocking) {
                OwnerAction::RemoveFinalizer(finalizer) => {
                    return Some(Job::RemoveFinalizer {
                        kind: id.0,
                        meta: meta.clone(),
                        finalizer,
                    });
                }
                OwnerAction::OrphanDependents => {
                    let targets = deps
                        .iter()
                        .filter_map(|d| self.mirrors[d.0].get(&d.1).map(|m| (d.0, m.clone())))
                        .collect();
                    return Some(Job::Orphan {
                        owner_uid: meta.uid.clone(),
                        targets,
                    });
                }
                OwnerAction::DeleteDependents | OwnerAction::Wait => {}
            }
        }
        if meta.owners.is_empty() {
            return None;
        }
        // As a dependent: owners the caches know are judged now; the others need a live GET.
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for owner in &meta.owners {
            match self
                .by_uid
                .get(&owner.uid)
                .and_then(|oid| self.mirrors[oid.0].get(&oid.1))
            {
                Some(o)
                    if o.deleting
                        && o.finalizers
                            .iter()
                            .any(|f| f == FOREGROUND_DELETION_FINALIZER) =>
                {
                    known.push((owner.uid.clone(), OwnerState::WaitingForDependents));
                }
                Some(_) => known.push((owner.uid.clone(), OwnerState::Present)),
                None if self.gone.contains(&owner.uid) => {
                    known.push((owner.uid.clone(), OwnerState::Absent))
                }
                None => unknown.push(owner.clone()),
            }
        }
        if unknown.is_empty() {
            let has_dependents = self.dependents.contains_key(&meta.uid);
            if decide_dependent(&known, &meta.finalizers, meta.deleting, has_dependents)
                == DependentAction::Keep
            {
                return None;
            }
        }
        Some(Job::Dependent {
            kind: id.0,
            meta: meta.clone(),
            known,
            unknown,
            has_dependents: self.dependents.contains_key(&meta.uid),
        })
    }
}

/// An API action of the collector.
enum Job {
    Dependent {
        kind: usize,
        meta: Meta,
        known: Vec<(String, OwnerState)>,
        unknown: Vec<OwnerRef>,
        has_dependents: bool,
    },
    RemoveFinalizer {
        kind: usize,
        meta: Meta,
        finalizer: &'static str,
    },
    Orphan {
        owner_uid: String,
        targets: Vec<(usize, Meta)>,
    },
}

fn api_resource(info: &KindInfo) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(info.0, info.1, info.2), info.3)
}

fn dynamic_api(client: &Client, info: &KindInfo, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = api_resource(info);
    match (info.4, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        (true, None) => Api::default_namespaced_with(client.clone(), &ar),
        (false, _) => Api::all_with(client.clone(), &ar),
    }
}

/// Live check of one owner reference from a dependent in `namespace`.
async fn live_owner_state(
    client: &Client,
    owner: &OwnerRef,
    namespace: Option<&str>,
) -> Result<OwnerState, kube::Error> {
    let group = owner.api_version.split_once('/').map_or("", |(g, _)| g);
    let Some(info) = WATCHED
        .iter()
        .chain(OWNER_KINDS.iter())
        .find(|k| k.0 == group && k.2 == owner.kind)
    else {
        return Ok(OwnerState::Present);
    };
    match dynamic_api(client, info, namespace)
        .get_opt(&owner.name)
        .await?
    {
        None => Ok(OwnerState::Absent),
        Some(obj) if obj.metadata.uid.as_deref() != Some(owner.uid.as_str()) => {
            Ok(OwnerState::Absent)
        }
        Some(obj) => {
            let waiting = obj.metadata.deletion_timestamp.is_some()
                && obj
                    .metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == FOREGROUND_DELETION_FINALIZER);
            Ok(if waiting {
                OwnerState::WaitingForDependents
            } else {
                OwnerState::Present
            })
        }
    }
}

impl Job {
    /// Performs the action; owner uids found gone by live checks are pushed to `gone`.
    async fn run(self, client: &Client, gone: &mut Vec<String>) -> Result<(), kube::Error> {
        match self {
            Job::Dependent {
                kind,
                meta,
                mut known,
                unknown,
                has_dependents,
            } => {
                for owner in &unknown {
                    let state = live_owner_state(client, owner, meta.namespace.as_deref()).await?;
                    if state == OwnerState::Absent {
                        gone.push(owner.uid.clone());
                    }
                    known.push((owner.uid.clone(), state));
                }
                let api = dynamic_api(client, &WATCHED[kind], meta.namespace.as_deref());
                match decide_dependent(&known, &meta.finalizers, meta.deleting, has_dependents) {
                    DependentAction::Keep => Ok(()),
                    DependentAction::RemoveOwners(uids) => {
                        let kept: Vec<_> = meta
                            .raw_owners
                            .iter()
                            .filter(|r| !uids.contains(&r.uid))
                            .collect();
                        patch_owners(&api, &meta, &kept).await
                    }
                    DependentAction::Delete(policy) => {
                        let params = DeleteParams {
                            propagation_policy: Some(policy),
                            preconditions: Some(Preconditions {
                                uid: Some(meta.uid.clone()),
                                resource_version: None,
                            }),
                            ..DeleteParams::default()
                        };
                        api.delete(&meta.name, &params).await?;
                        tracing::info!(kind = WATCHED[kind].2, object = %meta.name, "garbage collector: deleted dependent");
                        Ok(())
                    }
                }
            }
            Job::RemoveFinalizer {
                kind,
                meta,
                finalizer,
            } => {
                let api = dynamic_api(client, &WATCHED[kind], meta.namespace.as_deref());
                let rest: Vec<&String> =
                    meta.finalizers.iter().filter(|f| *f != finalizer).collect();
                let finalizers = if rest.is_empty() {
                    serde_json::Value::Null
                } else {
                    json!(rest)
                };
                let patch = json!({
                    "metadata": { "resourceVersion": meta.resource_version, "finalizers": finalizers }
                });
                api.patch(&meta.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                Ok(())
            }
            Job::Orphan { owner_uid, targets } => {
                for (kind, meta) in targets {
                    let api = dynamic_api(client, &WATCHED[kind], meta.namespace.as_deref());
                    let kept: Vec<_> = meta
                        .raw_owners
                        .iter()
                        .filter(|r| r.uid != owner_uid)
                        .collect();
                    match patch_owners(&api, &meta, &kept).await {
                        Ok(()) => {}
                        Err(err) if is_not_found(&err) || is_conflict(&err) => {}
                        Err(err) => return Err(err),
                    }
                }
                Ok(())
            }
        }
    }
}

/// Replaces a dependent's ownerReferences, guarded by its resourceVersion so a concurrent
/// change (adoption, another owner) is never overwritten.
async fn patch_owners(
    api: &Api<DynamicObject>,
    meta: &Meta,
    kept: &[&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
) -> Result<(), kube::Error> {
    let owners = if kept.is_empty() {
        serde_json::Value::Null
    } else {
        json!(kept)
    };
    let patch = json!({
        "metadata": { "resourceVersion": meta.resource_version, "ownerReferences": owners }
    });
    api.patch(&meta.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(states: &[OwnerState]) -> Vec<(String, OwnerState)> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("u{i}"), *s))
            .collect()
    }

    /// name, owners, finalizers, deleting, has dependents, expected action.
    type DependentCase = (
        &'static str,
        Vec<(String, OwnerState)>,
        Vec<String>,
        bool,
        bool,
        DependentAction,
    );

    #[test]
    fn decide_dependent_follows_attempt_to_delete_item() {
        use OwnerState::*;
        let none: Vec<String> = vec![];
        let orphan = vec![ORPHAN_FINALIZER.to_owned()];
        let fg = vec![FOREGROUND_DELETION_FINALIZER.to_owned()];
        let cases: Vec<DependentCase> = vec![
            (
                "no owners: never collected",
                vec![],
                none.clone(),
                false,
                false,
                DependentAction::Keep,
            ),
            (
                "owner present: kept",
                owners(&[Present]),
                none.clone(),
                false,
                false,
                DependentAction::Keep,
            ),
            (
                "owner gone: background delete",
                owners(&[Absent]),
                none.clone(),
                false,
                false,
                DependentAction::Delete(PropagationPolicy::Background),
            ),
            (
                "owner gone, item has orphan finalizer: orphan delete",
                owners(&[Absent]),
                orphan,
                false,
                false,
                DependentAction::Delete(PropagationPolicy::Orphan),
            ),
            (
                "owner gone, item has foreground finalizer: foreground delete",
                owners(&[Absent]),
                fg.clone(),
                false,
                false,
                DependentAction::Delete(PropagationPolicy::Foreground),
            ),
            (
                "one owner gone, one present: strip the gone one",
                owners(&[Absent, Present]),
                none.clone(),
                false,
                false,
                DependentAction::RemoveOwners(vec!["u0".into()]),
            ),
            (
                "waiting owner and a present one: strip the waiting one",
                owners(&[WaitingForDependents, Present]),
                none.clone(),
                false,
                false,
                DependentAction::RemoveOwners(vec!["u0".into()]),
            ),
            (
                "owner waiting: background delete",
                owners(&[WaitingForDependents]),
                none.clone(),
                false,
                false,
                DependentAction::Delete(PropagationPolicy::Background),
            ),
            (
                "owner waiting and item owns things: foreground delete",
                owners(&[WaitingForDependents]),
                none.clone(),
                false,
                true,
                DependentAction::Delete(PropagationPolicy::Foreground),
            ),
            (
                "item already being deleted: left alone",
                owners(&[Absent]),
                none.clone(),
                true,
                false,
                DependentAction::Keep,
            ),
            (
                "item in foreground deletion: not deleted again",
                owners(&[Absent]),
                fg,
                true,
                false,
                DependentAction::Keep,
            ),
        ];
        for (name, owners, finalizers, deleting, has_deps, want) in cases {
            assert_eq!(
                decide_dependent(&owners, &finalizers, deleting, has_deps),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn decide_owner_handles_orphan_and_foreground() {
        let orphan = vec![ORPHAN_FINALIZER.to_owned()];
        let fg = vec![
            FOREGROUND_DELETION_FINALIZER.to_owned(),
            "example.com/other".to_owned(),
        ];
        let cases = [
            (
                "not deleting",
                orphan.clone(),
                false,
                3,
                3,
                OwnerAction::Wait,
            ),
            (
                "orphan with dependents",
                orphan.clone(),
                true,
                2,
                2,
                OwnerAction::OrphanDependents,
            ),
            (
                "orphan done",
                orphan,
                true,
                0,
                0,
                OwnerAction::RemoveFinalizer(ORPHAN_FINALIZER),
            ),
            (
                "foreground with blockers",
                fg.clone(),
                true,
                2,
                1,
                OwnerAction::DeleteDependents,
            ),
            (
                "foreground with only non-blocking dependents",
                fg.clone(),
                true,
                2,
                0,
                OwnerAction::RemoveFinalizer(FOREGROUND_DELETION_FINALIZER),
            ),
            (
                "foreground done",
                fg,
                true,
                0,
                0,
                OwnerAction::RemoveFinalizer(FOREGROUND_DELETION_FINALIZER),
            ),
            (
                "deleting with foreign finalizers only",
                vec!["example.com/x".to_owned()],
                true,
                1,
                1,
                OwnerAction::Wait,
            ),
        ];
        for (name, finalizers, deleting, deps, blocking, want) in cases {
            assert_eq!(
                decide_owner(&finalizers, deleting, deps, blocking),
                want,
                "{name}"
            );
        }
    }
}
