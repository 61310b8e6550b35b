//! `everynode why DAEMONSET [NODE]`: fetches what the pure explanation needs.

use anyhow::bail;
use everynode::output::OutputFormat;
use everynode::why::{NodeVerdict, explain, render_table};
use everynode_daemonset::history::{revision_hash, revision_matches};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};

use super::{ClusterArgs, block_on, connect, daemonset_name, is_not_found, server_error};

/// Arguments of `everynode why`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode why fluentd -n kube-system\n  everynode why ds/node-exporter gpu-1 -n monitoring\n  everynode why monitoring-agent -o json"
)]
pub struct WhyArgs {
    /// The DaemonSet (`NAME` or `ds/NAME`).
    pub daemonset: String,
    /// Only this node.
    pub node: Option<String>,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `everynode why`.
pub fn run(args: &WhyArgs) -> anyhow::Result<i32> {
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        let name = daemonset_name(std::slice::from_ref(&args.daemonset))?;
        let verdicts = why(&ctx.client, &ctx.namespace, &name, args.node.as_deref()).await?;
        match ctx.args.output {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&verdicts)?),
            OutputFormat::Yaml => print!(
                "{}",
                serde_saphyr::to_string(&verdicts).map_err(|e| anyhow::anyhow!("{e}"))?
            ),
            _ => print!("{}", render_table(&verdicts)),
        }
        Ok(0)
    })
}

/// Explains the DaemonSet on every node (or one).
pub async fn why(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    node: Option<&str>,
) -> anyhow::Result<Vec<NodeVerdict>> {
    let ds_api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let ds = match ds_api.get(name).await {
        Ok(ds) => ds,
        Err(err) if is_not_found(&err) => bail!(
            "Error from server (NotFound): daemonsets.apps \"{name}\" not found (in namespace {namespace}; use -n to pick another)"
        ),
        Err(err) => return Err(server_error(err)),
    };
    let node_api: Api<Node> = Api::all(client.clone());
    let nodes = match node {
        Some(n) => match node_api.get(n).await {
            Ok(node) => vec![node],
            Err(err) if is_not_found(&err) => {
                bail!("Error from server (NotFound): nodes \"{n}\" not found")
            }
            Err(err) => return Err(server_error(err)),
        },
        None => {
            node_api
                .list(&ListParams::default())
                .await
                .map_err(server_error)?
                .items
        }
    };
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(server_error)?
        .items;
    let revisions = Api::<ControllerRevision>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(server_error)?
        .items;
    let uid = ds.metadata.uid.as_deref();
    let current = revisions
        .iter()
        .filter(|cr| {
            cr.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.controller == Some(true) && Some(r.uid.as_str()) == uid)
        })
        .filter(|cr| revision_matches(cr, &ds))
        .max_by_key(|cr| cr.revision.unwrap_or(0))
        .map(|cr| revision_hash(cr).to_owned());
    Ok(explain(&ds, &nodes, &pods, current.as_deref()))
}
