//! One sync of one DaemonSet: snapshot the cache, ask the engine for a [`Plan`], apply it.
//!
//! Order (spec 3.5-3.9): events the engine decided on; on a halt nothing else. Then
//! ownership changes (a live GET of the DaemonSet guards adoption), revision writes (a
//! failed create aborts the sync), pod relabels, pod deletes in parallel alongside creates in
//! slow-start batches, and finally the status write with one retry on conflict.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use everynode_daemonset::{
    EventType, FailedPodBackoff, ObjectRef, Observed, Plan, PlanMemo, PodCreate, PodDelete,
    RevisionWrite,
};
use everynode_model::Timestamp;
use everynode_model::pod::controller_ref;
use everynode_model::wellknown::CONTROLLER_REVISION_HASH_LABEL;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::PartialObjectMeta;
use kube::{Api, Resource};
use serde_json::json;

use crate::cache::{Cache, split_key};
use crate::events::{EventRecorder, Involved};
use crate::expectations::Expectations;
use crate::metrics::Metrics;

/// Upstream's `BurstReplicas`: creates, and separately deletes, issued per sync at most.
pub const BURST_REPLICAS: usize = 250;
/// Upstream's `SlowStartInitialBatchSize`.
pub const SLOW_START_INITIAL_BATCH: usize = 1;

/// Why a sync failed (the key is requeued with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Adopting or releasing pods or revisions failed; nothing else was done.
    #[error("claiming objects for {key}: {message}")]
    Claim {
        /// The DaemonSet.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// A revision write failed.
    #[error("revision {name}: {message}")]
    Revision {
        /// The revision.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The new revision's name is taken by a different revision; `collisionCount` was
    /// bumped so the next sync hashes differently.
    #[error("hash collision for revision {0}")]
    HashCollision(String),
    /// Some pod creates, deletes or relabels failed.
    #[error("{failed} pod operation(s) failed for {key}; first: {first}")]
    Pods {
        /// The DaemonSet.
        key: String,
        /// How many failed.
        failed: usize,
        /// The first error.
        first: String,
    },
    /// The status write failed (after one conflict retry).
    #[error("updating status of {key}: {message}")]
    Status {
        /// The DaemonSet.
        key: String,
        /// What went wrong.
        message: String,
    },
}

/// What a sync asks of the queue.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    /// Sync again after this long (failed-pod backoff, minReadySeconds), error or not.
    pub requeue_after: Option<Duration>,
    /// Set when the sync failed: requeue with backoff.
    pub error: Option<SyncError>,
}

/// Everything a sync needs, shared by all workers.
pub struct Syncer {
    client: kube::Client,
    cache: Arc<RwLock<Cache>>,
    expectations: Arc<Expectations>,
    events: EventRecorder,
    metrics: Arc<Metrics>,
    backoff: Mutex<HashMap<String, FailedPodBackoff>>,
    /// Per DaemonSet, what earlier plans read of its pods (see `PlanMemo`).
    memos: Mutex<HashMap<String, PlanMemo>>,
    status_writes: Mutex<HashMap<String, OwnStatusWrites>>,
}

/// The DaemonSet as our own status writes left it, for a cache that has not caught up.
///
/// Every status write bumps the resourceVersion; the next sync usually starts before the
/// watch has delivered that new version, so writing from the cached object would fail with
/// a conflict and cost a GET and a second write on the rolling update's critical path. When
/// the cached version is one this chain knows (the version our writes started from, or one
/// they produced), nothing but our own status writes happened since, so the object our
/// last write returned is exactly what an up-to-date cache would hold.
#[derive(Debug, Clone)]
struct OwnStatusWrites {
    /// resourceVersions from the base of the chain to `latest`, oldest first.
    versions: Vec<String>,
    /// The object our last successful status write returned.
    latest: DaemonSet,
}

impl OwnStatusWrites {
    /// Longest chain kept; a cache that lags further than this gets the conflict path.
    const MAX_VERSIONS: usize = 64;

    /// `latest` when `cached` is a version this chain knows, else `None`.
    fn current_for(&mut self, cached: &DaemonSet) -> Option<&DaemonSet> {
        if cached.metadata.uid != self.latest.metadata.uid {
            return None;
        }
        let rv = cached.metadata.resource_version.as_ref()?;
        let at = self.versions.iter().position(|v| v == rv)?;
        // Versions older than the cache's are never asked about again.
        self.versions.drain(..at);
        Some(&self.latest)
    }

    /// Records that a write based on `base_rv` produced `written`.
    fn record(chain: Option<Self>, base_rv: Option<&str>, written: DaemonSet) -> Option<Self> {
        let new_rv = written.metadata.resource_version.clone()?;
        let base_rv = base_rv?.to_string();
        let mut versions = match chain {
            Some(c) if c.versions.last() == Some(&base_rv) => c.versions,
            _ => vec![base_rv],
        };
        versions.push(new_rv);
        if versions.len() > Self::MAX_VERSIONS {
            let excess = versions.len() - Self::MAX_VERSIONS;
            versions.drain(..excess);
        }
        Some(OwnStatusWrites {
            versions,
            latest: written,
        })
    }
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer").finish_non_exhaustive()
    }
}

/// The message of an API error as upstream's `err.Error()` prints it.
fn error_text(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        other => other.to_string(),
    }
}

fn is_code(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

fn is_namespace_terminating(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.details.as_ref().is_some_and(|d| {
        d.causes.iter().any(|c| c.reason == "NamespaceTerminating")
    }))
}

/// Sizes of the slow-start batches for `total` calls: 1, 2, 4, ... with the last one cut
/// to what is left.
pub fn slow_start_batches(total: usize, initial: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut remaining = total;
    let mut size = initial.max(1);
    while remaining > 0 {
        let batch = size.min(remaining);
        out.push(batch);
        remaining -= batch;
        size = size.saturating_mul(2);
    }
    out
}

/// Result of [`slow_start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowStartOutcome {
    /// Calls that succeeded.
    pub succeeded: usize,
    /// Calls that failed.
    pub failed: usize,
    /// Calls never issued because an earlier batch had a failure.
    pub skipped: usize,
}

/// Runs `call(i)` for every index in `0..total` in slow-start batches (parallel within a
/// batch), stopping after the first batch that had a failure (`call` returned false).
pub async fn slow_start<F, Fut>(total: usize, initial: usize, call: F) -> SlowStartOutcome
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut out = SlowStartOutcome {
        succeeded: 0,
        failed: 0,
        skipped: 0,
    };
    let mut start = 0;
    for size in slow_start_batches(total, initial) {
        let results = join_all((start..start + size).map(&call)).await;
        start += size;
        let ok = results.iter().filter(|r| **r).count();
        out.succeeded += ok;
        out.failed += size - ok;
        if ok < size {
            out.skipped = total - start;
            break;
        }
    }
    out
}

/// The status to write: the engine's counters and observedGeneration over what the server
/// holds (collisionCount and conditions are not the engine's to change).
pub fn merge_status(base: Option<&DaemonSetStatus>, computed: &DaemonSetStatus) -> DaemonSetStatus {
    let mut out = base.cloned().unwrap_or_default();
    out.desired_number_scheduled = computed.desired_number_scheduled;
    out.current_number_scheduled = computed.current_number_scheduled;
    out.number_misscheduled = computed.number_misscheduled;
    out.number_ready = computed.number_ready;
    out.number_available = computed.number_available;
    out.number_unavailable = computed.number_unavailable;
    out.updated_number_scheduled = computed.updated_number_scheduled;
    out.observed_generation = computed.observed_generation;
    out
}

/// kube's request builder for pods in `namespace`.
fn pod_requests(namespace: &str) -> kube::core::Request {
    kube::core::Request::new(Pod::url_path(&(), Some(namespace)))
}

fn our_owner_ref(ds: &DaemonSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_string(),
        kind: "DaemonSet".to_string(),
        name: ds.metadata.name.clone().unwrap_or_default(),
        uid: ds.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// How long a sync waits for its predecessor's creates and deletes to show in the cache
/// before it settles for a status-only sync.
pub const SETTLE: Duration = Duration::from_millis(20);

impl Syncer {
    /// A syncer over shared state.
    pub fn new(
        client: kube::Client,
        cache: Arc<RwLock<Cache>>,
        expectations: Arc<Expectations>,
        events: EventRecorder,
        metrics: Arc<Metrics>,
    ) -> Self {
        Syncer {
            client,
            cache,
            expectations,
            events,
            metrics,
            backoff: Mutex::new(HashMap::new()),
            memos: Mutex::new(HashMap::new()),
            status_writes: Mutex::new(HashMap::new()),
        }
    }

    fn status_writes_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OwnStatusWrites>> {
        self.status_writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn backoff_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, FailedPodBackoff>> {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn memos_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PlanMemo>> {
        self.memos.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Syncs the DaemonSet `namespace/name` once.
    pub async fn sync(&self, key: &str) -> SyncOutcome {
        // Expectations first, then the cache (upstream's order): an observed create or delete
        // is in the cache before it lowers the expectations, so a snapshot taken after reading
        // "satisfied" holds every pod that made them so. Snapshot first, and a creation seen
        // in between would satisfy the expectations while the snapshot still lacks the pod:
        // its node would get a second one.
        // The previous sync's calls have all returned, so the watch events that satisfy its
        // expectations are usually a few milliseconds behind. Waiting that long instead of
        // planning a status-only sync right away keeps a whole plan (and a status write)
        // off the path from one rollout step to the next; the result is what that sync and
        // the next one would have decided.
        let satisfied = self.expectations.wait_satisfied(key, SETTLE).await;
        let snapshot = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            cache.snapshot(key)
        };
        let Some(snap) = snapshot else {
            // Deleted: forget everything we kept for it.
            self.expectations.delete(key);
            self.backoff_lock().remove(key);
            self.memos_lock().remove(key);
            self.status_writes_lock().remove(key);
            return SyncOutcome::default();
        };
        let observed = Observed {
            daemonset: snap.daemonset.clone(),
            nodes: snap.nodes,
            pods: snap.pods,
            revisions: snap.revisions,
            expectations_satisfied: satisfied,
            backoff: self.backoff_lock().get(key).cloned().unwrap_or_default(),
        };
        let planning = std::time::Instant::now();
        // A plan can take milliseconds of CPU at thousands of nodes (the first one reads every
        // node and pod; later ones, through the memo, what changed). On the blocking pool it
        // never holds up an async worker, which the API server, the watches and the rest of
        // the plane share (a rollout step waits on all of them). One sync per DaemonSet runs
        // at a time, so the memo is taken out for the plan and put back after it; a sync that
        // never returns it just starts the next from scratch.
        let mut memo = self.memos_lock().remove(key).unwrap_or_default();
        let plan = match tokio::task::spawn_blocking(move || {
            let plan = everynode_daemonset::plan_with_memo(&observed, Timestamp::now(), &mut memo);
            (plan, memo)
        })
        .await
        {
            Ok((plan, memo)) => {
                self.memos_lock().insert(key.to_string(), memo);
                plan
            }
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            // Only a runtime shutting down cancels blocking work; nothing is left to do.
            Err(_) => return SyncOutcome::default(),
        };
        tracing::debug!(target: "everynode::timeline", ds = key, satisfied, plan_us = planning.elapsed().as_micros() as u64, creates = plan.pod_creates.len(), deletes = plan.pod_deletes.len(), status = plan.status.is_some(), "sync planned");
        self.backoff_lock()
            .insert(key.to_string(), plan.backoff.clone());
        let ds = snap.daemonset;
        let error = self.apply(key, &ds, &plan, satisfied).await.err();
        SyncOutcome {
            requeue_after: plan.requeue_after,
            error,
        }
    }

    fn involved(ds: &DaemonSet) -> Involved {
        Involved {
            namespace: ds.metadata.namespace.clone().unwrap_or_default(),
            name: ds.metadata.name.clone().unwrap_or_default(),
            uid: ds.metadata.uid.clone().unwrap_or_default(),
        }
    }

    /// Applies a plan; `satisfied` tells whether the engine was allowed to manage pods.
    pub async fn apply(
        &self,
        key: &str,
        ds: &DaemonSet,
        plan: &Plan,
        satisfied: bool,
    ) -> Result<(), SyncError> {
        let involved = Self::involved(ds);
        for ev in &plan.events {
            self.events
                .record(&involved, ev.event_type, &ev.reason, &ev.message);
        }
        if plan.halt.is_some() {
            return Ok(());
        }
        self.apply_claims(key, ds, plan).await?;
        self.apply_revisions(ds, plan).await?;

        let mut failures: Vec<String> = Vec::new();
        failures.extend(self.apply_relabels(ds, plan).await);
        let pod_calls = async {
            if !satisfied {
                return Vec::new();
            }
            let creates = &plan.pod_creates[..plan.pod_creates.len().min(BURST_REPLICAS)];
            let deletes = &plan.pod_deletes[..plan.pod_deletes.len().min(BURST_REPLICAS)];
            // Set before any call goes out, so a watch event racing the response is counted.
            self.expectations.expect(key, creates.len(), deletes.len());
            let (mut c, d) = futures::join!(
                self.create_pods(key, &involved, creates),
                self.delete_pods(key, &involved, deletes)
            );
            c.extend(d);
            tracing::debug!(target: "everynode::timeline", ds = key, creates = creates.len(), deletes = deletes.len(), "sync pod calls done");
            c
        };
        // The status is computed from the same snapshot the pod calls were planned on, so it
        // does not depend on their outcome: writing it alongside them keeps its round trip
        // off the path to the next sync (which a rolling update step waits for).
        let status_write = async {
            match &plan.status {
                Some(st) => self.write_status(key, ds, st).await.err(),
                None => None,
            }
        };
        let (pod_failures, status) = futures::join!(pod_calls, status_write);
        failures.extend(pod_failures);
        tracing::debug!(target: "everynode::timeline", ds = key, "sync done");
        if let Some(first) = failures.first() {
            return Err(SyncError::Pods {
                key: key.to_string(),
                failed: failures.len(),
                first: first.clone(),
            });
        }
        match status {
            Some(message) => Err(SyncError::Status {
                key: key.to_string(),
                message,
            }),
            None => Ok(()),
        }
    }

    async fn apply_claims(&self, key: &str, ds: &DaemonSet, plan: &Plan) -> Result<(), SyncError> {
        let claim_err = |message: String| SyncError::Claim {
            key: key.to_string(),
            message,
        };
        let (ns, name) = split_key(key);
        if !plan.adopt_pods.is_empty() || !plan.adopt_revisions.is_empty() {
            // The cache may be stale: adopt only for the DaemonSet that really exists now.
            let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
            self.metrics.api_call();
            let live = api
                .get_opt(name)
                .await
                .map_err(|e| claim_err(error_text(&e)))?;
            let live = live.ok_or_else(|| claim_err("DaemonSet no longer exists".to_string()))?;
            if live.metadata.deletion_timestamp.is_some() {
                return Err(claim_err("DaemonSet is being deleted".to_string()));
            }
            if live.metadata.uid != ds.metadata.uid {
                return Err(claim_err(format!(
                    "original DaemonSet is gone: got uid {:?}, wanted {:?}",
                    live.metadata.uid, ds.metadata.uid
                )));
            }
        }
        let ours = our_owner_ref(ds);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let revisions: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        self.patch_owners(
            &pods,
            "pod",
            &plan.adopt_pods,
            &plan.release_pods,
            &ours,
            |c, n| c.pod(ns, n).map(|p| p.metadata.clone()),
        )
        .await
        .map_err(claim_err)?;
        self.patch_owners(
            &revisions,
            "revision",
            &plan.adopt_revisions,
            &plan.release_revisions,
            &ours,
            |c, n| c.revision(ns, n).map(|r| r.metadata.clone()),
        )
        .await
        .map_err(claim_err)?;
        Ok(())
    }

    /// Adds (adopt) or removes (release) this DaemonSet's controller reference on pods or
    /// revisions, guarded by each object's uid; objects already gone are skipped. `cached_meta`
    /// reads the object's current metadata from the cache.
    async fn patch_owners<K>(
        &self,
        api: &Api<K>,
        what: &str,
        adopt: &[ObjectRef],
        release: &[ObjectRef],
        ours: &OwnerReference,
        cached_meta: impl Fn(&Cache, &str) -> Option<ObjectMeta>,
    ) -> Result<(), String>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let targets = adopt
            .iter()
            .map(|t| (t, true))
            .chain(release.iter().map(|t| (t, false)));
        for (target, adopting) in targets {
            let cached = {
                let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
                cached_meta(&cache, &target.name)
            };
            let Some(meta) = cached else { continue };
            let patch = owner_patch(&meta, &target.uid, ours, adopting);
            self.metrics.api_call();
            match api
                .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_code(&e, 404) => {}
                Err(e) => return Err(format!("{what} {}: {}", target.name, error_text(&e))),
            }
        }
        Ok(())
    }

    async fn apply_revisions(&self, ds: &DaemonSet, plan: &Plan) -> Result<(), SyncError> {
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &ns);
        let rev_err = |name: &str, e: &kube::Error| SyncError::Revision {
            name: name.to_string(),
            message: error_text(e),
        };
        for write in &plan.revision_writes {
            match write {
                RevisionWrite::Create(cr) => {
                    let name = cr.metadata.name.clone().unwrap_or_default();
                    self.metrics.api_call();
                    match api.create(&PostParams::default(), cr).await {
                        Ok(_) => {}
                        Err(e) if is_code(&e, 409) => {
                            self.metrics.api_call();
                            let existing = api.get(&name).await.map_err(|e| rev_err(&name, &e))?;
                            let owned = controller_ref(&existing.metadata)
                                .is_some_and(|r| Some(&r.uid) == ds.metadata.uid.as_ref());
                            if owned && everynode_daemonset::revision_matches(&existing, ds) {
                                continue;
                            }
                            self.bump_collision_count(ds)
                                .await
                                .map_err(|e| rev_err(&name, &e))?;
                            return Err(SyncError::HashCollision(name));
                        }
                        Err(e) => return Err(rev_err(&name, &e)),
                    }
                }
                RevisionWrite::AddHashLabel { target, hash } => {
                    let patch = json!({"metadata": {
                        "uid": target.uid,
                        "labels": {CONTROLLER_REVISION_HASH_LABEL: hash},
                    }});
                    self.metrics.api_call();
                    if let Err(e) = api
                        .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        return Err(rev_err(&target.name, &e));
                    }
                }
                RevisionWrite::Renumber { target, revision } => {
                    let patch = json!({"metadata": {"uid": target.uid}, "revision": revision});
                    self.metrics.api_call();
                    if let Err(e) = api
                        .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        return Err(rev_err(&target.name, &e));
                    }
                }
                RevisionWrite::Delete(target) => {
                    let dp = DeleteParams {
                        preconditions: Some(Preconditions {
                            uid: Some(target.uid.clone()),
                            resource_version: None,
                        }),
                        ..DeleteParams::default()
                    };
                    self.metrics.api_call();
                    match api.delete(&target.name, &dp).await {
                        Ok(_) => {}
                        // Gone already, or the name now belongs to another object.
                        Err(e) if is_code(&e, 404) || is_code(&e, 409) => {}
                        Err(e) => return Err(rev_err(&target.name, &e)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Upstream: live GET, `collisionCount` nil → 1 else +1, UpdateStatus.
    async fn bump_collision_count(&self, ds: &DaemonSet) -> Result<(), kube::Error> {
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let name = ds.metadata.name.clone().unwrap_or_default();
        let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), &ns);
        self.metrics.api_call();
        let mut live = api.get(&name).await?;
        let status = live.status.get_or_insert_with(DaemonSetStatus::default);
        status.collision_count = Some(status.collision_count.map_or(1, |c| c.saturating_add(1)));
        self.metrics.api_call();
        api.replace_status(&name, &PostParams::default(), &live)
            .await?;
        Ok(())
    }

    async fn apply_relabels(&self, ds: &DaemonSet, plan: &Plan) -> Vec<String> {
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let calls = plan.pod_relabels.iter().map(|r| {
            let api = api.clone();
            async move {
                let patch = json!({"metadata": {
                    "uid": r.target.uid,
                    "labels": {CONTROLLER_REVISION_HASH_LABEL: r.hash},
                }});
                self.metrics.api_call();
                match api
                    .patch(
                        &r.target.name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(_) => None,
                    Err(e) if is_code(&e, 404) => None,
                    Err(e) => Some(format!("relabel pod {}: {}", r.target.name, error_text(&e))),
                }
            }
        });
        join_all(calls).await.into_iter().flatten().collect()
    }

    async fn create_pods(
        &self,
        key: &str,
        involved: &Involved,
        creates: &[PodCreate],
    ) -> Vec<String> {
        if creates.is_empty() {
            return Vec::new();
        }
        let errors = Mutex::new(Vec::new());
        let outcome = slow_start(creates.len(), SLOW_START_INITIAL_BATCH, |i| {
            let errors = &errors;
            let c = &creates[i];
            async move {
                self.metrics.api_call();
                match self.create_pod(&involved.namespace, &c.pod).await {
                    Ok(name) => {
                        self.metrics.pod_created();
                        self.events.record(
                            involved,
                            EventType::Normal,
                            "SuccessfulCreate",
                            &format!("Created pod: {name}"),
                        );
                        true
                    }
                    Err(e) => {
                        // The watch will never show this pod.
                        self.expectations.creation_observed(key);
                        if is_namespace_terminating(&e) {
                            // Every further create would fail the same way; not an error.
                            return false;
                        }
                        let text = error_text(&e);
                        self.events.record(
                            involved,
                            EventType::Warning,
                            "FailedCreate",
                            &format!("Error creating: {text}"),
                        );
                        tracing::warn!(ds = key, node = %c.node_name, error = %text, "creating daemon pod failed");
                        errors.lock().unwrap_or_else(|e| e.into_inner()).push(text);
                        false
                    }
                }
            }
        })
        .await;
        if outcome.skipped > 0 {
            tracing::debug!(
                ds = key,
                skipped = outcome.skipped,
                "slow start stopped after a failed batch"
            );
            self.expectations.lower(key, outcome.skipped, 0);
        }
        errors.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    async fn delete_pods(
        &self,
        key: &str,
        involved: &Involved,
        deletes: &[PodDelete],
    ) -> Vec<String> {
        let calls = deletes.iter().map(|d| {
            async move {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(d.target.uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                self.metrics.api_call();
                match self
                    .delete_pod(&involved.namespace, &d.target.name, &dp)
                    .await
                {
                    Ok(_) => {
                        self.metrics.pod_deleted();
                        self.events.record(
                            involved,
                            EventType::Normal,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", d.target.name),
                        );
                        None
                    }
                    // Already gone (404), or the name now belongs to another pod (uid
                    // precondition, 409): either way ours is gone and no event follows.
                    Err(e) if is_code(&e, 404) || is_code(&e, 409) => {
                        self.expectations.deletion_observed(key);
                        None
                    }
                    Err(e) => {
                        self.expectations.deletion_observed(key);
                        let text = error_text(&e);
                        self.events.record(
                            involved,
                            EventType::Warning,
                            "FailedDelete",
                            &format!("Error deleting: {text}"),
                        );
                        Some(text)
                    }
                }
            }
        });
        join_all(calls).await.into_iter().flatten().collect()
    }

    /// Creates `pod` and answers the name the server gave it. Only the answer's metadata is
    /// decoded: the watch delivers the whole pod anyway, and a slow-start round waits for
    /// every answer in it.
    async fn create_pod(&self, namespace: &str, pod: &Pod) -> Result<String, kube::Error> {
        let body = serde_json::to_vec(pod).map_err(kube::Error::SerdeError)?;
        let request = pod_requests(namespace)
            .create(&PostParams::default(), body)
            .map_err(kube::Error::BuildRequest)?;
        let created: PartialObjectMeta<Pod> = self.client.request(request).await?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    /// Deletes the pod `name`, reading only whether that worked (the answer is the whole pod,
    /// which the watch delivers anyway).
    async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        params: &DeleteParams,
    ) -> Result<(), kube::Error> {
        let request = pod_requests(namespace)
            .delete(name, params)
            .map_err(kube::Error::BuildRequest)?;
        self.client.request_text(request).await.map(|_| ())
    }

    /// UpdateStatus with the engine's counters; on conflict re-GET and retry once.
    async fn write_status(
        &self,
        key: &str,
        ds: &DaemonSet,
        computed: &DaemonSetStatus,
    ) -> Result<(), String> {
        let (ns, name) = split_key(key);
        let api: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
        let mut chain = self.status_writes_lock().remove(key);
        let current = chain.as_mut().and_then(|c| c.current_for(ds).cloned());
        let from_own_write = current.is_some();
        let mut obj = current.unwrap_or_else(|| ds.clone());
        let merged = merge_status(obj.status.as_ref(), computed);
        if from_own_write && obj.status.as_ref() == Some(&merged) {
            // Our last write already says exactly this; the cache just has not seen it.
            if let Some(chain) = chain {
                self.status_writes_lock().insert(key.to_string(), chain);
            }
            return Ok(());
        }
        obj.status = Some(merged);
        let base_rv = obj.metadata.resource_version.clone();
        self.metrics.api_call();
        match api.replace_status(name, &PostParams::default(), &obj).await {
            Ok(written) => {
                self.remember_status_write(key, chain, base_rv.as_deref(), written);
                return Ok(());
            }
            Err(e) if is_code(&e, 409) => {}
            Err(e) if is_code(&e, 404) => return Ok(()),
            Err(e) => return Err(error_text(&e)),
        }
        self.metrics.api_call();
        let mut live = match api.get_opt(name).await {
            Ok(Some(live)) => live,
            Ok(None) => return Ok(()),
            Err(e) => return Err(error_text(&e)),
        };
        if live.metadata.uid != ds.metadata.uid {
            // Replaced by a new DaemonSet of the same name: its own sync writes its status.
            return Ok(());
        }
        live.status = Some(merge_status(live.status.as_ref(), computed));
        let base_rv = live.metadata.resource_version.clone();
        self.metrics.api_call();
        match api
            .replace_status(name, &PostParams::default(), &live)
            .await
        {
            Ok(written) => {
                self.remember_status_write(key, None, base_rv.as_deref(), written);
                Ok(())
            }
            Err(e) if is_code(&e, 404) => Ok(()),
            Err(e) => Err(error_text(&e)),
        }
    }

    fn remember_status_write(
        &self,
        key: &str,
        chain: Option<OwnStatusWrites>,
        base_rv: Option<&str>,
        written: DaemonSet,
    ) {
        let mut writes = self.status_writes_lock();
        match OwnStatusWrites::record(chain, base_rv, written) {
            Some(chain) => writes.insert(key.to_string(), chain),
            None => writes.remove(key),
        };
    }
}

/// A merge patch setting the ownerReferences with this DaemonSet's controller reference
/// added (`adopt`) or removed, guarded by the object's UID and resourceVersion so it applies
/// only to the object the decision was made on.
fn owner_patch(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    uid: &str,
    ours: &OwnerReference,
    adopt: bool,
) -> serde_json::Value {
    let mut refs: Vec<OwnerReference> = meta
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != ours.uid)
        .collect();
    if adopt {
        refs.push(ours.clone());
    }
    json!({"metadata": {
        "uid": uid,
        "resourceVersion": meta.resource_version,
        "ownerReferences": refs,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn slow_start_batches_double_from_one_and_cut_the_last() {
        let table: [(usize, &[usize]); 7] = [
            (0, &[]),
            (1, &[1]),
            (2, &[1, 1]),
            (3, &[1, 2]),
            (7, &[1, 2, 4]),
            (10, &[1, 2, 4, 3]),
            (250, &[1, 2, 4, 8, 16, 32, 64, 123]),
        ];
        for (total, want) in table {
            assert_eq!(slow_start_batches(total, 1), want, "total {total}");
        }
    }

    #[tokio::test]
    async fn slow_start_stops_after_the_batch_with_a_failure() {
        // (items, index that fails, succeeded, failed, skipped, calls made)
        let table = [
            (10usize, None, 10usize, 0usize, 0usize, 10usize),
            (10, Some(0), 0, 1, 9, 1),
            (10, Some(2), 2, 1, 7, 3),
            (10, Some(5), 6, 1, 3, 7),
            (250, Some(100), 126, 1, 123, 127),
        ];
        for (n, fail_at, ok, failed, skipped, calls) in table {
            let made = AtomicUsize::new(0);
            let out = slow_start(n, 1, |i| {
                made.fetch_add(1, Ordering::SeqCst);
                async move { Some(i) != fail_at }
            })
            .await;
            assert_eq!(
                out,
                SlowStartOutcome {
                    succeeded: ok,
                    failed,
                    skipped
                },
                "n={n} fail_at={fail_at:?}"
            );
            assert_eq!(
                made.load(Ordering::SeqCst),
                calls,
                "n={n} fail_at={fail_at:?}"
            );
        }
    }

    fn ds_at(uid: &str, rv: &str, available: i32) -> DaemonSet {
        DaemonSet {
            metadata: ObjectMeta {
                uid: Some(uid.into()),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            status: Some(DaemonSetStatus {
                number_available: Some(available),
                ..DaemonSetStatus::default()
            }),
            ..DaemonSet::default()
        }
    }

    #[test]
    fn own_status_writes_stand_in_only_for_a_cache_that_saw_nothing_else() {
        // Our writes went 10 -> 11 -> 12 (the last returned object has rv 12, available 7).
        let chain = || {
            let first = OwnStatusWrites::record(None, Some("10"), ds_at("u", "11", 5));
            OwnStatusWrites::record(first, Some("11"), ds_at("u", "12", 7))
        };
        // (case, cached object, rv of the object to write from: None = the cached one)
        let table = [
            ("cache still at the base", ds_at("u", "10", 1), Some("12")),
            ("cache saw our first write", ds_at("u", "11", 5), Some("12")),
            ("cache caught up", ds_at("u", "12", 7), Some("12")),
            ("someone else wrote since", ds_at("u", "13", 7), None),
            ("an older version than the chain", ds_at("u", "9", 1), None),
            (
                "a new DaemonSet of the same name",
                ds_at("v", "10", 0),
                None,
            ),
        ];
        for (case, cached, want) in table {
            let mut c = chain().expect("chain");
            let got = c
                .current_for(&cached)
                .and_then(|d| d.metadata.resource_version.clone());
            assert_eq!(got.as_deref(), want, "{case}");
        }
    }

    #[test]
    fn own_status_writes_restart_from_a_base_they_do_not_know_and_stay_bounded() {
        let chain = OwnStatusWrites::record(None, Some("10"), ds_at("u", "11", 1));
        // A write based on a version outside the chain (after a conflict and a GET) starts a
        // new chain: the versions before it prove nothing any more.
        let restarted =
            OwnStatusWrites::record(chain, Some("20"), ds_at("u", "21", 2)).expect("chain");
        assert_eq!(restarted.versions, ["20", "21"]);
        assert!(
            OwnStatusWrites::record(None, None, ds_at("u", "1", 0)).is_none(),
            "no base version: nothing to stand in for"
        );
        let mut long = None;
        for rv in 0..200 {
            long = OwnStatusWrites::record(
                long,
                Some(&rv.to_string()),
                ds_at("u", &(rv + 1).to_string(), 0),
            );
        }
        let long = long.expect("chain");
        assert_eq!(long.versions.len(), OwnStatusWrites::MAX_VERSIONS);
        assert_eq!(long.versions.last().map(String::as_str), Some("200"));
    }

    #[test]
    fn merged_status_keeps_collision_count_and_conditions_from_the_server() {
        let base = DaemonSetStatus {
            collision_count: Some(3),
            desired_number_scheduled: 1,
            ..DaemonSetStatus::default()
        };
        let computed = DaemonSetStatus {
            collision_count: None,
            desired_number_scheduled: 5,
            current_number_scheduled: 4,
            number_ready: 3,
            number_available: Some(2),
            number_unavailable: Some(3),
            updated_number_scheduled: Some(4),
            number_misscheduled: 1,
            observed_generation: Some(7),
            ..DaemonSetStatus::default()
        };
        let merged = merge_status(Some(&base), &computed);
        assert_eq!(merged.collision_count, Some(3));
        assert_eq!(
            (
                merged.desired_number_scheduled,
                merged.current_number_scheduled,
                merged.number_ready
            ),
            (5, 4, 3)
        );
        assert_eq!(
            (merged.number_available, merged.number_unavailable),
            (Some(2), Some(3))
        );
        assert_eq!(
            (merged.updated_number_scheduled, merged.number_misscheduled),
            (Some(4), 1)
        );
        assert_eq!(merged.observed_generation, Some(7));
    }

    #[test]
    fn owner_patch_adds_or_removes_only_our_reference() {
        let ours = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "DaemonSet".into(),
            name: "ds".into(),
            uid: "ds-uid".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let other = OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "cm".into(),
            uid: "cm-uid".into(),
            controller: None,
            block_owner_deletion: None,
        };
        let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            owner_references: Some(vec![other.clone()]),
            resource_version: Some("42".into()),
            ..Default::default()
        };
        let adopt = owner_patch(&meta, "pod-uid", &ours, true);
        assert_eq!(adopt["metadata"]["uid"], "pod-uid");
        assert_eq!(adopt["metadata"]["resourceVersion"], "42");
        let refs = adopt["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1]["uid"], "ds-uid");
        assert_eq!(refs[1]["controller"], true);
        let owned = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            owner_references: Some(vec![other, ours.clone()]),
            ..meta
        };
        let release = owner_patch(&owned, "pod-uid", &ours, false);
        let refs = release["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0]["uid"], "cm-uid");
    }
}
