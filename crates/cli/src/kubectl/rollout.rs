//! `everynode rollout status|history|undo|restart` for DaemonSets (spec 6.1–6.4).

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::{Context, bail};
use everynode::describe::describe_pod_template;
use everynode::rollout::{
    RolloutStatus, history_revision, history_table, owned_revisions, rollout_status,
    template_of_revision, undo_target,
};
use everynode_daemonset::history::revision_matches;
use everynode_model::wellknown::RESTARTED_AT_ANNOTATION;
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::watcher;

use super::{ClusterArgs, block_on, connect, daemonset_name, is_not_found, server_error};

/// Arguments of `everynode rollout`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode rollout status ds/fluentd -n kube-system\n  everynode rollout history ds/fluentd -n kube-system\n  everynode rollout undo ds/fluentd -n kube-system --to-revision=1\n  everynode rollout restart ds/fluentd -n kube-system"
)]
pub struct RolloutArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RolloutCommand,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// The rollout subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RolloutCommand {
    /// Watch a rollout until every pod is updated and available.
    #[command(
        after_help = "Example:\n  everynode rollout status ds/fluentd -n kube-system --timeout 2m"
    )]
    Status {
        /// `ds/NAME` or `daemonset NAME`.
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        /// Keep watching until done (`--watch=false` prints once).
        #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set)]
        watch: bool,
        /// Give up after this long (0 waits forever).
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Ignored for DaemonSets (as kubectl ignores it).
        #[arg(long)]
        revision: Option<i64>,
    },
    /// List the revisions, or show one revision's pod template.
    #[command(
        after_help = "Example:\n  everynode rollout history ds/fluentd -n kube-system --revision=2"
    )]
    History {
        /// `ds/NAME` or `daemonset NAME`.
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        /// Show this revision's pod template.
        #[arg(long)]
        revision: Option<i64>,
    },
    /// Roll back to the previous revision (or `--to-revision`).
    #[command(
        after_help = "Example:\n  everynode rollout undo ds/fluentd -n kube-system --to-revision=1"
    )]
    Undo {
        /// `ds/NAME` or `daemonset NAME`.
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        /// The revision to go back to (0: the one before the current).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        to_revision: i64,
    },
    /// Restart every pod through a rolling update (sets the restartedAt annotation).
    #[command(after_help = "Example:\n  everynode rollout restart ds/fluentd -n kube-system")]
    Restart {
        /// `ds/NAME` or `daemonset NAME`.
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
    },
    /// Not supported for DaemonSets (kubectl says so too).
    #[command(
        after_help = "Example (fails, as with kubectl):\n  everynode rollout pause ds/fluentd -n kube-system"
    )]
    Pause {
        /// `ds/NAME`.
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
    },
    /// Not supported for DaemonSets (kubectl says so too).
    #[command(
        after_help = "Example (fails, as with kubectl):\n  everynode rollout resume ds/fluentd -n kube-system"
    )]
    Resume {
        /// `ds/NAME`.
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
    },
}

/// Runs `everynode rollout ...`.
pub fn run(args: &RolloutArgs) -> anyhow::Result<i32> {
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        match &args.command {
            RolloutCommand::Status {
                target,
                watch,
                timeout,
                revision: _,
            } => {
                let name = daemonset_name(target)?;
                status(&ctx.client, &ctx.namespace, &name, *watch, *timeout).await
            }
            RolloutCommand::History { target, revision } => {
                let name = daemonset_name(target)?;
                print!(
                    "{}",
                    history(&ctx.client, &ctx.namespace, &name, *revision).await?
                );
                Ok(0)
            }
            RolloutCommand::Undo {
                target,
                to_revision,
            } => {
                let name = daemonset_name(target)?;
                println!(
                    "{}",
                    undo(&ctx.client, &ctx.namespace, &name, *to_revision).await?
                );
                Ok(0)
            }
            RolloutCommand::Restart { target } => {
                let name = daemonset_name(target)?;
                println!("{}", restart(&ctx.client, &ctx.namespace, &name).await?);
                Ok(0)
            }
            RolloutCommand::Pause { target } => {
                let name = daemonset_name(target)?;
                bail!("daemonsets.apps \"{name}\" pausing is not supported")
            }
            RolloutCommand::Resume { target } => {
                let name = daemonset_name(target)?;
                bail!("daemonsets.apps \"{name}\" resuming is not supported")
            }
        }
    })
}

async fn get_ds(api: &Api<DaemonSet>, name: &str) -> anyhow::Result<DaemonSet> {
    match api.get(name).await {
        Ok(ds) => Ok(ds),
        Err(err) if is_not_found(&err) => {
            bail!("Error from server (NotFound): daemonsets.apps \"{name}\" not found")
        }
        Err(err) => Err(server_error(err)),
    }
}

/// `rollout status`: watches the DaemonSet and reports each change, with a progress bar on a
/// terminal and plain lines otherwise, until rolled out (exit 0) or the timeout.
pub async fn status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    watch: bool,
    timeout: Duration,
) -> anyhow::Result<i32> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let ds = get_ds(&api, name).await?;
    let first = rollout_status(&ds)?;
    if !watch {
        println!("{}", first.message);
        return Ok(0);
    }
    let mut reporter = Reporter::new(std::io::stdout().is_terminal());
    reporter.show(&first);
    if first.done {
        reporter.finish(&first);
        return Ok(0);
    }
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let stream = watcher(api, config);
    futures::pin_mut!(stream);
    let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout);
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    reporter.abandon();
                    bail!(
                        "timed out waiting for the condition (after {})",
                        humantime::format_duration(timeout)
                    );
                }
            },
            None => stream.next().await,
        };
        let event = match next {
            Some(Ok(event)) => event,
            Some(Err(err)) => {
                reporter.abandon();
                return Err(anyhow::Error::new(err).context("watching the DaemonSet"));
            }
            None => {
                reporter.abandon();
                bail!("the watch of daemon set {name:?} ended");
            }
        };
        let ds = match event {
            watcher::Event::Apply(ds) | watcher::Event::InitApply(ds) => ds,
            watcher::Event::Delete(_) => {
                reporter.abandon();
                bail!("object has been deleted");
            }
            watcher::Event::Init | watcher::Event::InitDone => continue,
        };
        let st = match rollout_status(&ds) {
            Ok(st) => st,
            Err(err) => {
                reporter.abandon();
                return Err(err.into());
            }
        };
        reporter.show(&st);
        if st.done {
            reporter.finish(&st);
            return Ok(0);
        }
    }
}

/// Prints rollout progress: a live bar on a terminal, a line per change otherwise.
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    last: Option<String>,
}

impl Reporter {
    fn new(tty: bool) -> Self {
        let bar = tty.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} pods updated and available  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Reporter { bar, last: None }
    }

    fn show(&mut self, st: &RolloutStatus) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(u64::try_from(st.desired.max(0)).unwrap_or(0));
                let progress = st.updated.min(st.available).max(0);
                bar.set_position(u64::try_from(progress).unwrap_or(0));
                bar.set_message(st.message.clone());
            }
            None => {
                // kubectl prints a line per watch event; repeating an identical line adds nothing.
                if self.last.as_deref() != Some(st.message.as_str()) {
                    println!("{}", st.message);
                }
            }
        }
        self.last = Some(st.message.clone());
    }

    fn finish(&mut self, st: &RolloutStatus) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            println!("{}", st.message);
        }
    }

    fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

async fn revisions(
    client: &kube::Client,
    ds: &DaemonSet,
) -> anyhow::Result<Vec<ControllerRevision>> {
    let ns = ds.metadata.namespace.as_deref().unwrap_or("default");
    let selector = everynode_model::selector::label_selector_to_string(&ds.spec.selector);
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), ns);
    let mut lp = ListParams::default();
    if !selector.is_empty() && selector != "<error>" {
        lp = lp.labels(&selector);
    }
    Ok(api.list(&lp).await.map_err(server_error)?.items)
}

/// `rollout history`: the revision table, or with `--revision` that revision's template.
pub async fn history(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    revision: Option<i64>,
) -> anyhow::Result<String> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let ds = get_ds(&api, name).await?;
    let crs = revisions(client, &ds).await?;
    let owned = owned_revisions(&ds, &crs);
    match revision {
        None | Some(0) => Ok(history_table(name, &owned)),
        Some(n) => {
            let cr = history_revision(&owned, n)?;
            let template = template_of_revision(&ds, cr)
                .map_err(|e| anyhow::anyhow!("applying revision {n}: {e}"))?;
            // kubectl ends the template with an empty line.
            Ok(format!(
                "daemonset.apps/{name} with revision #{n}\n{}\n",
                describe_pod_template(&template)
            ))
        }
    }
}

/// `rollout undo`: sends the chosen revision's data as a strategic merge patch.
pub async fn undo(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    to_revision: i64,
) -> anyhow::Result<String> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let ds = get_ds(&api, name).await?;
    let crs = revisions(client, &ds).await?;
    let owned = owned_revisions(&ds, &crs);
    let target = undo_target(&owned, to_revision)?;
    if revision_matches(target, &ds) {
        return Ok(format!(
            "daemonset.apps/{name} skipped rollback (current template already matches revision {to_revision})"
        ));
    }
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Strategic(&target.data.0),
    )
    .await
    .map_err(server_error)
    .with_context(|| format!("rolling back daemon set {name:?}"))?;
    Ok(format!("daemonset.apps/{name} rolled back"))
}

/// `rollout restart`: stamps the template with `kubectl.kubernetes.io/restartedAt`.
pub async fn restart(client: &kube::Client, namespace: &str, name: &str) -> anyhow::Result<String> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    let ds = get_ds(&api, name).await?;
    let now = super::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let current = ds
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT_ANNOTATION));
    if current.map(String::as_str) == Some(now.as_str()) {
        bail!("failed to create patch for {name}: empty patch");
    }
    let patch = serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}
    });
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map_err(server_error)?;
    Ok(format!("daemonset.apps/{name} restarted"))
}
