//! `everynode bench converge` and `everynode bench rollout` at small N, as child processes:
//! each must finish, print exactly one JSON line, and report figures that make sense
//! (everything desired is available, the unavailability budget held, costs are positive).
//!
//! The figures themselves are not asserted against targets here: timing belongs in
//! benchmarks, not tests.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_everynode");

/// Upper bound for one small benchmark run (it normally takes about a second).
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// Runs `everynode bench <args>` and returns its single JSON line, parsed.
fn bench(args: &[&str]) -> Value {
    let mut cmd = Command::new(BIN);
    cmd.arg("bench").args(args).arg("--timeout").arg("90s");
    let output = assert_cmd::Command::from_std(cmd)
        .timeout(RUN_DEADLINE)
        .output()
        .expect("running everynode bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "everynode bench {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one JSON line, got: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
}

fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

fn float(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {v}"))
}

/// Figures every benchmark reports about its cost.
fn assert_costs_positive(v: &Value) {
    for field in [
        "api_requests",
        "api_writes",
        "store_commits",
        "store_writes",
    ] {
        assert!(int(v, field) > 0, "{field} should be positive: {v}");
    }
    assert!(
        int(v, "api_writes") <= int(v, "api_requests"),
        "writes are a subset of requests: {v}"
    );
    assert!(
        int(v, "store_commits") <= int(v, "store_writes"),
        "a commit carries at least one write: {v}"
    );
    for field in [
        "cpu_seconds",
        "peak_rss_mb",
        "rss_mb",
        "setup_seconds",
        "controller_busy_seconds",
    ] {
        assert!(float(v, field) > 0.0, "{field} should be positive: {v}");
    }
}

#[test]
fn converge_reports_every_daemonset_available_on_every_node() {
    // (nodes, daemonsets, start delay)
    let table = [(20, 1, "0s"), (20, 2, "100ms")];
    for (nodes, daemonsets, delay) in table {
        let v = bench(&[
            "converge",
            "--nodes",
            &nodes.to_string(),
            "--daemonsets",
            &daemonsets.to_string(),
            "--start-delay",
            delay,
        ]);
        let case = format!("{nodes} nodes, {daemonsets} DaemonSets, delay {delay}: {v}");
        assert_eq!(v["bench"], "converge", "{case}");
        assert_eq!(int(&v, "nodes"), nodes, "{case}");
        assert_eq!(int(&v, "daemonsets"), daemonsets, "{case}");
        let pods = nodes * daemonsets;
        assert_eq!(int(&v, "desired"), pods, "{case}");
        assert_eq!(int(&v, "available"), int(&v, "desired"), "{case}");
        assert_eq!(int(&v, "updated"), pods, "{case}");
        assert!(float(&v, "wall_seconds") > 0.0, "{case}");
        // Every pod is at least created, bound and set running by some component.
        assert!(int(&v, "api_writes") >= 3 * pods, "{case}");
        assert!(int(&v, "controller_api_calls") >= pods, "{case}");
        assert_costs_positive(&v);
    }
}

#[test]
fn rollout_finishes_within_its_unavailability_budget() {
    // (max unavailable, max surge, start delay, min ready seconds, expected budget, batch)
    let table = [
        ("25%", "0", "100ms", "0", 5, 5),
        ("3", "0", "0s", "0", 3, 3),
        ("0", "5", "100ms", "0", 0, 5),
        ("50%", "0", "0s", "1", 10, 10),
    ];
    for (max_unavailable, max_surge, delay, min_ready, budget, batch) in table {
        let v = bench(&[
            "rollout",
            "--nodes",
            "20",
            "--max-unavailable",
            max_unavailable,
            "--max-surge",
            max_surge,
            "--start-delay",
            delay,
            "--min-ready-seconds",
            min_ready,
        ]);
        let case = format!(
            "maxUnavailable {max_unavailable}, maxSurge {max_surge}, delay {delay}, \
             minReadySeconds {min_ready}: {v}"
        );
        assert_eq!(v["bench"], "rollout", "{case}");
        assert_eq!(int(&v, "budget"), budget, "{case}");
        assert_eq!(int(&v, "batch"), batch, "{case}");
        assert_eq!(int(&v, "desired"), 20, "{case}");
        assert_eq!(int(&v, "available"), 20, "{case}");
        assert_eq!(int(&v, "updated"), 20, "{case}");
        assert!(
            int(&v, "max_unavailable_observed") <= budget,
            "budget exceeded: {case}"
        );
        assert_eq!(v["budget_held"], true, "{case}");
        assert!(float(&v, "rollout_seconds") > 0.0, "{case}");
        assert!(float(&v, "converge_seconds") > 0.0, "{case}");
        // Every node's pod is replaced: at least a create and a delete per node.
        assert!(int(&v, "controller_api_calls") >= 40, "{case}");
        let bound = float(&v, "bound_seconds");
        match v["ratio"].as_f64() {
            Some(ratio) => {
                assert!(bound > 0.0, "{case}");
                assert!(ratio > 0.0, "{case}");
                // A rollout cannot beat its bound by much: each step waits for the start
                // delay and minReadySeconds (second-granular timestamps can shave < 1 s).
                assert!(
                    float(&v, "rollout_seconds") + 1.0 >= bound,
                    "faster than physically possible: {case}"
                );
            }
            None => assert_eq!(bound, 0.0, "{case}"),
        }
        assert_costs_positive(&v);
    }
}

#[test]
fn bench_rejects_bad_budgets_with_a_usage_error() {
    let table = [
        vec!["rollout", "--max-unavailable", "ten"],
        vec!["rollout", "--max-surge", "-1"],
        vec!["converge", "--nodes", "many"],
    ];
    for args in table {
        let output = assert_cmd::Command::new(BIN)
            .arg("bench")
            .args(&args)
            .timeout(RUN_DEADLINE)
            .output()
            .expect("running everynode bench");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
