//! Kubernetes object semantics that every everynode component shares.
//!
//! k8s-openapi gives us plain data types; this crate gives them meaning, following upstream
//! Kubernetes (see `shared/spec/daemonset-semantics.md`):
//!
//! - [`labels`]: looking up one label the cheap way;
//! - [`selector`]: label selectors (string form and `LabelSelector`) and field selectors;
//! - [`taints`]: taint/toleration matching;
//! - [`affinity`]: nodeSelector and required node affinity;
//! - [`intstr`]: IntOrString and percentage resolution;
//! - [`quantity`]: resource quantities (`100m`, `200Mi`);
//! - [`pod`]: pod readiness, availability and targeting helpers;
//! - [`defaults`] and [`validation`]: what the API server applies to objects on the way in;
//! - [`field`]: field-path errors in upstream wording and their `Status` rendering;
//! - [`status`]: `metav1.Status` errors for every HTTP failure the API can return;
//! - [`manifest`]: reading YAML/JSON manifests (multi-document, `kind: List`);
//! - [`wellknown`]: label, annotation and taint keys that are part of the interface;
//! - [`compact`]: giving back the spare room of decoded lists in long-lived caches;
//! - [`projection`]: watching pods for a few of their fields ([`pod_projection!`]).

pub mod affinity;
pub mod compact;
pub mod defaults;
pub mod field;
pub mod intstr;
pub mod labels;
pub mod manifest;
pub mod pod;
pub mod projection;
pub mod quantity;
pub mod selector;
pub mod status;
pub mod taints;
pub mod validation;
pub mod wellknown;

/// The timestamp type k8s-openapi uses for `metav1.Time` (jiff 0.2), re-exported so every
/// crate speaks the same clock type.
pub use k8s_openapi::jiff::Timestamp;
