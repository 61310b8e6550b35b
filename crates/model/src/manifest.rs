//! Reading manifests for the CLI: JSON or multi-document YAML, with `kind: List` flattened.
//!
//! YAML is read the way kubectl reads it (YAML 1.1 flavour): `0644` is octal (420) and
//! `on`/`off` are booleans in untyped positions. Errors name the source and the position.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file (or stdin) could not be read.
    #[error("{source_name}: {error}")]
    Io {
        /// The path, or `-` for stdin.
        source_name: String,
        /// The underlying error.
        #[source]
        error: std::io::Error,
    },
    /// The text is not valid YAML/JSON; line and column are 1-based when known.
    #[error("{source_name}: {}{message}", position(*line, *column))]
    Syntax {
        /// The path or other name of the input.
        source_name: String,
        /// Line of the problem, when the parser knows it.
        line: Option<u64>,
        /// Column of the problem, when the parser knows it.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A document is well-formed but is not a Kubernetes object (a mapping), or a List's
    /// `items` is malformed.
    #[error("{source_name}: document {index}: {message}")]
    NotAnObject {
        /// The path or other name of the input.
        source_name: String,
        /// 1-based index of the document in the input.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A document could not be decoded into the requested type.
    #[error("{source_name}: {what}: {error}")]
    Decode {
        /// The path or other name of the input.
        source_name: String,
        /// Which object failed, e.g. `DaemonSet "agent"`.
        what: String,
        /// The decoder's explanation.
        #[source]
        error: serde_json::Error,
    },
}

fn position(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l} column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    }
}

/// Parses manifest text into one JSON value per object: accepts a JSON stream or
/// multi-document YAML, skips empty documents and flattens `kind: List` (and any `*List`
/// kind with `items`).
pub fn parse_documents(text: &str, source: &str) -> Result<Vec<Value>, ManifestError> {
    let raw = if looks_like_json(text) {
        parse_json_stream(text, source)?
    } else {
        parse_yaml(text, source)?
    };
    let mut out = Vec::with_capacity(raw.len());
    for (i, doc) in raw.into_iter().enumerate() {
        flatten(doc, source, i + 1, &mut out)?;
    }
    Ok(out)
}

/// Reads and parses a manifest file (`-` reads stdin); see [`parse_documents`].
pub fn read_documents(path: &Path) -> Result<Vec<Value>, ManifestError> {
    let source = path.display().to_string();
    let io_err = |error| ManifestError::Io {
        source_name: source.clone(),
        error,
    };
    let text = if path.as_os_str() == "-" {
        let mut buf = String::new();
        std::io::stdin().read_to_string(&mut buf).map_err(io_err)?;
        buf
    } else {
        std::fs::read_to_string(path).map_err(io_err)?
    };
    parse_documents(&text, &source)
}

/// Decodes one parsed document into a typed object, naming it in the error.
pub fn decode<T: DeserializeOwned>(doc: &Value, source: &str) -> Result<T, ManifestError> {
    T::deserialize(doc).map_err(|error| ManifestError::Decode {
        source_name: source.to_owned(),
        what: describe(doc),
        error,
    })
}

/// `Kind "name"` for messages, falling back to what is known.
fn describe(doc: &Value) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("object");
    match doc.pointer("/metadata/name").and_then(Value::as_str) {
        Some(name) => format!("{kind} {name:?}"),
        None => kind.to_owned(),
    }
}

fn looks_like_json(text: &str) -> bool {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    trimmed.starts_with('{') || trimmed.starts_with('[')
}

fn parse_json_stream(text: &str, source: &str) -> Result<Vec<Value>, ManifestError> {
    let text = text.trim_start_matches('\u{feff}');
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|r| {
            r.map_err(|e| ManifestError::Syntax {
                source_name: source.to_owned(),
                line: Some(e.line() as u64),
                column: Some(e.column() as u64),
                message: strip_json_position(&e.to_string()),
            })
        })
        .collect()
}

/// serde_json appends " at line L column C", which we already show up front.
fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn parse_yaml(text: &str, source: &str) -> Result<Vec<Value>, ManifestError> {
    let options = serde_saphyr::options! {
        legacy_octal_numbers: true,
        // Bulk node lists are far bigger than the defaults; alias-bomb protection stays on.
        budget: serde_saphyr::budget! {
            max_documents: 1_000_000,
            max_nodes: 50_000_000,
            max_events: 100_000_000,
        },
    };
    serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| {
        let location = e.location();
        ManifestError::Syntax {
            source_name: source.to_owned(),
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message: tidy_yaml_message(&e.without_snippet().to_string()),
        }
    })
}

/// The YAML parser appends the position we already print up front, and its duplicate-key
/// message advises on a library option users cannot set.
fn tidy_yaml_message(msg: &str) -> String {
    let msg = msg.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    match msg.rfind(" at line ") {
        Some(i) if is_position_suffix(&msg[i + " at line ".len()..]) => msg[..i].to_owned(),
        _ => msg,
    }
}

/// True for `N, column M` (the rest of a parser position suffix).
fn is_position_suffix(rest: &str) -> bool {
    let Some((line, column)) = rest.split_once(", column ") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    digits(line) && digits(column.trim_end())
}

fn flatten(
    doc: Value,
    source: &str,
    index: usize,
    out: &mut Vec<Value>,
) -> Result<(), ManifestError> {
    let not_object = |message: String| ManifestError::NotAnObject {
        source_name: source.to_owned(),
        index,
        message,
    };
    match doc {
        Value::Null => Ok(()),
        Value::Object(mut map) => {
            let is_list = map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.contains_key("items");
            if !is_list {
                out.push(Value::Object(map));
                return Ok(());
            }
            match map.remove("items") {
                Some(Value::Array(items)) => {
                    for item in items {
                        flatten(item, source, index, out)?;
                    }
                    Ok(())
                }
                Some(Value::Null) => Ok(()),
                _ => Err(not_object(
                    "\"items\" of a List must be a sequence of objects".to_owned(),
                )),
            }
        }
        other => Err(not_object(format!(
            "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
            json_type(&other)
        ))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}
