//! End-to-end: each component against the embedded API server, through the kube client
//! exactly as `everynode up` wires them.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use everynode_apiserver::{ApiServer, ApiServerConfig};
use everynode_cluster::{fleet, garbage_collector, node_lifecycle, pod_gc, scheduler};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

/// One request the components made: method, path, response status.
type Seen = (String, String, u16);

struct Plane {
    server: Option<ApiServer>,
    /// Every request through `client`, in order, so tests can pin down how many were made.
    requests: Arc<Mutex<Vec<Seen>>>,
    client: Client,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Plane {
    async fn start() -> Plane {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = ApiServer::start(ApiServerConfig {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..ApiServerConfig::default()
        })
        .await
        .expect("API server starts");
        let requests: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = requests.clone();
        let router = server.router().layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    let method = req.method().to_string();
                    let path = req.uri().path().to_owned();
                    let response = next.run(req).await;
                    let status = response.status().as_u16();
                    log.lock()
                        .expect("request log")
                        .push((method, path, status));
                    response
                }
            },
        ));
        let client = Client::new(router, "default");
        Plane {
            server: Some(server),
            requests,
            client,
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
            _dir: dir,
        }
    }

    fn spawn<F, Fut>(&mut self, component: F)
    where
        F: FnOnce(Client, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), everynode_cluster::ClusterError>> + Send + 'static,
    {
        let fut = component(self.client.clone(), self.shutdown.clone());
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = fut.await {
                panic!("component failed: {err}");
            }
        }));
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("component stops")
                .expect("component ok");
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// Polls `check` until it yields a value or the deadline passes.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn node(name: &str, memory: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "kubernetes.io/hostname": name } },
        "status": {
            "capacity": { "cpu": "4", "memory": memory, "pods": "110" },
            "allocatable": { "cpu": "4", "memory": memory, "pods": "110" },
            "conditions": [{ "type": "Ready", "status": "True" }],
        },
    }))
    .expect("node")
}

/// A daemon-style pod: pinned to `node` through matchFields, with a memory request.
fn pinned_pod(name: &str, node: &str, memory: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "schedulerName": "default-scheduler",
            "containers": [{ "name": "c", "image": "busybox:1",
                "resources": { "requests": { "memory": memory } } }],
            "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{ "matchFields": [
                    { "key": "metadata.name", "operator": "In", "values": [node] }
                ]}]
            }}},
        },
    }))
    .expect("pod")
}

fn condition(pod: &Pod, kind: &str) -> Option<(String, Option<String>, Option<String>)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits for an event with `reason` about pod `name` and returns its message.
async fn wait_for_event(client: &Client, name: &str, reason: &str) -> String {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    wait_for(&format!("a {reason} event"), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
            })
            .and_then(|e| e.message)
    })
    .await
}

async fn create_nodes(client: &Client, nodes: &[Node]) {
    let api: Api<Node> = Api::all(client.clone());
    for n in nodes {
        api.create(&PostParams::default(), n)
            .await
            .expect("node created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_binds_a_pinned_pod_to_its_node() {
    let mut plane = Plane::start().await;
    create_nodes(&plane.client, &[node("n1", "1Gi"), node("n2", "1Gi")]).await;
    plane.spawn(|c, s| scheduler::run(c, scheduler::SchedulerConfig::default(), s));
    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "default");
    pods.create(&PostParams::default(), &pinned_pod("p", "n2", "100Mi"))
        .await
        .expect("pod created");

    let bound = wait_for("the pod to be bound", || async {
        let pod = pods.get("p").await.ok()?;
        pod.spec.as_ref()?.node_name.clone().map(|n| (n, pod))
    })
    .await;
    assert_eq!(bound.0, "n2");
    assert_eq!(
        condition(&bound.1, "PodScheduled").map(|c| c.0).as_deref(),
        Some("True")
    );
    let message = wait_for_event(&plane.client, "p", "Scheduled").await;
    assert_eq!(message, "Successfully assigned default/p to n2");
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_leaves_pod_pending_with_upstream_message_when_memory_lacks() {
    let mut plane = Plane::start().await;
    create_nodes(
        &plane.client,
        &[node("small", "100M"), node("other", "1Gi")],
    )
    .await;
    plane.spawn(|c, s| scheduler::run(c, scheduler::SchedulerConfig::default(), s));
    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "default");
    pods.create(&PostParams::default(), &pinned_pod("big", "small", "120M"))
        .await
        .expect("pod created");

    let (status, reason, message) = wait_for("PodScheduled=False", || async {
        let pod = pods.get("big").await.ok()?;
        condition(&pod, "PodScheduled").filter(|c| c.0 == "False")
    })
    .await;
    assert_eq!(status, "False");
    assert_eq!(reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        message.as_deref(),
        Some(
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector."
        )
    );
    let event = wait_for_event(&plane.client, "big", "FailedScheduling").await;
    assert!(
        event.starts_with("0/2 nodes are available: 1 Insufficient memory"),
        "{event}"
    );
    let pod = pods.get("big").await.expect("pod");
    assert_eq!(pod.spec.and_then(|s| s.node_name), None, "never bound");

    // More memory on the node makes it schedulable (the scheduler retries on node changes).
    let nodes: Api<Node> = Api::all(plane.client.clone());
    let patch = json!({ "status": { "allocatable": { "memory": "1Gi" }, "capacity": { "memory": "1Gi" } } });
    nodes
        .patch_status("small", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("node patched");
    wait_for("the pod to be bound after the node grew", || async {
        pods.get("big")
            .await
            .ok()?
            .spec?
            .node_name
            .filter(|n| n == "small")
    })
    .await;
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_preempts_lower_priority_pod_on_pinned_node() {
    let mut plane = Plane::start().await;
    create_nodes(&plane.client, &[node("n1", "200Mi")]).await;
    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "default");
    let classes: Api<PriorityClass> = Api::all(plane.client.clone());
    let class: PriorityClass =
        serde_json::from_value(json!({ "metadata": { "name": "important" }, "value": 1000 }))
            .expect("class");
    classes
        .create(&PostParams::default(), &class)
        .await
        .expect("class created");
    let mut low = pinned_pod("low", "n1", "150Mi");
    if let Some(spec) = low.spec.as_mut() {
        spec.node_name = Some("n1".into());
    }
    pods.create(&PostParams::default(), &low)
        .await
        .expect("low created");
    plane.spawn(|c, s| scheduler::run(c, scheduler::SchedulerConfig::default(), s));
    let mut high = pinned_pod("high", "n1", "150Mi");
    if let Some(spec) = high.spec.as_mut() {
        spec.priority_class_name = Some("important".into());
    }
    pods.create(&PostParams::default(), &high)
        .await
        .expect("high created");

    let nominated = wait_for("the preemptor to be nominated", || async {
        pods.get("high").await.ok()?.status?.nominated_node_name
    })
    .await;
    assert_eq!(nominated, "n1");
    wait_for("the victim to be deleting or gone", || async {
        match pods.get_opt("low").await.ok()? {
            None => Some(()),
            Some(p) => p.metadata.deletion_timestamp.map(|_| ()),
        }
    })
    .await;
    // Finish the victim's deletion as a kubelet would; the preemptor then binds.
    let _ = pods
        .delete(
            "low",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await;
    wait_for("the preemptor to be bound", || async {
        pods.get("high")
            .await
            .ok()?
            .spec?
            .node_name
            .filter(|n| n == "n1")
    })
    .await;
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_creates_nodes_heartbeats_and_readies_a_bound_pod() {
    let mut plane = Plane::start().await;
    let config = fleet::FleetConfig {
        profile: fleet::FleetProfile::uniform(2, "sim-"),
        start_delay: Duration::from_millis(200),
        heartbeat_interval: Duration::from_millis(300),
        ..fleet::FleetConfig::default()
    };
    plane.spawn(move |c, s| fleet::run(c, config, s));
    let nodes: Api<Node> = Api::all(plane.client.clone());
    let node = wait_for("simulated node", || async { nodes.get("sim-1").await.ok() }).await;
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    assert_eq!(ready.as_deref(), Some("True"));

    let leases: Api<Lease> = Api::namespaced(plane.client.clone(), "kube-node-lease");
    let first = wait_for("a lease", || async {
        leases.get("sim-0").await.ok()?.spec?.renew_time
    })
    .await;
    wait_for("a renewed lease", || async {
        let renewed = leases.get("sim-0").await.ok()?.spec?.renew_time?;
        (renewed.0 > first.0).then_some(())
    })
    .await;
    // A node's first heartbeat creates its Lease outright; later ones renew it. No request
    // is spent on a PATCH that 404s, nor on a create that 409s.
    let lease_writes = wait_for("both leases renewed by PATCH", || async {
        let writes: Vec<Seen> = plane
            .requests
            .lock()
            .expect("request log")
            .iter()
            .filter(|(method, path, _)| {
                method != "GET"
                    && path.starts_with(
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    )
            })
            .cloned()
            .collect();
        let renewed = |node: &str| {
            let suffix = format!("/{node}");
            writes
                .iter()
                .any(|(m, path, status)| m == "PATCH" && path.ends_with(&suffix) && *status == 200)
        };
        (renewed("sim-0") && renewed("sim-1")).then_some(writes)
    })
    .await;
    let creates = lease_writes.iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(creates, 2, "one create per node: {lease_writes:?}");
    assert!(
        lease_writes.iter().all(|(_, _, status)| *status < 300),
        "no lease write fails: {lease_writes:?}"
    );

    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "default");
    let mut pod = pinned_pod("web", "sim-0", "10Mi");
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some("sim-0".into());
    }
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    let running = wait_for("the pod to be Ready", || async {
        let pod = pods.get("web").await.ok()?;
        (condition(&pod, "Ready")?.0 == "True").then_some(pod)
    })
    .await;
    let status = running.status.clone().unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(
        status
            .pod_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("10.244.")),
        "{:?}",
        status.pod_ip
    );
    assert_eq!(status.host_ip.as_deref(), Some("10.1.0.1"));
    let cs = status.container_statuses.unwrap_or_default();
    assert_eq!(cs.len(), 1);
    assert!(cs[0].ready && cs[0].started == Some(true));
    assert!(
        cs[0]
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_some()
    );

    // A Node created by someone else is simulated too: it gets defaults and goes Ready.
    let bare: Node =
        serde_json::from_value(json!({ "metadata": { "name": "byhand" } })).expect("node");
    nodes
        .create(&PostParams::default(), &bare)
        .await
        .expect("bare node created");
    let adopted = wait_for("the hand-made node to be Ready", || async {
        let node = nodes.get("byhand").await.ok()?;
        let status = node.status.clone()?;
        let ready = status
            .conditions?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(node)
    })
    .await;
    let status = adopted.status.unwrap_or_default();
    assert_eq!(
        status
            .allocatable
            .unwrap_or_default()
            .get("pods")
            .map(|q| q.0.as_str()),
        Some("110")
    );
    assert!(
        status
            .addresses
            .unwrap_or_default()
            .iter()
            .any(|a| a.type_ == "InternalIP")
    );

    // Graceful deletion is finished by the simulated kubelet.
    pods.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("the pod to be gone", || async {
        pods.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collector_cascades_background_and_orphan_deletes() {
    let mut plane = Plane::start().await;
    plane.spawn(garbage_collector::run);
    let dss: Api<DaemonSet> = Api::namespaced(plane.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "default");
    let ds_json = |name: &str| {
        json!({
            "metadata": { "name": name },
            "spec": {
                "selector": { "matchLabels": { "app": name } },
                "template": {
                    "metadata": { "labels": { "app": name } },
                    "spec": { "containers": [{ "name": "c", "image": "busybox:1" }] },
                },
            },
        })
    };
    for name in ["bg", "keep"] {
        let ds: DaemonSet = serde_json::from_value(ds_json(name)).expect("ds");
        let ds = dss
            .create(&PostParams::default(), &ds)
            .await
            .expect("ds created");
        let uid = ds.metadata.uid.clone().expect("uid");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": format!("{name}-pod"), "labels": { "app": name },
                "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "DaemonSet", "name": name,
                    "uid": uid, "controller": true, "blockOwnerDeletion": true }] },
            "spec": { "containers": [{ "name": "c", "image": "busybox:1" }] },
        }))
        .expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("pod created");
    }

    dss.delete("bg", &DeleteParams::background())
        .await
        .expect("delete bg");
    wait_for("the dependent to be deleted", || async {
        pods.get_opt("bg-pod").await.ok()?.is_none().then_some(())
    })
    .await;

    // Foreground: the owner waits (finalizer) until the GC has deleted its dependents.
    let ds: DaemonSet = serde_json::from_value(ds_json("fg")).expect("ds");
    let ds = dss
        .create(&PostParams::default(), &ds)
        .await
        .expect("ds created");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "fg-pod", "labels": { "app": "fg" },
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fg",
                "uid": ds.metadata.uid.clone().expect("uid"), "controller": true, "blockOwnerDeletion": true }] },
        "spec": { "containers": [{ "name": "c", "image": "busybox:1" }] },
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    dss.delete("fg", &DeleteParams::foreground())
        .await
        .expect("delete fg");
    wait_for(
        "the foreground owner and its dependent to be gone",
        || async {
            let owner_gone = dss.get_opt("fg").await.ok()?.is_none();
            let dependent_gone = pods.get_opt("fg-pod").await.ok()?.is_none();
            (owner_gone && dependent_gone).then_some(())
        },
    )
    .await;

    dss.delete("keep", &DeleteParams::orphan())
        .await
        .expect("delete keep");
    wait_for("the owner to be gone", || async {
        dss.get_opt("keep").await.ok()?.is_none().then_some(())
    })
    .await;
    let orphan = pods.get("keep-pod").await.expect("orphaned pod stays");
    assert!(
        orphan
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "ownerReference stripped"
    );
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_gc_removes_pods_of_a_deleted_node() {
    let mut plane = Plane::start().await;
    create_nodes(&plane.client, &[node("doomed", "1Gi")]).await;
    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "default");
    let mut pod = pinned_pod("stranded", "doomed", "10Mi");
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some("doomed".into());
    }
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    let config = pod_gc::PodGcConfig {
        quarantine: Duration::from_millis(300),
        interval: Duration::from_millis(100),
    };
    plane.spawn(move |c, s| pod_gc::run(c, config, s));
    let nodes: Api<Node> = Api::all(plane.client.clone());
    nodes
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("node deleted");
    wait_for("the pod to be collected", || async {
        pods.get_opt("stranded").await.ok()?.is_none().then_some(())
    })
    .await;
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_lifecycle_marks_silent_node_unknown_and_taints_it() {
    let mut plane = Plane::start().await;
    let fleet_config = fleet::FleetConfig {
        profile: fleet::FleetProfile::uniform(2, "hb-"),
        heartbeat_interval: Duration::from_millis(100),
        ..fleet::FleetConfig::default()
    };
    plane.spawn(move |c, s| fleet::run(c, fleet_config, s));
    // The grace period is 30 heartbeats long, so only the paused node can plausibly miss it,
    // even on a machine busy compiling.
    let lifecycle = node_lifecycle::NodeLifecycleConfig {
        grace_period: Duration::from_secs(3),
        monitor_period: Duration::from_millis(100),
    };
    plane.spawn(move |c, s| node_lifecycle::run(c, lifecycle, s));
    let nodes: Api<Node> = Api::all(plane.client.clone());
    wait_for("nodes", || async { nodes.get("hb-1").await.ok() }).await;
    let pause =
        json!({ "metadata": { "annotations": { fleet::HEARTBEAT_PAUSED_ANNOTATION: "true" } } });
    nodes
        .patch("hb-0", &PatchParams::default(), &Patch::Merge(&pause))
        .await
        .expect("paused");

    let silent = wait_for("hb-0 to go Unknown with unreachable taints", || async {
        let node = nodes.get("hb-0").await.ok()?;
        let taints = node.spec.as_ref()?.taints.clone()?;
        let has = |effect: &str| {
            taints
                .iter()
                .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == effect)
        };
        (has("NoSchedule") && has("NoExecute")).then_some(node)
    })
    .await;
    let ready = silent
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.into_iter().find(|c| c.type_ == "Ready"))
        .expect("Ready condition");
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    let healthy = nodes.get("hb-1").await.expect("hb-1");
    assert!(
        healthy
            .spec
            .and_then(|s| s.taints)
            .unwrap_or_default()
            .is_empty(),
        "a heartbeating node stays untainted"
    );

    // Resuming heartbeats clears the taints.
    let resume =
        json!({ "metadata": { "annotations": { fleet::HEARTBEAT_PAUSED_ANNOTATION: null } } });
    nodes
        .patch("hb-0", &PatchParams::default(), &Patch::Merge(&resume))
        .await
        .expect("resumed");
    wait_for("hb-0 to recover", || async {
        let node = nodes.get("hb-0").await.ok()?;
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        taints.is_empty().then_some(())
    })
    .await;
    plane.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_failure_injection_never_ready_and_crash_loop() {
    for (fraction_never, fraction_crash, name) in [(1.0, 0.0, "never"), (0.0, 1.0, "crash")] {
        let mut plane = Plane::start().await;
        let config = fleet::FleetConfig {
            profile: fleet::FleetProfile::uniform(1, "f-"),
            start_delay: Duration::ZERO,
            never_ready_fraction: fraction_never,
            crash_fraction: fraction_crash,
            ..fleet::FleetConfig::default()
        };
        plane.spawn(move |c, s| fleet::run(c, config, s));
        let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "default");
        let mut pod = pinned_pod(name, "f-0", "10Mi");
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_name = Some("f-0".into());
        }
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("pod created");
        let running = wait_for("the pod to run", || async {
            let pod = pods.get(name).await.ok()?;
            (pod.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(pod)
        })
        .await;
        assert_eq!(
            condition(&running, "Ready").map(|c| c.0).as_deref(),
            Some("False"),
            "{name}"
        );
        let cs = running
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default();
        let waiting = cs[0]
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone());
        if name == "crash" {
            assert_eq!(waiting.as_deref(), Some("CrashLoopBackOff"));
            assert!(cs[0].restart_count >= 1);
        } else {
            assert_eq!(waiting, None);
            assert!(cs[0].started == Some(true) && !cs[0].ready);
        }
        plane.stop().await;
    }
}
