//! Strategic merge patch, as kube-apiserver applies it (`StrategicMergeMapPatch` with parallel
//! lists merged and unmatched nulls ignored).
//!
//! Behaviour, following upstream:
//! - maps merge recursively; a `null` value deletes the key;
//! - `$patch: replace` in a map replaces the whole map with the patch (minus the directive),
//!   `$patch: delete` empties it;
//! - lists whose field has `patchStrategy: merge` merge: map items by the field's merge key
//!   (`$patch: delete` items remove the matching original items, a `{"$patch": "replace"}` item
//!   makes the rest of the patch list replace the original), primitives are unioned;
//!   every other list is replaced;
//! - `$setElementOrder/<field>` fixes the order of the items it names, server-only items keep
//!   their place relative to them;
//! - `$deleteFromPrimitiveList/<field>` removes primitive values;
//! - `$retainKeys` drops every original key not listed.
//!
//! One deliberate difference: where upstream copies a patch value into the result verbatim
//! (a key absent from the original, a replaced list or map), we strip nulls and directives from
//! it first. Upstream then decodes the result into a typed struct, which drops them anyway, so
//! the stored object is the same; our result is plain JSON and would otherwise keep them.

use serde_json::{Map, Value};

use super::PatchError;
use super::schema::{self, FieldMeta, ListStrategy, Ty};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch document to `original`, an object of `kind`.
pub fn strategic_merge(kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let root = schema::root(kind).ok_or_else(|| {
        PatchError::Unsupported(format!(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml \
             (strategic merge patch is not supported for kind {kind:?})"
        ))
    })?;
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_type_name(patch)
        )));
    };
    let Value::Object(original) = original else {
        return Err(PatchError::Invalid(
            "the object to patch is not a JSON object".into(),
        ));
    };
    merge_map(original.clone(), patch.clone(), root).map(Value::Object)
}

/// Go's name for a JSON value's type, as used in `encoding/json` error messages.
fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Renders a value for error messages.
fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn show_map(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

/// Merges `patch` into `original`, both maps of type `ty` (upstream's `mergeMap`).
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: Ty,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => merge_map(Map::new(), patch, ty),
            Some("delete") => Ok(Map::new()),
            _ => {
                patch.insert(DIRECTIVE.to_string(), directive.clone());
                Err(PatchError::BadRequest(format!(
                    "unknown patch type: {} in map: {}",
                    show(&directive),
                    show_map(&patch)
                )))
            }
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, ty)?;

    let mut deletions = Vec::new();
    for (key, patch_value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(items) = patch_value else {
                return Err(PatchError::BadRequest(
                    "invalid patch format of primitive list".into(),
                ));
            };
            deletions.push((field.to_string(), items));
            continue;
        }
        // Any other directive-like key would only be dropped by typed decoding upstream.
        if key.starts_with('$') {
            continue;
        }
        let meta = schema::field(ty, &key);
        if patch_value.is_null() {
            remove_in_order(&mut original, &key);
            continue;
        }
        // Merged in place so the original's key order survives (it matters with serde_json's
        // `preserve_order`, which any crate in the build may switch on).
        match original.get_mut(&key) {
            Some(slot) => {
                let merged = match (std::mem::take(slot), patch_value) {
                    (Value::Object(o), Value::Object(p)) => {
                        Value::Object(merge_map(o, p, meta.ty)?)
                    }
                    (Value::Array(o), Value::Array(p)) => {
                        Value::Array(merge_list(o, p, meta, &key)?)
                    }
                    (_, p) => clean(p, meta, &key)?,
                };
                *slot = merged;
            }
            None => {
                let added = clean(patch_value, meta, &key)?;
                original.insert(key, added);
            }
        }
    }

    // Deletions run after additions so a patch that both adds and removes a value cannot
    // depend on map iteration order (upstream's order is Go's random map order).
    for (field, to_delete) in deletions {
        if let Some(Value::Array(items)) = original.get_mut(&field) {
            items.retain(|item| !to_delete.iter().any(|d| values_equal(d, item)));
        }
    }
    Ok(original)
}

/// Removes `key` without disturbing the order of the other keys (plain `remove` swaps the
/// last key into its place when serde_json's `preserve_order` is on).
fn remove_in_order(map: &mut Map<String, Value>, key: &str) {
    if map.contains_key(key) {
        map.retain(|k, _| k != key);
    }
}

/// Merges a patch value into nothing: what a key absent from the original ends up holding.
fn clean(value: Value, meta: FieldMeta, field: &str) -> Result<Value, PatchError> {
    Ok(match value {
        Value::Object(p) => Value::Object(merge_map(Map::new(), p, meta.ty)?),
        Value::Array(p) => Value::Array(merge_list(Vec::new(), p, meta, field)?),
        other => other,
    })
}

/// `$retainKeys`: every patch key must be listed; original keys not listed are dropped.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRequest(
            "invalid patch format of retainKeys".into(),
        ));
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    let all_patch_keys_retained = patch.iter().all(|(k, v)| {
        v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
            || k == DIRECTIVE
            || retained(k)
    });
    if !all_patch_keys_retained {
        return Err(PatchError::Invalid(
            "patch content doesn't match retainKeys list".into(),
        ));
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// Merges every list that has a `$setElementOrder/<field>` and orders it as the directive says.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: Ty,
) -> Result<(), PatchError> {
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for order_key in order_keys {
        let Some(Value::Array(order)) = patch.remove(&order_key) else {
            return Err(PatchError::BadRequest(
                "invalid patch format of setElementOrder list".into(),
            ));
        };
        let field = order_key[SET_ELEMENT_ORDER.len()..].to_string();
        let meta = schema::field(ty, &field);
        let merge_key = match meta.list {
            ListStrategy::Merge(k) => k,
            ListStrategy::Replace => "",
        };
        let original_list = match original.get_mut(&field).map(std::mem::take) {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => {
                return Err(PatchError::BadRequest(format!(
                    "expected a list for {field}, got {}",
                    show(&other)
                )));
            }
        };
        let patch_list = match patch.remove(&field) {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => {
                return Err(PatchError::BadRequest(format!(
                    "expected a list for {field} alongside {order_key}, got {}",
                    show(&other)
                )));
            }
        };
        if let Some(items) = &patch_list {
            validate_order(items, &order, merge_key, &field)?;
        }
        let server_order = original_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => merge_list(Vec::new(), p, meta, &field)?,
            (Some(o), Some(p)) => merge_list(o, p, meta, &field)?,
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, &order, merge_key);
        let sorted = normalize_order(in_order, server_only, &order, &server_order, merge_key);
        original.insert(field, Value::Array(sorted));
    }
    Ok(())
}

/// Checks that the patch list's items appear in `$setElementOrder` in the same relative order.
fn validate_order(
    patch: &[Value],
    order: &[Value],
    merge_key: &str,
    field: &str,
) -> Result<(), PatchError> {
    let mut positions = order.iter();
    for item in patch.iter().filter(|i| !has_directive(i)) {
        let found = positions.by_ref().any(|o| same_item(item, o, merge_key));
        if !found {
            return Err(PatchError::BadRequest(format!(
                "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n \
                 (field {field})",
                show(&Value::Array(patch.to_vec())),
                show(&Value::Array(order.to_vec()))
            )));
        }
    }
    Ok(())
}

fn has_directive(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

/// Merges a list field according to its strategy (upstream's `mergeSliceHandler`).
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: FieldMeta,
    field: &str,
) -> Result<Vec<Value>, PatchError> {
    let item_meta = FieldMeta {
        ty: meta.ty,
        list: ListStrategy::Replace,
    };
    let ListStrategy::Merge(merge_key) = meta.list else {
        return patch
            .into_iter()
            .map(|v| clean(v, item_meta, field))
            .collect();
    };
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    if original.iter().chain(&patch).any(Value::is_array) {
        return Err(PatchError::Invalid(
            "lists of lists are not supported".into(),
        ));
    }
    let maps = original
        .iter()
        .chain(&patch)
        .filter(|v| v.is_object())
        .count();
    if maps == 0 {
        return Ok(merge_primitives(original, patch));
    }
    if maps != original.len() + patch.len() {
        return Err(PatchError::BadRequest(format!(
            "list {field} mixes objects and other values"
        )));
    }
    if merge_key.is_empty() {
        return Err(PatchError::BadRequest(format!(
            "cannot merge lists without merge key for {field}"
        )));
    }

    let (server_order, patch) = apply_special_items(original, patch, merge_key, meta.ty)?;
    let mut merged = server_order.clone();
    for item in &patch {
        let Value::Object(item_map) = item else {
            continue;
        };
        let Some(key_value) = item_map.get(merge_key) else {
            return Err(no_merge_key(item_map, merge_key));
        };
        match merged
            .iter()
            .position(|o| item_key_is(o, merge_key, key_value))
        {
            Some(at) => {
                let current = std::mem::take(&mut merged[at]);
                let Value::Object(current) = current else {
                    continue;
                };
                merged[at] = Value::Object(merge_map(current, item_map.clone(), meta.ty)?);
            }
            None => merged.push(Value::Object(merge_map(
                Map::new(),
                item_map.clone(),
                meta.ty,
            )?)),
        }
    }
    let (in_patch, server_only) = partition(merged, &patch, merge_key);
    Ok(normalize_order(
        in_patch,
        server_only,
        &patch,
        &server_order,
        merge_key,
    ))
}

fn no_merge_key(item: &Map<String, Value>, merge_key: &str) -> PatchError {
    PatchError::BadRequest(format!(
        "map: {} does not contain declared merge key: {merge_key}",
        show_map(item)
    ))
}

/// Union of two primitive lists without duplicates, ordered like a merge list.
fn merge_primitives(original: Vec<Value>, patch: Vec<Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for v in original.iter().chain(&patch) {
        if !merged.iter().any(|m| values_equal(m, v)) {
            merged.push(v.clone());
        }
    }
    let (in_patch, server_only) = partition(merged, &patch, "");
    normalize_order(in_patch, server_only, &patch, &original, "")
}

/// Handles `$patch` items of a merge list: deletes and the whole-list replace marker.
/// Returns the (possibly reduced or replaced) original and the patch without special items.
fn apply_special_items(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    item_ty: Ty,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(map) = &item else {
            plain.push(item);
            continue;
        };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(key_value) = map.get(merge_key) else {
                    return Err(no_merge_key(map, merge_key));
                };
                original.retain(|o| !item_key_is(o, merge_key, key_value));
            }
            // Keep scanning so the other directive items are still dropped.
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::BadRequest(
                    "merging lists cannot yet be specified in the patch".into(),
                ));
            }
            _ => {
                return Err(PatchError::BadRequest(format!(
                    "unknown patch type: {} in map: {}",
                    show(directive),
                    show_map(map)
                )));
            }
        }
    }
    if replace {
        // The replacing items become the whole list, so they are cleaned like any new value.
        let cleaned = plain
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => merge_map(Map::new(), m, item_ty).map(Value::Object),
                other => Ok(other),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((cleaned, Vec::new()));
    }
    Ok((original, plain))
}

fn item_key_is(item: &Value, merge_key: &str, key_value: &Value) -> bool {
    item.get(merge_key)
        .is_some_and(|v| values_equal(v, key_value))
}

/// Whether two list items denote the same element: by merge key for maps, by value otherwise.
fn same_item(a: &Value, b: &Value, merge_key: &str) -> bool {
    if merge_key.is_empty() {
        return values_equal(a, b);
    }
    match (a.get(merge_key), b.get(merge_key)) {
        (Some(x), Some(y)) => values_equal(x, y),
        _ => false,
    }
}

/// JSON equality where numbers compare by value, as Go's float64 decoding would.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn index_in(list: &[Value], item: &Value, merge_key: &str) -> Option<usize> {
    list.iter().position(|o| same_item(item, o, merge_key))
}

/// Splits `merged` into the items named by `by` and the rest, both in `merged` order.
fn partition(merged: Vec<Value>, by: &[Value], merge_key: &str) -> (Vec<Value>, Vec<Value>) {
    merged
        .into_iter()
        .partition(|item| index_in(by, item, merge_key).is_some())
}

/// Orders patch items by `patch_order` and server-only items by `server_order`, then
/// interleaves them: a server-only item goes before a patch item only when the server's order
/// says so, so each list keeps its own relative order.
fn normalize_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
) -> Vec<Value> {
    let rank = |order: &[Value], v: &Value| index_in(order, v, merge_key).unwrap_or(usize::MAX);
    patch_items.sort_by_key(|v| rank(patch_order, v));
    server_only.sort_by_key(|v| rank(server_order, v));

    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index_in(server_order, l, merge_key),
                    index_in(server_order, r, merge_key),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
