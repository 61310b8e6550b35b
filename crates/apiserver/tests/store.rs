//! Behaviour of the durable object store and watch cache (`everynode_apiserver::store`).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use everynode_apiserver::store::{
    EventKind, Key, Scope, Store, StoreConfig, StoreError, StoredObject, WatchEvent, WatchStream,
};
use serde_json::{Value, json};

/// Generous bound for anything that should happen promptly; only reached on a hang.
const DEADLINE: Duration = Duration::from_secs(30);

fn memory_store(event_window: usize) -> Store {
    Store::open(StoreConfig {
        event_window,
        ..StoreConfig::default()
    })
    .unwrap()
}

fn file_store(dir: &Path) -> Store {
    Store::open(StoreConfig {
        path: Some(dir.join("store.redb")),
        ..StoreConfig::default()
    })
    .unwrap()
}

fn pod(ns: &str, name: &str) -> Key {
    Key::namespaced("core/pods", ns, name)
}

fn pods(namespace: Option<&str>) -> Scope {
    Scope {
        prefix: "core/pods".into(),
        namespace: namespace.map(str::to_string),
    }
}

fn object(name: &str, marker: i64) -> Value {
    json!({"metadata": {"name": name}, "spec": {"marker": marker}})
}

/// The stored object, parsed.
fn v(object: &StoredObject) -> Value {
    object.to_value().unwrap()
}

fn resource_version(object: &StoredObject) -> String {
    v(object)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn next_event(watch: &mut WatchStream) -> Result<WatchEvent, StoreError> {
    tokio::time::timeout(DEADLINE, watch.next())
        .await
        .expect("watch event did not arrive before the deadline")
}

#[tokio::test]
async fn crud_assigns_increasing_revisions_and_stamps_resource_version() {
    let store = memory_store(100);
    assert_eq!(store.revision(), 0);

    let a = store
        .create(pod("default", "a"), object("a", 1))
        .await
        .unwrap();
    let b = store
        .create(pod("default", "b"), object("b", 1))
        .await
        .unwrap();
    let a2 = store
        .update(pod("default", "a"), object("a", 2), None)
        .await
        .unwrap();
    let deleted = store.delete(&pod("default", "b"), None).await.unwrap();

    let revisions = [a.revision, b.revision, a2.revision, deleted.revision];
    assert_eq!(revisions, [1, 2, 3, 4]);
    for stored in [&a, &b, &a2, &deleted] {
        assert_eq!(
            resource_version(&stored.object),
            stored.revision.to_string()
        );
    }
    assert_eq!(store.revision(), 4);

    let got = store.get(&pod("default", "a")).unwrap();
    assert_eq!(got.revision, 3);
    assert_eq!(v(&got.object)["spec"]["marker"], 2);
    assert!(store.get(&pod("default", "b")).is_none());

    let listing = store.list(&pods(None));
    assert_eq!(listing.revision, 4);
    let names: Vec<_> = listing.items.iter().map(|s| s.key.name.as_str()).collect();
    assert_eq!(names, ["a"]);
}

#[tokio::test]
async fn create_of_an_existing_key_is_already_exists() {
    let store = memory_store(100);
    store
        .create(pod("default", "a"), object("a", 1))
        .await
        .unwrap();
    let err = store
        .create(pod("default", "a"), object("a", 2))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    // The refused write changed nothing and consumed no revision.
    assert_eq!(store.revision(), 1);
    assert_eq!(
        v(&store.get(&pod("default", "a")).unwrap().object)["spec"]["marker"],
        1
    );
}

#[tokio::test]
async fn revision_preconditions_on_update_and_delete() {
    enum Verb {
        Update,
        Delete,
    }
    // (verb, expected revision relative to current: None, Some(current), Some(stale))
    let cases: [(Verb, Option<bool>, Result<(), u64>); 6] = [
        (Verb::Update, None, Ok(())),
        (Verb::Update, Some(true), Ok(())),
        (Verb::Update, Some(false), Err(2)),
        (Verb::Delete, None, Ok(())),
        (Verb::Delete, Some(true), Ok(())),
        (Verb::Delete, Some(false), Err(2)),
    ];
    for (verb, expected_current, outcome) in cases {
        let store = memory_store(100);
        let key = pod("default", "a");
        store.create(key.clone(), object("a", 1)).await.unwrap();
        let current = store
            .update(key.clone(), object("a", 2), None)
            .await
            .unwrap()
            .revision;
        assert_eq!(current, 2);
        let expected = expected_current.map(|fresh| if fresh { current } else { 1 });
        let result = match verb {
            Verb::Update => store.update(key.clone(), object("a", 3), expected).await,
            Verb::Delete => store.delete(&key, expected).await,
        };
        match (result, outcome) {
            (Ok(stored), Ok(())) => assert_eq!(stored.revision, 3),
            (Err(StoreError::Conflict { current }), Err(want)) => {
                assert_eq!(current, want);
                assert_eq!(store.revision(), 2, "a refused write consumes no revision");
                assert_eq!(store.get(&key).unwrap().revision, 2);
            }
            (other, want) => panic!("got {other:?}, wanted {want:?}"),
        }
    }
}

#[tokio::test]
async fn update_and_delete_of_a_missing_key_are_not_found() {
    let store = memory_store(100);
    let key = pod("default", "missing");
    let update = store.update(key.clone(), object("missing", 1), None).await;
    assert!(matches!(update, Err(StoreError::NotFound)), "{update:?}");
    let delete = store.delete(&key, Some(7)).await;
    assert!(matches!(delete, Err(StoreError::NotFound)), "{delete:?}");
    assert_eq!(store.revision(), 0);
}

#[tokio::test]
async fn objects_that_are_not_json_objects_are_refused() {
    let store = memory_store(100);
    for bad in [json!("text"), json!([1, 2]), json!({"metadata": 5})] {
        let result = store.create(pod("default", "x"), bad).await;
        assert!(matches!(result, Err(StoreError::Storage(_))), "{result:?}");
    }
    assert_eq!(store.revision(), 0);
    // An object without metadata gets one, carrying the resourceVersion.
    let stored = store
        .create(pod("default", "x"), json!({"spec": {}}))
        .await
        .unwrap();
    assert_eq!(resource_version(&stored.object), "1");
}

#[test]
fn scope_contains_only_its_prefix_and_namespace() {
    let cases = [
        (pods(None), pod("a", "x"), true),
        (pods(Some("a")), pod("a", "x"), true),
        (pods(Some("a")), pod("b", "x"), false),
        (pods(None), Key::cluster("core/pods", "x"), true),
        (pods(Some("a")), Key::cluster("core/pods", "x"), false),
        (pods(None), Key::namespaced("core/podsx", "a", "x"), false),
        (pods(None), Key::cluster("core/nodes", "x"), false),
    ];
    for (scope, key, want) in cases {
        assert_eq!(scope.contains(&key), want, "{scope:?} {key:?}");
    }
}

#[tokio::test]
async fn list_is_scoped_and_sorted_by_namespace_then_name() {
    let store = memory_store(100);
    for (ns, name) in [("b", "z"), ("a", "y"), ("b", "a"), ("a", "x")] {
        store.create(pod(ns, name), object(name, 0)).await.unwrap();
    }
    store
        .create(Key::cluster("core/nodes", "n1"), object("n1", 0))
        .await
        .unwrap();
    let cases = [
        (pods(None), vec!["a/x", "a/y", "b/a", "b/z"]),
        (pods(Some("b")), vec!["b/a", "b/z"]),
        (pods(Some("c")), vec![]),
        (
            Scope {
                prefix: "core/nodes".into(),
                namespace: None,
            },
            vec!["-/n1"],
        ),
    ];
    for (scope, want) in cases {
        let listing = store.list(&scope);
        let got: Vec<String> = listing
            .items
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s.key.namespace.as_deref().unwrap_or("-"),
                    s.key.name
                )
            })
            .collect();
        assert_eq!(got, want, "{scope:?}");
        assert_eq!(listing.revision, 5);
    }
}

#[tokio::test]
async fn watch_replays_history_in_order_then_delivers_live_events() {
    let store = memory_store(100);
    store
        .create(pod("a", "one"), object("one", 1))
        .await
        .unwrap();
    store
        .create(pod("b", "other"), object("other", 1))
        .await
        .unwrap();
    store
        .update(pod("a", "one"), object("one", 2), None)
        .await
        .unwrap();

    let mut watch = store.watch(&pods(Some("a")), 0).unwrap();
    let first = next_event(&mut watch).await.unwrap();
    assert_eq!((first.kind, first.revision), (EventKind::Added, 1));
    let second = next_event(&mut watch).await.unwrap();
    assert_eq!((second.kind, second.revision), (EventKind::Modified, 3));
    assert_eq!(watch.progress(), 3);

    // Nothing pending: a timed-out next() must not lose the event that comes later.
    let idle = tokio::time::timeout(Duration::from_millis(20), watch.next()).await;
    assert!(idle.is_err(), "no event expected yet");
    store.delete(&pod("a", "one"), None).await.unwrap();
    let third = next_event(&mut watch).await.unwrap();
    assert_eq!((third.kind, third.revision), (EventKind::Deleted, 4));

    // A watch from the middle of history starts right after that revision.
    let mut late = store.watch(&pods(None), 2).unwrap();
    let revisions = [
        next_event(&mut late).await.unwrap().revision,
        next_event(&mut late).await.unwrap().revision,
    ];
    assert_eq!(revisions, [3, 4]);
}

#[tokio::test]
async fn events_carry_the_previous_object() {
    let store = memory_store(100);
    let key = pod("default", "a");
    let mut watch = store.watch(&pods(None), 0).unwrap();
    store.create(key.clone(), object("a", 1)).await.unwrap();
    store
        .update(key.clone(), object("a", 2), None)
        .await
        .unwrap();
    store.delete(&key, None).await.unwrap();

    let added = next_event(&mut watch).await.unwrap();
    assert!(added.prev_object.is_none());
    let modified = next_event(&mut watch).await.unwrap();
    let prev = modified.prev_object.unwrap();
    assert_eq!(v(&prev)["spec"]["marker"], 1);
    assert_eq!(resource_version(&prev), "1");
    assert_eq!(v(&modified.object)["spec"]["marker"], 2);
    let deleted = next_event(&mut watch).await.unwrap();
    assert_eq!(v(&deleted.prev_object.unwrap())["spec"]["marker"], 2);
}

#[tokio::test]
async fn delete_returns_the_last_state_stamped_with_the_deletion_revision() {
    let store = memory_store(100);
    let key = pod("default", "a");
    store.create(key.clone(), object("a", 7)).await.unwrap();
    let mut watch = store.watch(&pods(None), 1).unwrap();
    let deleted = store.delete(&key, Some(1)).await.unwrap();
    assert_eq!(deleted.revision, 2);
    assert_eq!(resource_version(&deleted.object), "2");
    assert_eq!(v(&deleted.object)["spec"]["marker"], 7);
    let event = next_event(&mut watch).await.unwrap();
    assert_eq!(event.kind, EventKind::Deleted);
    assert_eq!(event.revision, 2);
    assert_eq!(resource_version(&event.object), "2");
}

#[tokio::test]
async fn watch_from_before_the_ring_is_expired_but_from_a_listed_revision_works() {
    let store = memory_store(5);
    for i in 0..10 {
        store
            .create(pod("default", &format!("p{i}")), object("p", i))
            .await
            .unwrap();
    }
    // The ring holds revisions 6..=10, so continuing after 5 or later is possible.
    let cases: [(u64, Option<u64>); 5] = [
        (0, None),
        (4, None),
        (5, Some(6)),
        (9, Some(10)),
        (10, Some(11)),
    ];
    for (after, first) in cases {
        match store.watch(&pods(None), after) {
            Err(StoreError::Expired { requested, oldest }) => {
                assert_eq!(first, None, "after={after} should be watchable");
                assert_eq!((requested, oldest), (after, 5));
            }
            Ok(mut watch) => {
                let want = first.unwrap_or_else(|| panic!("after={after} should be expired"));
                if want == 11 {
                    // Listed at the head and nothing happened since: the watch waits.
                    store
                        .create(pod("default", "new"), object("new", 0))
                        .await
                        .unwrap();
                }
                assert_eq!(next_event(&mut watch).await.unwrap().revision, want);
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

#[tokio::test]
async fn the_byte_budget_bounds_the_ring_but_always_keeps_the_newest_event() {
    // Revisions 1..=8 with one-digit names, markers and revisions: equal-sized objects.
    let size = {
        let probe = memory_store(10);
        let stored = probe
            .create(pod("default", "p0"), object("p", 0))
            .await
            .unwrap();
        stored.object.json().len()
    };
    let cases = [
        // (budget, oldest revision a watch can continue after)
        (3 * size + size / 2, 5),
        (8 * size, 0),
        (1, 7),
    ];
    for (budget, oldest) in cases {
        let store = Store::open(StoreConfig {
            event_window: 1000,
            event_window_bytes: budget,
            ..StoreConfig::default()
        })
        .unwrap();
        for i in 0..8 {
            store
                .create(pod("default", &format!("p{i}")), object("p", i))
                .await
                .unwrap();
        }
        let mut watch = store
            .watch(&pods(None), oldest)
            .unwrap_or_else(|e| panic!("budget {budget}: after {oldest} must be watchable: {e}"));
        assert_eq!(next_event(&mut watch).await.unwrap().revision, oldest + 1);
        if oldest > 0 {
            assert!(
                matches!(
                    store.watch(&pods(None), oldest - 1),
                    Err(StoreError::Expired { oldest: o, .. }) if o == oldest
                ),
                "budget {budget}: after {} must be expired",
                oldest - 1
            );
        }
    }
}

fn node_name_index(_: &Key, object: &Value) -> Vec<(&'static str, String)> {
    let node = object["spec"]["nodeName"].as_str().unwrap_or("");
    vec![("spec.nodeName", node.to_string())]
}

#[tokio::test]
async fn the_field_index_is_computed_on_every_write_and_rebuilt_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let open = |index| {
        Store::open(StoreConfig {
            path: Some(dir.path().join("store.redb")),
            field_index: index,
            ..StoreConfig::default()
        })
        .unwrap()
    };
    let on = |node: &str| json!({"metadata": {"name": "a", "labels": {"app": "x"}}, "spec": {"nodeName": node}});
    {
        let store = open(node_name_index);
        let mut watch = store.watch(&pods(None), 0).unwrap();
        store.create(pod("d", "a"), on("n1")).await.unwrap();
        store.update(pod("d", "a"), on("n2"), None).await.unwrap();
        next_event(&mut watch).await.unwrap();
        let modified = next_event(&mut watch).await.unwrap();
        assert_eq!(modified.object.field("spec.nodeName"), Some("n2"));
        let prev = modified.prev_object.unwrap();
        assert_eq!(prev.field("spec.nodeName"), Some("n1"));
        assert_eq!(prev.labels().get("app").map(String::as_str), Some("x"));
        store.create(pod("d", "b"), on("n3")).await.unwrap();
        store.delete(&pod("d", "b"), None).await.unwrap();
        next_event(&mut watch).await.unwrap();
        let deleted = next_event(&mut watch).await.unwrap();
        assert_eq!(deleted.kind, EventKind::Deleted);
        assert_eq!(deleted.object.field("spec.nodeName"), Some("n3"));
        assert_eq!(
            deleted.object.labels().get("app").map(String::as_str),
            Some("x")
        );
        store.close().await;
    }
    {
        let store = open(node_name_index);
        let got = store.get(&pod("d", "a")).unwrap();
        assert_eq!(got.object.field("spec.nodeName"), Some("n2"));
        store.close().await;
    }
    let store = open(everynode_apiserver::store::no_fields);
    let got = store.get(&pod("d", "a")).unwrap();
    assert_eq!(got.object.field("spec.nodeName"), None);
    assert_eq!(
        got.object.labels().get("app").map(String::as_str),
        Some("x")
    );
}

#[tokio::test]
async fn lagging_watcher_gets_expired_and_never_skips_events() {
    let store = memory_store(8);
    let mut watch = store.watch(&pods(None), 0).unwrap();
    for i in 0..3 {
        store
            .create(pod("default", &format!("early{i}")), object("e", i))
            .await
            .unwrap();
    }
    let mut seen = vec![];
    for _ in 0..2 {
        seen.push(next_event(&mut watch).await.unwrap().revision);
    }
    // The watcher stalls while far more than the ring's worth of events happen.
    for i in 0..20 {
        store
            .create(pod("default", &format!("late{i}")), object("l", i))
            .await
            .unwrap();
    }
    let mut outcome = None;
    for _ in 0..30 {
        match next_event(&mut watch).await {
            Ok(event) => seen.push(event.revision),
            Err(e) => {
                outcome = Some(e);
                break;
            }
        }
    }
    let expected_prefix: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(seen, expected_prefix, "delivered events must be gap-free");
    assert!(
        matches!(outcome, Some(StoreError::Expired { .. })),
        "{outcome:?}"
    );
    // Once expired, the stream stays expired.
    assert!(matches!(
        next_event(&mut watch).await,
        Err(StoreError::Expired { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_and_watch_has_no_gap_under_concurrent_writers() {
    let store = memory_store(1_000_000);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = pod("default", &format!("w{w}-{}", i % 20));
                    let first = if i % 7 == 0 {
                        store.delete(&key, None).await
                    } else {
                        store.update(key.clone(), object("x", i), None).await
                    };
                    let result = match first {
                        Err(StoreError::NotFound) => store.create(key, object("x", i)).await,
                        other => other,
                    };
                    result.unwrap();
                    i += 1;
                }
            })
        })
        .collect();

    // Snapshot while the writers are running, and keep them running well past it.
    let wait_for = |target: u64| {
        let store = store.clone();
        async move {
            let deadline = Instant::now() + DEADLINE;
            while store.revision() < target {
                assert!(Instant::now() < deadline, "writers stalled");
                tokio::task::yield_now().await;
            }
        }
    };
    wait_for(100).await;
    let (listing, mut watch) = store.list_and_watch(&pods(None));
    wait_for(listing.revision + 200).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let last = store.revision();
    assert!(listing.revision < last, "snapshot must be taken mid-stream");

    let mut state: BTreeMap<Key, u64> = listing
        .items
        .iter()
        .map(|s| {
            assert!(s.revision <= listing.revision);
            (s.key.clone(), s.revision)
        })
        .collect();
    let mut seen = vec![];
    while seen.last().copied().unwrap_or(listing.revision) < last {
        let event = next_event(&mut watch).await.unwrap();
        seen.push(event.revision);
        match event.kind {
            EventKind::Deleted => assert!(state.remove(&event.key).is_some()),
            EventKind::Added => assert!(state.insert(event.key, event.revision).is_none()),
            EventKind::Modified => assert!(state.insert(event.key, event.revision).is_some()),
        }
    }
    let want: Vec<u64> = (listing.revision + 1..=last).collect();
    assert_eq!(seen, want, "every revision after the snapshot exactly once");
    let final_state: BTreeMap<Key, u64> = store
        .list(&pods(None))
        .items
        .into_iter()
        .map(|s| (s.key, s.revision))
        .collect();
    assert_eq!(state, final_state, "snapshot + events = current state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_gives_concurrent_creates_distinct_revisions() {
    const TASKS: usize = 16;
    const PER_TASK: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(dir.path());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut revisions = vec![];
                for i in 0..PER_TASK {
                    let stored = store
                        .create(pod("default", &format!("t{t}-{i}")), object("x", 0))
                        .await
                        .unwrap();
                    revisions.push(stored.revision);
                }
                revisions
            })
        })
        .collect();
    let mut all = HashSet::new();
    for task in tasks {
        let revisions = task.await.unwrap();
        assert!(
            revisions.windows(2).all(|w| w[0] < w[1]),
            "one client's writes are ordered"
        );
        for r in revisions {
            assert!(all.insert(r), "revision {r} handed out twice");
        }
    }
    let want: HashSet<u64> = (1..=(TASKS * PER_TASK) as u64).collect();
    assert_eq!(all, want);
    assert_eq!(store.list(&pods(None)).items.len(), TASKS * PER_TASK);
    let stats = store.stats();
    assert_eq!(stats.writes, (TASKS * PER_TASK) as u64);
    assert!(
        stats.commits < stats.writes,
        "concurrent writes must share commits: {stats:?}"
    );
}

#[tokio::test]
async fn reopen_restores_objects_at_their_revisions_and_the_counter() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let store = file_store(dir.path());
        store.create(pod("a", "x"), object("x", 1)).await.unwrap();
        store
            .create(Key::cluster("core/nodes", "n1"), object("n1", 1))
            .await
            .unwrap();
        store
            .update(pod("a", "x"), object("x", 2), None)
            .await
            .unwrap();
        store
            .create(pod("a", "gone"), object("g", 1))
            .await
            .unwrap();
        // The last write is a delete, so the counter is above every stored object's revision.
        store.delete(&pod("a", "gone"), None).await.unwrap();
        before = store.list(&pods(None)).items;
        assert_eq!(store.revision(), 5);
        store.close().await;
    }
    let store = file_store(dir.path());
    assert_eq!(store.revision(), 5);
    let after = store.list(&pods(None)).items;
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(
            (&a.key, a.revision, &a.object),
            (&b.key, b.revision, &b.object)
        );
    }
    let node = store.get(&Key::cluster("core/nodes", "n1")).unwrap();
    assert_eq!(
        (node.revision, resource_version(&node.object).as_str()),
        (2, "2")
    );

    // The ring starts empty: older revisions are gone, the current one is watchable.
    assert!(matches!(
        store.watch(&pods(None), 4),
        Err(StoreError::Expired {
            requested: 4,
            oldest: 5
        })
    ));
    let mut watch = store.watch(&pods(None), 5).unwrap();
    let next = store.create(pod("a", "new"), object("n", 1)).await.unwrap();
    assert_eq!(next.revision, 6);
    assert_eq!(next_event(&mut watch).await.unwrap().revision, 6);
}

#[tokio::test]
async fn close_drains_watches_then_ends_them_and_refuses_writes() {
    let store = memory_store(100);
    let mut watch = store.watch(&pods(None), 0).unwrap();
    store.create(pod("a", "x"), object("x", 1)).await.unwrap();
    store.close().await;
    assert_eq!(next_event(&mut watch).await.unwrap().revision, 1);
    assert!(matches!(
        next_event(&mut watch).await,
        Err(StoreError::Closed)
    ));
    let write = store.create(pod("a", "y"), object("y", 1)).await;
    assert!(matches!(write, Err(StoreError::Closed)), "{write:?}");
    // Reads keep working from the cache, and closing twice is harmless.
    assert!(store.get(&pod("a", "x")).is_some());
    store.close().await;
}

#[tokio::test]
async fn into_stream_yields_events_then_ends_after_the_error() {
    use futures::StreamExt;
    let store = memory_store(100);
    let stream = store.watch(&pods(None), 0).unwrap().into_stream();
    store.create(pod("a", "x"), object("x", 1)).await.unwrap();
    store.close().await;
    let items: Vec<_> = tokio::time::timeout(DEADLINE, stream.collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().revision, 1);
    assert!(matches!(items[1], Err(StoreError::Closed)));
}

/// Environment variable that turns [`kill9_child_writer`] into the writer process.
const CHILD_DIR_ENV: &str = "EVERYNODE_STORE_KILL9_DIR";

/// Not a test on its own: in the child process of
/// [`acknowledged_writes_survive_kill_9`] it writes until killed, printing every
/// acknowledged key; in a normal run it does nothing.
#[test]
fn kill9_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = file_store(Path::new(&dir));
        let started = Instant::now();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    // Bounded so an orphaned child cannot run forever.
                    let mut i = 0u64;
                    while started.elapsed() < Duration::from_secs(60) {
                        let name = format!("w{w}-{i}");
                        let stored = store
                            .create(pod("default", &name), object(&name, 0))
                            .await
                            .unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {name} {}", stored.revision).unwrap();
                        out.flush().unwrap();
                        i += 1;
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    const ACKS_BEFORE_KILL: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill9_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Lines are read on a helper thread so a silent child cannot block the test forever.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                // A torn last line (no newline) was never fully acknowledged.
                Ok(n) if n > 0 && line.ends_with('\n') => {
                    if lines_tx.send(line).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
    });
    let parse = |line: &str| -> Option<(String, u64)> {
        let mut parts = line.trim_end().strip_prefix("ACK ")?.split(' ');
        let name = parts.next()?.to_string();
        let revision = parts.next()?.parse().ok()?;
        Some((name, revision))
    };
    let mut acked: Vec<(String, u64)> = vec![];
    let deadline = Instant::now() + DEADLINE;
    while acked.len() < ACKS_BEFORE_KILL {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx
            .recv_timeout(remaining)
            .expect("child exited or stalled before acknowledging enough writes");
        acked.extend(parse(&line));
    }
    child.kill().unwrap(); // SIGKILL on unix: no chance to flush or close anything
    child.wait().unwrap();
    // Acknowledgements already in the pipe count too.
    reader.join().unwrap();
    acked.extend(lines_rx.try_iter().filter_map(|line| parse(&line)));
    assert!(acked.len() >= ACKS_BEFORE_KILL);

    let store = file_store(dir.path());
    let max_acked = acked.iter().map(|(_, r)| *r).max().unwrap();
    assert!(store.revision() >= max_acked);
    for (name, revision) in &acked {
        let stored = store
            .get(&pod("default", name))
            .unwrap_or_else(|| panic!("acknowledged {name} lost"));
        assert_eq!(stored.revision, *revision, "{name}");
    }
}

mod model {
    //! Random operation sequences checked against a plain map.

    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Create(u8),
        /// Key, and whether to pass the current revision (true), a stale one (false) or none.
        Update(u8, Option<bool>),
        Delete(u8, Option<bool>),
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u8..4;
        let expected = proptest::option::of(any::<bool>());
        prop_oneof![
            key.clone().prop_map(Op::Create),
            (key.clone(), expected.clone()).prop_map(|(k, e)| Op::Update(k, e)),
            (key, expected).prop_map(|(k, e)| Op::Delete(k, e)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn store_matches_a_map_model_and_its_watch_replays_every_change(
            ops in proptest::collection::vec(op(), 1..40)
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let store = memory_store(1_000);
                let mut watch = store.watch(&pods(None), 0).unwrap();
                let mut model: BTreeMap<Key, u64> = BTreeMap::new();
                let mut revision = 0u64;
                for op in ops {
                    let (key, result, expect_ok) = match op {
                        Op::Create(k) => {
                            let key = pod("ns", &format!("k{k}"));
                            let ok = !model.contains_key(&key);
                            (key.clone(), store.create(key, object("x", 0)).await, ok)
                        }
                        Op::Update(k, fresh) | Op::Delete(k, fresh) => {
                            let key = pod("ns", &format!("k{k}"));
                            let current = model.get(&key).copied();
                            let expected = fresh.map(|f| match (f, current) {
                                (true, Some(c)) => c,
                                _ => current.unwrap_or(0) + 1_000,
                            });
                            let ok = current.is_some() && fresh != Some(false);
                            let result = if matches!(op, Op::Update(..)) {
                                store.update(key.clone(), object("x", 1), expected).await
                            } else {
                                store.delete(&key, expected).await
                            };
                            (key, result, ok)
                        }
                    };
                    prop_assert_eq!(result.is_ok(), expect_ok, "{:?}", result);
                    if let Ok(stored) = result {
                        revision += 1;
                        prop_assert_eq!(stored.revision, revision);
                        if matches!(op, Op::Delete(..)) {
                            model.remove(&key);
                        } else {
                            model.insert(key, revision);
                        }
                    }
                }
                prop_assert_eq!(store.revision(), revision);
                let listed: BTreeMap<Key, u64> = store
                    .list(&pods(None))
                    .items
                    .into_iter()
                    .map(|s| (s.key, s.revision))
                    .collect();
                prop_assert_eq!(&listed, &model);
                let mut replayed: BTreeMap<Key, u64> = BTreeMap::new();
                for want in 1..=revision {
                    let event = next_event(&mut watch).await.unwrap();
                    prop_assert_eq!(event.revision, want);
                    match event.kind {
                        EventKind::Deleted => {
                            prop_assert!(replayed.remove(&event.key).is_some());
                        }
                        EventKind::Added => {
                            prop_assert!(replayed.insert(event.key, want).is_none());
                        }
                        EventKind::Modified => {
                            prop_assert!(replayed.insert(event.key, want).is_some());
                        }
                    }
                }
                prop_assert_eq!(&replayed, &model);
                Ok(())
            })?;
        }
    }
}
