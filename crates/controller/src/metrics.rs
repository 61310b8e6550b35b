//! Prometheus metrics and the optional `/metrics` + `/healthz` listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The controller's metrics. Cheap to update from any task; readable by benchmarks through
/// the getters.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    syncs: Counter,
    sync_errors: Counter,
    sync_duration: Histogram,
    /// Sum of the sync durations in microseconds: the histogram's sum, which
    /// prometheus-client only lets its own tests read (`Histogram::sum` needs its
    /// `test-util` feature).
    sync_micros: AtomicU64,
    queue_depth: Gauge,
    pods_created: Counter,
    pods_deleted: Counter,
    api_calls: Counter,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `everynode_daemonset_controller_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("everynode_daemonset_controller");
        let syncs = Counter::default();
        let sync_errors = Counter::default();
        // 1 ms .. ~32 s.
        let sync_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let queue_depth = Gauge::default();
        let pods_created = Counter::default();
        let pods_deleted = Counter::default();
        let api_calls = Counter::default();
        let leader = Gauge::default();
        registry.register("syncs", "DaemonSet syncs run", syncs.clone());
        registry.register(
            "sync_errors",
            "DaemonSet syncs that failed",
            sync_errors.clone(),
        );
        registry.register(
            "sync_duration_seconds",
            "Duration of one DaemonSet sync",
            sync_duration.clone(),
        );
        registry.register(
            "queue_depth",
            "DaemonSet keys ready in the work queue",
            queue_depth.clone(),
        );
        registry.register("pods_created", "Daemon pods created", pods_created.clone());
        registry.register("pods_deleted", "Daemon pods deleted", pods_deleted.clone());
        registry.register(
            "api_calls",
            "API write and live-read calls issued by syncs",
            api_calls.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance holds the leader lease",
            leader.clone(),
        );
        Metrics {
            registry,
            syncs,
            sync_errors,
            sync_duration,
            sync_micros: AtomicU64::new(0),
            queue_depth,
            pods_created,
            pods_deleted,
            api_calls,
            leader,
        }
    }

    /// Records one finished sync.
    pub fn observe_sync(&self, duration: Duration, ok: bool) {
        self.syncs.inc();
        if !ok {
            self.sync_errors.inc();
        }
        self.sync_duration.observe(duration.as_secs_f64());
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.sync_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Sets the queue depth gauge.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Counts one created pod.
    pub fn pod_created(&self) {
        self.pods_created.inc();
    }

    /// Counts one deleted pod.
    pub fn pod_deleted(&self) {
        self.pods_deleted.inc();
    }

    /// Counts one API call.
    pub fn api_call(&self) {
        self.api_calls.inc();
    }

    /// Sets the leader gauge.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Syncs run so far.
    pub fn syncs(&self) -> u64 {
        self.syncs.get()
    }

    /// Time spent in syncs so far, summed over the workers. With one DaemonSet (synced one
    /// sync at a time) its share of a period is how busy that DaemonSet's sync loop was.
    pub fn sync_time(&self) -> Duration {
        Duration::from_micros(self.sync_micros.load(Ordering::Relaxed))
    }

    /// Syncs that returned an error so far.
    pub fn sync_errors(&self) -> u64 {
        self.sync_errors.get()
    }

    /// Pods created so far.
    pub fn pods_created(&self) -> u64 {
        self.pods_created.get()
    }

    /// Pods deleted so far.
    pub fn pods_deleted(&self) -> u64 {
        self.pods_deleted.get()
    }

    /// API calls issued by syncs so far.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.get()
    }

    /// Current queue depth.
    pub fn queue_depth(&self) -> i64 {
        self.queue_depth.get()
    }

    /// True while this instance leads.
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would only truncate the output.
        if encode(&mut out, &self.registry).is_err() {
            tracing::warn!("encoding metrics failed");
        }
        out
    }
}

/// The `/metrics` and `/healthz` routes.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(metrics)
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// Binds `addr` and serves [`router`] until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<()>, std::io::Error> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = router(metrics);
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(%err, "metrics listener stopped");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_exposes_every_metric_with_its_value() {
        let m = Metrics::new();
        m.pod_created();
        m.pod_created();
        m.pod_deleted();
        m.observe_sync(Duration::from_millis(3), true);
        m.set_queue_depth(7);
        m.set_leader(true);
        let text = m.render();
        for want in [
            "everynode_daemonset_controller_pods_created_total 2",
            "everynode_daemonset_controller_pods_deleted_total 1",
            "everynode_daemonset_controller_syncs_total 1",
            "everynode_daemonset_controller_queue_depth 7",
            "everynode_daemonset_controller_leader 1",
            "everynode_daemonset_controller_sync_duration_seconds_count 1",
            "# EOF",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!((m.pods_created(), m.pods_deleted(), m.syncs()), (2, 1, 1));
        assert!(m.is_leader());
    }

    #[tokio::test]
    async fn healthz_answers_ok_and_metrics_serves_openmetrics() {
        use tower::ServiceExt;
        let m = Arc::new(Metrics::new());
        m.pod_created();
        let get = |path: &str| {
            axum::http::Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .expect("request")
        };
        let health = router(m.clone())
            .oneshot(get("/healthz"))
            .await
            .expect("healthz");
        assert_eq!(health.status(), StatusCode::OK);
        let resp = router(m).oneshot(get("/metrics")).await.expect("metrics");
        assert_eq!(resp.status(), StatusCode::OK);
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            ctype,
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("everynode_daemonset_controller_pods_created_total 1"),
            "{text}"
        );
    }
}
