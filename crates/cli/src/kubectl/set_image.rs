//! `everynode set image ds/NAME container=image...` (spec 6.5).

use anyhow::bail;
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::{ClusterArgs, block_on, connect, daemonset_name, is_not_found, server_error};

/// Arguments of `everynode set`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  everynode set image ds/fluentd fluentd=fluent/fluentd:v1.17 -n kube-system"
)]
pub struct SetArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SetCommand,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What `set` can change.
#[derive(Debug, clap::Subcommand)]
pub enum SetCommand {
    /// Change container images of a DaemonSet's template (starts a rolling update).
    #[command(
        after_help = "Examples:\n  everynode set image ds/fluentd fluentd=fluent/fluentd:v1.17 -n kube-system\n  everynode set image ds/node-exporter '*=prom/node-exporter:v1.8.0' -n monitoring"
    )]
    Image {
        /// `ds/NAME`, then `CONTAINER=IMAGE` pairs (`*=IMAGE` for every container).
        #[arg(required = true, num_args = 2..)]
        args: Vec<String>,
    },
}

/// Runs `everynode set image`.
pub fn run(args: &SetArgs) -> anyhow::Result<i32> {
    let SetCommand::Image { args: words } = &args.command;
    // The target is `ds/NAME` or `daemonset NAME`; everything with `=` is a pair.
    let (target, pairs): (Vec<String>, Vec<String>) =
        words.iter().cloned().partition(|w| !w.contains('='));
    let name = daemonset_name(&target)?;
    let mut changes = Vec::new();
    for pair in &pairs {
        match pair.split_once('=') {
            Some((c, img)) if !c.is_empty() && !img.is_empty() => {
                changes.push((c.to_owned(), img.to_owned()))
            }
            _ => bail!("invalid image update {pair:?}: expected CONTAINER=IMAGE"),
        }
    }
    if changes.is_empty() {
        bail!("at least one image update is required, e.g. fluentd=fluent/fluentd:v1.17");
    }
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let ds = match api.get(&name).await {
            Ok(ds) => ds,
            Err(err) if is_not_found(&err) => {
                bail!("Error from server (NotFound): daemonsets.apps \"{name}\" not found")
            }
            Err(err) => return Err(server_error(err)),
        };
        let Some(patch) = image_patch(&ds, &changes)? else {
            return Ok(0);
        };
        api.patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map_err(server_error)?;
        println!("daemonset.apps/{name} image updated");
        Ok(0)
    })
}

/// The strategic merge patch for the requested image changes, `None` when nothing changes
/// (kubectl then prints nothing).
pub fn image_patch(ds: &DaemonSet, changes: &[(String, String)]) -> anyhow::Result<Option<Value>> {
    let spec = ds.spec.template.spec.clone().unwrap_or_default();
    let mut containers: Vec<Value> = Vec::new();
    let mut init: Vec<Value> = Vec::new();
    let no_init = Vec::new();
    let init_list = spec.init_containers.as_ref().unwrap_or(&no_init);
    for (container, image) in changes {
        let mut found = false;
        for (list, out) in [(&spec.containers, &mut containers), (init_list, &mut init)] {
            for c in list {
                if container == "*" || &c.name == container {
                    found = true;
                    if c.image.as_deref() != Some(image.as_str()) {
                        out.retain(|v: &Value| v.get("name") != Some(&json!(c.name)));
                        out.push(json!({"name": c.name, "image": image}));
                    }
                }
            }
        }
        if !found {
            bail!("unable to find container named {container:?}");
        }
    }
    if containers.is_empty() && init.is_empty() {
        return Ok(None);
    }
    let mut pod_spec = serde_json::Map::new();
    if !containers.is_empty() {
        pod_spec.insert("containers".into(), Value::Array(containers));
    }
    if !init.is_empty() {
        pod_spec.insert("initContainers".into(), Value::Array(init));
    }
    Ok(Some(json!({"spec": {"template": {"spec": pod_spec}}})))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (changes, Ok(expected patch) or Err(the error text))
    type ImageCase = (
        Vec<(&'static str, &'static str)>,
        Result<Option<Value>, &'static str>,
    );

    fn ds() -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {"spec": {
                    "initContainers": [{"name": "init", "image": "busybox:1"}],
                    "containers": [
                        {"name": "main", "image": "agent:v1"},
                        {"name": "side", "image": "side:v1"}
                    ]
                }}
            }
        }))
        .expect("fixture")
    }

    #[test]
    fn image_patch_follows_kubectl_set_image() {
        // (changes, Ok(expected patch) / Err(text))
        let cases: Vec<ImageCase> = vec![
            (
                vec![("main", "agent:v2")],
                Ok(Some(json!({"spec": {"template": {"spec": {
                    "containers": [{"name": "main", "image": "agent:v2"}]
                }}}}))),
            ),
            (vec![("main", "agent:v1")], Ok(None)),
            (
                vec![("*", "x:1")],
                Ok(Some(json!({"spec": {"template": {"spec": {
                    "containers": [{"name": "main", "image": "x:1"}, {"name": "side", "image": "x:1"}],
                    "initContainers": [{"name": "init", "image": "x:1"}]
                }}}}))),
            ),
            (
                vec![("init", "busybox:2")],
                Ok(Some(json!({"spec": {"template": {"spec": {
                    "initContainers": [{"name": "init", "image": "busybox:2"}]
                }}}}))),
            ),
            (
                vec![("nope", "x")],
                Err("unable to find container named \"nope\""),
            ),
        ];
        for (changes, want) in cases {
            let changes: Vec<(String, String)> = changes
                .into_iter()
                .map(|(c, i)| (c.to_owned(), i.to_owned()))
                .collect();
            let got = image_patch(&ds(), &changes);
            match want {
                Ok(patch) => assert_eq!(got.expect("accepted"), patch, "{changes:?}"),
                Err(text) => assert_eq!(got.expect_err("refused").to_string(), text),
            }
        }
    }
}
