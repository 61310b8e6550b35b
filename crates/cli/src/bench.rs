//! `everynode bench`: whole-plane benchmarks that print one JSON line of figures.
//!
//! Each run starts a throwaway embedded plane (API server, controller, scheduler, garbage
//! collector, pod GC, node lifecycle, simulated fleet) in a temporary directory, exactly as
//! `everynode up` wires it, except that the components' client counts every request it sends.
//! The benchmark driver itself talks through a separate, uncounted client so that its own
//! watches do not inflate the figures.
//!
//! - `converge`: K DaemonSets on N fresh nodes; time until every one reports
//!   desired == current == updated == available == N for its current generation.
//! - `rollout`: one converged DaemonSet on N nodes gets a new image; time until it is rolled
//!   out, its ratio to the theoretical bound ceil(N / batch) x (start delay + minReadySeconds),
//!   and the largest number of nodes seen without an available pod (must stay within the
//!   resolved maxUnavailable).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use everynode_apiserver::{ApiServer, ApiServerConfig};
use everynode_cluster::{PodProgress, fleet};
use everynode_model::Timestamp;
use everynode_model::pod::available_after;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{Container, Node, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use crate::up::Components;

/// Namespace the benchmark's DaemonSets live in.
const NAMESPACE: &str = "default";
/// Image of the first revision; the rollout switches to [`IMAGE_V2`].
const IMAGE_V1: &str = "registry.example/everynode-bench:1";
/// Image the rollout benchmark updates to.
const IMAGE_V2: &str = "registry.example/everynode-bench:2";
/// Label carried by every benchmark pod (and the DaemonSets' selector key).
const APP_LABEL: &str = "everynode.io/bench";

const FIELDS_HELP: &str = "\
Output: one JSON line on stdout.

converge fields:
  bench                 \"converge\"
  nodes, daemonsets     the fleet size N and the number of DaemonSets K
  start_delay_seconds   simulated pod start delay D
  setup_seconds         plane start until all N nodes were Ready (not part of wall_seconds)
  wall_seconds          DaemonSets created until every one reported desired == current ==
                        updated == available == N for its current generation
  desired, available, updated
                        sums over the K DaemonSets at the end (each must be K x N)
  api_requests          HTTP requests the plane's components sent during wall_seconds
                        (watches count once, when opened)
  api_writes            of those, POST/PUT/PATCH/DELETE
  api_requests_by_kind  the same requests by \"<verb> <resource>[/<subresource>]\"
  controller_api_calls  calls made by the DaemonSet controller alone during wall_seconds
  controller_syncs      DaemonSet syncs (each one plan over all nodes) during wall_seconds
  controller_busy_seconds
                        time those syncs took, summed (with one DaemonSet, one sync runs at
                        a time: its share of the window is how busy that sync loop was)
  store_commits, store_writes
                        durable transactions (one fsync each) and the object writes they
                        carried, during wall_seconds (group commit: writes / commits)
  cpu_seconds           user + system CPU of the whole process during wall_seconds
  peak_rss_mb           peak resident memory of the whole process (VmHWM), MiB
  rss_mb                resident memory at the end (VmRSS), MiB

rollout adds (with one DaemonSet):
  max_unavailable, max_surge   as given; batch is the resolved maxUnavailable, or the
                               resolved maxSurge when maxUnavailable resolves to 0
  budget                the resolved maxUnavailable: nodes allowed without an available pod
  min_ready_seconds     M
  converge_seconds      the initial convergence (before the update)
  rollout_seconds       image changed until the status reported the new revision everywhere
                        updated == available == N for the new generation
  bound_seconds         ceil(N / batch) x (D + M)
  ratio                 rollout_seconds / bound_seconds (null when the bound is 0)
  max_unavailable_observed
                        the most nodes seen at once without an available, non-terminating pod
  budget_held           max_unavailable_observed <= budget
  (api_requests, cpu_seconds, ... are measured over rollout_seconds)

The exit status is 0 when the run completed (and, for rollout, the budget held), 1 otherwise.";

/// Arguments of `everynode bench`.
#[derive(Debug, clap::Args)]
#[command(after_help = FIELDS_HELP)]
pub struct BenchArgs {
    /// Which benchmark to run.
    #[command(subcommand)]
    pub command: BenchCommand,
    /// Experiment knob: the API server's watch window (events kept for watchers); the
    /// default is what `everynode up` uses.
    #[arg(long, global = true, hide = true)]
    pub event_window: Option<usize>,
}

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Time K DaemonSets converging on N fresh simulated nodes.
    #[command(after_help = FIELDS_HELP)]
    Converge {
        /// Number of simulated nodes N.
        #[arg(long, default_value_t = 1000)]
        nodes: usize,
        /// Number of DaemonSets K (each runs on every node).
        #[arg(long, default_value_t = 1)]
        daemonsets: usize,
        /// How long a simulated kubelet takes to start a pod (e.g. `0s`, `500ms`).
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        start_delay: Duration,
        /// Give up (exit 1) when not converged after this long.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Time a rolling update of one DaemonSet on N simulated nodes.
    #[command(after_help = FIELDS_HELP)]
    Rollout {
        /// Number of simulated nodes N.
        #[arg(long, default_value_t = 1000)]
        nodes: usize,
        /// rollingUpdate.maxUnavailable: a count (`50`) or a percentage (`10%`).
        #[arg(long, default_value = "10%", value_parser = parse_int_or_percent)]
        max_unavailable: IntOrString,
        /// rollingUpdate.maxSurge: a count or a percentage.
        #[arg(long, default_value = "0", value_parser = parse_int_or_percent)]
        max_surge: IntOrString,
        /// How long a simulated kubelet takes to start a pod (e.g. `1s`).
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        start_delay: Duration,
        /// The DaemonSet's minReadySeconds.
        #[arg(long, default_value_t = 0)]
        min_ready_seconds: i32,
        /// Give up (exit 1) when not rolled out after this long.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// Parses `50` or `10%` the way kubectl writes IntOrString fields.
fn parse_int_or_percent(text: &str) -> Result<IntOrString, String> {
    let text = text.trim();
    if let Some(number) = text.strip_suffix('%') {
        return match number.parse::<u32>() {
            Ok(_) => Ok(IntOrString::String(text.to_string())),
            Err(_) => Err(format!("{text:?} is not a percentage like 10%")),
        };
    }
    match text.parse::<i32>() {
        Ok(n) if n >= 0 => Ok(IntOrString::Int(n)),
        _ => Err(format!(
            "{text:?} is neither a non-negative count nor a percentage"
        )),
    }
}

fn int_or_string_text(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// Runs a benchmark and prints its JSON line.
pub fn run(args: &BenchArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (figures, ok) = match &args.command {
        BenchCommand::Converge {
            nodes,
            daemonsets,
            start_delay,
            timeout,
        } => runtime.block_on(converge(
            *nodes,
            *daemonsets,
            *start_delay,
            *timeout,
            args.event_window,
        ))?,
        BenchCommand::Rollout {
            nodes,
            max_unavailable,
            max_surge,
            start_delay,
            min_ready_seconds,
            timeout,
        } => runtime.block_on(rollout(RolloutParams {
            nodes: *nodes,
            max_unavailable: max_unavailable.clone(),
            max_surge: max_surge.clone(),
            start_delay: *start_delay,
            min_ready_seconds: *min_ready_seconds,
            timeout: *timeout,
            event_window: args.event_window,
        }))?,
    };
    // Stop the runtime without waiting for stray blocking tasks (redb's writer has closed).
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!("{figures}");
    Ok(if ok { 0 } else { 1 })
}

// ---------------------------------------------------------------------------------------------
// Request counting

/// Requests seen by a [`Counted`] service.
#[derive(Debug, Default)]
pub struct RequestCounter {
    total: AtomicU64,
    writes: AtomicU64,
    /// `"<verb> <resource>[/<subresource>]"` → requests, to show where the calls go.
    by_kind: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl RequestCounter {
    /// (all requests, writes) so far.
    fn read(&self) -> (u64, u64) {
        (
            self.total.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    fn by_kind(&self) -> BTreeMap<String, u64> {
        self.by_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, method: &http::Method, uri: &http::Uri) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if !matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        ) {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        let kind = request_kind(method, uri.path(), uri.query().unwrap_or(""));
        *self
            .by_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind)
            .or_default() += 1;
    }
}

/// `"<verb> <resource>[/<subresource>]"` for a Kubernetes API request, with kubectl's verb
/// names (a GET is `list` or `watch` on a collection).
fn request_kind(method: &http::Method, path: &str, query: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or(&[]),
        Some(&"apis") => segments.get(3..).unwrap_or(&[]),
        _ => return format!("{method} {path}"),
    };
    let rest = match rest {
        ["namespaces", _ns, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, named, sub) = match rest {
        [] => ("", false, None),
        [r] => (*r, false, None),
        [r, _name] => (*r, true, None),
        [r, _name, sub, ..] => (*r, true, Some(*sub)),
    };
    let watching = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match *method {
        http::Method::GET if watching => "watch",
        http::Method::GET if !named => "list",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => method.as_str(),
    };
    match sub {
        Some(sub) => format!("{verb} {resource}/{sub}"),
        None => format!("{verb} {resource}"),
    }
}

/// A tower service that counts the requests passing through it to `inner`.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    counter: Arc<RequestCounter>,
}

impl<S, B> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.counter.record(req.method(), req.uri());
        self.inner.call(req)
    }
}

// ---------------------------------------------------------------------------------------------
// Process figures

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer cannot fail in a way that touches memory.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A `VmXXX:` line of /proc/self/status, in MiB (None where /proc is unavailable).
fn proc_status_mib(field: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_kib(&text, field).map(|kib| kib as f64 / 1024.0)
}

fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Counters read at the start of a measured window.
struct Mark {
    at: Instant,
    cpu: f64,
    requests: (u64, u64),
    by_kind: BTreeMap<String, u64>,
    controller_calls: u64,
    controller_syncs: u64,
    controller_busy: Duration,
    store: everynode_apiserver::store::StoreStats,
}

/// What a measured window cost.
struct Window {
    seconds: f64,
    cpu_seconds: f64,
    api_requests: u64,
    api_writes: u64,
    by_kind: BTreeMap<String, u64>,
    controller_api_calls: u64,
    controller_syncs: u64,
    controller_busy: Duration,
    store_commits: u64,
    store_writes: u64,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Window {
    fn json_fields(&self, out: &mut serde_json::Map<String, serde_json::Value>) {
        out.insert("api_requests".into(), json!(self.api_requests));
        out.insert("api_writes".into(), json!(self.api_writes));
        out.insert("api_requests_by_kind".into(), json!(self.by_kind));
        out.insert(
            "controller_api_calls".into(),
            json!(self.controller_api_calls),
        );
        out.insert("controller_syncs".into(), json!(self.controller_syncs));
        out.insert(
            "controller_busy_seconds".into(),
            json!(round3(self.controller_busy.as_secs_f64())),
        );
        out.insert("store_commits".into(), json!(self.store_commits));
        out.insert("store_writes".into(), json!(self.store_writes));
        out.insert("cpu_seconds".into(), json!(round3(self.cpu_seconds)));
        out.insert(
            "peak_rss_mb".into(),
            json!(proc_status_mib("VmHWM").map(|m| m.round())),
        );
        out.insert(
            "rss_mb".into(),
            json!(proc_status_mib("VmRSS").map(|m| m.round())),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The plane

/// An embedded plane wired as `everynode up` does ([`Components`]), with a counting client for
/// the components.
struct BenchPlane {
    server: ApiServer,
    /// Uncounted client for the benchmark driver.
    driver: kube::Client,
    counter: Arc<RequestCounter>,
    controller: Arc<everynode_controller::Metrics>,
    components: Components,
    _dir: tempfile::TempDir,
}

impl BenchPlane {
    async fn start(
        nodes: usize,
        start_delay: Duration,
        event_window: Option<usize>,
    ) -> anyhow::Result<BenchPlane> {
        let dir = tempfile::Builder::new()
            .prefix("everynode-bench-")
            .tempdir()
            .context("creating a temporary data directory")?;
        let defaults = ApiServerConfig::default();
        let server = ApiServer::start(ApiServerConfig {
            data_dir: dir.path().to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            event_window: event_window.unwrap_or(defaults.event_window),
        })
        .await
        .context("starting the API server")?;
        let counter = Arc::new(RequestCounter::default());
        let router = server.router();
        let counted = counter.clone();
        let client = move || {
            kube::Client::new(
                Counted {
                    inner: router.clone(),
                    counter: counted.clone(),
                },
                "default",
            )
        };
        let driver = kube::Client::new(server.router(), "default");
        let controller = Arc::new(everynode_controller::Metrics::new());
        let components = Components::spawn(
            client,
            fleet::FleetProfile::uniform(nodes, "node-"),
            start_delay,
            controller.clone(),
        );
        Ok(BenchPlane {
            server,
            driver,
            counter,
            controller,
            components,
            _dir: dir,
        })
    }

    fn mark(&self) -> Mark {
        Mark {
            at: Instant::now(),
            cpu: cpu_seconds(),
            requests: self.counter.read(),
            by_kind: self.counter.by_kind(),
            controller_calls: self.controller.api_calls(),
            controller_syncs: self.controller.syncs(),
            controller_busy: self.controller.sync_time(),
            store: self.server.store().stats(),
        }
    }

    fn since(&self, mark: &Mark) -> Window {
        let (total, writes) = self.counter.read();
        let store = self.server.store().stats();
        Window {
            seconds: mark.at.elapsed().as_secs_f64(),
            cpu_seconds: cpu_seconds() - mark.cpu,
            api_requests: total - mark.requests.0,
            api_writes: writes - mark.requests.1,
            by_kind: self
                .counter
                .by_kind()
                .into_iter()
                .map(|(k, n)| {
                    let before = mark.by_kind.get(&k).copied().unwrap_or(0);
                    (k, n - before)
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
            controller_api_calls: self.controller.api_calls() - mark.controller_calls,
            controller_syncs: self.controller.syncs() - mark.controller_syncs,
            controller_busy: self
                .controller
                .sync_time()
                .saturating_sub(mark.controller_busy),
            store_commits: store.commits - mark.store.commits,
            store_writes: store.writes - mark.store.writes,
        }
    }

    /// Waits until `nodes` nodes exist and report Ready.
    async fn wait_for_nodes(&self, nodes: usize, deadline: Instant) -> anyhow::Result<()> {
        let api: Api<Node> = Api::all(self.driver.clone());
        let mut ready: HashSet<String> = HashSet::new();
        let mut initial: HashSet<String> = HashSet::new();
        let stream = watcher::watcher(api, watcher::Config::default());
        let mut stream = std::pin::pin!(stream);
        while ready.len() < nodes {
            let event = next_before(&mut stream, deadline)
                .await
                .with_context(|| format!("{} of {nodes} nodes Ready", ready.len()))?;
            match event {
                Event::Init => initial.clear(),
                Event::InitApply(node) => {
                    if node_ready(&node) {
                        initial.insert(node.metadata.name.unwrap_or_default());
                    }
                }
                Event::InitDone => ready = std::mem::take(&mut initial),
                Event::Apply(node) => {
                    let name = node.metadata.name.clone().unwrap_or_default();
                    if node_ready(&node) {
                        ready.insert(name);
                    } else {
                        ready.remove(&name);
                    }
                }
                Event::Delete(node) => {
                    ready.remove(node.metadata.name.as_deref().unwrap_or_default());
                }
            }
        }
        Ok(())
    }

    async fn stop(self) {
        self.components.stop().await;
        self.server.shutdown().await;
    }
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The next watch event, retrying transient errors, failing at `deadline`.
async fn next_before<K, S>(stream: &mut Pin<&mut S>, deadline: Instant) -> anyhow::Result<Event<K>>
where
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
{
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Err(_) => bail!("timed out"),
            Ok(None) => bail!("the watch ended"),
            Ok(Some(Ok(event))) => return Ok(event),
            Ok(Some(Err(err))) => {
                tracing::warn!(%err, "bench: watch error; retrying");
                // The watcher resumes on its own; back off a little so an error loop does
                // not spin (this is pacing, not synchronisation).
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DaemonSets

fn bench_daemonset(name: &str, rolling: RollingUpdateDaemonSet, min_ready: i32) -> DaemonSet {
    let labels: BTreeMap<String, String> = [(APP_LABEL.to_string(), name.to_string())].into();
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            min_ready_seconds: (min_ready > 0).then_some(min_ready),
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(rolling),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "agent".to_string(),
                        image: Some(IMAGE_V1.to_string()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        },
        status: None,
    }
}

/// Status sums over the benchmark's DaemonSets.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    desired: i64,
    available: i64,
    updated: i64,
}

/// True when `ds` is fully rolled out on `nodes` nodes for its current generation.
fn rolled_out(ds: &DaemonSet, nodes: usize) -> bool {
    let Some(status) = ds.status.as_ref() else {
        return false;
    };
    let n = i32::try_from(nodes).unwrap_or(i32::MAX);
    let generation = ds.metadata.generation.unwrap_or(0);
    status.observed_generation.unwrap_or(0) >= generation
        && status.desired_number_scheduled == n
        && status.current_number_scheduled == n
        && status.updated_number_scheduled == Some(n)
        && status.number_available == Some(n)
}

fn totals<'a>(all: impl Iterator<Item = &'a DaemonSet>) -> Totals {
    let mut t = Totals::default();
    for ds in all {
        if let Some(s) = &ds.status {
            t.desired += i64::from(s.desired_number_scheduled);
            t.available += i64::from(s.number_available.unwrap_or(0));
            t.updated += i64::from(s.updated_number_scheduled.unwrap_or(0));
        }
    }
    t
}

/// Watches the named DaemonSets until every one is rolled out on `nodes` nodes and its
/// generation is at least `min_generation[name]`.
async fn wait_rolled_out(
    client: &kube::Client,
    names: &HashSet<String>,
    min_generation: i64,
    nodes: usize,
    deadline: Instant,
) -> anyhow::Result<Totals> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let stream = watcher::watcher(api, watcher::Config::default());
    let mut stream = std::pin::pin!(stream);
    let mut seen: HashMap<String, DaemonSet> = HashMap::new();
    let mut initial: HashMap<String, DaemonSet> = HashMap::new();
    let done = |seen: &HashMap<String, DaemonSet>| {
        names.iter().all(|n| {
            seen.get(n).is_some_and(|ds| {
                ds.metadata.generation.unwrap_or(0) >= min_generation && rolled_out(ds, nodes)
            })
        })
    };
    loop {
        let event = match next_before(&mut stream, deadline).await {
            Ok(event) => event,
            Err(err) => {
                let t = totals(seen.values());
                return Err(err.context(format!(
                    "waiting for {} DaemonSet(s) on {nodes} nodes (last seen: desired {}, updated {}, available {})",
                    names.len(),
                    t.desired,
                    t.updated,
                    t.available
                )));
            }
        };
        match event {
            Event::Init => initial.clear(),
            Event::InitApply(ds) => {
                let name = ds.metadata.name.clone().unwrap_or_default();
                if names.contains(&name) {
                    initial.insert(name, ds);
                }
            }
            Event::InitDone => seen = std::mem::take(&mut initial),
            Event::Apply(ds) => {
                let name = ds.metadata.name.clone().unwrap_or_default();
                if names.contains(&name) {
                    seen.insert(name, ds);
                }
            }
            Event::Delete(ds) => {
                seen.remove(ds.metadata.name.as_deref().unwrap_or_default());
            }
        }
        if done(&seen) {
            return Ok(totals(seen.values()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// converge

async fn converge(
    nodes: usize,
    daemonsets: usize,
    start_delay: Duration,
    timeout: Duration,
    event_window: Option<usize>,
) -> anyhow::Result<(String, bool)> {
    if nodes == 0 || daemonsets == 0 {
        bail!("--nodes and --daemonsets must be at least 1");
    }
    let started = Instant::now();
    let deadline = started + timeout;
    let plane = BenchPlane::start(nodes, start_delay, event_window).await?;
    let outcome = converge_on(&plane, nodes, daemonsets, start_delay, started, deadline).await;
    plane.stop().await;
    outcome
}

async fn converge_on(
    plane: &BenchPlane,
    nodes: usize,
    daemonsets: usize,
    start_delay: Duration,
    started: Instant,
    deadline: Instant,
) -> anyhow::Result<(String, bool)> {
    plane.wait_for_nodes(nodes, deadline).await?;
    let setup = started.elapsed().as_secs_f64();

    let api: Api<DaemonSet> = Api::namespaced(plane.driver.clone(), NAMESPACE);
    let names: HashSet<String> = (0..daemonsets).map(|i| format!("bench-{i}")).collect();
    let mark = plane.mark();
    for name in &names {
        let ds = bench_daemonset(name, RollingUpdateDaemonSet::default(), 0);
        api.create(&PostParams::default(), &ds)
            .await
            .with_context(|| format!("creating DaemonSet {name}"))?;
    }
    let t = wait_rolled_out(&plane.driver, &names, 1, nodes, deadline).await?;
    let window = plane.since(&mark);

    let mut out = serde_json::Map::new();
    out.insert("bench".into(), json!("converge"));
    out.insert("nodes".into(), json!(nodes));
    out.insert("daemonsets".into(), json!(daemonsets));
    out.insert(
        "start_delay_seconds".into(),
        json!(round3(start_delay.as_secs_f64())),
    );
    out.insert("setup_seconds".into(), json!(round3(setup)));
    out.insert("wall_seconds".into(), json!(round3(window.seconds)));
    out.insert("desired".into(), json!(t.desired));
    out.insert("available".into(), json!(t.available));
    out.insert("updated".into(), json!(t.updated));
    window.json_fields(&mut out);
    Ok((serde_json::Value::Object(out).to_string(), true))
}

// ---------------------------------------------------------------------------------------------
// rollout

struct RolloutParams {
    nodes: usize,
    max_unavailable: IntOrString,
    max_surge: IntOrString,
    start_delay: Duration,
    min_ready_seconds: i32,
    timeout: Duration,
    event_window: Option<usize>,
}

/// The rollout's budget and batch, resolved as the controller resolves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Resolved {
    /// Nodes allowed without an available pod.
    budget: i32,
    /// Nodes updated per step: maxUnavailable, or maxSurge when maxUnavailable is 0.
    batch: i32,
}

fn resolve(ds: &DaemonSet, nodes: usize) -> anyhow::Result<Resolved> {
    let desired = i32::try_from(nodes).context("--nodes is too large")?;
    let b = everynode_daemonset::rolling_update::resolve_budget(ds, desired)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let batch = if b.max_unavailable > 0 {
        b.max_unavailable
    } else {
        b.max_surge
    };
    Ok(Resolved {
        budget: b.max_unavailable,
        batch: batch.max(1),
    })
}

/// ceil(nodes / batch) x (start delay + minReadySeconds), in seconds.
fn bound_seconds(nodes: usize, batch: i32, start_delay: Duration, min_ready: i32) -> f64 {
    let batch = usize::try_from(batch.max(1)).unwrap_or(1);
    let steps = nodes.div_ceil(batch);
    steps as f64 * (start_delay.as_secs_f64() + f64::from(min_ready.max(0)))
}

/// Nodes without an available, non-terminating pod, tracked incrementally from pod events.
///
/// A node's pod becomes available at a known instant (Ready's lastTransitionTime plus
/// minReadySeconds), so between events the number of unavailable nodes can only fall; the
/// maximum is therefore always reached right after some event, where it is sampled.
struct AvailabilityTracker {
    min_ready: i32,
    /// Target nodes (every node runs the DaemonSet).
    nodes: usize,
    /// pod key → (node, the instant its pod counts as available, if it ever will).
    pods: HashMap<String, (String, Option<Timestamp>)>,
    /// node → pod keys on it.
    by_node: HashMap<String, HashSet<String>>,
    /// Nodes whose earliest availability instant is still in the future.
    pending: BTreeMap<(Timestamp, String), ()>,
    pending_of: HashMap<String, Timestamp>,
    /// Nodes with an available pod now.
    available: HashSet<String>,
    /// The most unavailable nodes observed so far.
    max_unavailable: usize,
}

impl AvailabilityTracker {
    fn new(nodes: usize, min_ready: i32) -> Self {
        AvailabilityTracker {
            min_ready,
            nodes,
            pods: HashMap::new(),
            by_node: HashMap::new(),
            pending: BTreeMap::new(),
            pending_of: HashMap::new(),
            available: HashSet::new(),
            max_unavailable: 0,
        }
    }

    /// When `pod` counts as available (strictly after the returned instant when
    /// minReadySeconds > 0), or None if it will not without a further change.
    fn available_from(&self, pod: &PodProgress) -> Option<Timestamp> {
        if pod.metadata.deletion_timestamp.is_some() || pod.is_terminal() {
            return None;
        }
        let cond = pod.ready_condition()?;
        if cond.status != "True" {
            return None;
        }
        if self.min_ready <= 0 {
            return Some(Timestamp::MIN);
        }
        // The engine's rule, so the budget is judged as the controller judges it.
        available_after(
            cond.last_transition_time.as_ref().map(|t| t.0),
            self.min_ready,
        )
    }

    fn key(pod: &PodProgress) -> String {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        )
    }

    fn apply(&mut self, pod: &PodProgress, now: Timestamp) {
        let key = Self::key(pod);
        let node = pod.node().unwrap_or_default().to_owned();
        let from = self.available_from(pod);
        let old_node = self
            .pods
            .insert(key.clone(), (node.clone(), from))
            .map(|p| p.0);
        if let Some(old) = old_node.filter(|o| *o != node) {
            if let Some(set) = self.by_node.get_mut(&old) {
                set.remove(&key);
            }
            self.refresh(&old, now);
        }
        if !node.is_empty() {
            self.by_node.entry(node.clone()).or_default().insert(key);
            self.refresh(&node, now);
        }
    }

    fn delete(&mut self, pod: &PodProgress, now: Timestamp) {
        let key = Self::key(pod);
        if let Some((node, _)) = self.pods.remove(&key) {
            if let Some(set) = self.by_node.get_mut(&node) {
                set.remove(&key);
            }
            self.refresh(&node, now);
        }
    }

    /// Recomputes one node's state.
    fn refresh(&mut self, node: &str, now: Timestamp) {
        if let Some(at) = self.pending_of.remove(node) {
            self.pending.remove(&(at, node.to_string()));
        }
        self.available.remove(node);
        let earliest = self.by_node.get(node).and_then(|keys| {
            keys.iter()
                .filter_map(|k| self.pods.get(k).and_then(|p| p.1))
                .min()
        });
        if let Some(at) = earliest {
            if self.min_ready <= 0 || at < now {
                self.available.insert(node.to_string());
            } else {
                self.pending.insert((at, node.to_string()), ());
                self.pending_of.insert(node.to_string(), at);
            }
        }
    }

    /// Moves nodes whose pods became available by `now`, then samples the unavailable count.
    fn sample(&mut self, now: Timestamp) -> usize {
        while let Some(((at, _), ())) = self.pending.first_key_value() {
            if *at >= now {
                break;
            }
            if let Some(((_, node), ())) = self.pending.pop_first() {
                self.pending_of.remove(&node);
                self.available.insert(node);
            }
        }
        let unavailable = self.nodes.saturating_sub(self.available.len());
        self.max_unavailable = self.max_unavailable.max(unavailable);
        unavailable
    }
}

async fn rollout(p: RolloutParams) -> anyhow::Result<(String, bool)> {
    if p.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if p.min_ready_seconds < 0 {
        bail!("--min-ready-seconds must not be negative");
    }
    let rolling = RollingUpdateDaemonSet {
        max_unavailable: Some(p.max_unavailable.clone()),
        max_surge: Some(p.max_surge.clone()),
    };
    let ds = bench_daemonset("bench-rollout", rolling, p.min_ready_seconds);
    let resolved = resolve(&ds, p.nodes)?;
    let started = Instant::now();
    let deadline = started + p.timeout;
    let plane = BenchPlane::start(p.nodes, p.start_delay, p.event_window).await?;
    let outcome = rollout_on(&plane, &p, ds, resolved, started, deadline).await;
    plane.stop().await;
    outcome
}

async fn rollout_on(
    plane: &BenchPlane,
    p: &RolloutParams,
    ds: DaemonSet,
    resolved: Resolved,
    started: Instant,
    deadline: Instant,
) -> anyhow::Result<(String, bool)> {
    plane.wait_for_nodes(p.nodes, deadline).await?;
    let setup = started.elapsed().as_secs_f64();
    let name = ds.metadata.name.clone().unwrap_or_default();
    let names: HashSet<String> = [name.clone()].into();
    let api: Api<DaemonSet> = Api::namespaced(plane.driver.clone(), NAMESPACE);

    let converge_start = Instant::now();
    api.create(&PostParams::default(), &ds)
        .await
        .context("creating the DaemonSet")?;
    wait_rolled_out(&plane.driver, &names, 1, p.nodes, deadline)
        .await
        .context("initial convergence")?;
    let converge_seconds = converge_start.elapsed().as_secs_f64();

    // Start watching pods and take the initial list before changing anything, so every
    // transition of the rollout is observed.
    // Only whether each pod is available is read: decoding whole pods would make the
    // benchmark itself a noticeable share of the CPU it measures.
    let pods: Api<PodProgress> = Api::namespaced(plane.driver.clone(), NAMESPACE);
    let selector = format!("{APP_LABEL}={name}");
    let pod_stream = watcher::watcher(pods, watcher::Config::default().labels(&selector));
    let mut pod_stream = std::pin::pin!(pod_stream);
    let mut tracker = AvailabilityTracker::new(p.nodes, p.min_ready_seconds);
    let mut initial: Vec<PodProgress> = Vec::new();
    loop {
        match next_before(&mut pod_stream, deadline).await? {
            Event::Init => initial.clear(),
            Event::InitApply(pod) => initial.push(pod),
            Event::InitDone => break,
            Event::Apply(pod) => initial.push(pod),
            Event::Delete(_) => {}
        }
    }
    let now = Timestamp::now();
    for pod in &initial {
        tracker.apply(pod, now);
    }
    tracker.sample(now);
    drop(initial);

    let ds_stream = watcher::watcher(
        api.clone(),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    );
    let mut ds_stream = std::pin::pin!(ds_stream);
    let mark = plane.mark();
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "agent", "image": IMAGE_V2}
    ]}}}});
    let updated = api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .context("changing the image")?;
    let generation = updated.metadata.generation.unwrap_or(0);

    let mut last: Option<DaemonSet> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            event = pod_stream.next() => match event {
                Some(Ok(Event::Apply(pod) | Event::InitApply(pod))) => {
                    let now = Timestamp::now();
                    tracker.apply(&pod, now);
                    tracker.sample(now);
                }
                Some(Ok(Event::Delete(pod))) => {
                    let now = Timestamp::now();
                    tracker.delete(&pod, now);
                    tracker.sample(now);
                }
                Some(Ok(Event::Init | Event::InitDone)) => {}
                Some(Err(err)) => tracing::warn!(%err, "bench: pod watch error; retrying"),
                None => bail!("the pod watch ended"),
            },
            event = ds_stream.next() => match event {
                Some(Ok(Event::Apply(ds) | Event::InitApply(ds))) => {
                    let done = ds.metadata.generation.unwrap_or(0) >= generation
                        && rolled_out(&ds, p.nodes);
                    last = Some(ds);
                    if done {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => tracing::warn!(%err, "bench: DaemonSet watch error; retrying"),
                None => bail!("the DaemonSet watch ended"),
            },
            _ = tokio::time::sleep(left) => {
                let t = totals(last.iter());
                bail!(
                    "rollout not finished in time (last seen: desired {}, updated {}, available {})",
                    t.desired, t.updated, t.available
                );
            }
        }
    }
    let window = plane.since(&mark);
    let t = totals(last.iter());

    let bound = bound_seconds(p.nodes, resolved.batch, p.start_delay, p.min_ready_seconds);
    let ratio = (bound > 0.0).then(|| round3(window.seconds / bound));
    let budget = usize::try_from(resolved.budget.max(0)).unwrap_or(0);
    let budget_held = tracker.max_unavailable <= budget;

    let mut out = serde_json::Map::new();
    out.insert("bench".into(), json!("rollout"));
    out.insert("nodes".into(), json!(p.nodes));
    out.insert(
        "max_unavailable".into(),
        json!(int_or_string_text(&p.max_unavailable)),
    );
    out.insert("max_surge".into(), json!(int_or_string_text(&p.max_surge)));
    out.insert("batch".into(), json!(resolved.batch));
    out.insert("budget".into(), json!(resolved.budget));
    out.insert(
        "start_delay_seconds".into(),
        json!(round3(p.start_delay.as_secs_f64())),
    );
    out.insert("min_ready_seconds".into(), json!(p.min_ready_seconds));
    out.insert("setup_seconds".into(), json!(round3(setup)));
    out.insert("converge_seconds".into(), json!(round3(converge_seconds)));
    out.insert("rollout_seconds".into(), json!(round3(window.seconds)));
    out.insert("bound_seconds".into(), json!(round3(bound)));
    out.insert("ratio".into(), json!(ratio));
    out.insert(
        "max_unavailable_observed".into(),
        json!(tracker.max_unavailable),
    );
    out.insert("budget_held".into(), json!(budget_held));
    out.insert("desired".into(), json!(t.desired));
    out.insert("available".into(), json!(t.available));
    out.insert("updated".into(), json!(t.updated));
    window.json_fields(&mut out);
    Ok((serde_json::Value::Object(out).to_string(), budget_held))
}

#[cfg(test)]
mod tests {
    use super::*;
    use everynode_cluster::{ProgressSpec, ProgressStatus};
    use k8s_openapi::api::core::v1::PodCondition;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn int_or_percent_accepts_counts_and_percentages_only() {
        let table: [(&str, Option<IntOrString>); 6] = [
            ("10%", Some(IntOrString::String("10%".into()))),
            ("50", Some(IntOrString::Int(50))),
            ("0", Some(IntOrString::Int(0))),
            ("-1", None),
            ("ten", None),
            ("x%", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_int_or_percent(text).ok(), want, "{text}");
        }
    }

    #[test]
    fn batch_is_max_unavailable_or_max_surge_when_unavailable_is_zero() {
        // (nodes, maxUnavailable, maxSurge, budget, batch)
        let table = [
            (
                1000,
                IntOrString::String("10%".into()),
                IntOrString::Int(0),
                100,
                100,
            ),
            (
                5,
                IntOrString::String("20%".into()),
                IntOrString::Int(0),
                1,
                1,
            ),
            (
                3,
                IntOrString::String("50%".into()),
                IntOrString::Int(0),
                2,
                2,
            ),
            (
                100,
                IntOrString::Int(0),
                IntOrString::String("10%".into()),
                0,
                10,
            ),
            (100, IntOrString::Int(0), IntOrString::Int(0), 1, 1),
        ];
        for (nodes, mu, ms, budget, batch) in table {
            let ds = bench_daemonset(
                "x",
                RollingUpdateDaemonSet {
                    max_unavailable: Some(mu.clone()),
                    max_surge: Some(ms.clone()),
                },
                0,
            );
            assert_eq!(
                resolve(&ds, nodes).ok(),
                Some(Resolved { budget, batch }),
                "{nodes} {mu:?} {ms:?}"
            );
        }
    }

    #[test]
    fn bound_is_steps_times_delay_plus_min_ready() {
        let table = [
            (1000, 100, Duration::from_secs(1), 0, 10.0),
            (1001, 100, Duration::from_secs(1), 0, 11.0),
            (10, 3, Duration::from_millis(500), 2, 4.0 * 2.5),
            (10, 10, Duration::ZERO, 0, 0.0),
        ];
        for (nodes, batch, delay, min_ready, want) in table {
            let got = bound_seconds(nodes, batch, delay, min_ready);
            assert!(
                (got - want).abs() < 1e-9,
                "{nodes}/{batch}: {got} != {want}"
            );
        }
    }

    #[test]
    fn requests_are_classified_by_verb_and_resource() {
        let table = [
            ("POST", "/api/v1/namespaces/default/pods", "", "create pods"),
            (
                "GET",
                "/api/v1/pods",
                "watch=true&resourceVersion=5",
                "watch pods",
            ),
            ("GET", "/api/v1/nodes", "limit=500", "list nodes"),
            (
                "GET",
                "/apis/apps/v1/namespaces/default/daemonsets/ds",
                "",
                "get daemonsets",
            ),
            (
                "PUT",
                "/apis/apps/v1/namespaces/default/daemonsets/ds/status",
                "",
                "update daemonsets/status",
            ),
            (
                "POST",
                "/api/v1/namespaces/default/pods/p/binding",
                "",
                "create pods/binding",
            ),
            (
                "PATCH",
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
                "",
                "patch leases",
            ),
            ("DELETE", "/api/v1/namespaces/ns1", "", "delete namespaces"),
            ("GET", "/version", "", "GET /version"),
        ];
        for (method, path, query, want) in table {
            let method: http::Method = method.parse().unwrap();
            assert_eq!(request_kind(&method, path, query), want, "{path}?{query}");
        }
    }

    #[test]
    fn proc_status_fields_parse_in_kib() {
        let text = "Name:\teverynode\nVmHWM:\t  123456 kB\nVmRSS:\t  2048 kB\n";
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(123_456));
        assert_eq!(parse_status_kib(text, "VmRSS"), Some(2048));
        assert_eq!(parse_status_kib(text, "VmSwap"), None);
    }

    fn pod(name: &str, node: &str, ready_since: Option<Timestamp>, deleting: bool) -> PodProgress {
        PodProgress {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                deletion_timestamp: deleting.then(|| Time(Timestamp::now())),
                ..ObjectMeta::default()
            },
            spec: Some(ProgressSpec {
                node_name: Some(node.into()),
            }),
            status: Some(ProgressStatus {
                phase: Some("Running".into()),
                conditions: ready_since.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(t)),
                        ..PodCondition::default()
                    }]
                }),
            }),
        }
    }

    #[test]
    fn tracker_counts_nodes_without_an_available_pod() {
        let t0 = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let at = |s: i64| {
            t0.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(s))
                .unwrap_or(t0)
        };
        let mut tr = AvailabilityTracker::new(3, 0);
        assert_eq!(tr.sample(at(0)), 3, "no pods yet");
        tr.apply(&pod("a", "n1", Some(at(0)), false), at(0));
        tr.apply(&pod("b", "n2", Some(at(0)), false), at(0));
        tr.apply(&pod("c", "n3", None, false), at(0));
        assert_eq!(tr.sample(at(0)), 1, "n3's pod is not ready");
        tr.apply(&pod("a", "n1", Some(at(0)), true), at(1));
        assert_eq!(tr.sample(at(1)), 2, "a terminating pod is not available");
        tr.delete(&pod("a", "n1", None, true), at(2));
        tr.apply(&pod("c", "n3", Some(at(2)), false), at(2));
        assert_eq!(tr.sample(at(2)), 1);
        assert_eq!(tr.max_unavailable, 3);
    }

    #[test]
    fn tracker_makes_pods_available_after_min_ready_seconds() {
        let t0 = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let at = |s: i64| {
            t0.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(s))
                .unwrap_or(t0)
        };
        let mut tr = AvailabilityTracker::new(2, 5);
        tr.apply(&pod("a", "n1", Some(at(0)), false), at(0));
        tr.apply(&pod("b", "n2", Some(at(3)), false), at(3));
        assert_eq!(tr.sample(at(3)), 2);
        assert_eq!(
            tr.sample(at(5)),
            2,
            "ready + 5 s is not strictly before now"
        );
        assert_eq!(tr.sample(at(6)), 1);
        assert_eq!(tr.sample(at(9)), 0);
        // A surge pod on n1 that is not yet available does not hide the available old one.
        tr.apply(&pod("a2", "n1", Some(at(9)), false), at(9));
        assert_eq!(tr.sample(at(10)), 0);
    }

    #[test]
    fn tracker_never_counts_a_go_zero_transition_time_as_available() {
        // Go's zero time.Time, as Go clients may write it: upstream treats it as unset, so
        // with minReadySeconds the pod never becomes available, however late it is.
        let zero = Timestamp::from_second(-62_135_596_800).unwrap_or(Timestamp::MIN);
        let late = Timestamp::from_second(2_000_000_000).unwrap_or(Timestamp::MAX);
        let mut tr = AvailabilityTracker::new(1, 5);
        tr.apply(&pod("a", "n1", Some(zero), false), late);
        assert_eq!(tr.sample(late), 1);
        let mut without_min_ready = AvailabilityTracker::new(1, 0);
        without_min_ready.apply(&pod("a", "n1", Some(zero), false), late);
        assert_eq!(
            without_min_ready.sample(late),
            0,
            "Ready is enough without it"
        );
    }
}
