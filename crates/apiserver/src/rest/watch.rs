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
use crate::store::{EventKind, Scope, StoreError};
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
        let mut line = match serde_json::to_vec(&json!({"type": kind, "object": object})) {
            Ok(line) => line,
            Err(_) => return true,
        };
        line.push(b'\n');
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }
}

fn bookmark(info: &ResourceInfo, revision: u64, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"apiVersion": info.api_version(), "kind": info.kind, "metadata": metadata})
}

fn render(req: &WatchRequest, object: &Value, revision: u64) -> Value {
    match req.table {
        None => object.clone(),
        Some(include) => table::to_table(
            req.info,
            &[Arc::new(object.clone())],
            include,
            &revision.to_string(),
            None,
            crate::rest::strategy::now(),
        ),
    }
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
        if req.filter.matches(req.info, &item.object)
            && !sink
                .send("ADDED", &render(&req, &item.object, item.revision))
                .await
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
                let now_matches = req.filter.matches(req.info, &event.object);
                let kind = match event.kind {
                    EventKind::Added => now_matches.then_some("ADDED"),
                    EventKind::Deleted => now_matches.then_some("DELETED"),
                    EventKind::Modified => {
                        let before = event
                            .prev_object
                            .as_ref()
                            .is_none_or(|prev| req.filter.matches(req.info, prev));
                        match (before, now_matches) {
                            (true, true) => Some("MODIFIED"),
                            (false, true) => Some("ADDED"),
                            (true, false) => Some("DELETED"),
                            (false, false) => None,
                        }
                    }
                };
                if let Some(kind) = kind
                    && !sink.send(kind, &render(&req, &event.object, event.revision)).await
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
