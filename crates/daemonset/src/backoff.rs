//! Failed-pod backoff (spec 3.10), as explicit state carried between syncs.
//!
//! Semantics follow client-go's `flowcontrol.Backoff` with 1 s initial and 15 min maximum
//! delay: an entry not touched for twice the maximum is forgotten, so the next failure starts
//! again at 1 s.

use std::time::Duration;

use everynode_model::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;

use crate::observed::{BackoffEntry, FailedPodBackoff};

/// First delay after a failed pod was deleted.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upper bound of the delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Time from `earlier` to `later`, zero when the clock went backwards.
pub fn elapsed(earlier: Timestamp, later: Timestamp) -> Duration {
    Duration::try_from(later.duration_since(earlier)).unwrap_or(Duration::ZERO)
}

fn expired(entry: &BackoffEntry, now: Timestamp) -> bool {
    elapsed(entry.last_update, now) > 2 * MAX_BACKOFF
}

impl FailedPodBackoff {
    /// The backoff key of a node for a DaemonSet: `<dsUID>/<status.observedGeneration>/<node>`,
    /// so a spec change (new observedGeneration) starts afresh.
    pub fn key(ds: &DaemonSet, node_name: &str) -> String {
        let uid = ds.metadata.uid.as_deref().unwrap_or("");
        let generation = ds
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .unwrap_or(0);
        format!("{uid}/{generation}/{node_name}")
    }

    /// When the key is in backoff at `now`, the time left until it is not.
    pub fn remaining(&self, key: &str, now: Timestamp) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if expired(entry, now) {
            return None;
        }
        let since = elapsed(entry.last_update, now);
        (since < entry.delay).then(|| entry.delay - since)
    }

    /// Records a failure acted on at `now`: the delay starts at 1 s and doubles up to 15 min.
    pub fn advance(&mut self, key: &str, now: Timestamp) {
        let delay = match self.entries.get(key) {
            Some(entry) if !expired(entry, now) => (entry.delay * 2).min(MAX_BACKOFF),
            _ => INITIAL_BACKOFF,
        };
        self.entries.insert(
            key.to_owned(),
            BackoffEntry {
                last_update: now,
                delay,
            },
        );
    }

    /// Forgets entries untouched for twice the maximum delay.
    pub fn gc(&mut self, now: Timestamp) {
        self.entries.retain(|_, entry| !expired(entry, now));
    }
}
