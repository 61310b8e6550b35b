//! `everynode`: Kubernetes DaemonSets in one binary.
//!
//! The binary is a thin shell: each subcommand lives in its own module and the real work is
//! in the library crates (`everynode-daemonset`, `everynode-apiserver`, ...).

mod apiserver_cmd;
mod apply;
mod bench;
mod cluster_client;
mod completions;
mod controller_cmd;
mod demo;
mod kubectl;
mod plan;
mod sim_cmd;
mod up;

use std::process::ExitCode;

// The plane's clients parse every watch event into typed objects and the server encodes and
// decodes JSON for every request: small, short-lived allocations from many threads, where
// glibc's malloc spent about a quarter of the plane's CPU (perf, 5,000-node rollout).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Kubernetes DaemonSets, in one binary: an embedded control plane with simulated nodes, the
/// same controller for real clusters, and kubectl-style commands.
#[derive(Debug, Parser)]
#[command(
    name = "everynode",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  everynode demo                      a guided tour, nothing else needed\n  everynode up --profile examples/profile.yaml --apply examples/seeds\n  everynode get ds -A\n  everynode why fluentd -n kube-system\n  everynode completions bash > ~/.local/share/bash-completion/completions/everynode"
)]
struct Cli {
    /// Log filter, as RUST_LOG (e.g. `info`, `everynode=debug`).
    #[arg(long, global = true, env = "EVERYNODE_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline what-if: where would this DaemonSet run on these nodes, and what would the
    /// controller do?
    Plan(plan::PlanArgs),
    /// Run the embedded control plane: API server, controller, scheduler, garbage
    /// collection, node lifecycle and a simulated fleet, in one process.
    Up(up::UpArgs),
    /// Run the DaemonSet controller alone against any Kubernetes API server.
    Controller(controller_cmd::ControllerArgs),
    /// Run the simulated node fleet alone against any Kubernetes API server.
    Sim(sim_cmd::SimArgs),
    /// Run the embedded Kubernetes API server alone.
    Apiserver(apiserver_cmd::ApiserverArgs),
    /// Create or update objects from manifests (server-side apply), as `kubectl apply`.
    Apply(kubectl::apply_cmd::ApplyArgs),
    /// List objects with kubectl's columns: daemonsets, pods, nodes, controllerrevisions, events.
    Get(kubectl::get::GetArgs),
    /// Show a DaemonSet in detail: counts, pod template, events.
    Describe(kubectl::describe::DescribeArgs),
    /// Delete objects (`--cascade=background|foreground|orphan`).
    Delete(kubectl::delete::DeleteArgs),
    /// Follow, list, undo or restart a DaemonSet's rollout.
    Rollout(kubectl::rollout::RolloutArgs),
    /// Change a DaemonSet's template (`set image`).
    Set(kubectl::set_image::SetArgs),
    /// Shape the simulated fleet: add, remove, label, taint, cordon, fail and recover nodes.
    Node(kubectl::node::NodeArgs),
    /// Explain, node by node, whether a DaemonSet runs there and why (not).
    Why(kubectl::why::WhyArgs),
    /// A guided tour on a throwaway embedded plane; needs nothing but this binary.
    Demo(demo::DemoArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// Measure the whole embedded plane: convergence and rollout time, API calls, CPU, memory.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    // The kubectl-style commands report connection failures themselves, with what to do next;
    // kube's own log line about the same failure would only repeat it less helpfully.
    let log_defaulted = matches.value_source("log") == Some(ValueSource::DefaultValue);
    if log_defaulted && cli.command.is_cluster_client() {
        init_tracing(&format!("{},kube_client=off", cli.log));
    } else {
        init_tracing(&cli.log);
    }
    // One rustls crypto provider for the whole process (notes: kube and axum-server both need one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match &cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Up(args) => up::run(args),
        Command::Controller(args) => controller_cmd::run(args),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Apiserver(args) => apiserver_cmd::run(args),
        Command::Apply(args) => kubectl::apply_cmd::run(args),
        Command::Get(args) => kubectl::get::run(args),
        Command::Describe(args) => kubectl::describe::run(args),
        Command::Delete(args) => kubectl::delete::run(args),
        Command::Rollout(args) => kubectl::rollout::run(args),
        Command::Set(args) => kubectl::set_image::run(args),
        Command::Node(args) => kubectl::node::run(args),
        Command::Why(args) => kubectl::why::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Completions(args) => completions::run(args, Cli::command()),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            let text = format!("{err:#}");
            // kubectl prints API errors as they are (`Error from server (NotFound): ...`).
            if text.starts_with("Error from server") {
                eprintln!("{text}");
            } else {
                eprintln!("error: {text}");
            }
            ExitCode::from(1)
        }
    }
}

impl Command {
    /// True for the kubectl-style commands, which talk to a cluster as a client.
    fn is_cluster_client(&self) -> bool {
        matches!(
            self,
            Command::Apply(_)
                | Command::Get(_)
                | Command::Describe(_)
                | Command::Delete(_)
                | Command::Rollout(_)
                | Command::Set(_)
                | Command::Node(_)
                | Command::Why(_)
        )
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
