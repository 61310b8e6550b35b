//! `metav1.Status` errors for every failure the API server can return
//! (`k8s.io/apimachinery/pkg/api/errors` wording).
//!
//! Clients classify errors by `code` and `reason` (kube-rs retries 429/503, treats 409
//! AlreadyExists as idempotent success, relists on 410 Expired), and kubectl prints `message`
//! verbatim, so all three follow upstream exactly.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use crate::field::{self, FieldError, non_empty};

/// The detail upstream gives when an update carries a stale resourceVersion.
pub const OBJECT_MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// An API failure carried as the `Status` object the server writes in the response body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message())]
pub struct ApiError {
    /// The `Status` to serialise (kind/apiVersion are added by k8s-openapi's serializer).
    pub status: Status,
}

/// Splits `daemonsets.apps` / `DaemonSet.apps` into `(name, group)`; core names have no dot.
fn split_qualified(qualified: &str) -> (&str, &str) {
    match qualified.split_once('.') {
        Some((name, group)) => (name, group),
        None => (qualified, ""),
    }
}

fn failure(code: u16, reason: &str, message: String, details: Option<StatusDetails>) -> ApiError {
    ApiError {
        status: Status {
            status: Some("Failure".to_string()),
            message: Some(message),
            reason: non_empty(reason),
            code: Some(i32::from(code)),
            details,
            ..Default::default()
        },
    }
}

/// Details naming a resource (upstream puts the plural resource name in `kind` here).
fn resource_details(resource_qualified: &str, name: &str) -> Option<StatusDetails> {
    let (resource, group) = split_qualified(resource_qualified);
    Some(StatusDetails {
        name: non_empty(name),
        group: non_empty(group),
        kind: non_empty(resource),
        ..Default::default()
    })
}

impl ApiError {
    /// The HTTP status code (500 if the Status somehow carries none or a nonsensical one).
    pub fn code(&self) -> u16 {
        self.status
            .code
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..=599).contains(c))
            .unwrap_or(500)
    }

    /// The human-readable message (also this error's `Display`).
    pub fn message(&self) -> &str {
        self.status.message.as_deref().unwrap_or("")
    }

    /// The machine-readable reason (`NotFound`, `Invalid`, ...), empty when unset.
    pub fn reason(&self) -> &str {
        self.status.reason.as_deref().unwrap_or("")
    }

    /// 404 NotFound: `daemonsets.apps "x" not found`. `resource_qualified` is the plural
    /// resource with its group (`daemonsets.apps`; core resources have none: `pods`).
    pub fn not_found(resource_qualified: &str, name: &str) -> Self {
        failure(
            404,
            "NotFound",
            format!("{resource_qualified} {} not found", field::go_quote(name)),
            resource_details(resource_qualified, name),
        )
    }

    /// 404 NotFound for a path that names no served resource: no name, empty details, as
    /// upstream's generic server response.
    pub fn path_not_found() -> Self {
        failure(
            404,
            "NotFound",
            "the server could not find the requested resource".to_string(),
            Some(StatusDetails::default()),
        )
    }

    /// 409 AlreadyExists: `daemonsets.apps "x" already exists`.
    pub fn already_exists(resource_qualified: &str, name: &str) -> Self {
        failure(
            409,
            "AlreadyExists",
            format!(
                "{resource_qualified} {} already exists",
                field::go_quote(name)
            ),
            resource_details(resource_qualified, name),
        )
    }

    /// 409 Conflict: `Operation cannot be fulfilled on daemonsets.apps "x": <detail>`.
    /// For a stale resourceVersion pass [`OBJECT_MODIFIED`].
    pub fn conflict(resource_qualified: &str, name: &str, detail: &str) -> Self {
        failure(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource_qualified} {}: {detail}",
                field::go_quote(name)
            ),
            resource_details(resource_qualified, name),
        )
    }

    /// 422 Invalid for `kind_qualified` (`DaemonSet.apps`, or `Pod` for core kinds), rendered
    /// by [`field::invalid_status`].
    pub fn invalid(kind_qualified: &str, name: &str, errors: &[FieldError]) -> Self {
        let (kind, group) = split_qualified(kind_qualified);
        ApiError {
            status: field::invalid_status(kind, group, name, errors),
        }
    }

    /// 422 Invalid with `msg` as the message and no field causes: a patch that is well formed
    /// but cannot be applied (a failed JSON patch `test`, a missing path).
    pub fn unprocessable(msg: impl Into<String>) -> Self {
        failure(422, "Invalid", msg.into(), None)
    }

    /// 400 BadRequest with `msg` as the message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        failure(400, "BadRequest", msg.into(), None)
    }

    /// 405 MethodNotAllowed: `<action> is not supported on resources of kind "<resource>"`.
    pub fn method_not_allowed(resource_qualified: &str, action: &str) -> Self {
        let (resource, group) = split_qualified(resource_qualified);
        failure(
            405,
            "MethodNotAllowed",
            format!(
                "{action} is not supported on resources of kind {}",
                field::go_quote(resource_qualified)
            ),
            Some(StatusDetails {
                group: non_empty(group),
                kind: non_empty(resource),
                ..Default::default()
            }),
        )
    }

    /// 405 MethodNotAllowed for a method the requested path does not serve at all (no
    /// resource or action to name, unlike [`ApiError::method_not_allowed`]).
    pub fn method_not_allowed_on_path() -> Self {
        failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".to_string(),
            None,
        )
    }

    /// 401 Unauthorized, as the authentication filter answers (`Unauthorized`).
    pub fn unauthorized() -> Self {
        failure(401, "Unauthorized", "Unauthorized".to_string(), None)
    }

    /// 403 Forbidden: `daemonsets.apps "x" is forbidden: <reason>`, or without the name
    /// part (`daemonsets.apps is forbidden: ...`) when `name` is empty.
    pub fn forbidden(resource_qualified: &str, name: &str, reason: &str) -> Self {
        let message = if name.is_empty() {
            format!("{resource_qualified} is forbidden: {reason}")
        } else {
            format!(
                "{resource_qualified} {} is forbidden: {reason}",
                field::go_quote(name)
            )
        };
        failure(
            403,
            "Forbidden",
            message,
            resource_details(resource_qualified, name),
        )
    }

    /// 410 Expired with `msg`, e.g. `too old resource version: 5 (120)`.
    pub fn expired(msg: impl Into<String>) -> Self {
        failure(410, "Expired", msg.into(), None)
    }

    /// 410 Expired for a watch or list resuming from a compacted resourceVersion:
    /// `too old resource version: <requested> (<oldest available>)`.
    pub fn too_old_resource_version(requested: u64, oldest: u64) -> Self {
        Self::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    /// 410 Gone with `msg`.
    pub fn gone(msg: impl Into<String>) -> Self {
        failure(410, "Gone", msg.into(), None)
    }

    /// 413 RequestEntityTooLarge: `Request entity too large: <msg>`.
    pub fn request_entity_too_large(msg: &str) -> Self {
        failure(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: {msg}"),
            None,
        )
    }

    /// 415 UnsupportedMediaType for a request body of type `content_type`. Upstream's message
    /// does not name the rejected type, only the accepted ones (JSON and YAML here); use
    /// [`ApiError::unsupported_media_type_accepting`] to list others (e.g. patch types).
    pub fn unsupported_media_type(content_type: &str) -> Self {
        let _ = content_type;
        Self::unsupported_media_type_accepting(&["application/json", "application/yaml"])
    }

    /// 415 UnsupportedMediaType listing the media types the endpoint accepts.
    pub fn unsupported_media_type_accepting(accepted: &[&str]) -> Self {
        Self::unsupported_media_type_message(format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ))
    }

    /// 415 UnsupportedMediaType whose message was written by the layer that rejected the
    /// body (the patch engine names the patch types a kind without a schema accepts).
    pub fn unsupported_media_type_message(msg: impl Into<String>) -> Self {
        failure(415, "UnsupportedMediaType", msg.into(), None)
    }

    /// 406 NotAcceptable: `only the following media types are accepted: <list>`.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        failure(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
            None,
        )
    }

    /// 429 TooManyRequests: `Too many requests: <msg>` with `details.retryAfterSeconds`
    /// (the server should also send a `Retry-After` header with the same value).
    pub fn too_many_requests(msg: &str, retry_after_seconds: i32) -> Self {
        failure(
            429,
            "TooManyRequests",
            format!("Too many requests: {msg}"),
            Some(StatusDetails {
                retry_after_seconds: Some(retry_after_seconds),
                ..Default::default()
            }),
        )
    }

    /// 500 InternalError: `Internal error occurred: <msg>`, with the cause in details.
    pub fn internal(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        failure(
            500,
            "InternalError",
            format!("Internal error occurred: {msg}"),
            Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    message: Some(msg),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        )
    }

    /// 503 ServiceUnavailable with `msg` as the message.
    pub fn service_unavailable(msg: impl Into<String>) -> Self {
        failure(503, "ServiceUnavailable", msg.into(), None)
    }

    /// 504 Timeout: `Timeout: <msg>`, with the suggested client retry delay.
    pub fn timeout(msg: &str, retry_after_seconds: i32) -> Self {
        failure(
            504,
            "Timeout",
            format!("Timeout: {msg}"),
            Some(StatusDetails {
                retry_after_seconds: Some(retry_after_seconds),
                ..Default::default()
            }),
        )
    }
}

/// The `Success` Status some deletes return instead of the object (e.g. a delete that
/// removed the object immediately for resources that answer with a Status): details name the
/// object (`kind` is the plural resource, as upstream), `uid` when known.
pub fn success_status(resource_qualified: &str, name: &str, uid: Option<&str>) -> Status {
    let (resource, group) = split_qualified(resource_qualified);
    Status {
        status: Some("Success".to_string()),
        details: Some(StatusDetails {
            name: non_empty(name),
            group: non_empty(group),
            kind: non_empty(resource),
            uid: uid.and_then(non_empty),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn path_level_and_free_message_errors_carry_upstream_code_reason_and_details() {
        // (error, code, reason, message, details as served; Null when absent)
        let rows = [
            (
                ApiError::path_not_found(),
                404,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            ),
            (
                ApiError::method_not_allowed_on_path(),
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Value::Null,
            ),
            (
                ApiError::unprocessable("testing value /data/k failed"),
                422,
                "Invalid",
                "testing value /data/k failed",
                Value::Null,
            ),
            (
                ApiError::unsupported_media_type_message("only merge patches here"),
                415,
                "UnsupportedMediaType",
                "only merge patches here",
                Value::Null,
            ),
            (
                ApiError::conflict("pods/binding", "p", "pod p is already assigned"),
                409,
                "Conflict",
                "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned",
                json!({"name": "p", "kind": "pods/binding"}),
            ),
        ];
        for (err, code, reason, message, details) in rows {
            assert_eq!(
                (err.code(), err.reason(), err.message()),
                (code, reason, message)
            );
            let served = serde_json::to_value(&err.status).expect("serialises");
            assert_eq!(served["details"], details, "{message}");
            assert_eq!(served["metadata"], json!({}), "{message}");
        }
    }
}
