//! A local copy of one watched collection, fed by a kube-rs watcher.
//!
//! Components keep their own compact view of each object (`V`) instead of whole objects, so
//! 5,000 pods cost little, and learn exactly which keys changed so their work grows with
//! change, not with size. Relists (watch restarts) are buffered until complete and then
//! diffed against the previous copy, so an object deleted while the watch was down is still
//! reported as deleted.

use std::collections::HashMap;
use std::fmt::Debug;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// The watch stream type every component consumes.
pub(crate) type WatchStream<K> =
    Pin<Box<dyn Stream<Item = Result<Event<K>, watcher::Error>> + Send>>;

/// Starts a watcher (list + watch, relist on 410, exponential backoff on errors).
pub(crate) fn watch<K>(api: Api<K>, config: watcher::Config) -> WatchStream<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, config).default_backoff().boxed()
}

/// A pod as a mirror keeps it: decoded lists shrunk to their lengths, since the copy lives
/// until the pod changes again.
pub(crate) fn trimmed_pod(mut pod: Pod) -> Pod {
    everynode_model::compact::pod(&mut pod);
    pod
}

/// A node as a mirror keeps it (see [`trimmed_pod`]).
pub(crate) fn trimmed_node(mut node: Node) -> Node {
    everynode_model::compact::node(&mut node);
    node
}

/// One change to the mirrored collection.
#[derive(Debug)]
pub(crate) enum Change<V> {
    /// The key was added or modified; `old` is the previous value, if any.
    Upsert { key: String, old: Option<V> },
    /// The object was deleted; this was its last value.
    Delete { key: String, old: V },
}

/// The mirrored collection.
#[derive(Debug)]
pub(crate) struct Mirror<V> {
    items: HashMap<String, V>,
    relist: Option<HashMap<String, V>>,
    synced: bool,
}

impl<V> Default for Mirror<V> {
    fn default() -> Self {
        Mirror {
            items: HashMap::new(),
            relist: None,
            synced: false,
        }
    }
}

/// The key of an object: `namespace/name`, or `name` for cluster-scoped objects.
pub(crate) fn key_of<K: Resource>(obj: &K) -> String {
    match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name_any()),
        None => obj.name_any(),
    }
}

impl<V> Mirror<V> {
    /// Applies one watcher event, converting objects with `convert`, and says what changed.
    pub(crate) fn apply<K: Resource>(
        &mut self,
        event: Event<K>,
        convert: impl Fn(K) -> V,
    ) -> Vec<Change<V>> {
        match event {
            Event::Apply(obj) => {
                let key = key_of(&obj);
                let old = self.items.insert(key.clone(), convert(obj));
                vec![Change::Upsert { key, old }]
            }
            Event::Delete(obj) => {
                let key = key_of(&obj);
                match self.items.remove(&key) {
                    Some(old) => vec![Change::Delete { key, old }],
                    None => Vec::new(),
                }
            }
            Event::Init => {
                self.relist = Some(HashMap::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                let key = key_of(&obj);
                self.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(key, convert(obj));
                Vec::new()
            }
            Event::InitDone => {
                let fresh = self.relist.take().unwrap_or_default();
                let mut old_items = std::mem::replace(&mut self.items, fresh);
                self.synced = true;
                let mut changes: Vec<Change<V>> = Vec::with_capacity(self.items.len());
                for key in self.items.keys() {
                    let old = old_items.remove(key);
                    changes.push(Change::Upsert {
                        key: key.clone(),
                        old,
                    });
                }
                for (key, old) in old_items {
                    changes.push(Change::Delete { key, old });
                }
                changes
            }
        }
    }

    /// The current value of a key.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.items.get(key)
    }

    /// Every key and value.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.items.iter()
    }

    /// Number of objects.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// True once the first complete list has been received.
    pub(crate) fn is_synced(&self) -> bool {
        self.synced
    }
}

/// Splits a `namespace/name` key (or a bare cluster-scoped name).
pub(crate) fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, key),
    }
}
