//! `trellis serve` and `trellis admin`: first start, requests, the
//! operator's file, resuming after SIGKILL.

use super::*;

#[test]
fn admin_create_tenant_prints_credentials_once_and_refuses_a_taken_email() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["admin", "create-tenant", "Acme", "--owner", "Owner@Acme.test", "--data-dir", data.to_str().unwrap()];
    let output = trellis(&args, dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created = stdout_json(&output);
    assert_eq!(created["owner_email"], "owner@acme.test");
    assert!(created["api_key"].as_str().unwrap().starts_with("trk_"));
    assert!(created["owner_password"].as_str().unwrap().len() >= 32);
    let again = trellis(&args, dir.path());
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // The operator sets the tenant's quotas; unnamed ones keep their values.
    let tenant = created["tenant_id"].as_str().unwrap();
    let data = data.to_str().unwrap();
    let set = |limits: &str, tenant: &str| {
        trellis(&["admin", "set-plan", tenant, "--limits", limits, "--data-dir", data], dir.path())
    };
    let plan = stdout_json(&set(r#"{"runs_per_day": 10}"#, tenant));
    assert_eq!((plan["runs_per_day"].as_u64(), plan["concurrent_runs"].as_u64()), (Some(10), Some(500)));
    let plan = stdout_json(&set(r#"{"concurrent_runs": 3}"#, tenant));
    assert_eq!((plan["runs_per_day"].as_u64(), plan["concurrent_runs"].as_u64()), (Some(10), Some(3)));
    let unknown = set(r#"{"runs_a_day": 1}"#, tenant);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown quota"));
    assert_eq!(set("{}", "no-such-tenant").status.code(), Some(2));
}

#[test]
fn first_start_prints_the_next_steps_once_and_requests_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, lines) = spawn_serve_lines(&data, dir.path());
    let (listening, _) = lines_until(&lines, |l| l.starts_with("trellis listening on http://"));
    let address = listening.trim_start_matches("trellis listening on http://").to_owned();
    let (docs, _) = lines_until(&lines, |l| l.starts_with("API docs:"));
    assert_eq!(docs, format!("API docs: http://{address}/docs (OpenAPI: http://{address}/openapi.json)"));
    let (curl, steps) = lines_until(&lines, |l| l.trim_start().starts_with("curl "));
    assert!(steps[0].starts_with("No tenant yet."), "{steps:?}");

    // The printed command, run exactly as printed, makes a tenant whose key works.
    let command = steps.iter().find(|l| l.contains(" admin create-tenant ")).expect("the create-tenant command");
    let words: Vec<&str> = command.split_whitespace().collect();
    let output = Command::new(words[0]).args(&words[1..]).env("XDG_CACHE_HOME", dir.path()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = stdout_json(&output)["api_key"].as_str().unwrap().to_owned();
    assert!(curl.contains(&format!("http://{address}/v1/me")), "{curl}");
    let (status, me) = http(&address, "GET", "/v1/me", Some(&key), None);
    assert_eq!(status, 200, "{me}");

    // One JSON line per request at the default level.
    let (logged, _) = lines_until(&lines, |l| l.contains("finished processing request") && l.contains("/v1/me"));
    let logged: Value = serde_json::from_str(&logged).unwrap();
    assert_eq!(logged["level"], "INFO", "{logged}");
    assert_eq!(logged["fields"]["status"], 200, "{logged}");
    assert!(logged["fields"]["latency"].as_str().is_some_and(|l| l.ends_with("μs")), "{logged}");
    assert_eq!((&logged["span"]["method"], &logged["span"]["path"]), (&json!("GET"), &json!("/v1/me")), "{logged}");
    assert!(uuid::Uuid::parse_str(logged["span"]["request_id"].as_str().unwrap()).is_ok(), "{logged}");
    child.kill().unwrap();
    child.wait().unwrap();

    // With a tenant, the next start says where it is and nothing more.
    let (mut child, lines) = spawn_serve_lines(&data, dir.path());
    let (listening, _) = lines_until(&lines, |l| l.starts_with("trellis listening on http://"));
    let address = listening.trim_start_matches("trellis listening on http://").to_owned();
    assert_eq!(http(&address, "GET", "/healthz", None, None).0, 200);
    let (_, between) = lines_until(&lines, |l| l.contains("finished processing request"));
    assert!(between.iter().all(|l| !l.contains("No tenant") && !l.contains("create-tenant")), "{between:#?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_answers_health_checks_and_authenticated_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = stdout_json(&trellis(
        &["admin", "create-tenant", "Acme", "--owner", "o@acme.test", "--data-dir", data.to_str().unwrap()],
        dir.path(),
    ));
    let (mut child, address) = spawn_listening(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()],
        dir.path(),
        "trellis listening on http://",
    );
    let (status, health) = http(&address, "GET", "/healthz", None, None);
    assert_eq!(status, 200, "{health}");
    let (status, me) = http(&address, "GET", "/v1/me", Some(created["api_key"].as_str().unwrap()), None);
    assert!(status == 200 && me.to_string().contains("\"owner\""), "{me}");
    assert_eq!(http(&address, "GET", "/v1/me", None, None).0, 401);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_takes_the_operators_config_file_and_refuses_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[http]\nalowed_hosts = [\"*\"]\n").unwrap();
    let refused =
        trellis(&["serve", "--config", bad.to_str().unwrap(), "--data-dir", data.to_str().unwrap()], dir.path());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("at `http.alowed_hosts`: unknown field"), "{stderr}");

    // The file's plan is every tenant's default, and its listen address is used.
    let config = dir.path().join("trellis.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n[plan]\npayload_bytes = 100\n[execution]\nslots = 2\nsandbox_instances = 4\n"
        ),
    )
    .unwrap();
    let created = stdout_json(&trellis(
        &["admin", "create-tenant", "Acme", "--owner", "o@acme.test", "--data-dir", data.to_str().unwrap()],
        dir.path(),
    ));
    let key = created["api_key"].as_str().unwrap().to_owned();
    let (mut child, address) =
        spawn_listening(&["serve", "--config", config.to_str().unwrap()], dir.path(), "trellis listening on http://");
    let (_, plan) = http(&address, "GET", "/v1/plan", Some(&key), None);
    assert_eq!(plan["plan"]["payload_bytes"], 100, "{plan}");
    let workflow = json!({"id": "greet", "nodes": [{"id": "hi", "uses": "trellis/transform", "kind": "render",
        "config": {"template": "hi"}}]});
    let (status, saved) = http(&address, "POST", "/v1/workflows", Some(&key), Some(workflow));
    assert_eq!(status, 201, "{saved}");
    let big = json!({"input": {"pad": "x".repeat(200)}});
    let (status, refused) = http(&address, "POST", "/v1/workflows/greet/runs", Some(&key), Some(big));
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["details"]["quota"], "payload_bytes");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `trellis serve` resumes what a killed server left: a run waiting for an
/// approval is decided after a restart, and a delay under way when the
/// server is killed again ends at its time after the next start; the node
/// after it runs once.
#[test]
fn serve_resumes_a_waiting_approval_and_a_delay_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let created = stdout_json(&trellis(
        &["admin", "create-tenant", "Acme", "--owner", "o@acme.test", "--data-dir", data],
        dir.path(),
    ));
    let key = created["api_key"].as_str().unwrap().to_owned();
    let serve = || {
        spawn_listening(
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", data],
            dir.path(),
            "trellis listening on http://",
        )
    };
    let (mut child, address) = serve();
    let held = json!({"id": "held", "nodes": [
        {"id": "gate", "builtin": "approval"},
        {"id": "pause", "builtin": "delay", "config": {"ms": 1500}},
        {"id": "done", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "done"}}],
      "edges": [{"from": "gate", "port": "approved", "to": "pause"}, {"from": "pause", "to": "done"}]});
    assert_eq!(http(&address, "POST", "/v1/workflows", Some(&key), Some(held)).0, 201);
    let (status, started) = http(&address, "POST", "/v1/workflows/held/runs", Some(&key), Some(json!({"input": {}})));
    assert_eq!(status, 202, "{started}");
    let run = started["run"]["id"].as_str().or_else(|| started["run_id"].as_str()).unwrap().to_owned();
    poll_run(&address, &key, &run, |r| node_status(r, "gate") == "waiting");
    child.kill().unwrap(); // SIGKILL, with the approval waiting
    child.wait().unwrap();

    let (mut child, address) = serve();
    let (status, decided) =
        http(&address, "POST", &format!("/v1/runs/{run}/approvals/gate"), Some(&key), Some(json!({"approved": true})));
    assert_eq!(status, 200, "{decided}");
    let approved_at = std::time::Instant::now();
    let waiting = poll_run(&address, &key, &run, |r| node_status(r, "pause") == "waiting");
    let pause =
        |run: &Value| run["nodes"].as_array().unwrap().iter().find(|n| n["node_id"] == "pause").unwrap().clone();
    assert!(!pause(&waiting)["wake_at"].is_null(), "{waiting}");
    child.kill().unwrap(); // SIGKILL, in the middle of the delay
    child.wait().unwrap();

    let (mut child, address) = serve();
    let finished = poll_run(&address, &key, &run, |r| r["run"]["status"] == "succeeded");
    assert!(approved_at.elapsed() >= std::time::Duration::from_millis(1500), "the delay was cut short");
    // Its whole time, from when it started before the kill.
    let finished_pause = pause(&finished);
    let ms = |at: &Value| chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap()).unwrap().timestamp_millis();
    let took = ms(&finished_pause["finished_at"]) - ms(&finished_pause["started_at"]);
    assert!(took >= 1500, "{finished_pause}");
    let done = finished["nodes"].as_array().unwrap().iter().find(|n| n["node_id"] == "done").unwrap();
    assert_eq!(done["attempt"], 1, "{finished}");
    assert_eq!(finished["run"]["output"], "done", "{finished}");
    child.kill().unwrap();
    child.wait().unwrap();
}
