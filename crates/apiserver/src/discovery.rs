//! Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`, `/version`),
//! built from [`crate::registry::RESOURCES`] in the shapes kubectl and kube-rs parse.
//!
//! Only the legacy (unaggregated) discovery format is served; kubectl falls back to it when
//! the aggregated `apidiscovery.k8s.io/v2` media type is not offered.

use serde_json::{Map, Value, json};

use crate::registry::{self, RESOURCES, ResourceInfo};

/// The Kubernetes release we present ourselves as: the one whose kubectl ships alongside
/// (so kubectl's version-skew warning stays quiet).
pub const KUBE_MAJOR: &str = "1";
/// Minor version of [`KUBE_MAJOR`].
pub const KUBE_MINOR: &str = "32";
/// `gitVersion` reported by `/version`.
pub const GIT_VERSION: &str = "v1.32.0-everynode";

/// Verbs of a normal top-level resource, in upstream's (sorted) order.
const FULL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces have no `deletecollection` upstream (deleting every namespace at once is refused).
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Verbs of a `status` subresource.
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// `GET /api`: an `APIVersions` naming `v1`, with no server addresses (see
/// [`api_versions_for`] to advertise one).
pub fn api_versions() -> Value {
    api_versions_for(None)
}

/// `GET /api` advertising `server_address` (`host:port`) for every client network, as
/// kube-apiserver does with its advertise address.
pub fn api_versions_for(server_address: Option<&str>) -> Value {
    let addresses: Vec<Value> = server_address
        .map(|addr| json!({"clientCIDR": "0.0.0.0/0", "serverAddress": addr}))
        .into_iter()
        .collect();
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": addresses,
    })
}

/// `GET /apis`: an `APIGroupList` with every named group served (the core group is not
/// listed here, as upstream).
pub fn api_group_list() -> Value {
    let mut groups: Vec<&'static str> = Vec::new();
    for (group, _) in registry::group_versions() {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    let groups: Vec<Value> = groups.into_iter().map(group_body).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`: an `APIGroup`, or `None` for a group not served (or the core group,
/// which lives at `/api`).
pub fn api_group(group: &str) -> Option<Value> {
    let name = RESOURCES
        .iter()
        .find(|r| !r.group.is_empty() && r.group == group)?
        .group;
    let mut body = group_body(name);
    if let Value::Object(map) = &mut body {
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    Some(body)
}

/// Name, versions and preferred version of one group; the first served version is preferred.
fn group_body(group: &'static str) -> Value {
    let versions: Vec<Value> = registry::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `GET /api/v1` (`group` empty) or `GET /apis/<group>/<version>`: an `APIResourceList` with
/// every resource of that group version and its subresources (`pods/status`,
/// `pods/binding`), or `None` when nothing is served there.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceInfo> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let first = served.first()?;
    let mut resources = Vec::new();
    for info in &served {
        resources.push(resource_entry(info));
        for sub in info.subresources {
            resources.push(subresource_entry(info, sub));
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": first.api_version(),
        "resources": resources,
    }))
}

fn resource_entry(info: &ResourceInfo) -> Value {
    let verbs = if info.kind == "Namespace" && info.group.is_empty() {
        NAMESPACE_VERBS
    } else {
        FULL_VERBS
    };
    let mut entry = Map::new();
    entry.insert("name".into(), json!(info.plural));
    entry.insert("singularName".into(), json!(info.singular));
    entry.insert("namespaced".into(), json!(info.namespaced));
    entry.insert("kind".into(), json!(info.kind));
    entry.insert("verbs".into(), json!(verbs));
    // Upstream omits empty shortNames and categories rather than sending `[]`.
    if !info.short_names.is_empty() {
        entry.insert("shortNames".into(), json!(info.short_names));
    }
    if !info.categories.is_empty() {
        entry.insert("categories".into(), json!(info.categories));
    }
    Value::Object(entry)
}

fn subresource_entry(info: &ResourceInfo, sub: &str) -> Value {
    let (kind, verbs) = match sub {
        // POSTing a Binding to pods/binding is how a scheduler assigns a node.
        "binding" => ("Binding", &["create"][..]),
        "status" => (info.kind, STATUS_VERBS),
        _ => (info.kind, &["get"][..]),
    };
    json!({
        "name": format!("{}/{sub}", info.plural),
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": kind,
        "verbs": verbs,
    })
}

/// `GET /version`: a `version.Info` naming [`GIT_VERSION`] and this machine's platform in
/// Go's spelling (`linux/amd64`).
pub fn version_info() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": concat!("everynode ", env!("CARGO_PKG_VERSION")),
        "compiler": "rustc",
        "platform": format!("{}/{}", go_os(), go_arch()),
    })
}

fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
