//! `metav1.Status` failures for the REST layer.
//!
//! Every failure the API answers with is a Status object whose `code` and `reason` clients
//! (kube-rs, kubectl) classify errors by, so the wording follows upstream's registry errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use everynode_model::field::FieldError;
use serde_json::{Value, json};

use crate::registry::ResourceInfo;
use crate::store::StoreError;

/// A failed request, rendered as a `metav1.Status` body with the matching HTTP code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RestError {
    /// HTTP status code, also written into the Status `code` field.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`, `Invalid`, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Optional `details` object (name, group, kind, causes, retryAfterSeconds).
    pub details: Option<Value>,
}

impl RestError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        RestError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404 `<resource> "<name>" not found`.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        Self::not_found_resource(&info.qualified_resource(), info.group, info.plural, name)
    }

    /// 404 for a resource given by its qualified name (used for namespaces and classes).
    pub fn not_found_resource(qualified: &str, group: &str, kind: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(json!({"name": name, "group": group, "kind": kind}))
    }

    /// 404 for a path that names no served resource.
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 409 `<resource> "<name>" already exists`.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", info.qualified_resource()),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    /// 409 Conflict for a stale resourceVersion (upstream's optimistic-concurrency wording).
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self::conflict_with(
            info,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with a custom detail after `Operation cannot be fulfilled on ...: `.
    pub fn conflict_with(info: &ResourceInfo, name: &str, detail: &str) -> Self {
        Self::conflict_on(
            &info.qualified_resource(),
            info.group,
            info.plural,
            name,
            detail,
        )
    }

    /// 409 Conflict on a named resource string such as `pods/binding`.
    pub fn conflict_on(resource: &str, group: &str, kind: &str, name: &str, detail: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {detail}"),
        )
        .with_details(json!({"name": name, "group": group, "kind": kind}))
    }

    /// 422 Invalid from a list of field errors.
    pub fn invalid(info: &ResourceInfo, name: &str, errors: &[FieldError]) -> Self {
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| {
                json!({
                    "reason": cause_reason(e),
                    "message": e.to_string(),
                    "field": e.field,
                })
            })
            .collect();
        let rendered: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let joined = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", info.qualified_kind()),
        )
        .with_details(
            json!({"name": name, "group": info.group, "kind": info.kind, "causes": causes}),
        )
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 Forbidden with upstream's `<resource> "<name>" is forbidden: <detail>` shape.
    pub fn forbidden(info: &ResourceInfo, name: &str, detail: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: {detail}",
                info.qualified_resource()
            ),
        )
        .with_details(json!({"name": name, "group": info.group, "kind": info.plural}))
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 406 NotAcceptable for an Accept header we cannot serve.
    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml",
        )
    }

    /// 410 Expired (`too old resource version`, expired continue tokens).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 for request bodies over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}) - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message}]}))
    }

    /// 503 ServiceUnavailable (store closed during shutdown).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// The Status object as JSON.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        status
    }

    /// Maps a store failure for the object `name` of `info`.
    pub fn from_store(err: StoreError, info: &ResourceInfo, name: &str) -> Self {
        match err {
            StoreError::NotFound => Self::not_found(info, name),
            StoreError::AlreadyExists => Self::already_exists(info, name),
            StoreError::Conflict { .. } => Self::conflict(info, name),
            StoreError::Expired { requested, oldest } => {
                Self::expired(format!("too old resource version: {requested} ({oldest})"))
            }
            StoreError::Closed => Self::unavailable("the server is shutting down"),
            StoreError::Storage(msg) => Self::internal(msg),
        }
    }
}

fn cause_reason(e: &FieldError) -> &'static str {
    e.kind.reason()
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        super::json_response(code, &self.to_status())
    }
}
