//! nodeSelector and required node affinity (upstream `component-helpers/.../nodeaffinity`).
//!
//! This runs for every (DaemonSet, node) pair on the engine's hot path, so matching borrows
//! everything and allocates nothing; the human-readable explanation is built only once a
//! mismatch is certain.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
};

use crate::selector::{Operator, is_label_value, is_qualified_name, new_requirement};

/// The only node field upstream exposes to `matchFields`.
const NODE_NAME_FIELD: &str = "metadata.name";

/// Why a pod's node selection does not accept a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AffinityMismatch {
    /// A `nodeSelector` key is missing from the node or has another value.
    NodeSelector {
        /// The nodeSelector key.
        key: String,
        /// The value the pod asks for.
        wanted: String,
        /// The node's value, `None` when the node lacks the label.
        actual: Option<String>,
    },
    /// No term of `requiredDuringSchedulingIgnoredDuringExecution` matches.
    RequiredAffinity {
        /// One human-readable line per term saying which requirement failed,
        /// e.g. `term 0: node-type NotIn [gpu] but node has node-type=gpu`.
        term_failures: Vec<String>,
    },
}

impl fmt::Display for AffinityMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AffinityMismatch::NodeSelector { key, wanted, actual } => {
                write!(f, "node selector \"{key}={wanted}\" not matched ")?;
                match actual {
                    None => write!(f, "(node has no label \"{key}\")"),
                    Some(actual) => write!(f, "(node has {key}={actual})"),
                }
            }
            AffinityMismatch::RequiredAffinity { term_failures } if term_failures.is_empty() => f.write_str(
                "node affinity: requiredDuringSchedulingIgnoredDuringExecution has no terms, so no node matches",
            ),
            AffinityMismatch::RequiredAffinity { term_failures } => {
                write!(f, "node affinity: no term matched ({})", term_failures.join("; "))
            }
        }
    }
}

impl std::error::Error for AffinityMismatch {}

/// Checks a pod's `nodeSelector` and required node affinity against a node (both must
/// hold). Terms are ORed, a term's expressions and fields ANDed; an empty term matches
/// nothing; malformed terms are treated as not matching.
pub fn check_node_affinity(spec: &PodSpec, node: &Node) -> Result<(), AffinityMismatch> {
    if let Some(node_selector) = spec.node_selector.as_ref() {
        check_node_selector(node_selector, node_labels(node))?;
    }
    match required_terms(spec) {
        Some(required) => check_required_terms(required, node),
        None => Ok(()),
    }
}

/// The allocation-free yes/no form of [`check_node_affinity`].
pub fn node_affinity_matches(spec: &PodSpec, node: &Node) -> bool {
    let labels = node_labels(node);
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| crate::labels::get(labels, k) == Some(v.as_str()));
    selector_ok && required_terms(spec).is_none_or(|req| required_terms_match(req, node))
}

/// Checks only a nodeSelector map against node labels.
///
/// The first failing key (in key order) is reported.
pub fn check_node_selector(
    node_selector: &BTreeMap<String, String>,
    node_labels: &BTreeMap<String, String>,
) -> Result<(), AffinityMismatch> {
    for (key, wanted) in node_selector {
        let actual = crate::labels::get(node_labels, key);
        if actual != Some(wanted.as_str()) {
            return Err(AffinityMismatch::NodeSelector {
                key: key.clone(),
                wanted: wanted.clone(),
                actual: actual.map(str::to_owned),
            });
        }
    }
    Ok(())
}

/// Checks only required node selector terms against a node.
pub fn check_required_terms(required: &NodeSelector, node: &Node) -> Result<(), AffinityMismatch> {
    if required_terms_match(required, node) {
        return Ok(());
    }
    let term_failures = required
        .node_selector_terms
        .iter()
        .enumerate()
        .filter_map(|(i, term)| {
            eval_term(term, node)
                .err()
                .map(|failure| format!("term {i}: {}", failure.explain()))
        })
        .collect();
    Err(AffinityMismatch::RequiredAffinity { term_failures })
}

/// The allocation-free yes/no form of [`check_required_terms`].
pub fn required_terms_match(required: &NodeSelector, node: &Node) -> bool {
    required
        .node_selector_terms
        .iter()
        .any(|term| eval_term(term, node).is_ok())
}

fn required_terms(spec: &PodSpec) -> Option<&NodeSelector> {
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

fn node_labels(node: &Node) -> &BTreeMap<String, String> {
    node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
}

/// Why one term did not match, borrowing from the inputs so the success path is free.
enum TermFailure<'a> {
    Empty,
    InvalidExpression(usize, &'a NodeSelectorRequirement),
    InvalidField(usize, &'a NodeSelectorRequirement),
    Expression(&'a NodeSelectorRequirement, Option<&'a str>),
    Field(&'a NodeSelectorRequirement, &'a str),
}

fn eval_term<'a>(term: &'a NodeSelectorTerm, node: &'a Node) -> Result<(), TermFailure<'a>> {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return Err(TermFailure::Empty);
    }
    // Upstream parses the whole term before matching, so a malformed requirement anywhere in
    // the term wins over a plain mismatch.
    if let Some((i, req)) = exprs
        .iter()
        .enumerate()
        .find(|(_, r)| expression_operator(r).is_none())
    {
        return Err(TermFailure::InvalidExpression(i, req));
    }
    if let Some((i, req)) = fields.iter().enumerate().find(|(_, r)| !field_is_valid(r)) {
        return Err(TermFailure::InvalidField(i, req));
    }
    let labels = node_labels(node);
    for req in exprs {
        let actual = crate::labels::get(labels, &req.key);
        // Validated above, so only the cheap operator lookup is repeated here.
        if !expression_matches(label_operator_name(&req.operator), req, actual) {
            return Err(TermFailure::Expression(req, actual));
        }
    }
    // Upstream skips field matching for a node without fields, i.e. without a name.
    let name = node.metadata.name.as_deref().unwrap_or("");
    if !name.is_empty() {
        for req in fields {
            let actual = if req.key == NODE_NAME_FIELD { name } else { "" };
            let equal = req
                .values
                .as_deref()
                .is_some_and(|v| v.iter().any(|x| x == actual));
            let ok = if req.operator == "In" { equal } else { !equal };
            if !ok {
                return Err(TermFailure::Field(req, actual));
            }
        }
    }
    Ok(())
}

/// The operator of a well-formed label expression; `None` when upstream would reject it.
fn expression_operator(req: &NodeSelectorRequirement) -> Option<Operator> {
    let op = label_operator_name(&req.operator)?;
    if !is_qualified_name(&req.key) {
        return None;
    }
    let values = req.values.as_deref().unwrap_or_default();
    let arity_ok = match op {
        Operator::In | Operator::NotIn => !values.is_empty(),
        Operator::Exists | Operator::DoesNotExist => values.is_empty(),
        Operator::Gt | Operator::Lt => matches!(values, [v] if v.parse::<i64>().is_ok()),
    };
    (arity_ok && values.iter().all(|v| is_label_value(v))).then_some(op)
}

/// Matches a label value against an expression that [`expression_operator`] accepted.
fn expression_matches(
    op: Option<Operator>,
    req: &NodeSelectorRequirement,
    actual: Option<&str>,
) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    let listed = |v: &str| values.iter().any(|x| x == v);
    match op {
        Some(Operator::In) => actual.is_some_and(listed),
        Some(Operator::NotIn) => actual.is_none_or(|v| !listed(v)),
        Some(Operator::Exists) => actual.is_some(),
        Some(Operator::DoesNotExist) => actual.is_none(),
        Some(op @ (Operator::Gt | Operator::Lt)) => {
            let (Some(actual), Some(wanted)) = (
                actual.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|v| v.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if op == Operator::Gt {
                actual > wanted
            } else {
                actual < wanted
            }
        }
        None => false,
    }
}

fn field_is_valid(req: &NodeSelectorRequirement) -> bool {
    matches!(req.operator.as_str(), "In" | "NotIn")
        && req.values.as_ref().is_some_and(|v| v.len() == 1)
}

impl TermFailure<'_> {
    fn explain(&self) -> String {
        match self {
            TermFailure::Empty => "empty term matches no node".to_owned(),
            TermFailure::InvalidExpression(i, req) => {
                let why = match label_operator_name(&req.operator) {
                    None => format!(
                        "operator {:?} is not supported (supported: In, NotIn, Exists, DoesNotExist, Gt, Lt)",
                        req.operator
                    ),
                    Some(op) => {
                        new_requirement(&req.key, op, req.values.clone().unwrap_or_default())
                            .err()
                            .map_or_else(|| "invalid requirement".to_owned(), |e| e.0)
                    }
                };
                format!("matchExpressions[{i}] is invalid, so the term is ignored: {why}")
            }
            TermFailure::InvalidField(i, req) => {
                let why = if matches!(req.operator.as_str(), "In" | "NotIn") {
                    format!("{} needs exactly one value", req.operator)
                } else {
                    format!(
                        "operator {:?} is not supported (supported: In, NotIn)",
                        req.operator
                    )
                };
                format!("matchFields[{i}] is invalid, so the term is ignored: {why}")
            }
            TermFailure::Expression(req, actual) => {
                let values = req.values.as_deref().unwrap_or_default();
                let wanted = match req.operator.as_str() {
                    "Exists" | "DoesNotExist" => req.operator.clone(),
                    "Gt" | "Lt" => format!("{} {}", req.operator, values.join(", ")),
                    _ => format!("{} [{}]", req.operator, values.join(", ")),
                };
                let key = &req.key;
                let has = match actual {
                    None => format!("node has no label \"{key}\""),
                    Some(v)
                        if matches!(req.operator.as_str(), "Gt" | "Lt")
                            && v.parse::<i64>().is_err() =>
                    {
                        format!("node has {key}={v}, which is not an integer")
                    }
                    Some(v) => format!("node has {key}={v}"),
                };
                format!("{key} {wanted} but {has}")
            }
            TermFailure::Field(req, actual) => {
                let values = req.values.as_deref().unwrap_or_default().join(", ");
                let has = if req.key == NODE_NAME_FIELD {
                    format!("node is named \"{actual}\"")
                } else {
                    format!(
                        "nodes have no field \"{}\" (only {NODE_NAME_FIELD})",
                        req.key
                    )
                };
                format!("field {} {} [{values}] but {has}", req.key, req.operator)
            }
        }
    }
}

fn label_operator_name(op: &str) -> Option<Operator> {
    Some(match op {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::Gt,
        "Lt" => Operator::Lt,
        _ => return None,
    })
}
