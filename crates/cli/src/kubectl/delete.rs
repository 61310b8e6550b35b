//! `everynode delete TYPE NAME [--cascade=...]`: kubectl's propagation policies and lines.

use std::time::Duration;

use anyhow::bail;
use kube::api::{Api, DeleteParams, DynamicObject, PropagationPolicy};

use super::{ClusterArgs, api_resource, block_on, connect, is_not_found, server_error};

/// How dependents of a deleted object are treated (`--cascade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Cascade {
    /// The object goes at once; the garbage collector deletes its dependents afterwards.
    #[default]
    Background,
    /// The object stays (with a finalizer) until its dependents are deleted.
    Foreground,
    /// Dependents are kept and lose their owner reference.
    Orphan,
}

/// Arguments of `everynode delete`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode delete ds fluentd -n kube-system\n  everynode delete ds/fluentd -n kube-system --cascade=orphan\n  everynode delete pod fluentd-abcde -n kube-system"
)]
pub struct DeleteArgs {
    /// `TYPE NAME...` or `TYPE/NAME...`.
    #[arg(required = true, num_args = 1..)]
    pub resource: Vec<String>,
    /// What happens to the pods and revisions of a deleted DaemonSet.
    #[arg(long, value_enum, default_value_t = Cascade::Background)]
    pub cascade: Cascade,
    /// Wait for the object itself to be gone before returning.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub wait: bool,
    /// How long to wait (with --wait).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `everynode delete`.
pub fn run(args: &DeleteArgs) -> anyhow::Result<i32> {
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        let (info, names) = super::split_type_and_names(&args.resource)?;
        if names.is_empty() {
            bail!("resource(s) were provided, but no name was specified");
        }
        let resource = api_resource(info);
        let api: Api<DynamicObject> = if info.namespaced {
            Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource)
        } else {
            Api::all_with(ctx.client.clone(), &resource)
        };
        let policy = match args.cascade {
            Cascade::Background => PropagationPolicy::Background,
            Cascade::Foreground => PropagationPolicy::Foreground,
            Cascade::Orphan => PropagationPolicy::Orphan,
        };
        let dp = DeleteParams {
            propagation_policy: Some(policy),
            ..DeleteParams::default()
        };
        let qualified = if info.group.is_empty() {
            info.kind.to_lowercase()
        } else {
            format!("{}.{}", info.kind.to_lowercase(), info.group)
        };
        let plural = if info.group.is_empty() {
            info.plural.to_owned()
        } else {
            format!("{}.{}", info.plural, info.group)
        };
        let mut code = 0;
        for name in &names {
            match api.delete(name, &dp).await {
                Ok(_) => println!("{qualified} \"{name}\" deleted"),
                Err(err) if is_not_found(&err) => {
                    eprintln!("Error from server (NotFound): {plural} \"{name}\" not found");
                    code = 1;
                    continue;
                }
                Err(err) => return Err(server_error(err)),
            }
            if args.wait {
                wait_gone(&api, name, args.timeout).await?;
            }
        }
        Ok(code)
    })
}

/// Polls until the object is gone (finalizers of foreground/orphan deletion can keep it).
async fn wait_gone(api: &Api<DynamicObject>, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match api.get_opt(name).await.map_err(server_error)? {
            None => return Ok(()),
            Some(_) if tokio::time::Instant::now() >= deadline => {
                bail!(
                    "timed out after {} waiting for {name} to be deleted",
                    humantime::format_duration(timeout)
                )
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
