//! Every acknowledged write survives `kill -9` of the API server process.
//!
//! The test re-executes its own binary as a child in "server mode" (selected by an
//! environment variable), creates objects over HTTPS, records the acknowledgements,
//! SIGKILLs the child mid-stream, restarts a server on the same data directory and checks
//! that every acknowledged object is there at the same resourceVersion.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};

/// Kills the child server if the test fails before it does, so no server outlives the test.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const CHILD_ENV: &str = "EVERYNODE_DURABILITY_SERVER_DIR";

/// In the child process: run a server on the given directory until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_child_server_mode() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let server = common::start_in(std::path::Path::new(&dir), 200_000).await;
    println!("READY {} {}", server.url(), server.token());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_sigkill_of_the_server() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    common::install_crypto();
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "durability_child_server_mode",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("piped");
    let mut child = KillOnDrop(Some(child));
    let ready = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).expect("read child") == 0 {
                return None;
            }
            // libtest may print "test ... " on the same line before the marker.
            if let Some(at) = line.find("READY ") {
                return Some(line[at..].to_string());
            }
        }
    });
    let ready = tokio::time::timeout(Duration::from_secs(60), ready)
        .await
        .expect("child ready in time")
        .expect("reader task")
        .expect("child printed READY");
    assert!(ready.contains("https://127.0.0.1:"), "{ready}");

    let client = common::client_from_kubeconfig(&dir.path().join("kubeconfig")).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let api = api.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}-{i}");
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name}, "data": {"i": i.to_string()},
                }))
                .expect("cm");
                match api.create(&PostParams::default(), &cm).await {
                    Ok(created) => {
                        let rv = created.metadata.resource_version.unwrap_or_default();
                        acked.lock().expect("lock").insert(name, rv);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    common::wait_for("some acknowledged creates", Duration::from_secs(60), || {
        let n = acked.lock().expect("lock").len();
        async move { (n >= 200).then_some(()) }
    })
    .await;
    // std's Child::kill is SIGKILL on unix: no chance to flush anything.
    let mut server_process = child.0.take().expect("child still owned");
    server_process.kill().expect("SIGKILL the server");
    server_process.wait().expect("reaped");
    for w in writers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("writer stops")
            .expect("writer task");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 200);

    let server = common::start_in(dir.path(), 200_000).await;
    let client = common::client_from_kubeconfig(server.kubeconfig_path()).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let stored: BTreeMap<String, String> = api
        .list(&ListParams::default())
        .await
        .expect("list after restart")
        .items
        .into_iter()
        .map(|cm| {
            (
                cm.metadata.name.unwrap_or_default(),
                cm.metadata.resource_version.unwrap_or_default(),
            )
        })
        .collect();
    for (name, rv) in &acked {
        assert_eq!(
            stored.get(name),
            Some(rv),
            "acknowledged {name} at {rv} survives"
        );
    }
    server.shutdown().await;
}
