//! Snapshot tests of what the kubectl-style commands print, rendered from fixed objects at a
//! fixed `now` (no server): `get` tables, `describe daemonset`, `rollout history` and `why`.

use everynode::describe::{describe_daemonset, describe_pod_template};
use everynode::output::{OutputFormat, TableOptions, render_get_table, render_structured};
use everynode::rollout::{
    RolloutError, history_revision, history_table, owned_revisions, rollout_status, undo_target,
};
use everynode::why::{explain, render_table};
use everynode_apiserver::registry::{ResourceInfo, lookup_kind};
use everynode_model::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use serde_json::{Value, json};

const DS_UID: &str = "5f1c2a9e-0000-4000-8000-000000000001";

fn now() -> Timestamp {
    "2025-03-01T12:00:00Z".parse().expect("fixed time")
}

fn info(group: &str, kind: &str) -> &'static ResourceInfo {
    lookup_kind(group, kind).expect("served kind")
}

fn daemonset_json() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "fluentd",
            "namespace": "kube-system",
            "uid": DS_UID,
            "generation": 2,
            "creationTimestamp": "2025-03-01T10:55:00Z",
            "labels": {"app": "fluentd", "tier": "logging"},
            "annotations": {"deprecated.daemonset.template.generation": "2",
                             "kubectl.kubernetes.io/last-applied-configuration": "{}"}
        },
        "spec": {
            "selector": {"matchLabels": {"app": "fluentd"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "template": {
                "metadata": {"labels": {"app": "fluentd"}},
                "spec": {
                    "nodeSelector": {"nodepool": "workload"},
                    "tolerations": [
                        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
                        {"key": "dedicated", "operator": "Equal", "value": "logs", "effect": "NoExecute", "tolerationSeconds": 30}
                    ],
                    "containers": [{
                        "name": "fluentd",
                        "image": "fluent/fluentd:v1.16",
                        "ports": [{"containerPort": 24224, "hostPort": 24224, "protocol": "TCP"}],
                        "env": [
                            {"name": "LOG_LEVEL", "value": "info"},
                            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}
                        ],
                        "resources": {"limits": {"memory": "200Mi"}, "requests": {"cpu": "100m", "memory": "200Mi"}},
                        "volumeMounts": [{"name": "varlog", "mountPath": "/var/log", "readOnly": true}]
                    }],
                    "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}}]
                }
            }
        },
        "status": {
            "currentNumberScheduled": 3,
            "desiredNumberScheduled": 3,
            "numberMisscheduled": 1,
            "numberReady": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 2,
            "observedGeneration": 2
        }
    })
}

fn daemonset() -> DaemonSet {
    serde_json::from_value(daemonset_json()).expect("fixture DaemonSet")
}

fn node(name: &str, labels: Value, taints: Value, unschedulable: bool) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "creationTimestamp": "2025-02-27T09:00:00Z"},
        "spec": {"taints": taints, "unschedulable": unschedulable},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-everynode", "osImage": "everynode simulated",
                         "kernelVersion": "6.0.0", "containerRuntimeVersion": "everynode://0.1.0",
                         "architecture": "amd64", "bootID": "", "kubeProxyVersion": "", "machineID": "",
                         "operatingSystem": "linux", "systemUUID": ""},
            "addresses": [{"type": "InternalIP", "address": "10.1.0.2"}]
        }
    }))
    .expect("fixture Node")
}

fn nodes() -> Vec<Node> {
    vec![
        node(
            "workload-0",
            json!({"nodepool": "workload"}),
            json!([]),
            false,
        ),
        node(
            "workload-1",
            json!({"nodepool": "workload"}),
            json!([]),
            true,
        ),
        node(
            "workload-2",
            json!({"nodepool": "workload"}),
            json!([]),
            false,
        ),
        node("system-0", json!({"nodepool": "system"}), json!([]), false),
        node(
            "gpu-0",
            json!({"nodepool": "workload", "node-type": "gpu"}),
            json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
            false,
        ),
        node("crash-0", json!({"nodepool": "workload"}), json!([]), false),
        node(
            "drain-0",
            json!({"nodepool": "workload"}),
            json!([{"key": "maintenance", "effect": "NoExecute"}]),
            false,
        ),
    ]
}

/// A daemon pod: `node` is where it is bound (None: Pending, pinned by affinity to `pin`).
fn pod(name: &str, node: Option<&str>, pin: &str, hash: &str, phase: &str, ready: bool) -> Pod {
    let mut conditions = vec![json!({"type": "Ready", "status": if ready {"True"} else {"False"}})];
    if node.is_none() {
        conditions.push(json!({
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/6 nodes are available: 1 Insufficient memory, 5 node(s) didn't match Pod's node affinity/selector."
        }));
    }
    let mut spec = json!({
        "containers": [{"name": "fluentd", "image": "fluent/fluentd:v1.16"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [pin]}]}]
        }}}
    });
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    let mut status = json!({"phase": phase, "conditions": conditions});
    if ready {
        status["containerStatuses"] = json!([{
            "name": "fluentd", "ready": true, "restartCount": 0, "image": "fluent/fluentd:v1.16", "imageID": "",
            "state": {"running": {"startedAt": "2025-03-01T11:00:00Z"}}
        }]);
        status["podIP"] = json!("10.244.0.5");
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "kube-system", "creationTimestamp": "2025-03-01T11:00:00Z",
            "labels": {"app": "fluentd", "controller-revision-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd",
                                 "uid": DS_UID, "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": spec,
        "status": status
    }))
    .expect("fixture Pod")
}

/// Gives a pod a container stuck in CrashLoopBackOff.
fn crash_looping(mut pod: Pod) -> Pod {
    if let Some(status) = pod.status.as_mut() {
        status.container_statuses = Some(vec![
            serde_json::from_value(json!({
                "name": "fluentd", "ready": false, "restartCount": 4,
                "image": "fluent/fluentd:v1.16", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}
            }))
            .expect("container status"),
        ]);
    }
    pod
}

fn pods() -> Vec<Pod> {
    vec![
        pod(
            "fluentd-aaaaa",
            Some("workload-0"),
            "workload-0",
            "6b9f8c7d5",
            "Running",
            true,
        ),
        pod(
            "fluentd-bbbbb",
            Some("workload-1"),
            "workload-1",
            "5c4d9b8f7",
            "Running",
            true,
        ),
        pod(
            "fluentd-ccccc",
            None,
            "workload-2",
            "6b9f8c7d5",
            "Pending",
            false,
        ),
        crash_looping(pod(
            "fluentd-eeeee",
            Some("crash-0"),
            "crash-0",
            "6b9f8c7d5",
            "Running",
            false,
        )),
        pod(
            "fluentd-ddddd",
            Some("gpu-0"),
            "gpu-0",
            "6b9f8c7d5",
            "Running",
            true,
        ),
    ]
}

fn revision(number: i64, hash: &str, image: &str, cause: Option<&str>) -> ControllerRevision {
    let mut annotations = json!({});
    if let Some(c) = cause {
        annotations["kubernetes.io/change-cause"] = json!(c);
    }
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": format!("fluentd-{hash}"), "namespace": "kube-system",
            "creationTimestamp": "2025-03-01T10:55:00Z",
            "labels": {"app": "fluentd", "controller-revision-hash": hash},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd",
                                 "uid": DS_UID, "controller": true, "blockOwnerDeletion": true}]
        },
        "revision": number,
        "data": {"spec": {"template": {
            "$patch": "replace",
            "metadata": {"labels": {"app": "fluentd"}},
            "spec": {"containers": [{"name": "fluentd", "image": image}]}
        }}}
    }))
    .expect("fixture ControllerRevision")
}

fn revisions() -> Vec<ControllerRevision> {
    vec![
        revision(1, "5c4d9b8f7", "fluent/fluentd:v1.15", None),
        revision(
            2,
            "6b9f8c7d5",
            "fluent/fluentd:v1.16",
            Some("kubectl set image ds/fluentd fluentd=fluent/fluentd:v1.16"),
        ),
    ]
}

fn events() -> Vec<Event> {
    let event = |name: &str,
                 kind: &str,
                 obj: &str,
                 reason: &str,
                 msg: &str,
                 count: i32,
                 first: &str,
                 last: &str|
     -> Event {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "kube-system"},
            "involvedObject": {"kind": kind, "name": obj, "namespace": "kube-system",
                               "uid": if kind == "DaemonSet" { DS_UID } else { "other" }},
            "reason": reason, "message": msg, "type": "Normal", "count": count,
            "firstTimestamp": first, "lastTimestamp": last,
            "source": {"component": "daemonset-controller"}
        }))
        .expect("fixture Event")
    };
    vec![
        event(
            "fluentd.1",
            "DaemonSet",
            "fluentd",
            "SuccessfulCreate",
            "Created pod: fluentd-aaaaa",
            1,
            "2025-03-01T11:00:00Z",
            "2025-03-01T11:00:00Z",
        ),
        event(
            "fluentd.2",
            "DaemonSet",
            "fluentd",
            "SuccessfulDelete",
            "Deleted pod: fluentd-zzzzz",
            3,
            "2025-03-01T11:30:00Z",
            "2025-03-01T11:58:00Z",
        ),
        event(
            "other.1",
            "Pod",
            "fluentd-aaaaa",
            "Scheduled",
            "Successfully assigned",
            1,
            "2025-03-01T11:00:00Z",
            "2025-03-01T11:00:00Z",
        ),
    ]
}

fn to_values<T: serde::Serialize>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .map(|i| serde_json::to_value(i).expect("serialise"))
        .collect()
}

#[test]
fn get_daemonsets_table_matches_kubectl_columns() {
    let objects = vec![daemonset_json()];
    let plain = render_get_table(
        info("apps", "DaemonSet"),
        &objects,
        TableOptions::default(),
        now(),
    );
    let wide = render_get_table(
        info("apps", "DaemonSet"),
        &objects,
        TableOptions {
            wide: true,
            with_namespace: true,
        },
        now(),
    );
    insta::assert_snapshot!("get_daemonsets", plain);
    insta::assert_snapshot!("get_daemonsets_wide_all_namespaces", wide);
}

#[test]
fn get_pods_nodes_revisions_and_events_tables() {
    let pods = render_get_table(
        info("", "Pod"),
        &to_values(&pods()),
        TableOptions::default(),
        now(),
    );
    insta::assert_snapshot!("get_pods", pods);
    let nodes = render_get_table(
        info("", "Node"),
        &to_values(&nodes()),
        TableOptions::default(),
        now(),
    );
    insta::assert_snapshot!("get_nodes", nodes);
    let crs = render_get_table(
        info("apps", "ControllerRevision"),
        &to_values(&revisions()),
        TableOptions::default(),
        now(),
    );
    insta::assert_snapshot!("get_controllerrevisions", crs);
    let evs = render_get_table(
        info("", "Event"),
        &to_values(&events()),
        TableOptions::default(),
        now(),
    );
    insta::assert_snapshot!("get_events", evs);
}

#[test]
fn get_with_no_objects_prints_nothing() {
    assert_eq!(
        render_get_table(
            info("apps", "DaemonSet"),
            &[],
            TableOptions::default(),
            now()
        ),
        ""
    );
}

#[test]
fn output_name_and_list_documents() {
    let objects = to_values(&nodes()[..2]);
    let names = render_structured(info("", "Node"), &objects, false, OutputFormat::Name)
        .expect("render")
        .expect("structured");
    assert_eq!(names, "node/workload-0\nnode/workload-1\n");
    let ds = render_structured(
        info("apps", "DaemonSet"),
        &[daemonset_json()],
        false,
        OutputFormat::Name,
    )
    .expect("render")
    .expect("structured");
    assert_eq!(ds, "daemonset.apps/fluentd\n");
    let list = render_structured(info("", "Node"), &objects, false, OutputFormat::Json)
        .expect("render")
        .expect("structured");
    let doc: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(doc["kind"], "List");
    assert_eq!(doc["items"].as_array().map(Vec::len), Some(2));
    let single = render_structured(
        info("apps", "DaemonSet"),
        &[daemonset_json()],
        true,
        OutputFormat::Json,
    )
    .expect("render")
    .expect("structured");
    let doc: Value = serde_json::from_str(&single).expect("json");
    assert_eq!(doc["kind"], "DaemonSet");
    assert!(
        render_structured(info("", "Node"), &objects, false, OutputFormat::Wide)
            .expect("render")
            .is_none()
    );
}

#[test]
fn describe_daemonset_layout() {
    let text = describe_daemonset(&daemonset(), &pods(), &events(), now());
    insta::assert_snapshot!("describe_daemonset", text);
}

#[test]
fn describe_counts_only_controlled_pods_by_phase() {
    let mut foreign = pod(
        "other-xxxxx",
        Some("workload-0"),
        "workload-0",
        "1",
        "Failed",
        false,
    );
    foreign.metadata.owner_references = None;
    let mut all = pods();
    all.push(foreign);
    let text = describe_daemonset(&daemonset(), &all, &[], now());
    assert!(
        text.contains("Pods Status:  4 Running / 1 Waiting / 0 Succeeded / 0 Failed"),
        "{text}"
    );
    // Like kubectl, "Events:" aligns with the tolerations block right above it.
    assert!(
        text.lines()
            .any(|l| l.starts_with("Events:") && l.ends_with("<none>")),
        "{text}"
    );
    assert!(!text.contains("last-applied-configuration"), "{text}");
}

#[test]
fn rollout_history_table_and_revision_detail() {
    let ds = daemonset();
    let crs = revisions();
    let owned = owned_revisions(&ds, &crs);
    insta::assert_snapshot!("rollout_history", history_table("fluentd", &owned));
    let cr = history_revision(&owned, 1).expect("revision 1");
    let template = everynode::rollout::template_of_revision(&ds, cr).expect("apply revision");
    insta::assert_snapshot!(
        "rollout_history_revision_1",
        describe_pod_template(&template)
    );
    assert_eq!(
        history_table("fluentd", &Default::default()),
        "No rollout history found.\n"
    );
}

/// One `rollout status` case: the DaemonSet's counters and what kubectl would say.
struct StatusCase {
    generation: i64,
    observed: i64,
    desired: i32,
    updated: i32,
    available: i32,
    strategy: &'static str,
    want: Result<&'static str, RolloutError>,
    done: bool,
}

#[test]
fn rollout_status_messages_follow_kubectl() {
    let case =
        |generation, observed, desired, updated, available, strategy, want, done| StatusCase {
            generation,
            observed,
            desired,
            updated,
            available,
            strategy,
            want,
            done,
        };
    let cases = [
        case(
            2,
            1,
            3,
            3,
            3,
            "RollingUpdate",
            Ok("Waiting for daemon set spec update to be observed..."),
            false,
        ),
        case(
            2,
            2,
            3,
            1,
            1,
            "RollingUpdate",
            Ok(
                "Waiting for daemon set \"fluentd\" rollout to finish: 1 out of 3 new pods have been updated...",
            ),
            false,
        ),
        case(
            2,
            2,
            3,
            3,
            2,
            "RollingUpdate",
            Ok(
                "Waiting for daemon set \"fluentd\" rollout to finish: 2 of 3 updated pods are available...",
            ),
            false,
        ),
        case(
            2,
            3,
            3,
            3,
            3,
            "RollingUpdate",
            Ok("daemon set \"fluentd\" successfully rolled out"),
            true,
        ),
        case(
            2,
            2,
            0,
            0,
            0,
            "RollingUpdate",
            Ok("daemon set \"fluentd\" successfully rolled out"),
            true,
        ),
        case(
            2,
            2,
            3,
            3,
            3,
            "OnDelete",
            Err(RolloutError::NotRollingUpdate),
            false,
        ),
    ];
    for c in cases {
        let mut ds = daemonset();
        ds.metadata.generation = Some(c.generation);
        ds.spec.update_strategy =
            Some(serde_json::from_value(json!({"type": c.strategy})).expect("strategy"));
        let status = ds.status.as_mut().expect("status");
        status.observed_generation = Some(c.observed);
        status.desired_number_scheduled = c.desired;
        status.updated_number_scheduled = Some(c.updated);
        status.number_available = Some(c.available);
        let got = rollout_status(&ds);
        match c.want {
            Ok(msg) => {
                let got = got.expect("status");
                assert_eq!(got.message, msg);
                assert_eq!(got.done, c.done, "{msg}");
            }
            Err(e) => {
                assert_eq!(got.expect_err("error"), e);
                assert_eq!(
                    e.to_string(),
                    "rollout status is only available for RollingUpdate strategy type"
                );
            }
        }
    }
}

#[test]
fn rollout_undo_picks_previous_or_named_revision() {
    let ds = daemonset();
    let mut crs = revisions();
    crs.push(revision(3, "7d8e9f", "fluent/fluentd:v1.17", None));
    let owned = owned_revisions(&ds, &crs);
    let pick = |n: i64| undo_target(&owned, n).map(|cr| cr.revision.unwrap_or(0));
    assert_eq!(pick(0), Ok(2));
    assert_eq!(pick(1), Ok(1));
    assert_eq!(pick(7), Err(RolloutError::RevisionNotFound(7)));
    assert_eq!(pick(-1), Err(RolloutError::RevisionNotFound(-1)));
    let one = vec![revision(1, "5c4d9b8f7", "x", None)];
    let owned_one = owned_revisions(&ds, &one);
    assert_eq!(
        undo_target(&owned_one, 0).err(),
        Some(RolloutError::NoLastRevision)
    );
    assert_eq!(
        RolloutError::NoLastRevision.to_string(),
        "no last revision to roll back to"
    );
    assert_eq!(
        RolloutError::RevisionNotFound(7).to_string(),
        "unable to find specified revision 7 in history"
    );
    assert_eq!(
        history_revision(&owned, -2).err(),
        Some(RolloutError::NegativeRevision(-2))
    );
    assert_eq!(
        history_revision(&owned, 9).err().map(|e| e.to_string()),
        Some("unable to find the specified revision".to_owned())
    );
}

#[test]
fn why_explains_taints_selectors_pending_and_old_revisions() {
    let verdicts = explain(&daemonset(), &nodes(), &pods(), Some("6b9f8c7d5"));
    insta::assert_snapshot!("why_table", render_table(&verdicts));
    insta::assert_json_snapshot!("why_json", verdicts);
}

#[test]
fn why_verdicts_per_node() {
    let verdicts = explain(&daemonset(), &nodes(), &pods(), Some("6b9f8c7d5"));
    let by = |n: &str| verdicts.iter().find(|v| v.node == n).expect("node present");
    // (node, should_run, should_continue_running, text the summary must contain)
    let cases = [
        ("workload-0", true, true, "running and ready"),
        ("workload-1", true, true, "old revision"),
        ("workload-2", true, true, "Insufficient memory"),
        ("crash-0", true, true, "not ready: CrashLoopBackOff"),
        (
            "system-0",
            false,
            false,
            "node selector \"nodepool=workload\" not matched",
        ),
        ("gpu-0", false, true, "existing pod may stay"),
        (
            "drain-0",
            false,
            false,
            "taint maintenance:NoExecute is not tolerated",
        ),
    ];
    for (node, run, stay, text) in cases {
        let v = by(node);
        assert_eq!(v.should_run, run, "{node}");
        assert_eq!(v.should_continue_running, stay, "{node}");
        assert!(v.summary.contains(text), "{node}: {}", v.summary);
    }
    assert_eq!(by("gpu-0").pods.len(), 1);
    assert!(by("workload-2").pods[0].scheduler_message.is_some());
}
