//! A pragmatic subset of server-side apply.
//!
//! The applied configuration (YAML or JSON) is merged into the live object field by field:
//! maps merge, lists whose field merges under strategic merge patch merge by the same key
//! (primitives are unioned), all other lists and scalars are replaced. When there is no live
//! object, the applied configuration is the new object.
//!
//! Deviations from upstream, on purpose: there are no `managedFields`, so there is no field
//! ownership, no conflict detection (no 409 for fields owned by another manager, `force` is
//! meaningless) and a field dropped from a later apply is not removed from the live object.
//! An explicit `null` in the applied configuration is treated as "not specified".

use serde_json::{Map, Value};

use super::PatchError;
use super::schema::{self, FieldMeta, ListStrategy, Ty};

/// Parses an apply body: JSON, or YAML (a single document holding a mapping).
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, PatchError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let text = std::str::from_utf8(body)
                .map_err(|e| PatchError::BadRequest(format!("apply patch is not UTF-8: {e}")))?;
            serde_saphyr::from_str(text)
                .map_err(|e| PatchError::BadRequest(format!("error decoding YAML: {e}")))?
        }
    };
    match value {
        Value::Object(m) => Ok(m),
        other => Err(PatchError::BadRequest(format!(
            "apply patch must be an object, got {}",
            serde_json::to_string(&other).unwrap_or_default()
        ))),
    }
}

/// Applies `applied` to `live` (or creates it when `live` is `None`) for an object of `kind`.
pub fn apply(
    kind: &str,
    live: Option<&Value>,
    applied: Map<String, Value>,
) -> Result<Value, PatchError> {
    let ty = schema::root(kind).unwrap_or(Ty::Object);
    match live {
        None => Ok(Value::Object(merge_map(Map::new(), applied, ty))),
        Some(Value::Object(live)) => Ok(Value::Object(merge_map(live.clone(), applied, ty))),
        Some(_) => Err(PatchError::Invalid(
            "the live object is not a JSON object".into(),
        )),
    }
}

/// Merges an applied map into the live one: applied values win, live-only keys stay.
fn merge_map(
    mut live: Map<String, Value>,
    applied: Map<String, Value>,
    ty: Ty,
) -> Map<String, Value> {
    for (key, value) in applied {
        if value.is_null() {
            continue;
        }
        let meta = schema::field(ty, &key);
        // Merged in place so the live object's key order survives.
        match live.get_mut(&key) {
            Some(slot) => {
                *slot = match (std::mem::take(slot), value) {
                    (Value::Object(l), Value::Object(a)) => Value::Object(merge_map(l, a, meta.ty)),
                    (Value::Array(l), Value::Array(a)) => Value::Array(merge_list(l, a, meta)),
                    (_, a) => fresh(a, meta),
                };
            }
            None => {
                live.insert(key, fresh(value, meta));
            }
        }
    }
    live
}

/// An applied value with nothing live under it: nulls dropped all the way down.
fn fresh(value: Value, meta: FieldMeta) -> Value {
    match value {
        Value::Object(a) => Value::Object(merge_map(Map::new(), a, meta.ty)),
        Value::Array(a) => Value::Array(fresh_items(a, meta.ty)),
        other => other,
    }
}

fn fresh_items(items: Vec<Value>, ty: Ty) -> Vec<Value> {
    let item_meta = FieldMeta {
        ty,
        ..FieldMeta::PLAIN
    };
    items
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|v| fresh(v, item_meta))
        .collect()
}

/// Merges an applied list into the live one by the strategic-merge key, or replaces it.
fn merge_list(live: Vec<Value>, applied: Vec<Value>, meta: FieldMeta) -> Vec<Value> {
    let ListStrategy::Merge(key) = meta.list else {
        return fresh_items(applied, meta.ty);
    };
    let all_maps = live.iter().chain(&applied).all(Value::is_object);
    let all_scalars = live
        .iter()
        .chain(&applied)
        .all(|v| !v.is_object() && !v.is_array());
    if all_scalars {
        let mut out = live;
        for v in applied {
            if !v.is_null() && !out.contains(&v) {
                out.push(v);
            }
        }
        return out;
    }
    if !all_maps || key.is_empty() || applied.iter().any(|a| a.get(key).is_none()) {
        // Not a keyed list after all: fall back to replacing, like any other list.
        return fresh_items(applied, meta.ty);
    }
    let mut out = live;
    for item in applied {
        let Value::Object(item) = item else { continue };
        let position = item
            .get(key)
            .and_then(|k| out.iter().position(|l| l.get(key) == Some(k)));
        match position {
            Some(at) => {
                let current = std::mem::take(&mut out[at]);
                if let Value::Object(current) = current {
                    out[at] = Value::Object(merge_map(current, item, meta.ty));
                }
            }
            None => out.push(Value::Object(merge_map(Map::new(), item, meta.ty))),
        }
    }
    out
}
