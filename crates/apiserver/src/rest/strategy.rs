//! Per-resource strategies: what the server does to an object on create and update
//! (system fields, defaults, status-subresource rules, generation, templateGeneration,
//! pod priority) and how it is validated.

use everynode_model::Timestamp;
use everynode_model::field::FieldError;
use everynode_model::wellknown::TEMPLATE_GENERATION_ANNOTATION;
use everynode_model::{defaults, validation};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::errors::RestError;
use crate::registry::ResourceInfo;
use crate::store::{Key, Scope, Store};

/// Which part of an object an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: status changes are discarded.
    Main,
    /// The `/status` subresource: spec and most metadata changes are discarded.
    Status,
}

/// The current time as the model's timestamp type.
pub fn now() -> Timestamp {
    // jiff is built without `std` here, so go through the duration since the epoch.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(0);
    let nanos = i32::try_from(since.subsec_nanos()).unwrap_or(0);
    Timestamp::new(secs, nanos).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Renders a timestamp as `metav1.Time` JSON (RFC 3339, whole seconds).
pub fn time_value(t: Timestamp) -> Value {
    let whole = Timestamp::from_second(t.as_second()).unwrap_or(t);
    serde_json::to_value(Time(whole)).unwrap_or(Value::Null)
}

/// Decodes JSON into a k8s-openapi type, with upstream's "cannot be handled" wording.
pub fn decode<T: DeserializeOwned>(info: &ResourceInfo, value: &Value) -> Result<T, RestError> {
    T::deserialize(value).map_err(|e| {
        RestError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            info.kind, info.version, info.kind
        ))
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Value, RestError> {
    serde_json::to_value(value).map_err(|e| RestError::internal(e.to_string()))
}

fn meta_of(info: &ResourceInfo, object: &Value) -> Result<ObjectMeta, RestError> {
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    decode(info, &meta)
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let Some(map) = object.as_object_mut() else {
        unreachable!("object was just made a map")
    };
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    match meta.as_object_mut() {
        Some(m) => m,
        None => unreachable!("metadata was just made a map"),
    }
}

/// The object's name, or "" when it has none.
pub fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The mod revision in the object's `metadata.resourceVersion`, if set.
pub fn resource_version_of(object: &Value) -> Result<Option<u64>, RestError> {
    match object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        None | Some("") => Ok(None),
        Some(rv) => rv.parse::<u64>().map(Some).map_err(|_| {
            RestError::bad_request(format!(
                "metadata.resourceVersion: Invalid value: \"{rv}\": must be a decimal number"
            ))
        }),
    }
}

fn ensure_type_meta(info: &ResourceInfo, object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(info.api_version()));
        map.insert("kind".into(), Value::String(info.kind.to_string()));
    }
}

fn has_generation(info: &ResourceInfo) -> bool {
    matches!((info.group, info.kind), ("apps", "DaemonSet") | ("", "Pod"))
}

/// Prepares a new object for storage: system fields, strategy, defaults, then validation.
/// The name (possibly generated) and namespace must already be set.
pub fn prepare_create(
    info: &ResourceInfo,
    object: &mut Value,
    store: &Store,
    now: Timestamp,
) -> Result<(), RestError> {
    ensure_type_meta(info, object);
    {
        let meta = metadata_mut(object);
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), time_value(now));
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if has_generation(info) {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
    }
    let name = name_of(object).to_string();
    match (info.group, info.kind) {
        ("apps", "DaemonSet") => {
            let tg = template_generation(object)?
                .filter(|g| *g >= 1)
                .unwrap_or(1);
            let mut ds: DaemonSet = decode(info, object)?;
            ds.status = Some(DaemonSetStatus::default());
            defaults::default_daemonset(&mut ds);
            check(info, &name, validation::validate_daemonset(&ds))?;
            *object = encode(&ds)?;
            set_template_generation(object, tg);
        }
        ("", "Pod") => {
            let mut pod: Pod = decode(info, object)?;
            defaults::default_pod(&mut pod);
            resolve_priority(info, &name, &mut pod, store)?;
            let qos = qos_class(&pod);
            pod.status = Some(PodStatus {
                phase: Some("Pending".into()),
                qos_class: Some(qos.into()),
                ..Default::default()
            });
            check(info, &name, validation::validate_pod(&pod))?;
            *object = encode(&pod)?;
        }
        ("", "Node") => {
            let mut node: Node = decode(info, object)?;
            defaults::default_node(&mut node);
            check(info, &name, validation::validate_node(&node))?;
            *object = encode(&node)?;
        }
        ("", "Namespace") => {
            let mut ns: Namespace = decode(info, object)?;
            ns.status = None;
            defaults::default_namespace(&mut ns);
            check(info, &name, validation::validate_namespace(&ns))?;
            *object = encode(&ns)?;
        }
        ("apps", "ControllerRevision") => {
            let cr: ControllerRevision = decode(info, object)?;
            check(info, &name, validation::validate_controller_revision(&cr))?;
        }
        _ => {
            let meta = meta_of(info, object)?;
            check(
                info,
                &name,
                validation::validate_object_meta(&meta, info.namespaced, "metadata"),
            )?;
        }
    }
    Ok(())
}

/// Prepares an update of `old` into `new` for `part`: carries over what the request may not
/// change, applies defaults, bumps generation and templateGeneration, and validates.
pub fn prepare_update(
    info: &ResourceInfo,
    part: Part,
    new: &mut Value,
    old: &Value,
) -> Result<(), RestError> {
    ensure_type_meta(info, new);
    let has_status = info.subresources.contains(&"status");
    {
        let old_meta = old
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let meta = metadata_mut(new);
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(uid) = old_meta.get("uid")
        {
            meta.insert("uid".into(), uid.clone());
        }
        // The server owns these: clients cannot set or clear them through an update.
        for field in [
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(field) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        if part == Part::Status {
            for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
                match old_meta.get(field) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
        }
    }
    if has_status && let Some(map) = new.as_object_mut() {
        let keep = match part {
            Part::Main => "status",
            Part::Status => "spec",
        };
        match old.get(keep) {
            Some(v) => map.insert(keep.into(), v.clone()),
            None => map.remove(keep),
        };
    }
    let name = name_of(new).to_string();
    match (info.group, info.kind) {
        ("apps", "DaemonSet") => {
            let old_tg = template_generation(old)?.unwrap_or(1);
            let mut ds: DaemonSet = decode(info, new)?;
            let old_ds: DaemonSet = decode(info, old)?;
            defaults::default_daemonset(&mut ds);
            let errors = match part {
                Part::Main => validation::validate_daemonset_update(&ds, &old_ds),
                Part::Status => validation::validate_daemonset_status_update(&ds, &old_ds),
            };
            check(info, &name, errors)?;
            let template_changed = ds.spec.template != old_ds.spec.template;
            *new = encode(&ds)?;
            bump_generation_if_spec_changed(new, old);
            set_template_generation(new, if template_changed { old_tg + 1 } else { old_tg });
        }
        ("", "Pod") if part == Part::Status => {
            // Spec and metadata were just copied from the stored pod, which was defaulted
            // and validated when written: only the status is new, so only it is decoded
            // (checking its shape) and normalized. The fleet writes thousands per second.
            if let Some(map) = new.as_object_mut() {
                match map.remove("status") {
                    None | Some(Value::Null) => {}
                    Some(status) => {
                        let status: PodStatus = decode(info, &status)?;
                        map.insert("status".into(), encode(&status)?);
                    }
                }
            }
            bump_generation_if_spec_changed(new, old);
        }
        ("", "Pod") => {
            let mut pod: Pod = decode(info, new)?;
            let old_pod: Pod = decode(info, old)?;
            defaults::default_pod(&mut pod);
            // The priority admission result is immutable once set.
            if let (Some(spec), Some(old_spec)) = (pod.spec.as_mut(), old_pod.spec.as_ref())
                && spec.priority.is_none()
            {
                spec.priority = old_spec.priority;
            }
            check(info, &name, validation::validate_pod_update(&pod, &old_pod))?;
            *new = encode(&pod)?;
            bump_generation_if_spec_changed(new, old);
        }
        ("", "Node") => {
            let mut node: Node = decode(info, new)?;
            defaults::default_node(&mut node);
            check(info, &name, validation::validate_node(&node))?;
            *new = encode(&node)?;
        }
        ("", "Namespace") => {
            let mut ns: Namespace = decode(info, new)?;
            defaults::default_namespace(&mut ns);
            check(info, &name, validation::validate_namespace(&ns))?;
            *new = encode(&ns)?;
        }
        ("apps", "ControllerRevision") => {
            let cr: ControllerRevision = decode(info, new)?;
            let old_cr: ControllerRevision = decode(info, old)?;
            check(
                info,
                &name,
                validation::validate_controller_revision_update(&cr, &old_cr),
            )?;
        }
        _ => {
            let meta = meta_of(info, new)?;
            let old_meta = meta_of(info, old)?;
            check(
                info,
                &name,
                validation::validate_object_meta_update(&meta, &old_meta, "metadata"),
            )?;
        }
    }
    Ok(())
}

fn check(info: &ResourceInfo, name: &str, errors: Vec<FieldError>) -> Result<(), RestError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RestError::invalid(info, name, &errors))
    }
}

fn bump_generation_if_spec_changed(new: &mut Value, old: &Value) {
    let old_gen = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let changed = new.get("spec") != old.get("spec");
    let generation = if changed { old_gen + 1 } else { old_gen };
    metadata_mut(new).insert("generation".into(), json!(generation));
}

/// Reads the DaemonSet templateGeneration annotation; unparsable values are a 400 as
/// upstream's conversion error is.
fn template_generation(object: &Value) -> Result<Option<i64>, RestError> {
    let Some(raw) = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
    else {
        return Ok(None);
    };
    match raw.as_str().map(str::parse::<i64>) {
        Some(Ok(n)) => Ok(Some(n)),
        _ => Err(RestError::bad_request(format!(
            "invalid value for annotation {TEMPLATE_GENERATION_ANNOTATION}: {raw}"
        ))),
    }
}

fn set_template_generation(object: &mut Value, generation: i64) {
    let meta = metadata_mut(object);
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Some(map) = annotations.as_object_mut() {
        map.insert(
            TEMPLATE_GENERATION_ANNOTATION.into(),
            Value::String(generation.to_string()),
        );
    }
}

/// Priority admission: resolves `priorityClassName` (or the global default class) into
/// `spec.priority` and `spec.preemptionPolicy`.
fn resolve_priority(
    info: &ResourceInfo,
    name: &str,
    pod: &mut Pod,
    store: &Store,
) -> Result<(), RestError> {
    let Some(spec) = pod.spec.as_mut() else {
        return Ok(());
    };
    let prefix = "scheduling.k8s.io/priorityclasses".to_string();
    let class = match spec
        .priority_class_name
        .as_deref()
        .filter(|n| !n.is_empty())
    {
        Some(class_name) => {
            let key = Key {
                prefix,
                namespace: None,
                name: class_name.to_string(),
            };
            match store.get(&key) {
                Some(stored) => Some(
                    stored
                        .object
                        .to_value()
                        .map_err(|e| RestError::internal(e.to_string()))?,
                ),
                None => {
                    return Err(RestError::forbidden(
                        info,
                        name,
                        &format!("no PriorityClass with name {class_name} was found"),
                    ));
                }
            }
        }
        None => store
            .list(&Scope {
                prefix,
                namespace: None,
            })
            .items
            .into_iter()
            .filter_map(|s| s.object.to_value().ok())
            .find(|o| {
                o.get("globalDefault")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            }),
    };
    let value = class
        .as_ref()
        .and_then(|c| c.get("value"))
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
        .unwrap_or(0);
    if let Some(given) = spec.priority
        && given != value
    {
        return Err(RestError::forbidden(
            info,
            name,
            &format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
            ),
        ));
    }
    spec.priority = Some(value);
    if let Some(class) = &class {
        if spec.priority_class_name.is_none()
            && let Some(n) = class.pointer("/metadata/name").and_then(Value::as_str)
        {
            spec.priority_class_name = Some(n.to_string());
        }
        if spec.preemption_policy.is_none() {
            let policy = class
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or("PreemptLowerPriority");
            spec.preemption_policy = Some(policy.to_string());
        }
    }
    Ok(())
}

/// Upstream's QoS class: BestEffort without any requests or limits, Guaranteed when every
/// container limits cpu and memory with requests equal to limits, Burstable otherwise.
fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
        let has = |m: Option<
            &std::collections::BTreeMap<
                String,
                k8s_openapi::apimachinery::pkg::api::resource::Quantity,
            >,
        >| { m.is_some_and(|m| m.keys().any(|k| k == "cpu" || k == "memory")) };
        any |= has(requests) || has(limits);
        for resource in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(resource));
            let request = requests.and_then(|r| r.get(resource)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_generation_annotation_parses_or_is_a_bad_request() {
        let cases = [
            (json!({"metadata": {}}), Ok(None)),
            (
                json!({"metadata": {"annotations": {TEMPLATE_GENERATION_ANNOTATION: "3"}}}),
                Ok(Some(3)),
            ),
            (
                json!({"metadata": {"annotations": {TEMPLATE_GENERATION_ANNOTATION: "x"}}}),
                Err(400),
            ),
        ];
        for (object, want) in cases {
            let got = template_generation(&object).map_err(|e| e.code());
            assert_eq!(got, want, "{object}");
        }
    }

    #[test]
    fn generation_bumps_only_when_spec_changes() {
        let old = json!({"metadata": {"generation": 4, "labels": {"a": "1"}}, "spec": {"x": 1}});
        let mut labels_only =
            json!({"metadata": {"generation": 4, "labels": {"a": "2"}}, "spec": {"x": 1}});
        bump_generation_if_spec_changed(&mut labels_only, &old);
        assert_eq!(labels_only.pointer("/metadata/generation"), Some(&json!(4)));
        let mut spec_change = json!({"metadata": {"generation": 4}, "spec": {"x": 2}});
        bump_generation_if_spec_changed(&mut spec_change, &old);
        assert_eq!(spec_change.pointer("/metadata/generation"), Some(&json!(5)));
    }

    #[test]
    fn qos_class_follows_requests_and_limits() {
        let pod = |resources: Value| -> Pod {
            serde_json::from_value(
                json!({"spec": {"containers": [{"name": "c", "resources": resources}]}}),
            )
            .expect("pod")
        };
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
    }
}
