//! Table-driven tests for the matching half of everynode-model: selectors, taints,
//! affinity, IntOrString, pod helpers, quantities and manifest reading.

use std::collections::BTreeMap;

use everynode_model::Timestamp;
use everynode_model::affinity::{
    AffinityMismatch, check_node_affinity, check_node_selector, check_required_terms,
    node_affinity_matches,
};
use everynode_model::intstr::{is_zero, scaled_value};
use everynode_model::manifest::{ManifestError, decode, parse_documents};
use everynode_model::pod::{
    controller_ref, is_available, is_being_deleted, is_ready, is_terminal, target_node,
};
use everynode_model::quantity::{QuantityError, parse_quantity_milli, quantity_milli};
use everynode_model::selector::{
    FieldSelector, Operator, Selector, label_selector_to_string, qualified_name_errors,
};
use everynode_model::taints::{
    TaintSpec, add_or_update_toleration, find_untolerated_taint, format_taint, parse_taint,
    parse_taint_spec, tolerates,
};
use k8s_openapi::api::core::v1::{Node, NodeSelector, Pod, PodSpec, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use serde_json::{Value, json};

/// `(field, value, negated)` of a field selector term.
type TermTuple = (&'static str, &'static str, bool);
/// `(key, value, effect)` of a parsed taint.
type TaintTuple = (&'static str, Option<&'static str>, &'static str);
/// Label pairs in a table row.
type Pairs = &'static [(&'static str, &'static str)];
/// `(key, node's value)` of a failed nodeSelector entry.
type SelectorMiss = (&'static str, Option<&'static str>);

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("test fixture must decode")
}

// ---------------------------------------------------------------------------------------
// Label selector strings

#[test]
fn selector_parse_accepts_upstream_grammar_and_renders_canonically() {
    // (input, canonical rendering)
    let cases = [
        ("", ""),
        ("   ", ""),
        ("a=b", "a=b"),
        ("a==b", "a=b"),
        ("a!=b", "a!=b"),
        ("a", "a"),
        ("!a", "!a"),
        (" ! a ", "!a"),
        ("a in (x,y)", "a in (x,y)"),
        ("a in (y, x)", "a in (x,y)"),
        ("a in (x)", "a=x"),
        ("a notin (x)", "a!=x"),
        ("a notin (x,y,x)", "a notin (x,y)"),
        ("a>1", "a>1"),
        ("a<05", "a<05"),
        ("a=", "a="),
        ("a=,b", "a=,b"),
        ("a in ()", "a="),
        ("a in (,x)", "a in (,x)"),
        ("z=1,a=2,m", "a=2,m,z=1"),
        ("  x = 1 ,  y  in  ( p , q )  ", "x=1,y in (p,q)"),
        ("example.com/app=web", "example.com/app=web"),
        ("in in (in)", "in=in"),
        ("notin=notin", "notin=notin"),
        ("a=b,a!=c", "a=b,a!=c"),
    ];
    for (input, want) in cases {
        let sel = Selector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
        assert_eq!(sel.to_string(), want, "rendering of {input:?}");
        assert!(!sel.matches_nothing, "{input:?}");
    }
}

#[test]
fn selector_parse_records_operators_and_values() {
    let sel = Selector::parse("k>10,j notin (b,a),!i,h").unwrap();
    let got: Vec<(&str, Operator, Vec<&str>)> = sel
        .requirements
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.operator,
                r.values.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("h", Operator::Exists, vec![]),
            ("i", Operator::DoesNotExist, vec![]),
            ("j", Operator::NotIn, vec!["a", "b"]),
            ("k", Operator::Gt, vec!["10"]),
        ]
    );
}

#[test]
fn selector_parse_rejects_malformed_input_with_a_clear_message() {
    // (input, fragment the error must contain)
    let cases = [
        (
            "a in (",
            "found end of string, expected: ',', ')' or identifier",
        ),
        ("a in (x", "found end of string, expected: ',' or ')'"),
        ("a in x", "found 'x', expected: '('"),
        ("a in (x y)", "found 'y', expected: ',' or ')'"),
        ("a=b c", "found 'c', expected: ',' or end of string"),
        ("a,", "found end of string, expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        (
            ",a",
            "found ',', expected: '!', identifier, or end of string",
        ),
        (
            "=b",
            "found '=', expected: '!', identifier, or end of string",
        ),
        ("!", "found end of string, expected: identifier"),
        ("!a=b", "found '=', expected: ',' or end of string"),
        ("a>=1", "found '=', expected: identifier"),
        ("a>b", "must be an integer"),
        ("a>", "must be an integer"),
        // Upstream validates Gt/Lt values as label values too, so negatives are rejected.
        ("a<-5", "invalid label value \"-5\""),
        (
            "a foo b",
            "found 'foo' after key \"a\", expected an operator",
        ),
        ("a_=b", "invalid label key \"a_\""),
        ("a/b/c", "a qualified name must consist of"),
        (
            "Example.com/a=b",
            "prefix part a lowercase RFC 1123 subdomain",
        ),
        ("/a", "prefix part must be non-empty"),
        ("a=b_", "invalid label value \"b_\""),
        (
            &*format!("a={}", "x".repeat(64)),
            "must be no more than 63 bytes",
        ),
        (
            &*format!("{}=b", "k".repeat(64)),
            "name part must be no more than 63 bytes",
        ),
    ];
    for (input, fragment) in cases {
        match Selector::parse(input) {
            Ok(sel) => panic!("{input:?} should fail, parsed as {sel:?}"),
            Err(e) => assert!(
                e.to_string().contains(fragment),
                "{input:?}: error {e:?} lacks {fragment:?}"
            ),
        }
    }
}

#[test]
fn selector_matching_follows_operator_semantics() {
    let node = labels(&[
        ("app", "web"),
        ("tier", "front"),
        ("cores", "8"),
        ("bad", "x1"),
    ]);
    // (selector, expected match)
    let cases = [
        ("", true),
        ("app=web", true),
        ("app=db", false),
        ("app!=db", true),
        ("app!=web", false),
        ("missing!=x", true),
        ("app in (db,web)", true),
        ("app notin (db,web)", false),
        ("missing notin (a)", true),
        ("missing in (a)", false),
        ("app", true),
        ("missing", false),
        ("!missing", true),
        ("!app", false),
        ("cores>4", true),
        ("cores>8", false),
        ("cores<9", true),
        ("cores<8", false),
        ("missing>1", false),
        ("bad>0", false),
        ("bad<100", false),
        ("app=web,tier=front", true),
        ("app=web,tier=back", false),
        ("missing=", false),
    ];
    for (input, want) in cases {
        let sel = Selector::parse(input).unwrap();
        assert_eq!(sel.matches(&node), want, "{input:?} against {node:?}");
    }
}

#[test]
fn selector_everything_and_nothing_are_distinct() {
    let some = labels(&[("a", "b")]);
    let empty = BTreeMap::new();
    assert!(Selector::everything().matches(&some));
    assert!(Selector::everything().matches(&empty));
    assert!(Selector::everything().is_everything());
    assert!(!Selector::nothing().matches(&some));
    assert!(!Selector::nothing().matches(&empty));
    assert!(!Selector::nothing().is_everything());
}

// ---------------------------------------------------------------------------------------
// LabelSelector conversion

#[test]
fn label_selector_nil_matches_nothing_and_empty_matches_everything() {
    let any = labels(&[("x", "y")]);
    let nil = Selector::from_label_selector(None).unwrap();
    assert!(nil.matches_nothing);
    assert!(!nil.matches(&any));

    let empty = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
    assert!(empty.is_everything());
    assert!(empty.matches(&any));

    let empty_lists: LabelSelector = from_json(json!({"matchLabels": {}, "matchExpressions": []}));
    assert!(
        Selector::from_label_selector(Some(&empty_lists))
            .unwrap()
            .is_everything()
    );
}

#[test]
fn label_selector_conversion_validates_and_renders() {
    // (LabelSelector JSON, Ok(Selector rendering) or Err(fragment), label_selector_to_string)
    let cases: Vec<(Value, Result<&str, &str>, &str)> = vec![
        (
            json!({"matchLabels": {"app": "web"}}),
            Ok("app=web"),
            "app=web",
        ),
        (
            json!({"matchLabels": {"z": "1"}, "matchExpressions": [{"key": "a", "operator": "In", "values": ["y", "x"]}]}),
            Ok("a in (x,y),z=1"),
            "a in (x,y),z=1",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}),
            Ok("a=x"),
            "a in (x)",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}),
            Ok("a!=x"),
            "a notin (x)",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists"}]}),
            Ok("a"),
            "a",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}),
            Ok("!a"),
            "!a",
        ),
        (json!({}), Ok(""), ""),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            Err("values set can't be empty"),
            "<error>",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn"}]}),
            Err("values set can't be empty"),
            "<error>",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            Err("values set must be empty"),
            "<error>",
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
            Err("Unsupported value: \"Gt\""),
            "<error>",
        ),
        (
            json!({"matchLabels": {"a b": "c"}}),
            Err("invalid label key \"a b\""),
            "<error>",
        ),
        (
            json!({"matchLabels": {"a": "c d"}}),
            Err("invalid label value \"c d\""),
            "<error>",
        ),
    ];
    for (input, want, kubectl) in cases {
        let ls: LabelSelector = from_json(input.clone());
        match (Selector::from_label_selector(Some(&ls)), want) {
            (Ok(sel), Ok(rendered)) => assert_eq!(sel.to_string(), rendered, "{input}"),
            (Err(e), Err(fragment)) => {
                assert!(e.0.contains(fragment), "{input}: {e:?} lacks {fragment:?}")
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
        assert_eq!(
            label_selector_to_string(&ls),
            kubectl,
            "kubectl rendering of {input}"
        );
    }
}

#[test]
fn label_selector_expressions_match_like_the_string_form() {
    let ls: LabelSelector = from_json(json!({
        "matchLabels": {"app": "agent"},
        "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]
    }));
    let sel = Selector::from_label_selector(Some(&ls)).unwrap();
    assert!(sel.matches(&labels(&[("app", "agent")])));
    assert!(sel.matches(&labels(&[("app", "agent"), ("env", "prod")])));
    assert!(!sel.matches(&labels(&[("app", "agent"), ("env", "dev")])));
    assert!(!sel.matches(&labels(&[("env", "prod")])));
}

#[test]
fn qualified_name_errors_accept_valid_keys() {
    for key in [
        "a",
        "A-b_c.d",
        "example.com/x",
        "kubernetes.io/hostname",
        "a1/b",
        &"k".repeat(63),
    ] {
        assert!(
            qualified_name_errors(key).is_empty(),
            "{key:?}: {:?}",
            qualified_name_errors(key)
        );
    }
    for key in ["", "-a", "a-", "a/", "UPPER.com/x", "a b", &"k".repeat(64)] {
        assert!(
            !qualified_name_errors(key).is_empty(),
            "{key:?} should be invalid"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Field selectors

#[test]
fn field_selector_parses_operators_and_escapes() {
    // (input, expected terms as (field, value, negated))
    let cases: Vec<(&str, Vec<TermTuple>)> = vec![
        ("", vec![]),
        ("metadata.name=a", vec![("metadata.name", "a", false)]),
        ("metadata.name==a", vec![("metadata.name", "a", false)]),
        ("spec.nodeName!=n1", vec![("spec.nodeName", "n1", true)]),
        ("spec.nodeName=", vec![("spec.nodeName", "", false)]),
        (
            "status.phase=Running,metadata.name=x",
            vec![
                ("metadata.name", "x", false),
                ("status.phase", "Running", false),
            ],
        ),
        (r"metadata.name=a\,b", vec![("metadata.name", "a,b", false)]),
        (
            r"metadata.name=a\=b\\c",
            vec![("metadata.name", r"a=b\c", false)],
        ),
        ("a=b,,c=d", vec![("a", "b", false), ("c", "d", false)]),
    ];
    for (input, want) in cases {
        let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let got: Vec<(&str, &str, bool)> = sel
            .terms
            .iter()
            .map(|t| (t.field.as_str(), t.value.as_str(), t.negated))
            .collect();
        assert_eq!(got, want, "{input:?}");
        let reparsed = FieldSelector::parse(&sel.to_string()).unwrap();
        assert_eq!(reparsed, sel, "Display of {input:?} must parse back");
    }
}

#[test]
fn field_selector_rejects_malformed_terms() {
    let cases = [
        ("metadata.name", "can't understand 'metadata.name'"),
        (r"a=b\x", r"invalid escape sequence: \x"),
        (r"a=b\", r"invalid escape sequence: \"),
        ("a=b=c", "unescaped character in value: ="),
    ];
    for (input, fragment) in cases {
        let err = FieldSelector::parse(input).expect_err(input);
        assert!(
            err.0.contains(fragment),
            "{input:?}: {err:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn field_selector_matching_treats_missing_fields_as_empty() {
    let lookup = |f: &str| match f {
        "metadata.name" => Some("pod-a".to_string()),
        "spec.nodeName" => Some("node-1".to_string()),
        _ => None,
    };
    let cases = [
        ("", true),
        ("metadata.name=pod-a", true),
        ("metadata.name=pod-b", false),
        ("metadata.name!=pod-b", true),
        ("spec.nodeName=node-1,metadata.name=pod-a", true),
        ("spec.nodeName=node-1,metadata.name=pod-b", false),
        ("status.phase=", true),
        ("status.phase!=", false),
        ("status.phase=Running", false),
    ];
    for (input, want) in cases {
        assert_eq!(
            FieldSelector::parse(input).unwrap().matches(lookup),
            want,
            "{input:?}"
        );
    }
    let sel = FieldSelector::parse("spec.nodeName=node-1,metadata.name!=x").unwrap();
    assert_eq!(sel.required_value("spec.nodeName"), Some("node-1"));
    assert_eq!(sel.required_value("metadata.name"), None);
}

// ---------------------------------------------------------------------------------------
// Taints and tolerations

fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: (!value.is_empty()).then(|| value.into()),
        effect: effect.into(),
        time_added: None,
    }
}

fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Toleration {
        key: opt(key),
        operator: opt(op),
        value: opt(value),
        effect: opt(effect),
        toleration_seconds: None,
    }
}

#[test]
fn toleration_matrix_follows_tolerates_taint() {
    // (toleration key, operator, value, effect; taint key, value, effect; tolerated)
    let cases = [
        (
            ("k", "Equal", "v", "NoSchedule"),
            ("k", "v", "NoSchedule"),
            true,
        ),
        (("k", "", "v", "NoSchedule"), ("k", "v", "NoSchedule"), true),
        (
            ("k", "Equal", "v", "NoSchedule"),
            ("k", "w", "NoSchedule"),
            false,
        ),
        (
            ("k", "Equal", "", "NoSchedule"),
            ("k", "", "NoSchedule"),
            true,
        ),
        (
            ("k", "Equal", "", "NoSchedule"),
            ("k", "v", "NoSchedule"),
            false,
        ),
        (
            ("k", "Exists", "", "NoSchedule"),
            ("k", "anything", "NoSchedule"),
            true,
        ),
        (
            ("k", "Exists", "", "NoSchedule"),
            ("other", "", "NoSchedule"),
            false,
        ),
        (
            ("k", "Equal", "v", "NoSchedule"),
            ("k", "v", "NoExecute"),
            false,
        ),
        (
            ("k", "Equal", "v", "NoExecute"),
            ("k", "v", "NoSchedule"),
            false,
        ),
        (("k", "Equal", "v", ""), ("k", "v", "NoExecute"), true),
        (
            ("k", "Exists", "", ""),
            ("k", "v", "PreferNoSchedule"),
            true,
        ),
        (("", "Exists", "", ""), ("any", "thing", "NoExecute"), true),
        (
            ("", "Exists", "", "NoSchedule"),
            ("any", "", "NoSchedule"),
            true,
        ),
        (
            ("", "Exists", "", "NoSchedule"),
            ("any", "", "NoExecute"),
            false,
        ),
        // Upstream's matcher does not insist on Exists for an empty key; values still compare.
        (("", "Equal", "", ""), ("any", "", "NoSchedule"), true),
        (("", "Equal", "", ""), ("any", "v", "NoSchedule"), false),
        (("k", "Gt", "1", ""), ("k", "5", "NoSchedule"), false),
        (("k", "Bogus", "v", ""), ("k", "v", "NoSchedule"), false),
    ];
    for ((tk, op, tv, te), (k, v, e), want) in cases {
        let tol = toleration(tk, op, tv, te);
        let t = taint(k, v, e);
        assert_eq!(tolerates(&tol, &t), want, "{tol:?} vs {t:?}");
    }
}

#[test]
fn toleration_seconds_plays_no_role_in_matching() {
    let mut tol = toleration("k", "Exists", "", "NoExecute");
    tol.toleration_seconds = Some(0);
    assert!(tolerates(&tol, &taint("k", "", "NoExecute")));
}

#[test]
fn find_untolerated_taint_returns_first_filtered_untolerated() {
    let taints = [
        taint("soft", "", "PreferNoSchedule"),
        taint("tolerated", "", "NoSchedule"),
        taint("first", "", "NoSchedule"),
        taint("second", "", "NoExecute"),
    ];
    let tols = [toleration("tolerated", "Exists", "", "")];
    let hard = |t: &Taint| t.effect == "NoSchedule" || t.effect == "NoExecute";
    assert_eq!(
        find_untolerated_taint(&taints, &tols, hard).map(|t| t.key.as_str()),
        Some("first")
    );
    let exec_only = |t: &Taint| t.effect == "NoExecute";
    assert_eq!(
        find_untolerated_taint(&taints, &tols, exec_only).map(|t| t.key.as_str()),
        Some("second")
    );
    let all = [toleration("", "Exists", "", "")];
    assert_eq!(find_untolerated_taint(&taints, &all, hard), None);
    assert_eq!(find_untolerated_taint(&[], &tols, hard), None);
}

#[test]
fn add_or_update_toleration_replaces_same_identity_only() {
    let base = toleration("node.kubernetes.io/not-ready", "Exists", "", "NoExecute");

    // Absent: appended.
    let mut tols = vec![toleration("a", "Exists", "", "")];
    assert!(add_or_update_toleration(&mut tols, base.clone()));
    assert_eq!(tols, vec![toleration("a", "Exists", "", ""), base.clone()]);

    // Identical present: unchanged.
    assert!(!add_or_update_toleration(&mut tols, base.clone()));
    assert_eq!(tols.len(), 2);

    // Same identity with tolerationSeconds: replaced in place (seconds dropped).
    let mut with_seconds = base.clone();
    with_seconds.toleration_seconds = Some(300);
    let mut tols = vec![with_seconds, toleration("z", "Exists", "", "")];
    assert!(add_or_update_toleration(&mut tols, base.clone()));
    assert_eq!(tols, vec![base.clone(), toleration("z", "Exists", "", "")]);

    // Different effect: a separate toleration.
    let mut tols = vec![toleration(
        "node.kubernetes.io/not-ready",
        "Exists",
        "",
        "NoSchedule",
    )];
    assert!(add_or_update_toleration(&mut tols, base.clone()));
    assert_eq!(tols.len(), 2);

    // None and "" are the same in Go.
    let mut explicit_empty = base.clone();
    explicit_empty.value = Some(String::new());
    let mut tols = vec![explicit_empty];
    assert!(!add_or_update_toleration(&mut tols, base));
}

#[test]
fn format_and_parse_taint_use_kubectl_syntax() {
    assert_eq!(
        format_taint(&taint("k", "v", "NoSchedule")),
        "k=v:NoSchedule"
    );
    assert_eq!(format_taint(&taint("k", "", "NoExecute")), "k:NoExecute");

    // (input, Ok((key, value, effect)) or Err(fragment))
    let cases: Vec<(&str, Result<TaintTuple, &str>)> = vec![
        (
            "dedicated=gpu:NoSchedule",
            Ok(("dedicated", Some("gpu"), "NoSchedule")),
        ),
        (
            "dedicated:PreferNoSchedule",
            Ok(("dedicated", None, "PreferNoSchedule")),
        ),
        (
            "example.com/k=v:NoExecute",
            Ok(("example.com/k", Some("v"), "NoExecute")),
        ),
        ("dedicated", Ok(("dedicated", None, ""))),
        ("dedicated-", Ok(("dedicated", None, ""))),
        (
            "dedicated:NoSchedule-",
            Ok(("dedicated", None, "NoSchedule")),
        ),
        ("k=v:Sometimes", Err("invalid taint effect: Sometimes")),
        ("k=v=w:NoSchedule", Err("invalid taint spec")),
        ("k:NoSchedule:x", Err("invalid taint spec")),
        (
            "bad key:NoSchedule",
            Err("invalid taint spec: bad key:NoSchedule"),
        ),
        ("k=bad value:NoSchedule", Err("invalid taint spec")),
        (":NoSchedule", Err("name part must be non-empty")),
    ];
    for (input, want) in cases {
        match (parse_taint(input), want) {
            (Ok(t), Ok((k, v, e))) => {
                assert_eq!(
                    (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
                    (k, v, e),
                    "{input:?}"
                )
            }
            (Err(msg), Err(fragment)) => assert!(
                msg.contains(fragment),
                "{input:?}: {msg:?} lacks {fragment:?}"
            ),
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    assert_eq!(
        parse_taint_spec("k=v:NoSchedule"),
        Ok(TaintSpec::Add(taint("k", "v", "NoSchedule")))
    );
    assert_eq!(
        parse_taint_spec("k-"),
        Ok(TaintSpec::Remove(taint("k", "", "")))
    );
    assert!(
        parse_taint_spec("k=v")
            .unwrap_err()
            .contains("an effect is required")
    );
    assert_eq!(
        parse_taint_spec("k"),
        Err(
            "invalid taint spec: k, an effect is required to add a taint (e.g. k:NoSchedule)"
                .into()
        )
    );
    assert_eq!(
        parse_taint("k=v"),
        Err("invalid taint spec: k=v, an effect is required (e.g. k=v:NoSchedule)".into())
    );
    let round_trip = parse_taint(&format_taint(&taint("a.b/c", "d", "NoExecute"))).unwrap();
    assert_eq!(round_trip, taint("a.b/c", "d", "NoExecute"));
}

// ---------------------------------------------------------------------------------------
// Node affinity

fn node(name: &str, node_labels: &[(&str, &str)]) -> Node {
    let mut n = Node::default();
    n.metadata.name = (!name.is_empty()).then(|| name.to_string());
    n.metadata.labels = Some(labels(node_labels));
    n
}

fn required(terms: Value) -> NodeSelector {
    from_json(json!({ "nodeSelectorTerms": terms }))
}

#[test]
fn node_selector_requires_every_key_to_equal() {
    let n = labels(&[("nodepool", "workload"), ("zone", "a")]);
    let cases: Vec<(Pairs, Result<(), SelectorMiss>)> = vec![
        (&[], Ok(())),
        (&[("nodepool", "workload")], Ok(())),
        (&[("nodepool", "workload"), ("zone", "a")], Ok(())),
        (
            &[("nodepool", "system")],
            Err(("nodepool", Some("workload"))),
        ),
        (&[("gpu", "true")], Err(("gpu", None))),
        (&[("zone", "a"), ("a-first", "x")], Err(("a-first", None))),
    ];
    for (sel, want) in cases {
        let got = check_node_selector(&labels(sel), &n);
        match (got, want) {
            (Ok(()), Ok(())) => {}
            (Err(AffinityMismatch::NodeSelector { key, actual, .. }), Err((wk, wa))) => {
                assert_eq!((key.as_str(), actual.as_deref()), (wk, wa), "{sel:?}")
            }
            (got, want) => panic!("{sel:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn required_node_affinity_terms_match_per_operator() {
    let n = node(
        "node-a",
        &[("zone", "z1"), ("cores", "8"), ("node-type", "gpu")],
    );
    // (terms, matches)
    let cases: Vec<(&str, Value, bool)> = vec![
        (
            "In hit",
            json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1", "z2"]}]}]),
            true,
        ),
        (
            "In miss",
            json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}]),
            false,
        ),
        (
            "In missing label",
            json!([{"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r"]}]}]),
            false,
        ),
        (
            "NotIn hit",
            json!([{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z2"]}]}]),
            true,
        ),
        (
            "NotIn miss",
            json!([{"matchExpressions": [{"key": "node-type", "operator": "NotIn", "values": ["gpu"]}]}]),
            false,
        ),
        (
            "NotIn missing label",
            json!([{"matchExpressions": [{"key": "rack", "operator": "NotIn", "values": ["r"]}]}]),
            true,
        ),
        (
            "Exists",
            json!([{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]),
            true,
        ),
        (
            "Exists missing",
            json!([{"matchExpressions": [{"key": "rack", "operator": "Exists"}]}]),
            false,
        ),
        (
            "DoesNotExist",
            json!([{"matchExpressions": [{"key": "rack", "operator": "DoesNotExist"}]}]),
            true,
        ),
        (
            "DoesNotExist present",
            json!([{"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}]),
            false,
        ),
        (
            "Gt",
            json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]),
            true,
        ),
        (
            "Gt equal",
            json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]}]),
            false,
        ),
        (
            "Lt",
            json!([{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["16"]}]}]),
            true,
        ),
        (
            "Lt on non-integer label",
            json!([{"matchExpressions": [{"key": "zone", "operator": "Lt", "values": ["16"]}]}]),
            false,
        ),
        (
            "Gt missing label",
            json!([{"matchExpressions": [{"key": "rack", "operator": "Gt", "values": ["1"]}]}]),
            false,
        ),
        (
            "expressions ANDed",
            json!([{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["z1"]},
            {"key": "cores", "operator": "Lt", "values": ["4"]}]}]),
            false,
        ),
        (
            "terms ORed",
            json!([
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z9"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}]),
            true,
        ),
        (
            "matchFields In",
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-a"]}]}]),
            true,
        ),
        (
            "matchFields In other",
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}]),
            false,
        ),
        (
            "matchFields NotIn",
            json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-b"]}]}]),
            true,
        ),
        (
            "matchFields two values is malformed",
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-a", "node-b"]}]}]),
            false,
        ),
        (
            "matchFields Exists is malformed",
            json!([{"matchFields": [{"key": "metadata.name", "operator": "Exists"}]}]),
            false,
        ),
        (
            "matchFields unknown field is empty",
            json!([{"matchFields": [{"key": "spec.x", "operator": "In", "values": ["node-a"]}]}]),
            false,
        ),
        (
            "fields ANDed with expressions",
            json!([{
            "matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}]),
            false,
        ),
        ("empty term matches nothing", json!([{}]), false),
        (
            "empty lists term matches nothing",
            json!([{"matchExpressions": [], "matchFields": []}]),
            false,
        ),
        (
            "empty term skipped, next matches",
            json!([{}, {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]),
            true,
        ),
        ("no terms matches nothing", json!([]), false),
        (
            "unknown operator is malformed",
            json!([{"matchExpressions": [{"key": "zone", "operator": "Like", "values": ["z1"]}]}]),
            false,
        ),
        (
            "In without values is malformed",
            json!([{"matchExpressions": [{"key": "zone", "operator": "In"}]}]),
            false,
        ),
        (
            "Exists with values is malformed",
            json!([{"matchExpressions": [{"key": "zone", "operator": "Exists", "values": ["z1"]}]}]),
            false,
        ),
        (
            "Gt with two values is malformed",
            json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["1", "2"]}]}]),
            false,
        ),
        (
            "Gt non-integer is malformed",
            json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["x"]}]}]),
            false,
        ),
        (
            "invalid key is malformed",
            json!([{"matchExpressions": [{"key": "bad key", "operator": "DoesNotExist"}]}]),
            false,
        ),
        (
            "malformed wins over match in same term",
            json!([{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["z1"]},
            {"key": "zone", "operator": "Nope"}]}]),
            false,
        ),
        (
            "malformed term skipped, next matches",
            json!([
            {"matchExpressions": [{"key": "zone", "operator": "Nope"}]},
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}]),
            true,
        ),
    ];
    for (name, terms, want) in cases {
        let req = required(terms);
        assert_eq!(
            check_required_terms(&req, &n).is_ok(),
            want,
            "{name}: {:?}",
            check_required_terms(&req, &n)
        );
        let spec: PodSpec = from_json(json!({
            "containers": [],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": req}}
        }));
        assert_eq!(node_affinity_matches(&spec, &n), want, "{name} (bool form)");
        assert_eq!(
            check_node_affinity(&spec, &n).is_ok(),
            want,
            "{name} (pod form)"
        );
    }
}

#[test]
fn match_fields_are_ignored_for_a_nameless_node() {
    // Upstream only builds node fields from a non-empty name.
    let req = required(
        json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["x"]}]}]),
    );
    assert!(check_required_terms(&req, &node("", &[])).is_ok());
}

#[test]
fn check_node_affinity_needs_both_node_selector_and_affinity() {
    let n = node("node-a", &[("pool", "a"), ("zone", "z1")]);
    let spec = |sel: Value, terms: Option<Value>| -> PodSpec {
        let mut v = json!({"containers": [], "nodeSelector": sel});
        if let Some(t) = terms {
            v["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": t}}});
        }
        from_json(v)
    };
    let zone_z1 =
        json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}]);
    let zone_z2 =
        json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}]);
    let cases = [
        (spec(json!({}), None), true),
        (spec(json!({"pool": "a"}), None), true),
        (spec(json!({"pool": "a"}), Some(zone_z1.clone())), true),
        (spec(json!({"pool": "b"}), Some(zone_z1)), false),
        (spec(json!({"pool": "a"}), Some(zone_z2)), false),
    ];
    for (s, want) in cases {
        assert_eq!(check_node_affinity(&s, &n).is_ok(), want, "{s:?}");
        assert_eq!(node_affinity_matches(&s, &n), want, "{s:?}");
    }
    // A preferred-only affinity has no effect.
    let preferred: PodSpec = from_json(json!({"containers": [], "affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["z9"]}]}}]}}}));
    assert!(check_node_affinity(&preferred, &n).is_ok());
}

#[test]
fn affinity_mismatch_explains_itself_in_one_line() {
    let n = node(
        "node-b",
        &[("node-type", "gpu"), ("cores", "2"), ("zone", "z1")],
    );
    let sel = |s: &[(&str, &str)]| {
        check_node_selector(&labels(s), n.metadata.labels.as_ref().unwrap())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        sel(&[("nodepool", "workload")]),
        r#"node selector "nodepool=workload" not matched (node has no label "nodepool")"#
    );
    assert_eq!(
        sel(&[("zone", "z2")]),
        r#"node selector "zone=z2" not matched (node has zone=z1)"#
    );

    let aff = |terms: Value| {
        check_required_terms(&required(terms), &n)
            .unwrap_err()
            .to_string()
    };
    let cases = [
        (
            json!([{"matchExpressions": [{"key": "node-type", "operator": "NotIn", "values": ["gpu"]}]}]),
            "node affinity: no term matched (term 0: node-type NotIn [gpu] but node has node-type=gpu)",
        ),
        (
            json!([{"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1", "r2"]}]}]),
            r#"node affinity: no term matched (term 0: rack In [r1, r2] but node has no label "rack")"#,
        ),
        (
            json!([{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]),
            r#"node affinity: no term matched (term 0: gpu Exists but node has no label "gpu")"#,
        ),
        (
            json!([{"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}]),
            "node affinity: no term matched (term 0: zone DoesNotExist but node has zone=z1)",
        ),
        (
            json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]),
            "node affinity: no term matched (term 0: cores Gt 4 but node has cores=2)",
        ),
        (
            json!([{"matchExpressions": [{"key": "zone", "operator": "Lt", "values": ["4"]}]}]),
            "node affinity: no term matched (term 0: zone Lt 4 but node has zone=z1, which is not an integer)",
        ),
        (
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-a"]}]}]),
            r#"node affinity: no term matched (term 0: field metadata.name In [node-a] but node is named "node-b")"#,
        ),
        (
            json!([{}, {"matchExpressions": [{"key": "zone", "operator": "Nope"}]}]),
            r#"node affinity: no term matched (term 0: empty term matches no node; term 1: matchExpressions[0] is invalid, so the term is ignored: operator "Nope" is not supported (supported: In, NotIn, Exists, DoesNotExist, Gt, Lt))"#,
        ),
        (
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]}]),
            "node affinity: no term matched (term 0: matchFields[0] is invalid, so the term is ignored: In needs exactly one value)",
        ),
        (
            json!([]),
            "node affinity: requiredDuringSchedulingIgnoredDuringExecution has no terms, so no node matches",
        ),
    ];
    for (terms, want) in cases {
        assert_eq!(aff(terms.clone()), want, "{terms}");
    }
    let in_without_values = aff(json!([{"matchExpressions": [{"key": "zone", "operator": "In"}]}]));
    assert!(
        in_without_values.contains("values set can't be empty"),
        "{in_without_values}"
    );
}

// ---------------------------------------------------------------------------------------
// IntOrString

#[test]
fn scaled_value_resolves_ints_and_percentages() {
    let int = |n| Some(IntOrString::Int(n));
    let s = |v: &str| Some(IntOrString::String(v.to_string()));
    // (value, total, round_up, expected)
    let cases = [
        (None, 10, true, Ok(0)),
        (int(3), 10, true, Ok(3)),
        (int(0), 10, true, Ok(0)),
        (s("50%"), 3, true, Ok(2)),
        (s("50%"), 3, false, Ok(1)),
        (s("20%"), 5, true, Ok(1)),
        (s("1%"), 1, true, Ok(1)),
        (s("1%"), 1, false, Ok(0)),
        (s("0%"), 100, true, Ok(0)),
        (s("100%"), 7, true, Ok(7)),
        (s("33%"), 0, true, Ok(0)),
        (s("150%"), 4, true, Ok(6)),
        (s("-10%"), 15, true, Ok(-1)),
        (s("-10%"), 15, false, Ok(-2)),
        (s("abc"), 10, true, Err(())),
        (s("1"), 10, true, Err(())),
        (s("x%"), 10, true, Err(())),
        (s("%"), 10, true, Err(())),
        (s("99999999999%"), 100, true, Err(())),
    ];
    for (value, total, up, want) in cases {
        let got = scaled_value(value.as_ref(), total, up);
        assert_eq!(
            got.clone().map_err(|_| ()),
            want,
            "{value:?} of {total} (up={up}): {got:?}"
        );
    }
    let err = scaled_value(s("abc").as_ref(), 1, true).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid value for IntOrString: "),
        "{err}"
    );
}

#[test]
fn is_zero_recognises_zero_counts_and_percentages() {
    let cases = [
        (None, true),
        (Some(IntOrString::Int(0)), true),
        (Some(IntOrString::Int(1)), false),
        (Some(IntOrString::String("0%".into())), true),
        (Some(IntOrString::String("00%".into())), true),
        (Some(IntOrString::String("0".into())), true),
        (Some(IntOrString::String("10%".into())), false),
        (Some(IntOrString::String("abc".into())), false),
    ];
    for (v, want) in cases {
        assert_eq!(is_zero(v.as_ref()), want, "{v:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Pods

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn pod_with_ready(status: &str, since: Option<&str>) -> Pod {
    let mut cond = json!({"type": "Ready", "status": status});
    if let Some(t) = since {
        cond["lastTransitionTime"] = json!(t);
    }
    from_json(json!({"metadata": {"name": "p"}, "status": {"conditions": [
        {"type": "PodScheduled", "status": "True"}, cond]}}))
}

#[test]
fn availability_honours_min_ready_seconds_strictly() {
    let now = ts("2024-01-01T00:01:00Z");
    // (ready status, lastTransitionTime, minReadySeconds, ready, available)
    let cases = [
        ("True", Some("2024-01-01T00:00:00Z"), 0, true, true),
        ("True", Some("2024-01-01T00:00:00Z"), 59, true, true),
        ("True", Some("2024-01-01T00:00:00Z"), 60, true, false),
        ("True", Some("2024-01-01T00:00:00Z"), 61, true, false),
        ("True", Some("2024-01-01T00:00:59.999Z"), 0, true, true),
        ("True", None, 0, true, true),
        ("True", None, 5, true, false),
        ("True", Some("0001-01-01T00:00:00Z"), 5, true, false),
        ("False", Some("2023-01-01T00:00:00Z"), 0, false, false),
        ("Unknown", Some("2023-01-01T00:00:00Z"), 10, false, false),
    ];
    for (status, since, min_ready, ready, available) in cases {
        let pod = pod_with_ready(status, since);
        assert_eq!(is_ready(&pod), ready, "{status} {since:?}");
        assert_eq!(
            is_available(&pod, min_ready, now),
            available,
            "{status} {since:?} minReady={min_ready}"
        );
    }
    let no_status: Pod = from_json(json!({"metadata": {"name": "p"}}));
    assert!(!is_ready(&no_status));
    assert!(!is_available(&no_status, 0, now));
}

#[test]
fn pod_phase_deletion_and_controller_helpers() {
    for (phase, terminal) in [
        ("Failed", true),
        ("Succeeded", true),
        ("Running", false),
        ("Pending", false),
    ] {
        let pod: Pod = from_json(json!({"status": {"phase": phase}}));
        assert_eq!(is_terminal(&pod), terminal, "{phase}");
    }
    assert!(!is_terminal(&Pod::default()));

    let deleting: Pod =
        from_json(json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}));
    assert!(is_being_deleted(&deleting.metadata));
    assert!(!is_being_deleted(&Pod::default().metadata));

    let owned: Pod = from_json(json!({"metadata": {"ownerReferences": [
        {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "1"},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "2", "controller": true}]}}));
    assert_eq!(
        controller_ref(&owned.metadata).map(|r| r.name.as_str()),
        Some("ds")
    );
    let not_controller: Pod = from_json(json!({"metadata": {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "2", "controller": false}]}}));
    assert_eq!(controller_ref(&not_controller.metadata), None);
}

#[test]
fn target_node_prefers_node_name_then_first_name_field() {
    let with_terms = |node_name: Option<&str>, terms: Value| -> Pod {
        let mut spec = json!({"containers": [], "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}});
        if let Some(n) = node_name {
            spec["nodeName"] = json!(n);
        }
        from_json(json!({"spec": spec}))
    };
    let name_in = |v: Value| json!({"key": "metadata.name", "operator": "In", "values": v});
    let cases = [
        (
            with_terms(
                Some("bound"),
                json!([{"matchFields": [name_in(json!(["other"]))]}]),
            ),
            Some("bound"),
        ),
        (
            with_terms(Some(""), json!([{"matchFields": [name_in(json!(["n1"]))]}])),
            Some("n1"),
        ),
        (
            with_terms(None, json!([{"matchFields": [name_in(json!(["n1"]))]}])),
            Some("n1"),
        ),
        (
            with_terms(
                None,
                json!([
                {"matchExpressions": [{"key": "zone", "operator": "Exists"}]},
                {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]}, name_in(json!(["n2"]))]}]),
            ),
            Some("n2"),
        ),
        (
            with_terms(
                None,
                json!([{"matchFields": [name_in(json!(["n1", "n2"]))]}]),
            ),
            None,
        ),
        (
            with_terms(
                None,
                json!([{"matchFields": [name_in(json!(["n1", "n2"]))]}, {"matchFields": [name_in(json!(["n3"]))]}]),
            ),
            None,
        ),
        (
            with_terms(
                None,
                json!([{"matchFields": [{"key": "spec.x", "operator": "In", "values": ["n1"]}]}]),
            ),
            None,
        ),
        (with_terms(None, json!([])), None),
        (from_json(json!({"spec": {"containers": []}})), None),
        (Pod::default(), None),
    ];
    for (pod, want) in cases {
        assert_eq!(target_node(&pod), want, "{:?}", pod.spec);
    }
}

// ---------------------------------------------------------------------------------------
// Quantities

#[test]
fn quantities_parse_into_milli_units() {
    let cases: [(&str, i128); 24] = [
        ("100m", 100),
        ("1", 1000),
        ("0", 0),
        ("1.5", 1500),
        (".5", 500),
        ("5.", 5000),
        ("+2", 2000),
        ("-2", -2000),
        ("200Mi", 200 * 1024 * 1024 * 1000),
        ("1Gi", 1024 * 1024 * 1024 * 1000),
        ("1Ki", 1_024_000),
        ("1.5Ki", 1_536_000),
        ("1e3", 1_000_000),
        ("1E3", 1_000_000),
        ("1e-3", 1),
        ("15e-1", 1500),
        ("500k", 500_000_000),
        ("2G", 2_000_000_000_000),
        ("1n", 1),
        ("1500u", 2),
        ("1000u", 1),
        ("0.0001", 1),
        ("1Ei", 1_152_921_504_606_846_976_000),
        ("000123", 123_000),
    ];
    for (input, want) in cases {
        assert_eq!(parse_quantity_milli(input), Ok(want), "{input:?}");
    }
    assert_eq!(quantity_milli(&Quantity("250m".into())), Ok(250));
}

#[test]
fn quantities_reject_malformed_text() {
    let cases = [
        ("", "regular expression"),
        (".", "regular expression"),
        ("abc", "regular expression"),
        ("1.2.3", "regular expression"),
        ("1 Gi", "regular expression"),
        ("1K", "suffix \"K\""),
        ("1Kb", "regular expression"),
        ("1e", "suffix \"e\""),
        ("1Gi1", "suffix \"Gi1\""),
        ("1e400", "too large"),
        ("99999999999999999999999999999999999999999", "too large"),
    ];
    for (input, fragment) in cases {
        let err = parse_quantity_milli(input).expect_err(input);
        assert!(
            err.to_string().contains(fragment),
            "{input:?}: {err} lacks {fragment:?}"
        );
    }
    assert!(matches!(
        parse_quantity_milli("1e400"),
        Err(QuantityError::TooLarge(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Manifests

#[test]
fn manifest_yaml_reads_octal_like_kubectl() {
    let docs = parse_documents(
        "kind: ConfigMap\nmode: 0644\nplain: 644\nhex: 0x1F\nflag: off\n",
        "cm.yaml",
    )
    .unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["mode"], json!(420));
    assert_eq!(docs[0]["plain"], json!(644));
    assert_eq!(docs[0]["hex"], json!(31));
    assert_eq!(docs[0]["flag"], json!(false));
}

#[test]
fn manifest_multi_document_yaml_skips_empty_documents_and_flattens_lists() {
    let text = "---\n# just a comment\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: a\n---\n---\n\
apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: b\n\
- apiVersion: v1\n  kind: NodeList\n  items:\n  - {apiVersion: v1, kind: Node, metadata: {name: c}}\n\
---\nkind: PodList\nitems: []\n";
    let docs = parse_documents(text, "nodes.yaml").unwrap();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(parse_documents("", "empty.yaml").unwrap().is_empty());
    assert!(
        parse_documents("---\n...\n", "empty.yaml")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn manifest_accepts_json_objects_and_streams() {
    let one = parse_documents(r#"{"kind": "Node", "metadata": {"name": "a"}}"#, "n.json").unwrap();
    assert_eq!(one.len(), 1);
    let stream = parse_documents(
        "{\"kind\":\"Node\",\"metadata\":{\"name\":\"a\"}}\n{\"kind\":\"List\",\"items\":[{\"kind\":\"Node\",\"metadata\":{\"name\":\"b\"}}]}",
        "n.json",
    )
    .unwrap();
    assert_eq!(stream.len(), 2);
    assert_eq!(stream[1]["metadata"]["name"], json!("b"));
}

#[test]
fn manifest_errors_name_source_line_and_column() {
    let yaml = "apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n labels: {\n";
    let err = parse_documents(yaml, "nodes.yaml").unwrap_err();
    let ManifestError::Syntax { line, column, .. } = &err else {
        panic!("expected syntax error, got {err:?}")
    };
    assert!(line.is_some() && column.is_some(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "nodes.yaml: line {} column {}: ",
            line.unwrap(),
            column.unwrap()
        )),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line please: {text}");

    assert_eq!(
        text.matches("line").count(),
        1,
        "position given once: {text}"
    );

    let dup = parse_documents("a: 1\nb: 2\na: 3\n", "dup.yaml")
        .unwrap_err()
        .to_string();
    assert_eq!(dup, "dup.yaml: line 3 column 1: duplicate mapping key: a");

    let json_err = parse_documents("{\n  \"kind\": \"Node\",\n  oops\n}", "n.json")
        .unwrap_err()
        .to_string();
    assert!(
        json_err.starts_with("n.json: line 3 column 3: "),
        "{json_err}"
    );

    let scalar = parse_documents("kind: Node\n---\njust a string\n", "s.yaml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        scalar,
        "s.yaml: document 2: expected a Kubernetes object (a mapping with apiVersion and kind), found a string"
    );

    let bad_items = parse_documents("kind: List\nitems: 3\n", "l.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        bad_items.contains("l.yaml: document 1: \"items\" of a List"),
        "{bad_items}"
    );
}

#[test]
fn manifest_decode_names_the_object_on_failure() {
    let docs = parse_documents(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nspec:\n  taints:\n  - key: k\n    effect: NoSchedule\n",
        "n.yaml",
    )
    .unwrap();
    let node: Node = decode(&docs[0], "n.yaml").unwrap();
    assert_eq!(node.spec.unwrap().taints.unwrap()[0].key, "k");

    let bad = parse_documents(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nspec:\n  taints: 5\n",
        "n.yaml",
    )
    .unwrap();
    let err = decode::<Node>(&bad[0], "n.yaml").unwrap_err().to_string();
    assert!(err.starts_with("n.yaml: Node \"n1\": "), "{err}");
}

#[test]
fn manifest_typed_octal_decodes_into_pod_volumes() {
    let docs = parse_documents(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n  volumes:\n  - name: cfg\n    configMap:\n      name: c\n      defaultMode: 0644\n",
        "p.yaml",
    )
    .unwrap();
    let pod: Pod = decode(&docs[0], "p.yaml").unwrap();
    let vols = pod.spec.unwrap().volumes.unwrap();
    assert_eq!(vols[0].config_map.as_ref().unwrap().default_mode, Some(420));
}

// ---------------------------------------------------------------------------------------
// Property: Display -> parse round-trips

fn arb_key() -> impl Strategy<Value = String> {
    (
        proptest::option::of("[a-z][a-z0-9]{0,5}(\\.[a-z]{1,4})?"),
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?",
    )
        .prop_map(|(prefix, name)| match prefix {
            Some(p) => format!("{p}/{name}"),
            None => name,
        })
}

fn arb_value() -> impl Strategy<Value = String> {
    "([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?"
}

fn arb_requirement_text() -> impl Strategy<Value = String> {
    (
        arb_key(),
        0..8usize,
        proptest::collection::vec(arb_value(), 1..4),
        any::<u32>(),
    )
        .prop_map(|(key, op, values, n)| match op {
            0 => format!("{key}={}", values[0]),
            1 => format!("{key}!={}", values[0]),
            2 => format!("{key} in ({})", values.join(",")),
            3 => format!("{key} notin ({})", values.join(", ")),
            4 => key,
            5 => format!("!{key}"),
            6 => format!("{key}>{n}"),
            _ => format!("{key} < {n}"),
        })
}

proptest! {
    #[test]
    fn selector_display_then_parse_round_trips(reqs in proptest::collection::vec(arb_requirement_text(), 0..6)) {
        let text = reqs.join(",");
        let sel = Selector::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let rendered = sel.to_string();
        let again = Selector::parse(&rendered).map_err(|e| TestCaseError::fail(format!("{rendered:?}: {e}")))?;
        prop_assert_eq!(&again, &sel, "text {:?} rendered {:?}", text, rendered);
        prop_assert_eq!(again.to_string(), rendered);
    }

    #[test]
    fn selector_parse_never_panics(s in "\\PC{0,40}") {
        let _ = Selector::parse(&s);
        let _ = FieldSelector::parse(&s);
        let _ = parse_quantity_milli(&s);
        let _ = parse_taint(&s);
    }
}
