//! The verbs on resources: get, list, watch, create, update, patch, delete,
//! deletecollection, and the pods/binding subresource.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::deletion::DeleteView;
use super::errors::RestError;
use super::filter::Filter;
use super::path::ResourcePath;
use super::strategy::{self, Part, name_of, resource_version_of, time_value};
use super::watch::{self, Start, WatchRequest};
use super::{MAX_BODY_BYTES, Query, RestState, json_response, parse_query, raw_json};
use crate::patch::{self, PatchError, PatchType};
use crate::registry::{self, ResourceInfo};
use crate::store::{Key, Scope, StoreError, Stored, StoredObject};
use crate::{strict, table};

/// Attempts for an internally retried read-modify-write before giving up with 409.
const MAX_ATTEMPTS: usize = 16;
/// Upstream's generateName suffix alphabet (no vowels, no look-alike digits).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Upstream retries a colliding generated name a few times.
const GENERATE_NAME_ATTEMPTS: usize = 8;

/// Serves one request for a resource.
pub async fn serve(
    state: Arc<RestState>,
    rp: ResourcePath,
    req: Request,
) -> Result<Response, RestError> {
    let (parts, body) = req.into_parts();
    let q = parse_query(parts.uri.query());
    let headers = parts.headers;
    let method = parts.method;
    let is_watch =
        rp.legacy_watch || matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let info = rp.info;
    let sub = rp.subresource.as_deref();

    if method == Method::GET || method == Method::HEAD {
        if is_watch {
            return start_watch(state, &rp, &q, &headers);
        }
        return match &rp.name {
            Some(name) => get(&state, &rp, name),
            None => list(&state, &rp, &q, &headers),
        };
    }
    let body = read_body(&headers, body).await?;
    match (method, rp.name.as_deref(), sub) {
        (Method::POST, None, None) => create(&state, &rp, &q, &headers, &body).await,
        (Method::POST, Some(name), Some("binding")) if info.plural == "pods" => {
            bind(&state, &rp, name, &headers, &body).await
        }
        (Method::PUT, Some(name), None | Some("status")) => {
            update(&state, &rp, name, &q, &headers, &body).await
        }
        (Method::PATCH, Some(name), None | Some("status")) => {
            patch(&state, &rp, name, &q, &headers, &body).await
        }
        (Method::DELETE, Some(name), None) => {
            let opts = DeleteOptions::parse(&q, &body)?;
            let deleted = delete(&state, info, &key(&rp, name), &opts).await?;
            Ok(raw_json(deleted.code, deleted.body))
        }
        (Method::DELETE, None, None) => delete_collection(&state, &rp, &q, &body).await,
        _ => Err(RestError::method_not_allowed()),
    }
}

fn key(rp: &ResourcePath, name: &str) -> Key {
    Key {
        prefix: rp.info.storage_prefix(),
        namespace: rp.namespace.clone(),
        name: name.to_string(),
    }
}

fn scope(rp: &ResourcePath) -> Scope {
    Scope {
        prefix: rp.info.storage_prefix(),
        namespace: rp.namespace.clone(),
    }
}

/// Parses a stored object for a writer that changes it.
fn value_of(stored: &Stored) -> Result<Value, RestError> {
    stored
        .object
        .to_value()
        .map_err(|e| RestError::internal(e.to_string()))
}

/// Encodes an object built for this answer (dry runs, Status objects).
fn encoded(value: &Value) -> Result<Bytes, RestError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| RestError::internal(e.to_string()))
}

fn dry_run(q: &Query) -> bool {
    q.get("dryRun").is_some_and(|v| !v.is_empty())
}

async fn read_body(headers: &HeaderMap, body: axum::body::Body) -> Result<Bytes, RestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        // Read (and drop) what the client is still sending before answering: closing the
        // connection mid-upload makes the client see a broken pipe instead of our 413.
        discard_body(body, DISCARD_LIMIT_BYTES).await;
        return Err(RestError::too_large(MAX_BODY_BYTES));
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if declared.is_none() || e.to_string().contains("length limit") {
                RestError::too_large(MAX_BODY_BYTES)
            } else {
                RestError::bad_request(format!("unable to read the request body: {e}"))
            }
        })
}

/// How much of an oversized body is drained before answering 413; beyond this the
/// connection is simply closed.
const DISCARD_LIMIT_BYTES: usize = 16 * MAX_BODY_BYTES;

async fn discard_body(body: axum::body::Body, limit: usize) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > limit {
            break;
        }
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Decodes a JSON, YAML or Kubernetes protobuf request body into an object.
fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, RestError> {
    let ct = content_type(headers);
    let value: Value = match ct.as_str() {
        crate::protobuf::MEDIA_TYPE => crate::protobuf::decode(body).map_err(|e| {
            RestError::bad_request(format!("error decoding protobuf request body: {e}"))
        })?,
        "" | "application/json" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| RestError::bad_request(format!("error decoding request body: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|e| RestError::bad_request(format!("request body is not UTF-8: {e}")))?;
            serde_saphyr::from_str_with_options(
                text,
                serde_saphyr::options! { legacy_octal_numbers: true },
            )
            .map_err(|e| RestError::bad_request(format!("error decoding YAML request body: {e}")))?
        }
        _ => {
            return Err(RestError::unsupported_media_type(&[
                "application/json",
                "application/yaml",
                crate::protobuf::MEDIA_TYPE,
            ]));
        }
    };
    if !value.is_object() {
        return Err(RestError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Applies `fieldValidation`: Strict rejects unknown fields, Warn (the default) reports them
/// in `Warning` headers, Ignore does nothing.
fn field_validation(
    info: &ResourceInfo,
    q: &Query,
    object: &Value,
) -> Result<Vec<String>, RestError> {
    let mode = q
        .get("fieldValidation")
        .map(String::as_str)
        .unwrap_or("Warn");
    if mode.eq_ignore_ascii_case("Ignore") {
        return Ok(Vec::new());
    }
    let unknown =
        strict::unknown_fields(info.group, info.kind, object).map_err(RestError::bad_request)?;
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if mode.eq_ignore_ascii_case("Strict") {
        return Err(RestError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
            strict::strict_message(&unknown),
            kind = info.kind,
            version = info.version,
        )));
    }
    Ok(unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect())
}

fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn get(state: &RestState, rp: &ResourcePath, name: &str) -> Result<Response, RestError> {
    let stored = state
        .store
        .get(&key(rp, name))
        .ok_or_else(|| RestError::not_found(rp.info, name))?;
    Ok(raw_json(StatusCode::OK, stored.object.json().clone()))
}

fn list_kind(info: &ResourceInfo) -> String {
    format!("{}List", info.kind)
}

/// A `<Kind>List` around items that are already JSON (stored objects are copied into the
/// answer once, never parsed and re-encoded).
fn list_body<'a>(
    info: &ResourceInfo,
    metadata: &Value,
    items: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, RestError> {
    let internal = |e: serde_json::Error| RestError::internal(e.to_string());
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut out, &list_kind(info)).map_err(internal)?;
    out.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut out, &info.api_version()).map_err(internal)?;
    out.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut out, metadata).map_err(internal)?;
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    id: u64,
    start: usize,
}

fn expired_continue() -> RestError {
    RestError::expired(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    )
}

fn list(
    state: &RestState,
    rp: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Response, RestError> {
    let info = rp.info;
    let filter = Filter::parse(
        info,
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    )?;
    let limit = match q.get("limit").map(String::as_str).filter(|s| !s.is_empty()) {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| RestError::bad_request(format!("invalid limit: {l}")))?,
        None => 0,
    };
    let (revision, items, start, snapshot_id) = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.as_bytes())
                .map_err(|_| {
                    RestError::bad_request("continue key is not valid: illegal base64 data")
                })?;
            let token: ContinueToken = serde_json::from_slice(&raw).map_err(|_| {
                RestError::bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion",
                )
            })?;
            let (rv, items) = state.recall(token.id).ok_or_else(expired_continue)?;
            if rv != token.rv {
                return Err(expired_continue());
            }
            (rv, items, token.start, Some(token.id))
        }
        None => {
            let listing = state.store.list(&scope(rp));
            if q.get("resourceVersionMatch").map(String::as_str) == Some("Exact")
                && let Some(rv) = q
                    .get("resourceVersion")
                    .and_then(|rv| rv.parse::<u64>().ok())
                && rv != listing.revision
            {
                return Err(RestError::expired(format!(
                    "too old resource version: {rv} ({})",
                    listing.revision
                )));
            }
            let items: Vec<Arc<StoredObject>> = listing
                .items
                .into_iter()
                .filter(|s| filter.matches(&s.key, &s.object))
                .map(|s| s.object)
                .collect();
            (listing.revision, Arc::new(items), 0, None)
        }
    };
    let end = if limit > 0 {
        start.saturating_add(limit).min(items.len())
    } else {
        items.len()
    };
    let start = start.min(end);
    let page = &items[start..end];
    let (continue_token, remaining) = if end < items.len() {
        let id = snapshot_id.unwrap_or_else(|| state.remember(revision, items.clone()));
        let token = serde_json::to_vec(&ContinueToken {
            rv: revision,
            id,
            start: end,
        })
        .map_err(|e| RestError::internal(e.to_string()))?;
        (
            Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)),
            Some(items.len() - end),
        )
    } else {
        (None, None)
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if table::wants_table(accept) {
        let include = table::include_object_param(q.get("includeObject").map(String::as_str));
        let objects = page
            .iter()
            .map(|o| o.to_value().map_err(|e| RestError::internal(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let t = table::to_table(
            info,
            &objects,
            include,
            &revision.to_string(),
            continue_token.as_deref(),
            strategy::now(),
        );
        return Ok(json_response(StatusCode::OK, &t));
    }
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = &continue_token {
        metadata["continue"] = Value::String(token.clone());
    }
    if let Some(n) = remaining {
        metadata["remainingItemCount"] = json!(n);
    }
    let out = list_body(info, &metadata, page.iter().map(|o| o.json().as_ref()))?;
    Ok(raw_json(StatusCode::OK, out))
}

fn start_watch(
    state: Arc<RestState>,
    rp: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Response, RestError> {
    let info = rp.info;
    let mut field_selector = q.get("fieldSelector").cloned().unwrap_or_default();
    if let Some(name) = &rp.name {
        // A watch on one object (legacy `/watch/.../name`) is a watch filtered by name.
        let term = format!("metadata.name={name}");
        field_selector = if field_selector.is_empty() {
            term
        } else {
            format!("{field_selector},{term}")
        };
    }
    let filter = Filter::parse(
        info,
        q.get("labelSelector").map(String::as_str),
        Some(&field_selector),
    )?;
    let send_initial_events = q.get("sendInitialEvents").map(String::as_str) == Some("true");
    let start = match q.get("resourceVersion").map(String::as_str).unwrap_or("") {
        "" | "0" => Start::CurrentState,
        _ if send_initial_events => Start::CurrentState,
        rv => Start::After(
            rv.parse::<u64>()
                .map_err(|_| RestError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let timeout = match q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()) {
        Some(secs) if secs > 0 => Duration::from_secs(secs),
        _ => Duration::from_secs(1800),
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let table = table::wants_table(accept)
        .then(|| table::include_object_param(q.get("includeObject").map(String::as_str)));
    Ok(watch::serve(
        state,
        WatchRequest {
            info,
            namespace: rp.namespace.clone(),
            filter,
            start,
            send_initial_events,
            bookmarks: q.get("allowWatchBookmarks").map(String::as_str) == Some("true"),
            timeout,
            table,
        },
    ))
}

fn namespace_key(ns: &str) -> Key {
    Key {
        prefix: "core/namespaces".into(),
        namespace: None,
        name: ns.to_string(),
    }
}

fn namespaces_info() -> &'static ResourceInfo {
    registry::lookup("", "v1", "namespaces").unwrap_or(&registry::RESOURCES[0])
}

/// Namespaced creates need an existing namespace that is not being terminated.
fn check_namespace(
    state: &RestState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
) -> Result<(), RestError> {
    let stored = state
        .store
        .get(&namespace_key(ns))
        .ok_or_else(|| RestError::not_found(namespaces_info(), ns))?;
    if value_of(&stored)?
        .pointer("/status/phase")
        .and_then(Value::as_str)
        == Some("Terminating")
    {
        return Err(RestError::forbidden(
            info,
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        ));
    }
    Ok(())
}

/// Places the request's namespace into the object, rejecting a conflicting one.
fn apply_namespace(rp: &ResourcePath, object: &mut Value) -> Result<(), RestError> {
    let Some(meta) = object
        .as_object_mut()
        .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
    else {
        return Err(RestError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let Some(meta) = meta.as_object_mut() else {
        return Err(RestError::bad_request("metadata must be an object"));
    };
    match (&rp.namespace, rp.info.namespaced) {
        (Some(ns), true) => {
            if let Some(given) = meta.get("namespace").and_then(Value::as_str)
                && !given.is_empty()
                && given != ns
            {
                return Err(RestError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        (None, true) => {
            return Err(RestError::bad_request(
                "the namespace of the object must be given in the request path",
            ));
        }
        (_, false) => {
            meta.remove("namespace");
        }
    }
    Ok(())
}

fn generated_name(prefix: &str) -> String {
    let mut name = prefix.to_string();
    for _ in 0..5 {
        let i = rand::random_range(0..NAME_ALPHABET.len());
        name.push(char::from(NAME_ALPHABET[i]));
    }
    name
}

async fn create(
    state: &RestState,
    rp: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, RestError> {
    let info = rp.info;
    let mut object = decode_body(headers, body)?;
    let warnings = field_validation(info, q, &object)?;
    apply_namespace(rp, &mut object)?;
    let (status, body) = create_object(state, rp, object, dry_run(q)).await?;
    Ok(with_warnings(raw_json(status, body), &warnings))
}

async fn create_object(
    state: &RestState,
    rp: &ResourcePath,
    object: Value,
    dry: bool,
) -> Result<(StatusCode, Bytes), RestError> {
    let info = rp.info;
    let given_name = name_of(&object).to_string();
    let generate = object
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty() && given_name.is_empty())
        .map(str::to_string);
    if let Some(ns) = &rp.namespace
        && info.namespaced
    {
        check_namespace(state, info, ns, &given_name)?;
    }
    let attempts = if generate.is_some() {
        GENERATE_NAME_ATTEMPTS
    } else {
        1
    };
    let mut last_err = None;
    for _ in 0..attempts {
        let mut candidate = object.clone();
        if let Some(prefix) = &generate
            && let Some(meta) = candidate.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("name".into(), Value::String(generated_name(prefix)));
        }
        strategy::prepare_create(info, &mut candidate, &state.store, strategy::now())?;
        let name = name_of(&candidate).to_string();
        if dry {
            return Ok((StatusCode::CREATED, encoded(&candidate)?));
        }
        match state.store.create(key(rp, &name), candidate).await {
            Ok(stored) => return Ok((StatusCode::CREATED, stored.object.json().clone())),
            Err(StoreError::AlreadyExists) if generate.is_some() => {
                last_err = Some(RestError::already_exists(info, &name));
            }
            Err(e) => return Err(RestError::from_store(e, info, &name)),
        }
    }
    Err(last_err.unwrap_or_else(|| RestError::already_exists(info, &given_name)))
}

fn check_body_identity(rp: &ResourcePath, name: &str, object: &mut Value) -> Result<(), RestError> {
    apply_namespace(rp, object)?;
    let body_name = name_of(object).to_string();
    if body_name.is_empty() {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), Value::String(name.to_string()));
        }
    } else if body_name != name {
        return Err(RestError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

fn part(rp: &ResourcePath) -> Part {
    if rp.subresource.as_deref() == Some("status") {
        Part::Status
    } else {
        Part::Main
    }
}

async fn update(
    state: &RestState,
    rp: &ResourcePath,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, RestError> {
    let info = rp.info;
    let mut object = decode_body(headers, body)?;
    check_body_identity(rp, name, &mut object)?;
    let warnings = field_validation(info, q, &object)?;
    let client_rv = resource_version_of(&object)?;
    let (code, body) = write_update(state, rp, name, client_rv, dry_run(q), |_, _| {
        Ok(object.clone())
    })
    .await?;
    Ok(with_warnings(raw_json(code, body), &warnings))
}

/// True when an update leaves a deleting object with nothing to wait for.
fn finished_deleting(object: &Value) -> bool {
    let meta = object.get("metadata");
    let deleting = meta
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|v| !v.is_null());
    let finalizers_left = meta
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let grace = meta
        .and_then(|m| m.get("deletionGracePeriodSeconds"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    deleting && !finalizers_left && grace == 0
}

/// Whether an update changes nothing but (possibly) the resourceVersion. `current` is left
/// without its resourceVersion; `new` is restored.
fn same_ignoring_revision(new: &mut Value, current: &mut Value) -> bool {
    fn take_revision(v: &mut Value) -> Option<Value> {
        v.get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|meta| meta.remove("resourceVersion"))
    }
    take_revision(current);
    let kept = take_revision(new);
    let same = *new == *current;
    if let Some(rv) = kept
        && let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("resourceVersion".into(), rv);
    }
    same
}

/// The read-modify-write loop shared by update and patch. `make` builds the new object from
/// the current one; internal conflicts are retried unless the client pinned a revision.
async fn write_update(
    state: &RestState,
    rp: &ResourcePath,
    name: &str,
    client_rv: Option<u64>,
    dry: bool,
    mut make: impl FnMut(&Stored, &Value) -> Result<Value, RestError>,
) -> Result<(StatusCode, Bytes), RestError> {
    let info = rp.info;
    let key = key(rp, name);
    for _ in 0..MAX_ATTEMPTS {
        let current = state
            .store
            .get(&key)
            .ok_or_else(|| RestError::not_found(info, name))?;
        if let Some(rv) = client_rv
            && rv != current.revision
        {
            return Err(RestError::conflict(info, name));
        }
        let mut current_value = value_of(&current)?;
        let mut new = make(&current, &current_value)?;
        strategy::prepare_update(info, part(rp), &mut new, &current_value)?;
        if finished_deleting(&new) {
            if dry {
                return Ok((StatusCode::OK, encoded(&new)?));
            }
            match state.store.delete(&key, Some(current.revision)).await {
                Ok(stored) => return Ok((StatusCode::OK, stored.object.json().clone())),
                Err(StoreError::Conflict { .. }) if client_rv.is_none() => continue,
                Err(e) => return Err(RestError::from_store(e, info, name)),
            }
        }
        if same_ignoring_revision(&mut new, &mut current_value) {
            return Ok((StatusCode::OK, current.object.json().clone()));
        }
        if dry {
            return Ok((StatusCode::OK, encoded(&new)?));
        }
        match state
            .store
            .update(key.clone(), new, Some(current.revision))
            .await
        {
            Ok(stored) => return Ok((StatusCode::OK, stored.object.json().clone())),
            Err(StoreError::Conflict { .. }) if client_rv.is_none() => continue,
            Err(e) => return Err(RestError::from_store(e, info, name)),
        }
    }
    Err(RestError::conflict(info, name))
}

fn patch_error(e: PatchError) -> RestError {
    match e {
        PatchError::BadRequest(m) => RestError::bad_request(m),
        PatchError::Invalid(m) => RestError::unprocessable(m),
        PatchError::Unsupported(m) => RestError::unsupported_media_type_message(m),
    }
}

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

async fn patch(
    state: &RestState,
    rp: &ResourcePath,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, RestError> {
    let info = rp.info;
    let ct = content_type(headers);
    let patch_type = PatchType::from_content_type(&ct)
        .ok_or_else(|| RestError::unsupported_media_type(PATCH_TYPES))?;
    let strict_mode = q
        .get("fieldValidation")
        .map(String::as_str)
        .unwrap_or("Warn")
        .to_string();
    let dry = dry_run(q);
    let key = key(rp, name);
    if patch_type == PatchType::Apply && state.store.get(&key).is_none() {
        if rp.subresource.is_some() {
            return Err(RestError::not_found(info, name));
        }
        let mut object =
            patch::apply_patch(info.kind, None, patch_type, body).map_err(patch_error)?;
        check_body_identity(rp, name, &mut object)?;
        let warnings = field_validation(info, q, &object)?;
        let (code, body) = create_object(state, rp, object, dry).await?;
        return Ok(with_warnings(raw_json(code, body), &warnings));
    }
    let mut warnings = Vec::new();
    let (code, answer) = write_update(state, rp, name, None, dry, |current, current_value| {
        let mut patched = patch::apply_patch(info.kind, Some(current_value), patch_type, body)
            .map_err(patch_error)?;
        if let Some(rv) = resource_version_of(&patched)?
            && rv != current.revision
        {
            return Err(RestError::conflict(info, name));
        }
        if name_of(&patched) != name {
            return Err(RestError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&patched)
            )));
        }
        let mut query = Query::new();
        query.insert("fieldValidation".into(), strict_mode.clone());
        warnings = field_validation(info, &query, &patched)?;
        if let Some(meta) = patched.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "resourceVersion".into(),
                Value::String(current.revision.to_string()),
            );
        }
        Ok(patched)
    })
    .await?;
    Ok(with_warnings(raw_json(code, answer), &warnings))
}

/// `POST pods/{name}/binding`: assigns an unbound pod to a node.
async fn bind(
    state: &RestState,
    rp: &ResourcePath,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, RestError> {
    let info = rp.info;
    let binding = decode_body(headers, body)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RestError::bad_request("a binding needs target.name"))?
        .to_string();
    let key = key(rp, name);
    let conflict = |detail: String| RestError::conflict_on("pods/binding", name, &detail);
    for _ in 0..MAX_ATTEMPTS {
        let current = state
            .store
            .get(&key)
            .ok_or_else(|| RestError::not_found(info, name))?;
        let mut pod = value_of(&current)?;
        if pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
        {
            return Err(conflict(format!(
                "pod {name} is being deleted, cannot be assigned to a host"
            )));
        }
        if let Some(bound) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(conflict(format!(
                "pod {name} is already assigned to node \"{bound}\""
            )));
        }
        if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), Value::String(node.clone()));
        }
        set_condition(
            &mut pod,
            "PodScheduled",
            "True",
            time_value(strategy::now()),
        );
        match state
            .store
            .update(key.clone(), pod, Some(current.revision))
            .await
        {
            Ok(_) => {
                return Ok(json_response(
                    StatusCode::CREATED,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                ));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(RestError::from_store(e, info, name)),
        }
    }
    Err(RestError::conflict(info, name))
}

fn set_condition(object: &mut Value, kind: &str, status: &str, now: Value) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let status_obj = root.entry("status").or_insert_with(|| json!({}));
    if !status_obj.is_object() {
        *status_obj = json!({});
    }
    let Some(status_map) = status_obj.as_object_mut() else {
        return;
    };
    let conditions = status_map.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let condition =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    {
        Some(existing) => *existing = condition,
        None => list.push(condition),
    }
}

/// The options of a delete, from the DeleteOptions body and the query.
#[derive(Debug, Default, Clone)]
pub(crate) struct DeleteOptions {
    grace_period: Option<i64>,
    propagation: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    dry_run: bool,
}

impl DeleteOptions {
    fn parse(q: &Query, body: &[u8]) -> Result<DeleteOptions, RestError> {
        let mut opts = DeleteOptions::default();
        if !body.iter().all(u8::is_ascii_whitespace) {
            // kubectl's typed clients (drain) send DeleteOptions as protobuf; the body's
            // magic tells the two encodings apart without the request headers.
            let v: Value = if body.starts_with(crate::protobuf::MAGIC) {
                crate::protobuf::decode(body).map_err(|e| {
                    RestError::bad_request(format!("error decoding DeleteOptions: {e}"))
                })?
            } else {
                serde_json::from_slice(body).map_err(|e| {
                    RestError::bad_request(format!("error decoding DeleteOptions: {e}"))
                })?
            };
            opts.grace_period = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            opts.propagation = v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string);
            if opts.propagation.is_none() {
                opts.propagation = match v.get("orphanDependents").and_then(Value::as_bool) {
                    Some(true) => Some("Orphan".into()),
                    Some(false) => Some("Background".into()),
                    None => None,
                };
            }
            opts.precondition_uid = v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            opts.precondition_rv = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            opts.dry_run = v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
        }
        if let Some(g) = q.get("gracePeriodSeconds") {
            opts.grace_period =
                Some(g.parse().map_err(|_| {
                    RestError::bad_request(format!("invalid gracePeriodSeconds: {g}"))
                })?);
        }
        if let Some(p) = q.get("propagationPolicy") {
            opts.propagation = Some(p.clone());
        }
        opts.dry_run |= dry_run(q);
        if let Some(p) = &opts.propagation
            && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
        {
            return Err(RestError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        if opts.grace_period.is_some_and(|g| g < 0) {
            opts.grace_period = Some(0);
        }
        Ok(opts)
    }
}

fn success_status(info: &ResourceInfo, object: &DeleteView) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": object.metadata.name.as_ref().and_then(Value::as_str).unwrap_or(""),
            "group": info.group,
            "kind": info.plural,
            "uid": object.metadata.uid.clone().unwrap_or(Value::Null),
        },
    })
}

/// The answer to one delete.
pub(crate) struct Deleted {
    /// 200 when the object is gone, 202 when it stays (graceful pod deletion, finalizers).
    code: StatusCode,
    /// The JSON answered: the object, or a Status for registries that answer with one.
    body: Bytes,
    /// True when `body` is a Status rather than the object.
    is_status: bool,
}

impl Deleted {
    fn object(code: StatusCode, body: Bytes) -> Deleted {
        Deleted {
            code,
            body,
            is_status: false,
        }
    }
}

/// Deletes one object with upstream's graceful-deletion and finalizer rules.
pub(crate) async fn delete(
    state: &RestState,
    info: &ResourceInfo,
    key: &Key,
    opts: &DeleteOptions,
) -> Result<Deleted, RestError> {
    let name = key.name.as_str();
    for _ in 0..MAX_ATTEMPTS {
        let current = state
            .store
            .get(key)
            .ok_or_else(|| RestError::not_found(info, name))?;
        let view = DeleteView::read(current.object.json())
            .map_err(|e| RestError::internal(e.to_string()))?;
        if let Some(uid) = &opts.precondition_uid {
            let actual = view.uid();
            if uid != actual {
                return Err(RestError::conflict_with(
                    info,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    ),
                ));
            }
        }
        if let Some(rv) = &opts.precondition_rv
            && *rv != current.revision.to_string()
        {
            return Err(RestError::conflict_with(
                info,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in meta: {}",
                    current.revision
                ),
            ));
        }
        if info.group.is_empty() && info.plural == "namespaces" {
            return delete_namespace(state, info, &current, value_of(&current)?, opts).await;
        }
        let finalizers = view.updated_finalizers(opts.propagation.as_deref());
        let grace = view.grace_period(info, opts.grace_period);
        if grace > 0 || !finalizers.is_empty() {
            // The object stays (marked, or held by finalizers): rewrite its metadata.
            let mut marked = value_of(&current)?;
            let Some(meta) = marked.get_mut("metadata").and_then(Value::as_object_mut) else {
                return Err(RestError::internal("stored object has no metadata"));
            };
            // A repeated graceful delete may only shorten the remaining grace period; a
            // new deadline always differs from the stored one.
            let mut changed = false;
            if !view.is_being_deleted() || view.granted_grace().is_none_or(|g| grace < g) {
                let now = strategy::now();
                let at = now
                    .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(grace))
                    .unwrap_or(now);
                meta.insert("deletionTimestamp".into(), time_value(at));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                changed = true;
            }
            let kept = (!finalizers.is_empty()).then(|| json!(finalizers));
            if meta.get("finalizers") != kept.as_ref() {
                match kept {
                    Some(list) => meta.insert("finalizers".into(), list),
                    None => meta.remove("finalizers"),
                };
                changed = true;
            }
            if opts.dry_run {
                return Ok(Deleted::object(StatusCode::ACCEPTED, encoded(&marked)?));
            }
            if !changed {
                return Ok(Deleted::object(
                    StatusCode::ACCEPTED,
                    current.object.json().clone(),
                ));
            }
            match state
                .store
                .update(key.clone(), marked, Some(current.revision))
                .await
            {
                Ok(stored) => {
                    return Ok(Deleted::object(
                        StatusCode::ACCEPTED,
                        stored.object.json().clone(),
                    ));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(RestError::from_store(e, info, name)),
            }
        }
        if opts.dry_run {
            return deleted_answer(info, current.object.json(), &view);
        }
        match state.store.delete(key, Some(current.revision)).await {
            Ok(stored) => return deleted_answer(info, stored.object.json(), &view),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(RestError::from_store(e, info, name)),
        }
    }
    Err(RestError::conflict(info, name))
}

/// The answer to a delete that removed the object: pods answer with the deleted object
/// (`json`); other registries answer with a Status naming it.
fn deleted_answer(
    info: &ResourceInfo,
    json: &Bytes,
    object: &DeleteView,
) -> Result<Deleted, RestError> {
    if info.group.is_empty() && info.plural == "pods" {
        Ok(Deleted::object(StatusCode::OK, json.clone()))
    } else {
        Ok(Deleted {
            code: StatusCode::OK,
            body: encoded(&success_status(info, object))?,
            is_status: true,
        })
    }
}

/// Namespace deletion: mark Terminating, remove everything in the namespace, then the
/// namespace itself (our simplified namespace controller, run inline).
async fn delete_namespace(
    state: &RestState,
    info: &ResourceInfo,
    current: &Stored,
    mut terminating: Value,
    opts: &DeleteOptions,
) -> Result<Deleted, RestError> {
    let name = current.key.name.clone();
    if let Some(meta) = terminating
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        && meta.get("deletionTimestamp").is_none_or(Value::is_null)
    {
        meta.insert("deletionTimestamp".into(), time_value(strategy::now()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    }
    if let Some(root) = terminating.as_object_mut() {
        root.insert("status".into(), json!({"phase": "Terminating"}));
    }
    if opts.dry_run {
        return Ok(Deleted::object(StatusCode::OK, encoded(&terminating)?));
    }
    let stored = state
        .store
        .update(current.key.clone(), terminating, Some(current.revision))
        .await
        .map_err(|e| RestError::from_store(e, info, &name))?;
    for resource in registry::RESOURCES.iter().filter(|r| r.namespaced) {
        let scope = Scope {
            prefix: resource.storage_prefix(),
            namespace: Some(name.clone()),
        };
        for item in state.store.list(&scope).items {
            match state.store.delete(&item.key, None).await {
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(RestError::from_store(e, resource, &item.key.name)),
            }
        }
    }
    match state.store.delete(&current.key, None).await {
        Ok(_) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(RestError::from_store(e, info, &name)),
    }
    Ok(Deleted::object(
        StatusCode::OK,
        stored.object.json().clone(),
    ))
}

async fn delete_collection(
    state: &RestState,
    rp: &ResourcePath,
    q: &Query,
    body: &[u8],
) -> Result<Response, RestError> {
    let info = rp.info;
    let filter = Filter::parse(
        info,
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    )?;
    let opts = DeleteOptions::parse(q, body)?;
    let listing = state.store.list(&scope(rp));
    let mut items: Vec<Bytes> = Vec::new();
    for item in listing
        .items
        .iter()
        .filter(|s| filter.matches(&s.key, &s.object))
    {
        match delete(state, info, &item.key, &opts).await {
            Ok(deleted) if deleted.is_status => items.push(item.object.json().clone()),
            Ok(deleted) => items.push(deleted.body),
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let metadata = json!({"resourceVersion": state.store.revision().to_string()});
    let out = list_body(info, &metadata, items.iter().map(|i| i.as_ref()))?;
    Ok(raw_json(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_use_five_chars_from_upstreams_alphabet() {
        for _ in 0..50 {
            let name = generated_name("web-");
            let suffix = name.strip_prefix("web-").expect("prefix kept");
            assert_eq!(suffix.len(), 5);
            assert!(suffix.bytes().all(|b| NAME_ALPHABET.contains(&b)), "{name}");
        }
    }

    #[test]
    fn updates_finish_deletion_only_without_finalizers_and_grace() {
        let cases = [
            (
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0}}),
                true,
            ),
            (
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0, "finalizers": ["x"]}}),
                false,
            ),
            (
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}}),
                false,
            ),
            (json!({"metadata": {}}), false),
        ];
        for (obj, want) in cases {
            assert_eq!(finished_deleting(&obj), want, "{obj}");
        }
    }

    #[test]
    fn delete_options_merge_body_and_query() {
        let mut q = Query::new();
        q.insert("gracePeriodSeconds".into(), "0".into());
        let opts = DeleteOptions::parse(&q, br#"{"propagationPolicy":"Foreground","gracePeriodSeconds":30,"preconditions":{"uid":"u"}}"#)
            .expect("valid");
        assert_eq!(opts.grace_period, Some(0));
        assert_eq!(opts.propagation.as_deref(), Some("Foreground"));
        assert_eq!(opts.precondition_uid.as_deref(), Some("u"));
        let bad = DeleteOptions::parse(&Query::new(), br#"{"propagationPolicy":"Sideways"}"#);
        assert_eq!(bad.expect_err("rejected").code(), 400);
    }
}
