//! Wiring: watches feed the cache, the cache's effects feed the queue and expectations,
//! workers sync while this instance leads.

use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Node;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cache::{Cache, Effect};
use crate::events::EventRecorder;
use crate::expectations::Expectations;
use crate::leader::{KubeLeaseClient, LeaderElector};
use crate::metrics::Metrics;
use crate::queue::WorkQueue;
use crate::sync::Syncer;
use crate::watched_pod::WatchedPod;
use crate::{ControllerConfig, ControllerError, LeaderElectionConfig};

/// Shared state of one controller instance.
struct Shared {
    cache: Arc<RwLock<Cache>>,
    queue: Arc<WorkQueue>,
    expectations: Arc<Expectations>,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn dispatch(&self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Enqueue(k) => self.queue.add(&k),
                Effect::EnqueueAfter(k, d) => self.queue.add_after(&k, d),
                Effect::CreationObserved(k) => self.expectations.creation_observed(&k),
                Effect::DeletionObserved(k) => self.expectations.deletion_observed(&k),
                Effect::DropExpectations(k) => self.expectations.delete(&k),
            }
        }
        self.metrics.set_queue_depth(self.queue.len());
    }
}

fn validate(config: &ControllerConfig) -> Result<(), ControllerError> {
    if config.concurrency == 0 {
        return Err(ControllerError::InvalidConfig(
            "concurrency must be at least 1".into(),
        ));
    }
    if let Some(le) = &config.leader_election {
        validate_leader(le)?;
    }
    Ok(())
}

fn validate_leader(le: &LeaderElectionConfig) -> Result<(), ControllerError> {
    if le.lease_duration <= le.renew_deadline {
        return Err(ControllerError::InvalidConfig(
            "lease_duration must be greater than renew_deadline".into(),
        ));
    }
    // client-go's rule: renewals must fit several retries (jitter factor 1.2).
    if le.renew_deadline.as_secs_f64() <= le.retry_period.as_secs_f64() * 1.2 {
        return Err(ControllerError::InvalidConfig(
            "renew_deadline must be greater than 1.2 x retry_period".into(),
        ));
    }
    if le.identity.is_empty() || le.name.is_empty() || le.namespace.is_empty() {
        return Err(ControllerError::InvalidConfig(
            "leader election needs a namespace, a name and an identity".into(),
        ));
    }
    Ok(())
}

/// Resolves once `rx` has seen `true`.
async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = rx.wait_for(|s| *s).await;
}

pub(crate) async fn run(
    client: kube::Client,
    config: ControllerConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    validate(&config)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_task = tokio::spawn(async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    });

    let mut background = JoinSet::new();
    if let Some(addr) = config.metrics_addr {
        let handle = crate::metrics::serve(addr, metrics.clone(), stopped(shutdown_rx.clone()))
            .await
            .map_err(|source| ControllerError::MetricsListener { addr, source })?;
        background.spawn(async move {
            let _ = handle.await;
        });
    }

    let shared = Arc::new(Shared {
        cache: Arc::new(RwLock::new(Cache::new())),
        queue: Arc::new(WorkQueue::new()),
        expectations: Arc::new(Expectations::new()),
        metrics: metrics.clone(),
    });
    let events = EventRecorder::new();
    background.spawn(events.clone().run_writer(client.clone()));

    let (synced_tx, mut synced_rx) = watch::channel(0usize);
    let synced_tx = Arc::new(synced_tx);
    background.spawn(watch_loop(
        Api::<DaemonSet>::all(client.clone()),
        shared.clone(),
        synced_tx.clone(),
        |c, o| c.apply_daemonset(o),
        |c, o| c.delete_daemonset(o),
        |c, all| c.replace_daemonsets(all),
    ));
    background.spawn(watch_loop(
        Api::<Node>::all(client.clone()),
        shared.clone(),
        synced_tx.clone(),
        |c, o| c.apply_node(o),
        |c, o| c.delete_node(o),
        |c, all| c.replace_nodes(all),
    ));
    background.spawn(watch_loop(
        Api::<WatchedPod>::all(client.clone()),
        shared.clone(),
        synced_tx.clone(),
        |c, o| c.apply_pod(o.into_pod()),
        |c, o| c.delete_pod(&o.clone().into_pod()),
        |c, all| c.replace_pods(all.into_iter().map(WatchedPod::into_pod).collect()),
    ));
    background.spawn(watch_loop(
        Api::<ControllerRevision>::all(client.clone()),
        shared.clone(),
        synced_tx.clone(),
        |c, o| c.apply_revision(o),
        |c, o| c.delete_revision(o),
        |c, all| c.replace_revisions(all),
    ));

    // Like WaitForCacheSync: never plan from a partial view.
    let all_synced = async { synced_rx.wait_for(|n| *n >= 4).await.map(|_| ()) };
    tokio::select! {
        r = all_synced => {
            if r.is_err() {
                return Err(ControllerError::Task("cache watches ended".into()));
            }
        }
        _ = stopped(shutdown_rx.clone()) => {
            background.shutdown().await;
            shutdown_task.abort();
            return Ok(());
        }
    }
    tracing::info!("DaemonSet controller caches synced");

    let syncer = Arc::new(Syncer::new(
        client.clone(),
        shared.cache.clone(),
        shared.expectations.clone(),
        events,
        metrics.clone(),
    ));

    match config.leader_election.clone() {
        None => {
            metrics.set_leader(true);
            lead(
                &shared,
                &syncer,
                config.concurrency,
                stopped(shutdown_rx.clone()),
            )
            .await;
        }
        Some(le) => {
            let lease_client = KubeLeaseClient::new(client.clone(), &le.namespace, &le.name);
            let retry = le.retry_period;
            let mut elector = LeaderElector::new(lease_client, le);
            loop {
                tokio::select! {
                    _ = elector.acquire() => {}
                    _ = stopped(shutdown_rx.clone()) => break,
                }
                metrics.set_leader(true);
                let mut lost = false;
                {
                    let hold = elector.hold();
                    let shut = stopped(shutdown_rx.clone());
                    let end = async {
                        tokio::select! {
                            _ = hold => { lost = true; }
                            _ = shut => {}
                        }
                    };
                    lead(&shared, &syncer, config.concurrency, end).await;
                }
                metrics.set_leader(false);
                // Calls of the abandoned syncs may or may not have landed: expectations
                // about them would only wedge DaemonSets when leading again.
                shared.expectations.clear();
                if !lost {
                    match tokio::time::timeout(retry, elector.release()).await {
                        Ok(Err(err)) => tracing::warn!(%err, "releasing the leader lease failed"),
                        Err(_) => tracing::warn!("releasing the leader lease timed out"),
                        Ok(Ok(())) => {}
                    }
                    break;
                }
                tracing::warn!("lost leadership; standing by");
            }
        }
    }
    metrics.set_leader(false);
    shared.queue.shut_down();
    background.shutdown().await;
    shutdown_task.abort();
    Ok(())
}

/// Runs `concurrency` workers until `until` resolves, then stops them (in-flight syncs are
/// abandoned at their next await point) and waits for them to finish.
async fn lead(
    shared: &Arc<Shared>,
    syncer: &Arc<Syncer>,
    concurrency: usize,
    until: impl Future<Output = ()>,
) {
    let keys = {
        let cache = shared.cache.read().unwrap_or_else(|e| e.into_inner());
        cache.daemonset_keys()
    };
    for k in keys {
        shared.queue.add(&k);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        workers.spawn(worker(shared.clone(), syncer.clone(), stop_rx.clone()));
    }
    until.await;
    let _ = stop_tx.send(true);
    while workers.join_next().await.is_some() {}
}

async fn worker(shared: Arc<Shared>, syncer: Arc<Syncer>, stop: watch::Receiver<bool>) {
    let queue = shared.queue.clone();
    loop {
        let key = tokio::select! {
            k = queue.get() => k,
            _ = stopped(stop.clone()) => return,
        };
        let Some(key) = key else { return };
        shared.metrics.set_queue_depth(queue.len());
        let started = tokio::time::Instant::now();
        let outcome = tokio::select! {
            o = syncer.sync(&key) => Some(o),
            _ = stopped(stop.clone()) => None,
        };
        let Some(outcome) = outcome else {
            queue.done(&key);
            return;
        };
        shared
            .metrics
            .observe_sync(started.elapsed(), outcome.error.is_none());
        match &outcome.error {
            Some(err) => {
                tracing::warn!(ds = %key, %err, "sync failed; requeueing with backoff");
                queue.add_rate_limited(&key);
            }
            None => queue.forget(&key),
        }
        if let Some(after) = outcome.requeue_after {
            queue.add_after(&key, after);
        }
        queue.done(&key);
        shared.metrics.set_queue_depth(queue.len());
    }
}

type ApplyFn<K> = fn(&mut Cache, K) -> Vec<Effect>;
type DeleteFn<K> = fn(&mut Cache, &K) -> Vec<Effect>;
type ReplaceFn<K> = fn(&mut Cache, Vec<K>) -> Vec<Effect>;

/// Feeds one resource's watch into the cache; bumps `synced` after the first full list.
async fn watch_loop<K>(
    api: Api<K>,
    shared: Arc<Shared>,
    synced: Arc<watch::Sender<usize>>,
    apply: ApplyFn<K>,
    delete: DeleteFn<K>,
    replace: ReplaceFn<K>,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut buffer: Vec<K> = Vec::new();
    let mut reported = false;
    while let Some(event) = stream.next().await {
        if let Ok(Event::Apply(o) | Event::Delete(o)) = &event {
            tracing::debug!(target: "everynode::timeline", kind = %K::kind(&()), name = o.meta().name.as_deref().unwrap_or_default(), deleted = matches!(event, Ok(Event::Delete(_))), "controller saw");
        }
        let effects = match event {
            Ok(Event::Apply(o)) => apply(
                &mut shared.cache.write().unwrap_or_else(|e| e.into_inner()),
                o,
            ),
            Ok(Event::Delete(o)) => delete(
                &mut shared.cache.write().unwrap_or_else(|e| e.into_inner()),
                &o,
            ),
            Ok(Event::Init) => {
                buffer.clear();
                Vec::new()
            }
            Ok(Event::InitApply(o)) => {
                buffer.push(o);
                Vec::new()
            }
            Ok(Event::InitDone) => {
                let all = std::mem::take(&mut buffer);
                let effects = replace(
                    &mut shared.cache.write().unwrap_or_else(|e| e.into_inner()),
                    all,
                );
                if !reported {
                    reported = true;
                    synced.send_modify(|n| *n += 1);
                }
                effects
            }
            Err(err) => {
                tracing::warn!(kind = %K::kind(&()), %err, "watch error; retrying");
                Vec::new()
            }
        };
        shared.dispatch(effects);
    }
    // The stream only ends if the watcher gives up, which kube's does not; keep the
    // process honest by waiting instead of spinning.
    std::future::pending::<()>().await;
}
