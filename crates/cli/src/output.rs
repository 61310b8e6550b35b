//! Output formats shared by the kubectl-style commands: kubectl's column alignment (Go's
//! `text/tabwriter`), its AGE format, tables built from the same columns the API server's
//! `Table` has, and the `-o yaml|json|name` renderings.

use std::fmt;

use everynode_apiserver::registry::ResourceInfo;
use everynode_apiserver::table::{IncludeObject, to_table};
use everynode_model::Timestamp;
use k8s_openapi::jiff::SignedDuration;
use serde_json::{Value, json};

/// How a command prints what it found (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// kubectl's aligned columns.
    #[default]
    Table,
    /// The table with the extra (priority 1) columns.
    Wide,
    /// The objects as YAML (a `List` when there are several).
    Yaml,
    /// The objects as JSON (a `List` when there are several).
    Json,
    /// `kind.group/name`, one per line.
    Name,
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            OutputFormat::Table => "table",
            OutputFormat::Wide => "wide",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Json => "json",
            OutputFormat::Name => "name",
        };
        f.write_str(s)
    }
}

/// Why an object could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// serde_json could not serialise it.
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// serde-saphyr could not serialise it.
    #[error("encoding YAML: {0}")]
    Yaml(String),
}

/// Settings of one aligned block, as Go's `tabwriter.NewWriter(minwidth, tabwidth, padding, ' ', 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabSettings {
    /// Minimal width of a column, padding included.
    pub min_width: usize,
    /// Spaces added after the widest cell of a column.
    pub padding: usize,
}

/// What `kubectl get` uses: minwidth 6, padding 3 (kubectl's `printers.GetNewTabWriter`).
pub const GET_TABS: TabSettings = TabSettings {
    min_width: 6,
    padding: 3,
};

/// What `kubectl describe` and `rollout history` use: minwidth 0, padding 2.
pub const DESCRIBE_TABS: TabSettings = TabSettings {
    min_width: 0,
    padding: 2,
};

/// Aligns tab-separated text as Go's `text/tabwriter` does with space padding: a cell ends at
/// a `\t`, the text after a line's last tab is never padded, and a column is aligned over
/// each run of consecutive lines that have a tab-terminated cell in it (so a line without a
/// tab ends every block, which is how `describe` sections align independently).
pub fn tabwrite(text: &str, settings: TabSettings) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut widths = Vec::new();
    format_block(&lines, 0, lines.len(), &mut widths, settings, &mut out);
    // `split('\n')` yields one more (empty) line than there are newlines; drop its newline.
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

fn text_width(s: &str) -> usize {
    s.chars().count()
}

fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    settings: TabSettings,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        // `this` opens a block of lines that all have a terminated cell in `column`.
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = settings.min_width;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(text_width(lines[this][column]) + settings.padding);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, widths, settings, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(
    lines: &[Vec<&str>],
    line0: usize,
    line1: usize,
    widths: &[usize],
    out: &mut String,
) {
    for line in &lines[line0..line1] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(&w) = widths.get(j) {
                for _ in text_width(cell)..w {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    }
}

/// kubectl's human-readable duration (`45s`, `5m30s`, `3h2m`, `2d`).
pub fn human_duration(d: SignedDuration) -> String {
    everynode_apiserver::table::human_duration(d)
}

/// The AGE of a timestamp as kubectl prints it; `<unknown>` when there is none.
pub fn age(
    ts: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    now: Timestamp,
) -> String {
    match ts {
        Some(t) => human_duration(now.duration_since(t.0)),
        None => "<unknown>".to_owned(),
    }
}

/// What a `get` table shows besides the default columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableOptions {
    /// Show the priority-1 columns (`-o wide`).
    pub wide: bool,
    /// Prepend a NAMESPACE column (`-A`).
    pub with_namespace: bool,
}

/// Renders objects of one resource as `kubectl get` prints them, from the same columns and
/// cells the API server would answer in a `meta.k8s.io/v1` Table.
///
/// `objects` are the objects as JSON (typed objects serialised). Returns an empty string for
/// no objects: the caller says "No resources found" on stderr, as kubectl does.
pub fn render_get_table(
    info: &ResourceInfo,
    objects: &[Value],
    options: TableOptions,
    now: Timestamp,
) -> String {
    if objects.is_empty() {
        return String::new();
    }
    let table = to_table(info, objects, IncludeObject::None, "", None, now);
    let columns: Vec<(String, bool)> = table
        .get("columnDefinitions")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                    let priority = c.get("priority").and_then(Value::as_i64).unwrap_or(0);
                    (name.to_uppercase(), priority == 0 || options.wide)
                })
                .collect()
        })
        .unwrap_or_default();
    let rows = table
        .get("rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = String::new();
    let mut header: Vec<&str> = Vec::new();
    if options.with_namespace {
        header.push("NAMESPACE");
    }
    header.extend(columns.iter().filter(|c| c.1).map(|c| c.0.as_str()));
    text.push_str(&header.join("\t"));
    text.push('\n');
    for (row, object) in rows.iter().zip(objects) {
        let cells = row
            .get("cells")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut line: Vec<String> = Vec::new();
        if options.with_namespace {
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            line.push(ns.to_owned());
        }
        for (cell, (_, shown)) in cells.iter().zip(&columns) {
            if *shown {
                line.push(cell_text(cell));
            }
        }
        text.push_str(&line.join("\t"));
        text.push('\n');
    }
    tabwrite(&text, GET_TABS)
}

/// A Table cell as kubectl prints it (Go's `%v`).
fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".to_owned(),
        other => other.to_string(),
    }
}

/// `kind.group/name` (or `kind/name` for the core group), as `-o name` and apply print.
pub fn qualified_name(info: &ResourceInfo, name: &str) -> String {
    let kind = info.kind.to_lowercase();
    if info.group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{}/{name}", info.group)
    }
}

/// The JSON kubectl prints for `-o json|yaml`: the object itself for one named object, else a
/// `v1` `List` of them.
pub fn list_document(objects: &[Value], single: bool) -> Value {
    if single && objects.len() == 1 {
        return objects[0].clone();
    }
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects,
        "metadata": {"resourceVersion": ""},
    })
}

/// Serialises a document as pretty JSON with a trailing newline.
pub fn to_json(doc: &Value) -> Result<String, OutputError> {
    let mut s = serde_json::to_string_pretty(doc)?;
    s.push('\n');
    Ok(s)
}

/// Serialises a document as YAML.
pub fn to_yaml(doc: &Value) -> Result<String, OutputError> {
    serde_saphyr::to_string(doc).map_err(|e| OutputError::Yaml(e.to_string()))
}

/// Renders objects in a structured format (`yaml`, `json`, `name`); `None` for the table
/// formats, which need [`render_get_table`].
pub fn render_structured(
    info: &ResourceInfo,
    objects: &[Value],
    single: bool,
    format: OutputFormat,
) -> Result<Option<String>, OutputError> {
    match format {
        OutputFormat::Table | OutputFormat::Wide => Ok(None),
        OutputFormat::Json => Ok(Some(to_json(&list_document(objects, single))?)),
        OutputFormat::Yaml => Ok(Some(to_yaml(&list_document(objects, single))?)),
        OutputFormat::Name => {
            let mut s = String::new();
            for o in objects {
                let name = o
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                s.push_str(&qualified_name(info, name));
                s.push('\n');
            }
            Ok(Some(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwrite_pads_columns_to_min_width_and_leaves_last_cell_alone() {
        let cases = [
            ("A\tB\n", GET_TABS, "A     B\n"),
            (
                "NAME\tREADY\tAGE\nfluentd-elasticsearch\t3\t5m\n",
                GET_TABS,
                "NAME                    READY   AGE\nfluentd-elasticsearch   3       5m\n",
            ),
            (
                "Name:\tx\nNode-Selector:\t<none>\nPlain line\nPods Status:\t1\n",
                DESCRIBE_TABS,
                "Name:           x\nNode-Selector:  <none>\nPlain line\nPods Status:  1\n",
            ),
        ];
        for (input, settings, want) in cases {
            assert_eq!(tabwrite(input, settings), want, "input {input:?}");
        }
    }

    #[test]
    fn age_is_unknown_without_timestamp() {
        assert_eq!(age(None, Timestamp::UNIX_EPOCH), "<unknown>");
    }
}
