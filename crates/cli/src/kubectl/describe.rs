//! `everynode describe daemonset NAME`: spec 6.6's layout, with the pod template and events.

use anyhow::bail;
use everynode::describe::describe_daemonset;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};

use super::{ClusterArgs, block_on, connect, server_error};

/// Arguments of `everynode describe`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode describe ds fluentd -n kube-system\n  everynode describe daemonset/node-exporter -n monitoring"
)]
pub struct DescribeArgs {
    /// `daemonset NAME...`, `ds/NAME`, or just `daemonset` for every DaemonSet in the namespace.
    #[arg(required = true, num_args = 1..)]
    pub resource: Vec<String>,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `everynode describe`.
pub fn run(args: &DescribeArgs) -> anyhow::Result<i32> {
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        let (info, names) = super::split_type_and_names(&args.resource)?;
        if info.kind != "DaemonSet" {
            bail!(
                "everynode describes daemonsets only; use `everynode get {} -o yaml` for other kinds",
                info.plural
            );
        }
        let ds_api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let daemonsets = if names.is_empty() {
            let mut lp = ListParams::default();
            if let Some(sel) = &ctx.args.selector {
                lp = lp.labels(sel);
            }
            ds_api.list(&lp).await.map_err(server_error)?.items
        } else {
            let mut out = Vec::new();
            for name in &names {
                match ds_api.get(name).await {
                    Ok(ds) => out.push(ds),
                    Err(err) if super::is_not_found(&err) => {
                        bail!("Error from server (NotFound): daemonsets.apps \"{name}\" not found")
                    }
                    Err(err) => return Err(server_error(err)),
                }
            }
            out
        };
        if daemonsets.is_empty() {
            eprintln!("No resources found in {} namespace.", ctx.namespace);
            return Ok(0);
        }
        let pods: Vec<Pod> = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace)
            .list(&ListParams::default())
            .await
            .map_err(server_error)?
            .items;
        let events: Vec<Event> = Api::<Event>::namespaced(ctx.client.clone(), &ctx.namespace)
            .list(&ListParams::default())
            .await
            .map_err(server_error)?
            .items;
        let now = super::now();
        let texts: Vec<String> = daemonsets
            .iter()
            .map(|ds| describe_daemonset(ds, &pods, &events, now))
            .collect();
        print!("{}", texts.join("\n\n"));
        Ok(0)
    })
}
