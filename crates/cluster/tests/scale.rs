//! Scale check (ignored by default; run with `--ignored --nocapture`): binds many pinned
//! pending pods on many nodes and prints how long it took. Not a timed assertion: the
//! figures are for the README's benchmark notes.

use std::time::{Duration, Instant};

use everynode_apiserver::{ApiServer, ApiServerConfig};
use everynode_cluster::{fleet, scheduler};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale measurement; run explicitly"]
async fn scheduler_binds_thousands_of_pinned_pods() {
    let n: usize = std::env::var("EVERYNODE_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ApiServer::start(ApiServerConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..ApiServerConfig::default()
    })
    .await
    .expect("server");
    let client = Client::new(server.router(), "default");
    let shutdown = CancellationToken::new();
    let t = Instant::now();
    let config = fleet::FleetConfig {
        profile: fleet::FleetProfile::uniform(n, "s-"),
        start_delay: Duration::ZERO,
        heartbeat_interval: Duration::from_secs(
            std::env::var("EVERYNODE_HEARTBEAT_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
        ),
        ..fleet::FleetConfig::default()
    };
    // Without the fleet only binding is measured (nodes are created directly).
    let with_fleet = std::env::var_os("EVERYNODE_SCALE_NO_FLEET").is_none();
    let fleet_task = if with_fleet {
        Some(tokio::spawn(fleet::run(
            client.clone(),
            config,
            shutdown.clone(),
        )))
    } else {
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
        let all = fleet::build_nodes(&fleet::FleetProfile::uniform(n, "s-"));
        futures::stream::iter(all.into_iter().map(|node| {
            let nodes = nodes.clone();
            async move {
                nodes
                    .create(&PostParams::default(), &node)
                    .await
                    .map(|_| ())
            }
        }))
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .expect("nodes created");
        None
    };
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    while nodes
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len()
        < n
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("{n} nodes created in {:?}", t.elapsed());

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let t = Instant::now();
    futures::stream::iter((0..n).map(|i| {
        let pods = pods.clone();
        async move {
            let pod: Pod = serde_json::from_value(json!({
                "metadata": { "name": format!("p-{i}") },
                "spec": {
                    "containers": [{ "name": "c", "image": "busybox:1" }],
                    "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{ "matchFields": [
                            { "key": "metadata.name", "operator": "In", "values": [format!("s-{i}")] }
                        ]}]
                    }}},
                },
            }))
            .expect("pod");
            pods.create(&PostParams::default(), &pod).await.map(|_| ())
        }
    }))
    .buffer_unordered(32)
    .try_collect::<Vec<()>>()
    .await
    .expect("pods created");
    println!("{n} pods created in {:?}", t.elapsed());

    let t = Instant::now();
    let sched = tokio::spawn(scheduler::run(
        client.clone(),
        scheduler::SchedulerConfig::default(),
        shutdown.clone(),
    ));
    let mut all_bound = false;
    loop {
        let list = pods.list(&ListParams::default()).await.expect("list");
        let bound = list
            .items
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .count();
        let ready = list
            .items
            .iter()
            .filter(|p| everynode_model::pod::is_ready(p))
            .count();
        if bound == n && !all_bound {
            all_bound = true;
            println!("all {n} bound after {:?}", t.elapsed());
        }
        if ready == n || (!with_fleet && bound == n) {
            println!("all {n} bound and ready after {:?}", t.elapsed());
            break;
        }
        if t.elapsed() > Duration::from_secs(300) {
            panic!("only {bound} bound, {ready} ready after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    shutdown.cancel();
    let _ = sched.await;
    if let Some(task) = fleet_task {
        let _ = task.await;
    }
    server.shutdown().await;
}
