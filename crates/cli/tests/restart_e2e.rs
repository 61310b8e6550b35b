//! Fault tolerance end to end: SIGKILL `everynode up` in the middle of a rolling update, start it
//! again on the same data directory and port, and the rollout completes with no duplicate pod on
//! any node and the budget held throughout, as observed from outside by a reconnecting watcher.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    PodObserver, Up, UpOptions, describe_pods, fixture, pod_image, pod_is_available,
    pod_target_node, pods, str_at,
};

const OLD_IMAGE: &str = "registry.example/restart:1";
const NEW_IMAGE: &str = "registry.example/restart:2";

#[test]
fn sigkill_mid_rollout_resumes_without_duplicates_or_budget_overrun() {
    let mut up = Up::start(UpOptions::nodes(6).start_delay(Duration::from_secs(1)));
    let kubectl = up.kubectl();
    let nodes = up.wait_for_ready_nodes(6);
    kubectl.apply(&fixture("restart.yaml"));
    kubectl.ok(["rollout", "status", "ds/restart", "--timeout=90s"]);

    let observer = PodObserver::start(up.kubeconfig(), "default", "app=restart", &nodes);
    kubectl.ok(["set", "image", "ds/restart", &format!("app={NEW_IMAGE}")]);

    // Mid-rollout: some node already runs an available new pod, some still run the old one.
    let updated_before_kill: BTreeSet<String> = observer.wait_for(
        "the rollout to be part-way through",
        Duration::from_secs(60),
        |pods| {
            let new_ready: BTreeSet<String> = pods
                .iter()
                .filter(|p| pod_image(p) == NEW_IMAGE && pod_is_available(p))
                .filter_map(|p| p.metadata.uid.clone())
                .collect();
            let old_left = pods.iter().any(|p| pod_image(p) == OLD_IMAGE);
            if !new_ready.is_empty() && old_left {
                Ok(new_ready)
            } else {
                Err(describe_pods(pods))
            }
        },
    );
    up.kill();
    let before_restart = observer.observations();
    up.start_again();

    let out = kubectl.ok(["rollout", "status", "ds/restart", "--timeout=120s"]);
    assert!(
        out.contains("daemon set \"restart\" successfully rolled out"),
        "rollout status printed: {out}"
    );
    // It was still mid-rollout when the plane came back (one node per start delay remains).
    assert!(
        out.contains("Waiting for daemon set \"restart\" rollout to finish"),
        "rollout status saw no rollout in progress after the restart: {out}"
    );
    let count = nodes.len();
    observer.wait_for(
        "one available new pod on every node",
        Duration::from_secs(60),
        |pods| {
            let on: BTreeSet<String> = pods
                .iter()
                .filter(|p| pod_image(p) == NEW_IMAGE && pod_is_available(p))
                .filter_map(pod_target_node)
                .collect();
            if pods.len() == count && on.len() == count {
                Ok(())
            } else {
                Err(describe_pods(pods))
            }
        },
    );
    let seen = observer.stop();
    eprintln!("observed: {seen:?}");
    assert!(
        seen.moments > before_restart.moments,
        "the observer saw nothing of the second run: {seen:?}"
    );
    assert!(
        seen.max_unavailable <= 1,
        "maxUnavailable 1 exceeded: {}",
        seen.worst_unavailable
    );
    assert_eq!(
        seen.max_live_per_node, 1,
        "a node carried two live pods: {}",
        seen.worst_crowding
    );

    // The final state as kubectl sees it: one pod per node, all on the new image.
    let final_pods = pods(&kubectl, "default", "app=restart");
    let placed: Vec<&str> = final_pods
        .iter()
        .map(|p| str_at(p, "/spec/nodeName"))
        .collect();
    let distinct: BTreeSet<&str> = placed.iter().copied().collect();
    assert_eq!(placed.len(), count, "pods: {placed:?}");
    assert_eq!(distinct.len(), count, "duplicate pods: {placed:?}");
    assert!(
        final_pods
            .iter()
            .all(|p| str_at(p, "/spec/containers/0/image") == NEW_IMAGE),
        "not every pod runs {NEW_IMAGE}"
    );
    // Pods updated before the kill were kept: the resumed rollout did not redo finished nodes.
    let final_uids: BTreeSet<&str> = final_pods
        .iter()
        .map(|p| str_at(p, "/metadata/uid"))
        .collect();
    for uid in &updated_before_kill {
        assert!(
            final_uids.contains(uid.as_str()),
            "pod {uid}, updated before the kill, was replaced after the restart"
        );
    }
    assert!(up.is_running(), "everynode up exited after the restart");
}
