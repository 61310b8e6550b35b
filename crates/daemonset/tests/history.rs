//! Spec 4: revision data, hashing, current vs old, renumbering, collisions, dedup, cleanup.

mod common;

use common::*;
use everynode_daemonset::history::{construct_history, new_revision, revision_data};
use everynode_daemonset::{RevisionWrite, revision_matches, revision_name, template_hash};

#[test]
fn template_hash_is_deterministic_short_and_label_safe() {
    let ds = daemonset();
    let template = &ds.spec.template;
    let a = template_hash(template, None);
    assert_eq!(a, template_hash(template, None), "deterministic");
    assert!(!a.is_empty() && a.len() <= 10, "{a}");
    assert!(
        a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
        "{a}"
    );
    let mut changed = ds.clone();
    set_image(&mut changed, "agent:v2");
    let cases = [
        (
            "collisionCount set changes the hash",
            template_hash(template, Some(0)),
        ),
        (
            "collisionCount value changes the hash",
            template_hash(template, Some(1)),
        ),
        (
            "template change changes the hash",
            template_hash(&changed.spec.template, None),
        ),
    ];
    for (name, other) in cases {
        assert_ne!(a, other, "{name}");
    }
    assert_ne!(
        template_hash(template, Some(1)),
        template_hash(template, Some(2))
    );
}

#[test]
fn revision_carries_patch_labels_and_name() {
    let ds = daemonset();
    let cr = new_revision(&ds, "h1", 3);
    assert_eq!(cr.metadata.name.as_deref(), Some("agent-h1"));
    assert_eq!(revision_name(&ds, "h1"), "agent-h1");
    assert_eq!(cr.revision, Some(3));
    let l = cr.metadata.labels.clone().expect("labels");
    assert_eq!(
        l.get("controller-revision-hash").map(String::as_str),
        Some("h1")
    );
    assert_eq!(l.get("app").map(String::as_str), Some("agent"));
    assert_eq!(cr.data.0["spec"]["template"]["$patch"], "replace");
    assert_eq!(
        cr.data.0["spec"]["template"]["spec"]["containers"][0]["image"],
        "agent:v1"
    );
    assert!(revision_matches(&cr, &ds));
    let mut changed = ds.clone();
    set_image(&mut changed, "agent:v2");
    assert!(!revision_matches(&cr, &changed));
    // Upstream keeps `creationTimestamp: null` inside the template; that still matches.
    let mut upstream = cr.clone();
    upstream.data.0["spec"]["template"]["metadata"]["creationTimestamp"] = serde_json::Value::Null;
    assert!(revision_matches(&upstream, &ds));
    assert_eq!(revision_data(&ds), cr.data.0);
}

fn revisions_of(sim: &Sim) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = sim
        .revisions
        .iter()
        .map(|c| {
            (
                c.data.0["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                c.revision.unwrap_or(0),
            )
        })
        .collect();
    v.sort_by_key(|(_, r)| *r);
    v
}

#[test]
fn rollback_renumbers_the_old_revision_instead_of_creating_one() {
    let mut sim = Sim::new(daemonset(), vec![node("n1", &[], vec![])]);
    sim.converge(20);
    assert_eq!(revisions_of(&sim), vec![("agent:v1".to_owned(), 1)]);
    set_image(&mut sim.ds, "agent:v2");
    sim.converge(20);
    assert_eq!(
        revisions_of(&sim),
        vec![("agent:v1".to_owned(), 1), ("agent:v2".to_owned(), 2)]
    );
    let v1_pod_hash = template_hash(&daemonset().spec.template, None);
    set_image(&mut sim.ds, "agent:v1");
    let plan = sim.plan();
    assert!(
        plan.revision_writes
            .iter()
            .all(|w| !matches!(w, RevisionWrite::Create(_))),
        "no new revision"
    );
    assert_eq!(
        plan.current_hash, v1_pod_hash,
        "the old revision's hash is current again"
    );
    sim.converge(20);
    assert_eq!(
        revisions_of(&sim),
        vec![("agent:v2".to_owned(), 2), ("agent:v1".to_owned(), 3)]
    );
    assert!(
        sim.pods
            .iter()
            .all(|p| pod_hash(p) == Some(v1_pod_hash.as_str()))
    );
}

#[test]
fn hash_collision_bumps_collision_count_and_new_hash_differs() {
    let ds = daemonset();
    let hash = template_hash(&ds.spec.template, None);
    let mut squatter = new_revision(&ds, &hash, 1);
    squatter.data.0["spec"]["template"]["spec"]["containers"][0]["image"] = "other".into();
    squatter.metadata.owner_references = None;
    squatter.metadata.labels = Some(labels(&[("someone", "else")]));
    squatter.metadata.uid = Some("squatter".to_owned());
    let mut sim = Sim::new(ds, vec![node("n1", &[], vec![])]);
    sim.revisions.push(squatter);
    sim.step();
    assert_eq!(sim.collisions, 1);
    assert_eq!(
        sim.ds.status.as_ref().and_then(|s| s.collision_count),
        Some(1)
    );
    let plan = sim.step();
    assert_ne!(plan.current_hash, hash);
    assert_eq!(
        plan.current_hash,
        template_hash(&sim.ds.spec.template, Some(1))
    );
    sim.converge(20);
    assert_eq!(sim.revisions.len(), 2, "squatter untouched, ours created");
}

#[test]
fn duplicate_current_revisions_keep_highest_and_relabel_pods() {
    let ds = daemonset();
    let mut low = new_revision(&ds, "aaa", 1);
    low.metadata.uid = Some("low".to_owned());
    let mut high = new_revision(&ds, "bbb", 2);
    high.metadata.uid = Some("high".to_owned());
    let pods = [
        pod("p1", "n1", "aaa", 0, Some(0)),
        pod("p2", "n2", "bbb", 0, Some(0)),
    ];
    let out = construct_history(&ds, &[&low, &high], &pods.iter().collect::<Vec<_>>());
    assert_eq!(out.current_hash, "bbb");
    assert_eq!(
        out.writes,
        vec![RevisionWrite::Delete(everynode_daemonset::ObjectRef {
            name: "agent-aaa".to_owned(),
            uid: "low".to_owned()
        })]
    );
    assert_eq!(out.relabels.len(), 1);
    assert_eq!(out.relabels[0].target.name, "p1");
    assert_eq!(out.relabels[0].hash, "bbb");
}

#[test]
fn legacy_revision_without_hash_label_gets_its_name() {
    let ds = daemonset();
    let mut cr = new_revision(&ds, "x", 1);
    cr.metadata.labels = Some(labels(&[("app", "agent")]));
    cr.metadata.uid = Some("u".to_owned());
    let out = construct_history(&ds, &[&cr], &[]);
    assert_eq!(
        out.writes,
        vec![RevisionWrite::AddHashLabel {
            target: everynode_daemonset::ObjectRef {
                name: "agent-x".to_owned(),
                uid: "u".to_owned()
            },
            hash: "agent-x".to_owned()
        }]
    );
    assert_eq!(out.current_hash, "agent-x");
}

#[test]
fn cleanup_honours_limit_and_keeps_revisions_pods_use() {
    // (limit, hashes used by pods, expected deleted old revisions)
    let cases: Vec<(i32, Vec<&str>, Vec<&str>)> = vec![
        (10, vec![], vec![]),
        (1, vec![], vec!["agent-o1", "agent-o2"]),
        (1, vec!["o1"], vec!["agent-o2", "agent-o3"]),
        (0, vec!["o2"], vec!["agent-o1", "agent-o3"]),
        (0, vec!["o1", "o2", "o3"], vec![]),
    ];
    for (limit, used, want) in cases {
        let mut ds = daemonset();
        ds.spec.revision_history_limit = Some(limit);
        let mut revisions = Vec::new();
        for (i, h) in ["o1", "o2", "o3"].iter().enumerate() {
            let mut other = ds.clone();
            set_image(&mut other, h);
            let mut cr = new_revision(&other, h, i64::try_from(i).unwrap_or(0) + 1);
            cr.metadata.uid = Some((*h).to_owned());
            revisions.push(cr);
        }
        let current_hash = template_hash(&ds.spec.template, None);
        let mut current = new_revision(&ds, &current_hash, 4);
        current.metadata.uid = Some("cur".to_owned());
        revisions.push(current);
        let pods: Vec<_> = used
            .iter()
            .enumerate()
            .map(|(i, h)| pod(&format!("p{i}"), "n1", h, 0, Some(0)))
            .collect();
        let plan = everynode_daemonset::plan(
            &observed(&ds, &[node("n1", &[], vec![])], &pods, &revisions),
            t(100),
        );
        let deleted: Vec<&str> = plan
            .revision_writes
            .iter()
            .filter_map(|w| match w {
                RevisionWrite::Delete(r) => Some(r.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, want, "limit {limit}, used {used:?}");
    }
}
