//! Shared helpers for the API server integration tests: servers on 127.0.0.1 port 0 in
//! temporary directories, kube clients for them, and condition waits with deadlines.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Command;

use everynode_apiserver::{ApiServer, ApiServerConfig};

/// A running server and the temporary directory holding its data.
pub struct TestServer {
    /// The server (shut it down with [`TestServer::stop`]).
    pub server: ApiServer,
    /// The data directory (removed when dropped).
    pub dir: tempfile::TempDir,
}

/// Installs the ring crypto provider once per process.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Starts a server in a fresh temp dir with the default event window.
pub async fn start() -> TestServer {
    start_with_window(200_000).await
}

/// Starts a server in a fresh temp dir with the given event window.
pub async fn start_with_window(event_window: usize) -> TestServer {
    install_crypto();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_in(dir.path(), event_window).await;
    TestServer { server, dir }
}

/// Starts a server on an existing data directory.
pub async fn start_in(data_dir: &Path, event_window: usize) -> ApiServer {
    install_crypto();
    let config = ApiServerConfig {
        data_dir: data_dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        event_window,
    };
    ApiServer::start(config).await.expect("server starts")
}

impl TestServer {
    /// A kube client that talks HTTPS to the server with the kubeconfig it wrote.
    pub async fn client(&self) -> kube::Client {
        client_from_kubeconfig(self.server.kubeconfig_path()).await
    }

    /// Shuts the server down.
    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// A kube client built from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> kube::Client {
    install_crypto();
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("kubeconfig usable");
    kube::Client::try_from(config).expect("client")
}

/// Polls `check` until it returns `Some`, failing the test after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long one kubectl invocation may take before the test fails.
pub const KUBECTL_DEADLINE: Duration = Duration::from_secs(30);

/// kubectl bound to one server's kubeconfig with a per-test discovery cache.
pub struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
    dir: PathBuf,
}

/// What one kubectl run printed.
pub struct Run {
    /// Whether kubectl exited with success.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Kubectl {
    pub fn new(ts: &TestServer) -> Kubectl {
        Kubectl {
            kubeconfig: ts.server.kubeconfig_path().to_path_buf(),
            cache: ts.dir.path().join("kubectl-cache"),
            dir: ts.dir.path().to_path_buf(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env("HOME", &self.dir)
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        let out = tokio::time::timeout(KUBECTL_DEADLINE, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .expect("kubectl runs");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args).await;
        assert!(r.ok, "kubectl {args:?} failed: {}", r.stderr);
        r.stdout
    }

    pub async fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args).await;
        assert!(!r.ok, "kubectl {args:?} should fail, printed {}", r.stdout);
        r.stderr
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all).await).expect("kubectl printed JSON")
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write manifest");
        path.to_str().expect("utf-8 temp path").to_string()
    }
}
