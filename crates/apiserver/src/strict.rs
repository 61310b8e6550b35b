//! Unknown-field detection for `fieldValidation=Strict` (kubectl's default).
//!
//! k8s-openapi's types silently skip unknown fields. Decoding through `serde_ignored` reports
//! each skipped field with its path; the path is re-rendered the way upstream prints it
//! (`spec.template.spec.containers[0].imagee`). Upstream answers a create/update/patch that has
//! unknown fields under Strict with 400 and [`strict_message`].

use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Binding, ConfigMap, Event, Namespace, Node, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::events::v1::Event as EventsV1Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Paths of fields in `object` unknown to the k8s-openapi type for `kind` in `group`
/// (`""` for core), as upstream renders them: `spec.template.spec.containers[0].imagee`,
/// `metadata.bogus`. `status` is checked like every other field.
///
/// Returns `Err` with a message suitable for a 400 when the JSON does not decode into the type
/// at all (a string where a list belongs, ...). Kinds this module does not know are not checked
/// (`Ok(vec![])`). `apiVersion` and `kind` are not checked here: the type's own check would
/// turn a mismatch into a decoding error, and the REST layer reports those itself.
pub fn unknown_fields(group: &str, kind: &str, object: &Value) -> Result<Vec<String>, String> {
    let check = match (group, kind) {
        ("apps", "DaemonSet") => collect::<DaemonSet>,
        ("apps", "ControllerRevision") => collect::<ControllerRevision>,
        ("", "Pod") => collect::<Pod>,
        ("", "Node") => collect::<Node>,
        ("", "Namespace") => collect::<Namespace>,
        ("", "Event") => collect::<Event>,
        ("events.k8s.io", "Event") => collect::<EventsV1Event>,
        ("", "ConfigMap") => collect::<ConfigMap>,
        ("", "Secret") => collect::<Secret>,
        ("", "ServiceAccount") => collect::<ServiceAccount>,
        ("", "Service") => collect::<Service>,
        ("", "Binding") => collect::<Binding>,
        ("coordination.k8s.io", "Lease") => collect::<Lease>,
        ("scheduling.k8s.io", "PriorityClass") => collect::<PriorityClass>,
        ("rbac.authorization.k8s.io", "Role") => collect::<Role>,
        ("rbac.authorization.k8s.io", "RoleBinding") => collect::<RoleBinding>,
        ("rbac.authorization.k8s.io", "ClusterRole") => collect::<ClusterRole>,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => collect::<ClusterRoleBinding>,
        ("" | "meta.k8s.io", "DeleteOptions") => collect::<DeleteOptions>,
        _ => return Ok(Vec::new()),
    };
    let version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    check(object)
        .map_err(|e| format!("{kind} in version \"{version}\" cannot be handled as a {kind}: {e}"))
}

/// Upstream's message for a strict decoding failure:
/// `strict decoding error: unknown field "spec.foo"`, several fields comma-separated.
pub fn strict_message(fields: &[String]) -> String {
    let mut out = String::from("strict decoding error: ");
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "unknown field \"{field}\"");
    }
    out
}

/// Decodes `object` as `T` and returns the paths of the fields `T` skipped.
fn collect<T: DeserializeOwned>(object: &Value) -> Result<Vec<String>, serde_json::Error> {
    let stripped;
    let object = match object {
        Value::Object(map) if map.contains_key("apiVersion") || map.contains_key("kind") => {
            let mut map = map.clone();
            map.remove("apiVersion");
            map.remove("kind");
            stripped = Value::Object(map);
            &stripped
        }
        other => other,
    };
    let mut unknown = Vec::new();
    let _: T = serde_ignored::deserialize(object, |path| unknown.push(render(&path)))?;
    Ok(unknown)
}

/// Renders a `serde_ignored` path upstream's way: map keys joined by `.`, sequence indices
/// as `[i]`, and no segments for `Option`/newtype wrappers (serde_ignored's `?`).
fn render(path: &serde_ignored::Path<'_>) -> String {
    let mut out = String::new();
    write_path(path, &mut out);
    out
}

fn write_path(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            write_path(parent, out);
            let _ = write!(out, "[{index}]");
        }
        Path::Map { parent, key } => {
            write_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => write_path(parent, out),
    }
}
