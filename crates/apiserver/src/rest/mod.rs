//! The REST layer: one generic handler that serves every registered resource with the
//! Kubernetes verbs (get, list, watch, create, update, patch, delete, deletecollection),
//! plus discovery, OpenAPI, version and health endpoints.
//!
//! Requests are routed by parsing `uri.path()` ourselves (a fallback route), because the
//! resource paths are generic and HTTP/2 URIs carry scheme and authority.

pub mod errors;
pub mod filter;
pub mod path;
pub mod strategy;
pub mod watch;

mod deletion;
mod verbs;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use self::errors::RestError;
use self::path::ApiPath;
use crate::store::{Store, StoredObject};
use crate::{discovery, openapi};

/// Request bodies larger than this are rejected with 413, as upstream's 3 MiB limit.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How long a list snapshot stays available for `continue` tokens.
const SNAPSHOT_TTL: Duration = Duration::from_secs(300);
/// How many list snapshots are kept for `continue` tokens.
const SNAPSHOT_CAPACITY: usize = 128;

/// Shared state of the REST handlers.
pub struct RestState {
    /// The object store.
    pub store: Store,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub bookmark_interval: Duration,
    snapshots: Mutex<Snapshots>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// A consistent list result kept for paging with `continue`.
pub(crate) struct Snapshot {
    id: u64,
    created: Instant,
    revision: u64,
    items: Arc<Vec<Arc<StoredObject>>>,
}

#[derive(Default)]
struct Snapshots {
    next_id: u64,
    entries: VecDeque<Snapshot>,
}

impl RestState {
    /// State over `store` with the default bookmark interval (one minute, as upstream).
    pub fn new(store: Store) -> Arc<RestState> {
        Self::with_bookmark_interval(store, Duration::from_secs(60))
    }

    /// State with a custom bookmark interval (tests use a short one).
    pub fn with_bookmark_interval(store: Store, bookmark_interval: Duration) -> Arc<RestState> {
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Arc::new(RestState {
            store,
            bookmark_interval,
            snapshots: Mutex::new(Snapshots::default()),
            shutdown,
        })
    }

    /// Ends every open watch stream (used on shutdown so graceful shutdown does not wait
    /// for long-lived watches).
    pub fn stop_watches(&self) {
        self.shutdown.send_replace(true);
    }

    fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        let rx = self.shutdown.subscribe();
        if *rx.borrow() {
            // Already stopped: hand out a receiver that reports a change at once.
            let (tx, rx) = tokio::sync::watch::channel(false);
            tx.send_replace(true);
            return rx;
        }
        rx
    }

    pub(crate) fn remember(&self, revision: u64, items: Arc<Vec<Arc<StoredObject>>>) -> u64 {
        let mut snaps = match self.snapshots.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        while snaps.entries.front().is_some_and(|s| {
            now.duration_since(s.created) > SNAPSHOT_TTL || snaps.entries.len() >= SNAPSHOT_CAPACITY
        }) {
            snaps.entries.pop_front();
        }
        snaps.next_id += 1;
        let id = snaps.next_id;
        snaps.entries.push_back(Snapshot {
            id,
            created: now,
            revision,
            items,
        });
        id
    }

    pub(crate) fn recall(&self, id: u64) -> Option<(u64, Arc<Vec<Arc<StoredObject>>>)> {
        let snaps = match self.snapshots.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        snaps
            .entries
            .iter()
            .find(|s| s.id == id && s.created.elapsed() <= SNAPSHOT_TTL)
            .map(|s| (s.revision, s.items.clone()))
    }
}

/// The API as an axum router (no TLS, no authentication: callers add those).
pub fn router(state: Arc<RestState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A JSON response with the given code.
pub fn json_response<T: Serialize + ?Sized>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => raw_json(code, bytes),
        Err(e) => {
            let fallback = format!(
                "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"message\":{},\"reason\":\"InternalError\",\"code\":500}}",
                Value::String(e.to_string())
            );
            raw_json(StatusCode::INTERNAL_SERVER_ERROR, fallback.into_bytes())
        }
    }
}

/// A response carrying JSON that is already encoded, such as an object's stored bytes.
pub(crate) fn raw_json(code: StatusCode, bytes: impl Into<Body>) -> Response {
    let mut resp = Response::new(bytes.into());
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn text(code: StatusCode, body: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Query parameters, last value wins.
pub(crate) type Query = HashMap<String, String>;

fn parse_query(query: Option<&str>) -> Query {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

async fn handle(State(state): State<Arc<RestState>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if is_health(&path) {
        return text(StatusCode::OK, "ok");
    }
    // Clients that prefer protobuf (kubectl's openapi and typed clients) also accept JSON,
    // so every answer is JSON whatever the Accept header lists first.
    let read_only = method == Method::GET || method == Method::HEAD;
    if path == "/version" || path == "/version/" {
        return discovery_answer(read_only, Some(discovery::version_info()));
    }
    if path == "/openapi/v3" || path == "/openapi/v3/" {
        return discovery_answer(read_only, Some(openapi::openapi_v3_root()));
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3/") {
        let doc = match rest
            .split('/')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["api", version] => openapi::openapi_v3_group_version("", version),
            ["apis", group, version] => openapi::openapi_v3_group_version(group, version),
            _ => None,
        };
        return discovery_answer(read_only, doc);
    }
    match path::parse(&path) {
        Ok(ApiPath::CoreVersions) => discovery_answer(read_only, Some(discovery::api_versions())),
        Ok(ApiPath::Groups) => discovery_answer(read_only, Some(discovery::api_group_list())),
        Ok(ApiPath::Group(group)) => discovery_answer(read_only, discovery::api_group(&group)),
        Ok(ApiPath::Resources { group, version }) => {
            discovery_answer(read_only, discovery::api_resource_list(&group, &version))
        }
        Ok(ApiPath::Resource(rp)) => match verbs::serve(state, rp, req).await {
            Ok(resp) => resp,
            Err(err) => err.into_response(),
        },
        Err(_) => RestError::path_not_found().into_response(),
    }
}

fn is_health(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz"].iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn discovery_answer(read_only: bool, doc: Option<Value>) -> Response {
    if !read_only {
        return RestError::method_not_allowed().into_response();
    }
    match doc {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => RestError::path_not_found().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_paths_include_sub_checks() {
        for (path, want) in [
            ("/healthz", true),
            ("/readyz/ping", true),
            ("/livez", true),
            ("/healthzz", false),
        ] {
            assert_eq!(is_health(path), want, "{path}");
        }
    }
}
