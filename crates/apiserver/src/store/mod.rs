//! The durable object store and watch cache of the embedded API server: everynode's etcd.
//!
//! Shape of the thing:
//!
//! - **One global revision.** Every successful write takes the next `u64`; it becomes the
//!   object's `metadata.resourceVersion` and is committed in the same redb transaction as the
//!   object and the revision counter, so a reopened store continues exactly where it stopped.
//! - **Group commit.** All writes go through one dedicated writer thread. It drains whatever
//!   is queued, applies it in a single redb transaction with `Durability::Immediate` (one
//!   fsync) and only then answers every caller. A write that was answered with success is on
//!   disk.
//! - **Read path in memory.** All objects live in an in-memory cache that serves `get` and
//!   `list`; redb is only the durable log and is read once, at open.
//! - **Watch ring.** The last `event_window` events are kept in a ring whose revisions are
//!   contiguous. A watcher is just a cursor (a revision) into that ring plus a subscription to
//!   one shared "revision advanced" signal, so fan-out costs one wake-up per watcher per batch
//!   and each watcher filters by its own scope. A watcher whose cursor falls off the ring
//!   gets [`StoreError::Expired`]; it never silently skips events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

mod codec;
mod object;
mod unsealed;

use object::Selectable;
pub use object::{FieldIndexer, StoredObject, no_fields};
use unsealed::Unsealed;

/// Objects table: encoded [`Key`] → 8-byte little-endian mod revision followed by the JSON.
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
/// Bookkeeping table; holds the revision counter under [`REVISION_KEY`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The revision counter survives deletes (it can be above every stored object's revision),
/// so it is persisted on its own rather than recomputed from the objects.
const REVISION_KEY: &str = "revision";

/// Upper bound on operations folded into one transaction, so one huge burst cannot delay
/// every answer behind a single enormous commit.
const MAX_BATCH: usize = 4096;
/// Longest the writer waits for a batch to fill up to the previous batch's size; small next
/// to one fsync (hundreds of microseconds to milliseconds here).
const COALESCE_WINDOW: std::time::Duration = std::time::Duration::from_micros(200);
/// Upper bound on ring entries a watcher scans per lock acquisition, so a far-behind
/// watcher never holds the read lock long enough to stall the writer.
const SCAN_CHUNK: usize = 1024;

/// How to open a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The redb database file (created when missing). `None` keeps the database in memory,
    /// which is meant for tests: nothing survives the process.
    pub path: Option<PathBuf>,
    /// How many recent events the watch ring keeps; older revisions can no longer be watched
    /// from ([`StoreError::Expired`]). Values below 1 are treated as 1.
    pub event_window: usize,
    /// Upper bound on the JSON bytes of the objects the watch ring holds; the oldest events
    /// leave first when either this or [`event_window`](Self::event_window) is exceeded.
    /// This is what bounds the ring's memory: a fleet's objects vary from hundreds of bytes
    /// (leases) to many kilobytes (nodes).
    pub event_window_bytes: usize,
    /// Extracts the field-selector values of each written object, so list and watch filter
    /// without parsing; the API server passes its per-resource field labels here.
    pub field_index: FieldIndexer,
}

impl Default for StoreConfig {
    /// In memory, with a watch window of up to 200,000 events and 64 MiB of objects, and no
    /// field index.
    fn default() -> Self {
        StoreConfig {
            path: None,
            event_window: 200_000,
            event_window_bytes: 64 << 20,
            field_index: no_fields,
        }
    }
}

/// The identity of a stored object: resource, namespace and name.
///
/// The derived ordering (prefix, then namespace with cluster-scoped first, then name) is the
/// order in which [`Store::list`] returns items.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The resource, as `<group or "core">/<plural>`, e.g. `apps/daemonsets`, `core/pods`.
    pub prefix: String,
    /// The namespace, or `None` for cluster-scoped objects such as nodes.
    pub namespace: Option<String>,
    /// The object's `metadata.name`.
    pub name: String,
}

impl Key {
    /// Convenience constructor for a namespaced key.
    pub fn namespaced(
        prefix: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Key {
        Key {
            prefix: prefix.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// Convenience constructor for a cluster-scoped key.
    pub fn cluster(prefix: impl Into<String>, name: impl Into<String>) -> Key {
        Key {
            prefix: prefix.into(),
            namespace: None,
            name: name.into(),
        }
    }
}

/// What a list or watch covers: one resource, in one namespace or in all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The resource prefix, as in [`Key::prefix`].
    pub prefix: String,
    /// `Some(ns)` limits to one namespace; `None` means all namespaces (and is the only way
    /// to cover cluster-scoped objects).
    pub namespace: Option<String>,
}

impl Scope {
    /// Whether `key` belongs to this scope.
    pub fn contains(&self, key: &Key) -> bool {
        key.prefix == self.prefix
            && match &self.namespace {
                None => true,
                Some(ns) => key.namespace.as_deref() == Some(ns.as_str()),
            }
    }
}

/// An object as the store holds it.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Where it is stored.
    pub key: Key,
    /// The object, with `metadata.resourceVersion` equal to `revision`.
    pub object: Arc<StoredObject>,
    /// The revision of the write that produced this state (etcd's mod revision). For the
    /// result of [`Store::delete`] it is the revision of the deletion.
    pub revision: u64,
}

/// A consistent snapshot of one [`Scope`].
#[derive(Clone, Debug)]
pub struct Listing {
    /// The objects, sorted by (namespace, name).
    pub items: Vec<Stored>,
    /// The store's revision when the snapshot was taken (the list's `resourceVersion`); a
    /// watch from this revision continues with no gap.
    pub revision: u64,
}

/// What a [`WatchEvent`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The object was created.
    Added,
    /// The object was replaced.
    Modified,
    /// The object was deleted.
    Deleted,
}

/// One change to one object, as delivered to watchers.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    /// The kind of change.
    pub kind: EventKind,
    /// The object changed.
    pub key: Key,
    /// The object after the change; for [`EventKind::Deleted`], its last state stamped with
    /// the deletion's revision. Its JSON is shared by every watcher the event goes to.
    pub object: Arc<StoredObject>,
    /// The object before the change (`None` for [`EventKind::Added`]).
    pub prev_object: Option<Arc<StoredObject>>,
    /// The revision of the change.
    pub revision: u64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object has this key.
    #[error("object not found")]
    NotFound,
    /// An object with this key already exists.
    #[error("object already exists")]
    AlreadyExists,
    /// The precondition on the object's revision does not hold.
    #[error("revision precondition failed: the object is at revision {current}")]
    Conflict {
        /// The object's current mod revision.
        current: u64,
    },
    /// The requested revision is older than the oldest the watch ring can replay from
    /// (also what a watcher that fell too far behind gets).
    #[error("too old resource version: {requested} (oldest available: {oldest})")]
    Expired {
        /// The revision the watch asked to continue after.
        requested: u64,
        /// The oldest revision the store can still continue after.
        oldest: u64,
    },
    /// The store was closed (or its writer stopped).
    #[error("the store is closed")]
    Closed,
    /// The database failed, or the stored data could not be read back.
    #[error("storage failure: {0}")]
    Storage(String),
}

fn storage_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

/// Writer counters reported by [`Store::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Durable transactions committed (each one fsync).
    pub commits: u64,
    /// Successful creates, updates and deletes carried by those commits.
    pub writes: u64,
}

/// Handle to the store. Cheap to clone; all clones share one database, cache and writer.
#[derive(Clone)]
pub struct Store {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

/// Owns the writer's queue: when the last [`Store`] clone goes away the queue closes and the
/// writer thread exits on its own, even without [`Store::close`].
struct Handle {
    shared: Arc<Shared>,
    ops: mpsc::Sender<Op>,
    /// Run by each writer before submitting, so the single writer thread never indexes.
    index: FieldIndexer,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// State shared by the handles, the writer thread and the watchers.
struct Shared {
    state: RwLock<State>,
    /// Carries the latest revision; every applied batch (and shutdown) bumps it, which is the
    /// single broadcast that wakes watchers.
    signal: watch::Sender<u64>,
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock only means some thread panicked while holding it; the state is
        // updated in place without intermediate invariant breaks, so keep serving.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

type NameMap = BTreeMap<String, Stored>;
type NamespaceMap = BTreeMap<Option<String>, NameMap>;

struct State {
    /// prefix → namespace → name → object: a list of one scope is a straight ordered walk.
    objects: HashMap<String, NamespaceMap>,
    revision: u64,
    /// Events with contiguous revisions `ring_start ..= revision`.
    ring: VecDeque<WatchEvent>,
    ring_start: u64,
    /// JSON bytes of the objects of the events in `ring`.
    ring_bytes: usize,
    window: usize,
    window_bytes: usize,
    closed: bool,
}

impl State {
    fn get(&self, key: &Key) -> Option<&Stored> {
        self.objects
            .get(&key.prefix)?
            .get(&key.namespace)?
            .get(&key.name)
    }

    fn list(&self, scope: &Scope) -> Listing {
        let mut items = Vec::new();
        if let Some(namespaces) = self.objects.get(&scope.prefix) {
            match &scope.namespace {
                Some(ns) => {
                    if let Some(names) = namespaces.get(&Some(ns.clone())) {
                        items.extend(names.values().cloned());
                    }
                }
                None => {
                    for names in namespaces.values() {
                        items.extend(names.values().cloned());
                    }
                }
            }
        }
        Listing {
            items,
            revision: self.revision,
        }
    }

    fn put(&mut self, stored: Stored) {
        self.objects
            .entry(stored.key.prefix.clone())
            .or_default()
            .entry(stored.key.namespace.clone())
            .or_default()
            .insert(stored.key.name.clone(), stored);
    }

    fn remove(&mut self, key: &Key) {
        let Some(namespaces) = self.objects.get_mut(&key.prefix) else {
            return;
        };
        if let Some(names) = namespaces.get_mut(&key.namespace) {
            names.remove(&key.name);
            if names.is_empty() {
                namespaces.remove(&key.namespace);
            }
        }
        if namespaces.is_empty() {
            self.objects.remove(&key.prefix);
        }
    }

    fn push_event(&mut self, event: WatchEvent) {
        self.ring_bytes += event.object.json().len();
        self.ring.push_back(event);
        // The newest event always stays, so a watch from the current revision works even
        // when one object alone exceeds the byte budget.
        while self.ring.len() > self.window
            || (self.ring_bytes > self.window_bytes && self.ring.len() > 1)
        {
            let Some(gone) = self.ring.pop_front() else {
                break;
            };
            self.ring_bytes -= gone.object.json().len();
            self.ring_start += 1;
        }
    }

    /// The smallest `after` a watch can start from: everything newer is still in the ring.
    fn oldest_watchable(&self) -> u64 {
        self.ring_start.saturating_sub(1)
    }
}

/// The object of a create or update on its way to the writer thread.
enum Body {
    /// Already encoded by the caller; the writer splices the revision in.
    Encoded(Unsealed),
    /// Left for the writer to stamp and encode (and to refuse, if it is not an object).
    Raw(Value),
}

impl Body {
    fn of(mut object: Value) -> Body {
        match Unsealed::encode(&mut object) {
            Some(unsealed) => Body::Encoded(unsealed),
            None => Body::Raw(object),
        }
    }
}

/// A write request travelling to the writer thread.
enum Op {
    Create {
        key: Key,
        body: Body,
        selectable: Selectable,
        reply: oneshot::Sender<Result<Stored, StoreError>>,
    },
    Update {
        key: Key,
        body: Body,
        selectable: Selectable,
        expected: Option<u64>,
        reply: oneshot::Sender<Result<Stored, StoreError>>,
    },
    Delete {
        key: Key,
        expected: Option<u64>,
        /// The final state prepared by the caller from the object at the given revision;
        /// used only if that is still the object's revision when the delete is applied.
        last: Option<(u64, Unsealed)>,
        reply: oneshot::Sender<Result<Stored, StoreError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

impl Store {
    /// Opens (or creates) the database, loads every object into the cache and starts the
    /// writer thread. The revision continues from the persisted counter; the watch ring
    /// starts empty, so only watches from the current revision onwards are possible.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        let db = match &config.path {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(storage_error)?;
                }
                Database::create(path).map_err(storage_error)?
            }
            None => Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(storage_error)?,
        };
        let (objects, revision) = load(&db, config.field_index)?;
        let state = State {
            objects,
            revision,
            ring: VecDeque::new(),
            ring_start: revision + 1,
            ring_bytes: 0,
            window: config.event_window.max(1),
            window_bytes: config.event_window_bytes,
            closed: false,
        };
        let (signal, _) = watch::channel(revision);
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            signal,
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        });
        let (ops, queue) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("everynode-store-writer".into())
            .spawn(move || writer_loop(db, queue, writer_shared))
            .map_err(storage_error)?;
        Ok(Store {
            handle: Arc::new(Handle {
                shared,
                ops,
                index: config.field_index,
                writer: std::sync::Mutex::new(Some(writer)),
            }),
        })
    }

    /// The store's current revision: the revision of the latest acknowledged write (or the
    /// persisted counter right after open).
    pub fn revision(&self) -> u64 {
        self.handle.shared.read().revision
    }

    /// Counters of the writer since open, for metrics and for checking that concurrent
    /// writes really share commits.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.handle.shared.commits.load(Ordering::Relaxed),
            writes: self.handle.shared.writes.load(Ordering::Relaxed),
        }
    }

    /// The object stored at `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Stored> {
        self.handle.shared.read().get(key).cloned()
    }

    /// A consistent snapshot of every object in `scope`, sorted by (namespace, name).
    pub fn list(&self, scope: &Scope) -> Listing {
        self.handle.shared.read().list(scope)
    }

    /// Stores a new object. Stamps `metadata.resourceVersion` with the new revision (as a
    /// string) before storing; fails with [`StoreError::AlreadyExists`] if the key is taken.
    pub async fn create(&self, key: Key, object: Value) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        let selectable = Selectable::of(&key, &object, self.handle.index);
        self.submit(
            Op::Create {
                key,
                body: Body::of(object),
                selectable,
                reply,
            },
            answer,
        )
        .await
    }

    /// Replaces an existing object, stamping `metadata.resourceVersion` like
    /// [`create`](Self::create). `expected = Some(rev)` fails with [`StoreError::Conflict`]
    /// unless the current mod revision equals `rev`; a missing object is
    /// [`StoreError::NotFound`].
    pub async fn update(
        &self,
        key: Key,
        object: Value,
        expected: Option<u64>,
    ) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        let selectable = Selectable::of(&key, &object, self.handle.index);
        self.submit(
            Op::Update {
                key,
                body: Body::of(object),
                selectable,
                expected,
                reply,
            },
            answer,
        )
        .await
    }

    /// Deletes an object and returns its final state stamped with the deletion's revision
    /// (what etcd-backed Kubernetes puts in DELETED events). `expected` works as in
    /// [`update`](Self::update).
    pub async fn delete(&self, key: &Key, expected: Option<u64>) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        let last = self.get(key).and_then(|current| {
            Unsealed::from_stored(current.object.json(), current.revision)
                .map(|last| (current.revision, last))
        });
        self.submit(
            Op::Delete {
                key: key.clone(),
                expected,
                last,
                reply,
            },
            answer,
        )
        .await
    }

    async fn submit(
        &self,
        op: Op,
        answer: oneshot::Receiver<Result<Stored, StoreError>>,
    ) -> Result<Stored, StoreError> {
        self.handle.ops.send(op).map_err(|_| StoreError::Closed)?;
        // A dropped reply means the writer stopped before answering: the write may or may
        // not be durable, but it was never acknowledged, so Closed is the honest answer.
        answer.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Watches `scope` for changes with revision greater than `after`: first the ones still
    /// in the ring, in order, then live ones. Fails with [`StoreError::Expired`] if events
    /// after `after` have already left the ring (`after` < oldest revision in the ring − 1).
    /// Watching from the current revision always works, even right after a restart. An
    /// `after` beyond the current revision is accepted and simply waits for that revision.
    /// (`resourceVersion=0`/unset "any" semantics belong to the caller: use
    /// [`list_and_watch`](Self::list_and_watch) for those.)
    pub fn watch(&self, scope: &Scope, after: u64) -> Result<WatchStream, StoreError> {
        let state = self.handle.shared.read();
        let oldest = state.oldest_watchable();
        if after < oldest {
            return Err(StoreError::Expired {
                requested: after,
                oldest,
            });
        }
        Ok(self.stream(scope, after))
    }

    /// Lists `scope` and subscribes to it in one atomic step: the stream yields exactly the
    /// changes with revision greater than the listing's revision (no gap, no duplicates).
    pub fn list_and_watch(&self, scope: &Scope) -> (Listing, WatchStream) {
        let state = self.handle.shared.read();
        let listing = state.list(scope);
        let stream = self.stream(scope, listing.revision);
        (listing, stream)
    }

    fn stream(&self, scope: &Scope, after: u64) -> WatchStream {
        WatchStream {
            shared: Arc::clone(&self.handle.shared),
            signal: self.handle.shared.signal.subscribe(),
            scope: scope.clone(),
            cursor: after,
            pending: VecDeque::new(),
            failed: None,
        }
    }

    /// Finishes every write queued before this call, stops the writer thread and ends all
    /// watches with [`StoreError::Closed`] (after they drain the events already committed).
    /// Later writes fail with [`StoreError::Closed`]. Calling it again is harmless.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.handle.ops.send(Op::Shutdown { reply }).is_ok() {
            // Err only if the writer is already gone, which is the state we want anyway.
            let _ = done.await;
        }
        let writer = self
            .handle
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = writer {
            // The writer has answered the shutdown (or died), so this join is immediate; do
            // it off the async runtime all the same.
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

/// A subscription to changes in one [`Scope`], created by [`Store::watch`] or
/// [`Store::list_and_watch`].
pub struct WatchStream {
    shared: Arc<Shared>,
    signal: watch::Receiver<u64>,
    scope: Scope,
    /// Every ring event with revision <= cursor has been examined.
    cursor: u64,
    /// Matching events already taken from the ring but not yet handed out.
    pending: VecDeque<WatchEvent>,
    /// Once a stream fails it keeps failing the same way.
    failed: Option<StoreError>,
}

impl WatchStream {
    /// The next change, in revision order. Fails with [`StoreError::Expired`] when this
    /// watcher fell so far behind that events it has not seen left the ring, and with
    /// [`StoreError::Closed`] once the store is closed and everything committed before has
    /// been delivered. Cancel-safe: dropping the future loses no event.
    pub async fn next(&mut self) -> Result<WatchEvent, StoreError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            if let Some(failure) = &self.failed {
                return Err(clone_error(failure));
            }
            // Mark the current signal value as seen *before* scanning: any batch applied
            // after the scan then makes `changed()` return at once, so no wake-up is lost.
            self.signal.borrow_and_update();
            match self.fill() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.failed = Some(clone_error(&e));
                    return Err(e);
                }
            }
            if self.signal.changed().await.is_err() {
                // The sender lives in `Shared`, which we hold, so this cannot happen; treat
                // it as a shutdown rather than spinning.
                self.failed = Some(StoreError::Closed);
            }
        }
    }

    /// The revision up to which this watcher has been told everything in its scope: all
    /// changes with revision <= progress have been returned by [`next`](Self::next). Useful
    /// as a bookmark's resourceVersion.
    pub fn progress(&self) -> u64 {
        match self.pending.front() {
            Some(event) => event.revision - 1,
            None => self.cursor,
        }
    }

    /// The scope this stream watches.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Turns the stream into a [`futures::Stream`] that ends after the first error (which it
    /// yields).
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<WatchEvent, StoreError>> + Send + 'static {
        futures::stream::unfold(Some(self), |stream| async move {
            let mut stream = stream?;
            match stream.next().await {
                Ok(event) => Some((Ok(event), Some(stream))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Moves matching events after the cursor into `pending`. Returns whether anything was
    /// found; errors when the stream must end.
    fn fill(&mut self) -> Result<bool, StoreError> {
        let state = self.shared.read();
        if self.cursor < state.oldest_watchable() {
            return Err(StoreError::Expired {
                requested: self.cursor,
                oldest: state.oldest_watchable(),
            });
        }
        let mut scanned = 0;
        while self.cursor < state.revision && scanned < SCAN_CHUNK {
            // Revisions in the ring are contiguous, so the next one sits at a fixed offset.
            let index = (self.cursor + 1 - state.ring_start) as usize;
            let Some(event) = state.ring.get(index) else {
                break;
            };
            if self.scope.contains(&event.key) {
                self.pending.push_back(event.clone());
            }
            self.cursor = event.revision;
            scanned += 1;
        }
        if !self.pending.is_empty() || self.cursor < state.revision {
            return Ok(true);
        }
        if state.closed {
            return Err(StoreError::Closed);
        }
        Ok(false)
    }
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("scope", &self.scope)
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::AlreadyExists => StoreError::AlreadyExists,
        StoreError::Conflict { current } => StoreError::Conflict { current: *current },
        StoreError::Expired { requested, oldest } => StoreError::Expired {
            requested: *requested,
            oldest: *oldest,
        },
        StoreError::Closed => StoreError::Closed,
        StoreError::Storage(s) => StoreError::Storage(s.clone()),
    }
}

/// Reads every object and the revision counter back from the database.
fn load(
    db: &Database,
    index: FieldIndexer,
) -> Result<(HashMap<String, NamespaceMap>, u64), StoreError> {
    // Create the tables up front so later read paths never meet a missing table.
    let txn = db.begin_write().map_err(storage_error)?;
    txn.open_table(OBJECTS).map_err(storage_error)?;
    txn.open_table(META).map_err(storage_error)?;
    txn.commit().map_err(storage_error)?;

    let txn = db.begin_read().map_err(storage_error)?;
    let meta = txn.open_table(META).map_err(storage_error)?;
    let mut revision = meta
        .get(REVISION_KEY)
        .map_err(storage_error)?
        .map(|v| v.value())
        .unwrap_or(0);
    let table = txn.open_table(OBJECTS).map_err(storage_error)?;
    let mut state = State {
        objects: HashMap::new(),
        revision: 0,
        ring: VecDeque::new(),
        ring_start: 1,
        ring_bytes: 0,
        window: 1,
        window_bytes: 0,
        closed: false,
    };
    for entry in table.iter().map_err(storage_error)? {
        let (k, v) = entry.map_err(storage_error)?;
        let key = codec::decode_key(k.value())?;
        let (mod_revision, json) = codec::split_value(v.value())?;
        let value = serde_json::from_slice::<Value>(json)
            .map_err(|e| StoreError::Storage(format!("corrupt stored object: {e}")))?;
        let selectable = Selectable::of(&key, &value, index);
        let object = StoredObject::new(Bytes::copy_from_slice(json), selectable);
        revision = revision.max(mod_revision);
        state.put(Stored {
            key,
            object: Arc::new(object),
            revision: mod_revision,
        });
    }
    Ok((state.objects, revision))
}

/// A decision taken by the writer, waiting for the commit before it is answered.
struct Pending {
    outcome: Result<WatchEvent, StoreError>,
    reply: oneshot::Sender<Result<Stored, StoreError>>,
}

/// Collects the next batch: everything already queued, and, when that is fewer writes
/// than the previous batch carried, waits up to [`COALESCE_WINDOW`] for the rest. Clients
/// answered by the previous commit need a moment to send their next write; without the wait
/// a steady set of N clients splits into ever smaller batches and pays an fsync for each.
fn next_batch(queue: &mpsc::Receiver<Op>, first: Op, target: usize) -> Vec<Op> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
    let target = target.min(MAX_BATCH);
    let deadline = std::time::Instant::now() + COALESCE_WINDOW;
    while batch.len() < target {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match queue.recv_timeout(left) {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
    batch
}

fn writer_loop(db: Database, queue: mpsc::Receiver<Op>, shared: Arc<Shared>) {
    let mut shutdown = None;
    let mut last_batch = 1;
    while let Ok(first) = queue.recv() {
        let batch = next_batch(&queue, first, last_batch);
        last_batch = batch.len();
        let mut ops = Vec::with_capacity(batch.len());
        let mut batch = batch.into_iter();
        for op in batch.by_ref() {
            match op {
                Op::Shutdown { reply } => {
                    shutdown = Some(reply);
                    break;
                }
                other => ops.push(other),
            }
        }
        // Writes queued behind the shutdown are refused, not applied.
        batch.for_each(refuse);
        apply_batch(&db, &shared, ops);
        if shutdown.is_some() {
            break;
        }
    }
    // Refuse whatever is still queued before announcing the shutdown.
    while let Ok(op) = queue.try_recv() {
        refuse(op);
    }
    drop(db);
    {
        let mut state = shared.write();
        state.closed = true;
    }
    shared.signal.send_modify(|_| {});
    if let Some(reply) = shutdown {
        let _ = reply.send(());
    }
    // Dropping the queue makes later sends fail (Closed); an op that slipped in after the
    // drain above is dropped with it, and its caller sees the reply vanish (also Closed).
}

fn refuse(op: Op) {
    match op {
        Op::Create { reply, .. } | Op::Update { reply, .. } | Op::Delete { reply, .. } => {
            let _ = reply.send(Err(StoreError::Closed));
        }
        Op::Shutdown { reply } => {
            let _ = reply.send(());
        }
    }
}

/// Stamps `body` with `revision` and, unless the caller did, encodes it: the record redb
/// stores (revision prefix and JSON) and the [`StoredObject`] that shares its JSON.
fn seal(
    body: Body,
    selectable: Selectable,
    revision: u64,
) -> Result<(Bytes, StoredObject), StoreError> {
    let record = match body {
        Body::Encoded(unsealed) => Bytes::from(unsealed.seal(revision)),
        Body::Raw(object) => Bytes::from(codec::encode_value(revision, &stamp(object, revision)?)?),
    };
    let stored = StoredObject::new(record.slice(codec::VALUE_HEADER..), selectable);
    Ok((record, stored))
}

/// Decides every op against the cache plus the earlier ops of the same batch, commits them
/// in one durable transaction, publishes them, then answers.
fn apply_batch(db: &Database, shared: &Shared, ops: Vec<Op>) {
    if ops.is_empty() {
        return;
    }
    // Only this thread mutates the cache, so reading it here and publishing later cannot
    // race with another writer.
    let base_revision = shared.read().revision;
    let mut revision = base_revision;
    // Key → state after the earlier ops of this batch (`None` = deleted in this batch).
    let mut overlay: HashMap<Key, Option<Stored>> = HashMap::new();
    let mut decisions: Vec<Pending> = Vec::new();
    let mut writes: Vec<(Vec<u8>, Option<Bytes>)> = Vec::new();

    for op in ops {
        let current = |key: &Key| -> Option<Stored> {
            match overlay.get(key) {
                Some(state) => state.clone(),
                None => shared.read().get(key).cloned(),
            }
        };
        let next = revision + 1;
        // What the op turns into if it is allowed: the event, and the record to persist
        // (`None` for a deletion).
        let (reply, decided) = match op {
            Op::Create {
                key,
                body,
                selectable,
                reply,
            } => {
                let decided = match current(&key) {
                    Some(_) => Err(StoreError::AlreadyExists),
                    None => seal(body, selectable, next).map(|(record, object)| {
                        let event = WatchEvent {
                            kind: EventKind::Added,
                            key,
                            object: Arc::new(object),
                            prev_object: None,
                            revision: next,
                        };
                        (event, Some(record))
                    }),
                };
                (reply, decided)
            }
            Op::Update {
                key,
                body,
                selectable,
                expected,
                reply,
            } => {
                let decided = match current(&key) {
                    None => Err(StoreError::NotFound),
                    Some(old) if expected.is_some_and(|e| e != old.revision) => {
                        Err(StoreError::Conflict {
                            current: old.revision,
                        })
                    }
                    Some(old) => seal(body, selectable, next).map(|(record, object)| {
                        let event = WatchEvent {
                            kind: EventKind::Modified,
                            key,
                            object: Arc::new(object),
                            prev_object: Some(old.object),
                            revision: next,
                        };
                        (event, Some(record))
                    }),
                };
                (reply, decided)
            }
            Op::Delete {
                key,
                expected,
                last,
                reply,
            } => {
                let decided = match current(&key) {
                    None => Err(StoreError::NotFound),
                    Some(old) if expected.is_some_and(|e| e != old.revision) => {
                        Err(StoreError::Conflict {
                            current: old.revision,
                        })
                    }
                    // The DELETED event carries the last state at the deletion's revision,
                    // usually prepared by the caller; what selectors read of it is the old
                    // version's.
                    Some(old) => match last.filter(|(at, _)| *at == old.revision) {
                        Some((_, last)) => Ok(Body::Encoded(last)),
                        None => old.object.to_value().map(Body::Raw),
                    }
                    .and_then(|last| seal(last, old.object.selectable().clone(), next))
                    .map(|(_, object)| {
                        let event = WatchEvent {
                            kind: EventKind::Deleted,
                            key,
                            object: Arc::new(object),
                            prev_object: Some(old.object),
                            revision: next,
                        };
                        (event, None)
                    }),
                };
                (reply, decided)
            }
            Op::Shutdown { reply } => {
                let _ = reply.send(());
                continue;
            }
        };
        let (event, record) = match decided {
            Ok(decided) => decided,
            Err(e) => {
                // Refusals may depend on earlier ops of this batch (AlreadyExists for an
                // object created a moment ago), so they are answered only after the commit.
                decisions.push(Pending {
                    outcome: Err(e),
                    reply,
                });
                continue;
            }
        };
        revision = event.revision;
        overlay.insert(
            event.key.clone(),
            match event.kind {
                EventKind::Deleted => None,
                _ => Some(Stored {
                    key: event.key.clone(),
                    object: Arc::clone(&event.object),
                    revision: event.revision,
                }),
            },
        );
        writes.push((codec::encode_key(&event.key), record));
        decisions.push(Pending {
            outcome: Ok(event),
            reply,
        });
    }

    let committed = if writes.is_empty() {
        Ok(())
    } else {
        commit(db, &writes, revision)
    };
    if let Err(e) = committed {
        tracing::error!(error = %e, "store commit failed; batch rejected");
        // Every decision in the batch may rest on the writes that just failed, so none of
        // them is trustworthy; callers retry.
        for pending in decisions {
            let _ = pending.reply.send(Err(clone_error(&e)));
        }
        return;
    }

    let mut answers = Vec::with_capacity(decisions.len());
    {
        let mut state = shared.write();
        for Pending { outcome, reply } in decisions {
            let event = match outcome {
                Ok(event) => event,
                Err(e) => {
                    answers.push((reply, Err(e)));
                    continue;
                }
            };
            let stored = Stored {
                key: event.key.clone(),
                object: Arc::clone(&event.object),
                revision: event.revision,
            };
            match event.kind {
                EventKind::Deleted => state.remove(&event.key),
                _ => state.put(stored.clone()),
            }
            state.revision = event.revision;
            state.push_event(event);
            answers.push((reply, Ok(stored)));
        }
    }
    if revision != base_revision {
        shared.commits.fetch_add(1, Ordering::Relaxed);
        shared
            .writes
            .fetch_add(revision - base_revision, Ordering::Relaxed);
        shared.signal.send_replace(revision);
    }
    for (reply, answer) in answers {
        let _ = reply.send(answer);
    }
}

/// Writes one batch and the new revision counter in a single fsync'd transaction.
fn commit(
    db: &Database,
    writes: &[(Vec<u8>, Option<Bytes>)],
    revision: u64,
) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(storage_error)?;
    txn.set_durability(Durability::Immediate)
        .map_err(storage_error)?;
    {
        let mut objects = txn.open_table(OBJECTS).map_err(storage_error)?;
        for (key, value) in writes {
            match value {
                Some(value) => {
                    objects
                        .insert(key.as_slice(), value.as_ref())
                        .map_err(storage_error)?;
                }
                None => {
                    objects.remove(key.as_slice()).map_err(storage_error)?;
                }
            }
        }
        let mut meta = txn.open_table(META).map_err(storage_error)?;
        meta.insert(REVISION_KEY, revision).map_err(storage_error)?;
    }
    txn.commit().map_err(storage_error)
}

/// Sets `metadata.resourceVersion` to the revision, creating `metadata` when absent.
fn stamp(mut object: Value, revision: u64) -> Result<Value, StoreError> {
    let Some(fields) = object.as_object_mut() else {
        return Err(StoreError::Storage(
            "only JSON objects can be stored".to_string(),
        ));
    };
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(StoreError::Storage(
            "metadata must be a JSON object".to_string(),
        ));
    };
    metadata.insert(
        "resourceVersion".to_string(),
        Value::String(revision.to_string()),
    );
    Ok(object)
}
