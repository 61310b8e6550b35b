//! Store throughput and watch latency, as a plain timed harness (`harness = false`).
//!
//! Run with `cargo bench -p everynode-apiserver --bench store` (release). Measures:
//! - durable creates per second from 16 concurrent clients against a file-backed store
//!   (every create is acknowledged only after its group commit is fsync'd);
//! - watch latency: time from a create's acknowledgement to the event reaching a watcher,
//!   while 16 other watchers of unrelated scopes share the fan-out.
//!
//! Sizes can be overridden with `STORE_BENCH_CLIENTS` and `STORE_BENCH_PER_CLIENT`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use everynode_apiserver::store::{Key, Scope, Store, StoreConfig};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A pod-sized object (roughly what the simulated fleet writes).
fn pod(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "agent"}},
        "spec": {"nodeName": name, "containers": [{"name": "agent", "image": "agent:v1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let clients = env_usize("STORE_BENCH_CLIENTS", 16);
    let per_client = env_usize("STORE_BENCH_PER_CLIENT", 2_000);
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig {
        path: Some(dir.path().join("bench.redb")),
        ..StoreConfig::default()
    })?;

    // Watchers of other scopes: they see every event and filter it out, as they would in
    // the real server.
    let mut bystanders = Vec::new();
    for i in 0..16 {
        let (_, mut watch) = store.list_and_watch(&Scope {
            prefix: format!("other/r{i}"),
            namespace: None,
        });
        bystanders.push(tokio::spawn(
            async move { while watch.next().await.is_ok() {} },
        ));
    }

    let (_, mut watch) = store.list_and_watch(&Scope {
        prefix: "core/pods".into(),
        namespace: None,
    });
    let total = clients * per_client;
    let watcher = tokio::spawn(async move {
        let mut received = HashMap::with_capacity(total);
        for _ in 0..total {
            let Ok(event) = watch.next().await else { break };
            received.insert(event.key.name, Instant::now());
        }
        received
    });

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let name = format!("c{c}-{i}");
                let key = Key::namespaced("core/pods", "default", name.clone());
                store.create(key, pod(&name)).await?;
                acks.push((name, Instant::now()));
            }
            Ok::<_, everynode_apiserver::store::StoreError>(acks)
        }));
    }
    let mut acks = Vec::with_capacity(total);
    for task in tasks {
        acks.extend(task.await??);
    }
    let elapsed = started.elapsed();
    let received = watcher.await?;

    let mut latencies: Vec<Duration> = acks
        .iter()
        .filter_map(|(name, acked)| {
            received
                .get(name)
                .map(|got| got.saturating_duration_since(*acked))
        })
        .collect();
    latencies.sort();

    println!(
        "store/create_durable: {total} creates from {clients} clients in {:.2?} = {:.0} creates/s",
        elapsed,
        total as f64 / elapsed.as_secs_f64()
    );
    let stats = store.stats();
    println!(
        "store/group_commit: {} writes in {} commits ({:.1} writes per fsync)",
        stats.writes,
        stats.commits,
        stats.writes as f64 / stats.commits.max(1) as f64
    );
    println!(
        "store/watch_latency (ack -> event, {} samples): p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );

    // Unloaded: one client, one write at a time, so the numbers are a single commit's cost
    // and the hand-off to a watcher, not queueing.
    let quiet = env_usize("STORE_BENCH_QUIET", 500);
    let (_, mut watch) = store.list_and_watch(&Scope {
        prefix: "core/quiet".into(),
        namespace: None,
    });
    // A separate task, woken like any real watcher, timestamps each event's arrival.
    let quiet_watcher = tokio::spawn(async move {
        let mut arrivals = Vec::with_capacity(quiet);
        for _ in 0..quiet {
            if watch.next().await.is_err() {
                break;
            }
            arrivals.push(Instant::now());
        }
        arrivals
    });
    let mut round_trips = Vec::with_capacity(quiet);
    let mut acks = Vec::with_capacity(quiet);
    for i in 0..quiet {
        let name = format!("q{i}");
        let sent = Instant::now();
        store
            .create(
                Key::namespaced("core/quiet", "default", name.clone()),
                pod(&name),
            )
            .await?;
        let acked = Instant::now();
        round_trips.push(acked - sent);
        acks.push(acked);
    }
    let arrivals = quiet_watcher.await?;
    let mut deliveries: Vec<Duration> = acks
        .iter()
        .zip(&arrivals)
        .map(|(acked, arrived)| arrived.saturating_duration_since(*acked))
        .collect();
    round_trips.sort();
    deliveries.sort();
    println!(
        "store/quiet ({quiet} sequential creates): create p50 {:?} p99 {:?}; ack -> event p50 {:?} p99 {:?}",
        percentile(&round_trips, 0.50),
        percentile(&round_trips, 0.99),
        percentile(&deliveries, 0.50),
        percentile(&deliveries, 0.99),
    );

    store.close().await;
    for bystander in bystanders {
        bystander.await?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --benches` passes `--bench`-less args; keep that run short.
    if std::env::args().any(|a| a == "--test") {
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}
