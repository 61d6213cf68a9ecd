//! The `trellis` binary, run as a user would.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn trellis(args: &[&str], cache: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trellis")).args(args).env("XDG_CACHE_HOME", cache).output().expect("run trellis")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

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

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
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

/// `trellis serve` with every stderr line sent to the returned channel.
fn spawn_serve_lines(
    data: &std::path::Path,
    cache: &std::path::Path,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
        .env("XDG_CACHE_HOME", cache)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (lines, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    (child, receiver)
}

/// The next line `until` accepts, with the lines before it.
fn lines_until(lines: &std::sync::mpsc::Receiver<String>, until: impl Fn(&str) -> bool) -> (String, Vec<String>) {
    let mut before = Vec::new();
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("stderr so far: {before:#?}"));
        if until(&line) {
            return (line, before);
        }
        before.push(line);
    }
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
    assert_eq!(report["goal_webhook_runs_per_sec"], 1200.0);
}

#[test]
fn keygen_writes_an_owner_only_secret_key_and_never_overwrites_one() {
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let output = trellis(&["keygen", "--out", dir, "--name", "acme"], cache.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let public = std::fs::read_to_string(out.path().join("acme.pub")).unwrap();
    assert_eq!(printed, public);
    let public = trellis_marketplace::PublisherKey::from_text(&public).expect("a public key");
    let secret_text = std::fs::read_to_string(out.path().join("acme.key")).unwrap();
    let secret = trellis_marketplace::PublisherSecretKey::from_text(&secret_text).expect("a secret key");
    assert_eq!(secret.public_key(), public, "the two files are one pair");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.path().join("acme.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Again with the same name: refused, and the key is unchanged.
    let again = trellis(&["keygen", "--out", dir, "--name", "acme"], cache.path());
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(out.path().join("acme.key")).unwrap(), secret_text);
    // A name that is a path is refused.
    let sneaky = trellis(&["keygen", "--out", dir, "--name", "../acme"], cache.path());
    assert!(!sneaky.status.success());
}

/// Starts a long-running `trellis` command and returns it with the address
/// it printed after `prefix`.
fn spawn_listening(args: &[&str], cache: &std::path::Path, prefix: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{args:?} exited before listening");
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            break rest.to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, address)
}

/// One HTTP/1.1 request; the status and the JSON body.
fn http(address: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let json = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    // Chunked bodies: the JSON is the line between the chunk sizes.
    let json = json.lines().find(|l| l.starts_with('{')).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

/// A running `trellis marketplace serve` with publisher `acme` registered
/// (not yet approved).
struct Registry {
    child: std::process::Child,
    address: String,
    server: String,
    /// `acme`'s secret key file.
    key: String,
}

fn registry_with_publisher(dir: &std::path::Path, data_dir: &str) -> Registry {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::create_dir(path("keys")).unwrap();
    assert!(trellis(&["keygen", "--out", &path("keys"), "--name", "acme"], dir).status.success());
    let key = path("keys/acme.key");
    let (child, address) = spawn_listening(
        &["marketplace", "serve", "--listen", "127.0.0.1:0", "--data-dir", &path(data_dir)],
        dir,
        "trellis marketplace listening on http://",
    );
    let server = format!("http://{address}");
    let register = trellis(&["plugin", "register", "acme", "--server", &server, "--key", &key], dir);
    assert!(register.status.success(), "{}", String::from_utf8_lossy(&register.stderr));
    Registry { child, address, server, key }
}

#[test]
fn a_publisher_publishes_to_a_central_marketplace_and_a_server_installs_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let cli = |args: &[&str]| trellis(args, dir.path());
    let Registry { child: mut central, address: market, server, key } = registry_with_publisher(dir.path(), "central");

    let echo = trellis_plugin_artifacts::ECHO;
    let manifest = |version: &str| {
        let file = path(&format!("echo-{version}.toml"));
        std::fs::write(
            &file,
            format!(
                "name = \"acme/echo\"\nversion = \"{version}\"\ndescription = \"Echoes\"\nlicense = \"MIT\"\n\
                 category = \"utility\"\n"
            ),
        )
        .unwrap();
        file
    };
    let publish = |version: &str| {
        cli(&["plugin", "publish", echo, "--manifest", &manifest(version), "--server", &server, "--key", &key])
    };
    let refused = publish("1.0.0");
    assert_eq!(refused.status.code(), Some(1), "not approved yet");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not signed by an approved publisher"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let approved = cli(&["marketplace", "approve", "acme", "--data-dir", &path("central")]);
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    for version in ["1.0.0", "1.1.0"] {
        let published = publish(version);
        assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
        assert_eq!(stdout_json(&published)["version"], version);
    }
    let yanked = cli(&["plugin", "yank", "acme/echo@1.1.0", "--server", &server, "--key", &key]);
    assert!(yanked.status.success(), "{}", String::from_utf8_lossy(&yanked.stderr));
    let (_, listed) = http(&market, "GET", "/v1/marketplace/plugins", None, None);
    let names: Vec<String> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}@{}", p["name"].as_str().unwrap(), p["latest_version"].as_str().unwrap()))
        .collect();
    assert_eq!(names, ["acme/echo@1.0.0", "trellis/http-request@0.1.1", "trellis/transform@0.1.0"]);

    // A server that pulls from the central marketplace.
    let created =
        stdout_json(&cli(&["admin", "create-tenant", "Acme", "--owner", "o@acme.test", "--data-dir", &path("server")]));
    let token = created["api_key"].as_str().unwrap();
    let (mut serve, address) = spawn_listening(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", &path("server"), "--marketplace", &server],
        dir.path(),
        "trellis listening on http://",
    );
    let (status, installed) =
        http(&address, "POST", "/v1/plugins", Some(token), Some(json!({"name": "acme/echo", "version": "^1"})));
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["install"]["version"], "1.0.0", "1.1.0 is yanked");
    let (_, catalog) = http(&address, "GET", "/v1/catalog", Some(token), None);
    assert!(catalog.to_string().contains("\"acme/echo\""), "{catalog}");
    // Pulled by digest into the server's own cache.
    let digest = installed["install"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    assert!(dir.path().join("server/pulled/sha256").join(digest).exists());
    // And the publisher's key pinned at that first pull.
    assert!(dir.path().join("server/pinned-keys/acme.pub").exists());

    for child in [&mut central, &mut serve] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Runs `program` with the nested cargo builds sharing one target folder
/// that outlives the test, so repeated CI runs build them incrementally.
fn with_shared_target(program: &str, args: &[&str], cache: &std::path::Path) -> Output {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-template");
    Command::new(program)
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env("CARGO_TARGET_DIR", target)
        // The host build's flags are not the guest's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

#[test]
fn plugin_new_makes_a_project_that_tests_builds_runs_and_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let trellis_bin = env!("CARGO_BIN_EXE_trellis");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let project = path("greeter");

    let created = trellis(&["plugin", "new", "acme/greeter", "--dir", &project], dir.path());
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    // Refused a second time: the folder is no longer empty.
    let again = trellis(&["plugin", "new", "acme/greeter", "--dir", &project], dir.path());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not an empty folder"), "{again:?}");

    // The template's own tests pass natively.
    let manifest_path = format!("{project}/Cargo.toml");
    let tested = with_shared_target(&cargo, &["test", "--manifest-path", &manifest_path], dir.path());
    let test_output = String::from_utf8_lossy(&tested.stdout);
    assert!(tested.status.success(), "{test_output}\n{}", String::from_utf8_lossy(&tested.stderr));
    assert!(test_output.contains("2 passed"), "{test_output}");

    // Built for wasm32-wasip2, it passes the registry's component checks.
    let built = with_shared_target(trellis_bin, &["plugin", "build", &project], dir.path());
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let report = stdout_json(&built);
    assert_eq!(report["name"], "acme/greeter");
    assert_eq!(report["version"], "0.1.0");
    assert_eq!(report["kinds"][0]["name"], "greet");
    let component = report["component"].as_str().unwrap();
    assert!(component.ends_with("plugin_greeter.wasm"), "{component}");
    let bytes = std::fs::read(component).unwrap();
    assert_eq!(report["digest"], trellis_marketplace::ComponentDigest::of(&bytes).to_string());

    // The component runs in the sandbox.
    let ran = trellis(
        &["node", "run", "--plugin", component, "--kind", "greet", "--input", r#"{"name": "Ada"}"#],
        dir.path(),
    );
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    assert_eq!(stdout_json(&ran)["emits"][0]["data"]["message"], "Hello, Ada!");

    // `plugin publish` without a component builds the project and publishes it.
    let Registry { mut child, address: market, server, key } = registry_with_publisher(dir.path(), "registry");
    assert!(trellis(&["marketplace", "approve", "acme", "--data-dir", &path("registry")], dir.path()).status.success());
    let published = with_shared_target(
        trellis_bin,
        &["plugin", "publish", "--project", &project, "--server", &server, "--key", &key],
        dir.path(),
    );
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
    let (status, detail) = http(&market, "GET", "/v1/marketplace/plugins/acme/greeter/0.1.0", None, None);
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["digest"], report["digest"]);
    assert_eq!(detail["kinds"][0]["name"], "greet");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn plugin_build_names_what_the_project_lacks_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let build = || trellis(&["plugin", "build", project.to_str().unwrap()], dir.path());
    let stderr = |output: Output| String::from_utf8_lossy(&output.stderr).into_owned();

    assert!(stderr(build()).contains("is not a folder"));
    std::fs::create_dir(&project).unwrap();
    assert!(stderr(build()).contains("has no Cargo.toml"));
    std::fs::write(project.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    assert!(stderr(build()).contains("trellis-plugin.toml"));
    std::fs::write(project.join("trellis-plugin.toml"), "name = \"acme/x\"\nversion = \"one\"\n").unwrap();
    let refused = stderr(build());
    assert!(refused.contains("trellis-plugin.toml") && refused.contains("version"), "{refused}");
}

/// Every benchmark runs, briefly, so none can rot: each prints its figures
/// and a verdict, and with `--check` its exit status follows the verdict
/// (a debug build on a loaded machine may well miss a goal: either way the
/// two must agree).
#[test]
fn every_benchmark_runs_and_its_check_follows_its_verdict() {
    let cache = tempfile::tempdir().unwrap();
    let benches: [&[&str]; 4] = [
        &["bench", "node", "--iterations", "3", "--check"],
        &["bench", "engine", "--runs", "2", "--check"],
        &["bench", "api", "--runs", "5", "--check"],
        &["bench", "hostile", "--samples", "2", "--only", "expression-string", "--check"],
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
    // Without --check a missed goal still exits 0, and JSON carries the verdict.
    let output = trellis(&["bench", "node", "--iterations", "3", "--json"], cache.path());
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout_json(&output)["goal_met"].is_boolean());
}

/// Polls `GET /v1/runs/{id}` until `check` holds; the run's JSON.
fn poll_run(address: &str, key: &str, run: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = http(address, "GET", &format!("/v1/runs/{run}"), Some(key), None);
        if status == 200 && check(&body) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "the run never got there: {body}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn node_status<'a>(run: &'a Value, node: &str) -> &'a str {
    run["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["node_id"] == node))
        .map_or("", |n| n["status"].as_str().unwrap_or_default())
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

/// `trellis run` prints each node's progress in the order it happened: a
/// node's success before the start of the node after it.
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
    let line = |prefix: &str| {
        stderr.lines().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` line: {stderr}"))
    };
    for (before, after) in [("normalize", "double"), ("double", "greet")] {
        assert!(line(&format!("✓ {before} succeeded")) < line(&format!("▸ {after} running")), "{stderr}");
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
