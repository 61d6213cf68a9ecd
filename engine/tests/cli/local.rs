//! The local commands: `node run`, `node test`, `plugin inspect`, `run`,
//! `validate`, `schema`.

use super::*;

#[test]
fn node_run_prints_emits_and_report() {
    let cache = tempfile::tempdir().unwrap();
    let output = trellis(
        &[
            "node",
            "run",
            "--plugin",
            "trellis/transform",
            "--kind",
            "reshape",
            "--config",
            r#"{"template": {"doubled": "{{ input.n * 2 }}"}}"#,
            "--input",
            r#"{"n": 21}"#,
        ],
        cache.path(),
    );
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let value = stdout_json(&output);
    assert_eq!(value["emits"], json!([{"port": "out", "data": {"doubled": 42}}]));
    assert_eq!(value["report"]["status"], "succeeded");
    assert!(value["report"]["fuel_used"].as_u64().unwrap() > 0);
}

#[test]
fn node_run_failure_has_the_same_shape_and_a_nonzero_exit() {
    let cache = tempfile::tempdir().unwrap();
    let output = trellis(
        &["node", "run", "--plugin", trellis_plugin_artifacts::HOSTILE, "--kind", "spin", "--fuel", "1000000"],
        cache.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let value = stdout_json(&output);
    assert_eq!(value["emits"], json!([]));
    assert_eq!(value["report"]["status"], "failed");
    assert_eq!(value["report"]["failure"]["code"], "fuel_exhausted");
}

#[test]
fn node_run_grants_hosts_and_private_networks_from_flags() {
    // A one-shot HTTP server that checks the configured header arrives.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = vec![0u8; 8192];
        let n = stream.read(&mut request).unwrap();
        let request = String::from_utf8_lossy(&request[..n]).to_ascii_lowercase();
        let body = if request.contains("x-token: s3cret") { "{\"authorized\":true}" } else { "{}" };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    let cache = tempfile::tempdir().unwrap();
    let config = json!({"url": format!("http://127.0.0.1:{port}/check"), "headers": {"x-token": "s3cret"}}).to_string();
    let base = [
        "node",
        "run",
        "--plugin",
        "trellis/http-request",
        "--kind",
        "request",
        "--config",
        &config,
        "--allow-host",
        "127.0.0.1",
    ];
    let output = trellis(&[&base[..], &["--allow-private-network"]].concat(), cache.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let value = stdout_json(&output);
    assert_eq!(value["emits"][0]["data"]["body"], json!({"authorized": true}));
    assert_eq!(value["report"]["http_calls"][0]["status"], 200);
    server.join().unwrap();

    // Without the private-network opt-in the same call is refused.
    let output = trellis(&base, cache.path());
    assert_eq!(output.status.code(), Some(1));
    let value = stdout_json(&output);
    let message = value["report"]["failure"]["message"].as_str().unwrap();
    assert!(message.contains("denied: `127.0.0.1` resolves to 127.0.0.1, a loopback address"), "{message}");
}

#[test]
fn node_run_reads_granted_secrets() {
    let cache = tempfile::tempdir().unwrap();
    let output = trellis(
        &[
            "node",
            "run",
            "--plugin",
            trellis_plugin_artifacts::HOSTILE,
            "--kind",
            "read-secret",
            "--config",
            r#"{"name": "API_KEY"}"#,
            "--secret",
            "API_KEY=abc123",
        ],
        cache.path(),
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    // The node read it (its length) and the printed record has it redacted.
    assert_eq!(stdout_json(&output)["emits"][0]["data"]["value"], "[redacted:API_KEY]");
    assert_eq!(stdout_json(&output)["emits"][0]["data"]["length"], 6);

    // Without the flag the secret is not granted: the read fails the node.
    let args = ["node", "run", "--plugin", trellis_plugin_artifacts::HOSTILE, "--kind", "read-secret"];
    let output = trellis(&[&args[..], &["--config", r#"{"name": "API_KEY"}"#]].concat(), cache.path());
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stdout));
    let failure = stdout_json(&output)["report"]["failure"].clone();
    assert!(failure["message"].as_str().unwrap_or_default().contains("API_KEY"), "{failure}");
    assert!(stdout_json(&output)["emits"].as_array().is_none_or(Vec::is_empty), "{failure}");
}

#[test]
fn second_process_start_loads_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let args =
        ["node", "run", "--plugin", "trellis/transform", "--kind", "render", "--config", r#"{"template": "hi"}"#];
    let first = stdout_json(&trellis(&args, cache.path()));
    let second = stdout_json(&trellis(&args, cache.path()));
    assert_eq!(first["plugin"]["loaded_from"], "compiled");
    assert_eq!(second["plugin"]["loaded_from"], "cache");
    assert_eq!(second["emits"][0]["data"], "hi");
}

#[test]
fn plugin_inspect_prints_describe() {
    let cache = tempfile::tempdir().unwrap();
    let output = trellis(&["plugin", "inspect", "trellis/transform"], cache.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let kinds = stdout_json(&output);
    let names: Vec<&str> = kinds.as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["reshape", "render"]);
    assert_eq!(kinds[0]["config_schema"]["required"], json!(["template"]));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let cache = tempfile::tempdir().unwrap();
    let output = trellis(
        &["node", "run", "--plugin", "trellis/transform", "--kind", "reshape", "--config", "{oops"],
        cache.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--config is not valid JSON"));

    let output = trellis(&["node", "run", "--plugin", "trellis/transform", "--kind", "no-such-kind"], cache.path());
    assert_eq!(output.status.code(), Some(2), "an unknown kind is a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(r#"no node kind "no-such-kind""#) && stderr.contains("render"), "{stderr}");

    let output = trellis(&["plugin", "inspect", "/no/such/file.wasm"], cache.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("neither a component file nor a first-party plugin"));

    let garbage = cache.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();
    let output = trellis(&["plugin", "inspect", garbage.to_str().unwrap()], cache.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("magic bytes"));
}

#[test]
fn schema_workflow_prints_a_json_schema_for_editors() {
    let cache = tempfile::tempdir().unwrap();
    let output = trellis(&["schema", "workflow"], cache.path());
    assert!(output.status.success());
    let schema = stdout_json(&output);
    assert_eq!(schema["title"], "Workflow");
    assert!(schema["properties"]["nodes"].is_object());
    assert_eq!(schema["required"], json!(["id", "nodes"]));
}

#[test]
fn validate_prints_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for example in ["linear-chain.yaml", "map-items.yaml", "approval.yaml"] {
        let file = examples_dir().join(example);
        let output = trellis(&["validate", file.to_str().unwrap(), "--data-dir", data], dir.path());
        assert!(output.status.success(), "{example}: {}", String::from_utf8_lossy(&output.stdout));
    }
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"id": "b", "nodes": [{"id": "a", "uses": "trellis/transform", "kind": "nope"}], "edges": [{"from": "a", "to": "zz"}]}"#,
    )
    .unwrap();
    let output = trellis(&["validate", broken.to_str().unwrap(), "--data-dir", data], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("$.nodes[0].kind [unknown_kind]"), "{stdout}");
    assert!(stdout.contains("$.edges[0].to [unknown_node]"), "{stdout}");
}

#[test]
fn run_executes_a_workflow_file_and_prints_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = examples_dir().join("linear-chain.yaml");
    let args = ["run", file.to_str().unwrap(), "--json", "--data-dir", data.to_str().unwrap()];
    let mut with_input = args.to_vec();
    with_input.extend(["--input", r#"{"name": "grace", "n": 4}"#]);
    let output = trellis(&with_input, dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let record = stdout_json(&output);
    assert_eq!(record["run"]["status"], "succeeded");
    assert_eq!(record["run"]["output"], "Hello Grace, your number doubled is 8.");
    assert_eq!(record["nodes"].as_array().unwrap().len(), 3);
    assert!(String::from_utf8_lossy(&output.stderr).contains("greet succeeded"));

    // Input that does not match input_schema: exit 1, nothing run.
    let mut bad = args.to_vec();
    bad.extend(["--input", r#"{"name": "grace"}"#]);
    let output = trellis(&bad, dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"n\" is a required property"));
}

/// `trellis run` prints each node's progress in the order it happened: a
/// node's success before the success (and any start) of the node after it.
/// The example's nodes are self-contained (`trellis/transform`), so their
/// records are written, and announced, together at the run's end: no
/// `running` line need appear.
#[test]
fn run_prints_progress_in_the_order_it_happened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let chain = examples_dir().join("linear-chain.yaml");
    let input = format!("@{}", examples_dir().join("linear-chain.input.json").display());
    let output =
        trellis(&["run", chain.to_str().unwrap(), "--input", &input, "--data-dir", data.to_str().unwrap()], dir.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let position = |prefix: &str| stderr.lines().position(|l| l.starts_with(prefix));
    let line = |prefix: &str| position(prefix).unwrap_or_else(|| panic!("no `{prefix}` line: {stderr}"));
    for (before, after) in [("normalize", "double"), ("double", "greet")] {
        let done = line(&format!("✓ {before} succeeded"));
        assert!(done < line(&format!("✓ {after} succeeded")), "{stderr}");
        if let Some(started) = position(&format!("▸ {after} running")) {
            assert!(done < started, "{stderr}");
        }
    }
    let finished = stderr.lines().position(|l| l.starts_with("run ") && l.ends_with(" succeeded")).unwrap();
    assert!(line("✓ greet succeeded") < finished, "{stderr}");
}

/// `trellis node test` runs one node of a file alone and prints its record.
#[test]
fn node_test_runs_one_node_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let chain = examples_dir().join("linear-chain.yaml");
    let output = trellis(
        &[
            "node",
            "test",
            chain.to_str().unwrap(),
            "double",
            "--input",
            r#"{"who": "Ada", "n": 21}"#,
            "--outputs",
            r#"{"normalize": {"who": "Ada", "n": 21}}"#,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let record = stdout_json(&output);
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["emits"][0]["data"], json!({"who": "Ada", "doubled": 42}), "{record}");
    let output =
        trellis(&["node", "test", chain.to_str().unwrap(), "nope", "--data-dir", data.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(2), "an unknown node is a usage error");
}
