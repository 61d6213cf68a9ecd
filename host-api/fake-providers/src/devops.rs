//! Cloudflare's rulesets and zone settings, and GitHub's git refs,
//! contents and pull requests, as their REST APIs document them. The zone
//! [`keys::CLOUDFLARE_ZONE`] starts with one rule of the tenant's own
//! (`ref: tenant_api_cors`); the repository [`keys::GITHUB_REPO`] starts
//! with a `main` branch.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Memory, Reply, Seen, bearer, keys};

/// What the fakes keep of Cloudflare and GitHub.
#[derive(Default)]
pub struct DevopsState {
    /// The zone's entrypoint rules; `None` until first written.
    pub cloudflare_rules: Option<Vec<Value>>,
    pub always_use_https: Option<String>,
    /// Branch → commit sha.
    pub branches: BTreeMap<String, String>,
    /// (branch, path) → (base64 content, blob sha).
    pub files: BTreeMap<(String, String), (String, String)>,
    pub pulls: Vec<Value>,
}

impl DevopsState {
    pub fn seeded() -> DevopsState {
        DevopsState {
            cloudflare_rules: Some(vec![json!({
                "id": "2f2b1e5c6d7e4f8a9b0c1d2e3f4a5b6c", "ref": "tenant_api_cors", "version": "1",
                "expression": "starts_with(http.request.uri.path, \"/api/\")", "action": "rewrite",
                "action_parameters": {"headers": {"Access-Control-Allow-Origin": {"operation": "set", "value": "https://app.acme.dev"}}},
                "description": "API CORS", "enabled": true, "last_updated": "2026-01-01T00:00:00Z"
            })]),
            branches: [("main".to_owned(), "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678".to_owned())].into(),
            ..DevopsState::default()
        }
    }
}

pub(crate) fn route(memory: &mut Memory, seen: &Seen) -> Option<Reply> {
    if let Some(rest) = seen.path.strip_prefix("/client/v4/") {
        return Some(cloudflare(memory, seen, rest));
    }
    if let Some(rest) = seen.path.strip_prefix("/repos/") {
        return Some(github(memory, seen, rest));
    }
    None
}

fn cf_error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
    )
}

fn cf_ok(result: Value) -> Reply {
    Reply::json(200, json!({"success": true, "errors": [], "messages": [], "result": result}))
}

fn cloudflare(memory: &mut Memory, seen: &Seen, rest: &str) -> Reply {
    if bearer(seen) != Some(keys::CLOUDFLARE) {
        return cf_error(403, 10000, "Authentication error");
    }
    let Some(rest) = rest.strip_prefix(&format!("zones/{}/", keys::CLOUDFLARE_ZONE)) else {
        return cf_error(404, 7003, "Could not route to the zone, perhaps your object identifier is invalid?");
    };
    let state = &mut memory.devops;
    let ruleset = |rules: &[Value]| {
        json!({"id": "f1e2d3c4b5a697887766554433221100", "name": "default", "kind": "zone",
               "phase": "http_response_headers_transform", "version": "2", "rules": rules})
    };
    match (seen.method.as_str(), rest) {
        ("GET", "rulesets/phases/http_response_headers_transform/entrypoint") => match &state.cloudflare_rules {
            Some(rules) => cf_ok(ruleset(rules)),
            None => {
                cf_error(404, 10003, "Could not find entrypoint ruleset in the http_response_headers_transform phase")
            }
        },
        ("PUT", "rulesets/phases/http_response_headers_transform/entrypoint") => {
            let Some(rules) = seen.json()["rules"].as_array().cloned() else {
                return cf_error(400, 20021, "rules: expected an array");
            };
            let mut stored = Vec::new();
            for (i, mut rule) in rules.into_iter().enumerate() {
                if rule["expression"].as_str().is_none() || rule["action"] != "rewrite" {
                    return cf_error(400, 20120, &format!("rules[{i}]: a rewrite rule needs an expression"));
                }
                if rule["id"].is_null() {
                    rule["id"] = json!(format!("{:032x}", memory.next_id + 1));
                    memory.next_id += 1;
                }
                rule["version"] = json!("1");
                stored.push(rule);
            }
            state.cloudflare_rules = Some(stored.clone());
            cf_ok(ruleset(&stored))
        }
        ("PATCH", "settings/always_use_https") => {
            let value = seen.json()["value"].as_str().unwrap_or_default().to_owned();
            if value != "on" && value != "off" {
                return cf_error(400, 1007, "Invalid value for zone setting always_use_https");
            }
            state.always_use_https = Some(value.clone());
            cf_ok(
                json!({"id": "always_use_https", "value": value, "editable": true, "modified_on": "2026-12-07T00:00:00Z"}),
            )
        }
        _ => cf_error(404, 7000, "No route for that URI"),
    }
}

fn gh_error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
    )
}

/// A percent-encoded path segment, decoded (`+` stays `+`).
fn decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn github(memory: &mut Memory, seen: &Seen, rest: &str) -> Reply {
    match bearer(seen) {
        Some(token) if token == keys::GITHUB => {}
        _ => return gh_error(401, "Bad credentials"),
    }
    if seen.header("user-agent").is_none() {
        return gh_error(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        );
    }
    let Some(rest) = rest.strip_prefix(keys::GITHUB_REPO) else { return gh_error(404, "Not Found") };
    let next_sha = |memory: &mut Memory| {
        memory.next_id += 1;
        format!("{:040x}", memory.next_id * 7919)
    };
    let query = seen.query_pairs();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match (seen.method.as_str(), rest) {
        ("GET", "") => Reply::json(
            200,
            json!({"id": 1, "full_name": keys::GITHUB_REPO, "default_branch": "main", "private": true}),
        ),
        ("GET", r) if r.starts_with("/git/ref/heads/") => {
            let branch = decode(r.trim_start_matches("/git/ref/heads/"));
            match memory.devops.branches.get(&branch) {
                Some(sha) => Reply::json(
                    200,
                    json!({"ref": format!("refs/heads/{branch}"), "object": {"sha": sha, "type": "commit"}}),
                ),
                None => gh_error(404, "Not Found"),
            }
        }
        ("POST", "/git/refs") => {
            let body = seen.json();
            let (Some(name), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
                return gh_error(422, "Invalid request.");
            };
            let Some(branch) = name.strip_prefix("refs/heads/") else {
                return gh_error(422, "Reference name is invalid");
            };
            if memory.devops.branches.contains_key(branch) {
                return gh_error(422, "Reference already exists");
            }
            memory.devops.branches.insert(branch.to_owned(), sha.to_owned());
            Reply::json(201, json!({"ref": name, "object": {"sha": sha, "type": "commit"}}))
        }
        (method, r) if r.starts_with("/contents/") => {
            let path = r.trim_start_matches("/contents/").split('/').map(decode).collect::<Vec<_>>().join("/");
            if method == "GET" {
                let branch = param("ref").unwrap_or_else(|| "main".to_owned());
                return match memory.devops.files.get(&(branch, path.clone())) {
                    Some((content, sha)) => {
                        // GitHub wraps base64 at 60 characters.
                        let wrapped: Vec<String> =
                            content.as_bytes().chunks(60).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
                        Reply::json(
                            200,
                            json!({"type": "file", "encoding": "base64", "path": path, "sha": sha,
                                                "content": wrapped.join("\n") + "\n"}),
                        )
                    }
                    None => gh_error(404, "Not Found"),
                };
            }
            if method != "PUT" {
                return gh_error(404, "Not Found");
            }
            let body = seen.json();
            let branch = body["branch"].as_str().unwrap_or("main").to_owned();
            if !memory.devops.branches.contains_key(&branch) {
                return gh_error(404, &format!("Branch {branch} not found"));
            }
            let Some(content) = body["content"].as_str() else {
                return gh_error(422, "Invalid request.\n\n\"content\" wasn't supplied.");
            };
            if base64::engine::general_purpose::STANDARD.decode(content).is_err() {
                return gh_error(422, "content is not valid Base64");
            }
            let key = (branch.clone(), path.clone());
            let existing = memory.devops.files.get(&key).map(|(_, sha)| sha.clone());
            match (&existing, body["sha"].as_str()) {
                (Some(_), None) => return gh_error(422, "Invalid request.\n\n\"sha\" wasn't supplied."),
                (Some(current), Some(given)) if current != given => {
                    return gh_error(409, &format!("{path} does not match {given}"));
                }
                _ => {}
            }
            let blob = next_sha(memory);
            let commit = next_sha(memory);
            memory.devops.files.insert(key, (content.to_owned(), blob.clone()));
            memory.devops.branches.insert(branch, commit.clone());
            let status = if existing.is_some() { 200 } else { 201 };
            Reply::json(status, json!({"content": {"path": path, "sha": blob}, "commit": {"sha": commit}}))
        }
        ("GET", "/pulls") => {
            let head = param("head").unwrap_or_default();
            let open: Vec<&Value> = memory
                .devops
                .pulls
                .iter()
                .filter(|pr| {
                    head.is_empty()
                        || format!(
                            "{}:{}",
                            keys::GITHUB_REPO.split('/').next().unwrap_or(""),
                            pr["head"]["ref"].as_str().unwrap_or("")
                        ) == head
                })
                .collect();
            Reply::json(200, json!(open))
        }
        ("POST", "/pulls") => {
            let body = seen.json();
            let head = body["head"].as_str().unwrap_or_default().to_owned();
            let base = body["base"].as_str().unwrap_or("main").to_owned();
            if memory.devops.pulls.iter().any(|pr| pr["head"]["ref"] == head.as_str()) {
                return gh_error(422, &format!("A pull request already exists for {head}."));
            }
            if memory.devops.branches.get(&head) == memory.devops.branches.get(&base) {
                return gh_error(422, &format!("No commits between {base} and {head}"));
            }
            let number = memory.devops.pulls.len() as u64 + 1;
            let pr = json!({"number": number, "state": "open", "title": body["title"], "body": body["body"],
                "html_url": format!("https://github.com/{}/pull/{number}", keys::GITHUB_REPO),
                "head": {"ref": head}, "base": {"ref": base}});
            memory.devops.pulls.push(pr.clone());
            Reply::json(201, pr)
        }
        _ => gh_error(404, "Not Found"),
    }
}
