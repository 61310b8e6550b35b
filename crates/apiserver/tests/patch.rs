//! Behaviour of the PATCH body handling: strategic merge patch directives and list strategies,
//! JSON patch, merge patch and the apply subset.

use everynode_apiserver::patch::{PatchError, PatchType, apply_patch};
use serde_json::{Value, json};

fn smp(kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let body = serde_json::to_vec(patch).expect("patch serialises");
    apply_patch(kind, Some(original), PatchType::StrategicMerge, &body)
}

/// A DaemonSet as stored: the shape kubectl's patch in the notes was computed against.
fn daemonset() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "agent",
            "namespace": "default",
            "labels": {"a": "1", "b": "2"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"},
            "finalizers": ["x/a", "x/b", "x/c"]
        },
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "agent"}, "annotations": {"keep": "me"}},
                "spec": {
                    "containers": [{
                        "name": "main",
                        "image": "agent:v1",
                        "args": ["--a", "--b"],
                        "ports": [
                            {"containerPort": 80, "name": "http"},
                            {"containerPort": 443, "name": "https"}
                        ],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }],
                    "tolerations": [
                        {"key": "k1", "operator": "Exists"},
                        {"key": "k2", "operator": "Exists"}
                    ],
                    "volumes": [{"name": "data", "hostPath": {"path": "/var/data"}}]
                }
            }
        },
        "status": {"currentNumberScheduled": 0}
    })
}

fn template_spec(ds: &Value) -> &Value {
    &ds["spec"]["template"]["spec"]
}

fn container<'a>(ds: &'a Value, name: &str) -> &'a Value {
    template_spec(ds)["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i[key].to_string().trim_matches('"').to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kubectl_apply_capture_applies_to_daemonset_field_by_field() {
    let patch = json!({
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"},
            "labels": {"b": null}
        },
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
            "containers": [
                {"name": "side", "image": "side:v1"},
                {"name": "main", "image": "agent:v2", "ports": null,
                 "$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                 "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "A"}]}
            ],
            "tolerations": null
        }}}
    });
    let out = smp("DaemonSet", &daemonset(), &patch).expect("patch applies");

    assert_eq!(out["metadata"]["labels"], json!({"a": "1"}));
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "new"
    );
    assert_eq!(
        names(&template_spec(&out)["containers"], "name"),
        ["side", "main"]
    );
    assert_eq!(
        container(&out, "side"),
        &json!({"name": "side", "image": "side:v1"})
    );
    let main = container(&out, "main");
    assert_eq!(main["image"], "agent:v2");
    assert!(main.get("ports").is_none(), "ports deleted: {main}");
    assert_eq!(
        main["env"],
        json!([{"name": "B", "value": "2"}, {"name": "C", "value": "3"}])
    );
    assert_eq!(
        main["args"],
        json!(["--a", "--b"]),
        "untouched fields survive"
    );
    assert_eq!(
        main["volumeMounts"],
        json!([{"name": "data", "mountPath": "/data"}])
    );
    assert!(
        main.as_object()
            .is_some_and(|m| m.keys().all(|k| !k.starts_with('$')))
    );
    assert!(template_spec(&out).get("tolerations").is_none());
    assert!(
        template_spec(&out)
            .as_object()
            .is_some_and(|m| m.keys().all(|k| !k.starts_with('$')))
    );
    assert_eq!(out["spec"]["selector"], daemonset()["spec"]["selector"]);
    assert_eq!(out["status"], daemonset()["status"]);
}

/// One strategic-merge case: the patch applied to the stock DaemonSet, then a probe of the
/// result compared with what upstream produces.
struct Case {
    name: &'static str,
    patch: Value,
    probe: fn(&Value) -> Value,
    expected: Value,
}

fn tspec(patch: Value) -> Value {
    json!({"spec": {"template": {"spec": patch}}})
}

#[test]
fn strategic_merge_daemonset_cases() {
    let cases = vec![
        Case {
            name: "container image changes by name and keeps the other fields",
            patch: tspec(json!({"containers": [{"name": "main", "image": "agent:v3"}]})),
            probe: |ds| {
                json!([
                    container(ds, "main")["image"],
                    container(ds, "main")["args"]
                ])
            },
            expected: json!(["agent:v3", ["--a", "--b"]]),
        },
        Case {
            name: "env item deleted by $patch delete",
            patch: tspec(json!({"containers": [{"name": "main",
                "env": [{"name": "A", "$patch": "delete"}]}]})),
            probe: |ds| container(ds, "main")["env"].clone(),
            expected: json!([{"name": "B", "value": "2"}]),
        },
        Case {
            name: "setElementOrder alone reorders the list",
            patch: tspec(json!({"containers": [{"name": "main",
                "$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}]})),
            probe: |ds| json!(names(&container(ds, "main")["env"], "name")),
            expected: json!(["B", "A"]),
        },
        Case {
            name: "setElementOrder places new items and keeps server-only ones relative",
            patch: tspec(json!({"containers": [{"name": "main",
                "$setElementOrder/env": [{"name": "C"}, {"name": "A"}],
                "env": [{"name": "C", "value": "3"}]}]})),
            probe: |ds| json!(names(&container(ds, "main")["env"], "name")),
            expected: json!(["C", "A", "B"]),
        },
        Case {
            name: "ports merge by containerPort, new ones before trailing server-only ones",
            patch: tspec(json!({"containers": [{"name": "main", "ports": [
                {"containerPort": 80, "name": "web"}, {"containerPort": 8080}]}]})),
            probe: |ds| container(ds, "main")["ports"].clone(),
            expected: json!([
                {"containerPort": 80, "name": "web"},
                {"containerPort": 8080},
                {"containerPort": 443, "name": "https"}
            ]),
        },
        Case {
            name: "tolerations have no strategy so the list is replaced",
            patch: tspec(json!({"tolerations": [{"key": "k3", "operator": "Exists"}]})),
            probe: |ds| template_spec(ds)["tolerations"].clone(),
            expected: json!([{"key": "k3", "operator": "Exists"}]),
        },
        Case {
            name: "args are an unknown list and are replaced",
            patch: tspec(json!({"containers": [{"name": "main", "args": ["--c"]}]})),
            probe: |ds| container(ds, "main")["args"].clone(),
            expected: json!(["--c"]),
        },
        Case {
            name: "finalizers deleteFromPrimitiveList removes values",
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x/b"]}}),
            probe: |ds| ds["metadata"]["finalizers"].clone(),
            expected: json!(["x/a", "x/c"]),
        },
        Case {
            name: "finalizers merge as a primitive set without duplicates",
            patch: json!({"metadata": {"finalizers": ["x/c", "x/d"]}}),
            probe: |ds| ds["metadata"]["finalizers"].clone(),
            expected: json!(["x/a", "x/b", "x/c", "x/d"]),
        },
        Case {
            name: "labels null deletes one key and keeps the others",
            patch: json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
            probe: |ds| ds["metadata"]["labels"].clone(),
            expected: json!({"b": "2", "c": "3"}),
        },
        Case {
            name: "null on a missing key is ignored",
            patch: json!({"metadata": {"labels": {"zzz": null}}}),
            probe: |ds| ds["metadata"]["labels"].clone(),
            expected: json!({"a": "1", "b": "2"}),
        },
        Case {
            name: "retainKeys on a volume switching hostPath to configMap drops hostPath",
            patch: tspec(
                json!({"volumes": [{"name": "data", "configMap": {"name": "cm"},
                "$retainKeys": ["configMap", "name"]}]}),
            ),
            probe: |ds| template_spec(ds)["volumes"].clone(),
            expected: json!([{"name": "data", "configMap": {"name": "cm"}}]),
        },
        Case {
            name: "volume without retainKeys merges both sources",
            patch: tspec(json!({"volumes": [{"name": "data", "configMap": {"name": "cm"}}]})),
            probe: |ds| template_spec(ds)["volumes"].clone(),
            expected: json!([{"name": "data", "hostPath": {"path": "/var/data"},
                "configMap": {"name": "cm"}}]),
        },
        Case {
            name: "map $patch replace replaces the template and strips the directive",
            patch: json!({"spec": {"template": {
                "$patch": "replace",
                "metadata": {"creationTimestamp": null, "labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "main", "image": "agent:v0"}]}
            }}}),
            probe: |ds| json!([ds["spec"]["template"], ds["spec"]["updateStrategy"]["type"]]),
            expected: json!([
                {"metadata": {"labels": {"app": "agent"}},
                 "spec": {"containers": [{"name": "main", "image": "agent:v0"}]}},
                "RollingUpdate"
            ]),
        },
        Case {
            name: "map $patch delete empties the map",
            patch: json!({"spec": {"template": {"metadata": {"annotations": {"$patch": "delete"}}}}}),
            probe: |ds| ds["spec"]["template"]["metadata"]["annotations"].clone(),
            expected: json!({}),
        },
        Case {
            name: "list $patch replace item replaces the whole merge list",
            patch: tspec(json!({"containers": [{"name": "main", "env": [
                {"$patch": "replace"}, {"name": "Z", "value": "26"}]}]})),
            probe: |ds| container(ds, "main")["env"].clone(),
            expected: json!([{"name": "Z", "value": "26"}]),
        },
        Case {
            name: "volumeMounts merge by mountPath",
            patch: tspec(json!({"containers": [{"name": "main", "volumeMounts": [
                {"name": "data", "mountPath": "/data", "readOnly": true},
                {"name": "data", "mountPath": "/other"}]}]})),
            probe: |ds| container(ds, "main")["volumeMounts"].clone(),
            expected: json!([
                {"name": "data", "mountPath": "/data", "readOnly": true},
                {"name": "data", "mountPath": "/other"}
            ]),
        },
        Case {
            name: "new container is cleaned of nulls and directives",
            patch: tspec(
                json!({"containers": [{"name": "new", "image": "n:1", "command": null,
                "$setElementOrder/env": [{"name": "X"}],
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "$patch": "delete"}]}]}),
            ),
            probe: |ds| container(ds, "new").clone(),
            expected: json!({"name": "new", "image": "n:1", "env": [{"name": "X", "value": "1"}]}),
        },
        Case {
            name: "status is patched like any other map",
            patch: json!({"status": {"numberReady": 2}}),
            probe: |ds| ds["status"].clone(),
            expected: json!({"currentNumberScheduled": 0, "numberReady": 2}),
        },
    ];
    for case in cases {
        let out = smp("DaemonSet", &daemonset(), &case.patch)
            .unwrap_or_else(|e| panic!("{}: patch failed: {e}", case.name));
        assert_eq!((case.probe)(&out), case.expected, "{}", case.name);
    }
}

#[test]
fn strategic_merge_other_kinds_use_their_merge_keys() {
    struct KindCase {
        name: &'static str,
        kind: &'static str,
        original: Value,
        patch: Value,
        expected: Value,
    }
    let cases = vec![
        KindCase {
            name: "node conditions merge by type",
            kind: "Node",
            original: json!({"status": {"conditions": [
                {"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "False"}]}}),
            patch: json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            expected: json!({"status": {"conditions": [
                {"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "False"}]}}),
        },
        KindCase {
            name: "node addresses merge by type",
            kind: "Node",
            original: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}),
            patch: json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}}),
            expected: json!({"status": {"addresses": [
                {"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.1"}]}}),
        },
        KindCase {
            name: "node taints have no strategy and are replaced",
            kind: "Node",
            original: json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}),
            patch: json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}),
            expected: json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}),
        },
        KindCase {
            name: "pod conditions merge by type",
            kind: "Pod",
            original: json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}}),
            patch: json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
            expected: json!({"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}}),
        },
        KindCase {
            name: "pod containers merge by name directly under spec",
            kind: "Pod",
            original: json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}),
            patch: json!({"spec": {"containers": [{"name": "a", "image": "a:2"}]}}),
            expected: json!({"spec": {"containers": [{"name": "a", "image": "a:2"}, {"name": "b", "image": "b:1"}]}}),
        },
        KindCase {
            name: "ownerReferences delete by uid",
            kind: "Pod",
            original: json!({"metadata": {"ownerReferences": [{"uid": "u1", "name": "ds"}, {"uid": "u2", "name": "x"}]}}),
            patch: json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "u1"}]}}),
            expected: json!({"metadata": {"ownerReferences": [{"uid": "u2", "name": "x"}]}}),
        },
        KindCase {
            name: "configmap data merges and null deletes",
            kind: "ConfigMap",
            original: json!({"data": {"a": "1", "b": "2"}}),
            patch: json!({"data": {"a": null, "c": "3"}}),
            expected: json!({"data": {"b": "2", "c": "3"}}),
        },
        KindCase {
            name: "controllerrevision data is opaque and lists in it are replaced",
            kind: "ControllerRevision",
            original: json!({"data": {"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}}),
            patch: json!({"data": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}}),
            expected: json!({"data": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}}),
        },
        KindCase {
            name: "type change replaces the value",
            kind: "ConfigMap",
            original: json!({"data": {"a": "1"}}),
            patch: json!({"data": "oops"}),
            expected: json!({"data": "oops"}),
        },
    ];
    for case in cases {
        let out = smp(case.kind, &case.original, &case.patch)
            .unwrap_or_else(|e| panic!("{}: patch failed: {e}", case.name));
        assert_eq!(out, case.expected, "{}", case.name);
    }
}

#[test]
fn strategic_merge_rejects_bad_patches_with_the_upstream_status() {
    struct ErrCase {
        name: &'static str,
        kind: &'static str,
        body: &'static str,
        status: u16,
        message_contains: &'static str,
    }
    let cases = vec![
        ErrCase {
            name: "body is not JSON",
            kind: "DaemonSet",
            body: "{nope",
            status: 400,
            message_contains: "",
        },
        ErrCase {
            name: "body is a list",
            kind: "DaemonSet",
            body: "[]",
            status: 400,
            message_contains: "cannot unmarshal array",
        },
        ErrCase {
            name: "merge list item without its merge key",
            kind: "DaemonSet",
            body: r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
            status: 400,
            message_contains: "does not contain declared merge key: name",
        },
        ErrCase {
            name: "unknown map directive",
            kind: "DaemonSet",
            body: r#"{"metadata":{"labels":{"$patch":"bogus"}}}"#,
            status: 400,
            message_contains: "unknown patch type",
        },
        ErrCase {
            name: "patch key outside its retainKeys list",
            kind: "DaemonSet",
            body: r#"{"spec":{"template":{"spec":{"volumes":[{"name":"data","emptyDir":{},"$retainKeys":["name"]}]}}}}"#,
            status: 422,
            message_contains: "retainKeys",
        },
        ErrCase {
            name: "setElementOrder that is not a list",
            kind: "DaemonSet",
            body: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":"x"}}}}"#,
            status: 400,
            message_contains: "setElementOrder",
        },
        ErrCase {
            name: "patch list out of setElementOrder order",
            kind: "DaemonSet",
            body: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"main"}],"containers":[{"name":"main"},{"name":"a"}]}}}}"#,
            status: 400,
            message_contains: "doesn't match $setElementOrder",
        },
        ErrCase {
            name: "strategic merge for a kind without a schema",
            kind: "Widget",
            body: "{}",
            status: 415,
            message_contains: "unknown format",
        },
    ];
    for case in cases {
        let err = apply_patch(
            case.kind,
            Some(&daemonset()),
            PatchType::StrategicMerge,
            case.body.as_bytes(),
        )
        .expect_err(case.name);
        assert_eq!(err.status_code(), case.status, "{}: {err}", case.name);
        assert!(
            err.to_string().contains(case.message_contains),
            "{}: {err}",
            case.name
        );
    }
}

#[test]
fn json_patch_operations_and_failures() {
    let original = json!({"metadata": {"name": "cm", "labels": {"a": "1"}}, "data": {"k": "v"}});
    let ok_cases = [
        (
            "add a label",
            r#"[{"op":"add","path":"/metadata/labels/b","value":"2"}]"#,
            json!({"metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}}),
        ),
        (
            "remove data",
            r#"[{"op":"remove","path":"/data"}]"#,
            json!({"metadata": {"name": "cm", "labels": {"a": "1"}}}),
        ),
        (
            "test then replace",
            r#"[{"op":"test","path":"/data/k","value":"v"},{"op":"replace","path":"/data/k","value":"w"}]"#,
            json!({"metadata": {"name": "cm", "labels": {"a": "1"}}, "data": {"k": "w"}}),
        ),
    ];
    for (name, body, expected) in ok_cases {
        let out = apply_patch(
            "ConfigMap",
            Some(&original),
            PatchType::Json,
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out, expected, "{name}");
    }
    let err_cases = [
        (
            "failed test",
            r#"[{"op":"test","path":"/data/k","value":"nope"}]"#,
            422,
        ),
        (
            "remove a missing path",
            r#"[{"op":"remove","path":"/spec"}]"#,
            422,
        ),
        ("unknown op", r#"[{"op":"frobnicate","path":"/data"}]"#, 400),
        ("not a list", r#"{"op":"add"}"#, 400),
    ];
    for (name, body, status) in err_cases {
        let err = apply_patch(
            "ConfigMap",
            Some(&original),
            PatchType::Json,
            body.as_bytes(),
        )
        .expect_err(name);
        assert_eq!(err.status_code(), status, "{name}: {err}");
    }
}

#[test]
fn merge_patch_null_deletes_and_lists_replace() {
    let original = daemonset();
    let body = br#"{"metadata":{"labels":{"a":null}},"spec":{"template":{"spec":{"tolerations":[{"key":"z"}]}}}}"#;
    let out =
        apply_patch("DaemonSet", Some(&original), PatchType::Merge, body).expect("merge applies");
    assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    assert_eq!(template_spec(&out)["tolerations"], json!([{"key": "z"}]));
    assert_eq!(
        template_spec(&out)["containers"],
        template_spec(&original)["containers"]
    );
}

#[test]
fn patches_other_than_apply_need_an_existing_object() {
    for patch_type in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
        let err = apply_patch("ConfigMap", None, patch_type, b"{}").expect_err("no object");
        assert_eq!(err.status_code(), 422, "{patch_type:?}");
    }
}

#[test]
fn apply_creates_when_absent_from_yaml() {
    let body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n  gone: null\n";
    let out = apply_patch("ConfigMap", None, PatchType::Apply, body).expect("apply creates");
    assert_eq!(
        out,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}})
    );
}

#[test]
fn apply_merges_into_live_object_by_list_keys() {
    let body = br#"{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","labels":{"c":"3"}},
        "spec":{"template":{"spec":{"containers":[{"name":"main","image":"agent:v9","env":[{"name":"B","value":"20"}]}],
        "tolerations":[{"key":"only"}]}}}}"#;
    let out =
        apply_patch("DaemonSet", Some(&daemonset()), PatchType::Apply, body).expect("apply merges");
    assert_eq!(
        out["metadata"]["labels"],
        json!({"a": "1", "b": "2", "c": "3"})
    );
    let main = container(&out, "main");
    assert_eq!(main["image"], "agent:v9");
    assert_eq!(
        main["args"],
        json!(["--a", "--b"]),
        "fields not in the config are kept"
    );
    assert_eq!(
        main["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}])
    );
    assert_eq!(template_spec(&out)["tolerations"], json!([{"key": "only"}]));
}

#[test]
fn apply_rejects_bodies_that_are_not_objects() {
    for body in [&b"- a\n- b\n"[..], b"just a string", b"key: [unclosed"] {
        let err = apply_patch("ConfigMap", None, PatchType::Apply, body).expect_err("bad body");
        assert_eq!(err.status_code(), 400, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn content_types_map_to_patch_types() {
    let cases = [
        ("application/json-patch+json", Some(PatchType::Json)),
        ("application/merge-patch+json", Some(PatchType::Merge)),
        (
            "application/strategic-merge-patch+json; charset=utf-8",
            Some(PatchType::StrategicMerge),
        ),
        ("application/apply-patch+yaml", Some(PatchType::Apply)),
        ("Application/Apply-Patch+YAML ;x=y", Some(PatchType::Apply)),
        ("application/json", None),
        ("", None),
    ];
    for (ct, expected) in cases {
        assert_eq!(PatchType::from_content_type(ct), expected, "{ct}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// JSON trees of maps and scalars (no lists, no directive keys), nulls included.
    fn map_tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-3i64..3).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
        ];
        let tree = leaf.prop_recursive(4, 32, 4, |inner| {
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        prop::collection::btree_map("[a-d]", tree, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn empty_strategic_patch_is_identity(doc in map_tree()) {
            prop_assert_eq!(smp("ConfigMap", &doc, &json!({})).expect("applies"), doc);
        }

        #[test]
        fn strategic_patch_without_lists_behaves_like_merge_patch(doc in map_tree(), patch in map_tree()) {
            let mut expected = doc.clone();
            json_patch::merge(&mut expected, &patch);
            prop_assert_eq!(smp("ConfigMap", &doc, &patch).expect("applies"), expected);
        }
    }
}
