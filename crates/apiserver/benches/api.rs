//! Create throughput and watch latency through the HTTPS API with kube clients.
//!
//! Run with `cargo bench -p everynode-apiserver --bench api`. Prints acknowledged durable
//! creates per second from 16 concurrent clients, and the time from a create's
//! acknowledgement to its event on a watch (p50/p99).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use everynode_apiserver::{ApiServer, ApiServerConfig};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};

const CLIENTS: usize = 16;
const RUN_FOR: Duration = Duration::from_secs(10);
const LATENCY_SAMPLES: usize = 500;

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "data": {"k": "v"}}))
        .expect("configmap")
}

async fn client(server: &ApiServer) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(server.kubeconfig_path()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    kube::Client::try_from(config).expect("client")
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ApiServerConfig::new(dir.path());
        config.listen = "127.0.0.1:0".parse().expect("addr");
        let server = ApiServer::start(config).await.expect("server");

        // Throughput: each client gets its own connection pool.
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0usize;
                while start.elapsed() < RUN_FOR {
                    api.create(&PostParams::default(), &configmap(&format!("c{c}-{i}")))
                        .await
                        .expect("create acknowledged");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
        for t in tasks {
            t.await.expect("client task");
        }
        let elapsed = start.elapsed().as_secs_f64();
        let total = done.load(Ordering::Relaxed);
        println!(
            "create throughput: {total} acknowledged durable creates in {elapsed:.1} s from {CLIENTS} clients = {:.0}/s",
            total as f64 / elapsed
        );

        // Watch latency: create one object at a time and time ack -> event.
        let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "lat");
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "lat"}})).expect("ns");
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client(&server).await)
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        let rv = server.store().revision().to_string();
        let mut events = api.watch(&WatchParams::default(), &rv).await.expect("watch").boxed();
        let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
        for i in 0..LATENCY_SAMPLES {
            api.create(&PostParams::default(), &configmap(&format!("l{i}"))).await.expect("create");
            let acked = Instant::now();
            loop {
                match events.next().await {
                    Some(Ok(WatchEvent::Added(_))) => break,
                    Some(Ok(_)) => {}
                    other => panic!("watch ended: {other:?}"),
                }
            }
            samples.push(acked.elapsed());
        }
        samples.sort();
        let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
        println!(
            "watch latency (create ack -> event): p50 {:?}, p99 {:?}, max {:?}",
            pct(50),
            pct(99),
            samples[samples.len() - 1]
        );
        server.shutdown().await;
    });
}
