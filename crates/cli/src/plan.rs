//! `everynode plan`: an offline what-if. Reads a DaemonSet, nodes and optionally pods from
//! manifests and shows, per node, whether the controller would run a daemon pod there and
//! why not; with pods, also the creates and deletes one sync would issue and the status it
//! would write. Nothing is contacted: the engine is a pure function.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use everynode_daemonset::{
    DeleteReason, FailedPodBackoff, Observed, PlacementContext, PlacementReason, Plan,
    RevisionWrite,
};
use everynode_model::Timestamp;
use everynode_model::defaults::default_daemonset;
use everynode_model::manifest;
use everynode_model::validation::validate_daemonset;
use everynode_model::wellknown::TEMPLATE_GENERATION_ANNOTATION;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

const AFTER_HELP: &str = r#"Output (-o json) has this shape:
  {
    "nodes": [
      {"node": "worker-1", "shouldRun": true, "shouldContinueRunning": true, "reasons": []},
      {"node": "gpu-1", "shouldRun": false, "shouldContinueRunning": true,
       "reasons": ["taint nvidia.com/gpu=present:NoSchedule is not tolerated"]}
    ],
    "actions": {                       (null without --pods)
      "creates": [{"node": "worker-1"}],
      "deletes": [{"pod": "agent-x7k2p", "node": "drain-1", "reason": "NodeNotEligible"}],
      "revisions": ["create agent-5d8c7b9f4"]
    },
    "status": {...}                    (the apps/v1 DaemonSetStatus one sync would write;
                                        null without --pods or when unchanged)
  }
Nodes are listed in name order. Exit code 1 when the DaemonSet is invalid."#;

/// Arguments of `everynode plan`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct PlanArgs {
    /// Manifest with the DaemonSet (YAML or JSON; the first DaemonSet found is used).
    #[arg(long, value_name = "FILE")]
    pub daemonset: PathBuf,
    /// Manifest with the nodes (multi-document YAML or `kind: List`).
    #[arg(long, value_name = "FILE")]
    pub nodes: PathBuf,
    /// Manifest with existing pods; adds the planned actions and status to the output.
    #[arg(long, value_name = "FILE")]
    pub pods: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// How `everynode plan` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// kubectl-like aligned columns.
    Table,
    /// One JSON document (shape in `--help`).
    Json,
}

/// Runs `everynode plan`; returns the process exit code.
pub fn run(args: &PlanArgs) -> anyhow::Result<i32> {
    let ds = load_daemonset(&args.daemonset)?;
    let nodes: Vec<Node> = load_kind(&args.nodes, "Node")?;
    let pods: Option<Vec<Pod>> = match &args.pods {
        Some(path) => Some(load_kind(path, "Pod")?),
        None => None,
    };
    let report = match build_report(ds, nodes, pods, wall_clock_now()) {
        Ok(report) => report,
        Err(invalid) => {
            eprint!("{invalid}");
            return Ok(1);
        }
    };
    let text = match args.output {
        OutputFormat::Table => report.to_table(),
        OutputFormat::Json => {
            let mut s =
                serde_json::to_string_pretty(&report.to_json()).context("rendering JSON")?;
            s.push('\n');
            s
        }
    };
    print!("{text}");
    Ok(0)
}

/// The current wall-clock time (the CLI is the IO shell, so it may read the clock).
fn wall_clock_now() -> Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn load_daemonset(path: &Path) -> anyhow::Result<DaemonSet> {
    let source = path.display().to_string();
    let docs = manifest::read_documents(path)?;
    let Some(doc) = docs
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("DaemonSet"))
    else {
        bail!("{source}: no DaemonSet found");
    };
    Ok(manifest::decode(doc, &source)?)
}

fn load_kind<T: serde::de::DeserializeOwned>(path: &Path, kind: &str) -> anyhow::Result<Vec<T>> {
    let source = path.display().to_string();
    let docs = manifest::read_documents(path)?;
    let mut out = Vec::new();
    for doc in &docs {
        match doc.get("kind").and_then(Value::as_str) {
            Some(k) if k == kind => out.push(manifest::decode(doc, &source)?),
            Some(other) => bail!("{source}: expected only {kind} objects, found a {other}"),
            None => bail!("{source}: an object has no kind"),
        }
    }
    Ok(out)
}

/// The DaemonSet failed validation; `Display` is kubectl's rendering (spec 2.5).
#[derive(Debug, Clone)]
pub struct Invalid {
    /// The DaemonSet's name.
    pub name: String,
    /// One upstream-worded line per field error.
    pub errors: Vec<String>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.errors.as_slice() {
            [one] => writeln!(f, "The DaemonSet {:?} is invalid: {one}", self.name),
            many => {
                writeln!(f, "The DaemonSet {:?} is invalid: ", self.name)?;
                for e in many {
                    writeln!(f, "* {e}")?;
                }
                Ok(())
            }
        }
    }
}

/// One node's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Node name.
    pub node: String,
    /// A new daemon pod would be placed here.
    pub should_run: bool,
    /// An existing daemon pod may stay here.
    pub should_continue_running: bool,
    /// Why not, one line each.
    pub reasons: Vec<String>,
}

/// Everything `everynode plan` shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// One row per node, in name order.
    pub nodes: Vec<NodeRow>,
    /// The sync plan, when pods were given.
    pub plan: Option<Plan>,
}

/// Prepares the DaemonSet as the API server would store it: defaults, a namespace, and
/// generation / templateGeneration 1 when absent.
fn as_stored(mut ds: DaemonSet) -> DaemonSet {
    default_daemonset(&mut ds);
    ds.metadata
        .namespace
        .get_or_insert_with(|| "default".to_owned());
    ds.metadata.generation.get_or_insert(1);
    ds.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .entry(TEMPLATE_GENERATION_ANNOTATION.to_owned())
        .or_insert_with(|| "1".to_owned());
    ds
}

/// Computes the report: defaults and validates the DaemonSet, evaluates placement for every
/// node and, with pods, plans one sync at `now`.
pub fn build_report(
    ds: DaemonSet,
    mut nodes: Vec<Node>,
    pods: Option<Vec<Pod>>,
    now: Timestamp,
) -> Result<Report, Invalid> {
    let ds = as_stored(ds);
    let errors = validate_daemonset(&ds);
    if !errors.is_empty() {
        return Err(Invalid {
            name: ds.metadata.name.clone().unwrap_or_default(),
            errors: errors.iter().map(ToString::to_string).collect(),
        });
    }
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let context = PlacementContext::new(&ds);
    let rows = nodes
        .iter()
        .map(|node| {
            let placement = context.evaluate(node);
            NodeRow {
                node: node.metadata.name.clone().unwrap_or_default(),
                should_run: placement.should_run,
                should_continue_running: placement.should_continue_running,
                reasons: placement
                    .reasons
                    .iter()
                    .map(PlacementReason::to_string)
                    .collect(),
            }
        })
        .collect();
    let plan = pods.map(|pods| {
        let observed = Observed {
            daemonset: Arc::new(ds.clone()),
            nodes: nodes.into_iter().map(Arc::new).collect(),
            pods: pods.into_iter().map(Arc::new).collect(),
            revisions: Vec::new(),
            expectations_satisfied: true,
            backoff: FailedPodBackoff::default(),
        };
        everynode_daemonset::plan(&observed, now)
    });
    Ok(Report { nodes: rows, plan })
}

fn delete_reason(reason: DeleteReason) -> &'static str {
    match reason {
        DeleteReason::NodeNotEligible => "NodeNotEligible",
        DeleteReason::Failed => "Failed",
        DeleteReason::Succeeded => "Succeeded",
        DeleteReason::Duplicate => "Duplicate",
        DeleteReason::NodeGone => "NodeGone",
        DeleteReason::RollingUpdate => "RollingUpdate",
        DeleteReason::SurgeReplaced => "SurgeReplaced",
    }
}

fn revision_line(write: &RevisionWrite) -> String {
    match write {
        RevisionWrite::Create(cr) => {
            format!("create {}", cr.metadata.name.as_deref().unwrap_or(""))
        }
        RevisionWrite::AddHashLabel { target, hash } => {
            format!("label {} hash={hash}", target.name)
        }
        RevisionWrite::Renumber { target, revision } => {
            format!("renumber {} to {revision}", target.name)
        }
        RevisionWrite::Delete(target) => format!("delete {}", target.name),
    }
}

/// Aligns rows in columns separated by 3 spaces, like kubectl's tabwriter.
fn render_columns(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn status_json(status: &DaemonSetStatus) -> Value {
    serde_json::to_value(status).unwrap_or(Value::Null)
}

impl Report {
    /// The table rendering: node rows, then (with pods) actions and status.
    pub fn to_table(&self) -> String {
        let mut rows = vec![vec![
            "NODE".to_owned(),
            "SHOULD-RUN".to_owned(),
            "CONTINUE-RUNNING".to_owned(),
            "REASON".to_owned(),
        ]];
        for n in &self.nodes {
            let reason = if n.reasons.is_empty() {
                "<none>".to_owned()
            } else {
                n.reasons.join("; ")
            };
            rows.push(vec![
                n.node.clone(),
                n.should_run.to_string(),
                n.should_continue_running.to_string(),
                reason,
            ]);
        }
        let mut out = render_columns(&rows);
        let Some(plan) = &self.plan else { return out };

        out.push('\n');
        let mut actions = vec![vec![
            "ACTION".to_owned(),
            "NODE".to_owned(),
            "POD".to_owned(),
            "REASON".to_owned(),
        ]];
        for w in &plan.revision_writes {
            actions.push(vec![
                "revision".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                revision_line(w),
            ]);
        }
        for d in &plan.pod_deletes {
            actions.push(vec![
                "delete".to_owned(),
                d.node_name.clone().unwrap_or_else(|| "-".to_owned()),
                d.target.name.clone(),
                delete_reason(d.reason).to_owned(),
            ]);
        }
        for c in &plan.pod_creates {
            let name = c.pod.metadata.generate_name.clone().unwrap_or_default();
            actions.push(vec![
                "create".to_owned(),
                c.node_name.clone(),
                format!("{name}*"),
                "NoDaemonPod".to_owned(),
            ]);
        }
        if actions.len() == 1 {
            out.push_str("No pod actions.\n");
        } else {
            out.push_str(&render_columns(&actions));
        }

        out.push('\n');
        match &plan.status {
            None => out.push_str("Status unchanged.\n"),
            Some(s) => {
                let rows = vec![
                    [
                        "DESIRED",
                        "CURRENT",
                        "READY",
                        "UP-TO-DATE",
                        "AVAILABLE",
                        "MISSCHEDULED",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                    vec![
                        s.desired_number_scheduled.to_string(),
                        s.current_number_scheduled.to_string(),
                        s.number_ready.to_string(),
                        s.updated_number_scheduled.unwrap_or(0).to_string(),
                        s.number_available.unwrap_or(0).to_string(),
                        s.number_misscheduled.to_string(),
                    ],
                ];
                out.push_str(&render_columns(&rows));
            }
        }
        if let Some(after) = plan.requeue_after {
            let _ = writeln!(
                out,
                "\nThe controller would sync again after {}s.",
                after.as_secs()
            );
        }
        out
    }

    /// The JSON rendering (shape in the command's `--help`).
    pub fn to_json(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "node": n.node,
                    "shouldRun": n.should_run,
                    "shouldContinueRunning": n.should_continue_running,
                    "reasons": n.reasons,
                })
            })
            .collect();
        let (actions, status) = match &self.plan {
            None => (Value::Null, Value::Null),
            Some(plan) => (
                json!({
                    "creates": plan.pod_creates.iter().map(|c| json!({"node": c.node_name})).collect::<Vec<_>>(),
                    "deletes": plan.pod_deletes.iter().map(|d| json!({
                        "pod": d.target.name,
                        "node": d.node_name,
                        "reason": delete_reason(d.reason),
                    })).collect::<Vec<_>>(),
                    "revisions": plan.revision_writes.iter().map(revision_line).collect::<Vec<_>>(),
                }),
                plan.status.as_ref().map_or(Value::Null, status_json),
            ),
        };
        json!({"nodes": nodes, "actions": actions, "status": status})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plan")
            .join(name)
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_704_067_200).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn matrix(ds_file: &str) -> Vec<(String, bool, bool)> {
        let ds = load_daemonset(&fixture(ds_file)).expect("fixture DaemonSet");
        let nodes: Vec<Node> = load_kind(&fixture("nodes.yaml"), "Node").expect("fixture nodes");
        let report = build_report(ds, nodes, None, now()).expect("valid DaemonSet");
        report
            .nodes
            .into_iter()
            .map(|r| (r.node, r.should_run, r.should_continue_running))
            .collect()
    }

    #[test]
    fn seed_daemonsets_give_the_expected_should_run_matrix() {
        // (file, [(node, shouldRun, shouldContinueRunning)] in node name order)
        type Row = (&'static str, bool, bool);
        let cases: [(&str, [Row; 4]); 4] = [
            (
                "node-exporter.yaml",
                [
                    ("cp-1", true, true),
                    ("drain-1", true, true),
                    ("gpu-1", true, true),
                    ("worker-1", true, true),
                ],
            ),
            (
                "fluent-bit.yaml",
                [
                    ("cp-1", true, true),
                    ("drain-1", false, false),
                    ("gpu-1", false, true),
                    ("worker-1", true, true),
                ],
            ),
            (
                "monitoring-agent.yaml",
                [
                    ("cp-1", false, false),
                    ("drain-1", false, false),
                    ("gpu-1", false, false),
                    ("worker-1", true, true),
                ],
            ),
            (
                "affinity-agent.yaml",
                [
                    ("cp-1", false, true),
                    ("drain-1", false, false),
                    ("gpu-1", false, false),
                    ("worker-1", true, true),
                ],
            ),
        ];
        for (file, want) in cases {
            let want: Vec<(String, bool, bool)> = want
                .iter()
                .map(|(n, r, c)| ((*n).to_owned(), *r, *c))
                .collect();
            assert_eq!(matrix(file), want, "{file}");
        }
    }

    #[test]
    fn table_shows_reasons_and_actions_with_pods() {
        let ds = load_daemonset(&fixture("fluent-bit.yaml")).expect("fixture");
        let nodes: Vec<Node> = load_kind(&fixture("nodes.yaml"), "Node").expect("nodes");
        let pods: Vec<Pod> = load_kind(&fixture("fluent-bit-pods.yaml"), "Pod").expect("pods");
        let report = build_report(ds, nodes, Some(pods), now()).expect("valid");
        let table = report.to_table();
        let first: Vec<&str> = table.lines().take(2).collect();
        assert_eq!(
            first[0],
            "NODE       SHOULD-RUN   CONTINUE-RUNNING   REASON"
        );
        assert_eq!(
            first[1],
            "cp-1       true         true               <none>"
        );
        assert!(
            table.contains("taint example.com/maintenance:NoExecute is not tolerated"),
            "{table}"
        );
        let plan = report.plan.as_ref().expect("plan with pods");
        let deletes: Vec<(&str, DeleteReason)> = plan
            .pod_deletes
            .iter()
            .map(|d| (d.target.name.as_str(), d.reason))
            .collect();
        assert_eq!(
            deletes,
            vec![("fluent-bit-bbbbb", DeleteReason::NodeNotEligible)]
        );
        let creates: Vec<&str> = plan
            .pod_creates
            .iter()
            .map(|c| c.node_name.as_str())
            .collect();
        assert_eq!(creates, vec!["cp-1"]);
        let json = report.to_json();
        assert_eq!(json["nodes"][2]["node"], "gpu-1");
        assert_eq!(json["nodes"][2]["shouldContinueRunning"], true);
        assert_eq!(json["actions"]["deletes"][0]["reason"], "NodeNotEligible");
        assert_eq!(json["status"]["desiredNumberScheduled"], 2);
        // gpu-1 (NoSchedule, pod may stay) and drain-1 (pod about to be evicted) both count.
        assert_eq!(json["status"]["numberMisscheduled"], 2);
    }

    #[test]
    fn invalid_daemonset_is_reported_in_kubectl_format() {
        let mut ds = load_daemonset(&fixture("monitoring-agent.yaml")).expect("fixture");
        ds.spec.min_ready_seconds = Some(-1);
        let err = build_report(ds.clone(), Vec::new(), None, now()).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "The DaemonSet \"monitoring-agent\" is invalid: spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0\n"
        );
        ds.spec.template.spec.as_mut().expect("spec").restart_policy = Some("Never".to_owned());
        let err = build_report(ds, Vec::new(), None, now()).expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.starts_with("The DaemonSet \"monitoring-agent\" is invalid: \n* "),
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.starts_with("* ")).count(),
            err.errors.len()
        );
    }
}
