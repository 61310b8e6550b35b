//! End-to-end tests of the kubectl-style commands, `why`, `demo` and `completions`: each
//! starts `everynode up` as a child process on a free port and a temporary data directory,
//! drives it with the `everynode` binary, and kills it at the end even when a test fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_everynode");

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

/// A running `everynode up`; dropping it kills the process.
struct Plane {
    child: Child,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Plane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn start_plane() -> Plane {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = dir.path().join("profile.yaml");
    std::fs::write(&profile, PROFILE).expect("write profile");
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["up", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--profile")
        .arg(&profile)
        .args(["--start-delay", "100ms"])
        .env_remove("EVERYNODE_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start everynode up");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    // Keeps draining the child's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut plane = Plane {
        child,
        kubeconfig: PathBuf::new(),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(path) = line.strip_prefix("kubeconfig: ") {
                    plane.kubeconfig = PathBuf::from(path.trim());
                    break;
                }
            }
            Err(_) => panic!("everynode up did not print its kubeconfig within 90s"),
        }
    }
    plane
}

/// Output of one `everynode` command against the plane.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn everynode(plane: &Plane, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .env_remove("EVERYNODE_DATA_DIR")
        .env("HOME", plane.dir.path())
        .output()
        .expect("run everynode");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(plane: &Plane, args: &[&str]) -> String {
    let run = everynode(plane, args);
    assert!(
        run.ok,
        "everynode {args:?} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run.stdout
}

fn json(plane: &Plane, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&ok(plane, &all)).expect("JSON output")
}

/// Polls `check` until it holds; panics saying what was awaited after `timeout`.
fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn rolled_out(plane: &Plane, name: &str) -> bool {
    let ds = json(plane, &["get", "ds", name]);
    let s = &ds["status"];
    let desired = s["desiredNumberScheduled"].as_i64().unwrap_or(-1);
    desired > 0
        && s["observedGeneration"].as_i64() >= ds["metadata"]["generation"].as_i64()
        && s["numberAvailable"].as_i64() == Some(desired)
        && s["updatedNumberScheduled"].as_i64() == Some(desired)
}

/// `why DS NODE -o json` for one node.
fn why(plane: &Plane, ds: &str, node: &str) -> Value {
    let v = json(plane, &["why", ds, node]);
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
    let manifests = write_manifests(plane.dir.path());
    let manifests = manifests.to_str().expect("utf-8 path");

    // apply
    let applied = ok(&plane, &["apply", "-f", manifests]);
    for name in ["agent", "selective", "affine", "hungry"] {
        assert!(
            applied.contains(&format!("daemonset.apps/{name} created")),
            "{applied}"
        );
    }
    wait_until(Duration::from_secs(60), "agent to roll out", || {
        rolled_out(&plane, "agent")
    });
    let again = ok(&plane, &["apply", "-f", manifests]);
    assert!(again.contains("daemonset.apps/agent unchanged"), "{again}");

    // get
    let ds_table = ok(&plane, &["get", "ds"]);
    assert!(
        ds_table.starts_with("NAME ") && ds_table.contains("NODE SELECTOR"),
        "{ds_table}"
    );
    assert!(ds_table.contains("selective") && ds_table.contains("nodepool=workload"));
    let all = ok(&plane, &["get", "daemonsets", "-A", "-o", "wide"]);
    assert!(
        all.starts_with("NAMESPACE ") && all.contains("IMAGES"),
        "{all}"
    );
    let desired = json(&plane, &["get", "ds", "agent"])["status"]["desiredNumberScheduled"]
        .as_i64()
        .expect("desired");
    // agent tolerates nothing: the control-plane and GPU nodes are out.
    assert_eq!(desired, 4);
    let pods = ok(&plane, &["get", "po", "-l", "app=agent", "-o", "name"]);
    assert_eq!(pods.lines().count(), 4, "{pods}");
    assert!(pods.lines().all(|l| l.starts_with("pod/agent-")), "{pods}");
    let nodes = ok(&plane, &["get", "nodes"]);
    assert!(
        nodes.contains("gpu-0") && nodes.contains("STATUS"),
        "{nodes}"
    );
    let crs = ok(&plane, &["get", "controllerrevisions"]);
    assert!(crs.contains("daemonset.apps/agent"), "{crs}");
    let events = ok(&plane, &["get", "ev"]);
    assert!(events.contains("SuccessfulCreate"), "{events}");
    let missing = everynode(&plane, &["get", "ds", "nope"]);
    assert!(!missing.ok);
    assert!(
        missing
            .stderr
            .contains("daemonsets.apps \"nope\" not found"),
        "{}",
        missing.stderr
    );

    // describe
    let described = ok(&plane, &["describe", "ds", "agent"]);
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
    let v = why(&plane, "agent", "gpu-0");
    assert_eq!(v["shouldRun"], false);
    assert!(
        reasons(&v).contains("taint nvidia.com/gpu=present:NoSchedule is not tolerated"),
        "{v}"
    );
    let v = why(&plane, "selective", "sys-0");
    assert_eq!(v["shouldRun"], false);
    assert!(
        reasons(&v).contains("node selector \"nodepool=workload\" not matched"),
        "{v}"
    );
    let v = why(&plane, "affine", "gpu-0");
    assert_eq!(v["shouldRun"], false);
    assert!(reasons(&v).contains("node affinity"), "{v}");
    assert!(!reasons(&v).contains("taint"), "{v}");
    wait_until(
        Duration::from_secs(60),
        "the scheduler to report hungry's pod on tiny-0",
        || {
            let v = why(&plane, "hungry", "tiny-0");
            v["shouldRun"] == true
                && v["pods"][0]["schedulerMessage"]
                    .as_str()
                    .is_some_and(|m| m.contains("Insufficient memory"))
        },
    );
    let table = ok(&plane, &["why", "ds/hungry"]);
    assert!(
        table.starts_with("NODE ") && table.contains("Insufficient memory"),
        "{table}"
    );

    // set image, rollout status / history / undo / restart
    let set = ok(&plane, &["set", "image", "ds/agent", "agent=busybox:1.37"]);
    assert_eq!(set.trim(), "daemonset.apps/agent image updated");
    let noop = ok(&plane, &["set", "image", "ds/agent", "agent=busybox:1.37"]);
    assert_eq!(noop, "");
    let bad = everynode(&plane, &["set", "image", "ds/agent", "nope=x"]);
    assert!(
        !bad.ok
            && bad
                .stderr
                .contains("unable to find container named \"nope\"")
    );
    let status = ok(
        &plane,
        &["rollout", "status", "ds/agent", "--timeout", "90s"],
    );
    assert_eq!(
        status.lines().last(),
        Some("daemon set \"agent\" successfully rolled out"),
        "{status}"
    );
    let history = ok(&plane, &["rollout", "history", "ds/agent"]);
    assert!(
        history.starts_with(
            "daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>"
        ),
        "{history}"
    );
    let rev1 = ok(&plane, &["rollout", "history", "ds/agent", "--revision=1"]);
    assert!(
        rev1.starts_with("daemonset.apps/agent with revision #1\nPod Template:")
            && rev1.contains("busybox:1.36"),
        "{rev1}"
    );
    let undo = ok(&plane, &["rollout", "undo", "ds/agent"]);
    assert_eq!(undo.trim(), "daemonset.apps/agent rolled back");
    ok(
        &plane,
        &[
            "rollout",
            "status",
            "daemonset",
            "agent",
            "--timeout",
            "90s",
        ],
    );
    let history = ok(&plane, &["rollout", "history", "ds/agent"]);
    assert!(
        history.contains("\n2         <none>\n3         <none>"),
        "{history}"
    );
    let skipped = ok(&plane, &["rollout", "undo", "ds/agent", "--to-revision=3"]);
    assert_eq!(
        skipped.trim(),
        "daemonset.apps/agent skipped rollback (current template already matches revision 3)"
    );
    let missing = everynode(&plane, &["rollout", "undo", "ds/agent", "--to-revision=9"]);
    assert!(
        missing
            .stderr
            .contains("unable to find specified revision 9 in history")
    );
    let restarted = ok(&plane, &["rollout", "restart", "ds/agent"]);
    assert_eq!(restarted.trim(), "daemonset.apps/agent restarted");
    wait_until(Duration::from_secs(90), "the restart to roll out", || {
        rolled_out(&plane, "agent")
    });

    // node commands
    let added = ok(
        &plane,
        &[
            "node",
            "add",
            "extra-0",
            "--label",
            "nodepool=workload",
            "--memory",
            "8Gi",
        ],
    );
    assert_eq!(added.trim(), "node/extra-0 created");
    wait_until(
        Duration::from_secs(60),
        "selective to run on extra-0",
        || why(&plane, "selective", "extra-0")["pods"][0]["ready"] == true,
    );
    assert_eq!(
        ok(&plane, &["node", "label", "extra-0", "tier=edge"]).trim(),
        "node/extra-0 labeled"
    );
    let clash = everynode(&plane, &["node", "label", "extra-0", "tier=core"]);
    assert!(
        clash.stderr.contains("--overwrite is false"),
        "{}",
        clash.stderr
    );
    assert_eq!(
        ok(&plane, &["node", "label", "extra-0", "tier-"]).trim(),
        "node/extra-0 unlabeled"
    );
    assert_eq!(
        ok(
            &plane,
            &["node", "taint", "extra-0", "dedicated=db:NoExecute"]
        )
        .trim(),
        "node/extra-0 tainted"
    );
    let v = why(&plane, "selective", "extra-0");
    assert_eq!(v["shouldRun"], false);
    assert_eq!(v["shouldContinueRunning"], false);
    assert!(reasons(&v).contains("dedicated=db:NoExecute"), "{v}");
    assert_eq!(
        ok(&plane, &["node", "taint", "extra-0", "dedicated-"]).trim(),
        "node/extra-0 untainted"
    );
    assert_eq!(
        ok(&plane, &["node", "cordon", "extra-0"]).trim(),
        "node/extra-0 cordoned"
    );
    let node = json(&plane, &["get", "node", "extra-0"]);
    assert_eq!(node["spec"]["unschedulable"], true);
    assert_eq!(
        ok(&plane, &["node", "uncordon", "extra-0"]).trim(),
        "node/extra-0 uncordoned"
    );
    assert!(
        ok(&plane, &["node", "fail", "extra-0"]).starts_with("node/extra-0 heartbeats stopped")
    );
    let node = json(&plane, &["get", "node", "extra-0"]);
    assert_eq!(
        node["metadata"]["annotations"]["everynode.io/heartbeat-paused"],
        "true"
    );
    assert_eq!(
        ok(&plane, &["node", "recover", "extra-0"]).trim(),
        "node/extra-0 heartbeats resumed"
    );
    let node = json(&plane, &["get", "node", "extra-0"]);
    assert!(node["metadata"]["annotations"]["everynode.io/heartbeat-paused"].is_null());
    assert_eq!(
        ok(&plane, &["node", "remove", "extra-0"]).trim(),
        "node \"extra-0\" deleted"
    );
    assert!(!everynode(&plane, &["get", "node", "extra-0"]).ok);

    // delete, with the default background cascade and with orphan
    assert_eq!(
        ok(&plane, &["delete", "ds", "hungry"]).trim(),
        "daemonset.apps \"hungry\" deleted"
    );
    assert!(!everynode(&plane, &["get", "ds", "hungry"]).ok);
    wait_until(
        Duration::from_secs(60),
        "hungry's pods to be collected",
        || ok(&plane, &["get", "pods", "-l", "app=hungry", "-o", "name"]).is_empty(),
    );
    assert_eq!(
        ok(&plane, &["delete", "ds/affine", "--cascade=orphan"]).trim(),
        "daemonset.apps \"affine\" deleted"
    );
    let orphans = json(&plane, &["get", "pods", "-l", "app=affine"]);
    let orphans = orphans["items"].as_array().cloned().unwrap_or_default();
    assert!(!orphans.is_empty());
    wait_until(
        Duration::from_secs(30),
        "the orphans to lose their owner",
        || {
            let pods = json(&plane, &["get", "pods", "-l", "app=affine"]);
            pods["items"].as_array().is_some_and(|p| {
                p.iter().all(|p| {
                    let refs = &p["metadata"]["ownerReferences"];
                    refs.is_null() || refs.as_array().is_some_and(Vec::is_empty)
                })
            })
        },
    );
}

#[test]
fn demo_runs_to_completion() {
    let out = assert_cmd::Command::new(BIN)
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
    let out = Command::new(BIN)
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
        let out = Command::new(BIN)
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
        let out = Command::new(BIN)
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
