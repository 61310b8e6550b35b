//! End-to-end tests of the kubectl-style commands, `why`, `demo` and `completions`: each
//! starts `everynode up` as a child process on a free port and a temporary data directory
//! (tests/common's [`Up`]), drives it with the `everynode` binary, and kills it at the end even
//! when a test fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Cli, EVERYNODE, Up, UpOptions, free_port, wait_until};
use serde_json::Value;

/// The fleet: a control-plane node, two workload workers, a system worker, a GPU node with a
/// NoSchedule taint, and a tiny node with 100Mi of memory.
const PROFILE: &str = r#"
pools:
  - namePrefix: cp-
    count: 1
    controlPlane: true
  - namePrefix: work-
    count: 2
    labels: {nodepool: workload}
  - namePrefix: sys-
    count: 1
    labels: {nodepool: system}
  - namePrefix: gpu-
    count: 1
    labels: {nodepool: workload, node-type: gpu}
    taints:
      - {key: nvidia.com/gpu, value: present, effect: NoSchedule}
  - namePrefix: tiny-
    count: 1
    labels: {nodepool: system}
    capacity: {cpu: "1", memory: 100Mi, pods: "20"}
"#;

const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
        - name: agent
          image: busybox:1.36
          resources: {requests: {memory: 10Mi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: selective, namespace: default}
spec:
  selector: {matchLabels: {app: selective}}
  template:
    metadata: {labels: {app: selective}}
    spec:
      nodeSelector: {nodepool: workload}
      containers: [{name: selective, image: busybox:1.36}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: affine, namespace: default}
spec:
  selector: {matchLabels: {app: affine}}
  template:
    metadata: {labels: {app: affine}}
    spec:
      tolerations: [{key: nvidia.com/gpu, operator: Exists}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions: [{key: node-type, operator: NotIn, values: [gpu]}]
      containers: [{name: affine, image: busybox:1.36}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: hungry, namespace: default}
spec:
  selector: {matchLabels: {app: hungry}}
  template:
    metadata: {labels: {app: hungry}}
    spec:
      nodeSelector: {nodepool: system}
      containers:
        - name: hungry
          image: busybox:1.36
          resources: {requests: {memory: 200Mi}}
"#;

/// The plane every test here drives: the fleet of [`PROFILE`], pods starting after 100ms.
fn start_plane() -> Up {
    Up::start(UpOptions::profile_yaml(PROFILE).start_delay(Duration::from_millis(100)))
}

/// Whether every node `name` should run on has an updated, available pod (`Err` says what
/// the status still lacks).
fn rolled_out(everynode: &Cli, name: &str) -> Result<(), String> {
    let ds = everynode.json(["get", "ds", name]);
    let s = &ds["status"];
    let desired = s["desiredNumberScheduled"].as_i64().unwrap_or(-1);
    let done = desired > 0
        && s["observedGeneration"].as_i64() >= ds["metadata"]["generation"].as_i64()
        && s["numberAvailable"].as_i64() == Some(desired)
        && s["updatedNumberScheduled"].as_i64() == Some(desired);
    seen(done, s)
}

/// A [`wait_until`] verdict: done, or not yet, with what was last seen.
fn seen(done: bool, last: impl std::fmt::Display) -> Result<(), String> {
    if done { Ok(()) } else { Err(last.to_string()) }
}

/// `why DS NODE -o json` for one node.
fn why(everynode: &Cli, ds: &str, node: &str) -> Value {
    let v = everynode.json(["why", ds, node]);
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .expect("one verdict")
}

fn reasons(verdict: &Value) -> String {
    verdict["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

fn write_manifests(dir: &Path) -> PathBuf {
    let path = dir.join("manifests.yaml");
    std::fs::write(&path, MANIFESTS).expect("write manifests");
    path
}

#[test]
fn kubectl_style_commands_and_why_against_a_started_plane() {
    let plane = start_plane();
    let cli = plane.everynode();
    let manifests = write_manifests(&plane.scratch());
    let manifests = manifests.to_str().expect("utf-8 path");

    // apply
    let applied = cli.ok(["apply", "-f", manifests]);
    for name in ["agent", "selective", "affine", "hungry"] {
        assert!(
            applied.contains(&format!("daemonset.apps/{name} created")),
            "{applied}"
        );
    }
    wait_until("agent to roll out", Duration::from_secs(60), || {
        rolled_out(&cli, "agent")
    });
    let again = cli.ok(["apply", "-f", manifests]);
    assert!(again.contains("daemonset.apps/agent unchanged"), "{again}");

    // get
    let ds_table = cli.ok(["get", "ds"]);
    assert!(
        ds_table.starts_with("NAME ") && ds_table.contains("NODE SELECTOR"),
        "{ds_table}"
    );
    assert!(ds_table.contains("selective") && ds_table.contains("nodepool=workload"));
    let all = cli.ok(["get", "daemonsets", "-A", "-o", "wide"]);
    assert!(
        all.starts_with("NAMESPACE ") && all.contains("IMAGES"),
        "{all}"
    );
    let desired = cli.json(["get", "ds", "agent"])["status"]["desiredNumberScheduled"]
        .as_i64()
        .expect("desired");
    // agent tolerates nothing: the control-plane and GPU nodes are out.
    assert_eq!(desired, 4);
    let pods = cli.ok(["get", "po", "-l", "app=agent", "-o", "name"]);
    assert_eq!(pods.lines().count(), 4, "{pods}");
    assert!(pods.lines().all(|l| l.starts_with("pod/agent-")), "{pods}");
    let nodes = cli.ok(["get", "nodes"]);
    assert!(
        nodes.contains("gpu-0") && nodes.contains("STATUS"),
        "{nodes}"
    );
    let crs = cli.ok(["get", "controllerrevisions"]);
    assert!(crs.contains("daemonset.apps/agent"), "{crs}");
    let events = cli.ok(["get", "ev"]);
    assert!(events.contains("SuccessfulCreate"), "{events}");
    let missing = cli.run(["get", "ds", "nope"]);
    assert!(!missing.status.success());
    assert!(
        missing
            .stderr
            .contains("daemonsets.apps \"nope\" not found"),
        "{}",
        missing.stderr
    );

    // describe
    let described = cli.ok(["describe", "ds", "agent"]);
    for want in [
        "Name:           agent",
        "Desired Number of Nodes Scheduled: 4",
        "Pods Status:  4 Running / 0 Waiting / 0 Succeeded / 0 Failed",
        "Pod Template:",
        "    Image:      busybox:1.36",
        "SuccessfulCreate",
    ] {
        assert!(described.contains(want), "missing {want:?} in\n{described}");
    }

    // why: a taint, a nodeSelector, an affinity, and a Pending pod on a node without room.
    let v = why(&cli, "agent", "gpu-0");
    assert_eq!(v["shouldRun"], false);
    assert!(
        reasons(&v).contains("taint nvidia.com/gpu=present:NoSchedule is not tolerated"),
        "{v}"
    );
    let v = why(&cli, "selective", "sys-0");
    assert_eq!(v["shouldRun"], false);
    assert!(
        reasons(&v).contains("node selector \"nodepool=workload\" not matched"),
        "{v}"
    );
    let v = why(&cli, "affine", "gpu-0");
    assert_eq!(v["shouldRun"], false);
    assert!(reasons(&v).contains("node affinity"), "{v}");
    assert!(!reasons(&v).contains("taint"), "{v}");
    wait_until(
        "the scheduler to report hungry's pod on tiny-0",
        Duration::from_secs(60),
        || {
            let v = why(&cli, "hungry", "tiny-0");
            let reported = v["shouldRun"] == true
                && v["pods"][0]["schedulerMessage"]
                    .as_str()
                    .is_some_and(|m| m.contains("Insufficient memory"));
            seen(reported, v)
        },
    );
    let table = cli.ok(["why", "ds/hungry"]);
    assert!(
        table.starts_with("NODE ") && table.contains("Insufficient memory"),
        "{table}"
    );

    // set image, rollout status / history / undo / restart
    let set = cli.ok(["set", "image", "ds/agent", "agent=busybox:1.37"]);
    assert_eq!(set.trim(), "daemonset.apps/agent image updated");
    let noop = cli.ok(["set", "image", "ds/agent", "agent=busybox:1.37"]);
    assert_eq!(noop, "");
    let bad = cli.run(["set", "image", "ds/agent", "nope=x"]);
    assert!(
        !bad.status.success()
            && bad
                .stderr
                .contains("unable to find container named \"nope\"")
    );
    let status = cli.ok(["rollout", "status", "ds/agent", "--timeout", "90s"]);
    assert_eq!(
        status.lines().last(),
        Some("daemon set \"agent\" successfully rolled out"),
        "{status}"
    );
    let history = cli.ok(["rollout", "history", "ds/agent"]);
    assert!(
        history.starts_with(
            "daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>"
        ),
        "{history}"
    );
    let rev1 = cli.ok(["rollout", "history", "ds/agent", "--revision=1"]);
    assert!(
        rev1.starts_with("daemonset.apps/agent with revision #1\nPod Template:")
            && rev1.contains("busybox:1.36"),
        "{rev1}"
    );
    let undo = cli.ok(["rollout", "undo", "ds/agent"]);
    assert_eq!(undo.trim(), "daemonset.apps/agent rolled back");
    cli.ok([
        "rollout",
        "status",
        "daemonset",
        "agent",
        "--timeout",
        "90s",
    ]);
    let history = cli.ok(["rollout", "history", "ds/agent"]);
    assert!(
        history.contains("\n2         <none>\n3         <none>"),
        "{history}"
    );
    let skipped = cli.ok(["rollout", "undo", "ds/agent", "--to-revision=3"]);
    assert_eq!(
        skipped.trim(),
        "daemonset.apps/agent skipped rollback (current template already matches revision 3)"
    );
    let missing = cli.run(["rollout", "undo", "ds/agent", "--to-revision=9"]);
    assert!(
        missing
            .stderr
            .contains("unable to find specified revision 9 in history")
    );
    let restarted = cli.ok(["rollout", "restart", "ds/agent"]);
    assert_eq!(restarted.trim(), "daemonset.apps/agent restarted");
    wait_until("the restart to roll out", Duration::from_secs(90), || {
        rolled_out(&cli, "agent")
    });

    // node commands
    let added = cli.ok([
        "node",
        "add",
        "extra-0",
        "--label",
        "nodepool=workload",
        "--memory",
        "8Gi",
    ]);
    assert_eq!(added.trim(), "node/extra-0 created");
    wait_until(
        "selective to run on extra-0",
        Duration::from_secs(60),
        || {
            let v = why(&cli, "selective", "extra-0");
            seen(v["pods"][0]["ready"] == true, v)
        },
    );
    assert_eq!(
        cli.ok(["node", "label", "extra-0", "tier=edge"]).trim(),
        "node/extra-0 labeled"
    );
    let clash = cli.run(["node", "label", "extra-0", "tier=core"]);
    assert!(
        clash.stderr.contains("--overwrite is false"),
        "{}",
        clash.stderr
    );
    assert_eq!(
        cli.ok(["node", "label", "extra-0", "tier-"]).trim(),
        "node/extra-0 unlabeled"
    );
    assert_eq!(
        cli.ok(["node", "taint", "extra-0", "dedicated=db:NoExecute"])
            .trim(),
        "node/extra-0 tainted"
    );
    let v = why(&cli, "selective", "extra-0");
    assert_eq!(v["shouldRun"], false);
    assert_eq!(v["shouldContinueRunning"], false);
    assert!(reasons(&v).contains("dedicated=db:NoExecute"), "{v}");
    assert_eq!(
        cli.ok(["node", "taint", "extra-0", "dedicated-"]).trim(),
        "node/extra-0 untainted"
    );
    assert_eq!(
        cli.ok(["node", "cordon", "extra-0"]).trim(),
        "node/extra-0 cordoned"
    );
    let node = cli.json(["get", "node", "extra-0"]);
    assert_eq!(node["spec"]["unschedulable"], true);
    assert_eq!(
        cli.ok(["node", "uncordon", "extra-0"]).trim(),
        "node/extra-0 uncordoned"
    );
    assert!(
        cli.ok(["node", "fail", "extra-0"])
            .starts_with("node/extra-0 heartbeats stopped")
    );
    let node = cli.json(["get", "node", "extra-0"]);
    assert_eq!(
        node["metadata"]["annotations"]["everynode.io/heartbeat-paused"],
        "true"
    );
    assert_eq!(
        cli.ok(["node", "recover", "extra-0"]).trim(),
        "node/extra-0 heartbeats resumed"
    );
    let node = cli.json(["get", "node", "extra-0"]);
    assert!(node["metadata"]["annotations"]["everynode.io/heartbeat-paused"].is_null());
    assert_eq!(
        cli.ok(["node", "remove", "extra-0"]).trim(),
        "node \"extra-0\" deleted"
    );
    assert!(!cli.run(["get", "node", "extra-0"]).status.success());

    // delete, with the default background cascade and with orphan
    assert_eq!(
        cli.ok(["delete", "ds", "hungry"]).trim(),
        "daemonset.apps \"hungry\" deleted"
    );
    assert!(!cli.run(["get", "ds", "hungry"]).status.success());
    wait_until(
        "hungry's pods to be collected",
        Duration::from_secs(60),
        || {
            let left = cli.ok(["get", "pods", "-l", "app=hungry", "-o", "name"]);
            seen(left.is_empty(), left)
        },
    );
    assert_eq!(
        cli.ok(["delete", "ds/affine", "--cascade=orphan"]).trim(),
        "daemonset.apps \"affine\" deleted"
    );
    let orphans = cli.json(["get", "pods", "-l", "app=affine"]);
    let orphans = orphans["items"].as_array().cloned().unwrap_or_default();
    assert!(!orphans.is_empty());
    wait_until(
        "the orphans to lose their owner",
        Duration::from_secs(30),
        || {
            let pods = cli.json(["get", "pods", "-l", "app=affine"]);
            let released = pods["items"].as_array().is_some_and(|p| {
                p.iter().all(|p| {
                    let refs = &p["metadata"]["ownerReferences"];
                    refs.is_null() || refs.as_array().is_some_and(Vec::is_empty)
                })
            });
            seen(released, pods)
        },
    );
}

#[test]
fn demo_runs_to_completion() {
    let out = assert_cmd::Command::new(EVERYNODE)
        .args(["demo", "--fast"])
        .timeout(Duration::from_secs(180))
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "daemonset.apps/fluentd created",
        "not tolerated",
        "node/workload-extra created",
        "daemon set \"fluentd\" successfully rolled out",
        "daemonset.apps/fluentd rolled back",
        "Demo finished.",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
}

#[test]
fn no_cluster_reachable_says_how_to_start_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .expect("write kubeconfig");
    let out = Command::new(EVERYNODE)
        .args(["get", "ds", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .expect("run everynode");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("start one with `everynode up`"), "{stderr}");
}

#[test]
fn completions_for_each_shell() {
    // (shell, a text its script always contains)
    let cases = [
        ("bash", "_everynode()"),
        ("zsh", "#compdef everynode"),
        ("fish", "complete -c everynode"),
    ];
    for (shell, marker) in cases {
        let out = Command::new(EVERYNODE)
            .args(["completions", shell])
            .output()
            .expect("run everynode");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {marker:?} missing");
        assert!(script.contains("rollout"), "{shell}: subcommands missing");
    }
}

#[test]
fn every_new_command_has_help_with_an_example() {
    let commands: &[&[&str]] = &[
        &[],
        &["apply"],
        &["get"],
        &["describe"],
        &["delete"],
        &["rollout"],
        &["rollout", "status"],
        &["rollout", "history"],
        &["rollout", "undo"],
        &["rollout", "restart"],
        &["rollout", "pause"],
        &["rollout", "resume"],
        &["set"],
        &["set", "image"],
        &["node"],
        &["node", "add"],
        &["node", "remove"],
        &["node", "label"],
        &["node", "taint"],
        &["node", "cordon"],
        &["node", "uncordon"],
        &["node", "fail"],
        &["node", "recover"],
        &["why"],
        &["demo"],
        &["completions"],
    ];
    for cmd in commands {
        let out = Command::new(EVERYNODE)
            .args(*cmd)
            .arg("--help")
            .output()
            .expect("run everynode");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd:?} --help failed");
        assert!(
            help.contains("Example"),
            "{cmd:?} --help has no example:\n{help}"
        );
        assert!(
            help.contains("everynode "),
            "{cmd:?}: example does not show a command"
        );
    }
}
