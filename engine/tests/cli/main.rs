//! The `trellis` binary, run as a user would.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use serde_json::{Value, json};

mod bench;
mod cluster;
mod local;
mod migrate;
mod publishing;
mod serve;

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

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// `trellis serve` with every stderr line sent to the returned channel.
fn spawn_serve_lines(
    data: &std::path::Path,
    cache: &std::path::Path,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    spawn_lines(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()], cache, &[])
}

/// A long-running `trellis` command, with `env` set, every stderr line of
/// it sent to the returned channel.
fn spawn_lines(
    args: &[&str],
    cache: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .envs(env.iter().copied())
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
