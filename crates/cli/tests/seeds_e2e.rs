//! The seeds' scenarios end to end: `everynode up` as a child process, driven by real kubectl
//! (issue 4, "Must show"). Every test starts its own plane on a temp dir and a free port.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{
    Kubectl, PodObserver, Up, UpOptions, fixture, history_revisions, int_at, items, pod_image,
    pod_is_available, pod_json_is_available, pod_target_node, pods, seed, str_at, wait_ds_status,
    wait_until,
};
use serde_json::Value;

/// How long a rollout on these small fleets may take.
const ROLLOUT: Duration = Duration::from_secs(90);

/// `--timeout` for `kubectl rollout status`.
const ROLLOUT_TIMEOUT: &str = "--timeout=90s";

/// `kubectl rollout status` and its success line.
fn rollout_status(kubectl: &Kubectl, namespace: &str, name: &str) {
    let out = kubectl.ok([
        "-n",
        namespace,
        "rollout",
        "status",
        &format!("daemonset/{name}"),
        ROLLOUT_TIMEOUT,
    ]);
    assert!(
        out.contains(&format!("daemon set \"{name}\" successfully rolled out")),
        "rollout status of {name} printed: {out}"
    );
}

/// Node name -> pod UID for the pods matching `selector` (one pod per node expected).
fn uids_by_node(kubectl: &Kubectl, namespace: &str, selector: &str) -> BTreeMap<String, String> {
    let mut by_node = BTreeMap::new();
    for pod in pods(kubectl, namespace, selector) {
        let node = str_at(&pod, "/spec/nodeName").to_string();
        let uid = str_at(&pod, "/metadata/uid").to_string();
        let previous = by_node.insert(node.clone(), uid);
        assert!(previous.is_none(), "two pods of {selector} on node {node}");
    }
    by_node
}

/// Node name -> image of the pod matching `selector` there.
fn images_by_node(kubectl: &Kubectl, namespace: &str, selector: &str) -> BTreeMap<String, String> {
    pods(kubectl, namespace, selector)
        .iter()
        .map(|pod| {
            (
                str_at(pod, "/spec/nodeName").to_string(),
                str_at(pod, "/spec/containers/0/image").to_string(),
            )
        })
        .collect()
}

/// Collapses runs of whitespace, so tab-aligned kubectl output can be matched line by line.
fn squeeze(text: &str) -> String {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn seeds_land_on_exactly_the_expected_nodes_of_a_mixed_fleet() {
    let up = Up::start(UpOptions::profile(fixture("mixed-fleet.yaml")));
    let kubectl = up.kubectl();
    let nodes = up.wait_for_ready_nodes(5);

    // The fleet is what the profile says: pools by name prefix, and every node labelled
    // kubernetes.io/os=linux as a kubelet would (node-agent's affinity relies on it).
    let pool_of = |node: &str| -> &'static str {
        ["control-plane-", "workload-", "system-", "gpu-"]
            .into_iter()
            .find(|prefix| node.starts_with(prefix))
            .unwrap_or("unknown")
    };
    let mut pool_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &nodes {
        *pool_sizes.entry(pool_of(node)).or_default() += 1;
    }
    let wanted_sizes: BTreeMap<&str, usize> = [
        ("control-plane-", 1),
        ("workload-", 2),
        ("system-", 1),
        ("gpu-", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(pool_sizes, wanted_sizes, "nodes: {nodes:?}");
    let node_list = kubectl.json(["get", "nodes"]);
    for node in items(&node_list) {
        assert_eq!(
            str_at(node, "/metadata/labels/kubernetes.io~1os"),
            "linux",
            "node {} lacks kubernetes.io/os=linux",
            str_at(node, "/metadata/name")
        );
    }
    let control_plane = items(&node_list)
        .iter()
        .find(|n| str_at(n, "/metadata/name").starts_with("control-plane-"))
        .expect("control-plane node");
    let cp_taints = control_plane
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(
        cp_taints.iter().any(
            |t| str_at(t, "/key") == "node-role.kubernetes.io/control-plane"
                && str_at(t, "/effect") == "NoSchedule"
        ),
        "control-plane node taints: {cp_taints:?}"
    );

    kubectl.apply(&seed("00-namespaces.yaml"));
    struct Case {
        file: &'static str,
        namespace: &'static str,
        name: &'static str,
        selector: &'static str,
        pools: &'static [&'static str],
    }
    let cases = [
        // Tolerates every taint: everywhere.
        Case {
            file: "node-exporter.yaml",
            namespace: "monitoring",
            name: "node-exporter",
            selector: "app.kubernetes.io/name=node-exporter",
            pools: &["control-plane-", "workload-", "system-", "gpu-"],
        },
        // Tolerates only the legacy master taint: neither the control-plane node (its taint is
        // node-role.kubernetes.io/control-plane) nor the GPU node (nvidia.com/gpu).
        Case {
            file: "fluentd-elasticsearch.yaml",
            namespace: "kube-system",
            name: "fluentd-elasticsearch",
            selector: "name=fluentd-elasticsearch",
            pools: &["workload-", "system-"],
        },
        // Tolerates the control-plane taints but not the GPU one.
        Case {
            file: "fluent-bit.yaml",
            namespace: "logging",
            name: "fluent-bit",
            selector: "app=fluent-bit",
            pools: &["control-plane-", "workload-", "system-"],
        },
        // nodeSelector nodepool=workload.
        Case {
            file: "monitoring-agent.yaml",
            namespace: "default",
            name: "monitoring-agent",
            selector: "app=monitoring-agent",
            pools: &["workload-"],
        },
        // Affinity os In [linux], node-type NotIn [gpu]; no tolerations, so not the control plane.
        Case {
            file: "node-agent-affinity.yaml",
            namespace: "default",
            name: "node-agent",
            selector: "app=node-agent",
            pools: &["workload-", "system-"],
        },
    ];
    for case in &cases {
        kubectl.apply(&seed(case.file));
    }
    for case in &cases {
        rollout_status(&kubectl, case.namespace, case.name);
        let expected: BTreeSet<String> = nodes
            .iter()
            .filter(|n| case.pools.contains(&pool_of(n)))
            .cloned()
            .collect();
        let found = pods(&kubectl, case.namespace, case.selector);
        let mut placed: BTreeMap<String, usize> = BTreeMap::new();
        for pod in &found {
            *placed
                .entry(str_at(pod, "/spec/nodeName").to_string())
                .or_default() += 1;
            assert!(
                pod_json_is_available(pod),
                "{}: pod {} is not ready",
                case.name,
                str_at(pod, "/metadata/name")
            );
        }
        let on: BTreeSet<String> = placed.keys().cloned().collect();
        assert_eq!(on, expected, "{} runs on the wrong nodes", case.name);
        assert!(
            placed.values().all(|&n| n == 1),
            "{}: more than one pod on a node: {placed:?}",
            case.name
        );
        let ds = kubectl.json(["-n", case.namespace, "get", "ds", case.name]);
        let want = i64::try_from(expected.len()).expect("small");
        for field in [
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberAvailable",
        ] {
            assert_eq!(
                int_at(&ds, &format!("/status/{field}")),
                want,
                "{}: status.{field}",
                case.name
            );
        }
        assert_eq!(
            int_at(&ds, "/status/numberMisscheduled"),
            0,
            "{}: misscheduled",
            case.name
        );
    }
}

#[test]
fn a_new_node_gets_a_pod_and_a_deleted_nodes_pod_is_garbage_collected() {
    let up = Up::start(UpOptions::nodes(2));
    let kubectl = up.kubectl();
    up.wait_for_ready_nodes(2);
    kubectl.apply(&seed("fluentd.yaml"));
    rollout_status(&kubectl, "kube-system", "fluentd");
    let before = uids_by_node(&kubectl, "kube-system", "app=fluentd");
    assert_eq!(before.len(), 2, "pods before the new node: {before:?}");

    let out = kubectl.ok(["create", "-f", &fixture("node.yaml").to_string_lossy()]);
    assert!(
        out.contains("node/extra-node created"),
        "create printed: {out}"
    );
    wait_until(
        "an available fluentd pod on the new node",
        Duration::from_secs(60),
        || {
            let on_new: Vec<Value> = pods(&kubectl, "kube-system", "app=fluentd")
                .into_iter()
                .filter(|p| str_at(p, "/spec/nodeName") == "extra-node")
                .collect();
            match on_new.as_slice() {
                [pod] if pod_json_is_available(pod) => Ok(()),
                other => Err(format!("pods on extra-node: {other:?}")),
            }
        },
    );
    rollout_status(&kubectl, "kube-system", "fluentd");
    wait_ds_status(
        &kubectl,
        "kube-system",
        "fluentd",
        ROLLOUT,
        "3 desired, 3 available",
        |s| int_at(s, "/desiredNumberScheduled") == 3 && int_at(s, "/numberAvailable") == 3,
    );

    let out = kubectl.ok(["delete", "node", "extra-node"]);
    assert!(
        out.contains("node \"extra-node\" deleted"),
        "delete printed: {out}"
    );
    wait_until(
        "the deleted node's pod to be garbage-collected",
        Duration::from_secs(90),
        || {
            let left: Vec<String> = pods(&kubectl, "kube-system", "app=fluentd")
                .iter()
                .filter(|p| str_at(p, "/spec/nodeName") == "extra-node")
                .map(|p| str_at(p, "/metadata/name").to_string())
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("still on extra-node: {left:?}"))
            }
        },
    );
    wait_ds_status(
        &kubectl,
        "kube-system",
        "fluentd",
        ROLLOUT,
        "2 desired, 2 available",
        |s| int_at(s, "/desiredNumberScheduled") == 2 && int_at(s, "/numberAvailable") == 2,
    );
    // The pods on the nodes that stayed were never touched.
    assert_eq!(uids_by_node(&kubectl, "kube-system", "app=fluentd"), before);
}

#[test]
fn set_image_rolls_out_within_max_unavailable_and_rollout_status_finishes() {
    let up = Up::start(UpOptions::nodes(5));
    let kubectl = up.kubectl();
    let nodes = up.wait_for_ready_nodes(5);
    kubectl.apply(&fixture("rolling.yaml"));
    rollout_status(&kubectl, "default", "rolling");

    let observer = PodObserver::start(up.kubeconfig(), "default", "app=rolling", &nodes);
    let out = kubectl.ok([
        "set",
        "image",
        "ds/rolling",
        "app=registry.example/rolling:2",
    ]);
    assert!(
        out.contains("daemonset.apps/rolling image updated"),
        "set image printed: {out}"
    );
    rollout_status(&kubectl, "default", "rolling");
    let expected_nodes = nodes.clone();
    observer.wait_for("every node on the new image", ROLLOUT, |pods| {
        let on: BTreeSet<String> = pods
            .iter()
            .filter(|p| pod_image(p) == "registry.example/rolling:2" && pod_is_available(p))
            .filter_map(pod_target_node)
            .collect();
        if pods.len() == expected_nodes.len() && on.len() == expected_nodes.len() {
            Ok(())
        } else {
            Err(common::describe_pods(pods))
        }
    });
    let seen = observer.stop();
    eprintln!("observed: {seen:?}");
    assert!(
        seen.max_unavailable <= 2,
        "maxUnavailable 2 exceeded: {}",
        seen.worst_unavailable
    );
    assert!(
        seen.max_unavailable >= 1,
        "the rollout never took a node down (did it replace pods at all?); {seen:?}"
    );
    assert_eq!(
        seen.max_live_per_node, 1,
        "two live pods on a node without surge: {}",
        seen.worst_crowding
    );
}

#[test]
fn max_surge_creates_before_it_deletes() {
    let up = Up::start(UpOptions::nodes(3));
    let kubectl = up.kubectl();
    let nodes = up.wait_for_ready_nodes(3);
    kubectl.apply(&fixture("surge.yaml"));
    rollout_status(&kubectl, "default", "surge");

    let observer = PodObserver::start(up.kubeconfig(), "default", "app=surge", &nodes);
    kubectl.ok(["set", "image", "ds/surge", "app=registry.example/surge:2"]);
    rollout_status(&kubectl, "default", "surge");
    let count = nodes.len();
    observer.wait_for("only new pods left", ROLLOUT, |pods| {
        let all_new = pods
            .iter()
            .all(|p| pod_image(p) == "registry.example/surge:2" && pod_is_available(p));
        if pods.len() == count && all_new {
            Ok(())
        } else {
            Err(common::describe_pods(pods))
        }
    });
    let seen = observer.stop();
    eprintln!("observed: {seen:?}");
    assert_eq!(
        seen.max_unavailable, 0,
        "a node lost its available pod: {}",
        seen.worst_unavailable
    );
    assert_eq!(
        seen.max_live_per_node, 2,
        "surge should briefly run an old and a new pod on a node: {seen:?}"
    );
}

#[test]
fn on_delete_keeps_old_pods_until_they_are_deleted() {
    let up = Up::start(UpOptions::nodes(3));
    let kubectl = up.kubectl();
    let nodes = up.wait_for_ready_nodes(3);
    kubectl.apply(&fixture("on-delete.yaml"));
    wait_ds_status(
        &kubectl,
        "default",
        "ondelete",
        ROLLOUT,
        "3 available",
        |s| int_at(s, "/numberAvailable") == 3 && int_at(s, "/updatedNumberScheduled") == 3,
    );
    let err = kubectl.fails(["rollout", "status", "ds/ondelete", ROLLOUT_TIMEOUT]);
    assert!(
        err.contains("rollout status is only available for RollingUpdate strategy type"),
        "rollout status on OnDelete printed: {err}"
    );
    let before = uids_by_node(&kubectl, "default", "app=ondelete");

    kubectl.ok([
        "set",
        "image",
        "ds/ondelete",
        "app=registry.example/ondelete:2",
    ]);
    wait_ds_status(
        &kubectl,
        "default",
        "ondelete",
        ROLLOUT,
        "the new template observed, no pod updated",
        |s| int_at(s, "/updatedNumberScheduled") == 0 && int_at(s, "/numberAvailable") == 3,
    );
    assert_eq!(uids_by_node(&kubectl, "default", "app=ondelete"), before);

    let victim = pods(&kubectl, "default", "app=ondelete")
        .into_iter()
        .find(|p| str_at(p, "/spec/nodeName") == nodes[0])
        .expect("a pod on the first node");
    kubectl.ok(["delete", "pod", str_at(&victim, "/metadata/name")]);
    wait_ds_status(
        &kubectl,
        "default",
        "ondelete",
        ROLLOUT,
        "the replaced pod updated and available",
        |s| int_at(s, "/updatedNumberScheduled") == 1 && int_at(s, "/numberAvailable") == 3,
    );
    let after = uids_by_node(&kubectl, "default", "app=ondelete");
    let images = images_by_node(&kubectl, "default", "app=ondelete");
    for node in &nodes {
        if node == &nodes[0] {
            assert_ne!(
                after[node], before[node],
                "the deleted pod was not replaced"
            );
            assert_eq!(images[node], "registry.example/ondelete:2");
        } else {
            assert_eq!(after[node], before[node], "pod on {node} was restarted");
            assert_eq!(images[node], "registry.example/ondelete:1");
        }
    }
}

#[test]
fn rollout_history_and_undo_renumber_without_restarting_matching_pods() {
    let up = Up::start(UpOptions::nodes(3));
    let kubectl = up.kubectl();
    let nodes = up.wait_for_ready_nodes(3);
    kubectl.apply(&fixture("history.yaml"));
    wait_ds_status(
        &kubectl,
        "default",
        "history",
        ROLLOUT,
        "3 available",
        |s| int_at(s, "/numberAvailable") == 3 && int_at(s, "/updatedNumberScheduled") == 3,
    );
    let history = |kubectl: &Kubectl| kubectl.ok(["rollout", "history", "ds/history"]);
    assert_eq!(history_revisions(&history(&kubectl)), vec![1]);

    // Revision 2, reaching only the first node (OnDelete, its pod deleted by hand).
    kubectl.ok([
        "set",
        "image",
        "ds/history",
        "app=registry.example/history:2",
    ]);
    wait_ds_status(
        &kubectl,
        "default",
        "history",
        ROLLOUT,
        "revision 2 observed",
        |s| int_at(s, "/updatedNumberScheduled") == 0,
    );
    let out = history(&kubectl);
    assert!(
        out.starts_with("daemonset.apps/history"),
        "history printed: {out}"
    );
    assert_eq!(
        history_revisions(&out),
        vec![1, 2],
        "history printed: {out}"
    );
    for (revision, image, other) in [
        (
            1,
            "registry.example/history:1",
            "registry.example/history:2",
        ),
        (
            2,
            "registry.example/history:2",
            "registry.example/history:1",
        ),
    ] {
        let out = kubectl.ok([
            "rollout",
            "history",
            "ds/history",
            &format!("--revision={revision}"),
        ]);
        assert!(
            out.contains(&format!("with revision #{revision}")) && out.contains(image),
            "revision {revision} shows: {out}"
        );
        assert!(!out.contains(other), "revision {revision} shows: {out}");
    }
    let first = pods(&kubectl, "default", "app=history")
        .into_iter()
        .find(|p| str_at(p, "/spec/nodeName") == nodes[0])
        .expect("a pod on the first node");
    kubectl.ok(["delete", "pod", str_at(&first, "/metadata/name")]);
    wait_ds_status(
        &kubectl,
        "default",
        "history",
        ROLLOUT,
        "one pod on revision 2",
        |s| int_at(s, "/updatedNumberScheduled") == 1 && int_at(s, "/numberAvailable") == 3,
    );
    let before_undo = uids_by_node(&kubectl, "default", "app=history");

    // Undo: back to the first template, whose revision is renumbered to 3.
    let out = kubectl.ok(["rollout", "undo", "ds/history"]);
    assert!(
        out.contains("daemonset.apps/history rolled back"),
        "undo printed: {out}"
    );
    wait_ds_status(
        &kubectl,
        "default",
        "history",
        ROLLOUT,
        "the two pods on revision 1 counted as up to date again",
        |s| int_at(s, "/updatedNumberScheduled") == 2 && int_at(s, "/numberAvailable") == 3,
    );
    let out = history(&kubectl);
    assert_eq!(
        history_revisions(&out),
        vec![2, 3],
        "history printed: {out}"
    );
    let out = kubectl.ok(["rollout", "history", "ds/history", "--revision=3"]);
    assert!(
        out.contains("registry.example/history:1"),
        "revision 3 shows: {out}"
    );
    assert_eq!(
        uids_by_node(&kubectl, "default", "app=history"),
        before_undo,
        "undo restarted pods under OnDelete"
    );

    // Switching to RollingUpdate replaces only the pod still on revision 2.
    kubectl.ok([
        "patch",
        "ds/history",
        "--type=merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1}}}}"#,
    ]);
    rollout_status(&kubectl, "default", "history");
    let after = uids_by_node(&kubectl, "default", "app=history");
    let images = images_by_node(&kubectl, "default", "app=history");
    for node in &nodes {
        assert_eq!(
            images[node], "registry.example/history:1",
            "image on {node}"
        );
        if node == &nodes[0] {
            assert_ne!(after[node], before_undo[node], "the revision-2 pod stayed");
        } else {
            assert_eq!(
                after[node], before_undo[node],
                "pod on {node} already ran the restored template but was restarted"
            );
        }
    }
    assert_eq!(history_revisions(&history(&kubectl)), vec![2, 3]);
}

#[test]
fn delete_ds_removes_pods_in_background_or_orphans_them() {
    let up = Up::start(UpOptions::nodes(2));
    let kubectl = up.kubectl();
    up.wait_for_ready_nodes(2);
    kubectl.apply(&fixture("cascade.yaml"));
    rollout_status(&kubectl, "default", "doomed");
    rollout_status(&kubectl, "default", "orphaner");
    let orphans = uids_by_node(&kubectl, "default", "app=orphaner");
    assert_eq!(orphans.len(), 2);

    let out = kubectl.ok(["delete", "ds", "orphaner", "--cascade=orphan"]);
    assert!(
        out.contains("daemonset.apps \"orphaner\" deleted"),
        "delete printed: {out}"
    );
    let err = kubectl.fails(["get", "ds", "orphaner"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    let check_orphans = |kubectl: &Kubectl| {
        let left = pods(kubectl, "default", "app=orphaner");
        let owned: Vec<&str> = left
            .iter()
            .filter(|p| p.pointer("/metadata/ownerReferences/0").is_some())
            .map(|p| str_at(p, "/metadata/name"))
            .collect();
        assert!(owned.is_empty(), "orphaned pods still owned: {owned:?}");
        assert_eq!(uids_by_node(kubectl, "default", "app=orphaner"), orphans);
    };
    check_orphans(&kubectl);

    let out = kubectl.ok(["delete", "ds", "doomed"]);
    assert!(
        out.contains("daemonset.apps \"doomed\" deleted"),
        "delete printed: {out}"
    );
    wait_until(
        "the background cascade to remove doomed's pods and revisions",
        Duration::from_secs(60),
        || {
            let left = pods(&kubectl, "default", "app=doomed");
            let revisions = kubectl.json(["get", "controllerrevisions", "-l", "app=doomed"]);
            if left.is_empty() && items(&revisions).is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} pods, {} revisions left",
                    left.len(),
                    items(&revisions).len()
                ))
            }
        },
    );
    // The garbage collector has run since; the orphans are still there, still unowned, and so
    // are their revisions.
    check_orphans(&kubectl);
    let revisions = kubectl.json(["get", "controllerrevisions", "-l", "app=orphaner"]);
    assert!(
        !items(&revisions).is_empty(),
        "orphaner's revisions were deleted"
    );
    for revision in items(&revisions) {
        assert!(
            revision.pointer("/metadata/ownerReferences/0").is_none(),
            "revision {} still owned",
            str_at(revision, "/metadata/name")
        );
    }
}

#[test]
fn describe_ds_shows_counts_and_events() {
    let up = Up::start(UpOptions::nodes(3));
    let kubectl = up.kubectl();
    let nodes = up.wait_for_ready_nodes(3);
    kubectl.apply(&fixture("rolling.yaml"));
    rollout_status(&kubectl, "default", "rolling");
    // An untolerated NoSchedule taint: the pod may stay, so the node counts as misscheduled.
    kubectl.ok(["taint", "node", &nodes[0], "dedicated=infra:NoSchedule"]);
    wait_ds_status(
        &kubectl,
        "default",
        "rolling",
        ROLLOUT,
        "one misscheduled",
        |s| int_at(s, "/desiredNumberScheduled") == 2 && int_at(s, "/numberMisscheduled") == 1,
    );

    let out = squeeze(&kubectl.ok(["describe", "ds", "rolling"]));
    for line in [
        // Real kubectl prints no Namespace line for a DaemonSet (spec 6.6 lists one).
        "Name: rolling",
        "Selector: app=rolling",
        "Desired Number of Nodes Scheduled: 2",
        "Current Number of Nodes Scheduled: 2",
        "Number of Nodes Scheduled with Up-to-date Pods: 2",
        "Number of Nodes Scheduled with Available Pods: 2",
        "Number of Nodes Misscheduled: 1",
        "Pods Status: 3 Running / 0 Waiting / 0 Succeeded / 0 Failed",
        "Image: registry.example/rolling:1",
    ] {
        assert!(
            out.lines().any(|l| l.trim() == line),
            "describe lacks {line:?}:\n{out}"
        );
    }
    let creates = out
        .lines()
        .filter(|l| {
            l.starts_with("Normal SuccessfulCreate")
                && l.contains("daemonset-controller Created pod: rolling-")
        })
        .count();
    assert!(
        creates >= 1,
        "describe shows no SuccessfulCreate event from daemonset-controller:\n{out}"
    );
}
