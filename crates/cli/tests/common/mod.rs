//! A small harness for process-level end-to-end tests of `everynode up` driven by real kubectl.
//!
//! - [`Up`] starts `everynode up` as a child process on a fresh temporary data directory and a
//!   free 127.0.0.1 port, reads the kubeconfig path it prints, and kills the child when dropped
//!   (also when the test panics, printing the tail of its log to help diagnose the failure).
//!   [`Up::kill`] and [`Up::start_again`] restart it on the same data directory and port.
//! - [`Cli`] runs a command-line program against that plane: [`Up::kubectl`] gives real
//!   `/usr/bin/kubectl` with its own `--cache-dir` and `HOME`, so tests never touch the user's
//!   kubectl state; [`Up::everynode`] gives the `everynode` binary's kubectl-style commands.
//!   Every run has a deadline.
//! - [`wait_until`] polls a condition until a deadline and fails with the last state seen.
//! - [`PodObserver`] watches pods from the test process with a kube-rs watcher that reconnects,
//!   and records, at every observed moment, how many target nodes lacked an available pod and
//!   how many live pods a node carried: the numbers rolling-update tests assert on.
//!
//! Each test file includes this with `mod common;`; not every file uses every helper.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt, utils::Backoff};
use serde_json::Value;

/// The real kubectl the tests drive.
pub const KUBECTL: &str = "/usr/bin/kubectl";

/// The `everynode` binary under test.
pub const EVERYNODE: &str = env!("CARGO_BIN_EXE_everynode");

/// How long one kubectl invocation may take before the test fails.
pub const KUBECTL_DEADLINE: Duration = Duration::from_secs(90);

/// How long one `everynode` command may take: longer than kubectl's, because tests give
/// `everynode rollout status` its own `--timeout` of up to 90s.
pub const EVERYNODE_DEADLINE: Duration = Duration::from_secs(150);

/// How long `everynode up` may take to print its kubeconfig path.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// The label the DaemonSet controller puts on every daemon pod (spec 3.9).
pub const HASH_LABEL: &str = "controller-revision-hash";

/// Path of a file under `crates/cli/tests/fixtures/e2e/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/e2e")
        .join(name)
}

/// Path of one of the seeds' manifests under `examples/seeds/`.
pub fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds")
        .join(name)
}

/// How to start `everynode up`.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// `--profile FILE`; when absent, `--nodes` is used.
    pub profile: Option<PathBuf>,
    /// A profile's YAML text, written into the plane's temp dir and passed as `--profile`.
    pub profile_yaml: Option<String>,
    /// `--nodes N` (ignored by `up` when a profile is given).
    pub nodes: usize,
    /// `--start-delay`: how long a simulated kubelet takes to start a pod.
    pub start_delay: Duration,
    /// Anything else to pass to `up`.
    pub extra_args: Vec<OsString>,
}

impl UpOptions {
    /// A uniform fleet of `nodes` workers.
    pub fn nodes(nodes: usize) -> UpOptions {
        UpOptions {
            profile: None,
            profile_yaml: None,
            nodes,
            start_delay: Duration::from_millis(300),
            extra_args: Vec::new(),
        }
    }

    /// The fleet described by a profile file.
    pub fn profile(path: impl Into<PathBuf>) -> UpOptions {
        UpOptions {
            profile: Some(path.into()),
            ..UpOptions::nodes(0)
        }
    }

    /// The fleet described by profile YAML given inline (written to a file at start).
    pub fn profile_yaml(text: &str) -> UpOptions {
        UpOptions {
            profile_yaml: Some(text.to_string()),
            ..UpOptions::nodes(0)
        }
    }

    /// Sets the simulated pod start delay.
    pub fn start_delay(mut self, delay: Duration) -> UpOptions {
        self.start_delay = delay;
        self
    }
}

/// A running (or killed) `everynode up` child process with its own data directory and port.
///
/// Dropping it kills the child; the temporary directory goes with it.
pub struct Up {
    dir: tempfile::TempDir,
    port: u16,
    options: UpOptions,
    child: Option<Child>,
    kubeconfig: PathBuf,
    starts: usize,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Up {
    /// Starts `everynode up` on a fresh temp dir and a free port, and returns once it has printed
    /// its kubeconfig path (the API server is serving by then).
    pub fn start(mut options: UpOptions) -> Up {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(text) = options.profile_yaml.take() {
            let path = dir.path().join("profile.yaml");
            std::fs::write(&path, text).expect("write the profile");
            options.profile = Some(path);
        }
        let port = free_port();
        let mut up = Up {
            dir,
            port,
            options,
            child: None,
            kubeconfig: PathBuf::new(),
            starts: 0,
            stdout: Arc::new(Mutex::new(Vec::new())),
        };
        up.spawn();
        up
    }

    /// The data directory given to `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The kubeconfig path `up` printed.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The port the API server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A scratch directory for the test's own files (manifests written on the fly).
    pub fn scratch(&self) -> PathBuf {
        let path = self.dir.path().join("scratch");
        std::fs::create_dir_all(&path).expect("scratch dir");
        path
    }

    /// kubectl bound to this plane.
    pub fn kubectl(&self) -> Kubectl {
        Cli {
            program: PathBuf::from(KUBECTL),
            before: vec![
                "--kubeconfig".into(),
                self.kubeconfig.clone().into(),
                "--cache-dir".into(),
                self.dir.path().join("kubectl-cache").into(),
            ],
            after: Vec::new(),
            home: self.dir.path().to_path_buf(),
            deadline: KUBECTL_DEADLINE,
        }
    }

    /// The `everynode` binary's kubectl-style commands bound to this plane.
    pub fn everynode(&self) -> Cli {
        Cli {
            program: PathBuf::from(EVERYNODE),
            before: Vec::new(),
            // `--kubeconfig` belongs to each subcommand, not to `everynode` itself.
            after: vec!["--kubeconfig".into(), self.kubeconfig.clone().into()],
            home: self.dir.path().to_path_buf(),
            deadline: EVERYNODE_DEADLINE,
        }
    }

    /// Kills the child with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts `everynode up` again on the same data directory and port.
    pub fn start_again(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The last lines of every stderr log and of stdout, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for start in 1..=self.starts {
            let path = self.log_path(start);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            out.push_str(&format!(
                "--- everynode up #{start} stderr (last {} lines) ---\n",
                lines.len() - from
            ));
            for line in &lines[from..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        if let Ok(lines) = self.stdout.lock() {
            out.push_str("--- everynode up stdout ---\n");
            for line in lines.iter() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Waits until `count` nodes exist, every one Ready=True and free of `node.kubernetes.io/`
    /// taints (so the controller may place daemon pods on them), and returns their names sorted.
    pub fn wait_for_ready_nodes(&self, count: usize) -> Vec<String> {
        let kubectl = self.kubectl();
        wait_until(
            &format!("{count} ready nodes"),
            Duration::from_secs(60),
            || {
                let list = kubectl.json(["get", "nodes"]);
                let items = items(&list);
                let mut ready = Vec::new();
                let mut not_ready = Vec::new();
                for node in items {
                    let name = str_at(node, "/metadata/name").to_string();
                    if node_is_ready(node) {
                        ready.push(name);
                    } else {
                        not_ready.push(name);
                    }
                }
                if items.len() == count && not_ready.is_empty() {
                    ready.sort();
                    Ok(ready)
                } else {
                    Err(format!("{} nodes, not ready: {not_ready:?}", items.len()))
                }
            },
        )
    }

    fn log_path(&self, start: usize) -> PathBuf {
        self.dir.path().join(format!("up-{start}.stderr.log"))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("log file");
        let mut cmd = Command::new(EVERYNODE);
        cmd.arg("--log")
            .arg("info")
            .arg("up")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--start-delay")
            .arg(format!("{}ms", self.options.start_delay.as_millis()));
        match &self.options.profile {
            Some(profile) => {
                cmd.arg("--profile").arg(profile);
            }
            None => {
                cmd.arg("--nodes").arg(self.options.nodes.to_string());
            }
        }
        cmd.args(&self.options.extra_args)
            .env("HOME", self.dir.path())
            .env_remove("EVERYNODE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("everynode up starts");
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);

        // The reader keeps draining stdout for the whole life of the child so `up` never blocks
        // on a full pipe; the first `kubeconfig:` line is handed over through the channel.
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&self.stdout);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(path) = line.strip_prefix("kubeconfig:")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(PathBuf::from(path.trim()));
                }
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        });
        match rx.recv_timeout(STARTUP_DEADLINE) {
            // `up` prints the path as it built it; relative paths are relative to its cwd, which
            // is ours.
            Ok(path) if path.is_relative() => {
                self.kubeconfig = std::env::current_dir().expect("cwd").join(path)
            }
            Ok(path) => self.kubeconfig = path,
            Err(err) => panic!(
                "everynode up did not print its kubeconfig path ({err}):\n{}",
                self.log_tail()
            ),
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// What one command run printed.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A command-line program bound to one plane, with its own `HOME` and a deadline per run.
#[derive(Clone, Debug)]
pub struct Cli {
    program: PathBuf,
    /// Arguments ahead of each run's own (kubectl's `--kubeconfig` and `--cache-dir`).
    before: Vec<OsString>,
    /// Arguments after each run's own.
    after: Vec<OsString>,
    home: PathBuf,
    deadline: Duration,
}

/// Real kubectl with `--kubeconfig` and a per-test `--cache-dir` and `HOME`.
pub type Kubectl = Cli;

impl Cli {
    /// Runs the program with `args`, failing the test if it runs past its deadline.
    pub fn run<I, S>(&self, args: I) -> CliOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = os_args(args);
        let name = self.name();
        let mut child = Command::new(&self.program)
            .args(&self.before)
            .args(&args)
            .args(&self.after)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .env_remove("EVERYNODE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("{name} starts: {err}"));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + self.deadline;
        let status = loop {
            match child.try_wait().expect("waiting for the command") {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{name} {args:?} did not finish within {:?}", self.deadline);
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        CliOutput {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        }
    }

    /// The program's file name, for failure messages.
    fn name(&self) -> String {
        self.program
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    /// Runs the program, fails the test unless it exits 0, and returns its stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_expecting(os_args(args), true).stdout
    }

    /// Runs the program, fails the test if it exits 0, and returns its stderr.
    pub fn fails<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_expecting(os_args(args), false).stderr
    }

    /// Runs the program and fails the test unless its exit status says `success`.
    fn run_expecting(&self, args: Vec<OsString>, success: bool) -> CliOutput {
        let out = self.run(&args);
        assert!(
            out.status.success() == success,
            "{} {args:?} {} ({}):\nstdout: {}\nstderr: {}",
            self.name(),
            if success {
                "failed"
            } else {
                "should have failed"
            },
            out.status,
            out.stdout,
            out.stderr
        );
        out
    }

    /// Runs the program with `-o json` appended and parses what it printed.
    pub fn json<I, S>(&self, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut args = os_args(args);
        args.push("-o".into());
        args.push("json".into());
        let text = self.ok(&args);
        serde_json::from_str(&text).unwrap_or_else(|err| {
            panic!("{} {args:?} printed no JSON ({err}): {text}", self.name())
        })
    }

    /// `apply -f path`.
    pub fn apply(&self, path: &Path) -> String {
        self.ok([OsStr::new("apply"), OsStr::new("-f"), path.as_os_str()])
    }
}

fn os_args<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter().map(|a| a.as_ref().to_owned()).collect()
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Polls `check` until it returns `Ok`, failing the test after `timeout` with the last `Err`
/// (a description of the state that was not yet right).
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(state) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last state: {state}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The `items` of a kubectl list.
pub fn items(list: &Value) -> &[Value] {
    list.get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The string at a JSON pointer, or "" when absent.
pub fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, or 0 when absent (status counters are omitted when zero).
pub fn int_at(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether a node (JSON) is Ready=True and carries no `node.kubernetes.io/` taint.
pub fn node_is_ready(node: &Value) -> bool {
    let ready = condition_is_true(node, "Ready");
    let lifecycle_taint = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .is_some_and(|taints| {
            taints
                .iter()
                .any(|t| str_at(t, "/key").starts_with("node.kubernetes.io/"))
        });
    ready && !lifecycle_taint
}

/// Whether a pod (JSON) is Ready=True and not being deleted.
pub fn pod_json_is_available(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none() && condition_is_true(pod, "Ready")
}

/// Whether an object (JSON) has the status condition `type_` with status True.
fn condition_is_true(object: &Value, type_: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| str_at(c, "/type") == type_ && str_at(c, "/status") == "True")
        })
}

/// The DaemonSet status once the controller has observed the current generation: waits until
/// `observedGeneration >= generation` and `accept(status)` holds.
pub fn wait_ds_status(
    kubectl: &Kubectl,
    namespace: &str,
    name: &str,
    timeout: Duration,
    what: &str,
    accept: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(
        &format!("daemonset {namespace}/{name}: {what}"),
        timeout,
        || {
            let ds = kubectl.json(["-n", namespace, "get", "daemonset", name]);
            let observed = int_at(&ds, "/status/observedGeneration");
            let generation = int_at(&ds, "/metadata/generation");
            let status = ds.get("status").cloned().unwrap_or(Value::Null);
            if observed >= generation && accept(&status) {
                Ok(ds)
            } else {
                Err(format!("generation {generation}, status {status}"))
            }
        },
    )
}

/// Pods of a namespace matching a label selector, as JSON.
pub fn pods(kubectl: &Kubectl, namespace: &str, selector: &str) -> Vec<Value> {
    let list = kubectl.json(["-n", namespace, "get", "pods", "-l", selector]);
    items(&list).to_vec()
}

/// A kube client for a kubeconfig file (rustls with the ring provider, as `everynode` itself).
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
    kube::Client::try_from(config).expect("kube client")
}

/// The node a daemon pod is bound to, or (while unbound) the node its `metadata.name`
/// matchFields affinity pins it to (spec 3.6).
pub fn pod_target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = &spec.node_name {
        return Some(name.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|term| term.match_fields.iter().flatten())
        .find(|req| req.key == "metadata.name" && req.operator == "In")
        .and_then(|req| req.values.as_ref()?.first().cloned())
}

/// Whether a pod is Ready=True and not being deleted (minReadySeconds 0: ready is available).
pub fn pod_is_available(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conds| {
                conds
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
}

fn pod_is_live(pod: &Pod) -> bool {
    let terminal = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Failed" || p == "Succeeded");
    pod.metadata.deletion_timestamp.is_none() && !terminal
}

/// What a [`PodObserver`] saw over its lifetime.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    /// Consistent snapshots evaluated (one per watch event, and one per completed re-list).
    pub moments: usize,
    /// Times the watch (re)started with a full list: 1 without interruptions.
    pub lists: usize,
    /// The most target nodes without an available pod at one moment.
    pub max_unavailable: usize,
    /// The moment `max_unavailable` was first reached.
    pub worst_unavailable: String,
    /// The most live (not deleting, not terminal) pods on one node at one moment.
    pub max_live_per_node: usize,
    /// The moment `max_live_per_node` was first reached.
    pub worst_crowding: String,
}

#[derive(Default)]
struct ObserverState {
    pods: BTreeMap<String, Pod>,
    synced: bool,
    seen: Observations,
}

impl ObserverState {
    /// Records the current snapshot against the target nodes.
    fn evaluate(&mut self, nodes: &BTreeSet<String>) {
        let mut available: BTreeSet<String> = BTreeSet::new();
        let mut live: BTreeMap<String, usize> = BTreeMap::new();
        for pod in self.pods.values() {
            let Some(node) = pod_target_node(pod) else {
                continue;
            };
            if pod_is_available(pod) {
                available.insert(node.clone());
            }
            if pod_is_live(pod) {
                *live.entry(node).or_default() += 1;
            }
        }
        let unavailable: Vec<&String> = nodes.difference(&available).collect();
        let crowded = live.values().copied().max().unwrap_or(0);
        self.seen.moments += 1;
        if unavailable.len() > self.seen.max_unavailable {
            self.seen.max_unavailable = unavailable.len();
            self.seen.worst_unavailable = format!(
                "nodes without an available pod: {unavailable:?}; pods: {}",
                describe_pods(self.pods.values())
            );
        }
        if crowded > self.seen.max_live_per_node {
            self.seen.max_live_per_node = crowded;
            self.seen.worst_crowding = format!(
                "live pods per node: {live:?}; pods: {}",
                describe_pods(self.pods.values())
            );
        }
    }
}

/// One line per pod: name, node, revision hash, ready, deleting.
pub fn describe_pods<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> String {
    pods.into_iter()
        .map(|pod| {
            format!(
                "{}@{}[{}{}{}]",
                pod.metadata.name.as_deref().unwrap_or("?"),
                pod_target_node(pod).unwrap_or_default(),
                pod.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(HASH_LABEL))
                    .map(String::as_str)
                    .unwrap_or("-"),
                if pod_is_available(pod) { ",ready" } else { "" },
                if pod.metadata.deletion_timestamp.is_some() {
                    ",deleting"
                } else {
                    ""
                },
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A constant, short retry delay so the observer reconnects quickly after a restart.
struct QuickRetry;

impl Iterator for QuickRetry {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        Some(Duration::from_millis(200))
    }
}

impl Backoff for QuickRetry {
    fn reset(&mut self) {}
}

/// Watches pods from outside the plane (its own thread and runtime, a kube-rs watcher that
/// reconnects and re-lists), evaluating every consistent snapshot against a set of target nodes.
pub struct PodObserver {
    state: Arc<Mutex<ObserverState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PodObserver {
    /// Starts watching pods of `namespace` matching `selector`, and returns once the first list
    /// is complete (so every later change is seen).
    pub fn start(
        kubeconfig: &Path,
        namespace: &str,
        selector: &str,
        nodes: &[String],
    ) -> PodObserver {
        let state = Arc::new(Mutex::new(ObserverState::default()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let kubeconfig = kubeconfig.to_path_buf();
        let namespace = namespace.to_string();
        let selector = selector.to_string();
        let nodes: BTreeSet<String> = nodes.iter().cloned().collect();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("observer runtime");
            runtime.block_on(async move {
                let client = kube_client(&kubeconfig).await;
                let api: kube::Api<Pod> = kube::Api::namespaced(client, &namespace);
                let stream =
                    watcher(api, watcher::Config::default().labels(&selector)).backoff(QuickRetry);
                let mut stream = std::pin::pin!(stream);
                let mut buffer: BTreeMap<String, Pod> = BTreeMap::new();
                let mut stop_rx = stop_rx;
                loop {
                    let event = tokio::select! {
                        _ = &mut stop_rx => break,
                        event = stream.next() => event,
                    };
                    let Some(event) = event else { break };
                    // Errors (server gone, connection refused) are retried by the backoff.
                    let Ok(event) = event else { continue };
                    let Ok(mut state) = shared.lock() else { break };
                    match event {
                        watcher::Event::Init => buffer.clear(),
                        watcher::Event::InitApply(pod) => {
                            buffer.insert(pod_key(&pod), pod);
                        }
                        watcher::Event::InitDone => {
                            state.pods = std::mem::take(&mut buffer);
                            state.synced = true;
                            state.seen.lists += 1;
                            state.evaluate(&nodes);
                        }
                        watcher::Event::Apply(pod) => {
                            state.pods.insert(pod_key(&pod), pod);
                            state.evaluate(&nodes);
                        }
                        watcher::Event::Delete(pod) => {
                            state.pods.remove(&pod_key(&pod));
                            state.evaluate(&nodes);
                        }
                    }
                }
            });
        });
        let observer = PodObserver {
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        observer.wait_for("the first pod list", Duration::from_secs(30), |_| Ok(()));
        observer
    }

    /// Waits until `check` accepts the current set of pods (after the first list).
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&[Pod]) -> Result<T, String>,
    ) -> T {
        wait_until(what, timeout, || {
            // A watcher thread that ended (its client could not be built) will never see more.
            assert!(
                self.thread.as_ref().is_some_and(|t| !t.is_finished()),
                "the pod watcher stopped while waiting for {what}"
            );
            let state = self.state.lock().map_err(|e| e.to_string())?;
            if !state.synced {
                return Err("not listed yet".to_string());
            }
            let pods: Vec<Pod> = state.pods.values().cloned().collect();
            drop(state);
            check(&pods)
        })
    }

    /// What has been seen so far.
    pub fn observations(&self) -> Observations {
        self.state
            .lock()
            .map(|s| s.seen.clone())
            .unwrap_or_default()
    }

    /// Stops watching and returns what was seen.
    pub fn stop(mut self) -> Observations {
        self.shutdown();
        self.observations()
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PodObserver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn pod_key(pod: &Pod) -> String {
    pod.metadata
        .uid
        .clone()
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default()
}

/// The image of a pod's first container.
pub fn pod_image(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .unwrap_or("")
}

/// The revision numbers `kubectl rollout history` lists (the rows of its table).
pub fn history_revisions(output: &str) -> Vec<i64> {
    output
        .lines()
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}
