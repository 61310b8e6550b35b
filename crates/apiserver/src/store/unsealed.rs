//! Objects encoded before their revision is known.
//!
//! Every write needs its object as JSON with `metadata.resourceVersion` set to the write's
//! revision, and only the writer thread knows that revision. Encoding there would put the
//! costliest step of a write on the one thread all writes queue behind. Instead the caller
//! encodes the object with an empty slot where the revision goes, and the writer only
//! splices the digits in.
//!
//! The slot is found by stamping a placeholder no client can guess (random per process)
//! and locating it in the output; if it is not found exactly once, or the object cannot
//! be stamped, there is no [`Unsealed`] and the writer encodes the object itself, as
//! before. Either way the bytes stored are the same.

use std::hash::{BuildHasher, RandomState};
use std::io::Write as _;
use std::sync::OnceLock;

use serde_json::Value;

use super::codec::VALUE_HEADER;

/// An object's JSON with the value of `metadata.resourceVersion` cut out.
#[derive(Debug)]
pub(super) struct Unsealed {
    /// The JSON, with `"resourceVersion":""` where the revision will go.
    json: Vec<u8>,
    /// Offset of the revision's digits: between that string's quotes.
    slot: usize,
}

/// The placeholder revision: random per process, so no stored value can collide with it
/// except by chance (and a collision only sends that write down the slower path).
fn placeholder() -> &'static str {
    static PLACEHOLDER: OnceLock<String> = OnceLock::new();
    PLACEHOLDER.get_or_init(|| {
        let random = RandomState::new();
        format!(
            "everynode-revision-slot-{:016x}{:016x}",
            random.hash_one(1u8),
            random.hash_one(2u8)
        )
    })
}

impl Unsealed {
    /// Encodes `object` with an empty revision slot. `None` when `object` is not an object
    /// with object `metadata` (the writer reports that) or the slot is ambiguous.
    pub(super) fn encode(object: &mut Value) -> Option<Unsealed> {
        let placeholder = placeholder();
        object
            .as_object_mut()?
            .entry("metadata")
            .or_insert_with(|| Value::Object(serde_json::Map::new()))
            .as_object_mut()?
            .insert(
                "resourceVersion".to_string(),
                Value::String(placeholder.to_string()),
            );
        let json = serde_json::to_vec(object).ok()?;
        Self::cut(json, placeholder.as_bytes())
    }

    /// The stored JSON of an object at `revision`, with that revision cut out: how a
    /// deletion's final state is stamped with the deletion's revision. `None` when the
    /// revision's field is not found exactly once.
    pub(super) fn from_stored(json: &[u8], revision: u64) -> Option<Unsealed> {
        let field = format!("\"resourceVersion\":\"{revision}\"");
        let mut hits = memchr::memmem::find_iter(json, field.as_bytes());
        let at = hits.next()?;
        if hits.next().is_some() {
            return None;
        }
        let slot = at + field.len() - 1 - revision_digits(revision);
        let mut out = Vec::with_capacity(json.len());
        out.extend_from_slice(&json[..slot]);
        out.extend_from_slice(&json[slot + revision_digits(revision)..]);
        Some(Unsealed { json: out, slot })
    }

    /// Removes the one quoted occurrence of `placeholder` from `json`, leaving its slot.
    fn cut(mut json: Vec<u8>, placeholder: &[u8]) -> Option<Unsealed> {
        let mut hits = memchr::memmem::find_iter(&json, placeholder);
        let at = hits.next()?;
        if hits.next().is_some() {
            return None;
        }
        json.drain(at..at + placeholder.len());
        Some(Unsealed { json, slot: at })
    }

    /// The store record for this object at `revision`: the revision header, then the JSON
    /// with the revision in its slot.
    pub(super) fn seal(&self, revision: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(VALUE_HEADER + self.json.len() + 20);
        out.extend_from_slice(&revision.to_le_bytes());
        out.extend_from_slice(&self.json[..self.slot]);
        // Writing decimal digits into a Vec cannot fail.
        let _ = write!(out, "{revision}");
        out.extend_from_slice(&self.json[self.slot..]);
        out
    }
}

/// How many decimal digits `revision` has.
fn revision_digits(revision: u64) -> usize {
    revision.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::{decode_value, encode_value};
    use serde_json::json;

    /// What the writer would store without an [`Unsealed`]: the reference.
    fn reference(mut object: Value, revision: u64) -> Vec<u8> {
        object["metadata"]["resourceVersion"] = json!(revision.to_string());
        encode_value(revision, &object).expect("encodes")
    }

    #[test]
    fn sealing_stores_exactly_what_encoding_at_the_writer_would() {
        let objects = [
            json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                   "spec": {"nodeName": "n1"}}),
            json!({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}}),
            json!({"kind": "ConfigMap"}),
            json!({"kind": "Event", "metadata": {"name": "e"},
                   "involvedObject": {"resourceVersion": "12"}}),
        ];
        for object in objects {
            let mut stamped = object.clone();
            let unsealed = Unsealed::encode(&mut stamped).expect("slot found");
            for revision in [1, 9, 10, 12345, u64::MAX] {
                assert_eq!(
                    unsealed.seal(revision),
                    reference(object.clone(), revision),
                    "{object} at {revision}"
                );
            }
        }
    }

    #[test]
    fn objects_that_cannot_be_stamped_are_left_to_the_writer() {
        for mut odd in [
            json!([1, 2]),
            json!("x"),
            json!({"metadata": "not an object"}),
        ] {
            assert!(Unsealed::encode(&mut odd).is_none(), "{odd}");
        }
    }

    #[test]
    fn a_placeholder_seen_twice_is_not_guessed_at() {
        let json = br#"{"a":"XX","metadata":{"resourceVersion":"XX"}}"#.to_vec();
        assert!(Unsealed::cut(json, b"XX").is_none());
        let once = br#"{"metadata":{"resourceVersion":"XX"}}"#.to_vec();
        let unsealed = Unsealed::cut(once, b"XX").expect("one hit");
        assert_eq!(
            &unsealed.seal(5)[VALUE_HEADER..],
            br#"{"metadata":{"resourceVersion":"5"}}"#
        );
    }

    #[test]
    fn a_stored_object_is_restamped_with_a_new_revision() {
        let object = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}});
        for (old, new) in [(9, 10), (99, 100), (1000, 1001), (5, 5)] {
            let stored = reference(object.clone(), old);
            let unsealed =
                Unsealed::from_stored(&stored[VALUE_HEADER..], old).expect("field found");
            assert_eq!(unsealed.seal(new), reference(object.clone(), new));
            let (revision, value) = decode_value(&unsealed.seal(new)).expect("decodes");
            assert_eq!(revision, new);
            assert_eq!(value["metadata"]["resourceVersion"], json!(new.to_string()));
        }
        // The same field elsewhere in the object makes the cut ambiguous.
        let event = json!({"metadata": {"name": "e"}, "involvedObject": {"resourceVersion": "9"}});
        let stored = reference(event, 9);
        assert!(Unsealed::from_stored(&stored[VALUE_HEADER..], 9).is_none());
        assert!(Unsealed::from_stored(&stored[VALUE_HEADER..], 8).is_none());
    }
}
