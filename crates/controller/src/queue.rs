//! The work queue, with client-go workqueue semantics.
//!
//! - A key is queued at most once however often it is added ("dirty" set).
//! - A key being processed is never handed to a second worker; adding it meanwhile marks it
//!   dirty and it is queued again when the first worker calls [`WorkQueue::done`].
//! - [`WorkQueue::add_after`] delays an add; the earliest pending time wins.
//! - [`WorkQueue::add_rate_limited`] delays by a per-key exponential backoff (5 ms doubling to
//!   1000 s) that [`WorkQueue::forget`] resets, as the default controller rate limiter does.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::pin::pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Backoff of the first rate-limited requeue of a key.
pub const BASE_DELAY: Duration = Duration::from_millis(5);
/// Ceiling of the per-key backoff.
pub const MAX_DELAY: Duration = Duration::from_secs(1000);

/// A deduplicating, delay-capable work queue of string keys (`namespace/name`).
#[derive(Debug)]
pub struct WorkQueue {
    state: Mutex<State>,
    notify: Notify,
    base_delay: Duration,
    max_delay: Duration,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    /// Delayed adds: key to due time, plus the same ordered by time for the earliest lookup.
    waiting: HashMap<String, Instant>,
    waiting_by_time: BTreeSet<(Instant, String)>,
    failures: HashMap<String, u32>,
    shut_down: bool,
}

impl Default for WorkQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkQueue {
    /// A queue with upstream's backoff bounds (5 ms .. 1000 s).
    pub fn new() -> Self {
        Self::with_backoff(BASE_DELAY, MAX_DELAY)
    }

    /// A queue with custom backoff bounds.
    pub fn with_backoff(base_delay: Duration, max_delay: Duration) -> Self {
        WorkQueue {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            base_delay,
            max_delay,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the sets stay usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` now unless it is already queued.
    pub fn add(&self, key: &str) {
        let mut st = self.lock();
        if Self::add_locked(&mut st, key) {
            drop(st);
            self.notify.notify_one();
        }
    }

    /// Returns true when the key was pushed to the ready queue.
    fn add_locked(st: &mut State, key: &str) -> bool {
        if st.shut_down || st.dirty.contains(key) {
            return false;
        }
        st.dirty.insert(key.to_string());
        if st.processing.contains(key) {
            return false;
        }
        st.queue.push_back(key.to_string());
        true
    }

    /// Queues `key` once `delay` has passed; an earlier pending time for the key wins.
    pub fn add_after(&self, key: &str, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let due = Instant::now() + delay;
        let mut st = self.lock();
        if st.shut_down {
            return;
        }
        match st.waiting.get(key).copied() {
            Some(existing) if existing <= due => return,
            Some(existing) => {
                st.waiting_by_time.remove(&(existing, key.to_string()));
            }
            None => {}
        }
        st.waiting.insert(key.to_string(), due);
        st.waiting_by_time.insert((due, key.to_string()));
        drop(st);
        // Wake a worker so it re-arms its timer for the possibly earlier deadline.
        self.notify.notify_one();
    }

    /// Queues `key` after its backoff and doubles the backoff for next time.
    pub fn add_rate_limited(&self, key: &str) {
        let delay = {
            let mut st = self.lock();
            let failures = st.failures.entry(key.to_string()).or_insert(0);
            let delay = backoff_delay(self.base_delay, self.max_delay, *failures);
            *failures = failures.saturating_add(1);
            delay
        };
        self.add_after(key, delay);
    }

    /// Resets the backoff of `key` (after a successful sync).
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    /// How many rate-limited requeues `key` has had since the last [`WorkQueue::forget`].
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Number of keys ready to be processed (not counting delayed or in-flight ones).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// True when no key is ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the next ready key and marks it in flight; `None` once shut down.
    /// The caller must call [`WorkQueue::done`] with the key when finished.
    pub async fn get(&self) -> Option<String> {
        loop {
            let mut notified = pin!(self.notify.notified());
            // Registered before looking at the state, so an add between the check and the
            // await still wakes this worker.
            notified.as_mut().enable();
            let next_due = {
                let mut st = self.lock();
                if st.shut_down {
                    return None;
                }
                Self::promote_due(&mut st, Instant::now());
                if let Some(key) = st.queue.pop_front() {
                    st.dirty.remove(&key);
                    st.processing.insert(key.clone());
                    let more = !st.queue.is_empty();
                    drop(st);
                    if more {
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
                st.waiting_by_time.first().map(|(t, _)| *t)
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn promote_due(st: &mut State, now: Instant) {
        while let Some((due, key)) = st.waiting_by_time.first().cloned() {
            if due > now {
                break;
            }
            st.waiting_by_time.remove(&(due, key.clone()));
            st.waiting.remove(&key);
            Self::add_locked(st, &key);
        }
    }

    /// Marks `key` finished; if it was added while in flight it is queued again.
    pub fn done(&self, key: &str) {
        let mut st = self.lock();
        st.processing.remove(key);
        if st.dirty.contains(key) && !st.shut_down {
            st.queue.push_back(key.to_string());
            drop(st);
            self.notify.notify_one();
        }
    }

    /// Drops every queued and delayed key (keys in flight stay in flight until `done`).
    pub fn clear(&self) {
        let mut st = self.lock();
        st.queue.clear();
        st.dirty.clear();
        st.waiting.clear();
        st.waiting_by_time.clear();
        st.failures.clear();
    }

    /// Stops the queue: every current and future [`WorkQueue::get`] returns `None`.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.notify.notify_waiters();
    }

    /// True after [`WorkQueue::shut_down`].
    pub fn is_shut_down(&self) -> bool {
        self.lock().shut_down
    }
}

/// `base * 2^failures`, capped at `max` (and safe against overflow).
pub fn backoff_delay(base: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.checked_pow(failures.min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn get_now(q: &WorkQueue) -> Option<String> {
        tokio::time::timeout(Duration::from_millis(1), q.get())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test(start_paused = true)]
    async fn adding_a_queued_key_again_queues_it_once() {
        let q = WorkQueue::new();
        q.add("ns/a");
        q.add("ns/a");
        q.add("ns/b");
        assert_eq!(q.len(), 2);
        assert_eq!(get_now(&q).await.as_deref(), Some("ns/a"));
        assert_eq!(get_now(&q).await.as_deref(), Some("ns/b"));
        assert_eq!(get_now(&q).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_added_while_in_flight_is_requeued_only_after_done() {
        let q = WorkQueue::new();
        q.add("ns/a");
        let k = get_now(&q).await;
        assert_eq!(k.as_deref(), Some("ns/a"));
        q.add("ns/a");
        q.add("ns/a");
        // In flight: not handed out a second time.
        assert_eq!(get_now(&q).await, None);
        q.done("ns/a");
        assert_eq!(get_now(&q).await.as_deref(), Some("ns/a"));
        q.done("ns/a");
        assert_eq!(get_now(&q).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_add_becomes_ready_after_its_delay_and_earliest_wins() {
        let table = [
            // (first delay ms, second delay ms, ready after ms)
            (100u64, 50u64, 50u64),
            (50, 100, 50),
            (30, 30, 30),
        ];
        for (first, second, ready) in table {
            let q = WorkQueue::new();
            let start = Instant::now();
            q.add_after("ns/a", Duration::from_millis(first));
            q.add_after("ns/a", Duration::from_millis(second));
            assert_eq!(
                get_now(&q).await,
                None,
                "{first}/{second}: not before its time"
            );
            let k = q.get().await;
            assert_eq!(k.as_deref(), Some("ns/a"));
            assert_eq!(
                start.elapsed(),
                Duration::from_millis(ready),
                "{first}/{second}"
            );
            q.done("ns/a");
            assert_eq!(get_now(&q).await, None, "{first}/{second}: delivered once");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_worker_wakes_for_a_later_earlier_deadline() {
        let q = Arc::new(WorkQueue::new());
        q.add_after("ns/slow", Duration::from_secs(100));
        let q2 = q.clone();
        let worker = tokio::spawn(async move { q2.get().await });
        tokio::task::yield_now().await;
        q.add_after("ns/fast", Duration::from_secs(1));
        let got = tokio::time::timeout(Duration::from_secs(5), worker).await;
        assert_eq!(
            got.ok().and_then(|r| r.ok()).flatten().as_deref(),
            Some("ns/fast")
        );
    }

    #[test]
    fn backoff_doubles_from_5ms_and_caps_at_1000s() {
        let table = [
            (0u32, Duration::from_millis(5)),
            (1, Duration::from_millis(10)),
            (2, Duration::from_millis(20)),
            (10, Duration::from_millis(5 * 1024)),
            (17, Duration::from_millis(5 * 131_072)),
            (18, MAX_DELAY),
            (40, MAX_DELAY),
            (u32::MAX, MAX_DELAY),
        ];
        for (failures, want) in table {
            assert_eq!(
                backoff_delay(BASE_DELAY, MAX_DELAY, failures),
                want,
                "failures={failures}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_requeue_backs_off_and_forget_resets() {
        let q = WorkQueue::new();
        q.add_rate_limited("ns/a");
        assert_eq!(q.failures("ns/a"), 1);
        let start = Instant::now();
        assert_eq!(q.get().await.as_deref(), Some("ns/a"));
        assert_eq!(start.elapsed(), Duration::from_millis(5));
        q.done("ns/a");
        q.add_rate_limited("ns/a");
        let start = Instant::now();
        assert_eq!(q.get().await.as_deref(), Some("ns/a"));
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        q.done("ns/a");
        q.forget("ns/a");
        assert_eq!(q.failures("ns/a"), 0);
        q.add_rate_limited("ns/a");
        let start = Instant::now();
        assert_eq!(q.get().await.as_deref(), Some("ns/a"));
        assert_eq!(start.elapsed(), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn shut_down_releases_waiting_workers() {
        let q = Arc::new(WorkQueue::new());
        let q2 = q.clone();
        let worker = tokio::spawn(async move { q2.get().await });
        tokio::task::yield_now().await;
        q.shut_down();
        let got = tokio::time::timeout(Duration::from_secs(1), worker).await;
        assert!(matches!(got, Ok(Ok(None))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_key_is_never_processed_by_two_workers_at_once() {
        let q = Arc::new(WorkQueue::new());
        let in_flight: Arc<Vec<AtomicUsize>> =
            Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect());
        let overlaps = Arc::new(AtomicUsize::new(0));
        let processed = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..4 {
            let (q, in_flight, overlaps, processed) = (
                q.clone(),
                in_flight.clone(),
                overlaps.clone(),
                processed.clone(),
            );
            workers.push(tokio::spawn(async move {
                while let Some(key) = q.get().await {
                    let idx: usize = key.trim_start_matches("ns/").parse().unwrap_or(0);
                    if in_flight[idx].fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::task::yield_now().await;
                    in_flight[idx].fetch_sub(1, Ordering::SeqCst);
                    processed.fetch_add(1, Ordering::SeqCst);
                    q.done(&key);
                }
            }));
        }
        for round in 0..2000 {
            q.add(&format!("ns/{}", round % 4));
            if round % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(q.is_empty() && in_flight.iter().all(|c| c.load(Ordering::SeqCst) == 0))
            && Instant::now() < deadline
        {
            tokio::task::yield_now().await;
        }
        q.shut_down();
        for w in workers {
            let _ = w.await;
        }
        assert_eq!(overlaps.load(Ordering::SeqCst), 0);
        assert!(processed.load(Ordering::SeqCst) >= 4);
    }
}
