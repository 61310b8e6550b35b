//! ControllerRevisions: what they hold, the template hash, which one is current, revision
//! numbers, duplicates and cleanup (spec section 4).

use std::collections::{BTreeMap, HashSet};
use std::io;

use everynode_model::wellknown::CONTROLLER_REVISION_HASH_LABEL;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Map, Value};

use crate::observed::{ObjectRef, PodRelabel, RevisionWrite};
use crate::pod_template::controller_owner_ref;

/// Default `spec.revisionHistoryLimit` when unset.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Alphabet of upstream's `SafeEncodeString`: no vowels (no words) and no confusable
/// characters, so a hash is always a valid label value.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The `data` of a ControllerRevision for the DaemonSet's current template (spec 4.1): a
/// strategic-merge patch replacing the whole template,
/// `{"spec":{"template":{<template>, "$patch":"replace"}}}`.
pub fn revision_data(ds: &DaemonSet) -> Value {
    let mut template_json = match serde_json::to_value(&ds.spec.template) {
        Ok(Value::Object(map)) => map,
        // A template always serialises to an object; anything else means "no template".
        _ => Map::new(),
    };
    template_json.insert("$patch".to_owned(), Value::String("replace".to_owned()));
    let mut spec = Map::new();
    spec.insert("template".to_owned(), Value::Object(template_json));
    let mut root = Map::new();
    root.insert("spec".to_owned(), Value::Object(spec));
    Value::Object(root)
}

/// True when the revision's `data` equals the patch computed from the DaemonSet now (the
/// "current revision" test of spec 4.3).
///
/// Object entries whose value is `null` count as absent, so data written by upstream's
/// controller (which keeps `"creationTimestamp": null`) still matches.
pub fn revision_matches(cr: &ControllerRevision, ds: &DaemonSet) -> bool {
    json_equal_ignoring_nulls(&cr.data.0, &revision_data(ds))
}

/// Structural JSON equality where `{"a": null}` equals `{}`.
pub fn json_equal_ignoring_nulls(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let present = |m: &Map<String, Value>| m.iter().filter(|(_, v)| !v.is_null()).count();
            present(x) == present(y)
                && x.iter()
                    .filter(|(_, v)| !v.is_null())
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal_ignoring_nulls(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(v, w)| json_equal_ignoring_nulls(v, w))
        }
        _ => a == b,
    }
}

/// 32-bit FNV-1a, written to as an `io::Write` so a template can be serialised straight
/// into it without an intermediate buffer.
struct Fnv1a32(u32);

impl Fnv1a32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
}

impl io::Write for Fnv1a32 {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The revision hash of a template (spec 4.2): FNV-1a-32 over the template's JSON (struct
/// field order, sorted map keys, so deterministic) followed, when `collision_count` is set,
/// by its 4 little-endian bytes and 4 zero bytes; the decimal digits of the sum are mapped
/// through the SafeEncode alphabet. At most 10 characters, always a valid label value.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hasher = Fnv1a32(Fnv1a32::OFFSET);
    // Serialising plain k8s-openapi data cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut hasher, template);
    if let Some(count) = collision_count {
        hasher.update(&count.to_le_bytes());
        hasher.update(&[0, 0, 0, 0]);
    }
    safe_encode(&hasher.0.to_string())
}

/// Maps each byte of `s` to upstream's vowel-free alphabet (byte mod 27).
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// The name of the DaemonSet's revision with this hash: `<dsName>-<hash>` (not truncated,
/// as upstream).
pub fn revision_name(ds: &DaemonSet, hash: &str) -> String {
    format!("{}-{}", ds.metadata.name.as_deref().unwrap_or(""), hash)
}

/// The hash the DaemonSet's current template has now (`status.collisionCount` included).
pub fn current_template_hash(ds: &DaemonSet) -> String {
    let collision = ds.status.as_ref().and_then(|s| s.collision_count);
    template_hash(&ds.spec.template, collision)
}

/// Builds the ControllerRevision for the DaemonSet's current template (spec 4.1).
pub fn new_revision(ds: &DaemonSet, hash: &str, revision: i64) -> ControllerRevision {
    let mut labels: BTreeMap<String, String> = ds
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.to_owned());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(ds, hash)),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: ds.metadata.annotations.clone(),
            owner_references: Some(vec![controller_owner_ref(ds)]),
            ..ObjectMeta::default()
        },
        data: RawExtension(revision_data(ds)),
        revision: Some(revision),
    }
}

/// The hash a revision stands for: its hash label, or its name for legacy revisions that
/// lack the label (the label gets added with that value, spec 4.3 step 2).
pub fn revision_hash(cr: &ControllerRevision) -> &str {
    cr.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
        .map(String::as_str)
        .unwrap_or_else(|| cr.metadata.name.as_deref().unwrap_or(""))
}

fn revision_number(cr: &ControllerRevision) -> i64 {
    cr.revision.unwrap_or(0)
}

/// A reference to any object, for plan entries.
pub(crate) fn object_ref(meta: &ObjectMeta) -> ObjectRef {
    ObjectRef {
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
    }
}

fn pod_hash_label(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
        .map(String::as_str)
}

/// What constructing the history decided (spec 4.3).
#[derive(Debug, Clone, Default)]
pub struct HistoryOutcome<'a> {
    /// The hash label of the current revision, used for every pod this sync.
    pub current_hash: String,
    /// Revision writes in order: hash labels, the create, duplicate deletes, renumbering.
    pub writes: Vec<RevisionWrite>,
    /// Pods relabelled to the kept current revision when duplicates were removed.
    pub relabels: Vec<PodRelabel>,
    /// The revisions that are not current.
    pub old: Vec<&'a ControllerRevision>,
    /// The revision number the current revision has after this sync.
    pub current_revision: i64,
}

/// Decides the current revision and the writes that make history consistent (spec 4.3).
///
/// `revisions` and `pods` are the DaemonSet's owned revisions and pods (after claiming).
pub fn construct_history<'a>(
    ds: &DaemonSet,
    revisions: &[&'a ControllerRevision],
    pods: &[&Pod],
) -> HistoryOutcome<'a> {
    let (mut out, relabel) = construct_history_revisions(ds, revisions);
    if relabel {
        out.relabels = relabels(pods, &out.current_hash);
    }
    out
}

/// [`construct_history`] without looking at pods: the outcome has no relabels yet, and the
/// flag says whether [`relabels`] must fill them in (only when duplicate current revisions
/// were found). Lets `plan` decide the current hash before its one visit of every pod.
pub(crate) fn construct_history_revisions<'a>(
    ds: &DaemonSet,
    revisions: &[&'a ControllerRevision],
) -> (HistoryOutcome<'a>, bool) {
    let mut out = HistoryOutcome::default();
    for cr in revisions {
        let has_label = cr
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(CONTROLLER_REVISION_HASH_LABEL));
        if !has_label {
            out.writes.push(RevisionWrite::AddHashLabel {
                target: object_ref(&cr.metadata),
                hash: cr.metadata.name.clone().unwrap_or_default(),
            });
        }
    }

    let expected = revision_data(ds);
    let mut current: Vec<&'a ControllerRevision> = Vec::new();
    for cr in revisions {
        if json_equal_ignoring_nulls(&cr.data.0, &expected) {
            current.push(cr);
        } else {
            out.old.push(cr);
        }
    }
    let next = out
        .old
        .iter()
        .map(|cr| revision_number(cr))
        .max()
        .map_or(1, |m| m + 1);

    let Some(keep) = current.iter().copied().reduce(|best, cr| {
        if revision_number(cr) > revision_number(best) {
            cr
        } else {
            best
        }
    }) else {
        let hash = current_template_hash(ds);
        out.writes
            .push(RevisionWrite::Create(new_revision(ds, &hash, next)));
        out.current_hash = hash;
        out.current_revision = next;
        return (out, false);
    };

    let keep_hash = revision_hash(keep).to_owned();
    let relabel = current.len() > 1;
    if relabel {
        for cr in current.iter().filter(|cr| !std::ptr::eq(**cr, keep)) {
            out.writes
                .push(RevisionWrite::Delete(object_ref(&cr.metadata)));
        }
    }
    out.current_revision = revision_number(keep);
    if revision_number(keep) < next {
        out.writes.push(RevisionWrite::Renumber {
            target: object_ref(&keep.metadata),
            revision: next,
        });
        out.current_revision = next;
    }
    out.current_hash = keep_hash;
    (out, relabel)
}

/// The relabels that move every pod onto the kept current revision `keep_hash` after
/// duplicate current revisions were removed. Upstream relabels every pod whose hash
/// differs, old-revision pods included; we follow it so adoption of the duplicate's pods
/// is seamless.
pub(crate) fn relabels(pods: &[&Pod], keep_hash: &str) -> Vec<PodRelabel> {
    pods.iter()
        .filter(|pod| pod_hash_label(pod) != Some(keep_hash))
        .map(|pod| PodRelabel {
            target: object_ref(&pod.metadata),
            hash: keep_hash.to_owned(),
        })
        .collect()
}

/// Deletes the oldest old revisions beyond `spec.revisionHistoryLimit` that no pod uses
/// (spec 4.4). `pods` are all owned pods, terminating terminal ones included.
pub fn cleanup_history(
    ds: &DaemonSet,
    old: &[&ControllerRevision],
    pods: &[&Pod],
) -> Vec<RevisionWrite> {
    let limit = ds
        .spec
        .revision_history_limit
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
    let excess = i64::try_from(old.len()).unwrap_or(i64::MAX) - i64::from(limit);
    if excess <= 0 {
        return Vec::new();
    }
    let used: HashSet<&str> = pods.iter().filter_map(|p| pod_hash_label(p)).collect();
    let mut ordered: Vec<&ControllerRevision> = old.to_vec();
    ordered.sort_by_key(|cr| revision_number(cr));
    ordered
        .into_iter()
        .filter(|cr| !used.contains(revision_hash(cr)))
        .take(usize::try_from(excess).unwrap_or(usize::MAX))
        .map(|cr| RevisionWrite::Delete(object_ref(&cr.metadata)))
        .collect()
}
