//! Label selectors and field selectors, with upstream's grammar and nil-versus-empty rules.
//!
//! The string grammar is upstream's `labels.Parse`: comma-separated requirements, each one of
//! `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>n`, `k<n`, with
//! whitespace allowed between tokens. Keys must be qualified names and values valid label
//! values. Field selectors follow `fields.ParseSelector`: `f=v`, `f==v`, `f!=v`, with `\,`,
//! `\=` and `\\` escapes in values.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A parsed label selector: a conjunction of requirements, or "matches nothing".
///
/// `Selector::everything()` (no requirements) matches every label set; a nil
/// `LabelSelector` converts to [`Selector::nothing`], which matches none.
///
/// `Display` renders upstream's canonical string (requirements sorted by key, values sorted).
/// Because `=` and `in (x)` both become [`Operator::In`], a single-valued `In` renders as
/// `k=x` and a single-valued `NotIn` as `k!=x`. The nothing-selector renders as the empty
/// string, as upstream's does (so it cannot round-trip through a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The requirements, ANDed; sorted by key as upstream does.
    pub requirements: Vec<Requirement>,
    /// True for the selector that matches nothing (from a nil `LabelSelector`).
    pub matches_nothing: bool,
}

/// One requirement of a label selector, e.g. `tier in (a,b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// How the key's value is compared.
    pub operator: Operator,
    /// Values for In/NotIn/Equals/NotEquals/Gt/Lt (one value for the last four).
    pub values: Vec<String>,
}

/// Label selector operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key in (a,b)` / `key=a` / `key==a`.
    In,
    /// `key notin (a,b)` / `key!=a` (a missing key matches).
    NotIn,
    /// `key` alone.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key>n` (integer comparison).
    Gt,
    /// `key<n` (integer comparison).
    Lt,
}

impl Operator {
    /// The operator's name as written in `matchExpressions` / node affinity (`In`, `Gt`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
            Operator::Gt => "Gt",
            Operator::Lt => "Lt",
        }
    }
}

/// Why a selector string or `LabelSelector` is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

impl Selector {
    /// The selector with no requirements: matches every label set.
    pub fn everything() -> Self {
        Selector {
            requirements: Vec::new(),
            matches_nothing: false,
        }
    }
    /// The selector that matches no label set.
    pub fn nothing() -> Self {
        Selector {
            requirements: Vec::new(),
            matches_nothing: true,
        }
    }
    /// Parses upstream's string form: `a=b,c!=d,e in (f,g),f notin (h),!i,j,k>1`.
    ///
    /// The empty (or all-whitespace) string is [`Selector::everything`].
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let tokens = lex(s);
        let mut requirements = Parser {
            tokens: &tokens,
            pos: 0,
        }
        .parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector {
            requirements,
            matches_nothing: false,
        })
    }
    /// Converts a `LabelSelector`: `None` → nothing, `{}` → everything.
    ///
    /// `matchLabels` become equality requirements; `matchExpressions` accept `In`, `NotIn`
    /// (at least one value), `Exists` and `DoesNotExist` (no values).
    pub fn from_label_selector(ls: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        let Some(ls) = ls else {
            return Ok(Selector::nothing());
        };
        let mut requirements = Vec::new();
        for (key, value) in ls.match_labels.iter().flatten() {
            requirements.push(new_requirement(key, Operator::In, vec![value.clone()])?);
        }
        for (i, expr) in ls.match_expressions.iter().flatten().enumerate() {
            let op = label_selector_operator(&expr.operator).ok_or_else(|| {
                SelectorError(format!(
                    "matchExpressions[{i}].operator: Unsupported value: {:?}: supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"",
                    expr.operator
                ))
            })?;
            let values = expr.values.clone().unwrap_or_default();
            requirements.push(
                new_requirement(&expr.key, op, values)
                    .map_err(|e| SelectorError(format!("matchExpressions[{i}]: {e}")))?,
            );
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector {
            requirements,
            matches_nothing: false,
        })
    }
    /// True when these labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matches_nothing
            && self
                .requirements
                .iter()
                .all(|r| r.matches(crate::labels::get(labels, &r.key)))
    }
    /// True when this selector has no requirements and is not "nothing".
    pub fn is_everything(&self) -> bool {
        !self.matches_nothing && self.requirements.is_empty()
    }
}

impl Requirement {
    /// True when a label value (`None` when the label is absent) satisfies this requirement.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt | Operator::Lt => {
                let Some(actual) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::Gt {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match (self.operator, self.values.as_slice()) {
            (Operator::Exists, _) => write!(f, "{key}"),
            (Operator::DoesNotExist, _) => write!(f, "!{key}"),
            (Operator::In, [one]) => write!(f, "{key}={one}"),
            (Operator::NotIn, [one]) => write!(f, "{key}!={one}"),
            (Operator::In, values) => write!(f, "{key} in ({})", sorted_joined(values)),
            (Operator::NotIn, values) => write!(f, "{key} notin ({})", sorted_joined(values)),
            (Operator::Gt, values) => write!(f, "{key}>{}", values.join(",")),
            (Operator::Lt, values) => write!(f, "{key}<{}", values.join(",")),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

/// Renders a `LabelSelector` as kubectl shows it (`app=foo,tier in (a,b)`), keeping the
/// difference between `matchLabels` (`k=v`) and a single-valued `In` expression
/// (`k in (v)`) that [`Selector`]'s `Display` cannot see.
///
/// The empty selector renders as `""`; an invalid one as `"<error>"`, as kubectl's
/// `FormatLabelSelector` does.
pub fn label_selector_to_string(ls: &LabelSelector) -> String {
    if Selector::from_label_selector(Some(ls)).is_err() {
        return "<error>".to_owned();
    }
    let mut parts: Vec<(&str, String)> = Vec::new();
    for (key, value) in ls.match_labels.iter().flatten() {
        parts.push((key, format!("{key}={value}")));
    }
    for expr in ls.match_expressions.iter().flatten() {
        let key = expr.key.as_str();
        let values = expr.values.as_deref().unwrap_or_default();
        let text = match expr.operator.as_str() {
            "In" => format!("{key} in ({})", sorted_joined(values)),
            "NotIn" => format!("{key} notin ({})", sorted_joined(values)),
            "Exists" => key.to_owned(),
            _ => format!("!{key}"),
        };
        parts.push((key, text));
    }
    parts.sort_by(|a, b| a.0.cmp(b.0));
    parts
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// Problems with a label key (a qualified name: `[prefix/]name`), in upstream's wording;
/// empty when the key is valid.
pub fn qualified_name_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let name = match key.split_once('/') {
        None => key,
        Some((_, rest)) if rest.contains('/') => {
            errs.push(format!("a qualified name {QUALIFIED_NAME_FORMAT}"));
            return errs;
        }
        Some((prefix, name)) => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else if !is_dns1123_subdomain(prefix) {
                if prefix.len() > 253 {
                    errs.push("prefix part must be no more than 253 bytes".to_owned());
                } else {
                    errs.push(format!("prefix part {DNS1123_SUBDOMAIN_FORMAT}"));
                }
            }
            name
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 bytes".to_owned());
    }
    if !name.is_empty() && !is_label_name_chars(name) {
        errs.push(format!("name part {NAME_FORMAT}"));
    }
    errs
}

/// Problems with a label value, in upstream's wording; empty when the value is valid.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 bytes".to_owned());
    }
    if !value.is_empty() && !is_label_name_chars(value) {
        errs.push(format!(
            "a valid label must be an empty string or {NAME_FORMAT}"
        ));
    }
    errs
}

/// Allocation-free check that `key` is a valid label key (qualified name).
pub fn is_qualified_name(key: &str) -> bool {
    let name = match key.split_once('/') {
        None => key,
        Some((prefix, name)) => {
            if name.contains('/') || !is_dns1123_subdomain(prefix) {
                return false;
            }
            name
        }
    };
    !name.is_empty() && name.len() <= 63 && is_label_name_chars(name)
}

/// Allocation-free check that `value` is a valid label value (empty allowed).
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || (value.len() <= 63 && is_label_name_chars(value))
}

const NAME_FORMAT: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const QUALIFIED_NAME_FORMAT: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
const DNS1123_SUBDOMAIN_FORMAT: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` for a non-empty string.
fn is_label_name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// RFC 1123 subdomain: dot-separated lowercase labels, at most 253 bytes.
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            let (Some(first), Some(last)) = (b.first(), b.last()) else {
                return false;
            };
            let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            ok(first) && ok(last) && b.iter().all(|c| ok(c) || *c == b'-')
        })
}

fn sorted_joined(values: &[String]) -> String {
    let mut v: Vec<&str> = values.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.join(",")
}

/// Maps a `LabelSelectorRequirement` operator; Gt/Lt are node-affinity-only.
fn label_selector_operator(op: &str) -> Option<Operator> {
    match op {
        "In" => Some(Operator::In),
        "NotIn" => Some(Operator::NotIn),
        "Exists" => Some(Operator::Exists),
        "DoesNotExist" => Some(Operator::DoesNotExist),
        _ => None,
    }
}

/// Upstream `labels.NewRequirement`: validates key, operator arity and values; sorts and
/// de-duplicates the values (upstream keeps them in a set).
pub fn new_requirement(
    key: &str,
    operator: Operator,
    mut values: Vec<String>,
) -> Result<Requirement, SelectorError> {
    let key_errs = qualified_name_errors(key);
    if !key_errs.is_empty() {
        return Err(SelectorError(format!(
            "invalid label key {key:?}: {}",
            key_errs.join("; ")
        )));
    }
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err(SelectorError(format!(
                "key {key:?}: for 'in', 'notin' operators, values set can't be empty"
            )));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err(SelectorError(format!(
                "key {key:?}: values set must be empty for exists and does not exist"
            )));
        }
        Operator::Gt | Operator::Lt => {
            let [value] = values.as_slice() else {
                return Err(SelectorError(format!(
                    "key {key:?}: for 'Gt', 'Lt' operators, exactly one value is required"
                )));
            };
            if value.parse::<i64>().is_err() {
                return Err(SelectorError(format!(
                    "key {key:?}: for 'Gt', 'Lt' operators, the value must be an integer, not {value:?}"
                )));
            }
        }
        _ => {}
    }
    for value in &values {
        let errs = label_value_errors(value);
        if !errs.is_empty() {
            return Err(SelectorError(format!(
                "invalid label value {value:?} for key {key:?}: {}",
                errs.join("; ")
            )));
        }
    }
    values.sort_unstable();
    values.dedup();
    Ok(Requirement {
        key: key.to_owned(),
        operator,
        values,
    })
}

// ---------------------------------------------------------------------------------------
// Label selector lexer and parser.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word; `in`/`notin` are words too and become operators only where one is
    /// expected, so they stay usable as keys and values.
    Word(String),
    Bang,
    NotEquals,
    Equals,
    DoubleEquals,
    Gt,
    Lt,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Bang => "'!'".into(),
            Token::NotEquals => "'!='".into(),
            Token::Equals => "'='".into(),
            Token::DoubleEquals => "'=='".into(),
            Token::Gt => "'>'".into(),
            Token::Lt => "'<'".into(),
            Token::OpenParen => "'('".into(),
            Token::CloseParen => "')'".into(),
            Token::Comma => "','".into(),
            Token::End => "end of string".into(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits a selector into tokens. Symbols are matched greedily (`!=`, `==`) and words run
/// until whitespace or a symbol, so `a>=1` lexes as `a`, `>`, `=`, `1` as upstream.
fn lex(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if is_blank(c) {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next = chars.peek().map(|&(_, n)| n);
            let tok = match (c, next) {
                ('!', Some('=')) => {
                    chars.next();
                    Token::NotEquals
                }
                ('=', Some('=')) => {
                    chars.next();
                    Token::DoubleEquals
                }
                ('!', _) => Token::Bang,
                ('=', _) => Token::Equals,
                ('>', _) => Token::Gt,
                ('<', _) => Token::Lt,
                ('(', _) => Token::OpenParen,
                (')', _) => Token::CloseParen,
                _ => Token::Comma,
            };
            tokens.push(tok);
            continue;
        }
        let mut end = s.len();
        while let Some(&(i, c)) = chars.peek() {
            if is_blank(c) || is_special(c) {
                end = i;
                break;
            }
            chars.next();
        }
        tokens.push(Token::Word(s[start..end].to_owned()));
    }
    tokens.push(Token::End);
    tokens
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
}

fn perr(msg: String) -> SelectorError {
    SelectorError(format!("unable to parse requirement: {msg}"))
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let tok = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Token::End => return Ok(out),
                Token::Word(_) | Token::Bang => {}
                other => {
                    return Err(SelectorError(format!(
                        "found {}, expected: '!', identifier, or end of string",
                        other.describe()
                    )));
                }
            }
            out.push(self.requirement()?);
            match self.next() {
                Token::End => return Ok(out),
                Token::Comma => match self.peek() {
                    Token::Word(_) | Token::Bang => {}
                    other => {
                        return Err(SelectorError(format!(
                            "found {}, expected: identifier after ','",
                            other.describe()
                        )));
                    }
                },
                other => {
                    return Err(SelectorError(format!(
                        "found {}, expected: ',' or end of string",
                        other.describe()
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = self.peek() == &Token::Bang;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Word(w) => w,
            other => {
                return Err(perr(format!(
                    "found {}, expected: identifier",
                    other.describe()
                )));
            }
        };
        let key_errs = qualified_name_errors(&key);
        if !key_errs.is_empty() {
            return Err(perr(format!(
                "invalid label key {key:?}: {}",
                key_errs.join("; ")
            )));
        }
        if negated {
            return new_requirement(&key, Operator::DoesNotExist, Vec::new())
                .map_err(|e| perr(e.0));
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return new_requirement(&key, Operator::Exists, Vec::new()).map_err(|e| perr(e.0));
        }
        let (operator, values) = match self.next() {
            Token::Word(w) if w == "in" => (Operator::In, self.value_set()?),
            Token::Word(w) if w == "notin" => (Operator::NotIn, self.value_set()?),
            Token::Equals | Token::DoubleEquals => (Operator::In, self.exact_value()?),
            Token::NotEquals => (Operator::NotIn, self.exact_value()?),
            Token::Gt => (Operator::Gt, self.exact_value()?),
            Token::Lt => (Operator::Lt, self.exact_value()?),
            other => {
                return Err(perr(format!(
                    "found {} after key {key:?}, expected an operator: '=', '==', '!=', 'in', 'notin', '>', '<', ',' or end of string",
                    other.describe()
                )));
            }
        };
        new_requirement(&key, operator, values).map_err(|e| perr(e.0))
    }

    /// The value after `=`, `==`, `!=`, `>`, `<`; nothing before `,` or the end means "".
    fn exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.peek() {
            Token::End | Token::Comma => Ok(vec![String::new()]),
            Token::Word(_) => match self.next() {
                Token::Word(w) => Ok(vec![w]),
                _ => Ok(Vec::new()),
            },
            other => Err(perr(format!(
                "found {}, expected: identifier",
                other.describe()
            ))),
        }
    }

    /// `( v1, v2 )`; empty slots (`()`, `(a,)`, `(,a)`) stand for the empty value.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Token::OpenParen => {}
            other => return Err(perr(format!("found {}, expected: '('", other.describe()))),
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            match self.next() {
                Token::Word(w) if expect_value => {
                    values.push(w);
                    expect_value = false;
                }
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Token::CloseParen => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other if expect_value => {
                    return Err(perr(format!(
                        "found {}, expected: ',', ')' or identifier",
                        other.describe()
                    )));
                }
                other => {
                    return Err(perr(format!(
                        "found {}, expected: ',' or ')'",
                        other.describe()
                    )));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Field selectors.

/// A parsed field selector (`metadata.name=x,spec.nodeName!=y`): only `=`, `==` and `!=`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    /// `(field, value, negated)` terms, ANDed.
    pub terms: Vec<FieldTerm>,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field path, e.g. `spec.nodeName`.
    pub field: String,
    /// The value compared against.
    pub value: String,
    /// True for `!=`.
    pub negated: bool,
}

impl FieldSelector {
    /// Parses a field selector string; an empty string selects everything.
    ///
    /// Terms are split on unescaped commas and sorted, as upstream does; empty terms are
    /// skipped. The field is everything before the first `!=`, `==` or `=`; the value is
    /// unescaped (`\,` `\=` `\\`), and an unescaped `,`/`=` or unknown escape in it is an
    /// error. Whitespace is not trimmed (upstream does not either).
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parts = split_field_terms(s);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, negated, raw)) = split_field_term(part) else {
                return Err(SelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            terms.push(FieldTerm {
                field: field.to_owned(),
                value: unescape_field_value(raw)?,
                negated,
            });
        }
        Ok(FieldSelector { terms })
    }
    /// True when every term holds; `lookup` returns the object's value for a field path
    /// (`None` when the object has no such field, which compares as "").
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let actual = lookup(&t.field).unwrap_or_default();
            (actual == t.value) != t.negated
        })
    }
    /// True when the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
    /// The value an `f=v` / `f==v` term requires of `field`, if there is one (useful for
    /// index lookups such as `spec.nodeName=`).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| !t.negated && t.field == field)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.negated { "!=" } else { "=" };
            write!(f, "{}{op}{}", t.field, escape_field_value(&t.value))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

/// Escapes `\`, `,` and `=` in a field selector value.
pub fn escape_field_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits on commas not preceded by an escaping backslash (escapes stay in the parts).
fn split_field_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Splits `field<op>value` at the first operator occurrence, trying `!=`, `==`, `=` at each
/// position (so `a!=b` is not read as `a!` `=` `b`).
fn split_field_term(term: &str) -> Option<(&str, bool, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        if let Some(v) = rest.strip_prefix("!=") {
            return Some((&term[..i], true, v));
        }
        if let Some(v) = rest.strip_prefix("==") {
            return Some((&term[..i], false, v));
        }
        if let Some(v) = rest.strip_prefix('=') {
            return Some((&term[..i], false, v));
        }
    }
    None
}

fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => {
                return Err(SelectorError(format!(
                    "invalid field selector: unescaped character in value: {c}"
                )));
            }
            _ => out.push(c),
        }
    }
    if escaped {
        return Err(SelectorError(
            "invalid field selector: invalid escape sequence: \\".to_owned(),
        ));
    }
    Ok(out)
}
