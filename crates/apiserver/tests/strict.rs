//! Behaviour of `fieldValidation=Strict`: which fields count as unknown, how their paths are
//! rendered, and upstream's message.

use everynode_apiserver::strict::{strict_message, unknown_fields};
use serde_json::{Value, json};

fn daemonset() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "agent",
            "labels": {"app": "agent"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {}}}]
        },
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [
                    {"name": "side", "image": "side:v1"},
                    {"name": "main", "image": "agent:v1", "ports": [{"containerPort": 80}]}
                ]}
            }
        },
        "status": {"currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                   "numberMisscheduled": 0, "numberReady": 1}
    })
}

/// Sets `value` at the slash-separated `path` of `object` (creating nothing on the way).
fn with(mut object: Value, path: &str, value: Value) -> Value {
    if let Some(slot) = object.pointer_mut(path) {
        *slot = value;
    }
    object
}

fn insert(mut object: Value, map_path: &str, key: &str, value: Value) -> Value {
    if let Some(Value::Object(m)) = object.pointer_mut(map_path) {
        m.insert(key.to_string(), value);
    }
    object
}

#[test]
fn unknown_fields_are_reported_with_upstream_paths() {
    let cases: Vec<(&str, &str, &str, Value, Vec<&str>)> = vec![
        (
            "known fields pass",
            "apps",
            "DaemonSet",
            daemonset(),
            vec![],
        ),
        (
            "unknown field in a container",
            "apps",
            "DaemonSet",
            insert(
                daemonset(),
                "/spec/template/spec/containers/1",
                "imagee",
                json!("x"),
            ),
            vec!["spec.template.spec.containers[1].imagee"],
        ),
        (
            "unknown field in metadata",
            "apps",
            "DaemonSet",
            insert(daemonset(), "/metadata", "bogus", json!(1)),
            vec!["metadata.bogus"],
        ),
        (
            "unknown field in spec",
            "apps",
            "DaemonSet",
            insert(daemonset(), "/spec", "foo", json!({"a": 1})),
            vec!["spec.foo"],
        ),
        (
            "unknown field in status",
            "apps",
            "DaemonSet",
            insert(daemonset(), "/status", "numberHappy", json!(3)),
            vec!["status.numberHappy"],
        ),
        (
            "unknown field in a list inside a list",
            "apps",
            "DaemonSet",
            insert(
                daemonset(),
                "/spec/template/spec/containers/1/ports/0",
                "hostPortt",
                json!(1),
            ),
            vec!["spec.template.spec.containers[1].ports[0].hostPortt"],
        ),
        (
            "several unknown fields",
            "",
            "Pod",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "x": 1},
                   "spec": {"containers": [{"name": "c", "y": 2}]}, "top": true}),
            vec!["metadata.x", "spec.containers[0].y", "top"],
        ),
        (
            "configmap data keys are free-form",
            "",
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                   "data": {"anything": "goes"}}),
            vec![],
        ),
        (
            "node status unknown field",
            "",
            "Node",
            json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "True", "why": "?"}]}}),
            vec!["status.conditions[0].why"],
        ),
        (
            "lease spec unknown field",
            "coordination.k8s.io",
            "Lease",
            json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me", "holder": "me"}}),
            vec!["spec.holder"],
        ),
        (
            "delete options unknown field",
            "",
            "DeleteOptions",
            json!({"propagationPolicy": "Background", "cascade": true}),
            vec!["cascade"],
        ),
        (
            "binding target unknown field",
            "",
            "Binding",
            json!({"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n", "nodeName": "n"}}),
            vec!["target.nodeName"],
        ),
        (
            "a mismatched apiVersion is left to the REST layer",
            "apps",
            "DaemonSet",
            with(daemonset(), "/apiVersion", json!("apps/v1beta2")),
            vec![],
        ),
        (
            "kinds without a type are not checked",
            "example.com",
            "Widget",
            json!({"x": 1}),
            vec![],
        ),
    ];
    for (name, group, kind, object, expected) in cases {
        let got = unknown_fields(group, kind, &object).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn objects_that_do_not_decode_are_errors() {
    let cases = [
        (
            "containers is not a list",
            with(daemonset(), "/spec/template/spec/containers", json!("x")),
        ),
        (
            "labels hold a number",
            with(daemonset(), "/metadata/labels/app", json!(5)),
        ),
        ("object is a list", json!([1, 2])),
    ];
    for (name, object) in cases {
        let err = unknown_fields("apps", "DaemonSet", &object).expect_err(name);
        assert!(
            err.starts_with("DaemonSet in version \"apps/v1\" cannot be handled as a DaemonSet: "),
            "{name}: {err}"
        );
    }
}

#[test]
fn strict_message_matches_upstream_text() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["spec.foo"],
            r#"strict decoding error: unknown field "spec.foo""#,
        ),
        (
            &["metadata.bogus", "spec.template.spec.containers[0].imagee"],
            r#"strict decoding error: unknown field "metadata.bogus", unknown field "spec.template.spec.containers[0].imagee""#,
        ),
        (&[], "strict decoding error: "),
    ];
    for (fields, expected) in cases {
        let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(strict_message(&fields), expected);
    }
}
