//! Pod projections: types that decode only the fields of a pod their reader needs.
//!
//! Every component of the plane watches pods, and a pod's JSON is mostly containers,
//! tolerations, volumes and container statuses. A component that reads, say, only where a
//! pod runs and whether it finished can watch a struct naming just those fields: serde
//! skips the rest while parsing, without allocating. Such a struct needs the Pod kind's
//! identity (kind, group, version, plural, namespaced scope) for kube to watch and list it
//! at the pods' URL; [`pod_projection!`](crate::pod_projection) gives it that.

/// What [`pod_projection!`](crate::pod_projection) expands to refers to these, so that the
/// crates using it need no dependency of their own for them.
#[doc(hidden)]
pub mod __private {
    pub use k8s_openapi::api::core::v1::Pod;
    pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    pub use kube_core::Resource;
    pub use std::borrow::Cow;
}

/// Gives a pod projection the Pod kind's identity: implements kube's `Resource` for a
/// struct with a `metadata: ObjectMeta` field, with Pod's kind, group, version, plural and
/// scope, so `Api::<Projection>` watches and lists pods.
///
/// ```
/// #[derive(Debug, Clone, serde::Deserialize)]
/// struct PodName {
///     #[serde(default)]
///     metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
/// }
/// everynode_model::pod_projection!(PodName);
///
/// use kube_core::Resource;
/// assert_eq!(PodName::url_path(&(), Some("ns")), "/api/v1/namespaces/ns/pods");
/// ```
#[macro_export]
macro_rules! pod_projection {
    ($projection:ty) => {
        impl $crate::projection::__private::Resource for $projection {
            type DynamicType = ();
            type Scope = <$crate::projection::__private::Pod as $crate::projection::__private::Resource>::Scope;

            fn kind(dt: &()) -> $crate::projection::__private::Cow<'_, str> {
                <$crate::projection::__private::Pod as $crate::projection::__private::Resource>::kind(dt)
            }

            fn group(dt: &()) -> $crate::projection::__private::Cow<'_, str> {
                <$crate::projection::__private::Pod as $crate::projection::__private::Resource>::group(dt)
            }

            fn version(dt: &()) -> $crate::projection::__private::Cow<'_, str> {
                <$crate::projection::__private::Pod as $crate::projection::__private::Resource>::version(dt)
            }

            fn plural(dt: &()) -> $crate::projection::__private::Cow<'_, str> {
                <$crate::projection::__private::Pod as $crate::projection::__private::Resource>::plural(dt)
            }

            fn meta(&self) -> &$crate::projection::__private::ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut $crate::projection::__private::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
