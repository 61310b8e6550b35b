//! kubectl-style commands against any cluster (the embedded plane by default): what they
//! share is here: the cluster flags, connecting with a hint when nothing answers, resource
//! names and kubectl's error wording.

pub mod apply_cmd;
pub mod delete;
pub mod describe;
pub mod get;
pub mod node;
pub mod rollout;
pub mod set_image;
pub mod why;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use everynode::output::OutputFormat;
use everynode_apiserver::registry::{self, ResourceInfo};
use kube::api::ApiResource;

/// Flags every kubectl-style command takes (kubectl's global flags).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig to use. Default: the embedded plane's (`$EVERYNODE_DATA_DIR/kubeconfig` or
    /// `~/.everynode/kubeconfig`), else `$KUBECONFIG` or `~/.kube/config`.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Across all namespaces.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Label selector, e.g. `app=fluentd,tier!=web`.
    #[arg(short = 'l', long, global = true)]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// A connected client plus the namespace the command works in.
pub struct Ctx {
    /// The API client.
    pub client: kube::Client,
    /// `-n`, else the kubeconfig's namespace.
    pub namespace: String,
    /// The flags.
    pub args: ClusterArgs,
}

/// Runs an async command body on a fresh runtime (each command is one short-lived process).
pub fn block_on<F: std::future::Future<Output = anyhow::Result<i32>>>(
    fut: F,
) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(fut)
}

/// The kubeconfig a command uses when none is given: a running embedded plane's, looked for
/// in `$EVERYNODE_DATA_DIR` first, then in `~/.everynode`; `None` leaves it to kube's own
/// inference (`$KUBECONFIG`, `~/.kube/config`, in-cluster).
pub fn resolve_kubeconfig(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("EVERYNODE_DATA_DIR") {
        let p = Path::new(&dir).join("kubeconfig");
        if p.exists() {
            return Some(p);
        }
    }
    crate::cluster_client::kubeconfig_path(None)
}

/// Connects and checks that the API server answers, so that "nothing is running" gets a
/// message saying how to start something instead of a transport error.
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Ctx> {
    let path = resolve_kubeconfig(args.kubeconfig.as_deref());
    let client = crate::cluster_client::connect(path.as_deref()).await?;
    let where_ = match &path {
        Some(p) => format!("the cluster in {}", p.display()),
        None => "the cluster from $KUBECONFIG / ~/.kube/config".to_owned(),
    };
    match tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => bail!(
            "cannot reach {where_}: {err}\nstart one with `everynode up` (or pass --kubeconfig / set KUBECONFIG)"
        ),
        Err(_) => bail!(
            "{where_} did not answer within 15s\nstart one with `everynode up` (or pass --kubeconfig / set KUBECONFIG)"
        ),
    }
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    Ok(Ctx {
        client,
        namespace,
        args: args.clone(),
    })
}

/// A resource type as the user may spell it (kubectl's names, plurals and short names).
pub fn resource_info(word: &str) -> anyhow::Result<&'static ResourceInfo> {
    let lower = word.to_lowercase();
    // `daemonsets.apps` is accepted as kubectl accepts it.
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n.to_owned(), Some(g.to_owned())),
        None => (lower.clone(), None),
    };
    let (g, kind) = match name.as_str() {
        "daemonsets" | "daemonset" | "ds" => ("apps", "DaemonSet"),
        "pods" | "pod" | "po" => ("", "Pod"),
        "nodes" | "node" | "no" => ("", "Node"),
        "controllerrevisions" | "controllerrevision" => ("apps", "ControllerRevision"),
        "events" | "event" | "ev" => ("", "Event"),
        "namespaces" | "namespace" | "ns" => ("", "Namespace"),
        _ => bail!(
            "the server doesn't have a resource type \"{word}\" (everynode knows daemonsets (ds), pods (po), nodes (no), controllerrevisions, events (ev), namespaces (ns))"
        ),
    };
    if let Some(group) = group
        && group != g
    {
        bail!("the server doesn't have a resource type \"{word}\"");
    }
    registry::lookup_kind(g, kind)
        .with_context(|| format!("everynode's registry does not serve {kind}"))
}

/// The kube-rs description of a resource, for dynamic clients.
pub fn api_resource(info: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: info.group.to_owned(),
        version: info.version.to_owned(),
        api_version: info.api_version(),
        kind: info.kind.to_owned(),
        plural: info.plural.to_owned(),
    }
}

/// Splits kubectl's `TYPE NAME...` / `TYPE/NAME...` arguments into a type and names.
pub fn split_type_and_names(
    args: &[String],
) -> anyhow::Result<(&'static ResourceInfo, Vec<String>)> {
    let Some(first) = args.first() else {
        bail!("you must specify the type of resource, e.g. `daemonsets`, `pods` or `nodes`");
    };
    if let Some((ty, name)) = first.split_once('/') {
        let info = resource_info(ty)?;
        let mut names = vec![name.to_owned()];
        for a in &args[1..] {
            let Some((t, n)) = a.split_once('/') else {
                bail!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form"
                );
            };
            if resource_info(t)? != info {
                bail!("everynode handles one resource type per command; got {first} and {a}");
            }
            names.push(n.to_owned());
        }
        return Ok((info, names));
    }
    Ok((resource_info(first)?, args[1..].to_vec()))
}

/// The DaemonSet name in `ds/NAME`, `daemonset/NAME`, `daemonset NAME` or plain `NAME`.
pub fn daemonset_name(args: &[String]) -> anyhow::Result<String> {
    match args {
        [one] => match one.split_once('/') {
            Some((ty, name)) => {
                let info = resource_info(ty)?;
                if info.kind != "DaemonSet" {
                    bail!(
                        "{ty} is not supported here: everynode's rollout commands work on daemonsets"
                    );
                }
                Ok(name.to_owned())
            }
            None => Ok(one.clone()),
        },
        [ty, name] => {
            let info = resource_info(ty)?;
            if info.kind != "DaemonSet" {
                bail!(
                    "{ty} is not supported here: everynode's rollout commands work on daemonsets"
                );
            }
            Ok(name.clone())
        }
        [] => bail!("required resource not specified: name a DaemonSet, e.g. ds/fluentd"),
        _ => bail!("one DaemonSet at a time, e.g. ds/fluentd"),
    }
}

/// kubectl's wording for an error from the API server: `Error from server (NotFound): ...`.
pub fn server_error(err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                "Unknown".to_owned()
            } else {
                status.reason.clone()
            };
            anyhow::anyhow!("Error from server ({reason}): {}", status.message)
        }
        other => anyhow::Error::new(other),
    }
}

/// True when a kube error is a 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// The wall clock as the jiff timestamp AGE columns are measured against.
pub fn now() -> everynode_model::Timestamp {
    everynode_model::Timestamp::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_accept_kubectl_spellings() {
        // (what the user typed, the kind it means)
        let cases = [
            ("ds", "DaemonSet"),
            ("daemonsets", "DaemonSet"),
            ("daemonset.apps", "DaemonSet"),
            ("po", "Pod"),
            ("pods", "Pod"),
            ("no", "Node"),
            ("controllerrevisions", "ControllerRevision"),
            ("ev", "Event"),
            ("ns", "Namespace"),
        ];
        for (word, kind) in cases {
            assert_eq!(resource_info(word).expect(word).kind, kind, "{word}");
        }
        assert!(resource_info("deployments").is_err());
        assert!(resource_info("ds.core").is_err());
    }

    #[test]
    fn type_and_names_in_both_forms() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (info, names) = split_type_and_names(&words(&["ds", "a", "b"])).expect("TYPE NAME");
        assert_eq!((info.kind, names), ("DaemonSet", words(&["a", "b"])));
        let (info, names) = split_type_and_names(&words(&["po/a", "pod/b"])).expect("TYPE/NAME");
        assert_eq!((info.kind, names), ("Pod", words(&["a", "b"])));
        assert!(split_type_and_names(&words(&["po/a", "b"])).is_err());
        assert!(split_type_and_names(&words(&["po/a", "ds/b"])).is_err());
        assert!(split_type_and_names(&[]).is_err());
        assert_eq!(daemonset_name(&words(&["ds/x"])).expect("ds/x"), "x");
        assert_eq!(
            daemonset_name(&words(&["daemonset", "x"])).expect("ds x"),
            "x"
        );
        assert_eq!(daemonset_name(&words(&["x"])).expect("x"), "x");
        assert!(daemonset_name(&words(&["po/x"])).is_err());
    }
}
