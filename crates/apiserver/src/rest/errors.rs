//! `metav1.Status` failures for the REST layer.
//!
//! The wording, codes, reasons and details are [`everynode_model::status::ApiError`]'s, so
//! there is one place that follows upstream's registry errors; this module only names the
//! resource from the registry's [`ResourceInfo`], maps store failures, and renders the Status
//! as an HTTP response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use everynode_model::field::FieldError;
use everynode_model::status::{ApiError, OBJECT_MODIFIED};
use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::store::StoreError;

/// A failed request, rendered as a `metav1.Status` body with the matching HTTP code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(transparent)]
// Boxed: a Status is a few hundred bytes and every handler's `Result` carries this type.
pub struct RestError(Box<ApiError>);

impl From<ApiError> for RestError {
    fn from(err: ApiError) -> Self {
        RestError(Box::new(err))
    }
}

impl RestError {
    /// The Status this error answers with.
    pub fn api_error(&self) -> &ApiError {
        &self.0
    }

    /// The HTTP status code, also the Status `code`.
    pub fn code(&self) -> u16 {
        self.0.code()
    }

    /// The machine-readable reason (`NotFound`, `Conflict`, `Invalid`, ...).
    pub fn reason(&self) -> &str {
        self.0.reason()
    }

    /// The human-readable message kubectl prints.
    pub fn message(&self) -> &str {
        self.0.message()
    }

    /// 404 `<resource> "<name>" not found`.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        ApiError::not_found(&info.qualified_resource(), name).into()
    }

    /// 404 for a path that names no served resource.
    pub fn path_not_found() -> Self {
        ApiError::path_not_found().into()
    }

    /// 409 `<resource> "<name>" already exists`.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        ApiError::already_exists(&info.qualified_resource(), name).into()
    }

    /// 409 Conflict for a stale resourceVersion (upstream's optimistic-concurrency wording).
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self::conflict_with(info, name, OBJECT_MODIFIED)
    }

    /// 409 Conflict with a custom detail after `Operation cannot be fulfilled on ...: `.
    pub fn conflict_with(info: &ResourceInfo, name: &str, detail: &str) -> Self {
        Self::conflict_on(&info.qualified_resource(), name, detail)
    }

    /// 409 Conflict on a resource string that is not a registry entry, such as the
    /// `pods/binding` subresource (upstream names it, not `pods`, in message and details).
    pub fn conflict_on(resource_qualified: &str, name: &str, detail: &str) -> Self {
        ApiError::conflict(resource_qualified, name, detail).into()
    }

    /// 422 Invalid from a list of field errors.
    pub fn invalid(info: &ResourceInfo, name: &str, errors: &[FieldError]) -> Self {
        ApiError::invalid(&info.qualified_kind(), name, errors).into()
    }

    /// 422 Invalid with a free message and no causes (a patch that cannot be applied).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::unprocessable(message).into()
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::bad_request(message).into()
    }

    /// 403 Forbidden with upstream's `<resource> "<name>" is forbidden: <detail>` shape.
    pub fn forbidden(info: &ResourceInfo, name: &str, detail: &str) -> Self {
        ApiError::forbidden(&info.qualified_resource(), name, detail).into()
    }

    /// 405 MethodNotAllowed for a method the requested path does not serve.
    pub fn method_not_allowed() -> Self {
        ApiError::method_not_allowed_on_path().into()
    }

    /// 406 NotAcceptable for an Accept header we cannot serve.
    pub fn not_acceptable() -> Self {
        ApiError::not_acceptable(&["application/json", "application/yaml"]).into()
    }

    /// 410 Expired (`too old resource version`, expired continue tokens).
    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::expired(message).into()
    }

    /// 413 for request bodies over the limit.
    pub fn too_large(limit: usize) -> Self {
        ApiError::request_entity_too_large(&format!("limit is {limit}")).into()
    }

    /// 415 UnsupportedMediaType listing the media types the endpoint accepts.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        ApiError::unsupported_media_type_accepting(accepted).into()
    }

    /// 415 UnsupportedMediaType whose message the rejecting layer already wrote.
    pub fn unsupported_media_type_message(message: impl Into<String>) -> Self {
        ApiError::unsupported_media_type_message(message).into()
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::internal(message).into()
    }

    /// 503 ServiceUnavailable (store closed during shutdown).
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::service_unavailable(message).into()
    }

    /// The Status object as JSON, for embedding in a watch `ERROR` event.
    pub fn to_status(&self) -> Value {
        // A Status holds only strings, integers and string-keyed maps, which always serialise.
        serde_json::to_value(&self.0.status).unwrap_or_default()
    }

    /// Maps a store failure for the object `name` of `info`.
    pub fn from_store(err: StoreError, info: &ResourceInfo, name: &str) -> Self {
        match err {
            StoreError::NotFound => Self::not_found(info, name),
            StoreError::AlreadyExists => Self::already_exists(info, name),
            StoreError::Conflict { .. } => Self::conflict(info, name),
            StoreError::Expired { requested, oldest } => {
                ApiError::too_old_resource_version(requested, oldest).into()
            }
            StoreError::Closed => Self::unavailable("the server is shutting down"),
            StoreError::Storage(msg) => Self::internal(msg),
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        super::json_response(code, &self.0.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;
    use serde_json::json;

    fn info(group: &str, plural: &str) -> &'static ResourceInfo {
        registry::lookup(group, "v1", plural).expect("served resource")
    }

    #[test]
    fn rest_errors_render_the_status_clients_classify_by() {
        let ds = info("apps", "daemonsets");
        let pods = info("", "pods");
        let errs = [FieldError::required("spec.selector", "")];
        // (error, code, reason, message, details; Null when the Status has none)
        let rows = [
            (
                RestError::not_found(ds, "x"),
                404,
                "NotFound",
                "daemonsets.apps \"x\" not found",
                json!({"name": "x", "group": "apps", "kind": "daemonsets"}),
            ),
            (
                RestError::already_exists(pods, "p"),
                409,
                "AlreadyExists",
                "pods \"p\" already exists",
                json!({"name": "p", "kind": "pods"}),
            ),
            (
                RestError::conflict(ds, "x"),
                409,
                "Conflict",
                "Operation cannot be fulfilled on daemonsets.apps \"x\": the object has been modified; please apply your changes to the latest version and try again",
                json!({"name": "x", "group": "apps", "kind": "daemonsets"}),
            ),
            (
                RestError::conflict_on(
                    "pods/binding",
                    "p",
                    "pod p is already assigned to node \"n\"",
                ),
                409,
                "Conflict",
                "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"n\"",
                json!({"name": "p", "kind": "pods/binding"}),
            ),
            (
                RestError::invalid(ds, "x", &errs),
                422,
                "Invalid",
                "DaemonSet.apps \"x\" is invalid: spec.selector: Required value",
                json!({"name": "x", "group": "apps", "kind": "DaemonSet", "causes": [
                    {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}
                ]}),
            ),
            (
                RestError::forbidden(pods, "p", "denied"),
                403,
                "Forbidden",
                "pods \"p\" is forbidden: denied",
                json!({"name": "p", "kind": "pods"}),
            ),
            (
                RestError::path_not_found(),
                404,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            ),
            (
                RestError::too_large(3),
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3",
                Value::Null,
            ),
            (
                RestError::unsupported_media_type(&["application/json", "application/yaml"]),
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
                Value::Null,
            ),
            (
                RestError::from_store(
                    StoreError::Expired {
                        requested: 5,
                        oldest: 9,
                    },
                    ds,
                    "",
                ),
                410,
                "Expired",
                "too old resource version: 5 (9)",
                Value::Null,
            ),
            (
                RestError::from_store(StoreError::Storage("disk full".into()), ds, "x"),
                500,
                "InternalError",
                "Internal error occurred: disk full",
                json!({"causes": [{"message": "disk full"}]}),
            ),
            (
                RestError::from_store(StoreError::Closed, ds, "x"),
                503,
                "ServiceUnavailable",
                "the server is shutting down",
                Value::Null,
            ),
        ];
        for (err, code, reason, message, details) in rows {
            assert_eq!(
                (err.code(), err.reason(), err.to_string().as_str()),
                (code, reason, message)
            );
            let mut want = json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code,
            });
            if !details.is_null() {
                want["details"] = details;
            }
            assert_eq!(err.to_status(), want, "{message}");
            assert_eq!(err.into_response().status().as_u16(), code, "{message}");
        }
    }
}
