//! Label lookups for the hot paths: matching selectors and nodeSelectors against thousands
//! of pods and nodes per DaemonSet sync.
//!
//! A label map is a `BTreeMap<String, String>` whose keys and values are separate heap
//! blocks. `BTreeMap::get` orders the wanted key against every key it passes, which reads
//! the bytes of each of those keys: one cache miss per key on objects that are not in
//! cache. The wanted keys here (a selector's, the hash and generation labels) rarely share
//! a length with the other labels of an object, so comparing lengths first, which only
//! reads the key headers inside the map's node, finds a label while reading the bytes of
//! that one key and no other.

use std::collections::BTreeMap;

/// Above this many labels the scan stops paying for itself against the map's own search.
const SCAN_UP_TO: usize = 32;

/// The value of label `key`, as `labels.get(key)` but reading the bytes of only the keys
/// that are as long as `key`.
#[inline]
pub fn get<'l>(labels: &'l BTreeMap<String, String>, key: &str) -> Option<&'l str> {
    if labels.len() > SCAN_UP_TO {
        return labels.get(key).map(String::as_str);
    }
    labels
        .iter()
        .find(|(k, _)| k.len() == key.len() && k.as_str() == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn get_agrees_with_the_maps_own_lookup() {
        let small = map(&[("a", "1"), ("ab", "2"), ("b", "3"), ("", "empty")]);
        let large: BTreeMap<String, String> = (0..100)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        for labels in [&small, &large, &BTreeMap::new()] {
            for key in ["a", "ab", "b", "", "c", "abc", "k7", "k70", "k700"] {
                assert_eq!(
                    get(labels, key),
                    labels.get(key).map(String::as_str),
                    "{key:?}"
                );
            }
        }
    }
}
