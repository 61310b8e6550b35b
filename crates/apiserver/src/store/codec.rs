//! On-disk encoding of keys and values.
//!
//! Keys are length-prefixed so that any string (even one containing separators or NULs)
//! round-trips and no two keys collide; a malformed record is reported, never panicked on.

use serde_json::Value;

use super::{Key, StoreError};

/// Encodes a key as `len(prefix) prefix tag [len(ns) ns] name`, lengths as u32 big-endian,
/// tag 0 for cluster-scoped and 1 for namespaced.
pub(super) fn encode_key(key: &Key) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        key.prefix.len() + key.name.len() + key.namespace.as_ref().map_or(0, |n| n.len()) + 9,
    );
    push_str(&mut out, &key.prefix);
    match &key.namespace {
        None => out.push(0),
        Some(ns) => {
            out.push(1);
            push_str(&mut out, ns);
        }
    }
    out.extend_from_slice(key.name.as_bytes());
    out
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Object keys are far below 4 GiB; saturate rather than wrap if one ever is not, which
    // makes the record undecodable (reported at load) instead of silently aliased.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Inverse of [`encode_key`].
pub(super) fn decode_key(bytes: &[u8]) -> Result<Key, StoreError> {
    let (prefix, rest) = take_str(bytes)?;
    let (namespace, rest) = match rest.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => {
            let (ns, rest) = take_str(rest)?;
            (Some(ns), rest)
        }
        _ => return Err(corrupt("bad namespace tag in key")),
    };
    let name = std::str::from_utf8(rest)
        .map_err(|_| corrupt("key name is not UTF-8"))?
        .to_string();
    Ok(Key {
        prefix,
        namespace,
        name,
    })
}

fn take_str(bytes: &[u8]) -> Result<(String, &[u8]), StoreError> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("truncated key"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(corrupt("truncated key"));
    }
    let (s, rest) = rest.split_at(len);
    let s = std::str::from_utf8(s).map_err(|_| corrupt("key is not UTF-8"))?;
    Ok((s.to_string(), rest))
}

/// Length of the mod-revision prefix of an encoded value; the object's JSON follows it.
pub(super) const VALUE_HEADER: usize = 8;

/// Encodes a value as the mod revision (u64 little-endian) followed by the object's JSON.
pub(super) fn encode_value(revision: u64, object: &Value) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&revision.to_le_bytes());
    serde_json::to_writer(&mut out, object).map_err(|e| StoreError::Storage(e.to_string()))?;
    Ok(out)
}

/// Splits an encoded value into its mod revision and the object's JSON (not yet checked).
pub(super) fn split_value(bytes: &[u8]) -> Result<(u64, &[u8]), StoreError> {
    let (revision, json) = bytes
        .split_first_chunk::<VALUE_HEADER>()
        .ok_or_else(|| corrupt("truncated value"))?;
    Ok((u64::from_le_bytes(*revision), json))
}

/// Inverse of [`encode_value`].
#[cfg(test)]
pub(super) fn decode_value(bytes: &[u8]) -> Result<(u64, Value), StoreError> {
    let (revision, json) = split_value(bytes)?;
    let object = serde_json::from_slice(json)
        .map_err(|e| StoreError::Storage(format!("corrupt stored object: {e}")))?;
    Ok((revision, object))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Storage(format!("corrupt store record: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_including_awkward_strings() {
        let cases = [
            Key::cluster("core/nodes", "n1"),
            Key::namespaced("core/pods", "default", "p"),
            Key::namespaced("a\0b", "", "x\0y"),
            Key::cluster("", ""),
        ];
        for key in cases {
            assert_eq!(decode_key(&encode_key(&key)).unwrap(), key);
        }
    }

    #[test]
    fn cluster_and_namespaced_keys_never_collide() {
        let a = encode_key(&Key::cluster("p", "x"));
        let b = encode_key(&Key::namespaced("p", "", "x"));
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        for bytes in [&b""[..], &[0, 0, 0, 9, b'a'][..], &[0, 0, 0, 0, 7][..]] {
            assert!(decode_key(bytes).is_err());
        }
        assert!(decode_value(&[1, 2, 3]).is_err());
        assert!(decode_value(&[0, 0, 0, 0, 0, 0, 0, 0, b'{']).is_err());
    }

    #[test]
    fn values_round_trip() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(
            decode_value(&encode_value(42, &v).unwrap()).unwrap(),
            (42, v)
        );
    }
}
