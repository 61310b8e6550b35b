//! `meta.k8s.io/v1` Table output: what `kubectl get` prints.
//!
//! kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the
//! server's columns. The columns and cells here follow upstream's printers for each kind.
//! As upstream's server does, every table carries the wide columns too (priority 1); kubectl
//! hides them unless `-o wide` is given.
//!
//! Objects are read as JSON rather than typed structs so that one odd field never stops a
//! whole list from printing: a missing or malformed value shows as upstream shows an empty one.

use std::collections::BTreeSet;

use everynode_model::Timestamp;
use k8s_openapi::jiff::SignedDuration;
use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;

/// What each Table row's `object` holds (`?includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` with the object's metadata (the default; kubectl reads the
    /// namespace and labels from it).
    Metadata,
    /// The whole object.
    Object,
}

/// True when an Accept header asks for `as=Table;v=v1;g=meta.k8s.io` (or `v=v1beta1`) in JSON,
/// in any of its comma-separated media ranges.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !media.eq_ignore_ascii_case("application/json") {
            return false;
        }
        let (mut is_table, mut group_ok, mut version_ok) = (false, false, false);
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim() {
                "as" => is_table = value == "Table",
                "g" => group_ok = value == "meta.k8s.io",
                "v" => version_ok = value == "v1" || value == "v1beta1",
                _ => {}
            }
        }
        is_table && group_ok && version_ok
    })
}

/// Parses `?includeObject=`: `None`, `Metadata` or `Object`; absent or unknown values mean
/// `Metadata`, the upstream default.
pub fn include_object_param(value: Option<&str>) -> IncludeObject {
    match value {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

/// A `meta.k8s.io/v1` Table for `objects` of the resource `info`: column definitions (wide
/// ones with priority 1), one row per object with its cells and, per `include`, its metadata
/// or the whole object. `resource_version` and `continue_token` go into the Table's metadata;
/// `now` is the clock AGE columns are measured against.
pub fn to_table(
    info: &ResourceInfo,
    objects: &[Value],
    include: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
    now: Timestamp,
) -> Value {
    let printer = printer_for(info);
    let columns: Vec<Value> = printer
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.ty,
                "format": if c.name == "Name" { "name" } else { "" },
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let (cells, conditions) = (printer.cells)(obj, now);
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(conditions) = conditions {
                row.insert("conditions".into(), conditions);
            }
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row.insert(
                        "object".into(),
                        json!({
                            "kind": "PartialObjectMetadata",
                            "apiVersion": "meta.k8s.io/v1",
                            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                        }),
                    );
                }
                IncludeObject::Object => {
                    row.insert("object".into(), with_type_meta(obj, info));
                }
            }
            Value::Object(row)
        })
        .collect();
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(resource_version));
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata.insert("continue".into(), json!(token));
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The object with `apiVersion` and `kind` filled in when the store left them out, so a
/// client decoding the embedded object knows what it is.
fn with_type_meta(obj: &Value, info: &ResourceInfo) -> Value {
    let mut obj = obj.clone();
    if let Value::Object(map) = &mut obj {
        map.entry("apiVersion")
            .or_insert_with(|| json!(info.api_version()));
        map.entry("kind").or_insert_with(|| json!(info.kind));
    }
    obj
}

/// kubectl's human-readable duration (`45s`, `5m30s`, `3h2m`, `2d`, `3y45d`): the same
/// thresholds as upstream's `duration.HumanDuration`. Up to a second in the future still
/// reads `0s` (clock skew); further in the future is `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    let secs = d.as_secs();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{years}y")
}

/// Age of an RFC 3339 timestamp as kubectl shows it; `<unknown>` when absent or unparseable.
fn age_of(ts: Option<&Value>, now: Timestamp) -> String {
    match parse_time(ts) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

fn parse_time(ts: Option<&Value>) -> Option<Timestamp> {
    ts?.as_str()?.parse::<Timestamp>().ok()
}

fn created_age(obj: &Value, now: Timestamp) -> String {
    age_of(obj.pointer("/metadata/creationTimestamp"), now)
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn int_at(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or_default()
}

fn bool_at(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or_default()
}

fn array_at<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn name_of(obj: &Value) -> Value {
    json!(str_at(obj, "/metadata/name"))
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_owned()
    }
}

/// `k=v,k2=v2` in key order (Go's `labels.FormatLabels`), `<none>` when empty.
fn format_labels(map: Option<&Value>) -> String {
    let Some(Value::Object(map)) = map else {
        return "<none>".into();
    };
    // serde_json's Map is ordered by key unless preserve_order is on; sort anyway to be sure.
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// One column of a printer.
struct Column {
    name: &'static str,
    ty: &'static str,
    priority: i32,
    description: &'static str,
}

const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        priority: 0,
        description,
    }
}

const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        priority: 1,
        description,
    }
}

/// Cells of one row plus optional row conditions.
type CellFn = fn(&Value, Timestamp) -> (Vec<Value>, Option<Value>);

struct Printer {
    columns: &'static [Column],
    cells: CellFn,
}

const NAME: Column = col(
    "Name",
    "string",
    "Name of the object, unique within its namespace.",
);
const AGE: Column = col("Age", "string", "Time since the object was created.");

fn printer_for(info: &ResourceInfo) -> Printer {
    let (columns, cells): (&'static [Column], CellFn) = match (info.group, info.kind) {
        ("apps", "DaemonSet") => (DAEMONSET_COLUMNS, daemonset_cells),
        ("apps", "ControllerRevision") => (REVISION_COLUMNS, revision_cells),
        ("", "Pod") => (POD_COLUMNS, pod_cells),
        ("", "Node") => (NODE_COLUMNS, node_cells),
        ("", "Event") => (EVENT_COLUMNS, event_cells),
        ("", "Namespace") => (NAMESPACE_COLUMNS, namespace_cells),
        ("", "ConfigMap") => (CONFIGMAP_COLUMNS, configmap_cells),
        ("", "Secret") => (SECRET_COLUMNS, secret_cells),
        ("", "ServiceAccount") => (SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
        ("", "Service") => (SERVICE_COLUMNS, service_cells),
        ("coordination.k8s.io", "Lease") => (LEASE_COLUMNS, lease_cells),
        ("scheduling.k8s.io", "PriorityClass") => (PRIORITYCLASS_COLUMNS, priorityclass_cells),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => (ROLE_COLUMNS, role_cells),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            (BINDING_COLUMNS, binding_cells)
        }
        _ => (DEFAULT_COLUMNS, default_cells),
    };
    Printer { columns, cells }
}

const DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];

fn default_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    (vec![name_of(obj), json!(created_age(obj, now))], None)
}

// ---- DaemonSet ----------------------------------------------------------------------------

const DAEMONSET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Number of nodes that should run the daemon pod.",
    ),
    col(
        "Current",
        "integer",
        "Number of nodes running at least one daemon pod that should.",
    ),
    col(
        "Ready",
        "integer",
        "Number of nodes whose daemon pod is ready.",
    ),
    col(
        "Up-to-date",
        "integer",
        "Number of nodes running the current template's pod.",
    ),
    col(
        "Available",
        "integer",
        "Number of nodes whose daemon pod is available.",
    ),
    col(
        "Node Selector",
        "string",
        "The pod template's node selector.",
    ),
    AGE,
    wide(
        "Containers",
        "string",
        "Names of the template's containers.",
    ),
    wide("Images", "string", "Images of the template's containers."),
    wide("Selector", "string", "Label selector of the daemon pods."),
];

fn daemonset_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let containers = array_at(obj, "/spec/template/spec/containers");
    let (names, images) = container_names_images(containers);
    let selector = obj
        .pointer("/spec/selector")
        .map(|s| match serde_json::from_value(s.clone()) {
            Ok(ls) => everynode_model::selector::label_selector_to_string(&ls),
            Err(_) => "<error>".into(),
        })
        .unwrap_or_default();
    let cells = vec![
        name_of(obj),
        json!(int_at(obj, "/status/desiredNumberScheduled")),
        json!(int_at(obj, "/status/currentNumberScheduled")),
        json!(int_at(obj, "/status/numberReady")),
        json!(int_at(obj, "/status/updatedNumberScheduled")),
        json!(int_at(obj, "/status/numberAvailable")),
        json!(format_labels(
            obj.pointer("/spec/template/spec/nodeSelector")
        )),
        json!(created_age(obj, now)),
        json!(names),
        json!(images),
        json!(selector),
    ];
    (cells, None)
}

fn container_names_images(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

// ---- ControllerRevision -------------------------------------------------------------------

const REVISION_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "The object controlling this revision.",
    ),
    col("Revision", "integer", "Revision number."),
    AGE,
];

fn revision_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let controller = array_at(obj, "/metadata/ownerReferences")
        .iter()
        .find(|r| bool_at(r, "/controller"))
        .map(|r| {
            let api_version = str_at(r, "/apiVersion");
            // `apps/v1` -> group `apps`; `v1` -> the core group.
            let group = api_version
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or_default();
            let kind = str_at(r, "/kind").to_lowercase();
            let kind = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            format!("{kind}/{}", str_at(r, "/name"))
        })
        .unwrap_or_else(|| "<none>".into());
    let cells = vec![
        name_of(obj),
        json!(controller),
        json!(int_at(obj, "/revision")),
        json!(created_age(obj, now)),
    ];
    (cells, None)
}

// ---- Pod ----------------------------------------------------------------------------------

const POD_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Ready containers out of all containers."),
    col(
        "Status",
        "string",
        "Summary of the pod's and its containers' state.",
    ),
    col(
        "Restarts",
        "string",
        "Container restarts, and how long ago the last one was.",
    ),
    AGE,
    wide("IP", "string", "The pod's IP address."),
    wide("Node", "string", "The node the pod is bound to."),
    wide(
        "Nominated Node",
        "string",
        "The node the scheduler nominated for preemption.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "Readiness gates that are true out of all gates.",
    ),
];

fn condition_true(obj: &Value, ty: &str) -> bool {
    array_at(obj, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == ty && str_at(c, "/status") == "True")
}

/// Reason for a terminated container: its reason, else `Signal:N`, else `ExitCode:N`.
fn terminated_reason(term: &Value, prefix: &str) -> String {
    let reason = str_at(term, "/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    match int_at(term, "/signal") {
        0 => format!("{prefix}ExitCode:{}", int_at(term, "/exitCode")),
        signal => format!("{prefix}Signal:{signal}"),
    }
}

/// Latest of `current` and the container's last termination time.
fn later_restart(current: Option<Timestamp>, status: &Value) -> Option<Timestamp> {
    let finished = parse_time(status.pointer("/lastState/terminated/finishedAt"));
    match (current, finished) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn pod_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let phase = str_at(obj, "/status/phase");
    let mut reason = match str_at(obj, "/status/reason") {
        "" => phase.to_owned(),
        r => r.to_owned(),
    };
    if array_at(obj, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let conditions = match phase {
        "Succeeded" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed.",
        }])),
        _ => None,
    };

    let init_specs = array_at(obj, "/spec/initContainers");
    // Sidecars (init containers that keep running) count as containers of the pod.
    let sidecars: BTreeSet<&str> = init_specs
        .iter()
        .filter(|c| str_at(c, "/restartPolicy") == "Always")
        .map(|c| str_at(c, "/name"))
        .collect();
    let total = array_at(obj, "/spec/containers").len() + sidecars.len();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut sidecar_restarts = 0i64;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let mut initializing = false;
    let init_statuses = array_at(obj, "/status/initContainerStatuses");
    for (i, status) in init_statuses.iter().enumerate() {
        restarts += int_at(status, "/restartCount");
        last_restart = later_restart(last_restart, status);
        let is_sidecar = sidecars.contains(str_at(status, "/name"));
        if is_sidecar {
            sidecar_restarts += int_at(status, "/restartCount");
            last_sidecar_restart = later_restart(last_sidecar_restart, status);
        }
        let terminated = status.pointer("/state/terminated");
        let waiting_reason = str_at(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| int_at(t, "/exitCode") == 0) {
            continue;
        }
        if is_sidecar && bool_at(status, "/started") {
            if bool_at(status, "/ready") {
                ready += 1;
            }
            continue;
        }
        reason = match terminated {
            Some(t) => terminated_reason(t, "Init:"),
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                format!("Init:{waiting_reason}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(obj, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Walked last to first so the first container's state wins the STATUS column.
        for status in array_at(obj, "/status/containerStatuses").iter().rev() {
            restarts += int_at(status, "/restartCount");
            last_restart = later_restart(last_restart, status);
            let waiting_reason = str_at(status, "/state/waiting/reason");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_owned();
            } else if let Some(t) = status.pointer("/state/terminated") {
                reason = terminated_reason(t, "");
            } else if bool_at(status, "/ready") && status.pointer("/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(obj, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    if deleting && str_at(obj, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", human_duration(now.duration_since(t)))
        }
        _ => restarts.to_string(),
    };

    let ip = array_at(obj, "/status/podIPs")
        .first()
        .map(|p| str_at(p, "/ip"))
        .unwrap_or_default();
    let ip = if ip.is_empty() {
        str_at(obj, "/status/podIP")
    } else {
        ip
    };
    let gates = array_at(obj, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let conditions = array_at(obj, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                let ty = str_at(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| str_at(c, "/type") == ty)
                    .is_some_and(|c| str_at(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };

    let cells = vec![
        name_of(obj),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        json!(created_age(obj, now)),
        json!(or_none(ip)),
        json!(or_none(str_at(obj, "/spec/nodeName"))),
        json!(or_none(str_at(obj, "/status/nominatedNodeName"))),
        json!(gates_cell),
    ];
    (cells, conditions)
}

// ---- Node ---------------------------------------------------------------------------------

const NODE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Readiness of the node, and whether it accepts new pods.",
    ),
    col(
        "Roles",
        "string",
        "Roles from the node-role.kubernetes.io/* labels.",
    ),
    AGE,
    col("Version", "string", "Kubelet version."),
    wide("Internal-IP", "string", "First internal address."),
    wide("External-IP", "string", "First external address."),
    wide("OS-Image", "string", "Operating system image."),
    wide("Kernel-Version", "string", "Kernel version."),
    wide(
        "Container-Runtime",
        "string",
        "Container runtime and version.",
    ),
];

const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";

/// Sorted, de-duplicated roles: the suffix of every `node-role.kubernetes.io/<role>` label and
/// the value of a non-empty legacy `kubernetes.io/role` label.
fn node_roles(obj: &Value) -> Vec<String> {
    let mut roles = BTreeSet::new();
    if let Some(Value::Object(labels)) = obj.pointer("/metadata/labels") {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix(NODE_ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role.to_owned());
                }
            } else if key == "kubernetes.io/role"
                && let Some(v) = value.as_str().filter(|v| !v.is_empty())
            {
                roles.insert(v.to_owned());
            }
        }
    }
    roles.into_iter().collect()
}

fn node_address(obj: &Value, ty: &str) -> String {
    array_at(obj, "/status/addresses")
        .iter()
        .find(|a| str_at(a, "/type") == ty)
        .map(|a| str_at(a, "/address").to_owned())
        .unwrap_or_else(|| "<none>".into())
}

fn node_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let mut status: Vec<&str> = Vec::new();
    // Only the Ready condition is summarised; any status but True reads NotReady.
    if let Some(cond) = array_at(obj, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready")
    {
        status.push(if str_at(cond, "/status") == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if bool_at(obj, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let roles = node_roles(obj).join(",");
    let unknown = |s: &str| {
        if s.is_empty() {
            "<unknown>".to_owned()
        } else {
            s.to_owned()
        }
    };
    let cells = vec![
        name_of(obj),
        json!(status.join(",")),
        json!(or_none(&roles)),
        json!(created_age(obj, now)),
        json!(str_at(obj, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(obj, "InternalIP")),
        json!(node_address(obj, "ExternalIP")),
        json!(unknown(str_at(obj, "/status/nodeInfo/osImage"))),
        json!(unknown(str_at(obj, "/status/nodeInfo/kernelVersion"))),
        json!(unknown(str_at(
            obj,
            "/status/nodeInfo/containerRuntimeVersion"
        ))),
    ];
    (cells, None)
}

// ---- Event --------------------------------------------------------------------------------

const EVENT_COLUMNS: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "Time since the event was last observed.",
    ),
    col("Type", "string", "Normal or Warning."),
    col("Reason", "string", "Short machine-readable reason."),
    col("Object", "string", "The object the event is about."),
    wide("Subobject", "string", "Field path within the object."),
    wide(
        "Source",
        "string",
        "Component (and host) that reported the event.",
    ),
    col("Message", "string", "Human-readable description."),
    wide(
        "First Seen",
        "string",
        "Time since the event was first observed.",
    ),
    wide("Count", "string", "How many times the event was observed."),
    Column {
        name: "Name",
        ty: "string",
        priority: 1,
        description: "Name of the event.",
    },
];

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

fn event_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let has_time = |p: &str| parse_time(obj.pointer(p)).is_some();
    let first_seen = if has_time("/firstTimestamp") {
        age_of(obj.pointer("/firstTimestamp"), now)
    } else {
        age_of(obj.pointer("/eventTime"), now)
    };
    let mut last_seen = if has_time("/lastTimestamp") {
        age_of(obj.pointer("/lastTimestamp"), now)
    } else {
        first_seen.clone()
    };
    let mut count = int_at(obj, "/count");
    if obj.pointer("/series").is_some_and(|s| !s.is_null()) {
        last_seen = age_of(obj.pointer("/series/lastObservedTime"), now);
        count = int_at(obj, "/series/count");
    } else if count == 0 {
        // Events written through events.k8s.io carry no count: they happened once.
        count = 1;
    }
    let kind = str_at(obj, "/involvedObject/kind").to_lowercase();
    let target = match str_at(obj, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = first_non_empty(
        str_at(obj, "/source/component"),
        str_at(obj, "/reportingComponent"),
    );
    let instance = first_non_empty(
        str_at(obj, "/source/host"),
        str_at(obj, "/reportingInstance"),
    );
    let source = if instance.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {instance}")
    };
    let cells = vec![
        json!(last_seen),
        json!(str_at(obj, "/type")),
        json!(str_at(obj, "/reason")),
        json!(target),
        json!(str_at(obj, "/involvedObject/fieldPath")),
        json!(source),
        json!(str_at(obj, "/message").trim()),
        json!(first_seen),
        json!(count),
        name_of(obj),
    ];
    (cells, None)
}

// ---- Namespace, ConfigMap, Secret, ServiceAccount, Service --------------------------------

const NAMESPACE_COLUMNS: &[Column] =
    &[NAME, col("Status", "string", "Active or Terminating."), AGE];

fn namespace_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    (
        vec![
            name_of(obj),
            json!(str_at(obj, "/status/phase")),
            json!(created_age(obj, now)),
        ],
        None,
    )
}

const CONFIGMAP_COLUMNS: &[Column] =
    &[NAME, col("Data", "integer", "Number of data entries."), AGE];

fn map_len(obj: &Value, pointer: &str) -> usize {
    obj.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, Map::len)
}

fn configmap_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let data = map_len(obj, "/data") + map_len(obj, "/binaryData");
    (
        vec![name_of(obj), json!(data), json!(created_age(obj, now))],
        None,
    )
}

const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", "Type of the secret."),
    col("Data", "integer", "Number of data entries."),
    AGE,
];

fn secret_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let cells = vec![
        name_of(obj),
        json!(str_at(obj, "/type")),
        json!(map_len(obj, "/data")),
        json!(created_age(obj, now)),
    ];
    (cells, None)
}

const SERVICEACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col("Secrets", "integer", "Number of listed secrets."),
    AGE,
];

fn serviceaccount_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let secrets = array_at(obj, "/secrets").len();
    (
        vec![name_of(obj), json!(secrets), json!(created_age(obj, now))],
        None,
    )
}

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    col("Cluster-IP", "string", "The service's cluster IP."),
    col(
        "External-IP",
        "string",
        "External addresses of the service.",
    ),
    col("Port(s)", "string", "Ports the service exposes."),
    AGE,
    wide(
        "Selector",
        "string",
        "Labels of the pods behind the service.",
    ),
];

fn service_external_ip(obj: &Value) -> String {
    let strings = |p: &str| -> Vec<String> {
        array_at(obj, p)
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let external_ips = strings("/spec/externalIPs");
    match str_at(obj, "/spec/type") {
        "ClusterIP" | "NodePort" | "" => {
            if external_ips.is_empty() {
                "<none>".into()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let mut ips: Vec<String> = array_at(obj, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| first_non_empty(str_at(i, "/ip"), str_at(i, "/hostname")).to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            ips.extend(external_ips);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(obj, "/spec/externalName").to_owned(),
        _ => "<unknown>".into(),
    }
}

fn service_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let cluster_ip = array_at(obj, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cluster_ip = if cluster_ip.is_empty() {
        str_at(obj, "/spec/clusterIP")
    } else {
        cluster_ip
    };
    let ports: Vec<String> = array_at(obj, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = first_non_empty(str_at(p, "/protocol"), "TCP");
            match int_at(p, "/nodePort") {
                0 => format!("{}/{protocol}", int_at(p, "/port")),
                node_port => format!("{}:{node_port}/{protocol}", int_at(p, "/port")),
            }
        })
        .collect();
    let cells = vec![
        name_of(obj),
        json!(str_at(obj, "/spec/type")),
        json!(or_none(cluster_ip)),
        json!(service_external_ip(obj)),
        json!(or_none(&ports.join(","))),
        json!(created_age(obj, now)),
        json!(format_labels(obj.pointer("/spec/selector"))),
    ];
    (cells, None)
}

// ---- Lease, PriorityClass, RBAC -----------------------------------------------------------

const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col("Holder", "string", "Current holder of the lease."),
    AGE,
];

fn lease_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    (
        vec![
            name_of(obj),
            json!(str_at(obj, "/spec/holderIdentity")),
            json!(created_age(obj, now)),
        ],
        None,
    )
}

const PRIORITYCLASS_COLUMNS: &[Column] = &[
    NAME,
    col("Value", "integer", "Priority of pods using this class."),
    col(
        "Global-Default",
        "boolean",
        "Whether pods without a class get this one.",
    ),
    AGE,
    col(
        "PreemptionPolicy",
        "string",
        "Whether pods of this class may preempt others.",
    ),
];

fn priorityclass_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    // The API server defaults preemptionPolicy; an object stored without it behaves as the default.
    let policy = first_non_empty(str_at(obj, "/preemptionPolicy"), "PreemptLowerPriority");
    let cells = vec![
        name_of(obj),
        json!(int_at(obj, "/value")),
        json!(bool_at(obj, "/globalDefault")),
        json!(created_age(obj, now)),
        json!(policy),
    ];
    (cells, None)
}

const ROLE_COLUMNS: &[Column] = &[
    NAME,
    col("Created At", "date", "When the object was created."),
];

fn role_cells(obj: &Value, _now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let created = parse_time(obj.pointer("/metadata/creationTimestamp"))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    (vec![name_of(obj), json!(created)], None)
}

const BINDING_COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", "The role bound, as Kind/name."),
    AGE,
    wide("Users", "string", "Users bound."),
    wide("Groups", "string", "Groups bound."),
    wide(
        "ServiceAccounts",
        "string",
        "Service accounts bound, as namespace/name.",
    ),
];

fn binding_cells(obj: &Value, now: Timestamp) -> (Vec<Value>, Option<Value>) {
    let (mut users, mut groups, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in array_at(obj, "/subjects") {
        let name = str_at(subject, "/name");
        match str_at(subject, "/kind") {
            "User" => users.push(name.to_owned()),
            "Group" => groups.push(name.to_owned()),
            "ServiceAccount" => accounts.push(format!("{}/{name}", str_at(subject, "/namespace"))),
            _ => {}
        }
    }
    let role = format!(
        "{}/{}",
        str_at(obj, "/roleRef/kind"),
        str_at(obj, "/roleRef/name")
    );
    let cells = vec![
        name_of(obj),
        json!(role),
        json!(created_age(obj, now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(accounts.join(", ")),
    ];
    (cells, None)
}
