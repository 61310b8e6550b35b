//! Request options for the writes the plane's components send.
//!
//! The patches a component sends are spelled out (and tested) in this crate, so the
//! server's unknown-field check (`fieldValidation`, `Warn` when a request does not say) has
//! nothing to find in them. Saying `Ignore` spares the server a walk over the whole patched
//! object on the hottest paths: pod status and lease renewals, thousands per second in a
//! large rollout. (kube's `PostParams` cannot say it, so creates keep the default.)

use kube::api::{PatchParams, ValidationDirective};

/// Options for a patch the component spelled out itself.
pub(crate) fn patch() -> PatchParams {
    PatchParams {
        field_validation: Some(ValidationDirective::Ignore),
        ..PatchParams::default()
    }
}
