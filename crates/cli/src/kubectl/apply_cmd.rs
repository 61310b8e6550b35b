//! `everynode apply -f FILE|DIR|-`: server-side apply of every document, with kubectl's lines.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context;
use everynode_model::manifest;
use serde_json::Value;

use super::{ClusterArgs, block_on, connect};
use crate::apply;

/// Arguments of `everynode apply`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode apply -f examples/seeds\n  everynode apply -f fluentd.yaml -n kube-system\n  cat ds.yaml | everynode apply -f -"
)]
pub struct ApplyArgs {
    /// A manifest file, a directory of them (`.yaml`, `.yml`, `.json`), or `-` for stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Which cluster and namespace, and how to print.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs `everynode apply`.
pub fn run(args: &ApplyArgs) -> anyhow::Result<i32> {
    block_on(async {
        let ctx = connect(&args.cluster).await?;
        for file in &args.files {
            let docs = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading manifests from stdin")?;
                manifest::parse_documents(&text, "<stdin>")?
            } else if file.is_dir() {
                // Directories go through the shared helper, which orders namespaces first.
                if args.cluster.namespace.is_none() {
                    for line in apply::apply_path(&ctx.client, file).await? {
                        println!("{line}");
                    }
                    continue;
                }
                let mut docs = Vec::new();
                let mut entries: Vec<PathBuf> = std::fs::read_dir(file)
                    .with_context(|| format!("reading directory {}", file.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                    })
                    .collect();
                entries.sort();
                for p in entries {
                    docs.extend(manifest::read_documents(&p)?);
                }
                docs
            } else {
                manifest::read_documents(file)?
            };
            let mut docs = docs;
            docs.sort_by_key(|d| d.get("kind").and_then(Value::as_str) != Some("Namespace"));
            for mut doc in docs {
                if let Some(ns) = &args.cluster.namespace {
                    set_namespace_if_absent(&mut doc, ns);
                }
                println!("{}", apply::apply_document(&ctx.client, doc).await?);
            }
        }
        Ok(0)
    })
}

/// `-n` places namespaced objects that name no namespace (as kubectl does).
fn set_namespace_if_absent(doc: &mut Value, ns: &str) {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let namespaced = everynode_apiserver::registry::lookup_kind(group, kind)
        .map(|i| i.namespaced)
        .unwrap_or(true);
    if !namespaced {
        return;
    }
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.entry("namespace")
            .or_insert_with(|| Value::String(ns.to_owned()));
    }
}
