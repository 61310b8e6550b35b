//! Conformance with the kube-rs client: watcher and reflector, 410 relists, optimistic
//! concurrency, and the REST error contract.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{reflector, watcher};
use serde_json::json;

use common::wait_for;

const DEADLINE: Duration = Duration::from_secs(30);

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "data": {"v": value},
    }))
    .expect("configmap")
}

fn value_of(cm: &ConfigMap) -> String {
    cm.data
        .as_ref()
        .and_then(|d| d.get("v"))
        .cloned()
        .unwrap_or_default()
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_and_reflector_see_every_change_in_order() {
    let ts = common::start().await;
    let client = ts.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let (reader, writer) = reflector::store::<ConfigMap>();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher(api.clone(), watcher::Config::default()).map_ok(move |ev| {
        let _ = tx.send(ev.clone());
        ev
    });
    let task = tokio::spawn(reflector::reflector(writer, stream).for_each(|_| async {}));
    // Start writing only once the watcher has listed, so every change arrives as an event.
    loop {
        match tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("init in time")
        {
            Some(watcher::Event::InitDone) => break,
            Some(_) => {}
            None => panic!("watcher ended"),
        }
    }

    api.create(&PostParams::default(), &cm("a", "0"))
        .await
        .expect("create a");
    for i in 1..=3 {
        let mut current = api.get("a").await.expect("get a");
        current.data = Some(BTreeMap::from([("v".to_string(), i.to_string())]));
        api.replace("a", &PostParams::default(), &current)
            .await
            .expect("replace a");
    }
    api.create(&PostParams::default(), &cm("b", "x"))
        .await
        .expect("create b");
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete a");

    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("delete a") {
        let ev = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("event in time")
            .expect("stream open");
        match ev {
            watcher::Event::Apply(o) => seen.push(format!(
                "apply {} {}",
                o.metadata.name.clone().unwrap_or_default(),
                value_of(&o)
            )),
            watcher::Event::Delete(o) => seen.push(format!(
                "delete {}",
                o.metadata.name.clone().unwrap_or_default()
            )),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "apply a 0",
            "apply a 1",
            "apply a 2",
            "apply a 3",
            "apply b x",
            "delete a"
        ]
    );
    let names = wait_for("reflector to converge", DEADLINE, || {
        let state = reader.state();
        async move {
            let names: Vec<String> = state
                .iter()
                .filter_map(|o| o.metadata.name.clone())
                .collect();
            (names == ["b"]).then_some(names)
        }
    })
    .await;
    assert_eq!(names, ["b"]);
    task.abort();
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_too_old_resource_version_gets_an_in_stream_410_and_the_watcher_relists() {
    let ts = common::start_with_window(8).await;
    let client = ts.client().await;
    create_namespace(&client, "quiet").await;
    create_namespace(&client, "busy").await;
    let busy: Api<ConfigMap> = Api::namespaced(client.clone(), "busy");
    let quiet: Api<ConfigMap> = Api::namespaced(client.clone(), "quiet");
    quiet
        .create(&PostParams::default(), &cm("first", "1"))
        .await
        .expect("create");
    let listed = quiet.list(&ListParams::default()).await.expect("list");
    let old_rv = listed.metadata.resource_version.clone().expect("list rv");
    for i in 0..20 {
        busy.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .expect("create busy");
    }

    // A raw watch from the old revision: HTTP 200, then one ERROR event with code 410.
    let mut raw = quiet
        .watch(&WatchParams::default(), &old_rv)
        .await
        .expect("watch accepted")
        .boxed();
    match tokio::time::timeout(DEADLINE, raw.next())
        .await
        .expect("event in time")
    {
        Some(Ok(WatchEvent::Error(e))) => {
            assert_eq!(e.code, 410);
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    // The watcher: its watch times out after 1 s, the busy namespace pushes its revision out
    // of the window meanwhile, and the re-watch gets 410, so it must relist to see "second".
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(
        watcher(quiet.clone(), watcher::Config::default().timeout(1)).for_each(move |ev| {
            let _ = tx.send(ev.map_err(|e| e.to_string()));
            async {}
        }),
    );
    let mut inits = 0;
    while inits < 1 {
        if let Ok(watcher::Event::InitDone) = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("init")
            .expect("open")
        {
            inits += 1;
        }
    }
    for i in 20..40 {
        busy.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .expect("create busy");
    }
    let mut saw_expired_relist = false;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !saw_expired_relist {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("relist in time")
            .expect("open");
        if let Ok(watcher::Event::InitDone) = ev {
            saw_expired_relist = true;
        }
    }
    task.abort();
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_from_one_resource_version_exactly_one_wins() {
    let ts = common::start().await;
    let client = ts.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("race", "start"))
        .await
        .expect("create");
    let base = api.get("race").await.expect("get");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let api = api.clone();
        let mut mine = base.clone();
        mine.data = Some(BTreeMap::from([("v".to_string(), format!("writer-{i}"))]));
        tasks.push(tokio::spawn(async move {
            api.replace("race", &PostParams::default(), &mine).await
        }));
    }
    let mut wins = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(o) => wins.push(value_of(&o)),
            Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "Conflict" => conflicts += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, 7);
    assert_eq!(value_of(&api.get("race").await.expect("get")), wins[0]);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_router_client_serves_the_same_api() {
    let ts = common::start().await;
    let client = kube::Client::new(ts.server.router(), "default");
    let namespaces: Api<Namespace> = Api::all(client);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for want in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    ts.stop().await;
}

async fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_status_objects_with_upstream_codes_and_reasons() {
    let ts = common::start().await;
    let client = ts.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (code, reason, msg) = api_error(cms.get("missing").await).await;
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (404, "NotFound", "configmaps \"missing\" not found")
    );

    cms.create(&PostParams::default(), &cm("dup", "1"))
        .await
        .expect("create");
    let (code, reason, _) =
        api_error(cms.create(&PostParams::default(), &cm("dup", "1")).await).await;
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let (code, _, msg) =
        api_error(nowhere.create(&PostParams::default(), &cm("x", "1")).await).await;
    assert_eq!(
        (code, msg.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );

    let lp = ListParams::default().fields("spec.bogus=1");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (code, _, msg) = api_error(pods.list(&lp).await).await;
    assert_eq!(
        (code, msg.as_str()),
        (400, "field label not supported: spec.bogus")
    );

    let big = cm("big", &"x".repeat(3 * 1024 * 1024 + 10));
    let (code, reason, _) = api_error(cms.create(&PostParams::default(), &big).await).await;
    assert_eq!((code, reason.as_str()), (413, "RequestEntityTooLarge"));

    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let bad: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "bad"},
        "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }))
    .expect("ds");
    let (code, reason, msg) = api_error(ds.create(&PostParams::default(), &bad).await).await;
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        msg.starts_with("DaemonSet.apps \"bad\" is invalid: spec.template.metadata.labels"),
        "{msg}"
    );
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_limit_and_continue_are_a_consistent_snapshot() {
    let ts = common::start().await;
    let client = ts.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("p{i}"), "1"))
            .await
            .expect("create");
    }
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("continue token");
    // Changes after the first page must not show up in later pages.
    api.create(&PostParams::default(), &cm("p9", "1"))
        .await
        .expect("create later");
    api.delete("p4", &DeleteParams::default())
        .await
        .expect("delete");
    let mut names: Vec<String> = first
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    let mut token = Some(token);
    while let Some(t) = token {
        let page = api
            .list(&ListParams::default().limit(2).continue_token(&t))
            .await
            .expect("next page");
        assert_eq!(
            page.metadata.resource_version,
            first.metadata.resource_version
        );
        names.extend(page.items.iter().filter_map(|o| o.metadata.name.clone()));
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_priority_binding_and_graceful_deletion() {
    let ts = common::start().await;
    let client = ts.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "n1"}})).expect("node"),
        )
        .await
        .expect("node");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"generateName": "agent-"},
        "spec": {"priorityClassName": "system-node-critical", "containers": [{"name": "c", "image": "img:1"}]},
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    let name = created.metadata.name.clone().expect("generated name");
    assert!(
        name.starts_with("agent-") && name.len() == "agent-".len() + 5,
        "{name}"
    );
    let spec = created.spec.clone().expect("spec");
    assert_eq!(spec.priority, Some(2_000_001_000));
    assert_eq!(
        created.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );

    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": "n1"}});
    let path = format!("/api/v1/namespaces/default/pods/{name}/binding");
    let req = http::Request::post(&path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&binding).expect("json"))
        .expect("request");
    client.request_text(req).await.expect("bound");
    let req = http::Request::post(&path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&binding).expect("json"))
        .expect("request");
    match client.request_text(req).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409),
        other => panic!("second binding must conflict: {other:?}"),
    }
    let bound = pods.get(&name).await.expect("get");
    assert_eq!(
        bound.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("n1")
    );

    // Graceful delete of a bound pod leaves it terminating for the kubelet.
    pods.delete(&name, &DeleteParams::default())
        .await
        .expect("graceful delete");
    let terminating = pods.get(&name).await.expect("still there");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    pods.delete(
        &name,
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .expect("force delete");
    let (code, _, _) = api_error(pods.get(&name).await).await;
    assert_eq!(code, 404);
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_and_orphan_deletes_keep_the_object_until_finalizers_are_removed() {
    let ts = common::start().await;
    let client = ts.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (name, dp, finalizer) in [
        ("fg", DeleteParams::foreground(), "foregroundDeletion"),
        ("orph", DeleteParams::orphan(), "orphan"),
    ] {
        api.create(&PostParams::default(), &cm(name, "1"))
            .await
            .expect("create");
        api.delete(name, &dp).await.expect("delete accepted");
        let held = api.get(name).await.expect("kept while finalizers remain");
        assert!(held.metadata.deletion_timestamp.is_some(), "{name}");
        assert_eq!(
            held.metadata.finalizers.as_deref(),
            Some(&[finalizer.to_string()][..])
        );
        let patch = json!({"metadata": {"finalizers": null}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("remove finalizer");
        let (code, _, _) = api_error(api.get(name).await).await;
        assert_eq!(
            code, 404,
            "{name} is gone once its last finalizer is removed"
        );
    }
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selector_watches_turn_label_changes_into_added_and_deleted() {
    let ts = common::start().await;
    let client = ts.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &cm("sel", "1"))
        .await
        .expect("create");
    let rv = created.metadata.resource_version.clone().expect("rv");
    let mut stream = api
        .watch(&WatchParams::default().labels("role=x"), &rv)
        .await
        .expect("watch")
        .boxed();
    for labels in [
        json!({"role": "x"}),
        json!({"role": "x", "more": "1"}),
        json!({"role": "y"}),
    ] {
        let patch = json!({"metadata": {"labels": labels}});
        api.patch("sel", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch");
    }
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("event")
            .expect("open")
            .expect("ok")
        {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            _ => {}
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    ts.stop().await;
}
