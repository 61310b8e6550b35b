//! Request options for the writes the plane's components send, and a way to send a write
//! without reading its answer.
//!
//! The patches a component sends are spelled out (and tested) in this crate, so the
//! server's unknown-field check (`fieldValidation`, `Warn` when a request does not say) has
//! nothing to find in them. Saying `Ignore` spares the server a walk over the whole patched
//! object on the hottest paths: pod status and lease renewals, thousands per second in a
//! large rollout. (kube's `PostParams` cannot say it, so creates keep the default.)
//!
//! The simulated kubelets learn what their writes did from their watch, as real ones do.
//! kube's typed calls decode the object the server answers with (a whole pod for a status
//! patch), which these writers would throw away; [`send`] reads only whether it worked.

use kube::api::{PatchParams, PostParams, ValidationDirective};
use kube::{Client, Resource};

/// Options for a patch the component spelled out itself.
pub(crate) fn patch() -> PatchParams {
    PatchParams {
        field_validation: Some(ValidationDirective::Ignore),
        ..PatchParams::default()
    }
}

/// kube's request builder for objects of kind `K` (in `namespace`, for namespaced kinds).
pub(crate) fn requests<K: Resource<DynamicType = ()>>(
    namespace: Option<&str>,
) -> kube::core::Request {
    kube::core::Request::new(K::url_path(&(), namespace))
}

/// Sends a write built with [`requests`] and discards the answer's body. A refused write is
/// the same `kube::Error::Api` the typed calls return, so NotFound and Conflict checks
/// work unchanged.
pub(crate) async fn send(
    client: &Client,
    request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
) -> Result<(), kube::Error> {
    let request = request.map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await.map(|_| ())
}

/// Creates `object` (in `namespace`, for namespaced kinds) with [`send`]: the answer is not
/// decoded.
pub(crate) async fn create<K>(
    client: &Client,
    namespace: Option<&str>,
    object: &K,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + serde::Serialize,
{
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    send(
        client,
        requests::<K>(namespace).create(&PostParams::default(), body),
    )
    .await
}
