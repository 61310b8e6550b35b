//! Patches for the embedded API server: JSON patch (RFC 6902), JSON merge patch (RFC 7396),
//! strategic merge patch and a subset of server-side apply.
//!
//! [`apply_patch`] is the single entry point used by the PATCH handler. Errors carry the HTTP
//! class upstream uses: malformed patches are 400, patches that cannot apply are 422 and patch
//! types a kind does not support are 415.
//!
//! Strategic merge patch is hand-written (no crate implements it): see [`strategic`] for the
//! supported directives and [`schema`] for the per-type list strategies.
//!
//! Server-side apply is a deliberate subset, see [`apply`]: no `managedFields`, no field
//! ownership and no conflicts; the applied configuration is merged into the live object with
//! the strategic-merge list keys, or becomes the object when none exists.

pub mod apply;
pub mod schema;
pub mod strategic;

use serde_json::Value;

/// The patch flavours the API server accepts on PATCH requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch (`application/json-patch+json`).
    Json,
    /// RFC 7396 JSON merge patch (`application/merge-patch+json`).
    Merge,
    /// Kubernetes strategic merge patch (`application/strategic-merge-patch+json`).
    StrategicMerge,
    /// Server-side apply (`application/apply-patch+yaml`).
    Apply,
}

impl PatchType {
    /// Maps a request Content-Type to a patch type, ignoring parameters such as `charset`.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The Content-Type clients send for this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Why a patch could not be applied; each variant maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document is malformed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The patch is well formed but cannot be applied to this object, e.g. a failed JSON patch
    /// `test` (HTTP 422).
    #[error("{0}")]
    Invalid(String),
    /// The patch type is not supported for this kind (HTTP 415).
    #[error("{0}")]
    Unsupported(String),
}

impl PatchError {
    /// The HTTP status code upstream answers with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Invalid(_) => 422,
            PatchError::Unsupported(_) => 415,
        }
    }
}

/// Applies `body` to `original` (the stored object as JSON) for an object of `kind`
/// ("DaemonSet", "Pod", "Node", "ConfigMap", ... the registry's kinds) and returns the patched
/// object as JSON.
///
/// For [`PatchType::Apply`], `original` may be `None` (the object does not exist yet) and the
/// body is YAML or JSON. The other patch types need an existing object; without one they
/// answer [`PatchError::Invalid`] (the REST layer is expected to answer 404 before calling).
pub fn apply_patch(
    kind: &str,
    original: Option<&Value>,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, PatchError> {
    if patch_type == PatchType::Apply {
        let applied = apply::parse_body(body)?;
        return apply::apply(kind, original, applied);
    }
    let Some(original) = original else {
        return Err(PatchError::Invalid(format!(
            "cannot apply a {} patch: the object does not exist",
            patch_type.content_type()
        )));
    };
    match patch_type {
        PatchType::Json => json_patch_apply(original, body),
        PatchType::Merge => {
            let patch = parse_json(body)?;
            let mut doc = original.clone();
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
        PatchType::StrategicMerge => {
            let patch = parse_json(body)?;
            strategic::strategic_merge(kind, original, &patch)
        }
        PatchType::Apply => Err(PatchError::Unsupported("unreachable apply".into())),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body)
        .map_err(|e| PatchError::BadRequest(format!("error decoding patch: {e}")))
}

fn json_patch_apply(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let patch: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| PatchError::BadRequest(format!("error decoding patch: {e}")))?;
    let mut doc = original.clone();
    // json_patch::patch is atomic: on error the document is rolled back, and we drop it anyway.
    json_patch::patch(&mut doc, &patch.0).map_err(|e| PatchError::Invalid(e.to_string()))?;
    Ok(doc)
}
