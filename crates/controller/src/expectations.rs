//! Expectations: how many pod creates and deletes a DaemonSet's last sync issued that the
//! cache has not shown yet (upstream `ControllerExpectations`).
//!
//! Without them a sync running on a cache that lags our own writes would see a node without
//! its just-created pod and create a second one. A sync whose expectations are pending only
//! recomputes status. Counts are set before the calls go out, lowered by every observed
//! create/delete and by every call that failed or was skipped; a record older than the TTL
//! counts as satisfied so a lost watch event cannot wedge a DaemonSet forever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Upstream's expectations TTL.
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(5 * 60);

/// Pending creates and deletes per DaemonSet key (`namespace/name`).
#[derive(Debug)]
pub struct Expectations {
    ttl: Duration,
    records: Mutex<HashMap<String, Record>>,
    /// Woken whenever counts are lowered, for [`Expectations::wait_satisfied`].
    lowered: Notify,
}

/// One DaemonSet's pending counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Creates not yet observed.
    pub adds: i64,
    /// Deletes not yet observed.
    pub dels: i64,
    /// When the counts were set.
    pub set_at: Instant,
}

impl Default for Expectations {
    fn default() -> Self {
        Self::new()
    }
}

impl Expectations {
    /// Expectations with upstream's 5-minute TTL.
    pub fn new() -> Self {
        Self::with_ttl(EXPECTATIONS_TTL)
    }

    /// Expectations with a custom TTL.
    pub fn with_ttl(ttl: Duration) -> Self {
        Expectations {
            ttl,
            records: Mutex::new(HashMap::new()),
            lowered: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that a sync is about to issue `adds` creates and `dels` deletes (replacing any
    /// previous record, as upstream `SetExpectations` does).
    pub fn expect(&self, key: &str, adds: usize, dels: usize) {
        let rec = Record {
            adds: i64::try_from(adds).unwrap_or(i64::MAX),
            dels: i64::try_from(dels).unwrap_or(i64::MAX),
            set_at: Instant::now(),
        };
        self.lock().insert(key.to_string(), rec);
    }

    /// Lowers the pending counts (observed events, failed or skipped calls). Unknown keys are
    /// ignored: only a sync creates a record.
    pub fn lower(&self, key: &str, adds: usize, dels: usize) {
        if let Some(rec) = self.lock().get_mut(key) {
            rec.adds = rec
                .adds
                .saturating_sub(i64::try_from(adds).unwrap_or(i64::MAX));
            rec.dels = rec
                .dels
                .saturating_sub(i64::try_from(dels).unwrap_or(i64::MAX));
        }
        self.lowered.notify_waiters();
    }

    /// One pod of this DaemonSet was seen created (or a create call failed).
    pub fn creation_observed(&self, key: &str) {
        self.lower(key, 1, 0);
    }

    /// One pod of this DaemonSet was seen deleted (or a delete call failed or found nothing).
    pub fn deletion_observed(&self, key: &str) {
        self.lower(key, 0, 1);
    }

    /// True when a sync may act: no record, both counts at or below zero, or the record
    /// expired.
    pub fn satisfied(&self, key: &str) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(rec) => (rec.adds <= 0 && rec.dels <= 0) || rec.set_at.elapsed() > self.ttl,
        }
    }

    /// Like [`Expectations::satisfied`], but when the counts are still pending, waits up to
    /// `within` for observed events to satisfy them before answering.
    pub async fn wait_satisfied(&self, key: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            // Registered before the check, so a lowering between the two still wakes us.
            let lowered = self.lowered.notified();
            let mut lowered = std::pin::pin!(lowered);
            lowered.as_mut().enable();
            if self.satisfied(key) {
                return true;
            }
            if tokio::time::timeout_at(deadline, lowered).await.is_err() {
                return self.satisfied(key);
            }
        }
    }

    /// The current record, if any.
    pub fn get(&self, key: &str) -> Option<Record> {
        self.lock().get(key).copied()
    }

    /// Forgets the DaemonSet (deleted, or leadership lost).
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Forgets everything (leadership lost: calls in flight were abandoned).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn waiting_returns_as_soon_as_an_observed_event_satisfies_the_counts() {
        let e = Arc::new(Expectations::new());
        e.expect("ns/ds", 2, 0);
        let observer = {
            let e = e.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(3)).await;
                e.creation_observed("ns/ds");
                tokio::time::sleep(Duration::from_millis(3)).await;
                e.creation_observed("ns/ds");
            })
        };
        let start = Instant::now();
        assert!(e.wait_satisfied("ns/ds", Duration::from_millis(50)).await);
        assert_eq!(start.elapsed(), Duration::from_millis(6));
        observer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_gives_up_at_the_deadline_when_events_stay_missing() {
        let e = Expectations::new();
        e.expect("ns/ds", 1, 1);
        e.creation_observed("ns/ds");
        let start = Instant::now();
        assert!(!e.wait_satisfied("ns/ds", Duration::from_millis(20)).await);
        assert_eq!(start.elapsed(), Duration::from_millis(20));
        // Nothing pending: no wait at all.
        assert!(
            e.wait_satisfied("other/ds", Duration::from_millis(20))
                .await
        );
        assert_eq!(start.elapsed(), Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn satisfied_when_both_counts_reach_zero() {
        // (adds, dels, observed creates, observed deletes, satisfied)
        let table = [
            (0usize, 0usize, 0usize, 0usize, true),
            (2, 0, 1, 0, false),
            (2, 0, 2, 0, true),
            (2, 1, 2, 0, false),
            (2, 1, 2, 1, true),
            (0, 3, 0, 4, true),
            (1, 1, 3, 0, false),
        ];
        for (adds, dels, created, deleted, want) in table {
            let e = Expectations::new();
            e.expect("ns/ds", adds, dels);
            for _ in 0..created {
                e.creation_observed("ns/ds");
            }
            for _ in 0..deleted {
                e.deletion_observed("ns/ds");
            }
            assert_eq!(
                e.satisfied("ns/ds"),
                want,
                "{adds}/{dels} after {created}/{deleted}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_record_is_satisfied_and_observations_without_record_create_none() {
        let e = Expectations::new();
        assert!(e.satisfied("ns/ds"));
        e.creation_observed("ns/ds");
        assert_eq!(e.get("ns/ds"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn pending_expectations_expire_after_the_ttl() {
        let e = Expectations::new();
        e.expect("ns/ds", 5, 0);
        tokio::time::advance(EXPECTATIONS_TTL - Duration::from_secs(1)).await;
        assert!(!e.satisfied("ns/ds"));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(e.satisfied("ns/ds"));
    }

    #[tokio::test(start_paused = true)]
    async fn lowering_for_skipped_calls_and_resetting() {
        let e = Expectations::new();
        e.expect("ns/ds", 7, 2);
        // One batch of 3 succeeded and was observed, then 4 skipped.
        e.lower("ns/ds", 3, 0);
        e.lower("ns/ds", 4, 0);
        assert_eq!(e.get("ns/ds").map(|r| (r.adds, r.dels)), Some((0, 2)));
        assert!(!e.satisfied("ns/ds"));
        e.expect("ns/ds", 0, 0);
        assert!(e.satisfied("ns/ds"));
        e.expect("ns/ds", 1, 0);
        e.delete("ns/ds");
        assert!(e.satisfied("ns/ds"));
        e.expect("ns/other", 1, 0);
        e.clear();
        assert!(e.satisfied("ns/other"));
    }
}
