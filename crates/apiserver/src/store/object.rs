//! One stored version of an object, in the form the server needs most: its compact JSON,
//! exactly the bytes a client receives, plus the few values label and field selectors read.
//!
//! Keeping the bytes instead of a parsed `serde_json::Value` tree matters at fleet scale: a
//! pod's tree takes several times the memory of its JSON, every watch event would otherwise
//! pin one, and most reads (get, list, watch) only ever send the object on. Writers that need
//! the structure parse it on demand with [`StoredObject::to_value`].

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

use super::{Key, StoreError};

/// Computes the field-selector values of an object (beyond `metadata.name` and
/// `metadata.namespace`, which come from its [`Key`]): pairs of field label and value, e.g.
/// `("spec.nodeName", "node-1")`. The store runs it once per write, so watchers with field
/// selectors never parse the object.
pub type FieldIndexer = fn(&Key, &Value) -> Vec<(&'static str, String)>;

/// The [`FieldIndexer`] that indexes nothing: only name, namespace and labels are selectable.
pub fn no_fields(_: &Key, _: &Value) -> Vec<(&'static str, String)> {
    Vec::new()
}

/// What label and field selectors read of an object, extracted once when it is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Selectable {
    labels: BTreeMap<String, String>,
    fields: Box<[(&'static str, Box<str>)]>,
}

impl Selectable {
    /// Extracts the labels and the indexed fields of `object`, stored at `key`.
    pub(super) fn of(key: &Key, object: &Value, index: FieldIndexer) -> Self {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let fields = index(key, object)
            .into_iter()
            .map(|(field, value)| (field, value.into_boxed_str()))
            .collect();
        Selectable { labels, fields }
    }
}

/// An immutable version of a stored object.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredObject {
    json: Bytes,
    selectable: Selectable,
}

impl std::fmt::Debug for StoredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredObject")
            .field("json", &String::from_utf8_lossy(&self.json))
            .finish_non_exhaustive()
    }
}

impl StoredObject {
    /// Builds the stored form of an object from its already-encoded `json` and what its
    /// selectors read.
    pub(super) fn new(json: Bytes, selectable: Selectable) -> Self {
        StoredObject { json, selectable }
    }

    /// What the selectors of this object read, for a new version that keeps them.
    pub(super) fn selectable(&self) -> &Selectable {
        &self.selectable
    }

    /// Encodes `object` and builds its stored form.
    pub fn encode(object: &Value, key: &Key, index: FieldIndexer) -> Result<Self, StoreError> {
        let json = serde_json::to_vec(object).map_err(|e| StoreError::Storage(e.to_string()))?;
        Ok(StoredObject::new(
            Bytes::from(json),
            Selectable::of(key, object, index),
        ))
    }

    /// The object as compact JSON, with `metadata.resourceVersion` set: what get, list and
    /// watch send to clients. Cloning the returned `Bytes` is cheap.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// Parses the object, for the writers that change it.
    pub fn to_value(&self) -> Result<Value, StoreError> {
        serde_json::from_slice(&self.json)
            .map_err(|e| StoreError::Storage(format!("corrupt stored object: {e}")))
    }

    /// The object's `metadata.labels`.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.selectable.labels
    }

    /// The value of an indexed field label (see [`FieldIndexer`]); `None` when the indexer
    /// did not report it.
    pub fn field(&self, label: &str) -> Option<&str> {
        self.selectable
            .fields
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, v)| &**v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node_name(_: &Key, object: &Value) -> Vec<(&'static str, String)> {
        let name = object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        vec![("spec.nodeName", name.to_string())]
    }

    #[test]
    fn keeps_the_exact_json_labels_and_indexed_fields() {
        let key = Key::namespaced("core/pods", "default", "p");
        let object = json!({"metadata": {"name": "p", "labels": {"app": "web", "n": 1}},
                            "spec": {"nodeName": "n1"}});
        let stored = StoredObject::encode(&object, &key, node_name).unwrap();
        assert_eq!(stored.json().as_ref(), serde_json::to_vec(&object).unwrap());
        assert_eq!(stored.to_value().unwrap(), object);
        // Non-string label values are not labels at all (upstream would reject them).
        assert_eq!(
            stored.labels().iter().collect::<Vec<_>>(),
            vec![(&"app".to_string(), &"web".to_string())]
        );
        assert_eq!(stored.field("spec.nodeName"), Some("n1"));
        assert_eq!(stored.field("status.phase"), None);
    }

    #[test]
    fn no_fields_indexes_nothing() {
        let key = Key::cluster("core/nodes", "n");
        let stored = StoredObject::encode(&json!({"spec": {}}), &key, no_fields).unwrap();
        assert!(stored.labels().is_empty());
        assert_eq!(stored.field("spec.unschedulable"), None);
    }
}
