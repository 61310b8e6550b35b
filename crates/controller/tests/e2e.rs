//! End to end against the embedded API server, in process (no TLS): the controller turns a
//! DaemonSet into one pinned pod per node, and leader election keeps two instances from
//! acting at once.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use everynode_apiserver::{ApiServer, ApiServerConfig};
use everynode_controller::{ControllerConfig, LeaderElectionConfig, Metrics, run_with_metrics};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};
use tokio::sync::oneshot;
use tokio::time::Instant;

async fn start_server() -> (ApiServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ApiServerConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..ApiServerConfig::new(dir.path())
    };
    let server = ApiServer::start(config).await.expect("server starts");
    (server, dir)
}

async fn create_nodes(client: &kube::Client, names: &[&str]) {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in names {
        let node: Node = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        }))
        .expect("node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
    }
}

async fn create_daemonset(client: &kube::Client, name: &str) -> DaemonSet {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let ds: DaemonSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "agent", "image": "agent:v1"}]}
            }
        }
    }))
    .expect("ds");
    api.create(&PostParams::default(), &ds)
        .await
        .expect("create ds")
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pinned_node(pod: &Pod) -> Option<String> {
    let terms = &pod
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let [term] = terms.as_slice() else {
        return None;
    };
    let [field] = term.match_fields.as_deref()? else {
        return None;
    };
    if field.key != "metadata.name" || field.operator != "In" {
        return None;
    }
    let [value] = field.values.as_deref()? else {
        return None;
    };
    Some(value.clone())
}

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), everynode_controller::ControllerError>>,
    metrics: Arc<Metrics>,
}

impl Running {
    fn start(client: &kube::Client, leader_election: Option<LeaderElectionConfig>) -> Self {
        let (tx, rx) = oneshot::channel();
        let metrics = Arc::new(Metrics::new());
        let config = ControllerConfig {
            concurrency: 2,
            metrics_addr: None,
            leader_election,
        };
        let task = tokio::spawn(run_with_metrics(
            client.clone(),
            config,
            metrics.clone(),
            async {
                let _ = rx.await;
            },
        ));
        Running {
            stop: Some(tx),
            task,
            metrics,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let ended = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        assert!(
            matches!(ended, Ok(Ok(Ok(())))),
            "controller stops cleanly: {ended:?}"
        );
    }
}

async fn daemon_pods(client: &kube::Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_gets_one_pinned_owned_pod_per_node_and_status() {
    let (server, _dir) = start_server().await;
    let client = kube::Client::new(server.router(), "default");
    create_nodes(&client, &["n1", "n2", "n3"]).await;
    let ds = create_daemonset(&client, "agent").await;
    let uid = ds.metadata.uid.clone().expect("uid");
    let controller = Running::start(&client, None);

    let pods = eventually("3 daemon pods", Duration::from_secs(30), || async {
        let pods = daemon_pods(&client, "agent").await;
        (pods.len() >= 3).then_some(pods)
    })
    .await;
    assert_eq!(pods.len(), 3);
    let nodes: BTreeSet<String> = pods.iter().filter_map(pinned_node).collect();
    assert_eq!(
        nodes,
        ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect()
    );
    for pod in &pods {
        let owner = pod
            .metadata
            .owner_references
            .as_ref()
            .and_then(|refs| refs.iter().find(|r| r.controller == Some(true)))
            .expect("controller ref");
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("DaemonSet", "agent", uid.as_str())
        );
        let labels: BTreeMap<String, String> = pod.metadata.labels.clone().unwrap_or_default();
        assert!(
            labels.contains_key("controller-revision-hash"),
            "{labels:?}"
        );
        assert_eq!(
            labels.get("pod-template-generation").map(String::as_str),
            Some("1")
        );
        assert!(
            pod.spec.as_ref().is_some_and(|s| s.node_name.is_none()),
            "the scheduler binds"
        );
    }

    let api: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    eventually(
        "status.desiredNumberScheduled == 3",
        Duration::from_secs(30),
        || async {
            let ds = api.get("agent").await.ok()?;
            let st = ds.status?;
            (st.desired_number_scheduled == 3 && st.current_number_scheduled == 3).then_some(())
        },
    )
    .await;
    assert_eq!(controller.metrics.pods_created(), 3);

    // A new node gets its pod.
    create_nodes(&client, &["n4"]).await;
    eventually(
        "a pod for the new node",
        Duration::from_secs(30),
        || async {
            let pods = daemon_pods(&client, "agent").await;
            pods.iter()
                .any(|p| pinned_node(p).as_deref() == Some("n4"))
                .then_some(())
        },
    )
    .await;
    eventually(
        "status counts the new node",
        Duration::from_secs(30),
        || async {
            let st = api.get("agent").await.ok()?.status?;
            (st.desired_number_scheduled == 4 && st.current_number_scheduled == 4).then_some(())
        },
    )
    .await;
    // Expectations keep the controller from doubling any node's pod.
    assert_eq!(controller.metrics.pods_created(), 4);
    let pods = daemon_pods(&client, "agent").await;
    let per_node: Vec<String> = pods.iter().filter_map(pinned_node).collect();
    let distinct: BTreeSet<&String> = per_node.iter().collect();
    assert_eq!(
        per_node.len(),
        distinct.len(),
        "one pod per node: {per_node:?}"
    );
    controller.stop().await;
}

fn election(identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        namespace: "kube-system".into(),
        name: "everynode-controller".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(500),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_acts_and_a_stopped_leader_hands_over_within_the_lease() {
    let (server, _dir) = start_server().await;
    let client = kube::Client::new(server.router(), "default");
    create_nodes(&client, &["n1", "n2", "n3"]).await;
    let a = Running::start(&client, Some(election("a")));
    let b = Running::start(&client, Some(election("b")));

    create_daemonset(&client, "agent").await;
    eventually("3 daemon pods", Duration::from_secs(30), || async {
        (daemon_pods(&client, "agent").await.len() >= 3).then_some(())
    })
    .await;
    let (leader, follower) = if a.metrics.is_leader() {
        (a, b)
    } else {
        (b, a)
    };
    assert!(leader.metrics.is_leader());
    assert!(!follower.metrics.is_leader());
    assert_eq!(leader.metrics.pods_created(), 3);
    assert_eq!(follower.metrics.pods_created(), 0);
    assert_eq!(follower.metrics.api_calls(), 0, "the follower never writes");
    assert_eq!(follower.metrics.syncs(), 0, "the follower never syncs");

    let handover_started = Instant::now();
    leader.stop().await;
    eventually("the follower leads", Duration::from_secs(3), || async {
        follower.metrics.is_leader().then_some(())
    })
    .await;
    assert!(
        handover_started.elapsed() < Duration::from_secs(3),
        "within the lease duration"
    );

    // The new leader acts: a new node gets its pod from it.
    create_nodes(&client, &["n4"]).await;
    eventually(
        "a pod for n4 from the new leader",
        Duration::from_secs(30),
        || async {
            let pods = daemon_pods(&client, "agent").await;
            pods.iter()
                .any(|p| pinned_node(p).as_deref() == Some("n4"))
                .then_some(())
        },
    )
    .await;
    assert_eq!(follower.metrics.pods_created(), 1);
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_after_the_lease_expires() {
    let (server, _dir) = start_server().await;
    let client = kube::Client::new(server.router(), "default");
    create_nodes(&client, &["n1"]).await;
    let a = Running::start(&client, Some(election("a")));
    eventually("a leads", Duration::from_secs(10), || async {
        a.metrics.is_leader().then_some(())
    })
    .await;
    let b = Running::start(&client, Some(election("b")));
    // Killed, not stopped: the lease is not released and must expire.
    a.task.abort();
    let killed = Instant::now();
    eventually("b leads", Duration::from_secs(10), || async {
        b.metrics.is_leader().then_some(())
    })
    .await;
    let took = killed.elapsed();
    // b must first see the record unchanged for the lease duration (3 s), measured from
    // when it first read it; allow two retry periods of polling on top.
    assert!(
        took >= Duration::from_secs(2),
        "not before the lease could expire: {took:?}"
    );
    assert!(
        took <= Duration::from_secs(4),
        "promptly after it expired: {took:?}"
    );
    create_daemonset(&client, "agent").await;
    eventually("b creates the pod", Duration::from_secs(30), || async {
        (daemon_pods(&client, "agent").await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(b.metrics.pods_created(), 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_orphan_is_adopted_and_a_relabelled_pod_released() {
    let (server, _dir) = start_server().await;
    let client = kube::Client::new(server.router(), "default");
    create_nodes(&client, &["n1", "n2"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "labels": {"app": "agent"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "agent", "image": "agent:v0"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &orphan)
        .await
        .expect("create orphan");
    let ds = create_daemonset(&client, "agent").await;
    let uid = ds.metadata.uid.clone().expect("uid");
    let controller = Running::start(&client, None);

    eventually("the orphan is adopted", Duration::from_secs(30), || async {
        let p = pods.get("orphan").await.ok()?;
        let refs = p.metadata.owner_references?;
        refs.iter()
            .any(|r| r.uid == uid && r.controller == Some(true))
            .then_some(())
    })
    .await;
    eventually("n2 gets a pod", Duration::from_secs(30), || async {
        let all = daemon_pods(&client, "agent").await;
        all.iter()
            .any(|p| pinned_node(p).as_deref() == Some("n2"))
            .then_some(())
    })
    .await;
    // n1 is covered by the adopted pod: no second pod was made for it.
    assert_eq!(daemon_pods(&client, "agent").await.len(), 2);
    assert_eq!(controller.metrics.pods_created(), 1);

    // Relabelled out of the selector: released, and n1 gets a fresh pod.
    let patch = serde_json::json!({"metadata": {"labels": {"app": "other"}}});
    pods.patch(
        "orphan",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .expect("relabel");
    eventually("the pod is released", Duration::from_secs(30), || async {
        let p = pods.get("orphan").await.ok()?;
        let refs = p.metadata.owner_references.unwrap_or_default();
        (!refs.iter().any(|r| r.uid == uid)).then_some(())
    })
    .await;
    eventually(
        "n1 gets a new daemon pod",
        Duration::from_secs(30),
        || async {
            let all = daemon_pods(&client, "agent").await;
            all.iter()
                .any(|p| pinned_node(p).as_deref() == Some("n1"))
                .then_some(())
        },
    )
    .await;
    controller.stop().await;
}
