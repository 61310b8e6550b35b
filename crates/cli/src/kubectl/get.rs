//! `everynode get`: kubectl's tables (same columns as the API server's Table), or the objects
//! as YAML, JSON or names.

use std::io::Write as _;

use everynode::output::{OutputFormat, TableOptions, render_get_table, render_structured};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::{ClusterArgs, Ctx, api_resource, block_on, connect, is_not_found, server_error};

/// Arguments of `everynode get`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode get ds -A\n  everynode get pods -n kube-system -l app=fluentd -o wide\n  everynode get ds/fluentd -n kube-system -o yaml\n  everynode get nodes\n  everynode get controllerrevisions -n kube-system\n  everynode get events -n kube-system"
)]
pub struct GetArgs {
    /// Resource type (daemonsets|ds, pods|po, nodes|no, controllerrevisions, events|ev,
    /// namespaces|ns), optionally followed by names; or TYPE/NAME.
    #[arg(required = true, num_args = 1..)]
    pub resource: Vec<String>,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `everynode get`.
pub fn run(args: &GetArgs) -> anyhow::Result<i32> {
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        let (info, names) = super::split_type_and_names(&args.resource)?;
        if ctx.args.all_namespaces && !names.is_empty() && info.namespaced {
            anyhow::bail!("a resource cannot be retrieved by name across all namespaces");
        }
        let objects = fetch(&ctx, info, &names).await?;
        let single = names.len() == 1;
        let format = ctx.args.output;
        let text = match render_structured(info, &objects, single, format)? {
            Some(text) => text,
            None => {
                let options = TableOptions {
                    wide: format == OutputFormat::Wide,
                    with_namespace: ctx.args.all_namespaces && info.namespaced,
                };
                let table = render_get_table(info, &objects, options, super::now());
                if table.is_empty() {
                    if info.namespaced && !ctx.args.all_namespaces {
                        eprintln!("No resources found in {} namespace.", ctx.namespace);
                    } else {
                        eprintln!("No resources found");
                    }
                }
                table
            }
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        Ok(0)
    })
}

/// Reads the named objects (or lists them, with `-l`) as JSON.
pub async fn fetch(
    ctx: &Ctx,
    info: &everynode_apiserver::registry::ResourceInfo,
    names: &[String],
) -> anyhow::Result<Vec<Value>> {
    let resource = api_resource(info);
    let api: Api<DynamicObject> =
        if !info.namespaced || (ctx.args.all_namespaces && names.is_empty()) {
            Api::all_with(ctx.client.clone(), &resource)
        } else {
            Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource)
        };
    let mut objects = Vec::new();
    if names.is_empty() {
        let mut lp = ListParams::default();
        if let Some(sel) = &ctx.args.selector {
            lp = lp.labels(sel);
        }
        let list = api.list(&lp).await.map_err(server_error)?;
        for item in list.items {
            objects.push(with_type(serde_json::to_value(item)?, info));
        }
    } else {
        for name in names {
            match api.get(name).await {
                Ok(obj) => objects.push(with_type(serde_json::to_value(obj)?, info)),
                Err(err) if is_not_found(&err) => {
                    let plural = if info.group.is_empty() {
                        info.plural.to_owned()
                    } else {
                        format!("{}.{}", info.plural, info.group)
                    };
                    anyhow::bail!("Error from server (NotFound): {plural} \"{name}\" not found");
                }
                Err(err) => return Err(server_error(err)),
            }
        }
    }
    Ok(objects)
}

/// Lists come back without `apiVersion`/`kind` on each item; `-o yaml|json` shows them.
fn with_type(mut obj: Value, info: &everynode_apiserver::registry::ResourceInfo) -> Value {
    if let Value::Object(map) = &mut obj {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(info.api_version()));
        map.entry("kind")
            .or_insert_with(|| Value::String(info.kind.to_owned()));
    }
    obj
}
