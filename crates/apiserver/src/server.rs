//! Starting and stopping the embedded API server: data directory, store, credentials,
//! bootstrap objects, HTTPS listener and kubeconfig.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};

use crate::rest::{self, RestState};
use crate::store::{Key, Store, StoreConfig, StoreError};
use crate::tls::{self, TlsError};

/// How the API server is started.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Directory holding the store, certificates, token and kubeconfig; created if missing.
    pub data_dir: PathBuf,
    /// Address to listen on (default `127.0.0.1:6443`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// How many recent events the watch cache keeps (older resourceVersions get 410).
    pub event_window: usize,
}

impl ApiServerConfig {
    /// The defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ApiServerConfig {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            data_dir: PathBuf::from("everynode-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 6443)),
            event_window: StoreConfig::default().event_window,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// Creating the data directory or binding the listener failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store could not be opened or written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Certificates, token or kubeconfig could not be created.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
}

/// A running API server.
pub struct ApiServer {
    url: String,
    local_addr: SocketAddr,
    kubeconfig_path: PathBuf,
    token: String,
    ca_pem: String,
    store: Store,
    state: Arc<RestState>,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Namespaces that exist from the start, as in a kubeadm cluster.
const BOOTSTRAP_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The built-in priority classes and their values.
const BOOTSTRAP_PRIORITY_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ApiServerError {
    let context = context.into();
    move |source| ApiServerError::Io { context, source }
}

impl ApiServer {
    /// Starts the server: opens `<data_dir>/store.redb`, loads or creates credentials,
    /// bootstraps the built-in objects, serves HTTPS and writes `<data_dir>/kubeconfig`.
    pub async fn start(config: ApiServerConfig) -> Result<ApiServer, ApiServerError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        std::fs::create_dir_all(&config.data_dir)
            .map_err(io_err(format!("creating {}", config.data_dir.display())))?;
        let creds = tls::load_or_create(&config.data_dir, &[])?;
        let store_path = config.data_dir.join("store.redb");
        let store = tokio::task::spawn_blocking(move || {
            Store::open(StoreConfig {
                path: Some(store_path),
                event_window: config.event_window,
                field_index: rest::filter::index_fields,
                ..StoreConfig::default()
            })
        })
        .await
        .map_err(|e| ApiServerError::Store(StoreError::Storage(e.to_string())))??;
        bootstrap(&store).await?;

        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(io_err(format!("binding {}", config.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(io_err("reading the bound address"))?;
        let url = format!("https://{}", url_authority(local_addr));
        let kubeconfig_path = config.data_dir.join("kubeconfig");
        tls::write_kubeconfig(&kubeconfig_path, &url, &creds)?;

        let state = RestState::new(store.clone());
        let token: Arc<str> = Arc::from(creds.token.as_str());
        let app = rest::router(state.clone()).layer(axum::middleware::from_fn_with_state(
            token,
            crate::auth::require_token,
        ));
        let rustls_config =
            axum_server::tls_rustls::RustlsConfig::from_config(tls::server_config(&creds)?);
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, rustls_config)
            .map_err(io_err("serving the listener"))?
            .handle(handle.clone());
        let task = tokio::spawn(server.serve(app.into_make_service()));
        Ok(ApiServer {
            url,
            local_addr,
            kubeconfig_path,
            token: creds.token.clone(),
            ca_pem: creds.ca_pem.clone(),
            store,
            state,
            handle,
            task,
        })
    }

    /// `https://<addr>` clients connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound socket address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the admin kubeconfig was written.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The admin bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The same API without TLS and already authenticated, for in-process clients
    /// (`kube::Client::new(server.router(), "default")`).
    pub fn router(&self) -> Router {
        rest::router(self.state.clone())
    }

    /// The object store behind the API.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops serving: ends open watches, lets in-flight requests finish (up to a few
    /// seconds), then closes the store so every acknowledged write is on disk.
    pub async fn shutdown(self) {
        self.state.stop_watches();
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        if let Err(e) = self.task.await {
            tracing::warn!("API server task ended abnormally: {e}");
        }
        self.store.close().await;
    }
}

fn url_authority(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

/// Creates the built-in namespaces and priority classes that do not exist yet.
async fn bootstrap(store: &Store) -> Result<(), ApiServerError> {
    let now = crate::rest::strategy::time_value(crate::rest::strategy::now());
    let mut wanted: Vec<(Key, Value)> = Vec::new();
    for ns in BOOTSTRAP_NAMESPACES {
        wanted.push((
            Key {
                prefix: "core/namespaces".into(),
                namespace: None,
                name: (*ns).to_string(),
            },
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now,
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }),
        ));
    }
    for (name, value, description) in BOOTSTRAP_PRIORITY_CLASSES {
        wanted.push((
            Key {
                prefix: "scheduling.k8s.io/priorityclasses".into(),
                namespace: None,
                name: (*name).to_string(),
            },
            json!({
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {
                    "name": name,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now,
                },
                "value": value,
                "globalDefault": false,
                "description": description,
                "preemptionPolicy": "PreemptLowerPriority",
            }),
        ));
    }
    for (key, object) in wanted {
        if store.get(&key).is_some() {
            continue;
        }
        match store.create(key, object).await {
            Ok(_) | Err(StoreError::AlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
