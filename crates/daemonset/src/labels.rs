//! Label lookups for the per-object hot paths of a sync.
//!
//! A label map is a `BTreeMap<String, String>` whose keys and values are separate heap
//! blocks. `BTreeMap::get` orders the wanted key against every key it passes, which reads
//! the bytes of each of those keys: one cache miss per key on objects that are not in
//! cache. The wanted keys here (a selector's, the hash and generation labels) rarely share
//! a length with the other labels of an object, so comparing lengths first, which only
//! reads the key headers inside the map's node, finds a label while reading the bytes of
//! that one key and no other.

use std::collections::BTreeMap;

use everynode_model::selector::Selector;

/// Above this many labels the scan stops paying for itself against the map's own search.
const SCAN_UP_TO: usize = 32;

/// The value of label `key`, as `labels.get(key)` but reading the bytes of only the keys
/// that are as long as `key`.
#[inline]
pub(crate) fn find<'l>(labels: &'l BTreeMap<String, String>, key: &str) -> Option<&'l str> {
    if labels.len() > SCAN_UP_TO {
        return labels.get(key).map(String::as_str);
    }
    labels
        .iter()
        .find(|(k, _)| k.len() == key.len() && k.as_str() == key)
        .map(|(_, v)| v.as_str())
}

/// `selector.matches(labels)`, with each requirement's label found by [`find`].
pub(crate) fn selector_matches(selector: &Selector, labels: &BTreeMap<String, String>) -> bool {
    !selector.matches_nothing
        && selector
            .requirements
            .iter()
            .all(|r| r.matches(find(labels, &r.key)))
}

/// Every `(key, value)` pair of `selector` (a nodeSelector) is among `labels`.
pub(crate) fn contains_all(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| find(labels, k) == Some(v.as_str()))
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
    fn find_agrees_with_the_maps_own_lookup() {
        let small = map(&[("a", "1"), ("ab", "2"), ("b", "3"), ("", "empty")]);
        let large: BTreeMap<String, String> = (0..100)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        for labels in [&small, &large, &BTreeMap::new()] {
            for key in ["a", "ab", "b", "", "c", "abc", "k7", "k70", "k700"] {
                assert_eq!(
                    find(labels, key),
                    labels.get(key).map(String::as_str),
                    "{key:?}"
                );
            }
        }
    }

    #[test]
    fn selector_matches_agrees_with_the_selectors_own_match() {
        let labels = [
            map(&[]),
            map(&[("app", "agent")]),
            map(&[("app", "agent"), ("tier", "web")]),
            map(&[("app", "other"), ("tier", "web")]),
            map(&[("tier", "7")]),
        ];
        for text in [
            "app=agent",
            "app!=agent",
            "tier",
            "!tier",
            "tier>5",
            "app in (agent,x),tier",
        ] {
            let Ok(selector) = Selector::parse(text) else {
                panic!("{text} parses");
            };
            for l in &labels {
                assert_eq!(
                    selector_matches(&selector, l),
                    selector.matches(l),
                    "{text} {l:?}"
                );
            }
        }
        let nothing = Selector::nothing();
        assert!(!selector_matches(&nothing, &labels[1]));
    }

    #[test]
    fn contains_all_requires_every_pair() {
        let labels = map(&[("kubernetes.io/os", "linux"), ("pool", "general")]);
        for (selector, want) in [
            (map(&[]), true),
            (map(&[("kubernetes.io/os", "linux")]), true),
            (
                map(&[("kubernetes.io/os", "linux"), ("pool", "general")]),
                true,
            ),
            (map(&[("kubernetes.io/os", "windows")]), false),
            (map(&[("zone", "a")]), false),
        ] {
            assert_eq!(contains_all(&selector, &labels), want, "{selector:?}");
        }
    }
}
