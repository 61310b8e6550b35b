//! Label and field selectors on list and watch requests.
//!
//! Each resource supports only the field labels upstream's registries export; any other
//! field is a 400, as kube-apiserver answers.

use everynode_model::selector::{FieldSelector, Selector};
use serde_json::Value;

use super::errors::RestError;
use crate::registry::{self, ResourceInfo};
use crate::store::{Key, StoredObject};

/// The selectors of one list or watch request, validated for its resource.
#[derive(Debug, Clone)]
pub struct Filter {
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    /// Parses `labelSelector` and `fieldSelector`; unsupported field labels are rejected.
    pub fn parse(
        info: &ResourceInfo,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Filter, RestError> {
        let labels = match label_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(Selector::parse(s).map_err(|e| RestError::bad_request(e.to_string()))?),
            None => None,
        };
        let fields = match field_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                let fs =
                    FieldSelector::parse(s).map_err(|e| RestError::bad_request(e.to_string()))?;
                for term in &fs.terms {
                    if !supported_fields(info).contains(&term.field.as_str()) {
                        return Err(RestError::bad_request(format!(
                            "field label not supported: {}",
                            term.field
                        )));
                    }
                }
                Some(fs)
            }
            None => None,
        };
        Ok(Filter { labels, fields })
    }

    /// True when the request has no selector at all.
    pub fn is_everything(&self) -> bool {
        self.labels.as_ref().is_none_or(Selector::is_everything)
            && self.fields.as_ref().is_none_or(|f| f.terms.is_empty())
    }

    /// True when the object stored at `key` satisfies both selectors. Reads only what the
    /// store indexed at write time (see [`index_fields`]), never the object's JSON.
    pub fn matches(&self, key: &Key, object: &StoredObject) -> bool {
        if let Some(labels) = &self.labels
            && !labels.matches(object.labels())
        {
            return false;
        }
        if let Some(fields) = &self.fields {
            return fields.matches(|field| match field {
                "metadata.name" => Some(key.name.clone()),
                "metadata.namespace" => Some(key.namespace.clone().unwrap_or_default()),
                _ => object.field(field).map(str::to_string),
            });
        }
        true
    }
}

/// The store's field index for every served resource: the values of the field labels the
/// resource supports (name and namespace excepted, which the key carries). Objects of
/// resources we do not serve are not indexed.
pub fn index_fields(key: &Key, object: &Value) -> Vec<(&'static str, String)> {
    // The inverse of `ResourceInfo::storage_prefix`, without building each prefix.
    let Some((group, plural)) = key.prefix.split_once('/') else {
        return Vec::new();
    };
    let group = if group == "core" { "" } else { group };
    let Some(info) = registry::RESOURCES
        .iter()
        .find(|r| r.plural == plural && r.group == group)
    else {
        return Vec::new();
    };
    supported_fields(info)
        .iter()
        .filter(|f| !f.starts_with("metadata."))
        .filter_map(|f| Some((*f, field_value(info, object, f)?)))
        .collect()
}

/// The field labels a resource supports in field selectors.
pub fn supported_fields(info: &ResourceInfo) -> &'static [&'static str] {
    match (info.group, info.plural) {
        ("", "pods") => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "nodes") => &["metadata.name", "metadata.namespace", "spec.unschedulable"],
        ("", "events") => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "namespaces") => &["metadata.name", "metadata.namespace", "status.phase"],
        ("", "secrets") => &["metadata.name", "metadata.namespace", "type"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

/// The value a field label has on an object, rendered as upstream's field sets do
/// (booleans as `true`/`false`, absent strings as empty).
pub fn field_value(info: &ResourceInfo, object: &Value, field: &str) -> Option<String> {
    let boolean = |pointer: &str| {
        Some(
            object
                .pointer(pointer)
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        )
    };
    match (info.plural, field) {
        ("nodes", "spec.unschedulable") => boolean("/spec/unschedulable"),
        ("pods", "spec.hostNetwork") => boolean("/spec/hostNetwork"),
        ("events", "source") => string_at(object, "/source/component")
            .or_else(|| string_at(object, "/reportingController")),
        (_, "metadata.namespace") if !info.namespaced => Some(String::new()),
        _ => {
            let pointer = format!("/{}", field.replace('.', "/"));
            Some(string_at(object, &pointer).unwrap_or_default())
        }
    }
}

fn string_at(object: &Value, pointer: &str) -> Option<String> {
    match object.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;
    use serde_json::json;

    fn info(plural: &str) -> &'static ResourceInfo {
        registry::RESOURCES
            .iter()
            .find(|r| r.plural == plural)
            .expect("served")
    }

    #[test]
    fn unsupported_field_labels_are_rejected_with_upstream_wording() {
        let cases = [
            ("pods", "spec.nodeName=a", None),
            ("pods", "status.phase!=Running", None),
            (
                "pods",
                "spec.foo=a",
                Some("field label not supported: spec.foo"),
            ),
            ("nodes", "spec.unschedulable=true", None),
            (
                "nodes",
                "spec.nodeName=a",
                Some("field label not supported: spec.nodeName"),
            ),
            ("events", "involvedObject.name=x", None),
            ("daemonsets", "metadata.name=x", None),
            (
                "daemonsets",
                "spec.selector=x",
                Some("field label not supported: spec.selector"),
            ),
        ];
        for (plural, selector, want) in cases {
            let got = Filter::parse(info(plural), None, Some(selector));
            match want {
                None => assert!(got.is_ok(), "{plural} {selector}: {got:?}"),
                Some(msg) => {
                    let err = got.expect_err(selector);
                    assert_eq!(err.code(), 400);
                    assert_eq!(err.message(), msg);
                }
            }
        }
    }

    #[test]
    fn field_values_render_booleans_and_missing_fields_like_upstream() {
        let node = json!({"metadata": {"name": "n1"}, "spec": {}});
        assert_eq!(
            field_value(info("nodes"), &node, "spec.unschedulable").as_deref(),
            Some("false")
        );
        let cordoned = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value(info("nodes"), &cordoned, "spec.unschedulable").as_deref(),
            Some("true")
        );
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}});
        assert_eq!(
            field_value(info("pods"), &pod, "spec.nodeName").as_deref(),
            Some("n1")
        );
        assert_eq!(
            field_value(info("pods"), &pod, "status.phase").as_deref(),
            Some("")
        );
        let event = json!({"involvedObject": {"kind": "DaemonSet", "name": "ds"}, "source": {"component": "c"}});
        assert_eq!(
            field_value(info("events"), &event, "involvedObject.kind").as_deref(),
            Some("DaemonSet")
        );
        assert_eq!(
            field_value(info("events"), &event, "source").as_deref(),
            Some("c")
        );
    }
}
