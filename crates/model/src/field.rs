//! Field-path errors in upstream's wording (`k8s.io/apimachinery/pkg/util/validation/field`).
//!
//! Validation produces an [`ErrorList`]; the API server turns a non-empty list into a 422
//! `Invalid` [`Status`] with [`invalid_status`]. The rendering of one error
//! (`<path>: <Kind>: <value>: <detail>`) is an interface: kubectl prints it verbatim, and users
//! and scripts match on it, so it follows upstream character for character.

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
use serde_json::Value;

/// The kind of a field error; its `Display` is upstream's text (`Invalid value`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Invalid value` (cause reason `FieldValueInvalid`).
    Invalid,
    /// `Required value` (`FieldValueRequired`).
    Required,
    /// `Unsupported value` (`FieldValueNotSupported`).
    NotSupported,
    /// `Forbidden` (`FieldValueForbidden`).
    Forbidden,
    /// `Duplicate value` (`FieldValueDuplicate`).
    Duplicate,
    /// `Too long` (`FieldValueTooLong`).
    TooLong,
    /// `Not found` (`FieldValueNotFound`), e.g. a volumeMount naming no volume.
    NotFound,
}

impl FieldErrorKind {
    /// The `details.causes[].reason` upstream puts in a 422 Status for this kind.
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::NotFound => "FieldValueNotFound",
        }
    }

    /// Whether upstream prints the bad value for this kind (it does not for Required,
    /// Forbidden and TooLong, whose values are either absent or too large to be useful).
    fn shows_value(self) -> bool {
        !matches!(
            self,
            FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong
        )
    }
}

impl fmt::Display for FieldErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::NotFound => "Not found",
        })
    }
}

/// One validation error at a field path, e.g.
/// `spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What went wrong.
    pub kind: FieldErrorKind,
    /// Dotted path with `[i]` indices and `[key]` map keys.
    pub field: String,
    /// The offending value (JSON; strings render double-quoted, numbers bare). Omitted in
    /// the rendering for Required and Forbidden.
    pub bad_value: Option<serde_json::Value>,
    /// Upstream's detail text.
    pub detail: String,
}

/// A list of field errors, as validation returns.
pub type ErrorList = Vec<FieldError>;

impl FieldError {
    /// `Invalid value`: the value is present but wrong.
    pub fn invalid(
        path: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            kind: FieldErrorKind::Invalid,
            field: path.into(),
            bad_value: Some(value.into()),
            detail: detail.into(),
        }
    }

    /// `Required value`: the field must be set. `detail` may be empty.
    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            kind: FieldErrorKind::Required,
            field: path.into(),
            bad_value: None,
            detail: detail.into(),
        }
    }

    /// `Unsupported value`: the value is not one of `supported` (listed double-quoted in the
    /// detail, in the order given, as upstream does).
    pub fn not_supported(
        path: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError {
            kind: FieldErrorKind::NotSupported,
            field: path.into(),
            bad_value: Some(value.into()),
            detail,
        }
    }

    /// `Forbidden`: the field may not be set (or not to anything) in this context.
    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            kind: FieldErrorKind::Forbidden,
            field: path.into(),
            bad_value: None,
            detail: detail.into(),
        }
    }

    /// `Duplicate value`: the value appears more than once where it must be unique.
    pub fn duplicate(path: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError {
            kind: FieldErrorKind::Duplicate,
            field: path.into(),
            bad_value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// `Too long`: the value exceeds `max` bytes (a negative `max` means "unknown limit").
    pub fn too_long(path: impl Into<String>, value: impl Into<Value>, max: i64) -> Self {
        let detail = if max >= 0 {
            format!("may not be more than {max} bytes")
        } else {
            "value is too long".to_string()
        };
        FieldError {
            kind: FieldErrorKind::TooLong,
            field: path.into(),
            bad_value: Some(value.into()),
            detail,
        }
    }

    /// `Not found`: the value refers to something that does not exist.
    pub fn not_found(path: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError {
            kind: FieldErrorKind::NotFound,
            field: path.into(),
            bad_value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// The message without the field path (`Invalid value: -1: must be ...`), which upstream
    /// puts in `details.causes[].message`.
    pub fn body(&self) -> String {
        let mut s = self.kind.to_string();
        if self.kind.shows_value() {
            s.push_str(": ");
            match &self.bad_value {
                Some(v) => s.push_str(&render_value(v)),
                None => s.push_str("null"),
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// Renders a bad value the way upstream's `%q`/`%v` do for the common cases: strings quoted,
/// numbers and booleans bare; objects and arrays as compact JSON (upstream prints Go structs,
/// which have no stable equivalent here).
pub fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Double-quotes a string with Go `strconv.Quote` escaping, so messages match upstream's
/// `%q` byte for byte for the strings users actually write.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds field paths in upstream's notation: `.child`, `[index]`, `[key]`.
///
/// ```
/// use everynode_model::field::FieldPath;
/// let p = FieldPath::new("spec").child("template").index(0).key("app");
/// assert_eq!(p.to_string(), "spec.template[0][app]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath {
    path: String,
}

impl FieldPath {
    /// A path starting at the top-level field `root` (e.g. `metadata`, `spec`).
    pub fn new(root: &str) -> Self {
        FieldPath {
            path: root.to_string(),
        }
    }

    /// The path of the named child field.
    pub fn child(&self, name: &str) -> Self {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{}", self.path, name)
        };
        FieldPath { path }
    }

    /// The path of a list element.
    pub fn index(&self, i: usize) -> Self {
        FieldPath {
            path: format!("{}[{}]", self.path, i),
        }
    }

    /// The path of a map entry.
    pub fn key(&self, k: &str) -> Self {
        FieldPath {
            path: format!("{}[{}]", self.path, k),
        }
    }

    /// The rendered path.
    pub fn as_str(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.path
    }
}

impl From<&FieldPath> for String {
    fn from(p: &FieldPath) -> String {
        p.path.clone()
    }
}

/// Joins error messages the way upstream's aggregate error does: duplicates (same rendered
/// text) dropped, one error bare, several as `[a, b]`. `None` for an empty list.
pub fn aggregate_message(errors: &[FieldError]) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut msgs = Vec::new();
    for e in errors {
        let m = e.to_string();
        if seen.insert(m.clone()) {
            msgs.push(m);
        }
    }
    match msgs.len() {
        0 => None,
        1 => msgs.pop(),
        _ => Some(format!("[{}]", msgs.join(", "))),
    }
}

/// Renders a non-empty error list as the 422 `Invalid` Status upstream returns:
/// message `<Kind>.<group> "<name>" is invalid: <e>` (or `[<e1>, <e2>]`), details with
/// `name`, `group`, `kind` and one cause per error.
pub fn invalid_status(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Status {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let message = match aggregate_message(errors) {
        Some(agg) => format!("{qualified} {} is invalid: {agg}", go_quote(name)),
        None => format!("{qualified} {} is invalid", go_quote(name)),
    };
    let causes = errors
        .iter()
        .map(|e| StatusCause {
            reason: Some(e.kind.reason().to_string()),
            message: Some(e.body()),
            field: Some(e.field.clone()),
        })
        .collect();
    Status {
        status: Some("Failure".to_string()),
        message: Some(message),
        reason: Some("Invalid".to_string()),
        code: Some(422),
        details: Some(StatusDetails {
            name: Some(name.to_string()),
            // Upstream omits empty strings (`omitempty`), e.g. the group of core kinds.
            group: non_empty(group),
            kind: non_empty(kind),
            causes: Some(causes),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `Some(s)` unless `s` is empty, mirroring Go's `omitempty` on Status fields.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}
