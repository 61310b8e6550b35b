//! Minimal OpenAPI v3 documents: enough for kubectl to find each served kind's operations.
//!
//! What kubectl relies on (checked against kubectl 1.32):
//! - `kubectl apply` (default `--validate=strict`) downloads `/openapi/v3`, then the document of
//!   the object's group version, and looks for a PATCH operation whose
//!   `x-kubernetes-group-version-kind` names the kind; if that operation lists a
//!   `fieldValidation` query parameter, kubectl sends `fieldValidation=Strict` and leaves unknown
//!   field detection to the server. Every PATCH (also on `status`) carries the parameter because
//!   kubectl stops at the first PATCH of the kind it meets, in no fixed order.
//! - The PATCH request bodies deliberately do **not** list
//!   `application/strategic-merge-patch+json`: when they do, kubectl computes apply patches from
//!   the document's schemas, and ours are empty placeholders (every list would look atomic).
//!   Without it kubectl uses its compiled-in types, which carry upstream's merge keys.
//!
//! Schemas in `components.schemas` are typed placeholders (`type: object` plus the GVK
//! extension), named as upstream names them (`io.k8s.api.apps.v1.DaemonSet`).

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::registry::{self, RESOURCES, ResourceInfo};

/// One served group version's document, its URL path and content hash.
struct GvDoc {
    group: &'static str,
    version: &'static str,
    doc: Value,
    hash: String,
}

fn docs() -> &'static [GvDoc] {
    static DOCS: OnceLock<Vec<GvDoc>> = OnceLock::new();
    DOCS.get_or_init(|| {
        registry::group_versions()
            .into_iter()
            .map(|(group, version)| {
                let doc = build_gv_doc(group, version);
                let hash = content_hash(&doc);
                GvDoc {
                    group,
                    version,
                    doc,
                    hash,
                }
            })
            .collect()
    })
}

/// `api/v1` or `apis/<group>/<version>`: the key in the root document and the URL suffix.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`: the index of per-group-version documents, each with a
/// `serverRelativeURL` whose `hash` changes whenever the document does (clients cache by it).
pub fn openapi_v3_root() -> Value {
    let mut paths = Map::new();
    for gv in docs() {
        let path = gv_path(gv.group, gv.version);
        let url = format!("/openapi/v3/{path}?hash={}", gv.hash);
        paths.insert(path, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

/// `GET /openapi/v3/api/v1` (`group` empty) or `/openapi/v3/apis/<group>/<version>`: the
/// document for that group version, or `None` when it is not served.
pub fn openapi_v3_group_version(group: &str, version: &str) -> Option<Value> {
    docs()
        .iter()
        .find(|gv| gv.group == group && gv.version == version)
        .map(|gv| gv.doc.clone())
}

/// A stable 64-bit FNV-1a digest of the document, as 16 upper-case hex digits. Only equality
/// matters to clients; it must not vary between runs or builds, so no `RandomState` hashing.
fn content_hash(doc: &Value) -> String {
    let bytes = doc.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// Upstream's schema package for a group: `core`, `apps`, `coordination`, `rbac`, ...
fn schema_package(group: &str) -> &str {
    if group.is_empty() {
        "core"
    } else {
        group.split('.').next().unwrap_or(group)
    }
}

fn schema_name(group: &str, version: &str, kind: &str) -> String {
    format!("io.k8s.api.{}.{version}.{kind}", schema_package(group))
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Upstream's operation-id infix: `CoreV1`, `AppsV1`, `RbacAuthorizationV1`, ...
fn op_group(group: &str, version: &str) -> String {
    let group = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    let mut out = String::new();
    for part in group.split('.') {
        out.push_str(&capitalise(part));
    }
    out.push_str(&capitalise(version));
    out
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "version": version, "kind": kind })
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": { "type": ty, "uniqueItems": true },
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": description,
        "required": true,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "How the server treats unknown or duplicate fields: Ignore, Warn (the default) or Strict.",
    )
}

fn write_params(with_validation: bool) -> Vec<Value> {
    let mut params = vec![
        query(
            "dryRun",
            "string",
            "When present (`All`), the change is validated but not persisted.",
        ),
        query(
            "fieldManager",
            "string",
            "Name of the actor making the change, for field ownership.",
        ),
    ];
    if with_validation {
        params.push(field_validation());
    }
    params
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "Ask for BOOKMARK events on a watch.",
        ),
        query(
            "continue",
            "string",
            "Token from a previous page of a paged list.",
        ),
        query(
            "fieldSelector",
            "string",
            "Restrict the list by object fields.",
        ),
        query("labelSelector", "string", "Restrict the list by labels."),
        query("limit", "integer", "Maximum number of items per page."),
        query(
            "resourceVersion",
            "string",
            "Resource version the list or watch starts from.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "How resourceVersion is applied to a list.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "Start a watch with ADDED events for existing objects.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout of a list or watch call.",
        ),
        query("watch", "boolean", "Watch for changes instead of listing."),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        query(
            "dryRun",
            "string",
            "When present (`All`), the deletion is validated but not persisted.",
        ),
        query(
            "gracePeriodSeconds",
            "integer",
            "Seconds before the object is deleted.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Orphan, Background or Foreground deletion of dependents.",
        ),
    ]
}

fn ok_response(schema: &str, codes: &[&str]) -> Value {
    let mut out = Map::new();
    for code in codes {
        out.insert(
            (*code).to_owned(),
            json!({
                "description": if *code == "201" { "Created" } else if *code == "202" { "Accepted" } else { "OK" },
                "content": { "application/json": { "schema": schema_ref(schema) } },
            }),
        );
    }
    out.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(out)
}

fn json_body(schema: &str) -> Value {
    json!({ "content": { "application/json": { "schema": schema_ref(schema) } }, "required": true })
}

fn patch_body() -> Value {
    let schema = schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.Patch");
    // No strategic-merge-patch entry on purpose: see the module documentation.
    json!({
        "content": {
            "application/apply-patch+yaml": { "schema": schema.clone() },
            "application/json-patch+json": { "schema": schema.clone() },
            "application/merge-patch+json": { "schema": schema },
        },
        "required": true,
    })
}

/// Everything one operation needs.
struct Op<'a> {
    id: String,
    action: &'a str,
    gvk: Value,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
    tag: &'a str,
}

impl Op<'_> {
    fn render(self) -> Value {
        let mut op = Map::new();
        op.insert("tags".into(), json!([self.tag]));
        op.insert("operationId".into(), json!(self.id));
        op.insert("parameters".into(), Value::Array(self.params));
        if let Some(body) = self.body {
            op.insert("requestBody".into(), body);
        }
        op.insert("responses".into(), self.responses);
        op.insert("x-kubernetes-action".into(), json!(self.action));
        op.insert("x-kubernetes-group-version-kind".into(), self.gvk);
        Value::Object(op)
    }
}

/// Adds the paths of one resource (collection, item, all-namespaces list, subresources).
fn add_resource_paths(paths: &mut Map<String, Value>, info: &ResourceInfo, tag: &str) {
    let (group, version, kind) = (info.group, info.version, info.kind);
    let base = format!("/{}", gv_path(group, version));
    let scope = if info.namespaced { "Namespaced" } else { "" };
    let ids = op_group(group, version);
    let schema = schema_name(group, version, kind);
    let list_schema = schema_name(group, version, &format!("{kind}List"));
    let status_schema = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    let the_gvk = gvk(group, version, kind);
    let ns_param = path_param(
        "namespace",
        "object name and auth scope, such as for teams and projects",
    );
    let name_param = path_param("name", &format!("name of the {kind}"));

    let collection = if info.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{base}/{}", info.plural)
    };
    let scope_params: Vec<Value> = if info.namespaced {
        vec![ns_param.clone()]
    } else {
        vec![]
    };

    let op =
        |id: String, action: &'static str, gvk: &Value, params: Vec<Value>, body, responses| {
            Op {
                id,
                action,
                gvk: gvk.clone(),
                params,
                body,
                responses,
                tag,
            }
            .render()
        };

    // Collection: list, create, deletecollection.
    let mut item = Map::new();
    item.insert(
        "get".into(),
        op(
            format!("list{ids}{scope}{kind}"),
            "list",
            &the_gvk,
            list_params(),
            None,
            ok_response(&list_schema, &["200"]),
        ),
    );
    item.insert(
        "post".into(),
        op(
            format!("create{ids}{scope}{kind}"),
            "post",
            &the_gvk,
            write_params(true),
            Some(json_body(&schema)),
            ok_response(&schema, &["200", "201", "202"]),
        ),
    );
    if !(group.is_empty() && kind == "Namespace") {
        let mut params = delete_params();
        params.extend(list_params());
        item.insert(
            "delete".into(),
            op(
                format!("deleteCollection{ids}{scope}{kind}"),
                "deletecollection",
                &the_gvk,
                params,
                Some(json_body(
                    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
                )),
                ok_response(status_schema, &["200"]),
            ),
        );
    }
    item.insert("parameters".into(), Value::Array(scope_params.clone()));
    paths.insert(collection.clone(), Value::Object(item));

    // Single object: read, replace, patch, delete.
    let object = format!("{collection}/{{name}}");
    let mut item = Map::new();
    item.insert(
        "get".into(),
        op(
            format!("read{ids}{scope}{kind}"),
            "get",
            &the_gvk,
            vec![],
            None,
            ok_response(&schema, &["200"]),
        ),
    );
    item.insert(
        "put".into(),
        op(
            format!("replace{ids}{scope}{kind}"),
            "put",
            &the_gvk,
            write_params(true),
            Some(json_body(&schema)),
            ok_response(&schema, &["200", "201"]),
        ),
    );
    let mut patch_params = write_params(true);
    patch_params.push(query(
        "force",
        "boolean",
        "Take ownership of conflicting fields in an apply patch.",
    ));
    item.insert(
        "patch".into(),
        op(
            format!("patch{ids}{scope}{kind}"),
            "patch",
            &the_gvk,
            patch_params.clone(),
            Some(patch_body()),
            ok_response(&schema, &["200", "201"]),
        ),
    );
    item.insert(
        "delete".into(),
        op(
            format!("delete{ids}{scope}{kind}"),
            "delete",
            &the_gvk,
            delete_params(),
            Some(json_body(
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            )),
            ok_response(status_schema, &["200", "202"]),
        ),
    );
    let mut params = vec![name_param.clone()];
    params.extend(scope_params.iter().cloned());
    item.insert("parameters".into(), Value::Array(params.clone()));
    paths.insert(object.clone(), Value::Object(item));

    if info.namespaced {
        let mut item = Map::new();
        item.insert(
            "get".into(),
            op(
                format!("list{ids}{kind}ForAllNamespaces"),
                "list",
                &the_gvk,
                list_params(),
                None,
                ok_response(&list_schema, &["200"]),
            ),
        );
        paths.insert(format!("{base}/{}", info.plural), Value::Object(item));
    }

    for sub in info.subresources {
        let sub_path = format!("{object}/{sub}");
        let suffix = capitalise(sub);
        let mut item = Map::new();
        match *sub {
            "binding" => {
                let binding_gvk = gvk(group, version, "Binding");
                let binding = schema_name(group, version, "Binding");
                item.insert(
                    "post".into(),
                    op(
                        format!("create{ids}{scope}{kind}{suffix}"),
                        "post",
                        &binding_gvk,
                        write_params(true),
                        Some(json_body(&binding)),
                        ok_response(&binding, &["200", "201", "202"]),
                    ),
                );
            }
            _ => {
                item.insert(
                    "get".into(),
                    op(
                        format!("read{ids}{scope}{kind}{suffix}"),
                        "get",
                        &the_gvk,
                        vec![],
                        None,
                        ok_response(&schema, &["200"]),
                    ),
                );
                item.insert(
                    "put".into(),
                    op(
                        format!("replace{ids}{scope}{kind}{suffix}"),
                        "put",
                        &the_gvk,
                        write_params(true),
                        Some(json_body(&schema)),
                        ok_response(&schema, &["200", "201"]),
                    ),
                );
                item.insert(
                    "patch".into(),
                    op(
                        format!("patch{ids}{scope}{kind}{suffix}"),
                        "patch",
                        &the_gvk,
                        patch_params.clone(),
                        Some(patch_body()),
                        ok_response(&schema, &["200", "201"]),
                    ),
                );
            }
        }
        item.insert("parameters".into(), Value::Array(params.clone()));
        paths.insert(sub_path, Value::Object(item));
    }
}

fn object_schema(description: String, gvks: Vec<Value>) -> Value {
    let mut schema = Map::new();
    schema.insert("description".into(), json!(description));
    schema.insert("type".into(), json!("object"));
    schema.insert(
        "properties".into(),
        json!({
            "apiVersion": { "type": "string" },
            "kind": { "type": "string" },
            "metadata": { "type": "object" },
        }),
    );
    if !gvks.is_empty() {
        schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
    }
    Value::Object(schema)
}

fn build_gv_doc(group: &'static str, version: &'static str) -> Value {
    let tag = if group.is_empty() {
        format!("core_{version}")
    } else {
        format!(
            "{}_{version}",
            group
                .strip_suffix(".k8s.io")
                .unwrap_or(group)
                .replace('.', "_")
        )
    };
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for info in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        add_resource_paths(&mut paths, info, &tag);
        schemas.insert(
            schema_name(group, version, info.kind),
            object_schema(
                format!("{} ({})", info.kind, info.api_version()),
                vec![gvk(group, version, info.kind)],
            ),
        );
        schemas.insert(
            schema_name(group, version, &format!("{}List", info.kind)),
            object_schema(
                format!("A list of {}", info.kind),
                vec![gvk(group, version, &format!("{}List", info.kind))],
            ),
        );
        if info.subresources.contains(&"binding") {
            schemas.insert(
                schema_name(group, version, "Binding"),
                object_schema("Binding (v1)".into(), vec![gvk(group, version, "Binding")]),
            );
        }
    }
    // Shared meta types referenced by every document; upstream tags them with the GVKs of
    // every group that serves them, which only matters to tools mapping schemas back to kinds.
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".into(),
        object_schema(
            "Options for a deletion.".into(),
            vec![gvk(group, version, "DeleteOptions")],
        ),
    );
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status".into(),
        object_schema(
            "The result of an operation that returns no object.".into(),
            vec![gvk("", "v1", "Status")],
        ),
    );
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({ "description": "The body of a patch request.", "type": "object" }),
    );
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": super::discovery::GIT_VERSION },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": { "type": "apiKey", "description": "Bearer token authentication", "name": "authorization", "in": "header" },
            },
        },
        "security": [{ "BearerToken": [] }],
    })
}
