//! `everynode node ...`: shape the simulated fleet: add and remove nodes, label, taint,
//! cordon, and make a node fail (stop its heartbeats) or recover.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use everynode_cluster::fleet::HEARTBEAT_PAUSED_ANNOTATION;
use everynode_model::taints::{TaintSpec, parse_taint_spec};
use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{ClusterArgs, block_on, connect, is_not_found, server_error};

/// Arguments of `everynode node`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode node add edge-1 --label nodepool=edge --taint dedicated=edge:NoSchedule --memory 8Gi\n  everynode node taint edge-1 dedicated-\n  everynode node cordon edge-1\n  everynode node fail edge-1\n  everynode node remove edge-1"
)]
pub struct NodeArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: NodeCommand,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The node subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// Create a Node; the simulated fleet runs a kubelet for it.
    #[command(
        after_help = "Example:\n  everynode node add gpu-2 --label node-type=gpu --taint nvidia.com/gpu=present:NoSchedule --cpu 16 --memory 64Gi"
    )]
    Add {
        /// Node name.
        name: String,
        /// A label `key=value` (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// A taint `key=value:Effect` or `key:Effect` (repeatable).
        #[arg(long = "taint", value_name = "KEY[=VALUE]:EFFECT")]
        taints: Vec<String>,
        /// CPU capacity.
        #[arg(long, default_value = "4")]
        cpu: String,
        /// Memory capacity.
        #[arg(long, default_value = "16Gi")]
        memory: String,
        /// Pod capacity.
        #[arg(long, default_value = "110")]
        pods: String,
    },
    /// Delete a Node (its pods are collected by pod GC).
    #[command(after_help = "Example:\n  everynode node remove edge-1")]
    Remove {
        /// Node name.
        name: String,
    },
    /// Add `key=value` or remove `key-` labels.
    #[command(
        after_help = "Examples:\n  everynode node label node-1 nodepool=workload\n  everynode node label node-1 nodepool-"
    )]
    Label {
        /// Node name.
        name: String,
        /// `key=value` to set, `key-` to remove.
        #[arg(required = true)]
        changes: Vec<String>,
        /// Replace a label that already has another value.
        #[arg(long)]
        overwrite: bool,
    },
    /// Add `key=value:Effect` or remove `key-` / `key:Effect-` taints.
    #[command(
        after_help = "Examples:\n  everynode node taint node-1 dedicated=db:NoSchedule\n  everynode node taint node-1 dedicated-"
    )]
    Taint {
        /// Node name.
        name: String,
        /// Taints to add or remove.
        #[arg(required = true)]
        changes: Vec<String>,
        /// Replace a taint with the same key and effect.
        #[arg(long)]
        overwrite: bool,
    },
    /// Mark a node unschedulable (daemon pods still land there: they tolerate it).
    #[command(after_help = "Example:\n  everynode node cordon node-1")]
    Cordon {
        /// Node name.
        name: String,
    },
    /// Mark a node schedulable again.
    #[command(after_help = "Example:\n  everynode node uncordon node-1")]
    Uncordon {
        /// Node name.
        name: String,
    },
    /// Stop the node's heartbeats: it turns unreachable after the grace period.
    #[command(after_help = "Example:\n  everynode node fail node-1")]
    Fail {
        /// Node name.
        name: String,
    },
    /// Resume the node's heartbeats.
    #[command(after_help = "Example:\n  everynode node recover node-1")]
    Recover {
        /// Node name.
        name: String,
    },
}

/// Runs `everynode node ...`.
pub fn run(args: &NodeArgs) -> anyhow::Result<i32> {
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        let line = node_command(&ctx.client, &args.command).await?;
        println!("{line}");
        Ok(0)
    })
}

/// Carries out one node command and returns kubectl's line for it.
pub async fn node_command(client: &kube::Client, command: &NodeCommand) -> anyhow::Result<String> {
    let api: Api<Node> = Api::all(client.clone());
    match command {
        NodeCommand::Add {
            name,
            labels,
            taints,
            cpu,
            memory,
            pods,
        } => {
            let node = new_node(name, labels, taints, cpu, memory, pods)?;
            api.create(&PostParams::default(), &node)
                .await
                .map_err(server_error)?;
            Ok(format!("node/{name} created"))
        }
        NodeCommand::Remove { name } => match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(format!("node \"{name}\" deleted")),
            Err(err) if is_not_found(&err) => {
                bail!("Error from server (NotFound): nodes \"{name}\" not found")
            }
            Err(err) => Err(server_error(err)),
        },
        NodeCommand::Label {
            name,
            changes,
            overwrite,
        } => {
            let node = get_node(&api, name).await?;
            let current = node.metadata.labels.clone().unwrap_or_default();
            let (patch, verb) = label_patch(&current, changes, *overwrite)?;
            if let Some(patch) = patch {
                merge(&api, name, &node, patch).await?;
            }
            Ok(format!("node/{name} {verb}"))
        }
        NodeCommand::Taint {
            name,
            changes,
            overwrite,
        } => {
            let node = get_node(&api, name).await?;
            let current = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            let (taints, verb) = apply_taint_changes(name, &current, changes, *overwrite)?;
            merge(&api, name, &node, json!({"spec": {"taints": taints}})).await?;
            Ok(format!("node/{name} {verb}"))
        }
        NodeCommand::Cordon { name } | NodeCommand::Uncordon { name } => {
            let cordon = matches!(command, NodeCommand::Cordon { .. });
            let node = get_node(&api, name).await?;
            let is = node
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            let word = if cordon { "cordoned" } else { "uncordoned" };
            if is == cordon {
                return Ok(format!("node/{name} already {word}"));
            }
            let value = if cordon { json!(true) } else { json!(null) };
            merge(&api, name, &node, json!({"spec": {"unschedulable": value}})).await?;
            Ok(format!("node/{name} {word}"))
        }
        NodeCommand::Fail { name } | NodeCommand::Recover { name } => {
            let fail = matches!(command, NodeCommand::Fail { .. });
            let node = get_node(&api, name).await?;
            let value = if fail { json!("true") } else { json!(null) };
            merge(
                &api,
                name,
                &node,
                json!({"metadata": {"annotations": {HEARTBEAT_PAUSED_ANNOTATION: value}}}),
            )
            .await?;
            Ok(if fail {
                format!(
                    "node/{name} heartbeats stopped (it turns unreachable after the node grace period)"
                )
            } else {
                format!("node/{name} heartbeats resumed")
            })
        }
    }
}

async fn get_node(api: &Api<Node>, name: &str) -> anyhow::Result<Node> {
    match api.get(name).await {
        Ok(n) => Ok(n),
        Err(err) if is_not_found(&err) => {
            bail!("Error from server (NotFound): nodes \"{name}\" not found")
        }
        Err(err) => Err(server_error(err)),
    }
}

/// A JSON merge patch guarded by the resourceVersion read, so a concurrent change is a
/// conflict instead of a silent overwrite of a list such as taints.
async fn merge(
    api: &Api<Node>,
    name: &str,
    node: &Node,
    mut patch: serde_json::Value,
) -> anyhow::Result<()> {
    if let (Some(rv), Some(obj)) = (&node.metadata.resource_version, patch.as_object_mut()) {
        let meta = obj.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), json!(rv));
        }
    }
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(server_error)
        .with_context(|| format!("updating node {name}"))?;
    Ok(())
}

/// Builds the Node `node add` creates: the fleet's standard labels, the given ones, taints
/// and capacity.
pub fn new_node(
    name: &str,
    labels: &[String],
    taints: &[String],
    cpu: &str,
    memory: &str,
    pods: &str,
) -> anyhow::Result<Node> {
    let mut all_labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_owned(), name.to_owned()),
        ("kubernetes.io/os".to_owned(), "linux".to_owned()),
        ("kubernetes.io/arch".to_owned(), "amd64".to_owned()),
    ]);
    for l in labels {
        let Some((k, v)) = l.split_once('=') else {
            bail!("invalid label {l:?}: expected key=value");
        };
        all_labels.insert(k.to_owned(), v.to_owned());
    }
    let mut node_taints = Vec::new();
    for t in taints {
        match parse_taint_spec(t).map_err(anyhow::Error::msg)? {
            TaintSpec::Add(taint) => node_taints.push(taint),
            TaintSpec::Remove(_) => {
                bail!("invalid taint {t:?}: `-` removes a taint; node add only adds")
            }
        }
    }
    let capacity = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
        ("pods".to_owned(), Quantity(pods.to_owned())),
    ]);
    Ok(Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(all_labels),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: (!node_taints.is_empty()).then_some(node_taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            ..NodeStatus::default()
        }),
    })
}

/// kubectl label's rules: `k=v` sets (an existing different value needs --overwrite), `k-`
/// removes. Returns the merge patch (None when nothing changes) and the verb to print.
pub fn label_patch(
    current: &BTreeMap<String, String>,
    changes: &[String],
    overwrite: bool,
) -> anyhow::Result<(Option<serde_json::Value>, &'static str)> {
    let mut labels = serde_json::Map::new();
    let mut added = false;
    let mut removed = false;
    for c in changes {
        if let Some(key) = c.strip_suffix('-') {
            if current.contains_key(key) {
                labels.insert(key.to_owned(), json!(null));
                removed = true;
            }
        } else if let Some((k, v)) = c.split_once('=') {
            match current.get(k) {
                Some(old) if old == v => {}
                Some(old) if !overwrite => {
                    bail!("'{k}' already has a value ({old}), and --overwrite is false")
                }
                _ => {
                    labels.insert(k.to_owned(), json!(v));
                    added = true;
                }
            }
        } else {
            bail!("invalid label change {c:?}: expected key=value or key-");
        }
    }
    let verb = match (added, removed) {
        (false, false) => "not labeled",
        (true, _) => "labeled",
        (false, true) => "unlabeled",
    };
    let patch = (!labels.is_empty()).then(|| json!({"metadata": {"labels": labels}}));
    Ok((patch, verb))
}

/// kubectl taint's rules on a node's taint list: adding a key+effect already present needs
/// --overwrite; removing one that is absent is an error. Returns the new list and the verb.
pub fn apply_taint_changes(
    node: &str,
    current: &[Taint],
    changes: &[String],
    overwrite: bool,
) -> anyhow::Result<(Vec<Taint>, &'static str)> {
    let mut taints = current.to_vec();
    let mut removed_any = false;
    let mut added_any = false;
    for c in changes {
        match parse_taint_spec(c).map_err(anyhow::Error::msg)? {
            TaintSpec::Add(taint) => {
                let existing = taints
                    .iter()
                    .position(|t| t.key == taint.key && t.effect == taint.effect);
                match existing {
                    Some(_) if !overwrite => bail!(
                        "node {node} already has {} taint(s) with same effect(s) and --overwrite is false",
                        taint.key
                    ),
                    Some(i) => taints[i] = taint,
                    None => taints.push(taint),
                }
                added_any = true;
            }
            TaintSpec::Remove(taint) => {
                let before = taints.len();
                taints.retain(|t| {
                    !(t.key == taint.key && (taint.effect.is_empty() || t.effect == taint.effect))
                });
                if taints.len() == before {
                    let what = if taint.effect.is_empty() {
                        taint.key.clone()
                    } else {
                        format!("{}:{}", taint.key, taint.effect)
                    };
                    bail!("taint {what:?} not found");
                }
                removed_any = true;
            }
        }
    }
    let verb = if added_any || !removed_any {
        "tainted"
    } else {
        "untainted"
    };
    Ok((taints, verb))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (changes, overwrite, Ok((patch labels, verb)) or Err(text in the error))
    type LabelCase = (
        Vec<&'static str>,
        bool,
        Result<(Option<serde_json::Value>, &'static str), &'static str>,
    );
    /// (changes, overwrite, Ok((resulting taints as text, verb)) or Err(text in the error))
    type TaintCase = (
        Vec<&'static str>,
        bool,
        Result<(Vec<&'static str>, &'static str), &'static str>,
    );

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.to_owned(),
            value: value.map(str::to_owned),
            effect: effect.to_owned(),
            time_added: None,
        }
    }

    #[test]
    fn label_changes_follow_kubectl_label() {
        let current = BTreeMap::from([("tier".to_owned(), "edge".to_owned())]);
        // (changes, overwrite, Ok((patch labels, verb)) or Err(text in the error))
        let cases: Vec<LabelCase> = vec![
            (
                vec!["zone=a"],
                false,
                Ok((Some(json!({"zone": "a"})), "labeled")),
            ),
            (vec!["tier=edge"], false, Ok((None, "not labeled"))),
            (
                vec!["tier=core"],
                false,
                Err("'tier' already has a value (edge), and --overwrite is false"),
            ),
            (
                vec!["tier=core"],
                true,
                Ok((Some(json!({"tier": "core"})), "labeled")),
            ),
            (
                vec!["tier-"],
                false,
                Ok((Some(json!({"tier": null})), "unlabeled")),
            ),
            (vec!["absent-"], false, Ok((None, "not labeled"))),
            (vec!["novalue"], false, Err("expected key=value or key-")),
        ];
        for (changes, overwrite, want) in cases {
            let changes: Vec<String> = changes.into_iter().map(str::to_owned).collect();
            let got = label_patch(&current, &changes, overwrite);
            match want {
                Ok((labels, verb)) => {
                    let (patch, got_verb) = got.expect("label change accepted");
                    assert_eq!(got_verb, verb, "{changes:?}");
                    assert_eq!(
                        patch,
                        labels.map(|l| json!({"metadata": {"labels": l}})),
                        "{changes:?}"
                    );
                }
                Err(text) => {
                    let err = got.expect_err("label change refused").to_string();
                    assert!(err.contains(text), "{changes:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn taint_changes_follow_kubectl_taint() {
        let current = vec![taint("dedicated", Some("db"), "NoSchedule")];
        // (changes, overwrite, Ok(resulting taints as text, verb) or Err(text in the error))
        let cases: Vec<TaintCase> = vec![
            (
                vec!["gpu=yes:NoExecute"],
                false,
                Ok((
                    vec!["dedicated=db:NoSchedule", "gpu=yes:NoExecute"],
                    "tainted",
                )),
            ),
            (
                vec!["dedicated=web:NoSchedule"],
                false,
                Err("already has dedicated taint(s) with same effect(s) and --overwrite is false"),
            ),
            (
                vec!["dedicated=web:NoSchedule"],
                true,
                Ok((vec!["dedicated=web:NoSchedule"], "tainted")),
            ),
            (
                vec!["dedicated=web:NoExecute"],
                false,
                Ok((
                    vec!["dedicated=db:NoSchedule", "dedicated=web:NoExecute"],
                    "tainted",
                )),
            ),
            (vec!["dedicated-"], false, Ok((vec![], "untainted"))),
            (
                vec!["dedicated:NoSchedule-"],
                false,
                Ok((vec![], "untainted")),
            ),
            (
                vec!["dedicated:NoExecute-"],
                false,
                Err("taint \"dedicated:NoExecute\" not found"),
            ),
            (vec!["other-"], false, Err("taint \"other\" not found")),
            (vec!["noeffect=x"], false, Err("invalid taint spec")),
        ];
        for (changes, overwrite, want) in cases {
            let changes: Vec<String> = changes.into_iter().map(str::to_owned).collect();
            let got = apply_taint_changes("n1", &current, &changes, overwrite);
            match want {
                Ok((taints, verb)) => {
                    let (got_taints, got_verb) = got.expect("taint change accepted");
                    let text: Vec<String> = got_taints
                        .iter()
                        .map(everynode_model::taints::format_taint)
                        .collect();
                    assert_eq!(text, taints, "{changes:?}");
                    assert_eq!(got_verb, verb, "{changes:?}");
                }
                Err(text) => {
                    let err = got.expect_err("taint change refused").to_string();
                    assert!(err.contains(text), "{changes:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn node_add_builds_labels_taints_and_capacity() {
        let node = new_node(
            "edge-1",
            &["nodepool=edge".to_owned()],
            &["dedicated=edge:NoSchedule".to_owned()],
            "2",
            "4Gi",
            "50",
        )
        .expect("valid node");
        let labels = node.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("nodepool").map(String::as_str), Some("edge"));
        assert_eq!(
            labels.get("kubernetes.io/hostname").map(String::as_str),
            Some("edge-1")
        );
        assert_eq!(
            labels.get("kubernetes.io/os").map(String::as_str),
            Some("linux")
        );
        let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
        assert_eq!(taints, vec![taint("dedicated", Some("edge"), "NoSchedule")]);
        let allocatable = node.status.and_then(|s| s.allocatable).unwrap_or_default();
        assert_eq!(allocatable.get("memory"), Some(&Quantity("4Gi".to_owned())));
        assert!(new_node("x", &["nolabel".to_owned()], &[], "1", "1Gi", "1").is_err());
        assert!(new_node("x", &[], &["k-".to_owned()], "1", "1Gi", "1").is_err());
    }
}
