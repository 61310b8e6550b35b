//! Validation of the objects we serve (spec section 2; upstream
//! `pkg/apis/apps/validation`, `pkg/apis/core/validation`, apimachinery's ObjectMeta and
//! name validation). Every function returns all errors it finds, in upstream's order, with
//! upstream's paths and texts, because clients display and sometimes match them.
//!
//! Callers default objects first ([`crate::defaults`]); validating an undefaulted object
//! reports the missing defaults as errors, as upstream would.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategy,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, Event, HTTPGetAction, Lifecycle, LifecycleHandler, Namespace,
    Node, Pod, PodSpec, PodTemplateSpec, Probe, Taint, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::Value;

use crate::defaults::{ON_DELETE, ROLLING_UPDATE, volume_sources};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::selector::Selector;

/// Upstream's detail for a changed immutable field.
pub const FIELD_IMMUTABLE: &str = "field is immutable";
const NEGATIVE_MSG: &str = "must be greater than or equal to 0";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_MSG: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";
const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
/// Upstream's limit on the total size of all annotations of one object (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
const POD_UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

// ---------------------------------------------------------------------------------------
// Name and value syntax (apimachinery util/validation). Each returns the problem texts,
// empty when the value is fine.

/// Upstream's `RegexError`: the message, examples and the regex, in its exact punctuation.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push('\'');
        s.push_str(e);
        s.push_str("', ");
    }
    s.push_str("regex used for validation is '");
    s.push_str(fmt);
    s.push_str("')");
    s
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without the length limit.
fn matches_label_regex(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            is_lower_alnum(f)
                && is_lower_alnum(l)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

fn matches_subdomain_regex(s: &str) -> bool {
    s.split('.').all(matches_label_regex)
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn matches_qualified_name_regex(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Problems with `value` as a DNS-1123 label (max 63 chars, e.g. container names).
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !matches_label_regex(value) {
        if matches_subdomain_regex(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Problems with `value` as a DNS-1123 subdomain (max 253 chars, most object names).
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !matches_subdomain_regex(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Problems with `value` as a qualified name (`[prefix/]name`: label and annotation keys).
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !matches_qualified_name_regex(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Problems with `value` as a label value (empty allowed, max 63 chars).
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !matches_qualified_name_regex(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Problems with `value` as a percentage string (`^[0-9]+%$`).
pub fn is_valid_percent(value: &str) -> Vec<String> {
    let ok = value
        .strip_suffix('%')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()));
    if ok {
        Vec::new()
    } else {
        vec![regex_error(PERCENT_MSG, PERCENT_FMT, &["1%", "93%"])]
    }
}

/// Problems with `port` as a port number (1..=65535).
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec!["must be between 1 and 65535, inclusive".to_string()]
    }
}

/// Problems with `port` as an IANA service (port) name.
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push("must be no more than 15 characters".to_string());
    }
    if port.is_empty() || !port.bytes().all(|c| is_lower_alnum(c) || c == b'-') {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

// ---------------------------------------------------------------------------------------
// Small building blocks.

/// Serialises `v` for an error's bad value; values that cannot be serialised render as null.
fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn each_invalid(path: &FieldPath, value: &str, msgs: Vec<String>) -> ErrorList {
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// `Invalid value: <v>: must be greater than or equal to 0` when `value` is negative.
pub fn validate_nonnegative(value: i64, path: &FieldPath) -> ErrorList {
    if value < 0 {
        vec![FieldError::invalid(path, value, NEGATIVE_MSG)]
    } else {
        Vec::new()
    }
}

/// `Invalid value: <new>: field is immutable` when `new != old`.
pub fn validate_immutable<T: Serialize + PartialEq>(
    new: &T,
    old: &T,
    path: &FieldPath,
) -> ErrorList {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(path, to_value(new), FIELD_IMMUTABLE)]
    }
}

/// Label keys must be qualified names and values valid label values; errors at `path`
/// itself (upstream does not index label errors by key).
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        errs.extend(each_invalid(path, k, is_qualified_name(k)));
        errs.extend(each_invalid(path, v, is_valid_label_value(v)));
    }
    errs
}

/// Annotation keys must be qualified names (case-insensitively); all annotations together
/// may not exceed [`TOTAL_ANNOTATION_SIZE_LIMIT`] bytes.
pub fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        errs.extend(each_invalid(path, k, is_qualified_name(&k.to_lowercase())));
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            path,
            "",
            TOTAL_ANNOTATION_SIZE_LIMIT as i64,
        ));
    }
    errs
}

/// Syntax of a `LabelSelector`: valid matchLabels, and per expression a valid operator with
/// values for In/NotIn and none for Exists/DoesNotExist.
pub fn validate_label_selector(sel: &LabelSelector, path: &FieldPath) -> ErrorList {
    let mut errs = validate_labels(sel.match_labels.as_ref(), &path.child("matchLabels"));
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                p.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errs.extend(each_invalid(
            &p.child("key"),
            &expr.key,
            is_qualified_name(&expr.key),
        ));
        for (j, v) in values.iter().enumerate() {
            errs.extend(each_invalid(
                &p.child("values").index(j),
                v,
                is_valid_label_value(v),
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------
// ObjectMeta.

/// How an object's name is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds).
    Subdomain,
    /// DNS-1123 label (namespaces).
    Label,
}

impl NameRule {
    fn check(self, name: &str, prefix: bool) -> Vec<String> {
        // A generateName prefix may end in '-', since random characters follow it.
        let masked;
        let name = if prefix && name.ends_with('-') {
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => is_dns1123_subdomain(name),
            NameRule::Label => is_dns1123_label(name),
        }
    }
}

/// Standard ObjectMeta validation with DNS-subdomain names: name (or generateName)
/// required, namespace required iff `namespaced` (forbidden otherwise), generation >= 0,
/// labels, annotations, ownerReferences and finalizers. `path` is usually `metadata`.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, path: &str) -> ErrorList {
    validate_object_meta_with(meta, namespaced, NameRule::Subdomain, &FieldPath::new(path))
}

/// [`validate_object_meta`] with an explicit name rule.
pub fn validate_object_meta_with(
    meta: &ObjectMeta,
    namespaced: bool,
    rule: NameRule,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = Vec::new();
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if !generate_name.is_empty() {
        errs.extend(each_invalid(
            &path.child("generateName"),
            generate_name,
            rule.check(generate_name, true),
        ));
    }
    let name = meta.name.as_deref().unwrap_or("");
    if name.is_empty() {
        // The API server generates the name from generateName before validating; when a
        // caller validates earlier, a generateName alone is enough.
        if generate_name.is_empty() {
            errs.push(FieldError::required(
                path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        errs.extend(each_invalid(
            &path.child("name"),
            name,
            rule.check(name, false),
        ));
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(path.child("namespace"), ""));
        } else {
            errs.extend(each_invalid(
                &path.child("namespace"),
                namespace,
                is_dns1123_label(namespace),
            ));
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            path.child("namespace"),
            "not allowed on this type",
        ));
    }
    errs.extend(validate_nonnegative(
        meta.generation.unwrap_or(0),
        &path.child("generation"),
    ));
    errs.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        meta.owner_references.as_deref().unwrap_or_default(),
        &path.child("ownerReferences"),
    ));
    for (i, f) in meta.finalizers.iter().flatten().enumerate() {
        errs.extend(validate_finalizer_name(
            f,
            &path.child("finalizers").index(i),
        ));
    }
    errs
}

fn validate_owner_references(refs: &[OwnerReference], path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    let mut controllers = Vec::new();
    for r in refs {
        let version = r.api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                path.child("apiVersion"),
                r.api_version.as_str(),
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                path.child("kind"),
                r.kind.as_str(),
                "kind must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                path.child("name"),
                r.name.as_str(),
                "name must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                path.child("uid"),
                r.uid.as_str(),
                "uid must not be empty",
            ));
        }
        if r.controller == Some(true) {
            controllers.push(format!("{}/{}", r.kind, r.name));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            to_value(&refs),
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {}",
                controllers.join(" and ")
            ),
        ));
    }
    errs
}

fn validate_finalizer_name(name: &str, path: &FieldPath) -> ErrorList {
    let mut errs = each_invalid(path, name, is_qualified_name(name));
    if errs.is_empty() && !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    errs
}

/// ObjectMeta rules for updates: name, namespace, uid, creationTimestamp, deletionTimestamp
/// and deletionGracePeriodSeconds immutable; generation never decremented; no finalizers
/// added once deletion started; labels/annotations/ownerReferences still valid.
///
/// Like upstream, this expects the server to have copied system fields the client may omit
/// (uid when empty, creationTimestamp, deletionTimestamp) from the old object first.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta, path: &str) -> ErrorList {
    let path = FieldPath::new(path);
    let mut errs = Vec::new();
    if old.deletion_timestamp.is_some() {
        let old_f: BTreeSet<&String> = old.finalizers.iter().flatten().collect();
        for f in new.finalizers.iter().flatten() {
            if !old_f.contains(f) {
                errs.push(FieldError::forbidden(
                    path.child("finalizers"),
                    format!("no new finalizers can be added if the object is being deleted, found new finalizers {}", crate::field::go_quote(f)),
                ));
            }
        }
    }
    let (new_gen, old_gen) = (new.generation.unwrap_or(0), old.generation.unwrap_or(0));
    if new_gen < old_gen {
        errs.push(FieldError::invalid(
            path.child("generation"),
            new_gen,
            "must not be decremented",
        ));
    }
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    errs.extend(validate_immutable(
        &s(&new.name),
        &s(&old.name),
        &path.child("name"),
    ));
    errs.extend(validate_immutable(
        &s(&new.namespace),
        &s(&old.namespace),
        &path.child("namespace"),
    ));
    errs.extend(validate_immutable(
        &s(&new.uid),
        &s(&old.uid),
        &path.child("uid"),
    ));
    errs.extend(validate_immutable(
        &new.creation_timestamp,
        &old.creation_timestamp,
        &path.child("creationTimestamp"),
    ));
    errs.extend(validate_immutable(
        &new.deletion_timestamp,
        &old.deletion_timestamp,
        &path.child("deletionTimestamp"),
    ));
    errs.extend(validate_immutable(
        &new.deletion_grace_period_seconds,
        &old.deletion_grace_period_seconds,
        &path.child("deletionGracePeriodSeconds"),
    ));
    errs.extend(validate_labels(new.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(
        new.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        new.owner_references.as_deref().unwrap_or_default(),
        &path.child("ownerReferences"),
    ));
    errs
}

// ---------------------------------------------------------------------------------------
// DaemonSet.

/// Full create validation of a DaemonSet (spec 2.1): metadata, selector, template, and the
/// DaemonSet-specific rules (restartPolicy Always, no activeDeadlineSeconds, non-negative
/// minReadySeconds and revisionHistoryLimit, update strategy).
///
/// k8s-openapi decodes a missing `spec.selector` as `{}`, so this treats the selector as
/// present; use [`validate_daemonset_with_raw`] when the submitted JSON is at hand to get
/// upstream's answer for a nil selector.
pub fn validate_daemonset(ds: &DaemonSet) -> ErrorList {
    validate_daemonset_inner(ds, true)
}

/// [`validate_daemonset`] for an object decoded from `raw` (the submitted JSON): a missing or
/// null `spec.selector` is validated as upstream's nil selector, which matches nothing and so
/// fails with the template-labels error (not the empty-selector one).
pub fn validate_daemonset_with_raw(ds: &DaemonSet, raw: &Value) -> ErrorList {
    validate_daemonset_inner(ds, selector_present(raw))
}

/// Whether a DaemonSet's JSON carries a non-null `spec.selector`.
pub fn selector_present(raw: &Value) -> bool {
    raw.pointer("/spec/selector").is_some_and(|s| !s.is_null())
}

fn validate_daemonset_inner(ds: &DaemonSet, selector_present: bool) -> ErrorList {
    let mut errs = validate_object_meta(&ds.metadata, true, "metadata");
    errs.extend(validate_daemonset_spec(ds, selector_present));
    errs
}

fn validate_daemonset_spec(ds: &DaemonSet, selector_present: bool) -> ErrorList {
    let mut errs = Vec::new();
    let spec = &ds.spec;
    let path = FieldPath::new("spec");
    let selector = selector_present.then_some(&spec.selector);
    errs.extend(validate_daemonset_selector_and_template(
        selector,
        &spec.template,
        &path,
    ));
    errs.extend(validate_nonnegative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    ));
    errs.extend(validate_update_strategy(
        spec.update_strategy.as_ref(),
        &path.child("updateStrategy"),
    ));
    if let Some(limit) = spec.revision_history_limit {
        errs.extend(validate_nonnegative(
            i64::from(limit),
            &path.child("revisionHistoryLimit"),
        ));
    }
    errs
}

fn validate_daemonset_selector_and_template(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = selector
        .map(|s| validate_label_selector(s, &path.child("selector")))
        .unwrap_or_default();
    let template_labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    // A selector that does not convert was reported above; only a converted one is matched.
    // A nil selector converts to "nothing", which matches no labels at all.
    if let Ok(sel) = Selector::from_label_selector(selector)
        && !sel.matches(&template_labels)
    {
        errs.push(FieldError::invalid(
            path.child("template").child("metadata").child("labels"),
            to_value(&template_labels),
            "`selector` does not match template `labels`",
        ));
    }
    if let Some(selector) = selector {
        let terms = selector.match_labels.as_ref().map_or(0, BTreeMap::len)
            + selector.match_expressions.as_ref().map_or(0, Vec::len);
        if terms == 0 {
            errs.push(FieldError::invalid(
                path.child("selector"),
                to_value(selector),
                "empty selector is invalid for daemonset",
            ));
        }
    }
    let tpath = path.child("template");
    errs.extend(validate_pod_template_spec(template, &tpath));
    let spec_path = tpath.child("spec");
    let restart = template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            spec_path.child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if template
        .spec
        .as_ref()
        .is_some_and(|s| s.active_deadline_seconds.is_some())
    {
        errs.push(FieldError::forbidden(
            spec_path.child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    errs
}

/// The integer an IntOrString stands for in the "exactly one non-zero" rule: a valid
/// percentage's number, an int's value, or a string's integer parse (0 if none).
fn int_or_percent_value(v: Option<&IntOrString>) -> i64 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => i64::from(*i),
        Some(IntOrString::String(s)) => {
            let digits = if is_valid_percent(s).is_empty() {
                &s[..s.len() - 1]
            } else {
                s.as_str()
            };
            digits.parse::<i64>().unwrap_or(0)
        }
    }
}

fn validate_positive_int_or_percent(v: Option<&IntOrString>, path: &FieldPath) -> ErrorList {
    match v {
        Some(IntOrString::String(s)) => each_invalid(path, s, is_valid_percent(s)),
        Some(IntOrString::Int(i)) => validate_nonnegative(i64::from(*i), path),
        None => Vec::new(),
    }
}

fn validate_not_more_than_100_percent(v: Option<&IntOrString>, path: &FieldPath) -> ErrorList {
    match v {
        Some(IntOrString::String(s))
            if is_valid_percent(s).is_empty() && int_or_percent_value(v) > 100 =>
        {
            vec![FieldError::invalid(
                path,
                s.as_str(),
                "must not be greater than 100%",
            )]
        }
        _ => Vec::new(),
    }
}

fn validate_update_strategy(
    strategy: Option<&DaemonSetUpdateStrategy>,
    path: &FieldPath,
) -> ErrorList {
    let default = DaemonSetUpdateStrategy::default();
    let strategy = strategy.unwrap_or(&default);
    match strategy.type_.as_deref().unwrap_or("") {
        ON_DELETE => Vec::new(),
        ROLLING_UPDATE => {
            let Some(ru) = &strategy.rolling_update else {
                return vec![FieldError::required(path.child("rollingUpdate"), "")];
            };
            let rpath = path.child("rollingUpdate");
            let (mu_path, ms_path) = (rpath.child("maxUnavailable"), rpath.child("maxSurge"));
            let (mu, ms) = (ru.max_unavailable.as_ref(), ru.max_surge.as_ref());
            let mut errs = validate_positive_int_or_percent(mu, &mu_path);
            errs.extend(validate_positive_int_or_percent(ms, &ms_path));
            errs.extend(validate_not_more_than_100_percent(mu, &mu_path));
            errs.extend(validate_not_more_than_100_percent(ms, &ms_path));
            let has_unavailable = int_or_percent_value(mu) != 0;
            let has_surge = int_or_percent_value(ms) != 0;
            if has_unavailable && has_surge {
                errs.push(FieldError::invalid(
                    ms_path,
                    to_value(&ms),
                    "may not be set when maxUnavailable is non-zero",
                ));
            } else if !has_unavailable && !has_surge {
                errs.push(FieldError::required(
                    mu_path,
                    "cannot be 0 when maxSurge is 0",
                ));
            }
            errs
        }
        _ => vec![FieldError::not_supported(
            path,
            to_value(strategy),
            &[ROLLING_UPDATE, ON_DELETE],
        )],
    }
}

/// Update validation of a DaemonSet's main resource (spec 2.2): ObjectMeta update rules,
/// the create-time spec validation of `new`, and the immutable selector.
pub fn validate_daemonset_update(new: &DaemonSet, old: &DaemonSet) -> ErrorList {
    // Upstream's update path checks metadata with the update rules only (name and namespace
    // were validated on create and are immutable), so metadata errors are not reported twice.
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_daemonset_spec(new, true));
    errs.extend(validate_immutable(
        &new.spec.selector,
        &old.spec.selector,
        &FieldPath::new("spec").child("selector"),
    ));
    errs
}

/// Validation of a write to `/status` (spec 2.3): ObjectMeta update rules, every counter
/// non-negative, and `collisionCount` never decremented (unset counts as a decrement).
pub fn validate_daemonset_status_update(new: &DaemonSet, old: &DaemonSet) -> ErrorList {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    let default = DaemonSetStatus::default();
    let status = new.status.as_ref().unwrap_or(&default);
    let path = FieldPath::new("status");
    let counters: [(&str, Option<i64>); 9] = [
        (
            "currentNumberScheduled",
            Some(status.current_number_scheduled.into()),
        ),
        (
            "numberMisscheduled",
            Some(status.number_misscheduled.into()),
        ),
        (
            "desiredNumberScheduled",
            Some(status.desired_number_scheduled.into()),
        ),
        ("numberReady", Some(status.number_ready.into())),
        ("observedGeneration", status.observed_generation),
        (
            "updatedNumberScheduled",
            status.updated_number_scheduled.map(i64::from),
        ),
        ("numberAvailable", status.number_available.map(i64::from)),
        (
            "numberUnavailable",
            status.number_unavailable.map(i64::from),
        ),
        ("collisionCount", status.collision_count.map(i64::from)),
    ];
    for (name, value) in counters {
        errs.extend(validate_nonnegative(value.unwrap_or(0), &path.child(name)));
    }
    let old_cc = old.status.as_ref().and_then(|s| s.collision_count);
    if let Some(old_cc) = old_cc {
        let new_cc = status.collision_count;
        if new_cc.is_none_or(|n| n < old_cc) {
            errs.push(FieldError::invalid(
                path.child("collisionCount"),
                new_cc.unwrap_or(0),
                "cannot be decremented",
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------
// ControllerRevision.

/// ControllerRevision create validation (spec 2.4): metadata, `data` required, revision >= 0.
pub fn validate_controller_revision(cr: &ControllerRevision) -> ErrorList {
    let mut errs = validate_object_meta(&cr.metadata, true, "metadata");
    if cr.data.0.is_null() {
        errs.push(FieldError::required("data", "data is mandatory"));
    }
    errs.extend(validate_nonnegative(
        cr.revision.unwrap_or(0),
        &FieldPath::new("revision"),
    ));
    errs
}

/// ControllerRevision update validation: metadata update rules, create rules, and `data`
/// immutable (revision and labels may change).
pub fn validate_controller_revision_update(
    new: &ControllerRevision,
    old: &ControllerRevision,
) -> ErrorList {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_controller_revision(new));
    errs.extend(validate_immutable(
        &new.data.0,
        &old.data.0,
        &FieldPath::new("data"),
    ));
    errs
}

// ---------------------------------------------------------------------------------------
// Pods and pod templates.

/// Pod template validation: template labels/annotations (reported at `<path>.labels`, as
/// upstream does), the pod spec, and no ephemeral containers.
pub fn validate_pod_template_spec(t: &PodTemplateSpec, path: &FieldPath) -> ErrorList {
    let meta = t.metadata.clone().unwrap_or_default();
    let mut errs = validate_labels(meta.labels.as_ref(), &path.child("labels"));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    let spec = t.spec.clone().unwrap_or_default();
    errs.extend(validate_pod_spec(&spec, &path.child("spec"), true));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Pod spec validation shared by pods and templates: volumes, containers and init
/// containers, hostNetwork ports, restartPolicy, dnsPolicy, nodeSelector, tolerations,
/// activeDeadlineSeconds and a few names. `template` relaxes what pod-only defaulting fills
/// (a zero hostPort under hostNetwork).
pub fn validate_pod_spec(spec: &PodSpec, path: &FieldPath, template: bool) -> ErrorList {
    let (volumes, mut errs) = validate_volumes(
        spec.volumes.as_deref().unwrap_or_default(),
        &path.child("volumes"),
    );
    errs.extend(validate_containers(spec, &volumes, path));
    if spec.host_network == Some(true) {
        for (i, c) in spec.containers.iter().enumerate() {
            for (j, port) in c.ports.iter().flatten().enumerate() {
                let host_port = port.host_port.unwrap_or(0);
                if host_port != port.container_port && !(template && host_port == 0) {
                    errs.push(FieldError::invalid(
                        path.child("containers")
                            .index(i)
                            .child("ports")
                            .index(j)
                            .child("hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    match spec.restart_policy.as_deref().unwrap_or("") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(path.child("restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    match spec.dns_policy.as_deref().unwrap_or("") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("dnsPolicy"),
            other,
            &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
    ));
    errs.extend(validate_tolerations(
        spec.tolerations.as_deref().unwrap_or_default(),
        &path.child("tolerations"),
    ));
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            ads,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        errs.extend(each_invalid(
            &path.child("serviceAccountName"),
            sa,
            is_dns1123_subdomain(sa),
        ));
    }
    if let Some(node) = spec.node_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(each_invalid(
            &path.child("nodeName"),
            node,
            is_dns1123_subdomain(node),
        ));
    }
    if let Some(h) = spec.hostname.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(each_invalid(
            &path.child("hostname"),
            h,
            is_dns1123_label(h),
        ));
    }
    if let Some(sd) = spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(each_invalid(
            &path.child("subdomain"),
            sd,
            is_dns1123_label(sd),
        ));
    }
    errs
}

/// Validates volumes; returns the names of the well-formed ones (which mounts may refer to).
fn validate_volumes(volumes: &[Volume], path: &FieldPath) -> (BTreeSet<String>, ErrorList) {
    let mut names = BTreeSet::new();
    let mut errs = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        let name_path = p.child("name");
        let mut el = validate_volume_source(v, &p);
        if v.name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            el.extend(each_invalid(&name_path, &v.name, is_dns1123_label(&v.name)));
        }
        if names.contains(&v.name) {
            el.push(FieldError::duplicate(&name_path, v.name.as_str()));
        }
        if el.is_empty() {
            names.insert(v.name.clone());
        } else {
            errs.extend(el);
        }
    }
    (names, errs)
}

fn validate_file_mode(mode: Option<i32>, path: &FieldPath) -> ErrorList {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m, FILE_MODE_MSG)],
        _ => Vec::new(),
    }
}

fn validate_volume_source(v: &Volume, path: &FieldPath) -> ErrorList {
    let sources = volume_sources(v);
    let mut errs = Vec::new();
    match sources.as_slice() {
        [] => return vec![FieldError::required(path, "must specify a volume type")],
        [_] => {}
        [_, rest @ ..] => {
            for extra in rest {
                errs.push(FieldError::forbidden(
                    path.child(extra),
                    "may not specify more than 1 volume type",
                ));
            }
            return errs;
        }
    }
    if let Some(h) = &v.host_path {
        let hp = path.child("hostPath");
        if h.path.is_empty() {
            errs.push(FieldError::required(hp.child("path"), ""));
        }
        let ty = h.type_.as_deref().unwrap_or("");
        const HOST_PATH_TYPES: [&str; 7] = [
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
        ];
        const HOST_PATH_TYPES_ALL: [&str; 8] = [
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ];
        if !HOST_PATH_TYPES.contains(&ty) && ty != "Socket" {
            errs.push(FieldError::not_supported(
                hp.child("type"),
                ty,
                &HOST_PATH_TYPES_ALL,
            ));
        }
    }
    if let Some(s) = &v.secret {
        let sp = path.child("secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(sp.child("secretName"), ""));
        }
        errs.extend(validate_file_mode(s.default_mode, &sp.child("defaultMode")));
    }
    if let Some(c) = &v.config_map {
        let cp = path.child("configMap");
        if c.name.is_empty() {
            errs.push(FieldError::required(cp.child("name"), ""));
        }
        errs.extend(validate_file_mode(c.default_mode, &cp.child("defaultMode")));
    }
    if let Some(d) = &v.downward_api {
        errs.extend(validate_file_mode(
            d.default_mode,
            &path.child("downwardAPI").child("defaultMode"),
        ));
    }
    if let Some(p) = &v.projected {
        errs.extend(validate_file_mode(
            p.default_mode,
            &path.child("projected").child("defaultMode"),
        ));
    }
    if let Some(pvc) = &v.persistent_volume_claim
        && pvc.claim_name.is_empty()
    {
        errs.push(FieldError::required(
            path.child("persistentVolumeClaim").child("claimName"),
            "",
        ));
    }
    errs
}

fn validate_containers(spec: &PodSpec, volumes: &BTreeSet<String>, path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    let cpath = path.child("containers");
    let mut names = BTreeSet::new();
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&cpath, ""));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let p = cpath.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        if !names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        }
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
        errs.extend(validate_lifecycle(
            c.lifecycle.as_ref(),
            &p.child("lifecycle"),
        ));
        errs.extend(validate_probe(
            c.liveness_probe.as_ref(),
            &p.child("livenessProbe"),
            ProbeKind::Liveness,
        ));
        errs.extend(validate_probe(
            c.readiness_probe.as_ref(),
            &p.child("readinessProbe"),
            ProbeKind::Readiness,
        ));
        errs.extend(validate_probe(
            c.startup_probe.as_ref(),
            &p.child("startupProbe"),
            ProbeKind::Startup,
        ));
    }
    let ipath = path.child("initContainers");
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = ipath.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        if !names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        }
        let sidecar = match c.restart_policy.as_deref() {
            None => false,
            Some("Always") => true,
            Some(other) => {
                errs.push(FieldError::not_supported(
                    p.child("restartPolicy"),
                    other,
                    &["Always"],
                ));
                false
            }
        };
        if sidecar {
            errs.extend(validate_lifecycle(
                c.lifecycle.as_ref(),
                &p.child("lifecycle"),
            ));
            errs.extend(validate_probe(
                c.liveness_probe.as_ref(),
                &p.child("livenessProbe"),
                ProbeKind::Liveness,
            ));
            errs.extend(validate_probe(
                c.readiness_probe.as_ref(),
                &p.child("readinessProbe"),
                ProbeKind::Readiness,
            ));
            errs.extend(validate_probe(
                c.startup_probe.as_ref(),
                &p.child("startupProbe"),
                ProbeKind::Startup,
            ));
        } else {
            const MSG: &str = "may not be set for init containers without restartPolicy=Always";
            for (set, field) in [
                (c.lifecycle.is_some(), "lifecycle"),
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(p.child(field), MSG));
                }
            }
        }
    }
    errs
}

fn validate_container_common(
    c: &Container,
    volumes: &BTreeSet<String>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = Vec::new();
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        errs.extend(each_invalid(&name_path, &c.name, is_dns1123_label(&c.name)));
    }
    if c.image.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    }
    match c.termination_message_policy.as_deref().unwrap_or("") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            path.child("terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_ports(
        c.ports.as_deref().unwrap_or_default(),
        &path.child("ports"),
    ));
    errs.extend(validate_env(
        c.env.as_deref().unwrap_or_default(),
        &path.child("env"),
    ));
    errs.extend(validate_volume_mounts(
        c.volume_mounts.as_deref().unwrap_or_default(),
        volumes,
        &path.child("volumeMounts"),
    ));
    match c.image_pull_policy.as_deref().unwrap_or("") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(path.child("imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    errs
}

fn validate_ports(ports: &[ContainerPort], path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(each_invalid(&p.child("name"), name, msgs));
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(p.child("containerPort"), ""));
        } else {
            for m in is_valid_port_num(port.container_port.into()) {
                errs.push(FieldError::invalid(
                    p.child("containerPort"),
                    port.container_port,
                    m,
                ));
            }
        }
        if let Some(hp) = port.host_port.filter(|&hp| hp != 0) {
            for m in is_valid_port_num(hp.into()) {
                errs.push(FieldError::invalid(p.child("hostPort"), hp, m));
            }
        }
        match port.protocol.as_deref().unwrap_or("") {
            "TCP" | "UDP" | "SCTP" => {}
            "" => errs.push(FieldError::required(p.child("protocol"), "")),
            other => errs.push(FieldError::not_supported(
                p.child("protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
    }
    errs
}

fn validate_env(env: &[EnvVar], path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    for (i, var) in env.iter().enumerate() {
        let p = path.index(i).child("name");
        if var.name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if var.name.contains('=') || !var.name.bytes().all(|c| (0x20..0x7f).contains(&c)) {
            errs.push(FieldError::invalid(
                p,
                var.name.as_str(),
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
    }
    errs
}

fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeSet<String>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        if !volumes.contains(&m.name) {
            errs.push(FieldError::not_found(p.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(p.child("mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                p.child("mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
    }
    errs
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(probe: Option<&Probe>, path: &FieldPath, kind: ProbeKind) -> ErrorList {
    let Some(probe) = probe else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let handlers = [
        ("exec", probe.exec.is_some()),
        ("httpGet", probe.http_get.is_some()),
        ("tcpSocket", probe.tcp_socket.is_some()),
        ("grpc", probe.grpc.is_some()),
    ];
    errs.extend(validate_handler_count(&handlers, path));
    if let Some(h) = &probe.http_get {
        errs.extend(validate_http_get(h, &path.child("httpGet")));
    }
    if let Some(t) = &probe.tcp_socket {
        errs.extend(validate_port_num_or_name(
            &t.port,
            &path.child("tcpSocket").child("port"),
        ));
    }
    if let Some(g) = &probe.grpc {
        for m in is_valid_port_num(g.port.into()) {
            errs.push(FieldError::invalid(
                path.child("grpc").child("port"),
                g.port,
                m,
            ));
        }
    }
    for (name, value) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        errs.extend(validate_nonnegative(
            i64::from(value.unwrap_or(0)),
            &path.child(name),
        ));
    }
    if let Some(t) = probe.termination_grace_period_seconds.filter(|&t| t <= 0) {
        errs.push(FieldError::invalid(
            path.child("terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = probe.success_threshold.unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    path.child("successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = probe.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    path.child("terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

fn validate_handler_count(handlers: &[(&str, bool)], path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    let mut count = 0;
    for (name, set) in handlers {
        if *set {
            if count > 0 {
                errs.push(FieldError::forbidden(
                    path.child(name),
                    "may not specify more than 1 handler type",
                ));
            }
            count += 1;
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

fn validate_lifecycle(lifecycle: Option<&Lifecycle>, path: &FieldPath) -> ErrorList {
    let Some(l) = lifecycle else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    for (name, handler) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
        if let Some(h) = handler {
            errs.extend(validate_lifecycle_handler(h, &path.child(name)));
        }
    }
    errs
}

fn validate_lifecycle_handler(h: &LifecycleHandler, path: &FieldPath) -> ErrorList {
    let handlers = [
        ("exec", h.exec.is_some()),
        ("httpGet", h.http_get.is_some()),
        ("tcpSocket", h.tcp_socket.is_some()),
        ("sleep", h.sleep.is_some()),
    ];
    let mut errs = validate_handler_count(&handlers, path);
    if let Some(g) = &h.http_get {
        errs.extend(validate_http_get(g, &path.child("httpGet")));
    }
    if let Some(t) = &h.tcp_socket {
        errs.extend(validate_port_num_or_name(
            &t.port,
            &path.child("tcpSocket").child("port"),
        ));
    }
    errs
}

fn validate_http_get(h: &HTTPGetAction, path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    if h.path.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(validate_port_num_or_name(&h.port, &path.child("port")));
    let scheme = h.scheme.as_deref().unwrap_or("");
    if scheme != "HTTP" && scheme != "HTTPS" {
        errs.push(FieldError::not_supported(
            path.child("scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    errs
}

fn validate_port_num_or_name(port: &IntOrString, path: &FieldPath) -> ErrorList {
    match port {
        IntOrString::Int(i) => is_valid_port_num((*i).into())
            .into_iter()
            .map(|m| FieldError::invalid(path, *i, m))
            .collect(),
        IntOrString::String(s) => each_invalid(path, s, is_valid_port_name(s)),
    }
}

fn validate_taint_effect(effect: &str, allow_empty: bool, path: &FieldPath) -> ErrorList {
    match effect {
        "NoSchedule" | "PreferNoSchedule" | "NoExecute" => Vec::new(),
        "" if allow_empty => Vec::new(),
        "" => vec![FieldError::required(path, "")],
        other => vec![FieldError::not_supported(
            path,
            other,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        )],
    }
}

/// Tolerations: qualified keys, operator `Exists` when the key is empty, Equal/Exists only,
/// valid values, `tolerationSeconds` only with NoExecute, known effects.
pub fn validate_tolerations(tolerations: &[Toleration], path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = t.key.as_deref().unwrap_or("");
        let op = t.operator.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        if !key.is_empty() {
            errs.extend(each_invalid(&p.child("key"), key, is_qualified_name(key)));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        p.child("operator"),
                        to_value(t),
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        p.child("operator"),
                        to_value(t),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        errs.extend(validate_taint_effect(effect, true, &p.child("effect")));
    }
    errs
}

/// Pod create validation: metadata (namespaced, DNS-subdomain name), the pod spec, and no
/// ephemeral containers on create.
pub fn validate_pod(pod: &Pod) -> ErrorList {
    let mut errs = validate_object_meta(&pod.metadata, true, "metadata");
    let spec = pod.spec.clone().unwrap_or_default();
    let path = FieldPath::new("spec");
    errs.extend(validate_pod_spec(&spec, &path, false));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            path.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    errs
}

/// Pod update validation: metadata update rules, the new spec's validity, and the spec
/// otherwise immutable except container images, a shrinking activeDeadlineSeconds, added
/// tolerations and the negative-to-1 terminationGracePeriodSeconds fix-up. Any other change
/// is one `spec: Forbidden: pod updates may not change fields other than ...` error.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> ErrorList {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    let path = FieldPath::new("spec");
    let new_spec = new.spec.clone().unwrap_or_default();
    let old_spec = old.spec.clone().unwrap_or_default();
    errs.extend(validate_pod_spec(&new_spec, &path, false));

    let ads_path = path.child("activeDeadlineSeconds");
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                ads_path,
                n,
                "must be between 0 and 2147483647, inclusive",
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                ads_path,
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => {
            errs.push(FieldError::invalid(
                ads_path,
                Value::Null,
                "must not update from a positive integer to nil value",
            ));
        }
        _ => {}
    }

    let tol_path = path.child("tolerations");
    let old_tols = old_spec.tolerations.clone().unwrap_or_default();
    let new_tols = new_spec.tolerations.clone().unwrap_or_default();
    let kept = old_tols.iter().all(|o| {
        new_tols.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            &o == n
        })
    });
    if !kept {
        errs.push(FieldError::forbidden(
            &tol_path,
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }

    // Copy the mutable fields from old into new; anything still different is forbidden.
    let mut munged = new_spec;
    for (n, o) in munged.containers.iter_mut().zip(old_spec.containers.iter()) {
        n.image = o.image.clone();
    }
    if let (Some(n), Some(o)) = (
        munged.init_containers.as_mut(),
        old_spec.init_containers.as_ref(),
    ) {
        for (n, o) in n.iter_mut().zip(o.iter()) {
            n.image = o.image.clone();
        }
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    // Toleration changes are judged by the dedicated check above, not by the catch-all.
    munged.tolerations = old_spec.tolerations.clone();
    if let (Some(o), Some(1)) = (
        old_spec.termination_grace_period_seconds,
        munged.termination_grace_period_seconds,
    ) && o < 0
    {
        munged.termination_grace_period_seconds = Some(o);
    }
    if munged != old_spec {
        let changed = changed_fields(&to_value(&old_spec), &to_value(&munged));
        let detail = if changed.is_empty() {
            POD_UPDATE_MSG.to_string()
        } else {
            format!("{POD_UPDATE_MSG}\n  changed: {}", changed.join(", "))
        };
        errs.push(FieldError::forbidden(&path, detail));
    }
    errs
}

/// Top-level keys whose values differ between two JSON objects (a short stand-in for
/// upstream's structural diff in the pod-update message).
fn changed_fields(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    keys.into_iter()
        .filter(|k| o.get(*k) != n.get(*k))
        .map(|k| format!("spec.{k}"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Other kinds (light).

fn validate_taints(taints: &[Taint], path: &FieldPath) -> ErrorList {
    let mut errs = Vec::new();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        errs.extend(each_invalid(
            &p.child("key"),
            &t.key,
            is_qualified_name(&t.key),
        ));
        let value = t.value.as_deref().unwrap_or("");
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(p.child("value"), value, msgs.join(";")));
        }
        errs.extend(validate_taint_effect(&t.effect, false, &p.child("effect")));
        if !seen.insert((t.key.as_str(), t.effect.as_str())) {
            let mut e = FieldError::duplicate(&p, to_value(t));
            e.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(e);
        }
    }
    errs
}

/// Node validation: cluster-scoped metadata with a DNS-subdomain name, and well-formed,
/// unique (key, effect) taints.
pub fn validate_node(node: &Node) -> ErrorList {
    let mut errs = validate_object_meta(&node.metadata, false, "metadata");
    if let Some(taints) = node.spec.as_ref().and_then(|s| s.taints.as_deref()) {
        errs.extend(validate_taints(
            taints,
            &FieldPath::new("spec").child("taints"),
        ));
    }
    errs
}

/// Node update validation: metadata update rules plus [`validate_node`] on the new object.
pub fn validate_node_update(new: &Node, old: &Node) -> ErrorList {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_node(new));
    errs
}

/// Namespace validation: cluster-scoped metadata with a DNS-label name and valid
/// `spec.finalizers`.
pub fn validate_namespace(ns: &Namespace) -> ErrorList {
    let mut errs = validate_object_meta_with(
        &ns.metadata,
        false,
        NameRule::Label,
        &FieldPath::new("metadata"),
    );
    let fpath = FieldPath::new("spec").child("finalizers");
    for f in ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref())
        .unwrap_or_default()
    {
        errs.extend(validate_finalizer_name(f, &fpath));
    }
    errs
}

/// Namespace update validation: metadata update rules plus [`validate_namespace`].
pub fn validate_namespace_update(new: &Namespace, old: &Namespace) -> ErrorList {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, "metadata");
    errs.extend(validate_namespace(new));
    errs
}

/// Lease validation: namespaced metadata, `leaseDurationSeconds > 0`, `leaseTransitions >= 0`.
pub fn validate_lease(lease: &Lease) -> ErrorList {
    let mut errs = validate_object_meta(&lease.metadata, true, "metadata");
    let path = FieldPath::new("spec");
    if let Some(spec) = &lease.spec {
        if let Some(d) = spec.lease_duration_seconds.filter(|&d| d <= 0) {
            errs.push(FieldError::invalid(
                path.child("leaseDurationSeconds"),
                d,
                "must be greater than 0",
            ));
        }
        if let Some(t) = spec.lease_transitions.filter(|&t| t < 0) {
            errs.push(FieldError::invalid(
                path.child("leaseTransitions"),
                t,
                NEGATIVE_MSG,
            ));
        }
    }
    errs
}

/// Event (core/v1) validation: namespaced metadata and an involvedObject namespace that
/// agrees with the event's (an event about a cluster-scoped object lives in `default` or
/// has no namespace).
pub fn validate_event(event: &Event) -> ErrorList {
    let mut errs = validate_object_meta(&event.metadata, true, "metadata");
    let ev_ns = event.metadata.namespace.as_deref().unwrap_or("");
    let inv_ns = event.involved_object.namespace.as_deref().unwrap_or("");
    let agrees = if inv_ns.is_empty() {
        ev_ns.is_empty() || ev_ns == "default"
    } else {
        ev_ns == inv_ns
    };
    if !agrees {
        errs.push(FieldError::invalid(
            FieldPath::new("involvedObject").child("namespace"),
            inv_ns,
            "does not match event.namespace",
        ));
    }
    errs
}
