//! `everynode demo`: a guided tour that needs nothing but the binary.
//!
//! It starts an embedded plane in a temporary directory with a small mixed fleet, applies the
//! seeds' DaemonSets, shows where each landed and why not elsewhere, adds and removes a node,
//! rolls out a new image, shows the history, rolls back and stops, narrating as it goes.

use std::time::Duration;

use anyhow::{Context, bail};
use everynode::output::{TableOptions, render_get_table};
use everynode::why::render_table;
use everynode_cluster::fleet::FleetProfile;
use everynode_model::manifest;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::Value;

use crate::apply;
use crate::kubectl::node::{NodeCommand, node_command};
use crate::kubectl::{rollout, set_image, why};
use crate::up::{Plane, PlaneConfig};

/// The seeds' manifests, built into the binary so the demo needs no files.
const SEEDS: &[(&str, &str)] = &[
    (
        "00-namespaces.yaml",
        include_str!("../../../examples/seeds/00-namespaces.yaml"),
    ),
    (
        "fluent-bit.yaml",
        include_str!("../../../examples/seeds/fluent-bit.yaml"),
    ),
    (
        "fluentd-elasticsearch.yaml",
        include_str!("../../../examples/seeds/fluentd-elasticsearch.yaml"),
    ),
    (
        "fluentd.yaml",
        include_str!("../../../examples/seeds/fluentd.yaml"),
    ),
    (
        "monitoring-agent.yaml",
        include_str!("../../../examples/seeds/monitoring-agent.yaml"),
    ),
    (
        "node-agent-affinity.yaml",
        include_str!("../../../examples/seeds/node-agent-affinity.yaml"),
    ),
    (
        "node-exporter-minimal.yaml",
        include_str!("../../../examples/seeds/node-exporter-minimal.yaml"),
    ),
    (
        "node-exporter.yaml",
        include_str!("../../../examples/seeds/node-exporter.yaml"),
    ),
];

/// The demo fleet: a control-plane node, workers in two pools, a tainted GPU node and a
/// cordoned worker.
const DEMO_PROFILE: &str = r#"
pools:
  - namePrefix: control-plane-
    count: 1
    controlPlane: true
  - namePrefix: workload-
    count: 2
    labels:
      nodepool: workload
  - namePrefix: system-
    count: 1
    labels:
      nodepool: system
  - namePrefix: gpu-
    count: 1
    labels:
      node-type: gpu
    taints:
      - key: nvidia.com/gpu
        value: present
        effect: NoSchedule
    capacity:
      cpu: "16"
      memory: 64Gi
  - namePrefix: cordoned-
    count: 1
    labels:
      nodepool: workload
    unschedulable: true
"#;

/// Arguments of `everynode demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode demo\n  everynode demo --fast   (no pauses; what the tests run)"
)]
pub struct DemoArgs {
    /// Skip the pauses between steps and start pods faster (for tests and CI).
    #[arg(long, env = "EVERYNODE_DEMO_FAST")]
    pub fast: bool,
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

struct Narrator {
    pause: Duration,
    step: usize,
}

impl Narrator {
    async fn step(&mut self, title: &str, text: &str) {
        self.step += 1;
        println!();
        println!("== {}. {title}", self.step);
        for line in text.lines() {
            println!("   {line}");
        }
        println!();
        tokio::time::sleep(self.pause).await;
    }
}

async fn run_async(args: &DemoArgs) -> anyhow::Result<i32> {
    let dir = tempfile::Builder::new()
        .prefix("everynode-demo-")
        .tempdir()
        .context("creating a temporary directory for the demo")?;
    let profile = FleetProfile::from_yaml(DEMO_PROFILE).context("the demo's fleet profile")?;
    let expected_nodes: usize = profile.pools.iter().map(|p| p.count).sum();
    let mut n = Narrator {
        pause: if args.fast {
            Duration::ZERO
        } else {
            Duration::from_millis(1200)
        },
        step: 0,
    };
    println!("everynode demo: DaemonSets on a simulated fleet, all inside this one process.");
    println!("(data in {}, removed at the end)", dir.path().display());
    let plane = Plane::start(PlaneConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().context("demo listen address")?,
        profile,
        start_delay: if args.fast {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(300)
        },
    })
    .await?;
    let result = tour(
        &plane.client,
        &mut n,
        expected_nodes,
        &plane.server.kubeconfig_path().display().to_string(),
    )
    .await;
    plane.stop().await;
    drop(dir);
    match result {
        Ok(()) => {
            println!();
            println!(
                "Demo finished. Start your own plane with `everynode up` and use kubectl or everynode's commands."
            );
            Ok(0)
        }
        Err(err) => Err(err.context("the demo stopped early")),
    }
}

async fn tour(
    client: &kube::Client,
    n: &mut Narrator,
    expected_nodes: usize,
    kubeconfig: &str,
) -> anyhow::Result<()> {
    n.step(
        "A fleet of simulated nodes",
        &format!(
            "An API server, the DaemonSet controller, a scheduler and {expected_nodes} simulated kubelets are running.\n\
             kubectl works too: kubectl --kubeconfig {kubeconfig} get nodes"
        ),
    )
    .await;
    wait_for(
        Duration::from_secs(30),
        "the simulated nodes to register",
        || async move {
            let nodes = Api::<Node>::all(client.clone())
                .list(&ListParams::default())
                .await?;
            Ok(nodes.items.len() >= expected_nodes)
        },
    )
    .await?;
    print_table(client, "", "Node", true).await?;

    n.step(
        "Applying the seeds' DaemonSets",
        "Seven DaemonSets from the examples: log collectors, node exporters, a monitoring agent\n\
         limited to the workload pool, and an agent that avoids GPU nodes.",
    )
    .await;
    let mut docs = Vec::new();
    for (name, text) in SEEDS {
        docs.extend(manifest::parse_documents(text, name)?);
    }
    docs.sort_by_key(|d| d.get("kind").and_then(Value::as_str) != Some("Namespace"));
    for doc in docs {
        println!("{}", apply::apply_document(client, doc).await?);
    }
    wait_for(Duration::from_secs(45), "every DaemonSet to settle", || {
        settled(client)
    })
    .await?;
    println!();
    print_table(client, "apps", "DaemonSet", true).await?;

    n.step(
        "Why is fluentd not on every node?",
        "fluentd tolerates no taints: the control-plane node and the GPU node are tainted NoSchedule.\n\
         The cordoned node still gets a pod: daemon pods tolerate `unschedulable`.",
    )
    .await;
    print!(
        "{}",
        render_table(&why::why(client, "kube-system", "fluentd", None).await?)
    );

    n.step(
        "A nodeSelector and a node affinity",
        "monitoring-agent asks for nodepool=workload; node-agent's affinity excludes node-type=gpu.",
    )
    .await;
    print!(
        "{}",
        render_table(&why::why(client, "default", "monitoring-agent", None).await?)
    );
    println!();
    print!(
        "{}",
        render_table(&why::why(client, "default", "node-agent", None).await?)
    );

    n.step(
        "When the scheduler says no",
        "Both node-exporters (default and monitoring) want host port 9100. The controller creates a pod\n\
         on every eligible node for each, but only one fits per node: `why` shows the scheduler's reason\n\
         for the one left Pending.",
    )
    .await;
    let mut shown = false;
    for ns in ["monitoring", "default"] {
        let verdicts = why::why(client, ns, "node-exporter", None).await?;
        let pending = verdicts
            .iter()
            .any(|v| v.pods.iter().any(|p| p.scheduler_message.is_some()));
        if pending {
            println!("node-exporter in namespace {ns}:");
            print!("{}", render_table(&verdicts));
            shown = true;
            break;
        }
    }
    if !shown {
        println!("(no pod is Pending right now: the two node-exporters landed on different nodes)");
    }

    n.step(
        "A node joins",
        "Adding workload-extra: every DaemonSet that matches it gets a pod there, with no action from us.",
    )
    .await;
    let add = NodeCommand::Add {
        name: "workload-extra".to_owned(),
        labels: vec!["nodepool=workload".to_owned()],
        taints: Vec::new(),
        cpu: "4".to_owned(),
        memory: "16Gi".to_owned(),
        pods: "110".to_owned(),
    };
    println!("{}", node_command(client, &add).await?);
    wait_for(
        Duration::from_secs(30),
        "fluentd to run on workload-extra",
        || async move {
            let v = why::why(client, "kube-system", "fluentd", Some("workload-extra")).await?;
            Ok(v.iter().any(|v| v.pods.iter().any(|p| p.ready)))
        },
    )
    .await?;
    print!(
        "{}",
        render_table(
            &why::why(
                client,
                "default",
                "monitoring-agent",
                Some("workload-extra")
            )
            .await?
        )
    );

    n.step(
        "A node leaves",
        "Removing workload-extra: desired counts drop and its pods are collected.",
    )
    .await;
    let remove = NodeCommand::Remove {
        name: "workload-extra".to_owned(),
    };
    println!("{}", node_command(client, &remove).await?);
    wait_for(
        Duration::from_secs(30),
        "the DaemonSets to forget workload-extra",
        || async move {
            let ds = Api::<DaemonSet>::namespaced(client.clone(), "kube-system")
                .get("fluentd")
                .await?;
            let nodes = Api::<Node>::all(client.clone())
                .list(&ListParams::default())
                .await?;
            let status = ds.status.unwrap_or_default();
            Ok(!nodes
                .items
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some("workload-extra"))
                && status.desired_number_scheduled as usize == expected_nodes - 2)
        },
    )
    .await?;
    print_table(client, "apps", "DaemonSet", true).await?;

    n.step(
        "A rolling update",
        "Changing fluentd's image: one node at a time (maxUnavailable 1), old pod out, new pod in.",
    )
    .await;
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let ds = api.get("fluentd").await?;
    let changes = [("fluentd".to_owned(), "fluent/fluentd:v1.17".to_owned())];
    if let Some(patch) = set_image::image_patch(&ds, &changes)? {
        api.patch(
            "fluentd",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await?;
        println!("daemonset.apps/fluentd image updated");
    }
    rollout::status(
        client,
        "kube-system",
        "fluentd",
        true,
        Duration::from_secs(60),
    )
    .await?;

    n.step(
        "The history",
        "Each template is kept as a ControllerRevision.",
    )
    .await;
    print!(
        "{}",
        rollout::history(client, "kube-system", "fluentd", None).await?
    );

    n.step(
        "Rolling back",
        "Undo goes back to the previous template: the old revision is renumbered to the top.",
    )
    .await;
    println!(
        "{}",
        rollout::undo(client, "kube-system", "fluentd", 0).await?
    );
    rollout::status(
        client,
        "kube-system",
        "fluentd",
        true,
        Duration::from_secs(60),
    )
    .await?;
    print!(
        "{}",
        rollout::history(client, "kube-system", "fluentd", None).await?
    );

    n.step(
        "Stopping",
        "Stopping the plane and removing its temporary directory.",
    )
    .await;
    Ok(())
}

/// Prints `get` for one kind across all namespaces.
async fn print_table(
    client: &kube::Client,
    group: &str,
    kind: &str,
    all: bool,
) -> anyhow::Result<()> {
    let Some(info) = everynode_apiserver::registry::lookup_kind(group, kind) else {
        bail!("the registry does not serve {kind}");
    };
    let resource = crate::kubectl::api_resource(info);
    let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &resource);
    let items = api.list(&ListParams::default()).await?.items;
    let objects: Vec<Value> = items
        .into_iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let options = TableOptions {
        wide: false,
        with_namespace: all && info.namespaced,
    };
    print!(
        "{}",
        render_get_table(info, &objects, options, crate::kubectl::now())
    );
    Ok(())
}

/// True when every DaemonSet's status is current and each of its pods is either ready or
/// rejected by the scheduler (the demo shows those, so it must not wait for them).
async fn settled(client: &kube::Client) -> anyhow::Result<bool> {
    let daemonsets = Api::<DaemonSet>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    for ds in &daemonsets {
        let Some(status) = &ds.status else {
            return Ok(false);
        };
        if status.observed_generation.unwrap_or(0) < ds.metadata.generation.unwrap_or(0)
            || status.current_number_scheduled < status.desired_number_scheduled
        {
            return Ok(false);
        }
        let uid = ds.metadata.uid.as_deref();
        let done = pods
            .iter()
            .filter(|p| {
                p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.controller == Some(true) && Some(r.uid.as_str()) == uid)
            })
            .filter(|p| {
                let conditions = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.clone())
                    .unwrap_or_default();
                conditions.iter().any(|c| {
                    (c.type_ == "Ready" && c.status == "True")
                        || (c.type_ == "PodScheduled" && c.status == "False")
                })
            })
            .count();
        if (done as i64) < i64::from(status.desired_number_scheduled) {
            return Ok(false);
        }
    }
    Ok(!daemonsets.is_empty())
}

/// Polls `check` until it says yes, failing with what was awaited after `timeout`.
async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "timed out after {} waiting for {what}",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
