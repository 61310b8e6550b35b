//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into
//! the same JSON object a JSON client would have sent.
//!
//! kubectl's typed commands (`create namespace|configmap|secret|serviceaccount|service|
//! priorityclass|role|clusterrole|rolebinding|clusterrolebinding`, and the pod deletions of
//! `drain`) send protobuf. Everything else in the server works on JSON, so the body is
//! translated once at the edge: the `k8s\0` envelope holds a `runtime.Unknown` whose `raw`
//! bytes are the object's message, and a per-kind schema (field number -> JSON name and
//! type, numbers from upstream's `generated.proto` files) drives one small decoder.
//!
//! JSON shape rules mirror Go's `encoding/json` on the API types: plain scalars that are
//! zero are left out (they are `omitempty` in JSON, but the Go protobuf marshaller writes
//! them anyway), while pointer fields and fields without `omitempty` keep their zero value;
//! nested messages are always kept (Go never omits a struct); `bytes` become base64.

use everynode_model::Timestamp;
use serde_json::{Map, Value};

use base64::Engine as _;

use crate::rest::strategy::time_value;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Every Kubernetes protobuf object starts with these four bytes.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Nesting deeper than any API type needs; bounds recursion on hostile input.
const MAX_DEPTH: usize = 32;

/// Why a protobuf body could not be turned into an object.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` prefix.
    #[error("the body does not start with the Kubernetes protobuf prefix \"k8s\\x00\"")]
    BadMagic,
    /// The bytes are not valid protobuf for the expected message.
    #[error("malformed protobuf in {message}: {problem}")]
    Malformed {
        /// The message being decoded when the problem was found.
        message: &'static str,
        /// What was wrong.
        problem: &'static str,
    },
    /// The envelope names a content encoding (such as gzip) this server does not undo.
    #[error("protobuf content encoding {0:?} is not supported")]
    ContentEncoding(String),
    /// The envelope's kind has no protobuf schema here.
    #[error(
        "decoding {kind} in version {api_version:?} from protobuf is not supported by this server; send it as JSON"
    )]
    UnsupportedKind {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
}

/// Decodes a whole protobuf request body into a JSON object with `apiVersion` and `kind`
/// set, exactly as a JSON client would have sent it.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::BadMagic)?;
    let envelope = Envelope::read(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(envelope.content_encoding));
    }
    let text = |name: &str| {
        envelope
            .type_meta
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let Some(schema) = schema_for(&api_version, &kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version, kind });
    };
    let fields = decode_message(envelope.raw, schema, 0)?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// The `runtime.Unknown` wrapper after the magic prefix.
struct Envelope<'a> {
    type_meta: Map<String, Value>,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut r = Reader {
            buf: bytes,
            message: "Unknown",
        };
        let mut envelope = Envelope {
            type_meta: Map::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        while !r.buf.is_empty() {
            match r.key()? {
                (1, LEN) => {
                    envelope.type_meta = decode_message(r.length_delimited()?, &TYPE_META, 1)?
                }
                (2, LEN) => envelope.raw = r.length_delimited()?,
                (3, LEN) => {
                    let bytes = r.length_delimited()?;
                    envelope.content_encoding = utf8(&r, bytes)?;
                }
                (1..=3, _) => return Err(r.err("wrong wire type for field")),
                // contentType (4) only repeats the media type; anything else is unknown.
                (_, wire) => r.skip(wire)?,
            }
        }
        Ok(envelope)
    }
}

/// The schema of `kind` in `api_version`, when this server decodes it.
fn schema_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    // DeleteOptions is registered in every group version (clients send it with the
    // version of the resource being deleted), so it matches on kind alone.
    if kind == "DeleteOptions" {
        return Some(&DELETE_OPTIONS);
    }
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, m)| *m)
}

fn malformed(message: &'static str, problem: &'static str) -> ProtobufError {
    ProtobufError::Malformed { message, problem }
}

// ---------------------------------------------------------------------------------------
// Schema

/// A protobuf message: its name (for errors) and its known fields.
struct Message {
    name: &'static str,
    fields: &'static [Field],
}

/// One field of a message.
struct Field {
    number: u32,
    json: &'static str,
    ty: Ty,
    card: Card,
}

/// How a field appears in JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    /// A plain scalar with `omitempty`: left out when zero.
    Plain,
    /// A pointer, or a field without `omitempty`: kept even when zero.
    Keep,
    /// A repeated field: a JSON array.
    List,
}

/// The type of a field's value.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    /// Protobuf `bytes`, base64 in JSON.
    Bytes,
    Bool,
    Int32,
    Int64,
    Msg(&'static Message),
    /// `map<string, V>`: repeated entries with the key in field 1 and the value in field 2.
    Map(&'static Ty),
    /// `metav1.Time`: seconds and nanos, RFC 3339 in JSON.
    Time,
    /// `intstr.IntOrString`: a number or a string in JSON.
    IntOrString,
    /// `metav1.FieldsV1`: raw JSON bytes, embedded as JSON.
    RawJson,
}

const fn plain(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        ty,
        card: Card::Plain,
    }
}

const fn keep(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        ty,
        card: Card::Keep,
    }
}

const fn list(number: u32, json: &'static str, ty: Ty) -> Field {
    Field {
        number,
        json,
        ty,
        card: Card::List,
    }
}

const fn msg(name: &'static str, fields: &'static [Field]) -> Message {
    Message { name, fields }
}

const STR_MAP: Ty = Ty::Map(&Ty::Str);
const BYTES_MAP: Ty = Ty::Map(&Ty::Bytes);

/// The kinds decoded, by `apiVersion` and `kind`.
static KINDS: &[(&str, &str, &Message)] = &[
    ("v1", "Namespace", &NAMESPACE),
    ("v1", "ConfigMap", &CONFIG_MAP),
    ("v1", "Secret", &SECRET),
    ("v1", "ServiceAccount", &SERVICE_ACCOUNT),
    ("v1", "Service", &SERVICE),
    ("scheduling.k8s.io/v1", "PriorityClass", &PRIORITY_CLASS),
    ("rbac.authorization.k8s.io/v1", "Role", &ROLE),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", &CLUSTER_ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", &ROLE_BINDING),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &ROLE_BINDING,
    ),
];

static TYPE_META: Message = msg(
    "TypeMeta",
    &[plain(1, "apiVersion", Ty::Str), plain(2, "kind", Ty::Str)],
);

// apimachinery meta/v1.
static OBJECT_META: Message = msg(
    "ObjectMeta",
    &[
        plain(1, "name", Ty::Str),
        plain(2, "generateName", Ty::Str),
        plain(3, "namespace", Ty::Str),
        plain(4, "selfLink", Ty::Str),
        plain(5, "uid", Ty::Str),
        plain(6, "resourceVersion", Ty::Str),
        plain(7, "generation", Ty::Int64),
        plain(8, "creationTimestamp", Ty::Time),
        plain(9, "deletionTimestamp", Ty::Time),
        keep(10, "deletionGracePeriodSeconds", Ty::Int64),
        plain(11, "labels", STR_MAP),
        plain(12, "annotations", STR_MAP),
        list(13, "ownerReferences", Ty::Msg(&OWNER_REFERENCE)),
        list(14, "finalizers", Ty::Str),
        list(17, "managedFields", Ty::Msg(&MANAGED_FIELDS_ENTRY)),
    ],
);

static OWNER_REFERENCE: Message = msg(
    "OwnerReference",
    &[
        keep(5, "apiVersion", Ty::Str),
        keep(1, "kind", Ty::Str),
        keep(3, "name", Ty::Str),
        keep(4, "uid", Ty::Str),
        keep(6, "controller", Ty::Bool),
        keep(7, "blockOwnerDeletion", Ty::Bool),
    ],
);

static MANAGED_FIELDS_ENTRY: Message = msg(
    "ManagedFieldsEntry",
    &[
        plain(1, "manager", Ty::Str),
        plain(2, "operation", Ty::Str),
        plain(3, "apiVersion", Ty::Str),
        plain(4, "time", Ty::Time),
        plain(6, "fieldsType", Ty::Str),
        keep(7, "fieldsV1", Ty::RawJson),
        plain(8, "subresource", Ty::Str),
    ],
);

static TIME: Message = msg(
    "Time",
    &[plain(1, "seconds", Ty::Int64), plain(2, "nanos", Ty::Int32)],
);

static INT_OR_STRING: Message = msg(
    "IntOrString",
    &[
        plain(1, "type", Ty::Int64),
        plain(2, "intVal", Ty::Int32),
        plain(3, "strVal", Ty::Str),
    ],
);

static LABEL_SELECTOR: Message = msg(
    "LabelSelector",
    &[
        plain(1, "matchLabels", STR_MAP),
        list(2, "matchExpressions", Ty::Msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
);

static LABEL_SELECTOR_REQUIREMENT: Message = msg(
    "LabelSelectorRequirement",
    &[
        keep(1, "key", Ty::Str),
        keep(2, "operator", Ty::Str),
        list(3, "values", Ty::Str),
    ],
);

static CONDITION: Message = msg(
    "Condition",
    &[
        keep(1, "type", Ty::Str),
        keep(2, "status", Ty::Str),
        plain(3, "observedGeneration", Ty::Int64),
        keep(4, "lastTransitionTime", Ty::Time),
        keep(5, "reason", Ty::Str),
        keep(6, "message", Ty::Str),
    ],
);

static DELETE_OPTIONS: Message = msg(
    "DeleteOptions",
    &[
        keep(1, "gracePeriodSeconds", Ty::Int64),
        keep(2, "preconditions", Ty::Msg(&PRECONDITIONS)),
        keep(3, "orphanDependents", Ty::Bool),
        keep(4, "propagationPolicy", Ty::Str),
        list(5, "dryRun", Ty::Str),
        keep(
            6,
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            Ty::Bool,
        ),
    ],
);

static PRECONDITIONS: Message = msg(
    "Preconditions",
    &[keep(1, "uid", Ty::Str), keep(2, "resourceVersion", Ty::Str)],
);

// core/v1.
static NAMESPACE: Message = msg(
    "Namespace",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        keep(2, "spec", Ty::Msg(&NAMESPACE_SPEC)),
        keep(3, "status", Ty::Msg(&NAMESPACE_STATUS)),
    ],
);

static NAMESPACE_SPEC: Message = msg("NamespaceSpec", &[list(1, "finalizers", Ty::Str)]);

static NAMESPACE_STATUS: Message = msg(
    "NamespaceStatus",
    &[
        plain(1, "phase", Ty::Str),
        list(2, "conditions", Ty::Msg(&NAMESPACE_CONDITION)),
    ],
);

static NAMESPACE_CONDITION: Message = msg(
    "NamespaceCondition",
    &[
        keep(1, "type", Ty::Str),
        keep(2, "status", Ty::Str),
        plain(4, "lastTransitionTime", Ty::Time),
        plain(5, "reason", Ty::Str),
        plain(6, "message", Ty::Str),
    ],
);

static CONFIG_MAP: Message = msg(
    "ConfigMap",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        plain(2, "data", STR_MAP),
        plain(3, "binaryData", BYTES_MAP),
        keep(4, "immutable", Ty::Bool),
    ],
);

static SECRET: Message = msg(
    "Secret",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        plain(2, "data", BYTES_MAP),
        plain(3, "type", Ty::Str),
        plain(4, "stringData", STR_MAP),
        keep(5, "immutable", Ty::Bool),
    ],
);

static SERVICE_ACCOUNT: Message = msg(
    "ServiceAccount",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        list(2, "secrets", Ty::Msg(&OBJECT_REFERENCE)),
        list(3, "imagePullSecrets", Ty::Msg(&LOCAL_OBJECT_REFERENCE)),
        keep(4, "automountServiceAccountToken", Ty::Bool),
    ],
);

static OBJECT_REFERENCE: Message = msg(
    "ObjectReference",
    &[
        plain(1, "kind", Ty::Str),
        plain(2, "namespace", Ty::Str),
        plain(3, "name", Ty::Str),
        plain(4, "uid", Ty::Str),
        plain(5, "apiVersion", Ty::Str),
        plain(6, "resourceVersion", Ty::Str),
        plain(7, "fieldPath", Ty::Str),
    ],
);

static LOCAL_OBJECT_REFERENCE: Message = msg("LocalObjectReference", &[plain(1, "name", Ty::Str)]);

static SERVICE: Message = msg(
    "Service",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        keep(2, "spec", Ty::Msg(&SERVICE_SPEC)),
        keep(3, "status", Ty::Msg(&SERVICE_STATUS)),
    ],
);

static SERVICE_SPEC: Message = msg(
    "ServiceSpec",
    &[
        list(1, "ports", Ty::Msg(&SERVICE_PORT)),
        plain(2, "selector", STR_MAP),
        plain(3, "clusterIP", Ty::Str),
        list(18, "clusterIPs", Ty::Str),
        plain(4, "type", Ty::Str),
        list(5, "externalIPs", Ty::Str),
        plain(7, "sessionAffinity", Ty::Str),
        plain(8, "loadBalancerIP", Ty::Str),
        list(9, "loadBalancerSourceRanges", Ty::Str),
        plain(10, "externalName", Ty::Str),
        plain(11, "externalTrafficPolicy", Ty::Str),
        plain(12, "healthCheckNodePort", Ty::Int32),
        plain(13, "publishNotReadyAddresses", Ty::Bool),
        keep(
            14,
            "sessionAffinityConfig",
            Ty::Msg(&SESSION_AFFINITY_CONFIG),
        ),
        list(19, "ipFamilies", Ty::Str),
        keep(17, "ipFamilyPolicy", Ty::Str),
        keep(20, "allocateLoadBalancerNodePorts", Ty::Bool),
        keep(21, "loadBalancerClass", Ty::Str),
        keep(22, "internalTrafficPolicy", Ty::Str),
        keep(23, "trafficDistribution", Ty::Str),
    ],
);

static SERVICE_PORT: Message = msg(
    "ServicePort",
    &[
        plain(1, "name", Ty::Str),
        plain(2, "protocol", Ty::Str),
        keep(6, "appProtocol", Ty::Str),
        keep(3, "port", Ty::Int32),
        keep(4, "targetPort", Ty::IntOrString),
        plain(5, "nodePort", Ty::Int32),
    ],
);

static SESSION_AFFINITY_CONFIG: Message = msg(
    "SessionAffinityConfig",
    &[keep(1, "clientIP", Ty::Msg(&CLIENT_IP_CONFIG))],
);

static CLIENT_IP_CONFIG: Message = msg("ClientIPConfig", &[keep(1, "timeoutSeconds", Ty::Int32)]);

static SERVICE_STATUS: Message = msg(
    "ServiceStatus",
    &[
        keep(1, "loadBalancer", Ty::Msg(&LOAD_BALANCER_STATUS)),
        list(2, "conditions", Ty::Msg(&CONDITION)),
    ],
);

static LOAD_BALANCER_STATUS: Message = msg(
    "LoadBalancerStatus",
    &[list(1, "ingress", Ty::Msg(&LOAD_BALANCER_INGRESS))],
);

static LOAD_BALANCER_INGRESS: Message = msg(
    "LoadBalancerIngress",
    &[plain(1, "ip", Ty::Str), plain(2, "hostname", Ty::Str)],
);

// scheduling/v1.
static PRIORITY_CLASS: Message = msg(
    "PriorityClass",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        keep(2, "value", Ty::Int32),
        plain(3, "globalDefault", Ty::Bool),
        plain(4, "description", Ty::Str),
        keep(5, "preemptionPolicy", Ty::Str),
    ],
);

// rbac/v1. ClusterRoleBinding has RoleBinding's shape and field numbers.
static ROLE: Message = msg(
    "Role",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        list(2, "rules", Ty::Msg(&POLICY_RULE)),
    ],
);

static CLUSTER_ROLE: Message = msg(
    "ClusterRole",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        list(2, "rules", Ty::Msg(&POLICY_RULE)),
        keep(3, "aggregationRule", Ty::Msg(&AGGREGATION_RULE)),
    ],
);

static POLICY_RULE: Message = msg(
    "PolicyRule",
    &[
        list(1, "verbs", Ty::Str),
        list(2, "apiGroups", Ty::Str),
        list(3, "resources", Ty::Str),
        list(4, "resourceNames", Ty::Str),
        list(5, "nonResourceURLs", Ty::Str),
    ],
);

static AGGREGATION_RULE: Message = msg(
    "AggregationRule",
    &[list(1, "clusterRoleSelectors", Ty::Msg(&LABEL_SELECTOR))],
);

static ROLE_BINDING: Message = msg(
    "RoleBinding",
    &[
        keep(1, "metadata", Ty::Msg(&OBJECT_META)),
        list(2, "subjects", Ty::Msg(&SUBJECT)),
        keep(3, "roleRef", Ty::Msg(&ROLE_REF)),
    ],
);

static SUBJECT: Message = msg(
    "Subject",
    &[
        keep(1, "kind", Ty::Str),
        plain(2, "apiGroup", Ty::Str),
        keep(3, "name", Ty::Str),
        plain(4, "namespace", Ty::Str),
    ],
);

static ROLE_REF: Message = msg(
    "RoleRef",
    &[
        keep(1, "apiGroup", Ty::Str),
        keep(2, "kind", Ty::Str),
        keep(3, "name", Ty::Str),
    ],
);

// ---------------------------------------------------------------------------------------
// Wire format

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn err(&self, problem: &'static str) -> ProtobufError {
        malformed(self.message, problem)
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only carry the 64th bit.
            if i == 9 && byte > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        if self.buf.len() >= 10 {
            Err(self.err("varint overflows 64 bits"))
        } else {
            Err(self.err("truncated varint"))
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if n > self.buf.len() {
            return Err(self.err("length runs past the end of the message"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn length_delimited(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = self.varint()?;
        let len = usize::try_from(len)
            .map_err(|_| self.err("length runs past the end of the message"))?;
        self.take(len)
    }

    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u32, u8), ProtobufError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| self.err("field number too large"))?;
        if number == 0 {
            return Err(self.err("field number 0"));
        }
        // The low three bits always fit.
        let wire = (key & 7) as u8;
        Ok((number, wire))
    }

    fn skip(&mut self, wire: u8) -> Result<(), ProtobufError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.length_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            // Groups (3, 4) are not used by any Kubernetes type; 6 and 7 do not exist.
            _ => Err(self.err("unsupported wire type")),
        }
    }
}

/// Decodes one message into its JSON fields.
fn decode_message(
    bytes: &[u8],
    message: &'static Message,
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(malformed(message.name, "nested too deeply"));
    }
    let mut r = Reader {
        buf: bytes,
        message: message.name,
    };
    let mut out = Map::new();
    while !r.buf.is_empty() {
        let (number, wire) = r.key()?;
        let Some(field) = message.fields.iter().find(|f| f.number == number) else {
            // Unknown fields come from newer clients; protobuf says skip them.
            r.skip(wire)?;
            continue;
        };
        match (field.card, field.ty) {
            (_, Ty::Map(value_ty)) => {
                expect_wire(&r, wire, LEN)?;
                let entry = r.length_delimited()?;
                let (key, value) = decode_map_entry(entry, value_ty, message.name, depth)?;
                let map = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(key, value);
                }
            }
            (Card::List, ty) => {
                // Every repeated field served holds strings or messages, which are never
                // packed, so each occurrence is one element.
                let value = decode_value(&mut r, wire, ty, depth)?;
                if let Value::Array(items) = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    items.push(value);
                }
            }
            (card, ty) => {
                let value = decode_value(&mut r, wire, ty, depth)?;
                if card == Card::Keep && !matches!(ty, Ty::Time) || !is_zero(&value) {
                    out.insert(field.json.to_string(), value);
                } else {
                    // A later zero occurrence still overrides an earlier value.
                    out.remove(field.json);
                }
            }
        }
    }
    Ok(out)
}

/// True for the values `omitempty` leaves out.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn expect_wire(r: &Reader<'_>, wire: u8, want: u8) -> Result<(), ProtobufError> {
    if wire == want {
        Ok(())
    } else {
        Err(r.err("wrong wire type for field"))
    }
}

fn decode_map_entry(
    entry: &[u8],
    value_ty: &'static Ty,
    message: &'static str,
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let mut r = Reader {
        buf: entry,
        message,
    };
    let mut key = String::new();
    let mut value = None;
    while !r.buf.is_empty() {
        match r.key()? {
            (1, wire) => {
                expect_wire(&r, wire, LEN)?;
                let bytes = r.length_delimited()?;
                key = utf8(&r, bytes)?;
            }
            (2, wire) => value = Some(decode_value(&mut r, wire, *value_ty, depth)?),
            (_, wire) => r.skip(wire)?,
        }
    }
    // A missing value is the type's zero value, which JSON still shows for map entries.
    let value = match value {
        Some(v) => v,
        None => zero_of(*value_ty),
    };
    Ok((key, value))
}

fn zero_of(ty: Ty) -> Value {
    match ty {
        Ty::Str | Ty::Bytes => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::Int32 | Ty::Int64 | Ty::IntOrString => Value::from(0),
        Ty::Msg(_) | Ty::Map(_) => Value::Object(Map::new()),
        Ty::Time | Ty::RawJson => Value::Null,
    }
}

fn utf8(r: &Reader<'_>, bytes: &[u8]) -> Result<String, ProtobufError> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|_| r.err("string is not UTF-8"))
}

/// Decodes one value of type `ty` whose key (with wire type `wire`) was just read.
fn decode_value(
    r: &mut Reader<'_>,
    wire: u8,
    ty: Ty,
    depth: usize,
) -> Result<Value, ProtobufError> {
    match ty {
        Ty::Bool | Ty::Int32 | Ty::Int64 => {
            expect_wire(r, wire, VARINT)?;
            let v = r.varint()?;
            Ok(match ty {
                Ty::Bool => Value::Bool(v != 0),
                // int32 is sign-extended to 64 bits on the wire; truncating undoes that.
                Ty::Int32 => Value::from(v as u32 as i32),
                _ => Value::from(v as i64),
            })
        }
        _ => {
            expect_wire(r, wire, LEN)?;
            let bytes = r.length_delimited()?;
            decode_len_value(r, bytes, ty, depth)
        }
    }
}

fn decode_len_value(
    r: &Reader<'_>,
    bytes: &[u8],
    ty: Ty,
    depth: usize,
) -> Result<Value, ProtobufError> {
    Ok(match ty {
        Ty::Str => Value::String(utf8(r, bytes)?),
        Ty::Bytes => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Ty::Msg(m) => Value::Object(decode_message(bytes, m, depth + 1)?),
        Ty::Time => {
            let t = decode_message(bytes, &TIME, depth + 1)?;
            let seconds = t.get("seconds").and_then(Value::as_i64).unwrap_or(0);
            let nanos = t.get("nanos").and_then(Value::as_i64).unwrap_or(0);
            if seconds == 0 && nanos == 0 {
                // Go's zero time: JSON shows it as null, which is the same as absent.
                Value::Null
            } else {
                // metav1.Time serialises whole seconds.
                let t = Timestamp::new(seconds, 0)
                    .map_err(|_| malformed("Time", "timestamp out of range"))?;
                time_value(t)
            }
        }
        Ty::IntOrString => {
            let v = decode_message(bytes, &INT_OR_STRING, depth + 1)?;
            if v.get("type").and_then(Value::as_i64) == Some(1) {
                v.get("strVal")
                    .cloned()
                    .unwrap_or(Value::String(String::new()))
            } else {
                v.get("intVal").cloned().unwrap_or(Value::from(0))
            }
        }
        Ty::RawJson => {
            // FieldsV1 is one bytes field (1) holding JSON.
            let mut inner = Reader {
                buf: bytes,
                message: "FieldsV1",
            };
            let mut raw: &[u8] = b"{}";
            while !inner.buf.is_empty() {
                match inner.key()? {
                    (1, LEN) => raw = inner.length_delimited()?,
                    (1, _) => return Err(inner.err("wrong wire type for field")),
                    (_, wire) => inner.skip(wire)?,
                }
            }
            serde_json::from_slice(raw).map_err(|_| inner.err("raw is not JSON"))?
        }
        // Scalars and maps are handled by the caller.
        Ty::Bool | Ty::Int32 | Ty::Int64 | Ty::Map(_) => {
            return Err(r.err("wrong wire type for field"));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    // --- A tiny encoder for hand-built messages.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn key(number: u32, wire: u8, out: &mut Vec<u8>) {
        varint(u64::from(number) << 3 | u64::from(wire), out);
    }
    fn bytes_field(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
        key(number, LEN, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    fn int_field(number: u32, v: u64, out: &mut Vec<u8>) {
        key(number, VARINT, out);
        varint(v, out);
    }
    fn entry(k: &str, v: &str) -> Vec<u8> {
        let mut e = Vec::new();
        bytes_field(1, k.as_bytes(), &mut e);
        bytes_field(2, v.as_bytes(), &mut e);
        e
    }
    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        bytes_field(1, api_version.as_bytes(), &mut tm);
        bytes_field(2, kind.as_bytes(), &mut tm);
        let mut out = MAGIC.to_vec();
        bytes_field(1, &tm, &mut out);
        bytes_field(2, raw, &mut out);
        out
    }

    /// The bodies are hex dumps of real requests from kubectl v1.32.4 (captured with `-v=9`).
    #[test]
    fn kubectl_bodies_decode_to_the_json_kubectl_would_send() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "create namespace",
                concat!(
                    "6b3873000a0f0a02763112094e616d65737061636512190a110a017812001a0022002a003200380042001200",
                    "1a020a001a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {}, "status": {}}"#,
            ),
            (
                "create configmap with literals, a text file and a binary file",
                concat!(
                    "6b3873000a0f0a0276311209436f6e6669674d617012490a120a02633212001a0022002a0032003800420012",
                    "060a016112016212080a026b321202763212120a08746578742e747874120668656c6c6f0a1a0d0a0362696e",
                    "120600fffe62696e1a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c2"}, "data": {"a": "b", "k2": "v2", "text.txt": "hello\n"}, "binaryData": {"bin": "AP/+Ymlu"}}"#,
            ),
            (
                "create secret generic",
                concat!(
                    "6b3873000a0c0a027631120653656372657412240a120a02733212001a0022002a0032003800420012060a01",
                    "611201621a064f70617175651a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s2"}, "data": {"a": "Yg=="}, "type": "Opaque"}"#,
            ),
            (
                "create serviceaccount",
                concat!(
                    "6b3873000a140a027631120e536572766963654163636f756e7412150a130a0373613212001a0022002a0032",
                    "00380042001a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa2"}}"#,
            ),
            (
                "create priorityclass with description and preemption policy",
                concat!(
                    "6b3873000a250a147363686564756c696e672e6b38732e696f2f7631120d5072696f72697479436c61737312",
                    "260a130a0370633212001a0022002a00320038004200100a18002204646573632a054e657665721a002200",
                ),
                r#"{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "pc2"}, "value": 10, "description": "desc", "preemptionPolicy": "Never"}"#,
            ),
            (
                "create role",
                concat!(
                    "6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204526f6c651223",
                    "0a120a02723212001a0022002a00320038004200120d0a0367657412001a04706f64731a002200",
                ),
                r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r2"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}"#,
            ),
            (
                "create clusterrole with two groups and a resource name",
                concat!(
                    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b436c75737465",
                    "72526f6c65124f0a130a0363723512001a0022002a0032003800420012160a036765740a046c69737412001a",
                    "04706f647322017812200a036765740a046c6973741204617070731a0a6461656d6f6e736574732201781a00",
                    "2200",
                ),
                r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr5"}, "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["x"]}, {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": ["x"]}]}"#,
            ),
            (
                "create clusterrole with a non-resource URL",
                concat!(
                    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b436c75737465",
                    "72526f6c6512230a130a0363723312001a0022002a00320038004200120c0a036765742a052f6c6f67731a00",
                    "2200",
                ),
                r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr3"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/logs"]}]}"#,
            ),
            (
                "create clusterrole with an aggregation rule",
                concat!(
                    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b436c75737465",
                    "72526f6c6512210a130a0363723412001a0022002a003200380042001a0a0a080a060a01611201621a002200",
                ),
                r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr4"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}"#,
            ),
            (
                "create rolebinding with a user, a group and a service account",
                concat!(
                    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c654269",
                    "6e64696e6712b5010a130a0372623212001a0022002a0032003800420012260a04557365721219726261632e",
                    "617574686f72697a6174696f6e2e6b38732e696f1a0175220012270a0547726f75701219726261632e617574",
                    "686f72697a6174696f6e2e6b38732e696f1a01672200121f0a0e536572766963654163636f756e7412001a02",
                    "7361220764656661756c741a2c0a19726261632e617574686f72697a6174696f6e2e6b38732e696f120b436c",
                    "7573746572526f6c651a0263721a002200",
                ),
                r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb2"}, "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u"}, {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "default"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"}}"#,
            ),
            (
                "create clusterrolebinding",
                concat!(
                    "6b3873000a320a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311212436c75737465",
                    "72526f6c6542696e64696e67126c0a140a046372623212001a0022002a0032003800420012260a0455736572",
                    "1219726261632e617574686f72697a6174696f6e2e6b38732e696f1a017522001a2c0a19726261632e617574",
                    "686f72697a6174696f6e2e6b38732e696f120b436c7573746572526f6c651a0263721a002200",
                ),
                r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb2"}, "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"}}"#,
            ),
            (
                "create service clusterip with numeric and named target ports",
                concat!(
                    "6b3873000a0d0a0276311207536572766963651290010a210a047376633212001a0022002a00320038004200",
                    "5a0b0a0361707012047376633212670a1b0a0738302d38303830120354435018502207080010903f1a002800",
                    "0a220a093434332d6874747073120354435018bb03220b080110001a0568747470732800120b0a0361707012",
                    "04737663321a002209436c757374657249503a00420052005a00600068001a020a001a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc2", "labels": {"app": "svc2"}}, "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}, {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"}], "selector": {"app": "svc2"}, "type": "ClusterIP"}, "status": {"loadBalancer": {}}}"#,
            ),
            (
                "create service nodeport with a node port",
                concat!(
                    "6b3873000a0d0a027631120753657276696365126a0a1f0a036e703212001a0022002a003200380042005a0a",
                    "0a0361707012036e703212430a1d0a0738302d38303830120354435018502207080010903f1a002880eb0112",
                    "0a0a0361707012036e70321a0022084e6f6465506f72743a00420052005a00600068001a020a001a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np2", "labels": {"app": "np2"}}, "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}], "selector": {"app": "np2"}, "type": "NodePort"}, "status": {"loadBalancer": {}}}"#,
            ),
            (
                "create service clusterip headless",
                concat!(
                    "6b3873000a0d0a027631120753657276696365124d0a1d0a02686c12001a0022002a003200380042005a090a",
                    "036170701202686c122812090a036170701202686c1a044e6f6e652209436c757374657249503a0042005200",
                    "5a00600068001a020a001a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hl", "labels": {"app": "hl"}}, "spec": {"selector": {"app": "hl"}, "clusterIP": "None", "type": "ClusterIP"}, "status": {"loadBalancer": {}}}"#,
            ),
            (
                "create service externalname",
                concat!(
                    "6b3873000a0d0a02763112075365727669636512520a1f0a03656e3212001a0022002a003200380042005a0a",
                    "0a036170701203656e32122b120a0a036170701203656e321a00220c45787465726e616c4e616d653a004200",
                    "5203612e625a00600068001a020a001a002200",
                ),
                r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "en2", "labels": {"app": "en2"}}, "spec": {"selector": {"app": "en2"}, "type": "ExternalName", "externalName": "a.b"}, "status": {"loadBalancer": {}}}"#,
            ),
            (
                "drain deleting a pod with a grace period",
                "6b3873000a130a027631120d44656c6574654f7074696f6e73120208071a002200",
                r#"{"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 7}"#,
            ),
        ];
        for (what, body, want) in cases {
            let want: Value = serde_json::from_str(want).expect("expected JSON");
            let got = decode(&hex(body)).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn a_hand_built_object_meta_round_trips_into_json() {
        let mut owner = Vec::new();
        bytes_field(1, b"DaemonSet", &mut owner);
        bytes_field(3, b"ds", &mut owner);
        bytes_field(4, b"uid-1", &mut owner);
        bytes_field(5, b"apps/v1", &mut owner);
        int_field(6, 1, &mut owner);
        int_field(7, 0, &mut owner);
        let mut time = Vec::new();
        int_field(1, 1_700_000_000, &mut time);
        int_field(2, 5, &mut time);
        let mut meta = Vec::new();
        bytes_field(1, b"", &mut meta);
        bytes_field(2, b"gen-", &mut meta);
        bytes_field(3, b"ns", &mut meta);
        int_field(7, 3, &mut meta);
        bytes_field(8, &time, &mut meta);
        int_field(10, 0, &mut meta);
        bytes_field(11, &entry("app", "x"), &mut meta);
        bytes_field(11, &entry("tier", ""), &mut meta);
        bytes_field(12, &entry("note", "hi"), &mut meta);
        bytes_field(13, &owner, &mut meta);
        bytes_field(14, b"f1", &mut meta);
        bytes_field(14, b"f2", &mut meta);
        let mut fields_v1 = Vec::new();
        bytes_field(1, br#"{"f:data":{".":{}}}"#, &mut fields_v1);
        let mut managed = Vec::new();
        bytes_field(1, b"kubectl", &mut managed);
        bytes_field(2, b"Update", &mut managed);
        bytes_field(3, b"v1", &mut managed);
        bytes_field(4, &time, &mut managed);
        bytes_field(6, b"FieldsV1", &mut managed);
        bytes_field(7, &fields_v1, &mut managed);
        bytes_field(17, &managed, &mut meta);
        let mut cm = Vec::new();
        bytes_field(1, &meta, &mut cm);
        int_field(4, 0, &mut cm);

        let got = decode(&envelope("v1", "ConfigMap", &cm)).expect("decodes");
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {
                    "generateName": "gen-", "namespace": "ns", "generation": 3,
                    "creationTimestamp": "2023-11-14T22:13:20Z",
                    "deletionGracePeriodSeconds": 0,
                    "labels": {"app": "x", "tier": ""},
                    "annotations": {"note": "hi"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                        "name": "ds", "uid": "uid-1", "controller": true,
                        "blockOwnerDeletion": false}],
                    "finalizers": ["f1", "f2"],
                    "managedFields": [{"manager": "kubectl", "operation": "Update",
                        "apiVersion": "v1", "time": "2023-11-14T22:13:20Z",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}}}}],
                },
                "immutable": false,
            })
        );
    }

    #[test]
    fn values_of_every_shape_decode_as_json_shows_them() {
        let port = |name: &str, target: &[u8]| {
            let mut p = Vec::new();
            bytes_field(1, name.as_bytes(), &mut p);
            int_field(3, 80, &mut p);
            bytes_field(4, target, &mut p);
            p
        };
        let mut int_target = Vec::new();
        int_field(1, 0, &mut int_target);
        int_field(2, 8080, &mut int_target);
        let mut str_target = Vec::new();
        int_field(1, 1, &mut str_target);
        bytes_field(3, b"http", &mut str_target);
        let mut spec = Vec::new();
        bytes_field(1, &port("a", &int_target), &mut spec);
        bytes_field(1, &port("b", &str_target), &mut spec);
        int_field(12, u64::MAX, &mut spec); // -1 as a sign-extended int32
        let mut svc = Vec::new();
        bytes_field(2, &spec, &mut svc);
        let got = decode(&envelope("v1", "Service", &svc)).expect("decodes");
        assert_eq!(
            got["spec"],
            json!({"ports": [{"name": "a", "port": 80, "targetPort": 8080},
                             {"name": "b", "port": 80, "targetPort": "http"}],
                   "healthCheckNodePort": -1})
        );

        let mut secret = Vec::new();
        bytes_field(2, &entry("k", "\u{0}\u{1}"), &mut secret);
        bytes_field(3, b"Opaque", &mut secret);
        let got = decode(&envelope("v1", "Secret", &secret)).expect("decodes");
        assert_eq!(got["data"], json!({"k": "AAE="}));
        assert_eq!(got["type"], json!("Opaque"));

        let mut preconditions = Vec::new();
        bytes_field(1, b"uid-1", &mut preconditions);
        let mut opts = Vec::new();
        int_field(1, 0, &mut opts);
        bytes_field(2, &preconditions, &mut opts);
        int_field(3, 0, &mut opts);
        bytes_field(4, b"Foreground", &mut opts);
        bytes_field(5, b"All", &mut opts);
        let got = decode(&envelope("policy/v1", "DeleteOptions", &opts)).expect("decodes");
        assert_eq!(
            got,
            json!({"apiVersion": "policy/v1", "kind": "DeleteOptions",
                   "gracePeriodSeconds": 0, "preconditions": {"uid": "uid-1"},
                   "orphanDependents": false, "propagationPolicy": "Foreground",
                   "dryRun": ["All"]})
        );
    }

    #[test]
    fn unknown_fields_are_skipped_whatever_their_wire_type() {
        let mut cm = Vec::new();
        int_field(90, 5, &mut cm);
        key(91, FIXED64, &mut cm);
        cm.extend_from_slice(&[0; 8]);
        key(92, FIXED32, &mut cm);
        cm.extend_from_slice(&[0; 4]);
        bytes_field(93, b"\xff\xff", &mut cm);
        bytes_field(2, &entry("a", "b"), &mut cm);
        let got = decode(&envelope("v1", "ConfigMap", &cm)).expect("decodes");
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}})
        );
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let good = envelope("v1", "ConfigMap", &[]);
        let mut long_len = Vec::new();
        bytes_field(1, b"", &mut long_len);
        let mut truncated_string = Vec::new();
        key(1, LEN, &mut truncated_string);
        varint(100, &mut truncated_string);
        truncated_string.extend_from_slice(b"abc");
        let mut wrong_wire = Vec::new();
        int_field(2, 1, &mut wrong_wire); // ConfigMap.data is a map, not a varint
        let mut bad_utf8 = Vec::new();
        bytes_field(2, &entry("a", "b")[..2], &mut bad_utf8);
        let mut bad_utf8_value = Vec::new();
        let mut e = Vec::new();
        bytes_field(1, b"\xff", &mut e);
        bytes_field(2, &e, &mut bad_utf8_value);
        let mut group = Vec::new();
        key(5, 3, &mut group);
        let mut gzip = MAGIC.to_vec();
        bytes_field(3, b"gzip", &mut gzip);

        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty body", Vec::new(), "prefix"),
            ("wrong magic", b"k8s\x01\x0a\x00".to_vec(), "prefix"),
            ("JSON body", br#"{"kind":"ConfigMap"}"#.to_vec(), "prefix"),
            (
                "truncated varint",
                [MAGIC.as_slice(), &[0x28, 0x80]].concat(),
                "truncated varint",
            ),
            (
                "overlong varint",
                [MAGIC.as_slice(), &[0x28], &[0xff; 11]].concat(),
                "overflows",
            ),
            (
                "length past the end",
                [MAGIC.as_slice(), &[0x0a, 0x05, 0x00]].concat(),
                "past the end",
            ),
            (
                "field number zero",
                [MAGIC.as_slice(), &[0x02]].concat(),
                "field number 0",
            ),
            (
                "truncated string in the object",
                envelope("v1", "ConfigMap", &truncated_string),
                "past the end",
            ),
            (
                "wrong wire type",
                envelope("v1", "ConfigMap", &wrong_wire),
                "wrong wire type",
            ),
            (
                "truncated map entry",
                envelope("v1", "ConfigMap", &bad_utf8),
                "past the end",
            ),
            (
                "string not UTF-8",
                envelope("v1", "ConfigMap", &bad_utf8_value),
                "UTF-8",
            ),
            (
                "group wire type",
                envelope("v1", "ConfigMap", &group),
                "wire type",
            ),
            ("unknown kind", envelope("v1", "Pod", &[]), "not supported"),
            (
                "unknown version",
                envelope("rbac.authorization.k8s.io/v1beta1", "Role", &[]),
                "not supported",
            ),
            ("missing type meta", MAGIC.to_vec(), "not supported"),
            ("content encoding", gzip, "encoding"),
        ];
        assert!(decode(&good).is_ok(), "the baseline decodes");
        for (what, body, want) in cases {
            match decode(&body) {
                Ok(v) => panic!("{what}: decoded to {v}"),
                Err(e) => assert!(
                    e.to_string().contains(want),
                    "{what}: error {e:?} should mention {want:?}"
                ),
            }
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        // No served schema is recursive, so the limit is a backstop; check it directly.
        let got = decode_message(&[], &NAMESPACE, MAX_DEPTH + 1);
        assert!(matches!(got, Err(ProtobufError::Malformed { .. })));
    }

    #[test]
    fn truncated_bodies_are_errors_unless_cut_between_envelope_fields() {
        let body = hex(concat!(
            "6b3873000a0f0a0276311209436f6e6669674d617012490a120a02633212001a0022002a0032003800420012",
            "060a016112016212080a026b321202763212120a08746578742e747874120668656c6c6f0a1a0d0a0362696e",
            "120600fffe62696e1a002200",
        ));
        // The envelope's fields end at these offsets: typeMeta (21), raw (96),
        // contentEncoding (98) and contentType (100); a cut anywhere else is inside a field.
        let boundaries = [21, 96, 98, 100];
        assert_eq!(body.len(), 100);
        for n in 0..=body.len() {
            let got = decode(&body[..n]);
            assert_eq!(got.is_ok(), boundaries.contains(&n), "cut at {n}: {got:?}");
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let body = hex(concat!(
            "6b3873000a0f0a0276311209436f6e6669674d617012490a120a02633212001a0022002a0032003800420012",
            "060a016112016212080a026b321202763212120a08746578742e747874120668656c6c6f0a1a0d0a0362696e",
            "120600fffe62696e1a002200",
        ));
        let mut errors = 0;
        for i in 4..body.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut corrupted = body.clone();
                corrupted[i] ^= mask;
                errors += usize::from(decode(&corrupted).is_err());
            }
        }
        // Most single-byte corruptions break the framing; a decoder that accepted
        // everything would not be checking it.
        assert!(
            errors > body.len(),
            "only {errors} corruptions were rejected"
        );
    }
}
