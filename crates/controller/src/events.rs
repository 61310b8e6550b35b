//! core/v1 Events about DaemonSets, with aggregation of repeats.
//!
//! Upstream's recorder (client-go `EventCorrelator`) bumps `count` on an identical recent
//! event instead of creating a new object, and once more than ten distinct messages with the
//! same reason arrive for one object within ten minutes, folds the rest into one event whose
//! message starts with `(combined from similar events): `. We do the same, and additionally
//! coalesce writes: recording only updates memory, and a background writer sends each dirty
//! event object once per pass. A 5,000-pod rollout therefore costs a handful of Event writes,
//! not 5,000, and never slows a sync down.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tokio::sync::Notify;
use tokio::time::Instant;

use everynode_daemonset::EventType;

/// Source component of every event, as upstream.
pub const COMPONENT: &str = "daemonset-controller";
/// Distinct messages per (object, type, reason) before further ones are combined.
pub const MAX_DISTINCT_MESSAGES: usize = 10;
/// How long repeats are aggregated into the same event object.
pub const AGGREGATION_WINDOW: Duration = Duration::from_secs(600);
/// How long the writer waits after the first record of a burst before writing.
pub const WRITE_COALESCE: Duration = Duration::from_millis(250);
/// Prefix of a combined event's message.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// The object an event is about (always a DaemonSet here).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Involved {
    /// Namespace (the event lives there too).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    involved: Involved,
    warning: bool,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryKey {
    group: GroupKey,
    /// The exact message, or `None` for the group's combined event.
    message: Option<String>,
}

#[derive(Debug)]
struct Group {
    window_start: Instant,
    messages: HashSet<String>,
}

/// One event object as the recorder tracks it.
#[derive(Debug, Clone)]
pub struct EntryState {
    /// The Event object's name.
    pub name: String,
    /// The message currently written.
    pub message: String,
    /// How often it happened.
    pub count: i32,
    /// First occurrence.
    pub first: Timestamp,
    /// Last occurrence.
    pub last: Timestamp,
    created: bool,
    dirty: bool,
    last_seen: Instant,
}

/// The in-memory aggregation state, independent of any IO.
#[derive(Debug, Default)]
pub struct Aggregator {
    groups: HashMap<GroupKey, Group>,
    entries: HashMap<EntryKey, EntryState>,
    dirty: VecDeque<EntryKey>,
    records_since_prune: usize,
}

impl Aggregator {
    /// Records one occurrence at `now` (monotonic) / `wall` (for the timestamps) and returns
    /// the state of the event object it landed in.
    pub fn record(
        &mut self,
        involved: &Involved,
        event_type: EventType,
        reason: &str,
        message: &str,
        now: Instant,
        wall: Timestamp,
    ) -> EntryState {
        self.records_since_prune += 1;
        if self.records_since_prune >= 1024 {
            self.prune(now);
        }
        let group_key = GroupKey {
            involved: involved.clone(),
            warning: event_type == EventType::Warning,
            reason: reason.to_string(),
        };
        let group = self
            .groups
            .entry(group_key.clone())
            .or_insert_with(|| Group {
                window_start: now,
                messages: HashSet::new(),
            });
        if now.duration_since(group.window_start) > AGGREGATION_WINDOW {
            group.window_start = now;
            group.messages.clear();
        }
        let combined =
            !group.messages.contains(message) && group.messages.len() >= MAX_DISTINCT_MESSAGES;
        if !combined {
            group.messages.insert(message.to_string());
        }
        let (key, text) = if combined {
            (
                EntryKey {
                    group: group_key,
                    message: None,
                },
                format!("{COMBINED_PREFIX}{message}"),
            )
        } else {
            (
                EntryKey {
                    group: group_key,
                    message: Some(message.to_string()),
                },
                message.to_string(),
            )
        };
        let new_entry = || EntryState {
            name: format!("{}.{:016x}", involved.name, rand::random::<u64>()),
            message: text.clone(),
            count: 0,
            first: wall,
            last: wall,
            created: false,
            dirty: false,
            last_seen: now,
        };
        let entry = match self.entries.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => {
                let e = o.into_mut();
                if now.duration_since(e.last_seen) > AGGREGATION_WINDOW {
                    // Stale: a new object, as upstream's cache would have forgotten it. A
                    // still-queued write of the old object is dropped with it.
                    *e = new_entry();
                }
                e
            }
            std::collections::hash_map::Entry::Vacant(v) => v.insert(new_entry()),
        };
        entry.count = entry.count.saturating_add(1);
        entry.last = wall;
        entry.last_seen = now;
        if combined {
            entry.message = format!("{COMBINED_PREFIX}{message}");
        }
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push_back(key);
        }
        entry.clone()
    }

    /// Number of distinct event objects tracked.
    pub fn objects(&self) -> usize {
        self.entries.len()
    }

    /// Takes the dirty entries (each once) for writing.
    fn take_dirty(&mut self) -> Vec<(EntryKey, EntryState)> {
        let mut out = Vec::with_capacity(self.dirty.len());
        while let Some(key) = self.dirty.pop_front() {
            if let Some(e) = self.entries.get_mut(&key).filter(|e| e.dirty) {
                e.dirty = false;
                out.push((key, e.clone()));
            }
        }
        out
    }

    fn mark_created(&mut self, key: &EntryKey, name: &str, created: bool) {
        if let Some(e) = self.entries.get_mut(key).filter(|e| e.name == name) {
            e.created = created;
        }
    }

    fn prune(&mut self, now: Instant) {
        self.records_since_prune = 0;
        self.entries
            .retain(|_, e| e.dirty || now.duration_since(e.last_seen) <= AGGREGATION_WINDOW);
        self.groups
            .retain(|_, g| now.duration_since(g.window_start) <= AGGREGATION_WINDOW);
    }
}

/// Records events and writes them in the background.
#[derive(Clone)]
pub struct EventRecorder {
    state: Arc<Mutex<Aggregator>>,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecorder").finish_non_exhaustive()
    }
}

impl Default for EventRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventRecorder {
    /// A recorder with no writer attached yet (see [`EventRecorder::run_writer`]).
    pub fn new() -> Self {
        EventRecorder {
            state: Arc::new(Mutex::new(Aggregator::default())),
            notify: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aggregator> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one event about `involved`.
    pub fn record(&self, involved: &Involved, event_type: EventType, reason: &str, message: &str) {
        let entry = self.lock().record(
            involved,
            event_type,
            reason,
            message,
            Instant::now(),
            Timestamp::now(),
        );
        tracing::debug!(ds = %involved.name, reason, message, count = entry.count, "event");
        self.notify.notify_one();
    }

    /// Number of distinct event objects currently tracked.
    pub fn objects(&self) -> usize {
        self.lock().objects()
    }

    /// Writes dirty events through `client` until the future is dropped.
    pub async fn run_writer(self, client: kube::Client) {
        loop {
            self.notify.notified().await;
            // Let a burst of records (a sync creating 250 pods) land first, so the burst
            // costs one write per event object instead of one per record.
            tokio::time::sleep(WRITE_COALESCE).await;
            let batch = self.lock().take_dirty();
            futures::stream::iter(batch)
                .for_each_concurrent(8, |(key, entry)| {
                    let client = client.clone();
                    let this = self.clone();
                    async move {
                        let created = write_event(&client, &key, &entry).await;
                        this.lock().mark_created(&key, &entry.name, created);
                    }
                })
                .await;
        }
    }
}

fn to_event(key: &EntryKey, entry: &EntryState) -> Event {
    let inv = &key.group.involved;
    Event {
        metadata: ObjectMeta {
            name: Some(entry.name.clone()),
            namespace: Some(inv.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("apps/v1".to_string()),
            kind: Some("DaemonSet".to_string()),
            name: Some(inv.name.clone()),
            namespace: Some(inv.namespace.clone()),
            uid: Some(inv.uid.clone()),
            ..ObjectReference::default()
        },
        reason: Some(key.group.reason.clone()),
        message: Some(entry.message.clone()),
        type_: Some(
            if key.group.warning {
                "Warning"
            } else {
                "Normal"
            }
            .to_string(),
        ),
        source: Some(EventSource {
            component: Some(COMPONENT.to_string()),
            host: None,
        }),
        first_timestamp: Some(Time(entry.first)),
        last_timestamp: Some(Time(entry.last)),
        count: Some(entry.count),
        ..Event::default()
    }
}

/// Creates or updates one event object; returns whether it now exists on the server.
async fn write_event(client: &kube::Client, key: &EntryKey, entry: &EntryState) -> bool {
    let api: Api<Event> = Api::namespaced(client.clone(), &key.group.involved.namespace);
    let patch = serde_json::json!({
        "count": entry.count,
        "message": entry.message,
        "lastTimestamp": Time(entry.last),
    });
    let update = || async {
        api.patch(&entry.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
    };
    let create = || async {
        api.create(&PostParams::default(), &to_event(key, entry))
            .await
            .map(|_| ())
    };
    // Whichever of create/update does not fit what the server has falls back to the other
    // (an earlier create may still have been in flight when this state was taken).
    let result = if entry.created {
        match update().await {
            Err(kube::Error::Api(s)) if s.code == 404 => create().await,
            other => other,
        }
    } else {
        match create().await {
            Err(kube::Error::Api(s)) if s.code == 409 => update().await,
            other => other,
        }
    };
    match result {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(%err, event = %entry.name, "writing event failed");
            entry.created
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> Involved {
        Involved {
            namespace: "ns".into(),
            name: "agent".into(),
            uid: "u1".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn identical_events_bump_the_count_of_one_object() {
        let mut agg = Aggregator::default();
        let wall = Timestamp::UNIX_EPOCH;
        let mut names = HashSet::new();
        for i in 1..=5 {
            let e = agg.record(
                &ds(),
                EventType::Warning,
                "FailedCreate",
                "Error creating: x",
                Instant::now(),
                wall,
            );
            assert_eq!(e.count, i);
            names.insert(e.name);
        }
        assert_eq!(names.len(), 1);
        assert_eq!(agg.objects(), 1);
        // Written once, with the final count.
        let dirty = agg.take_dirty();
        assert_eq!(dirty.len(), 1);
        assert_eq!(dirty[0].1.count, 5);
        assert!(agg.take_dirty().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn distinct_messages_beyond_ten_are_combined_into_one_object() {
        let mut agg = Aggregator::default();
        let wall = Timestamp::UNIX_EPOCH;
        for i in 0..5000 {
            agg.record(
                &ds(),
                EventType::Normal,
                "SuccessfulCreate",
                &format!("Created pod: agent-{i}"),
                Instant::now(),
                wall,
            );
        }
        assert_eq!(agg.objects(), MAX_DISTINCT_MESSAGES + 1);
        let dirty = agg.take_dirty();
        let combined: Vec<_> = dirty.iter().filter(|(k, _)| k.message.is_none()).collect();
        assert_eq!(combined.len(), 1);
        assert_eq!(combined[0].1.count, 5000 - 10);
        assert_eq!(
            combined[0].1.message,
            format!("{COMBINED_PREFIX}Created pod: agent-4999")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn different_reasons_types_and_objects_are_separate() {
        let mut agg = Aggregator::default();
        let wall = Timestamp::UNIX_EPOCH;
        let other = Involved {
            uid: "u2".into(),
            ..ds()
        };
        let cases = [
            (ds(), EventType::Normal, "SuccessfulCreate"),
            (ds(), EventType::Warning, "SuccessfulCreate"),
            (ds(), EventType::Normal, "SuccessfulDelete"),
            (other, EventType::Normal, "SuccessfulCreate"),
        ];
        for (inv, t, r) in &cases {
            let e = agg.record(inv, *t, r, "m", Instant::now(), wall);
            assert_eq!(e.count, 1, "{r}");
        }
        assert_eq!(agg.objects(), cases.len());
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_window_a_repeat_starts_a_new_object() {
        let mut agg = Aggregator::default();
        let wall = Timestamp::UNIX_EPOCH;
        let first = agg.record(
            &ds(),
            EventType::Normal,
            "SelectingAll",
            "m",
            Instant::now(),
            wall,
        );
        tokio::time::advance(AGGREGATION_WINDOW + Duration::from_secs(1)).await;
        let second = agg.record(
            &ds(),
            EventType::Normal,
            "SelectingAll",
            "m",
            Instant::now(),
            wall,
        );
        assert_ne!(first.name, second.name);
        assert_eq!(second.count, 1);
    }

    #[test]
    fn event_object_carries_source_involved_object_and_counts() {
        let mut agg = Aggregator::default();
        let wall = Timestamp::UNIX_EPOCH;
        let now = Instant::now();
        agg.record(
            &ds(),
            EventType::Warning,
            "FailedDaemonPod",
            "Found failed daemon pod",
            now,
            wall,
        );
        let (key, entry) = agg.take_dirty().remove(0);
        let ev = to_event(&key, &entry);
        assert_eq!(
            ev.source.and_then(|s| s.component).as_deref(),
            Some(COMPONENT)
        );
        assert_eq!(ev.involved_object.kind.as_deref(), Some("DaemonSet"));
        assert_eq!(ev.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        assert_eq!(ev.count, Some(1));
        assert_eq!(ev.metadata.namespace.as_deref(), Some("ns"));
        assert!(ev.metadata.name.is_some_and(|n| n.starts_with("agent.")));
    }
}
