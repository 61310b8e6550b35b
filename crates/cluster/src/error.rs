//! The one error type every component of the cluster crate returns.

/// What can stop a cluster component (scheduler, garbage collector, pod GC, node lifecycle,
/// fleet) or reject its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A call to the API server failed in a way the component cannot ride out.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// The configuration (for example a fleet profile) is unusable.
    #[error("{0}")]
    Config(String),
    /// A watch could not be kept open (retries with backoff are attempted first).
    #[error("watch failed: {0}")]
    Watch(#[from] kube::runtime::watcher::Error),
}

/// True when the API answered 404 Not Found.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

/// True when the API answered 409 Conflict (stale resourceVersion or AlreadyExists).
pub(crate) fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409)
}
