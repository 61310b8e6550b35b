//! Taint and toleration matching (upstream `v1.Toleration.ToleratesTaint`), plus the
//! kubectl `key=value:Effect` taint syntax.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::selector::{label_value_errors, qualified_name_errors};

/// The taint effects the API accepts.
pub const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// True when `toleration` tolerates `taint`: empty effect matches all effects, empty key
/// (with `Exists`) matches all keys, `Exists` matches any value, `Equal`/empty needs equal
/// values. `tolerationSeconds` plays no role.
///
/// Like upstream, an empty key matches every key whatever the operator (validation is what
/// insists on `Exists` there). The alpha `Lt`/`Gt` operators (feature gate
/// `TaintTolerationComparisonOperators`, off by default) and unknown operators tolerate
/// nothing.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// The first taint accepted by `filter` that no toleration tolerates.
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|taint| filter(taint))
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

/// Adds `toleration`, replacing an existing one with the same key, operator, value and
/// effect (upstream `AddOrUpdateTolerationInPodSpec`). Returns true when anything changed.
///
/// Unset and empty strings are the same thing here, as they are in Go.
pub fn add_or_update_toleration(tolerations: &mut Vec<Toleration>, toleration: Toleration) -> bool {
    let mut replaced = false;
    for existing in tolerations.iter_mut() {
        if !same_identity(existing, &toleration) {
            continue;
        }
        if semantically_equal(existing, &toleration) {
            // Upstream returns "unchanged" as soon as an identical one is found.
            return false;
        }
        *existing = toleration.clone();
        replaced = true;
    }
    if !replaced {
        tolerations.push(toleration);
    }
    true
}

/// Renders a taint as kubectl does: `key=value:Effect` (or `key:Effect` without value).
pub fn format_taint(taint: &Taint) -> String {
    match taint.value.as_deref() {
        Some(value) if !value.is_empty() => format!("{}={}:{}", taint.key, value, taint.effect),
        _ => format!("{}:{}", taint.key, taint.effect),
    }
}

/// Parses kubectl's taint syntax: `key=value:Effect`, `key:Effect` or `key`.
///
/// A trailing `-` (kubectl's removal marker, e.g. `key-` or `key:NoSchedule-`) is stripped
/// before parsing; the caller decides from the suffix whether to add or remove. The effect
/// may be empty only when there is none at all (`key`, used for removal); see
/// [`parse_taint_spec`] for the add/remove distinction with kubectl's checks.
pub fn parse_taint(s: &str) -> Result<Taint, String> {
    let spec = s.strip_suffix('-').unwrap_or(s);
    let invalid = |why: Option<String>| match why {
        Some(why) => format!("invalid taint spec: {s}, {why}"),
        None => format!("invalid taint spec: {s}"),
    };
    let (key_value, effect) = match spec.split_once(':') {
        // Without an effect the whole text is the key (as kubectl reads it); say what is
        // missing instead of reporting '=' as a bad key character.
        None if spec.contains('=') => {
            return Err(invalid(Some(format!(
                "an effect is required (e.g. {spec}:NoSchedule)"
            ))));
        }
        None => (spec, ""),
        Some((_, effect)) if effect.contains(':') => return Err(invalid(None)),
        Some((kv, effect)) => {
            if !TAINT_EFFECTS.contains(&effect) {
                return Err(format!(
                    "invalid taint effect: {effect}, unsupported taint effect (supported: {})",
                    TAINT_EFFECTS.join(", ")
                ));
            }
            (kv, effect)
        }
    };
    let (key, value) = match key_value.split_once('=') {
        None => (key_value, None),
        Some((_, v)) if v.contains('=') => return Err(invalid(None)),
        Some((k, v)) => (k, Some(v)),
    };
    if let Some(v) = value {
        let errs = label_value_errors(v);
        if !errs.is_empty() {
            return Err(invalid(Some(errs.join("; "))));
        }
    }
    let errs = qualified_name_errors(key);
    if !errs.is_empty() {
        return Err(invalid(Some(errs.join("; "))));
    }
    Ok(Taint {
        key: key.to_owned(),
        value: value.filter(|v| !v.is_empty()).map(str::to_owned),
        effect: effect.to_owned(),
        time_added: None,
    })
}

/// What one `kubectl taint` argument asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum TaintSpec {
    /// `key=value:Effect` or `key:Effect`: add (or overwrite) this taint.
    Add(Taint),
    /// `key-` or `key:Effect-`: remove taints with this key (and effect, when given).
    Remove(Taint),
}

/// Parses one `kubectl taint` argument, applying kubectl's rule that a taint being added
/// needs an effect.
pub fn parse_taint_spec(s: &str) -> Result<TaintSpec, String> {
    let taint = parse_taint(s)?;
    if s.ends_with('-') {
        return Ok(TaintSpec::Remove(taint));
    }
    if taint.effect.is_empty() {
        return Err(format!(
            "invalid taint spec: {s}, an effect is required to add a taint (e.g. {s}:NoSchedule)"
        ));
    }
    Ok(TaintSpec::Add(taint))
}

/// Upstream `Toleration.MatchToleration`: the fields that say which toleration this is.
fn same_identity(a: &Toleration, b: &Toleration) -> bool {
    fn s(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
    s(&a.key) == s(&b.key)
        && s(&a.operator) == s(&b.operator)
        && s(&a.value) == s(&b.value)
        && s(&a.effect) == s(&b.effect)
}

/// Go's semantic equality: identity plus `tolerationSeconds`.
fn semantically_equal(a: &Toleration, b: &Toleration) -> bool {
    same_identity(a, b) && a.toleration_seconds == b.toleration_seconds
}
