//! Every benchmark runs briefly, so none can rot.

use super::*;

#[test]
fn bench_api_reports_runs_per_second_for_each_way_in() {
    let dir = tempfile::tempdir().unwrap();
    let output = trellis(&["bench", "api", "--runs", "12", "--json"], dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = stdout_json(&output);
    let results = report["results"].as_array().unwrap();
    let ways: Vec<(&str, u64)> =
        results.iter().map(|r| (r["via"].as_str().unwrap(), r["connections"].as_u64().unwrap())).collect();
    assert_eq!(ways, [("webhook", 1), ("webhook", 4), ("api ?wait", 1), ("api ?wait", 4)]);
    assert!(results.iter().all(|r| r["runs_per_sec"].as_f64().unwrap() > 0.0), "{report}");
    // Each line carries the floor measured before it, and its ratio to it.
    for r in results {
        assert!(r["floor_run_ms"].as_f64().unwrap() > 0.0, "{report}");
        let ratio = r["latency_to_floor"].as_f64().unwrap();
        let expected = 1000.0 / r["runs_per_sec"].as_f64().unwrap() / r["floor_run_ms"].as_f64().unwrap();
        assert!((ratio - expected).abs() < 1e-6 * expected.max(1.0), "{report}");
    }
    assert_eq!(report["goal_wait_ratio"], 2.0);
    assert_eq!(report["goal_webhook_share_of_floor"], 0.5);
}

/// Every benchmark runs, briefly, so none can rot: each prints its figures
/// and a verdict, and with `--check` its exit status follows the verdict
/// (a debug build on a loaded machine may well miss a goal: either way the
/// two must agree).
#[test]
fn every_benchmark_runs_and_its_check_follows_its_verdict() {
    let cache = tempfile::tempdir().unwrap();
    let benches: [&[&str]; 6] = [
        &["bench", "node", "--iterations", "3", "--check"],
        &["bench", "engine", "--runs", "2", "--check"],
        &["bench", "api", "--runs", "5", "--check"],
        &["bench", "hostile", "--samples", "2", "--only", "expression-string", "--check"],
        &["bench", "agent", "--runs", "2", "--check"],
        &["bench", "waiting", "--runs", "40", "--idle-secs", "2", "--check"],
    ];
    for args in benches {
        let output = trellis(args, cache.path());
        let stdout = String::from_utf8_lossy(&output.stdout);
        let context = format!("{args:?}: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
        let met = stdout.lines().any(|l| l == "verdict: goal met");
        let missed = stdout.lines().any(|l| l == "verdict: goal missed");
        assert!(met != missed, "one verdict line: {context}");
        assert_eq!(output.status.code(), Some(if met { 0 } else { 1 }), "{context}");
        assert!(stdout.lines().count() >= 3, "figures printed: {context}");
    }
    // The cluster's, where a PostgreSQL server is at hand.
    if let Ok(url) = std::env::var("TRELLIS_TEST_POSTGRES_URL") {
        let args = ["bench", "cluster", "--database", &url, "--runs", "6", "--latency-ms", "20", "--check"];
        let output = trellis(&args, cache.path());
        let stdout = String::from_utf8_lossy(&output.stdout);
        let context = format!("{stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
        let met = stdout.lines().any(|l| l == "verdict: goal met");
        assert!(met != stdout.lines().any(|l| l == "verdict: goal missed"), "one verdict line: {context}");
        assert_eq!(output.status.code(), Some(if met { 0 } else { 1 }), "{context}");
        assert!(stdout.contains("3 workers:"), "{context}");
    }
    // Without --check a missed goal still exits 0, and JSON carries the verdict.
    let output = trellis(&["bench", "node", "--iterations", "3", "--json"], cache.path());
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout_json(&output)["goal_met"].is_boolean());
}
