//! Applying manifests through the API, shared by `everynode up --apply` and `everynode apply`.
//!
//! Uses server-side apply (`application/apply-patch+yaml`), which both everynode's API server
//! and a real kube-apiserver understand, and reports what kubectl reports:
//! `<kind>.<group>/<name> created|configured|unchanged`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use everynode_model::manifest;
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;

/// The field manager everynode applies with.
const FIELD_MANAGER: &str = "everynode";

/// Applies every document in a file or a directory (its `.yaml`, `.yml` and `.json` files, in
/// name order), returning one kubectl-style line per object.
pub async fn apply_path(client: &kube::Client, path: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path)
            .with_context(|| format!("reading directory {}", path.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading directory {}", path.display()))?;
            let p = entry.path();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "yaml" | "yml" | "json") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut docs = Vec::new();
    for file in &files {
        docs.extend(manifest::read_documents(file)?);
    }
    // Namespaces first, so the objects in them can be created in the same run.
    docs.sort_by_key(|d| d.get("kind").and_then(|k| k.as_str()) != Some("Namespace"));
    let mut lines = Vec::new();
    for doc in docs {
        lines.push(apply_document(client, doc).await?);
    }
    Ok(lines)
}

/// Applies one object and says what happened to it.
pub async fn apply_document(
    client: &kube::Client,
    doc: serde_json::Value,
) -> anyhow::Result<String> {
    let api_version = doc
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .context("object has no apiVersion")?
        .to_string();
    let kind = doc
        .get("kind")
        .and_then(|v| v.as_str())
        .context("object has no kind")?
        .to_string();
    let name = doc
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{kind} has no metadata.name"))?
        .to_string();
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &kind);
    let (resource, namespaced) = resolve(client, &gvk).await?;
    let api: Api<DynamicObject> = if namespaced {
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str())
            .unwrap_or("default")
            .to_string();
        Api::namespaced_with(client.clone(), &ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    let before = api
        .get_opt(&name)
        .await
        .with_context(|| format!("reading {kind} {name}"))?;
    let after = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&doc),
        )
        .await
        .with_context(|| format!("applying {kind} {name}"))?;
    let verb = match before {
        None => "created",
        Some(b) if b.metadata.resource_version == after.metadata.resource_version => "unchanged",
        Some(_) => "configured",
    };
    let kind_lower = kind.to_lowercase();
    let qualified = if group.is_empty() {
        kind_lower
    } else {
        format!("{kind_lower}.{group}")
    };
    Ok(format!("{qualified}/{name} {verb}"))
}

/// Finds the resource for a kind: from everynode's registry when it is one we serve, else
/// through discovery (for real clusters).
async fn resolve(
    client: &kube::Client,
    gvk: &GroupVersionKind,
) -> anyhow::Result<(ApiResource, bool)> {
    if let Some(info) = everynode_apiserver::registry::lookup_kind(&gvk.group, &gvk.kind)
        && info.version == gvk.version
    {
        let resource = ApiResource {
            group: gvk.group.clone(),
            version: gvk.version.clone(),
            api_version: info.api_version(),
            kind: gvk.kind.clone(),
            plural: info.plural.to_string(),
        };
        return Ok((resource, info.namespaced));
    }
    let (resource, caps) = kube::discovery::pinned_kind(client, gvk)
        .await
        .with_context(|| {
            format!(
                "the server does not know {} {}",
                gvk.api_version(),
                gvk.kind
            )
        })?;
    Ok((resource, caps.scope == kube::discovery::Scope::Namespaced))
}

/// Waits until every DaemonSet has observed its latest generation and has every desired pod
/// updated and available.
pub async fn wait_for_daemonsets(client: &kube::Client, timeout: Duration) -> anyhow::Result<()> {
    let api: Api<DaemonSet> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let list = api.list(&ListParams::default()).await?;
        let pending: Vec<String> = list
            .items
            .iter()
            .filter(|ds| !rolled_out(ds))
            .map(|ds| ds.metadata.name.clone().unwrap_or_default())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "DaemonSets not rolled out after {}: {}",
                humantime::format_duration(timeout),
                pending.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// kubectl's `rollout status` condition for a DaemonSet.
pub fn rolled_out(ds: &DaemonSet) -> bool {
    let Some(status) = &ds.status else {
        return false;
    };
    let generation = ds.metadata.generation.unwrap_or(0);
    status.observed_generation.unwrap_or(0) >= generation
        && status.updated_number_scheduled.unwrap_or(0) >= status.desired_number_scheduled
        && status.number_available.unwrap_or(0) >= status.desired_number_scheduled
}
