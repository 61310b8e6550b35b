//! Real kubectl (/usr/bin/kubectl) against a started server: the issue's must-show list.

mod common;

use common::Kubectl;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const NODE_EXPORTER: &str = include_str!("fixtures/node-exporter.yaml");
const DEADLINE: Duration = Duration::from_secs(30);

fn columns(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// `kubectl create namespace` is one of the typed commands that send a protobuf body.
async fn create_namespace(k: &Kubectl, name: &str) {
    assert_eq!(
        k.ok(&["create", "namespace", name]).await.trim(),
        format!("namespace/{name} created")
    );
}

async fn with_node_exporter(k: &Kubectl) {
    create_namespace(k, "monitoring").await;
    let file = k.write("node-exporter.yaml", NODE_EXPORTER);
    assert_eq!(
        k.ok(&["apply", "-f", &file]).await.trim(),
        "daemonset.apps/node-exporter created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_node_exporter_and_shows_columns_defaults_and_second_generation() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    with_node_exporter(&k).await;

    let table = k.ok(&["get", "ds", "-n", "monitoring"]).await;
    assert_eq!(
        columns(&table),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE",
            "SELECTOR",
            "AGE"
        ]
    );
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("one row")
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..7],
        ["node-exporter", "0", "0", "0", "0", "0", "<none>"]
    );
    let wide = k.ok(&["get", "ds", "-n", "monitoring", "-o", "wide"]).await;
    let wide_cols = columns(&wide);
    assert_eq!(
        &wide_cols[wide_cols.len() - 3..],
        ["CONTAINERS", "IMAGES", "SELECTOR"]
    );

    let yaml = k
        .ok(&[
            "get",
            "ds",
            "node-exporter",
            "-n",
            "monitoring",
            "-o",
            "yaml",
        ])
        .await;
    assert!(
        yaml.contains("deprecated.daemonset.template.generation: \"1\""),
        "{yaml}"
    );
    let ds = k
        .json(&["get", "ds", "node-exporter", "-n", "monitoring"])
        .await;
    let checks = [
        ("/spec/updateStrategy/type", Value::from("RollingUpdate")),
        (
            "/spec/updateStrategy/rollingUpdate/maxUnavailable",
            Value::from(1),
        ),
        (
            "/spec/updateStrategy/rollingUpdate/maxSurge",
            Value::from(0),
        ),
        ("/spec/revisionHistoryLimit", Value::from(10)),
        ("/spec/template/spec/dnsPolicy", Value::from("ClusterFirst")),
        ("/spec/template/spec/restartPolicy", Value::from("Always")),
        (
            "/spec/template/spec/schedulerName",
            Value::from("default-scheduler"),
        ),
        (
            "/spec/template/spec/terminationGracePeriodSeconds",
            Value::from(30),
        ),
        (
            "/spec/template/spec/containers/0/terminationMessagePath",
            Value::from("/dev/termination-log"),
        ),
        (
            "/spec/template/spec/containers/0/imagePullPolicy",
            Value::from("IfNotPresent"),
        ),
        ("/metadata/generation", Value::from(1)),
    ];
    for (pointer, want) in &checks {
        assert_eq!(ds.pointer(pointer), Some(want), "{pointer}");
    }

    let v2 = k.write(
        "node-exporter-v2.yaml",
        &NODE_EXPORTER.replace("v1.7.0", "v1.8.0"),
    );
    assert_eq!(
        k.ok(&["apply", "-f", &v2]).await.trim(),
        "daemonset.apps/node-exporter configured"
    );
    let ds = k
        .json(&["get", "ds", "node-exporter", "-n", "monitoring"])
        .await;
    assert_eq!(ds.pointer("/metadata/generation"), Some(&Value::from(2)));
    assert_eq!(
        ds.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("prom/node-exporter:v1.8.0"))
    );
    assert_eq!(
        ds.pointer("/metadata/annotations/deprecated.daemonset.template.generation"),
        Some(&Value::from("2"))
    );
    // Applying the same manifest again changes nothing.
    assert_eq!(
        k.ok(&["apply", "-f", &v2]).await.trim(),
        "daemonset.apps/node-exporter unchanged"
    );
    ts.stop().await;
}

const NODES: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-a
---
apiVersion: v1
kind: Node
metadata:
  name: node-b
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_labels_annotates_taints_and_cordons_a_node() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    let nodes = k.write("nodes.yaml", NODES);
    let out = k.ok(&["create", "-f", &nodes]).await;
    assert!(
        out.contains("node/node-a created") && out.contains("node/node-b created"),
        "{out}"
    );
    k.ok(&["label", "node", "node-a", "disk=ssd"]).await;
    k.ok(&["annotate", "node", "node-a", "owner=ops"]).await;
    k.ok(&["taint", "node", "node-a", "dedicated=agents:NoSchedule"])
        .await;
    k.ok(&["cordon", "node-a"]).await;
    let node = k.json(&["get", "node", "node-a"]).await;
    assert_eq!(
        node.pointer("/metadata/labels/disk"),
        Some(&Value::from("ssd"))
    );
    assert_eq!(
        node.pointer("/metadata/annotations/owner"),
        Some(&Value::from("ops"))
    );
    assert_eq!(
        node.pointer("/spec/unschedulable"),
        Some(&Value::from(true))
    );
    assert_eq!(
        node.pointer("/spec/taints/0/key"),
        Some(&Value::from("dedicated"))
    );
    assert_eq!(
        node.pointer("/spec/taints/0/effect"),
        Some(&Value::from("NoSchedule"))
    );
    k.ok(&["label", "node", "node-a", "disk-"]).await;
    k.ok(&["taint", "node", "node-a", "dedicated-"]).await;
    let node = k.json(&["get", "node", "node-a"]).await;
    assert_eq!(node.pointer("/metadata/labels/disk"), None);
    assert!(
        node.pointer("/spec/taints")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    );
    let listed = k
        .ok(&[
            "get",
            "nodes",
            "--field-selector",
            "spec.unschedulable=true",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(listed.trim(), "node/node-a");
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patches_with_merge_json_and_strategic_types() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    with_node_exporter(&k).await;
    let ns = ["-n", "monitoring"];
    let patch = |kind: &'static str, body: &'static str| {
        let mut args = vec!["patch", "ds", "node-exporter", "--type", kind, "-p", body];
        args.extend(ns);
        args
    };
    k.ok(&patch("merge", r#"{"spec":{"minReadySeconds":5}}"#))
        .await;
    k.ok(&patch(
        "json",
        r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]"#,
    ))
    .await;
    k.ok(&patch(
        "strategic",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"node-exporter","image":"prom/node-exporter:v1.9.0"}]}}}}"#,
    ))
    .await;
    let ds = k
        .json(&["get", "ds", "node-exporter", "-n", "monitoring"])
        .await;
    assert_eq!(ds.pointer("/spec/minReadySeconds"), Some(&Value::from(5)));
    assert_eq!(
        ds.pointer("/spec/revisionHistoryLimit"),
        Some(&Value::from(3))
    );
    let containers = ds
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .expect("containers");
    assert_eq!(
        containers.len(),
        1,
        "strategic merge keeps the list merged by name"
    );
    assert_eq!(
        containers[0]["image"],
        Value::from("prom/node-exporter:v1.9.0")
    );
    assert_eq!(
        containers[0]["ports"][0]["containerPort"],
        Value::from(9100),
        "other fields kept"
    );
    assert_eq!(ds.pointer("/metadata/generation"), Some(&Value::from(4)));
    let bad = k
        .fails(&patch(
            "json",
            r#"[{"op":"replace","path":"/spec/template/spec/restartPolicy","value":"Never"}]"#,
        ))
        .await;
    assert!(bad.contains(r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#), "{bad}");
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_with_each_cascade_mode() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    create_namespace(&k, "monitoring").await;
    for name in ["bg", "fg", "orphan"] {
        let text = NODE_EXPORTER.replace(
            "name: node-exporter\n  namespace",
            &format!("name: {name}\n  namespace"),
        );
        let file = k.write(&format!("{name}.yaml"), &text);
        k.ok(&["apply", "-f", &file]).await;
    }
    let out = k
        .ok(&[
            "delete",
            "ds",
            "bg",
            "-n",
            "monitoring",
            "--cascade=background",
        ])
        .await;
    assert_eq!(out.trim(), "daemonset.apps \"bg\" deleted");
    let gone = k.fails(&["get", "ds", "bg", "-n", "monitoring"]).await;
    assert!(gone.contains("daemonsets.apps \"bg\" not found"), "{gone}");
    for (name, mode, finalizer) in [
        ("fg", "foreground", "foregroundDeletion"),
        ("orphan", "orphan", "orphan"),
    ] {
        let cascade = format!("--cascade={mode}");
        k.ok(&[
            "delete",
            "ds",
            name,
            "-n",
            "monitoring",
            &cascade,
            "--wait=false",
        ])
        .await;
        // No garbage collector runs here, so the finalizer holds the object.
        let ds = k.json(&["get", "ds", name, "-n", "monitoring"]).await;
        assert_eq!(
            ds.pointer("/metadata/finalizers"),
            Some(&serde_json::json!([finalizer])),
            "{name}"
        );
        assert!(
            ds.pointer("/metadata/deletionTimestamp").is_some(),
            "{name}"
        );
    }
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_streams_changes() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    let cm = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  a: \"1\"\n"
        )
    };
    let first = k.write("first.yaml", &cm("first"));
    k.ok(&["create", "-f", &first]).await;
    let mut child = k
        .command(&["get", "configmaps", "-n", "default", "-w", "--no-headers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl -w starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut next_line_with = async |needle: &str| -> String {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no line with {needle}"))
                .expect("read")
                .unwrap_or_else(|| panic!("stream ended before {needle}"));
            if line.contains(needle) {
                return line;
            }
        }
    };
    next_line_with("first").await;
    let second = k.write("second.yaml", &cm("second"));
    k.ok(&["create", "-f", &second]).await;
    let line = next_line_with("second").await;
    assert!(line.starts_with("second"), "{line}");
    k.ok(&[
        "label",
        "configmap",
        "first",
        "-n",
        "default",
        "touched=yes",
    ])
    .await;
    next_line_with("first").await;
    child.kill().await.expect("kill kubectl -w");
    ts.stop().await;
}

const BAD_SELECTOR: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: bad-selector, namespace: default}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: "busybox:1"}]}
"#;

const RESTART_NEVER: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: never, namespace: default}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec: {restartPolicy: Never, containers: [{name: c, image: "busybox:1"}]}
"#;

const SURGE_ONLY: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: surge, namespace: default}
spec:
  selector: {matchLabels: {app: a}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: c, image: "busybox:1"}]}
"#;

const UNKNOWN_FIELD: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: typo, namespace: default}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: c, imagee: "busybox:1"}]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rejects_invalid_manifests_with_upstream_messages() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    let cases = [
        (
            "bad-selector.yaml",
            BAD_SELECTOR,
            "`selector` does not match template `labels`",
        ),
        (
            "never.yaml",
            RESTART_NEVER,
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
        ),
        (
            "surge.yaml",
            SURGE_ONLY,
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero",
        ),
        (
            "typo.yaml",
            UNKNOWN_FIELD,
            "strict decoding error: unknown field \"spec.template.spec.containers[0].imagee\"",
        ),
    ];
    for (file, text, message) in cases {
        let path = k.write(file, text);
        let stderr = k.fails(&["apply", "-f", &path]).await;
        assert!(
            stderr.contains(message),
            "{file}: expected {message:?} in {stderr}"
        );
        if file == "bad-selector.yaml" {
            assert!(
                stderr.contains("spec.template.metadata.labels: Invalid value: "),
                "{stderr}"
            );
        }
    }
    let listed = k.ok(&["get", "ds", "-A", "-o", "name"]).await;
    assert_eq!(listed.trim(), "", "nothing invalid was stored");
    ts.stop().await;
}
