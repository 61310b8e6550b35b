//! Real kubectl (/usr/bin/kubectl) `create <kind>` subcommands, which send protobuf bodies,
//! against a started server: every field kubectl sets must arrive intact.

mod common;

use common::Kubectl;

use serde_json::{Value, json};

/// Runs kubectl with `-v=8`; returns its output and its request log (which shows the wire
/// format).
async fn verbose(k: &Kubectl, args: &[&str]) -> (String, String) {
    let mut all = args.to_vec();
    all.push("-v=8");
    let run = k.run(&all).await;
    assert!(run.ok, "kubectl {args:?} failed: {}", run.stderr);
    (run.stdout, run.stderr)
}

/// A JSON pointer into the stored object and the value expected there.
type Expectation = (&'static str, fn() -> Value);

struct Case {
    /// The `kubectl create` arguments.
    create: &'static [&'static str],
    /// What kubectl prints on success.
    printed: &'static str,
    /// The `kubectl get` arguments for the created object.
    get: &'static [&'static str],
    /// JSON pointer -> expected value in the stored object.
    expect: &'static [Expectation],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            create: &["create", "namespace", "pb-ns"],
            printed: "namespace/pb-ns created",
            get: &["get", "namespace", "pb-ns"],
            expect: &[
                ("/metadata/name", || json!("pb-ns")),
                ("/status/phase", || json!("Active")),
            ],
        },
        Case {
            create: &[
                "create",
                "configmap",
                "pb-cm",
                "-n",
                "pb-ns",
                "--from-literal=a=b",
                "--from-literal=multi=line1\nline2",
                "--from-file=blob=BLOB",
            ],
            printed: "configmap/pb-cm created",
            get: &["get", "configmap", "pb-cm", "-n", "pb-ns"],
            expect: &[
                ("/metadata/namespace", || json!("pb-ns")),
                ("/data", || json!({"a": "b", "multi": "line1\nline2"})),
                ("/binaryData", || json!({"blob": "AP/+AQ=="})),
            ],
        },
        Case {
            create: &[
                "create",
                "secret",
                "generic",
                "pb-secret",
                "-n",
                "pb-ns",
                "--from-literal=user=admin",
                "--from-literal=empty=",
                "--type=example.com/custom",
            ],
            printed: "secret/pb-secret created",
            get: &["get", "secret", "pb-secret", "-n", "pb-ns"],
            expect: &[
                ("/data", || json!({"user": "YWRtaW4=", "empty": ""})),
                ("/type", || json!("example.com/custom")),
            ],
        },
        Case {
            create: &["create", "serviceaccount", "pb-sa", "-n", "pb-ns"],
            printed: "serviceaccount/pb-sa created",
            get: &["get", "serviceaccount", "pb-sa", "-n", "pb-ns"],
            expect: &[
                ("/metadata/name", || json!("pb-sa")),
                ("/metadata/namespace", || json!("pb-ns")),
            ],
        },
        Case {
            create: &[
                "create",
                "priorityclass",
                "pb-pc",
                "--value=1000",
                "--description=agents first",
                "--preemption-policy=Never",
            ],
            printed: "priorityclass.scheduling.k8s.io/pb-pc created",
            get: &["get", "priorityclass", "pb-pc"],
            expect: &[
                ("/value", || json!(1000)),
                ("/description", || json!("agents first")),
                ("/preemptionPolicy", || json!("Never")),
            ],
        },
        Case {
            create: &[
                "create",
                "clusterrole",
                "pb-reader",
                "--verb=get,list",
                "--resource=pods,daemonsets.apps",
            ],
            printed: "clusterrole.rbac.authorization.k8s.io/pb-reader created",
            get: &["get", "clusterrole", "pb-reader"],
            expect: &[("/rules", || {
                json!([
                    {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
                    {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["daemonsets"]},
                ])
            })],
        },
        Case {
            create: &[
                "create",
                "role",
                "pb-role",
                "-n",
                "pb-ns",
                "--verb=get",
                "--resource=configmaps",
                "--resource-name=pb-cm",
            ],
            printed: "role.rbac.authorization.k8s.io/pb-role created",
            get: &["get", "role", "pb-role", "-n", "pb-ns"],
            expect: &[("/rules", || {
                json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
                        "resourceNames": ["pb-cm"]}])
            })],
        },
        Case {
            create: &[
                "create",
                "rolebinding",
                "pb-rb",
                "-n",
                "pb-ns",
                "--clusterrole=pb-reader",
                "--user=alice",
                "--group=ops",
                "--serviceaccount=pb-ns:pb-sa",
            ],
            printed: "rolebinding.rbac.authorization.k8s.io/pb-rb created",
            get: &["get", "rolebinding", "pb-rb", "-n", "pb-ns"],
            expect: &[
                ("/roleRef", || {
                    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "pb-reader"})
                }),
                ("/subjects", || {
                    json!([
                        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"},
                        {"kind": "ServiceAccount", "name": "pb-sa", "namespace": "pb-ns"},
                    ])
                }),
            ],
        },
        Case {
            create: &[
                "create",
                "clusterrolebinding",
                "pb-crb",
                "--clusterrole=pb-reader",
                "--serviceaccount=pb-ns:pb-sa",
            ],
            printed: "clusterrolebinding.rbac.authorization.k8s.io/pb-crb created",
            get: &["get", "clusterrolebinding", "pb-crb"],
            expect: &[(
                "/subjects",
                || json!([{"kind": "ServiceAccount", "name": "pb-sa", "namespace": "pb-ns"}]),
            )],
        },
        Case {
            create: &[
                "create",
                "service",
                "clusterip",
                "pb-svc",
                "-n",
                "pb-ns",
                "--tcp=80:8080",
                "--tcp=443:https",
            ],
            printed: "service/pb-svc created",
            get: &["get", "service", "pb-svc", "-n", "pb-ns"],
            expect: &[
                ("/metadata/labels", || json!({"app": "pb-svc"})),
                ("/spec/type", || json!("ClusterIP")),
                ("/spec/selector", || json!({"app": "pb-svc"})),
                ("/spec/ports/0/port", || json!(80)),
                ("/spec/ports/0/targetPort", || json!(8080)),
                ("/spec/ports/0/protocol", || json!("TCP")),
                ("/spec/ports/1/name", || json!("443-https")),
                ("/spec/ports/1/targetPort", || json!("https")),
            ],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_subcommands_send_protobuf_and_every_field_arrives() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    let blob = ts.dir.path().join("BLOB");
    std::fs::write(&blob, [0x00, 0xff, 0xfe, 0x01]).expect("write blob");
    let blob = blob.to_str().expect("utf-8 temp path").to_string();

    for case in cases() {
        let owned: Vec<String> = case
            .create
            .iter()
            .map(|a| a.replace("=BLOB", &format!("={blob}")))
            .collect();
        let create: Vec<&str> = owned.iter().map(String::as_str).collect();
        let (printed, log) = verbose(&k, &create).await;
        // Guards the premise: if kubectl stops sending protobuf, this test proves nothing.
        assert!(
            log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
            "kubectl {create:?} did not send protobuf:\n{log}"
        );
        assert_eq!(printed.trim(), case.printed, "kubectl {create:?}");

        let mut get = case.get.to_vec();
        get.extend(["-o", "json"]);
        let object: Value = serde_json::from_str(&k.ok(&get).await).expect("kubectl printed JSON");
        for (pointer, want) in case.expect {
            assert_eq!(
                object.pointer(pointer),
                Some(&want()),
                "kubectl {create:?}: {pointer} in {object:#}"
            );
        }
        // Server-set metadata proves the object went through the normal create path.
        assert!(
            object
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .is_some_and(|u| !u.is_empty()),
            "kubectl {create:?}: no uid in {object:#}"
        );
    }

    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_protobuf_bodies_are_bad_requests() {
    let ts = common::start().await;
    let client = ts.client().await;
    let cases: &[(&str, &[u8], &str)] = &[
        ("wrong magic", b"k8s\x01\x0a\x00", "prefix"),
        ("truncated varint", b"k8s\x00\x28\x80", "truncated varint"),
        (
            "length past the end",
            b"k8s\x00\x0a\x05\x00",
            "past the end",
        ),
        (
            "a kind without a protobuf schema",
            b"k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod",
            "send it as JSON",
        ),
    ];
    for (what, body, want) in cases {
        let request = http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/vnd.kubernetes.protobuf")
            .body(body.to_vec())
            .expect("request");
        let err = client
            .request_text(request)
            .await
            .expect_err(&format!("{what}: should be rejected"));
        match err {
            kube::Error::Api(status) => {
                assert_eq!(status.code, 400, "{what}: {status:?}");
                assert_eq!(status.reason, "BadRequest", "{what}: {status:?}");
                assert!(
                    status.message.contains(want),
                    "{what}: {:?} should mention {want:?}",
                    status.message
                );
            }
            other => panic!("{what}: expected an API error, got {other:?}"),
        }
    }
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drain_deletes_pods_with_protobuf_delete_options() {
    let ts = common::start().await;
    let k = Kubectl::new(&ts);
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}});
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bare", "namespace": "default"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}});
    for (file, object) in [("node.json", node), ("pod.json", pod)] {
        let path = ts.dir.path().join(file);
        std::fs::write(&path, object.to_string()).expect("write manifest");
        k.ok(&["create", "-f", path.to_str().expect("utf-8 temp path")])
            .await;
    }

    // No eviction subresource is served, so kubectl falls back to deleting each pod with
    // a DeleteOptions body, which it encodes as protobuf.
    let (_, log) = verbose(
        &k,
        &[
            "drain",
            "n1",
            "--force",
            "--grace-period=0",
            "--timeout=20s",
        ],
    )
    .await;
    assert!(
        log.lines()
            .any(|l| l.contains("DELETE") && l.contains("/pods/bare")),
        "drain did not delete the pod:\n{log}"
    );
    let gone = k.fails(&["get", "pod", "bare", "-n", "default"]).await;
    assert!(gone.contains("NotFound"), "{gone}");
    let node: Value = serde_json::from_str(&k.ok(&["get", "node", "n1", "-o", "json"]).await)
        .expect("kubectl printed JSON");
    assert_eq!(node.pointer("/spec/unschedulable"), Some(&json!(true)));
    ts.stop().await;
}
