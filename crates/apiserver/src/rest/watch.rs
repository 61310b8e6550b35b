//! Watch streams: newline-delimited compact JSON events, flushed one per chunk.
//!
//! Semantics follow kube-apiserver as the kube-rs watcher and kubectl rely on them: initial
//! ADDED events for an unset/`0` resourceVersion or `sendInitialEvents`, the
//! `k8s.io/initial-events-end` bookmark, periodic bookmarks, an in-stream 410 ERROR event for
//! a resourceVersion older than the event window, and selector transitions turned into
//! ADDED/DELETED.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::RestState;
use super::errors::RestError;
use super::filter::Filter;
use crate::registry::ResourceInfo;
use crate::store::{EventKind, Scope, StoreError, StoredObject};
use crate::table::{self, IncludeObject};

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Synthetic ADDED events for the current state, then changes.
    CurrentState,
    /// Only changes after this revision.
    After(u64),
}

/// The parameters of one watch request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// The resource watched.
    pub info: &'static ResourceInfo,
    /// Namespace scope (`None` = all namespaces or cluster-scoped).
    pub namespace: Option<String>,
    /// Label and field selectors.
    pub filter: Filter,
    /// Where to start.
    pub start: Start,
    /// True when `sendInitialEvents=true`: ends the initial state with the
    /// `k8s.io/initial-events-end` bookmark.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// When the stream ends.
    pub timeout: Duration,
    /// Table rendering of event objects, when Accept asked for a Table.
    pub table: Option<IncludeObject>,
}

/// Starts a watch and returns the streaming response.
pub fn serve(state: Arc<RestState>, req: WatchRequest) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    tokio::spawn(run(state, req, tx));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

struct Sink {
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
}

impl Sink {
    /// Sends one event line; false when the client went away.
    async fn send(&self, kind: &str, object: &Value) -> bool {
        match serde_json::to_vec(object) {
            Ok(json) => self.send_encoded(kind, &json).await,
            Err(_) => true,
        }
    }

    /// Sends one event line around an object that is already compact JSON; false when the
    /// client went away.
    async fn send_encoded(&self, kind: &str, object_json: &[u8]) -> bool {
        self.push(encoded_line(kind, object_json)).await
    }

    async fn push(&self, line: Vec<u8>) -> bool {
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }
}

/// One watch event line: `{"type":<kind>,"object":<object_json>}` and a newline.
///
/// `type` comes first, as kube-apiserver writes it: a client decoding the event as an
/// adjacently tagged enum (kube-rs's `WatchEvent`) then knows the variant before it reaches
/// the object and decodes the object straight into its type; with `object` first it has to
/// buffer the whole object generically and decode it a second time. `kind` is one of the
/// fixed ASCII event names, which need no escaping.
fn encoded_line(kind: &str, object_json: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"type\":\"";
    const MID: &[u8] = b"\",\"object\":";
    const TAIL: &[u8] = b"}\n";
    let mut line =
        Vec::with_capacity(HEAD.len() + kind.len() + MID.len() + object_json.len() + TAIL.len());
    line.extend_from_slice(HEAD);
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(MID);
    line.extend_from_slice(object_json);
    line.extend_from_slice(TAIL);
    line
}

fn bookmark(info: &ResourceInfo, revision: u64, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"apiVersion": info.api_version(), "kind": info.kind, "metadata": metadata})
}

/// Sends one event whose object is `object`: as a Table when the request asked for one,
/// otherwise the stored JSON itself, which every watcher of the event shares.
async fn send_object(sink: &Sink, req: &WatchRequest, kind: &str, object: &StoredObject) -> bool {
    let Some(include) = req.table else {
        return sink.send_encoded(kind, object.json()).await;
    };
    let Ok(value) = object.to_value() else {
        // The store only holds JSON it encoded itself; skipping beats killing the stream.
        return true;
    };
    let revision = value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let table = table::to_table(
        req.info,
        &[value],
        include,
        &revision,
        None,
        crate::rest::strategy::now(),
    );
    sink.send(kind, &table).await
}

async fn run(
    state: Arc<RestState>,
    req: WatchRequest,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let sink = Sink { tx };
    let scope = Scope {
        prefix: req.info.storage_prefix(),
        namespace: req.namespace.clone(),
    };
    let store = state.store.clone();
    let (initial, mut stream, mut last_revision) = match req.start {
        Start::CurrentState => {
            let (listing, stream) = store.list_and_watch(&scope);
            (listing.items, stream, listing.revision)
        }
        Start::After(rv) => match store.watch(&scope, rv) {
            Ok(stream) => (Vec::new(), stream, rv),
            Err(err) => {
                let status = RestError::from_store(err, req.info, "").to_status();
                sink.send("ERROR", &status).await;
                return;
            }
        },
    };
    for item in &initial {
        if req.filter.matches(&item.key, &item.object)
            && !send_object(&sink, &req, "ADDED", &item.object).await
        {
            return;
        }
    }
    if req.send_initial_events
        && req.bookmarks
        && !sink
            .send("BOOKMARK", &bookmark(req.info, last_revision, true))
            .await
    {
        return;
    }
    let mut shutdown = state.shutdown_signal();
    let deadline = tokio::time::sleep(req.timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(state.bookmark_interval);
    ticker.tick().await;
    loop {
        tokio::select! {
            event = stream.next() => {
                let event = match event {
                    Ok(event) => event,
                    Err(StoreError::Closed) => return,
                    Err(err) => {
                        let status = RestError::from_store(err, req.info, "").to_status();
                        sink.send("ERROR", &status).await;
                        return;
                    }
                };
                last_revision = last_revision.max(event.revision);
                let now_matches = req.filter.matches(&event.key, &event.object);
                let kind = match event.kind {
                    EventKind::Added => now_matches.then_some("ADDED"),
                    EventKind::Deleted => now_matches.then_some("DELETED"),
                    EventKind::Modified => {
                        let before = event
                            .prev_object
                            .as_ref()
                            .is_none_or(|prev| req.filter.matches(&event.key, prev));
                        match (before, now_matches) {
                            (true, true) => Some("MODIFIED"),
                            (false, true) => Some("ADDED"),
                            (true, false) => Some("DELETED"),
                            (false, false) => None,
                        }
                    }
                };
                if let Some(kind) = kind
                    && !send_object(&sink, &req, kind, &event.object).await
                {
                    return;
                }
            }
            _ = ticker.tick(), if req.bookmarks => {
                if !sink.send("BOOKMARK", &bookmark(req.info, last_revision, false)).await {
                    return;
                }
            }
            _ = &mut deadline => return,
            _ = shutdown.changed() => return,
            _ = sink.tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Key, Store, StoreConfig};

    /// Generous bound for anything that should happen promptly; only reached on a hang.
    const DEADLINE: Duration = Duration::from_secs(30);

    fn pods_info() -> &'static ResourceInfo {
        crate::registry::lookup("", "v1", "pods").unwrap()
    }

    fn plain_watch(start: Start) -> WatchRequest {
        let info = pods_info();
        WatchRequest {
            info,
            namespace: Some("default".into()),
            filter: Filter::parse(info, None, None).unwrap(),
            start,
            send_initial_events: false,
            bookmarks: false,
            timeout: DEADLINE,
            table: None,
        }
    }

    fn pod(name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "ü\"\\/<>"}},
            "spec": {"nodeName": "n\u{1}1", "containers": [{"name": "c", "image": "x"}]},
        })
    }

    /// The event line built without `encoded_line`: a `type`-first map (serde_json's
    /// `preserve_order` is off, so a `json!` map would sort `object` first).
    fn reference_line(kind: &str, object: &Value) -> Vec<u8> {
        let mut line = format!(
            "{{\"type\":{},\"object\":{}}}",
            serde_json::to_string(kind).unwrap(),
            serde_json::to_string(object).unwrap()
        )
        .into_bytes();
        line.push(b'\n');
        line
    }

    async fn next_line(rx: &mut mpsc::Receiver<Result<Bytes, Infallible>>) -> Bytes {
        match tokio::time::timeout(DEADLINE, rx.recv()).await {
            Ok(Some(Ok(line))) => line,
            other => panic!("no watch line before the deadline: {other:?}"),
        }
    }

    #[test]
    fn encoded_line_is_the_type_first_envelope_around_the_stored_json() {
        let objects = [
            pod("a"),
            json!({}),
            json!({"z": 1, "a": [1.5, null, true], "m": {"k": "\u{2028}\t"}}),
        ];
        for kind in ["ADDED", "MODIFIED", "DELETED"] {
            for object in &objects {
                let json = serde_json::to_vec(object).unwrap();
                assert_eq!(
                    String::from_utf8(encoded_line(kind, &json)).unwrap(),
                    String::from_utf8(reference_line(kind, object)).unwrap(),
                    "{kind} {object}"
                );
            }
        }
    }

    #[tokio::test]
    async fn every_watcher_shares_one_encoding_of_an_event() {
        let store = Store::open(StoreConfig {
            event_window: 100,
            ..StoreConfig::default()
        })
        .unwrap();
        let scope = Scope {
            prefix: pods_info().storage_prefix(),
            namespace: None,
        };
        let mut first = store.watch(&scope, 0).unwrap();
        let mut second = store.watch(&scope, 0).unwrap();
        store
            .create(
                Key::namespaced(pods_info().storage_prefix(), "default", "a"),
                pod("a"),
            )
            .await
            .unwrap();
        let a = tokio::time::timeout(DEADLINE, first.next())
            .await
            .unwrap()
            .unwrap();
        let b = tokio::time::timeout(DEADLINE, second.next())
            .await
            .unwrap()
            .unwrap();
        let (a_json, b_json) = (a.object.json(), b.object.json());
        assert_eq!(a_json.as_ptr(), b_json.as_ptr(), "encoded twice");
        assert_eq!(
            a_json.as_ref(),
            serde_json::to_vec(&a.object.to_value().unwrap()).unwrap()
        );
        store.close().await;
    }

    #[tokio::test]
    async fn watch_lines_are_byte_identical_to_serializing_each_event() {
        let store = Store::open(StoreConfig {
            event_window: 100,
            ..StoreConfig::default()
        })
        .unwrap();
        let state = RestState::new(store.clone());
        let key = Key::namespaced(pods_info().storage_prefix(), "default", "a");
        let before = store.create(key.clone(), pod("a")).await.unwrap();

        // One watcher sees the pre-existing object as initial state, two follow changes
        // only; all must produce the same bytes for the same events.
        let mut receivers = Vec::new();
        for start in [
            Start::CurrentState,
            Start::After(before.revision),
            Start::After(before.revision),
        ] {
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(run(state.clone(), plain_watch(start), tx));
            receivers.push(rx);
        }
        assert_eq!(
            next_line(&mut receivers[0]).await,
            reference_line("ADDED", &before.object.to_value().unwrap())
        );

        let mut changed = pod("a");
        changed["spec"]["nodeName"] = json!("n2");
        let modified = store.update(key.clone(), changed, None).await.unwrap();
        let deleted = store.delete(&key, None).await.unwrap();
        for rx in &mut receivers {
            assert_eq!(
                next_line(rx).await,
                reference_line("MODIFIED", &modified.object.to_value().unwrap())
            );
            assert_eq!(
                next_line(rx).await,
                reference_line("DELETED", &deleted.object.to_value().unwrap())
            );
        }
        state.stop_watches();
        store.close().await;
    }
}
