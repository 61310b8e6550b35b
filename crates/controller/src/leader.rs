//! Leader election on a `coordination.k8s.io/v1` Lease, following client-go's
//! `leaderelection` timing model with a version-checked replace.
//!
//! Safety argument: a candidate only takes over a lease after it has seen the same record,
//! unchanged, for the lease duration, measured on its own clock from when it first saw that
//! record. The leader steps down when it has not renewed for `renew_deadline`
//! (< lease duration), so it stops acting before anyone else may start. Every write is a
//! replace guarded by `resourceVersion`: two candidates racing for one record cannot both win.
//!
//! The Lease IO sits behind [`LeaseClient`] so the state machine is testable without a server.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

use crate::LeaderElectionConfig;

/// Why a Lease call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The replace's resourceVersion precondition failed: someone else wrote the Lease.
    #[error("lease was modified concurrently")]
    Conflict,
    /// The create raced with another candidate's create.
    #[error("lease already exists")]
    AlreadyExists,
    /// Any other failure (network, server error); retried until the renew deadline.
    #[error("lease request failed: {0}")]
    Api(String),
}

/// The three Lease calls the elector needs.
pub trait LeaseClient: Send + Sync {
    /// Reads the Lease; `Ok(None)` when it does not exist.
    fn get(&self) -> impl Future<Output = Result<Option<Lease>, LeaseError>> + Send;
    /// Creates the Lease.
    fn create(&self, lease: Lease) -> impl Future<Output = Result<Lease, LeaseError>> + Send;
    /// Replaces the Lease; must fail with [`LeaseError::Conflict`] when
    /// `metadata.resourceVersion` is not the stored one.
    fn replace(&self, lease: Lease) -> impl Future<Output = Result<Lease, LeaseError>> + Send;
}

/// [`LeaseClient`] over the Kubernetes API.
#[derive(Clone)]
pub struct KubeLeaseClient {
    api: Api<Lease>,
    name: String,
}

impl KubeLeaseClient {
    /// A client for the Lease `namespace/name`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        KubeLeaseClient {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
        }
    }
}

fn classify(err: kube::Error) -> LeaseError {
    match &err {
        kube::Error::Api(status) if status.code == 409 && status.reason == "AlreadyExists" => {
            LeaseError::AlreadyExists
        }
        kube::Error::Api(status) if status.code == 409 => LeaseError::Conflict,
        _ => LeaseError::Api(err.to_string()),
    }
}

impl LeaseClient for KubeLeaseClient {
    async fn get(&self) -> Result<Option<Lease>, LeaseError> {
        self.api.get_opt(&self.name).await.map_err(classify)
    }

    async fn create(&self, lease: Lease) -> Result<Lease, LeaseError> {
        self.api
            .create(&PostParams::default(), &lease)
            .await
            .map_err(classify)
    }

    async fn replace(&self, lease: Lease) -> Result<Lease, LeaseError> {
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(classify)
    }
}

/// The record fields whose change restarts the expiry clock.
#[derive(Debug, Clone, PartialEq)]
struct ObservedRecord {
    holder: Option<String>,
    lease_duration_seconds: Option<i32>,
    acquire_time: Option<MicroTime>,
    renew_time: Option<MicroTime>,
    transitions: Option<i32>,
}

impl ObservedRecord {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        ObservedRecord {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            lease_duration_seconds: spec.lease_duration_seconds,
            acquire_time: spec.acquire_time,
            renew_time: spec.renew_time,
            transitions: spec.lease_transitions,
        }
    }
}

/// A candidate for (and, once elected, the holder of) one Lease.
pub struct LeaderElector<L> {
    client: L,
    config: LeaderElectionConfig,
    /// The last Lease object read or written (its resourceVersion guards the next replace).
    lease: Option<Lease>,
    observed: Option<ObservedRecord>,
    observed_at: Instant,
    last_renew: Option<Instant>,
}

impl<L: LeaseClient> LeaderElector<L> {
    /// A candidate with no knowledge of the Lease yet.
    pub fn new(client: L, config: LeaderElectionConfig) -> Self {
        LeaderElector {
            client,
            config,
            lease: None,
            observed: None,
            observed_at: Instant::now(),
            last_renew: None,
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// True when the last attempt left this candidate holding the lease and the renew
    /// deadline has not passed since.
    pub fn is_leader(&self) -> bool {
        self.last_renew
            .is_some_and(|t| t.elapsed() < self.config.renew_deadline)
    }

    fn record(&self, now: MicroTime, previous: Option<&ObservedRecord>) -> LeaseSpec {
        let secs = i32::try_from(self.config.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let ours = previous.is_some_and(|p| p.holder.as_deref() == Some(self.identity()));
        let (acquire_time, transitions) = match previous {
            Some(p) if ours => (
                p.acquire_time.clone().unwrap_or(now.clone()),
                p.transitions.unwrap_or(0),
            ),
            Some(p) => (now.clone(), p.transitions.unwrap_or(0).saturating_add(1)),
            None => (now.clone(), 0),
        };
        LeaseSpec {
            holder_identity: Some(self.identity().to_string()),
            lease_duration_seconds: Some(secs),
            acquire_time: Some(acquire_time),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// How long the observed record stays valid for others: its own duration when set.
    fn observed_duration(&self) -> Duration {
        self.observed
            .as_ref()
            .and_then(|o| o.lease_duration_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map_or(self.config.lease_duration, Duration::from_secs)
    }

    fn observe(&mut self, lease: Lease) {
        let rec = ObservedRecord::of(&lease);
        if self.observed.as_ref() != Some(&rec) {
            self.observed = Some(rec);
            self.observed_at = Instant::now();
        }
        self.lease = Some(lease);
    }

    /// One client-go `tryAcquireOrRenew`: `Ok(true)` when this candidate holds the lease
    /// afterwards, `Ok(false)` when another holder's lease is still valid.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaseError> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let current = match self.client.get().await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.record(now, None)),
                };
                let created = self.client.create(lease).await?;
                self.observe(created);
                self.last_renew = Some(Instant::now());
                return Ok(true);
            }
            Some(lease) => lease,
        };
        self.observe(current.clone());
        let observed = self.observed.clone();
        let holder = observed.as_ref().and_then(|o| o.holder.clone());
        let ours = holder.as_deref() == Some(self.identity());
        if holder.is_some() && !ours && self.observed_at.elapsed() < self.observed_duration() {
            self.last_renew = None;
            return Ok(false);
        }
        let mut next = current;
        next.spec = Some(self.record(now, observed.as_ref()));
        let written = self.client.replace(next).await?;
        self.observe(written);
        self.last_renew = Some(Instant::now());
        Ok(true)
    }

    /// Retries every `retry_period` (with up to 20 % jitter) until this candidate leads.
    /// Cancel-safe: dropping it simply stops trying.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(identity = %self.identity(), "acquired leader lease");
                    return;
                }
                Ok(false) => {}
                Err(err) => tracing::debug!(%err, "leader lease acquisition attempt failed"),
            }
            let jitter = self
                .config
                .retry_period
                .mul_f64(rand::random::<f64>() * 0.2);
            tokio::time::sleep(self.config.retry_period + jitter).await;
        }
    }

    /// Renews every `retry_period` while leading; returns when leadership is lost: another
    /// holder, a conflicting write, or no successful renewal within `renew_deadline`.
    pub async fn hold(&mut self) {
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = match self.last_renew {
                Some(t) => t + self.config.renew_deadline,
                None => return,
            };
            loop {
                let attempt = tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await;
                match attempt {
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) | Ok(Err(LeaseError::Conflict)) => {
                        tracing::warn!(identity = %self.identity(), "leader lease taken over");
                        self.last_renew = None;
                        return;
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(%err, "leader lease renewal failed");
                        let retry_at = (Instant::now() + self.config.retry_period).min(deadline);
                        tokio::time::sleep_until(retry_at).await;
                        if Instant::now() >= deadline {
                            self.step_down();
                            return;
                        }
                    }
                    Err(_elapsed) => {
                        self.step_down();
                        return;
                    }
                }
            }
        }
    }

    fn step_down(&mut self) {
        tracing::warn!(identity = %self.identity(), "leader lease not renewed within the renew deadline");
        self.last_renew = None;
    }

    /// Gives the lease up (holder cleared, duration 1 s) so a standby takes over at once;
    /// does nothing unless this candidate holds it.
    pub async fn release(&mut self) -> Result<(), LeaseError> {
        if !self.is_leader() {
            return Ok(());
        }
        self.last_renew = None;
        let Some(mut lease) = self.lease.clone() else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity()) {
            return Ok(());
        }
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        let written = self.client.replace(lease).await?;
        self.observe(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An in-memory Lease store with resourceVersion checks and injectable failures.
    #[derive(Clone, Default)]
    struct FakeLeases {
        inner: Arc<Mutex<FakeState>>,
    }

    #[derive(Default)]
    struct FakeState {
        lease: Option<Lease>,
        rv: u64,
        fail_all: bool,
        writes_by: Vec<String>,
    }

    impl FakeLeases {
        fn holder(&self) -> Option<String> {
            let st = self.inner.lock().unwrap();
            st.lease
                .as_ref()
                .and_then(|l| l.spec.as_ref()?.holder_identity.clone())
        }
        fn spec(&self) -> LeaseSpec {
            let st = self.inner.lock().unwrap();
            st.lease
                .as_ref()
                .and_then(|l| l.spec.clone())
                .unwrap_or_default()
        }
        fn set_failing(&self, fail: bool) {
            self.inner.lock().unwrap().fail_all = fail;
        }
        /// Someone else overwrites the lease (as a competing writer would).
        fn steal(&self, holder: &str) {
            let mut st = self.inner.lock().unwrap();
            st.rv += 1;
            let rv = st.rv;
            if let Some(l) = st.lease.as_mut() {
                l.metadata.resource_version = Some(rv.to_string());
                if let Some(s) = l.spec.as_mut() {
                    s.holder_identity = Some(holder.to_string());
                }
            }
        }
    }

    impl LeaseClient for FakeLeases {
        async fn get(&self) -> Result<Option<Lease>, LeaseError> {
            let st = self.inner.lock().unwrap();
            if st.fail_all {
                return Err(LeaseError::Api("unavailable".into()));
            }
            Ok(st.lease.clone())
        }
        async fn create(&self, mut lease: Lease) -> Result<Lease, LeaseError> {
            let mut st = self.inner.lock().unwrap();
            if st.fail_all {
                return Err(LeaseError::Api("unavailable".into()));
            }
            if st.lease.is_some() {
                return Err(LeaseError::AlreadyExists);
            }
            st.rv += 1;
            lease.metadata.resource_version = Some(st.rv.to_string());
            let who = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            st.writes_by.push(who);
            st.lease = Some(lease.clone());
            Ok(lease)
        }
        async fn replace(&self, mut lease: Lease) -> Result<Lease, LeaseError> {
            let mut st = self.inner.lock().unwrap();
            if st.fail_all {
                return Err(LeaseError::Api("unavailable".into()));
            }
            let stored_rv = st
                .lease
                .as_ref()
                .and_then(|l| l.metadata.resource_version.clone());
            if stored_rv != lease.metadata.resource_version {
                return Err(LeaseError::Conflict);
            }
            st.rv += 1;
            lease.metadata.resource_version = Some(st.rv.to_string());
            let who = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            st.writes_by.push(who);
            st.lease = Some(lease.clone());
            Ok(lease)
        }
    }

    fn config(identity: &str) -> LeaderElectionConfig {
        LeaderElectionConfig {
            namespace: "kube-system".into(),
            name: "everynode-controller".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_absent_lease_is_created_and_held() {
        let leases = FakeLeases::default();
        let mut a = LeaderElector::new(leases.clone(), config("a"));
        assert_eq!(a.try_acquire_or_renew().await, Ok(true));
        assert!(a.is_leader());
        let spec = leases.spec();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_lease_held_by_another_is_not_taken_until_it_expires() {
        let leases = FakeLeases::default();
        let mut a = LeaderElector::new(leases.clone(), config("a"));
        let mut b = LeaderElector::new(leases.clone(), config("b"));
        assert_eq!(a.try_acquire_or_renew().await, Ok(true));
        // (time since b first saw a's record, b acquires?)
        let table = [(0u64, false), (5, false), (14, false), (16, true)];
        let mut elapsed = 0;
        for (at, want) in table {
            tokio::time::advance(Duration::from_secs(at - elapsed)).await;
            elapsed = at;
            assert_eq!(b.try_acquire_or_renew().await, Ok(want), "at {at}s");
        }
        assert_eq!(leases.holder().as_deref(), Some("b"));
        assert_eq!(leases.spec().lease_transitions, Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn renewing_keeps_acquire_time_and_transitions_and_resets_the_others_clock() {
        let leases = FakeLeases::default();
        let mut a = LeaderElector::new(leases.clone(), config("a"));
        let mut b = LeaderElector::new(leases.clone(), config("b"));
        assert_eq!(a.try_acquire_or_renew().await, Ok(true));
        let first = leases.spec();
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(2)).await;
            assert_eq!(a.try_acquire_or_renew().await, Ok(true));
            // b keeps seeing a changing record, so a's lease never expires for it.
            assert_eq!(b.try_acquire_or_renew().await, Ok(false));
        }
        let renewed = leases.spec();
        assert_eq!(renewed.acquire_time, first.acquire_time);
        assert_eq!(renewed.lease_transitions, Some(0));
        assert_ne!(renewed.renew_time, first.renew_time);
    }

    #[tokio::test(start_paused = true)]
    async fn a_conflicting_write_during_renewal_means_leadership_is_lost() {
        let leases = FakeLeases::default();
        let mut a = LeaderElector::new(leases.clone(), config("a"));
        assert_eq!(a.try_acquire_or_renew().await, Ok(true));
        leases.steal("intruder");
        let start = Instant::now();
        a.hold().await;
        assert!(!a.is_leader());
        // Lost at the first renewal, not after the renew deadline.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn failing_renewals_step_down_by_the_renew_deadline() {
        let leases = FakeLeases::default();
        let mut a = LeaderElector::new(leases.clone(), config("a"));
        assert_eq!(a.try_acquire_or_renew().await, Ok(true));
        leases.set_failing(true);
        let start = Instant::now();
        a.hold().await;
        assert!(!a.is_leader());
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // The step-down happens before any other candidate may take over (15 s).
        assert!(start.elapsed() < Duration::from_secs(15));
    }

    #[tokio::test(start_paused = true)]
    async fn released_lease_is_taken_over_within_a_second() {
        let leases = FakeLeases::default();
        let mut a = LeaderElector::new(leases.clone(), config("a"));
        let mut b = LeaderElector::new(leases.clone(), config("b"));
        assert_eq!(a.try_acquire_or_renew().await, Ok(true));
        assert_eq!(b.try_acquire_or_renew().await, Ok(false));
        assert_eq!(a.release().await, Ok(()));
        assert!(!a.is_leader());
        assert_eq!(leases.holder(), None);
        // An empty holder is free at once.
        assert_eq!(b.try_acquire_or_renew().await, Ok(true));
        assert_eq!(leases.holder().as_deref(), Some("b"));
    }

    #[tokio::test(start_paused = true)]
    async fn racing_candidates_never_both_lead_and_a_silent_leader_is_replaced() {
        let leases = FakeLeases::default();
        let mut electors: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|id| LeaderElector::new(leases.clone(), config(id)))
            .collect();
        let mut holders = Vec::new();
        for step in 0..120u32 {
            for e in electors.iter_mut() {
                // "a" goes silent for 30 s (a paused process), then comes back.
                if e.identity() == "a" && (20..50).contains(&step) {
                    continue;
                }
                let _ = e.try_acquire_or_renew().await;
            }
            let leaders: Vec<&str> = electors
                .iter()
                .filter(|e| e.is_leader())
                .map(|e| e.identity())
                .collect();
            assert!(leaders.len() <= 1, "step {step}: {leaders:?}");
            if let Some(h) = leases.holder()
                && holders.last() != Some(&h)
            {
                holders.push(h);
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(holders.first().map(String::as_str), Some("a"));
        assert!(
            holders.len() >= 2,
            "someone took over from the silent leader: {holders:?}"
        );
        assert_eq!(
            holders.iter().filter(|h| h.as_str() == "a").count(),
            1,
            "{holders:?}"
        );
    }
}
