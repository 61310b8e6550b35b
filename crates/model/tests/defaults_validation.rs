//! Defaulting (spec section 1), validation (section 2) and Status rendering (2.5), pinned to
//! upstream's literal values and messages.

use everynode_model::defaults::{
    default_daemonset, default_image_pull_policy, default_namespace, default_node, default_pod,
    default_pod_template_spec, fill_system_fields_for_update,
};
use everynode_model::field::{FieldError, FieldErrorKind, FieldPath, invalid_status};
use everynode_model::status::{ApiError, OBJECT_MODIFIED, success_status};
use everynode_model::validation::{
    selector_present, validate_controller_revision, validate_controller_revision_update,
    validate_daemonset, validate_daemonset_status_update, validate_daemonset_update,
    validate_daemonset_with_raw, validate_event, validate_lease, validate_namespace, validate_node,
    validate_object_meta, validate_object_meta_update, validate_pod, validate_pod_update,
};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

fn ds_json() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}
            }
        }
    })
}

fn parse_ds(v: Value) -> DaemonSet {
    serde_json::from_value(v).expect("test DaemonSet parses")
}

fn defaulted_ds(v: Value) -> DaemonSet {
    let mut ds = parse_ds(v);
    default_daemonset(&mut ds);
    ds
}

fn rendered(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

/// Sets `value` at a JSON pointer, creating intermediate objects (and appending to an array
/// when the index is its length).
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    set_parts(doc, &parts, value);
}

fn set_parts(cur: &mut Value, parts: &[&str], value: Value) {
    let Some((first, rest)) = parts.split_first() else {
        *cur = value;
        return;
    };
    let next = match cur {
        Value::Array(arr) => {
            let i: usize = first.parse().expect("array index");
            if i == arr.len() {
                arr.push(json!({}));
            }
            &mut arr[i]
        }
        other => {
            if !other.is_object() {
                *other = json!({});
            }
            other
                .as_object_mut()
                .expect("just made an object")
                .entry(first.to_string())
                .or_insert_with(|| json!({}))
        }
    };
    set_parts(next, rest, value);
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    if let Some(obj) = doc.pointer_mut(parent).and_then(Value::as_object_mut) {
        obj.remove(key);
    }
}

// ----------------------------------------------------------------------------------------
// Defaulting.

#[test]
fn daemonset_spec_defaults_fill_every_row_of_1_1() {
    let ds = serde_json::to_value(defaulted_ds(ds_json())).expect("serialises");
    let rows: &[(&str, Value)] = &[
        ("/spec/updateStrategy/type", json!("RollingUpdate")),
        (
            "/spec/updateStrategy/rollingUpdate/maxUnavailable",
            json!(1),
        ),
        ("/spec/updateStrategy/rollingUpdate/maxSurge", json!(0)),
        ("/spec/revisionHistoryLimit", json!(10)),
        ("/spec/selector", json!({"matchLabels": {"app": "agent"}})),
    ];
    for (pointer, want) in rows {
        assert_eq!(ds.pointer(pointer), Some(want), "{pointer}");
    }
    assert_eq!(
        ds.pointer("/spec/minReadySeconds"),
        None,
        "minReadySeconds has no default"
    );
    assert_eq!(
        ds.pointer("/metadata/labels"),
        None,
        "labels are not copied from the template"
    );
}

#[test]
fn daemonset_defaults_keep_user_values() {
    let rows: &[(&str, Value)] = &[
        (
            "/spec/updateStrategy/rollingUpdate/maxUnavailable",
            json!("25%"),
        ),
        ("/spec/updateStrategy/rollingUpdate/maxSurge", json!(2)),
        ("/spec/revisionHistoryLimit", json!(0)),
    ];
    for (pointer, value) in rows {
        let mut doc = ds_json();
        set(&mut doc, pointer, value.clone());
        let ds = serde_json::to_value(defaulted_ds(doc)).expect("serialises");
        assert_eq!(ds.pointer(pointer), Some(value), "{pointer}");
    }
}

#[test]
fn on_delete_keeps_a_user_rolling_update_block_verbatim() {
    let mut doc = ds_json();
    set(
        &mut doc,
        "/spec/updateStrategy",
        json!({"type": "OnDelete", "rollingUpdate": {"maxSurge": "7%"}}),
    );
    let ds = serde_json::to_value(defaulted_ds(doc)).expect("serialises");
    assert_eq!(
        ds.pointer("/spec/updateStrategy"),
        Some(&json!({"type": "OnDelete", "rollingUpdate": {"maxSurge": "7%"}}))
    );

    let mut doc = ds_json();
    set(
        &mut doc,
        "/spec/updateStrategy",
        json!({"type": "OnDelete"}),
    );
    let ds = serde_json::to_value(defaulted_ds(doc)).expect("serialises");
    assert_eq!(
        ds.pointer("/spec/updateStrategy"),
        Some(&json!({"type": "OnDelete"})),
        "no block is created"
    );
}

fn rich_template() -> Value {
    json!({
        "metadata": {"labels": {"app": "agent"}},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{
                "name": "c",
                "image": "nginx:1.25",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "livenessProbe": {"httpGet": {"port": 80}},
                "readinessProbe": {"tcpSocket": {"port": 80}},
                "startupProbe": {"exec": {"command": ["true"]}},
                "lifecycle": {"preStop": {"httpGet": {"port": 80}}}
            }],
            "volumes": [
                {"name": "nosource"},
                {"name": "s", "secret": {"secretName": "s"}},
                {"name": "cm", "configMap": {"name": "cm"}},
                {"name": "d", "downwardAPI": {"items": [{"path": "p", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                {"name": "p", "projected": {"sources": []}},
                {"name": "h", "hostPath": {"path": "/var/log"}}
            ]
        }
    })
}

#[test]
fn pod_template_defaults_fill_every_row_of_1_3() {
    let mut t: PodTemplateSpec = serde_json::from_value(rich_template()).expect("parses");
    default_pod_template_spec(&mut t);
    let t = serde_json::to_value(t).expect("serialises");
    let rows: &[(&str, Value)] = &[
        ("/spec/dnsPolicy", json!("ClusterFirst")),
        ("/spec/restartPolicy", json!("Always")),
        ("/spec/securityContext", json!({})),
        ("/spec/terminationGracePeriodSeconds", json!(30)),
        ("/spec/schedulerName", json!("default-scheduler")),
        ("/spec/containers/0/imagePullPolicy", json!("IfNotPresent")),
        (
            "/spec/containers/0/terminationMessagePath",
            json!("/dev/termination-log"),
        ),
        ("/spec/containers/0/terminationMessagePolicy", json!("File")),
        ("/spec/containers/0/ports/0/protocol", json!("TCP")),
        (
            "/spec/containers/0/env/0/valueFrom/fieldRef/apiVersion",
            json!("v1"),
        ),
        ("/spec/containers/0/livenessProbe/timeoutSeconds", json!(1)),
        ("/spec/containers/0/livenessProbe/periodSeconds", json!(10)),
        (
            "/spec/containers/0/livenessProbe/successThreshold",
            json!(1),
        ),
        (
            "/spec/containers/0/livenessProbe/failureThreshold",
            json!(3),
        ),
        ("/spec/containers/0/livenessProbe/httpGet/path", json!("/")),
        (
            "/spec/containers/0/livenessProbe/httpGet/scheme",
            json!("HTTP"),
        ),
        ("/spec/containers/0/readinessProbe/periodSeconds", json!(10)),
        ("/spec/containers/0/startupProbe/failureThreshold", json!(3)),
        (
            "/spec/containers/0/lifecycle/preStop/httpGet/path",
            json!("/"),
        ),
        (
            "/spec/containers/0/lifecycle/preStop/httpGet/scheme",
            json!("HTTP"),
        ),
        ("/spec/initContainers/0/imagePullPolicy", json!("Always")),
        (
            "/spec/initContainers/0/terminationMessagePath",
            json!("/dev/termination-log"),
        ),
        (
            "/spec/initContainers/0/terminationMessagePolicy",
            json!("File"),
        ),
        ("/spec/volumes/0/emptyDir", json!({})),
        ("/spec/volumes/1/secret/defaultMode", json!(420)),
        ("/spec/volumes/2/configMap/defaultMode", json!(420)),
        ("/spec/volumes/3/downwardAPI/defaultMode", json!(420)),
        (
            "/spec/volumes/3/downwardAPI/items/0/fieldRef/apiVersion",
            json!("v1"),
        ),
        ("/spec/volumes/4/projected/defaultMode", json!(420)),
        ("/spec/volumes/5/hostPath/type", json!("")),
    ];
    for (pointer, want) in rows {
        assert_eq!(t.pointer(pointer), Some(want), "{pointer}");
    }
    // Pod-only defaults (1.4) do not apply to templates.
    assert_eq!(t.pointer("/spec/enableServiceLinks"), None);
    assert_eq!(
        t.pointer("/spec/volumes/1/emptyDir"),
        None,
        "a volume with a source gets no emptyDir"
    );
}

#[test]
fn image_pull_policy_follows_the_tag() {
    let rows = [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("library/nginx", "Always"),
        ("registry.example.com:5000/team/nginx", "Always"),
        ("registry.example.com:5000/team/nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry.example.com:5000/team/nginx:1.0", "IfNotPresent"),
        (
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "IfNotPresent",
        ),
        (
            "nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Always",
        ),
        (
            "nginx:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "IfNotPresent",
        ),
        ("", "IfNotPresent"),
        ("Bad/Image", "IfNotPresent"),
    ];
    for (image, want) in rows {
        assert_eq!(default_image_pull_policy(image), want, "{image:?}");
    }
}

#[test]
fn explicit_image_pull_policy_is_kept() {
    let mut doc = ds_json();
    set(
        &mut doc,
        "/spec/template/spec/containers/0/image",
        json!("nginx"),
    );
    set(
        &mut doc,
        "/spec/template/spec/containers/0/imagePullPolicy",
        json!("Never"),
    );
    let ds = serde_json::to_value(defaulted_ds(doc)).expect("serialises");
    assert_eq!(
        ds.pointer("/spec/template/spec/containers/0/imagePullPolicy"),
        Some(&json!("Never"))
    );
}

#[test]
fn pod_only_defaults_apply_to_pods() {
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "hostNetwork": true,
            "containers": [{
                "name": "c", "image": "nginx:1",
                "ports": [{"containerPort": 9100}, {"containerPort": 53, "hostPort": 53, "protocol": "UDP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m"}}
            }]
        }
    }))
    .expect("parses");
    default_pod(&mut pod);
    let p = serde_json::to_value(&pod).expect("serialises");
    let rows: &[(&str, Value)] = &[
        ("/spec/enableServiceLinks", json!(true)),
        ("/spec/containers/0/ports/0/hostPort", json!(9100)),
        ("/spec/containers/0/ports/1/hostPort", json!(53)),
        ("/spec/containers/0/ports/1/protocol", json!("UDP")),
        ("/spec/containers/0/resources/requests/cpu", json!("100m")),
        ("/spec/containers/0/resources/requests/memory", json!("1Gi")),
        ("/spec/restartPolicy", json!("Always")),
    ];
    for (pointer, want) in rows {
        assert_eq!(p.pointer(pointer), Some(want), "{pointer}");
    }
    assert!(
        validate_pod(&pod).is_empty(),
        "{:?}",
        rendered(&validate_pod(&pod))
    );
}

#[test]
fn namespace_and_node_defaults() {
    let mut ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "team-a"}})).expect("parses");
    default_namespace(&mut ns);
    let v = serde_json::to_value(&ns).expect("serialises");
    assert_eq!(v.pointer("/spec/finalizers"), Some(&json!(["kubernetes"])));
    assert_eq!(v.pointer("/status/phase"), Some(&json!("Active")));
    assert_eq!(
        v.pointer("/metadata/labels/kubernetes.io~1metadata.name"),
        Some(&json!("team-a"))
    );

    let mut node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "status": {"capacity": {"cpu": "4", "pods": "110"}}
    }))
    .expect("parses");
    default_node(&mut node);
    let v = serde_json::to_value(&node).expect("serialises");
    assert_eq!(
        v.pointer("/status/allocatable"),
        Some(&json!({"cpu": "4", "pods": "110"}))
    );
}

#[test]
fn defaulting_is_idempotent() {
    let mut doc = ds_json();
    set(&mut doc, "/spec/template", rich_template());
    let once = defaulted_ds(doc);
    let mut twice = once.clone();
    default_daemonset(&mut twice);
    assert_eq!(once, twice);

    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": rich_template()["spec"].clone()
    }))
    .expect("parses");
    default_pod(&mut pod);
    let once = pod.clone();
    default_pod(&mut pod);
    assert_eq!(once, pod);

    let mut ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "x"}})).expect("parses");
    default_namespace(&mut ns);
    let once = ns.clone();
    default_namespace(&mut ns);
    assert_eq!(once, ns);
}

// ----------------------------------------------------------------------------------------
// DaemonSet validation (2.1).

#[test]
fn defaulted_base_daemonset_is_valid() {
    let ds = defaulted_ds(ds_json());
    assert_eq!(rendered(&validate_daemonset(&ds)), Vec::<String>::new());
}

type Edit = fn(&mut Value);

#[test]
fn daemonset_validation_matrix_has_upstream_messages() {
    let rows: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "maxSurge alone meets the defaulted maxUnavailable",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate",
                    json!({"maxSurge": 1}),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero",
            ],
        ),
        (
            "percent maxSurge with percent maxUnavailable",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate",
                    json!({"maxSurge": "10%", "maxUnavailable": "5%"}),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: \"10%\": may not be set when maxUnavailable is non-zero",
            ],
        ),
        (
            "both zero",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate",
                    json!({"maxSurge": 0, "maxUnavailable": 0}),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
            ],
        ),
        (
            "zero percent counts as zero",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate",
                    json!({"maxSurge": "0%", "maxUnavailable": 0}),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
            ],
        ),
        (
            "more than 100 percent",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate/maxUnavailable",
                    json!("101%"),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: \"101%\": must not be greater than 100%",
            ],
        ),
        (
            "a non-percent string is invalid and counts as zero",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate/maxUnavailable",
                    json!("abc"),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: \"abc\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
            ],
        ),
        (
            "negative maxUnavailable",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate/maxUnavailable",
                    json!(-1),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "negative maxSurge with zero maxUnavailable",
            |d| {
                set(
                    d,
                    "/spec/updateStrategy/rollingUpdate",
                    json!({"maxSurge": -1, "maxUnavailable": 0}),
                )
            },
            vec![
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "selector does not match the template labels",
            |d| set(d, "/spec/template/metadata/labels", json!({"app": "other"})),
            vec![
                "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`",
            ],
        ),
        (
            "empty selector",
            |d| set(d, "/spec/selector", json!({})),
            vec!["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"],
        ),
        (
            "selector In without values",
            |d| {
                set(
                    d,
                    "/spec/selector",
                    json!({"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}),
                )
            },
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ],
        ),
        (
            "restartPolicy Never",
            |d| set(d, "/spec/template/spec/restartPolicy", json!("Never")),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ],
        ),
        (
            "unknown restartPolicy",
            |d| set(d, "/spec/template/spec/restartPolicy", json!("Sometimes")),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\"",
            ],
        ),
        (
            "activeDeadlineSeconds",
            |d| set(d, "/spec/template/spec/activeDeadlineSeconds", json!(30)),
            vec![
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported",
            ],
        ),
        (
            "minReadySeconds -1",
            |d| set(d, "/spec/minReadySeconds", json!(-1)),
            vec!["spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "revisionHistoryLimit -1",
            |d| set(d, "/spec/revisionHistoryLimit", json!(-1)),
            vec![
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "unknown update strategy type",
            |d| set(d, "/spec/updateStrategy", json!({"type": "Bogus"})),
            vec![
                "spec.updateStrategy: Unsupported value: {\"type\":\"Bogus\"}: supported values: \"RollingUpdate\", \"OnDelete\"",
            ],
        ),
        (
            "bad name",
            |d| set(d, "/metadata/name", json!("Bad_Name")),
            vec![Box::leak(
                format!("metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN_MSG}")
                    .into_boxed_str(),
            )],
        ),
        (
            "name too long",
            |d| set(d, "/metadata/name", json!("a".repeat(254))),
            vec![Box::leak(
                format!(
                    "metadata.name: Invalid value: \"{}\": must be no more than 253 characters",
                    "a".repeat(254)
                )
                .into_boxed_str(),
            )],
        ),
        (
            "no name",
            |d| remove(d, "/metadata/name"),
            vec!["metadata.name: Required value: name or generateName is required"],
        ),
        (
            "no namespace",
            |d| remove(d, "/metadata/namespace"),
            vec!["metadata.namespace: Required value"],
        ),
        (
            "bad label key",
            |d| set(d, "/metadata/labels", json!({"-bad": "x"})),
            vec![
                "metadata.labels: Invalid value: \"-bad\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ],
        ),
        (
            "duplicate container names",
            |d| {
                set(
                    d,
                    "/spec/template/spec/containers/1",
                    json!({"name": "c", "image": "x:1"}),
                )
            },
            vec!["spec.template.spec.containers[1].name: Duplicate value: \"c\""],
        ),
        (
            "init container named like a container",
            |d| {
                set(
                    d,
                    "/spec/template/spec/initContainers",
                    json!([{"name": "c", "image": "x:1"}]),
                )
            },
            vec!["spec.template.spec.initContainers[0].name: Duplicate value: \"c\""],
        ),
        (
            "container name not a DNS label",
            |d| set(d, "/spec/template/spec/containers/0/name", json!("Web_1")),
            vec![Box::leak(
                format!(
                    "spec.template.spec.containers[0].name: Invalid value: \"Web_1\": {LABEL_MSG}"
                )
                .into_boxed_str(),
            )],
        ),
        (
            "no image",
            |d| remove(d, "/spec/template/spec/containers/0/image"),
            vec!["spec.template.spec.containers[0].image: Required value"],
        ),
        (
            "no containers",
            |d| set(d, "/spec/template/spec/containers", json!([])),
            vec!["spec.template.spec.containers: Required value"],
        ),
        (
            "port out of range",
            |d| {
                set(
                    d,
                    "/spec/template/spec/containers/0/ports",
                    json!([{"containerPort": 70000, "protocol": "TCP"}]),
                )
            },
            vec![
                "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ],
        ),
        (
            "mount of a missing volume",
            |d| {
                set(
                    d,
                    "/spec/template/spec/containers/0/volumeMounts",
                    json!([{"name": "data", "mountPath": "/data"}]),
                )
            },
            vec!["spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\""],
        ),
        (
            "duplicate volume names",
            |d| {
                set(
                    d,
                    "/spec/template/spec/volumes",
                    json!([{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
                )
            },
            vec!["spec.template.spec.volumes[1].name: Duplicate value: \"v\""],
        ),
        (
            "ephemeral containers in a template",
            |d| {
                set(
                    d,
                    "/spec/template/spec/ephemeralContainers",
                    json!([{"name": "e", "image": "x:1"}]),
                )
            },
            vec![
                "spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template",
            ],
        ),
    ];
    for (name, edit, want) in rows {
        let mut doc = ds_json();
        edit(&mut doc);
        let ds = defaulted_ds(doc);
        assert_eq!(rendered(&validate_daemonset(&ds)), want, "{name}");
    }
}

#[test]
fn daemonset_validation_accepts_legal_edge_values() {
    let rows: Vec<(&str, Edit)> = vec![
        ("100 percent", |d| {
            set(
                d,
                "/spec/updateStrategy/rollingUpdate/maxUnavailable",
                json!("100%"),
            )
        }),
        ("more than the node count", |d| {
            set(
                d,
                "/spec/updateStrategy/rollingUpdate/maxUnavailable",
                json!(5000),
            )
        }),
        ("surge with explicit zero", |d| {
            set(
                d,
                "/spec/updateStrategy/rollingUpdate",
                json!({"maxSurge": "10%", "maxUnavailable": 0}),
            )
        }),
        ("revisionHistoryLimit 0", |d| {
            set(d, "/spec/revisionHistoryLimit", json!(0))
        }),
        ("OnDelete ignores a broken rollingUpdate block", |d| {
            set(
                d,
                "/spec/updateStrategy",
                json!({"type": "OnDelete", "rollingUpdate": {"maxSurge": "abc", "maxUnavailable": -4}}),
            )
        }),
        ("generateName alone", |d| {
            remove(d, "/metadata/name");
            set(d, "/metadata/generateName", json!("agent-"));
        }),
        ("selector with extra template labels", |d| {
            set(d, "/spec/template/metadata/labels/tier", json!("x"))
        }),
    ];
    for (name, edit) in rows {
        let mut doc = ds_json();
        edit(&mut doc);
        let ds = defaulted_ds(doc);
        assert_eq!(
            rendered(&validate_daemonset(&ds)),
            Vec::<String>::new(),
            "{name}"
        );
    }
}

#[test]
fn nil_selector_fails_with_the_template_labels_error() {
    // k8s-openapi decodes a missing selector as `{}`; with the raw JSON at hand the validator
    // answers as upstream does for nil (matches nothing, no separate Required error).
    let mut raw = ds_json();
    remove(&mut raw, "/spec/selector");
    let ds = defaulted_ds(raw.clone());
    assert_eq!(
        rendered(&validate_daemonset_with_raw(&ds, &raw)),
        vec![
            "spec.template.metadata.labels: Invalid value: {\"app\":\"agent\"}: `selector` does not match template `labels`"
        ]
    );
    assert!(!selector_present(&raw));
    // The same object validated without its JSON looks like an explicit empty selector.
    assert_eq!(
        rendered(&validate_daemonset(&ds)),
        vec!["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"]
    );
    // An explicit selector in the JSON is validated normally.
    let raw = ds_json();
    assert!(validate_daemonset_with_raw(&defaulted_ds(raw.clone()), &raw).is_empty());
}

// ----------------------------------------------------------------------------------------
// Updates (2.2), status (2.3), revisions (2.4).

fn with_uid(mut ds: DaemonSet, uid: &str) -> DaemonSet {
    ds.metadata.uid = Some(uid.to_string());
    ds.metadata.resource_version = Some("5".to_string());
    ds
}

#[test]
fn daemonset_update_rules() {
    let old = with_uid(defaulted_ds(ds_json()), "u1");
    let rows: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "template image change is allowed",
            |d| {
                set(
                    d,
                    "/spec/template/spec/containers/0/image",
                    json!("nginx:2"),
                )
            },
            vec![],
        ),
        (
            "strategy, minReadySeconds and history limit are mutable",
            |d| {
                set(d, "/spec/updateStrategy", json!({"type": "OnDelete"}));
                set(d, "/spec/minReadySeconds", json!(30));
                set(d, "/spec/revisionHistoryLimit", json!(3));
            },
            vec![],
        ),
        (
            "selector is immutable",
            |d| {
                set(
                    d,
                    "/spec/selector",
                    json!({"matchLabels": {"app": "agent", "x": "y"}}),
                );
                set(d, "/spec/template/metadata/labels/x", json!("y"));
            },
            vec![
                "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"agent\",\"x\":\"y\"}}: field is immutable",
            ],
        ),
        (
            "uid is immutable",
            |d| set(d, "/metadata/uid", json!("u2")),
            vec!["metadata.uid: Invalid value: \"u2\": field is immutable"],
        ),
        (
            "name is immutable",
            |d| set(d, "/metadata/name", json!("other")),
            vec!["metadata.name: Invalid value: \"other\": field is immutable"],
        ),
        (
            "create rules still apply",
            |d| set(d, "/spec/minReadySeconds", json!(-1)),
            vec!["spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"],
        ),
    ];
    for (name, edit, want) in rows {
        let mut doc = serde_json::to_value(&old).expect("serialises");
        edit(&mut doc);
        let new = defaulted_ds(doc);
        assert_eq!(
            rendered(&validate_daemonset_update(&new, &old)),
            want,
            "{name}"
        );
    }
}

#[test]
fn daemonset_status_update_rules() {
    let mut old = with_uid(defaulted_ds(ds_json()), "u1");
    old.status = Some(
        serde_json::from_value(json!({
            "currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1,
            "numberReady": 1, "collisionCount": 2
        }))
        .expect("status parses"),
    );
    let rows: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "counters may exceed desired",
            json!({"currentNumberScheduled": 9, "numberMisscheduled": 0, "desiredNumberScheduled": 1, "numberReady": 9, "collisionCount": 2}),
            vec![],
        ),
        (
            "collisionCount may grow",
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0, "collisionCount": 3}),
            vec![],
        ),
        (
            "every counter is non-negative",
            json!({
                "currentNumberScheduled": -1, "numberMisscheduled": -1, "desiredNumberScheduled": -1,
                "numberReady": -1, "observedGeneration": -1, "updatedNumberScheduled": -1,
                "numberAvailable": -1, "numberUnavailable": -1, "collisionCount": 2
            }),
            vec![
                "status.currentNumberScheduled: Invalid value: -1: must be greater than or equal to 0",
                "status.numberMisscheduled: Invalid value: -1: must be greater than or equal to 0",
                "status.desiredNumberScheduled: Invalid value: -1: must be greater than or equal to 0",
                "status.numberReady: Invalid value: -1: must be greater than or equal to 0",
                "status.observedGeneration: Invalid value: -1: must be greater than or equal to 0",
                "status.updatedNumberScheduled: Invalid value: -1: must be greater than or equal to 0",
                "status.numberAvailable: Invalid value: -1: must be greater than or equal to 0",
                "status.numberUnavailable: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "collisionCount decrement",
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0, "collisionCount": 1}),
            vec!["status.collisionCount: Invalid value: 1: cannot be decremented"],
        ),
        (
            "collisionCount unset counts as a decrement",
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
            vec!["status.collisionCount: Invalid value: 0: cannot be decremented"],
        ),
    ];
    for (name, status, want) in rows {
        let mut new = old.clone();
        new.status = Some(serde_json::from_value(status).expect("status parses"));
        assert_eq!(
            rendered(&validate_daemonset_status_update(&new, &old)),
            want,
            "{name}"
        );
    }
}

#[test]
fn controller_revision_rules() {
    let cr = |data: Value, revision: i64| -> ControllerRevision {
        serde_json::from_value(json!({
            "metadata": {"name": "agent-5d4f", "namespace": "default", "uid": "u", "resourceVersion": "1"},
            "data": data,
            "revision": revision
        }))
        .expect("revision parses")
    };
    let good = cr(json!({"spec": {"template": {}}}), 1);
    assert!(validate_controller_revision(&good).is_empty());
    assert_eq!(
        rendered(&validate_controller_revision(&cr(json!({"spec": {}}), -1))),
        vec!["revision: Invalid value: -1: must be greater than or equal to 0"]
    );
    let mut no_data = good.clone();
    no_data.data.0 = Value::Null;
    assert_eq!(
        rendered(&validate_controller_revision(&no_data)),
        vec!["data: Required value: data is mandatory"]
    );

    assert!(
        validate_controller_revision_update(&cr(json!({"spec": {"template": {}}}), 7), &good)
            .is_empty(),
        "revision is mutable"
    );
    assert_eq!(
        rendered(&validate_controller_revision_update(
            &cr(json!({"spec": {"x": 1}}), 1),
            &good
        )),
        vec!["data: Invalid value: {\"spec\":{\"x\":1}}: field is immutable"]
    );
}

// ----------------------------------------------------------------------------------------
// Pods and other kinds.

fn pod(spec: Value) -> Pod {
    let mut p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u", "resourceVersion": "1"},
        "spec": spec
    }))
    .expect("pod parses");
    default_pod(&mut p);
    p
}

#[test]
fn pod_validation_rules() {
    let ok = pod(json!({"containers": [{"name": "c", "image": "nginx:1"}]}));
    assert!(validate_pod(&ok).is_empty());
    let bad = pod(
        json!({"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "nginx:1"}]}),
    );
    assert_eq!(
        rendered(&validate_pod(&bad)),
        vec![
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        ]
    );
    let never =
        pod(json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "nginx:1"}]}));
    assert!(validate_pod(&never).is_empty(), "pods may use Never");
}

#[test]
fn pod_update_allows_only_upstreams_mutable_fields() {
    let old = pod(json!({
        "containers": [{"name": "c", "image": "nginx:1"}],
        "activeDeadlineSeconds": 100,
        "tolerations": [{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]
    }));
    let rows: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "image change",
            |s| s["containers"][0]["image"] = json!("nginx:2"),
            vec![],
        ),
        (
            "activeDeadlineSeconds decrease",
            |s| s["activeDeadlineSeconds"] = json!(50),
            vec![],
        ),
        (
            "toleration added and tolerationSeconds changed",
            |s| {
                s["tolerations"] = json!([
                    {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5},
                    {"key": "b", "operator": "Exists"}
                ])
            },
            vec![],
        ),
        (
            "activeDeadlineSeconds increase",
            |s| s["activeDeadlineSeconds"] = json!(200),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value",
            ],
        ),
        (
            "toleration removed",
            |s| s["tolerations"] = json!([]),
            vec![
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
            ],
        ),
    ];
    for (name, edit, want) in rows {
        let mut doc = serde_json::to_value(&old).expect("serialises");
        edit(&mut doc["spec"]);
        let new: Pod = serde_json::from_value(doc).expect("parses");
        assert_eq!(rendered(&validate_pod_update(&new, &old)), want, "{name}");
    }

    let mut doc = serde_json::to_value(&old).expect("serialises");
    doc["spec"]["nodeSelector"] = json!({"zone": "a"});
    let new: Pod = serde_json::from_value(doc).expect("parses");
    let errs = validate_pod_update(&new, &old);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, FieldErrorKind::Forbidden);
    assert_eq!(errs[0].field, "spec");
    assert!(
        errs[0].to_string().starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"),
        "{}",
        errs[0]
    );
    assert!(
        errs[0].detail.contains("spec.nodeSelector"),
        "{}",
        errs[0].detail
    );
}

#[test]
fn object_meta_rules() {
    let meta = |v: Value| -> ObjectMeta { serde_json::from_value(v).expect("meta parses") };
    let rows: Vec<(&str, Value, bool, Vec<&str>)> = vec![
        (
            "cluster-scoped with a namespace",
            json!({"name": "n", "namespace": "x"}),
            false,
            vec!["metadata.namespace: Forbidden: not allowed on this type"],
        ),
        (
            "bad generateName",
            json!({"generateName": "Bad-"}),
            true,
            vec![
                Box::leak(
                    format!("metadata.generateName: Invalid value: \"Bad-\": {SUBDOMAIN_MSG}")
                        .into_boxed_str(),
                ),
                "metadata.namespace: Required value",
            ],
        ),
        (
            "unknown unqualified finalizer",
            json!({"name": "n", "namespace": "d", "finalizers": ["custom"]}),
            true,
            vec![
                "metadata.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified",
            ],
        ),
        (
            "qualified and standard finalizers",
            json!({"name": "n", "namespace": "d", "finalizers": ["example.com/x", "foregroundDeletion"]}),
            true,
            vec![],
        ),
    ];
    for (name, m, namespaced, want) in rows {
        assert_eq!(
            rendered(&validate_object_meta(&meta(m), namespaced, "metadata")),
            want,
            "{name}"
        );
    }
    let old = meta(json!({"name": "n", "uid": "a", "creationTimestamp": "2024-01-01T00:00:00Z"}));
    let new = meta(json!({"name": "n", "uid": "a", "creationTimestamp": "2025-01-01T00:00:00Z"}));
    assert_eq!(
        rendered(&validate_object_meta_update(&new, &old, "metadata")),
        vec![
            "metadata.creationTimestamp: Invalid value: \"2025-01-01T00:00:00Z\": field is immutable"
        ]
    );
}

#[test]
fn node_namespace_lease_and_event_rules() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "spec": {"taints": [
            {"key": "k", "effect": "NoSchedule"},
            {"key": "k", "effect": "NoSchedule", "value": "v"},
            {"key": "k2", "effect": "Sometimes"}
        ]}
    }))
    .expect("parses");
    assert_eq!(
        rendered(&validate_node(&node)),
        vec![
            "spec.taints[1]: Duplicate value: {\"effect\":\"NoSchedule\",\"key\":\"k\",\"value\":\"v\"}: taints must be unique by key and effect pair",
            "spec.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ]
    );

    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "a.b"}})).expect("parses");
    assert_eq!(
        rendered(&validate_namespace(&ns)),
        vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
    );

    let lease = serde_json::from_value(json!({
        "metadata": {"name": "l", "namespace": "kube-system"},
        "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}
    }))
    .expect("parses");
    assert_eq!(
        rendered(&validate_lease(&lease)),
        vec![
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
            "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        ]
    );

    let event = serde_json::from_value(json!({
        "metadata": {"name": "agent.17", "namespace": "default"},
        "involvedObject": {"kind": "DaemonSet", "name": "agent", "namespace": "other"}
    }))
    .expect("parses");
    assert_eq!(
        rendered(&validate_event(&event)),
        vec!["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"]
    );
}

// ----------------------------------------------------------------------------------------
// Field errors and Status (2.5).

#[test]
fn field_errors_render_in_upstream_style() {
    let rows = [
        (
            FieldError::invalid("a.b", "x\"y", "bad"),
            "a.b: Invalid value: \"x\\\"y\": bad",
        ),
        (
            FieldError::invalid("a", 3, "bad"),
            "a: Invalid value: 3: bad",
        ),
        (
            FieldError::invalid("a", json!({"k": [1, true]}), "bad"),
            "a: Invalid value: {\"k\":[1,true]}: bad",
        ),
        (FieldError::required("a", ""), "a: Required value"),
        (FieldError::required("a", "why"), "a: Required value: why"),
        (FieldError::forbidden("a", "no"), "a: Forbidden: no"),
        (
            FieldError::not_supported("a", "Never", &["Always"]),
            "a: Unsupported value: \"Never\": supported values: \"Always\"",
        ),
        (
            FieldError::duplicate("a[1]", "c"),
            "a[1]: Duplicate value: \"c\"",
        ),
        (
            FieldError::too_long("a", "long", 10),
            "a: Too long: may not be more than 10 bytes",
        ),
        (FieldError::not_found("a", "v"), "a: Not found: \"v\""),
    ];
    for (err, want) in rows {
        assert_eq!(err.to_string(), want);
    }
    let p = FieldPath::new("spec").child("template").index(0).key("app");
    assert_eq!(p.to_string(), "spec.template[0][app]");
}

#[test]
fn invalid_status_with_one_cause() {
    let errs = vec![FieldError::invalid(
        "spec.minReadySeconds",
        -1,
        "must be greater than or equal to 0",
    )];
    let status = invalid_status("DaemonSet", "apps", "agent", &errs);
    let v = serde_json::to_value(&status).expect("serialises");
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["status"], "Failure");
    assert_eq!(v["reason"], "Invalid");
    assert_eq!(v["code"], 422);
    assert_eq!(
        v["message"],
        "DaemonSet.apps \"agent\" is invalid: spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"
    );
    assert_eq!(
        v["details"],
        json!({
            "name": "agent", "group": "apps", "kind": "DaemonSet",
            "causes": [{
                "reason": "FieldValueInvalid",
                "message": "Invalid value: -1: must be greater than or equal to 0",
                "field": "spec.minReadySeconds"
            }]
        })
    );
}

#[test]
fn invalid_status_with_several_causes_lists_them_in_brackets() {
    let errs = vec![
        FieldError::required(
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            "cannot be 0 when maxSurge is 0",
        ),
        FieldError::not_supported("spec.template.spec.restartPolicy", "Never", &["Always"]),
        // An identical message appears once in the text but keeps its cause.
        FieldError::not_supported("spec.template.spec.restartPolicy", "Never", &["Always"]),
    ];
    let err = ApiError::invalid("DaemonSet.apps", "agent", &errs);
    assert_eq!(err.code(), 422);
    assert_eq!(
        err.to_string(),
        "DaemonSet.apps \"agent\" is invalid: [spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0, spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"]"
    );
    let causes = err
        .status
        .details
        .as_ref()
        .and_then(|d| d.causes.clone())
        .expect("causes");
    let got: Vec<(Option<String>, Option<String>)> =
        causes.into_iter().map(|c| (c.reason, c.field)).collect();
    let want = vec![
        (
            Some("FieldValueRequired".to_string()),
            Some("spec.updateStrategy.rollingUpdate.maxUnavailable".to_string()),
        ),
        (
            Some("FieldValueNotSupported".to_string()),
            Some("spec.template.spec.restartPolicy".to_string()),
        ),
        (
            Some("FieldValueNotSupported".to_string()),
            Some("spec.template.spec.restartPolicy".to_string()),
        ),
    ];
    assert_eq!(got, want);

    let core = ApiError::invalid("Pod", "p", &errs[..1]);
    let v = serde_json::to_value(&core.status).expect("serialises");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Pod \"p\" is invalid: ")),
        "{v}"
    );
    assert_eq!(v["details"].get("group"), None, "core kinds have no group");
}

#[test]
fn api_errors_carry_upstream_code_reason_and_message() {
    let rows: Vec<(ApiError, u16, &str, &str)> = vec![
        (
            ApiError::not_found("daemonsets.apps", "x"),
            404,
            "NotFound",
            "daemonsets.apps \"x\" not found",
        ),
        (
            ApiError::not_found("pods", "p"),
            404,
            "NotFound",
            "pods \"p\" not found",
        ),
        (
            ApiError::already_exists("daemonsets.apps", "x"),
            409,
            "AlreadyExists",
            "daemonsets.apps \"x\" already exists",
        ),
        (
            ApiError::conflict("daemonsets.apps", "x", OBJECT_MODIFIED),
            409,
            "Conflict",
            "Operation cannot be fulfilled on daemonsets.apps \"x\": the object has been modified; please apply your changes to the latest version and try again",
        ),
        (ApiError::bad_request("nope"), 400, "BadRequest", "nope"),
        (
            ApiError::method_not_allowed("daemonsets.apps", "watch"),
            405,
            "MethodNotAllowed",
            "watch is not supported on resources of kind \"daemonsets.apps\"",
        ),
        (
            ApiError::unauthorized(),
            401,
            "Unauthorized",
            "Unauthorized",
        ),
        (
            ApiError::forbidden("daemonsets.apps", "x", "denied"),
            403,
            "Forbidden",
            "daemonsets.apps \"x\" is forbidden: denied",
        ),
        (
            ApiError::too_old_resource_version(5, 120),
            410,
            "Expired",
            "too old resource version: 5 (120)",
        ),
        (ApiError::gone("gone"), 410, "Gone", "gone"),
        (
            ApiError::request_entity_too_large("limit is 3145728"),
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        ),
        (
            ApiError::unsupported_media_type("text/plain"),
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ),
        (
            ApiError::not_acceptable(&["application/json"]),
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        ),
        (
            ApiError::too_many_requests("slow down", 1),
            429,
            "TooManyRequests",
            "Too many requests: slow down",
        ),
        (
            ApiError::internal("boom"),
            500,
            "InternalError",
            "Internal error occurred: boom",
        ),
        (
            ApiError::service_unavailable("starting"),
            503,
            "ServiceUnavailable",
            "starting",
        ),
    ];
    for (err, code, reason, message) in rows {
        assert_eq!(
            (err.code(), err.reason(), err.to_string().as_str()),
            (code, reason, message)
        );
        let v = serde_json::to_value(&err.status).expect("serialises");
        assert_eq!(
            (
                v["kind"].as_str(),
                v["apiVersion"].as_str(),
                v["status"].as_str()
            ),
            (Some("Status"), Some("v1"), Some("Failure"))
        );
        assert_eq!(v["code"], i64::from(code));
    }
    let nf = serde_json::to_value(ApiError::not_found("daemonsets.apps", "x").status)
        .expect("serialises");
    assert_eq!(
        nf["details"],
        json!({"name": "x", "group": "apps", "kind": "daemonsets"})
    );
    let tmr = serde_json::to_value(ApiError::too_many_requests("x", 3).status).expect("serialises");
    assert_eq!(tmr["details"]["retryAfterSeconds"], 3);

    let ok = serde_json::to_value(success_status("daemonsets.apps", "x", Some("u1")))
        .expect("serialises");
    assert_eq!(ok["status"], "Success");
    assert_eq!(ok["kind"], "Status");
    assert_eq!(
        ok["details"],
        json!({"name": "x", "group": "apps", "kind": "daemonsets", "uid": "u1"})
    );
}

#[test]
fn percent_message_constant_matches_validation() {
    let mut doc = ds_json();
    set(
        &mut doc,
        "/spec/updateStrategy/rollingUpdate",
        json!({"maxSurge": "x%", "maxUnavailable": 1}),
    );
    let errs = rendered(&validate_daemonset(&defaulted_ds(doc)));
    assert_eq!(
        errs,
        vec![format!(
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: \"x%\": {PERCENT_MSG}"
        )]
    );
}

#[test]
fn finalized_namespace_keeps_its_empty_finalizer_list() {
    let mut ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": "gone"},
        "spec": {"finalizers": []},
        "status": {"phase": "Terminating"}
    }))
    .expect("parses");
    default_namespace(&mut ns);
    let v = serde_json::to_value(&ns).expect("serialises");
    assert_eq!(v.pointer("/spec/finalizers"), Some(&json!([])));
    assert_eq!(v.pointer("/status/phase"), Some(&json!("Terminating")));
}

#[test]
fn daemonset_update_reports_metadata_errors_once() {
    let old = with_uid(defaulted_ds(ds_json()), "u1");
    let mut new = old.clone();
    new.metadata.labels = Some([("-bad".to_string(), "x".to_string())].into());
    let errs = rendered(&validate_daemonset_update(&new, &old));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("metadata.labels: Invalid value: \"-bad\": name part "),
        "{errs:?}"
    );
}

#[test]
fn system_fields_are_filled_before_update_validation() {
    let stored: ObjectMeta = serde_json::from_value(json!({
        "name": "n", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z",
        "deletionTimestamp": "2024-02-01T00:00:00Z", "deletionGracePeriodSeconds": 30
    }))
    .expect("parses");
    let mut submitted: ObjectMeta = serde_json::from_value(json!({"name": "n"})).expect("parses");
    assert_eq!(
        validate_object_meta_update(&submitted, &stored, "metadata").len(),
        4
    );
    fill_system_fields_for_update(&mut submitted, &stored);
    assert_eq!(
        rendered(&validate_object_meta_update(
            &submitted, &stored, "metadata"
        )),
        Vec::<String>::new()
    );
    let mut other_uid: ObjectMeta =
        serde_json::from_value(json!({"name": "n", "uid": "u2"})).expect("parses");
    fill_system_fields_for_update(&mut other_uid, &stored);
    assert_eq!(
        rendered(&validate_object_meta_update(
            &other_uid, &stored, "metadata"
        )),
        vec!["metadata.uid: Invalid value: \"u2\": field is immutable"]
    );
}
