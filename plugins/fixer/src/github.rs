//! `github-pr`: proposes a file change as a pull request through GitHub's
//! REST API. The branch is named after the node's idempotency key, and
//! every step first looks for what an earlier attempt made (the branch,
//! the file with this content, the open pull request), so a retry finishes
//! the same pull request instead of opening a second.

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::http::{Request, Response};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, provider};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Open a GitHub pull request")]
pub(crate) struct PullRequestConfig {
    /// `owner/name`.
    #[schemars(title = "Repository", example = &"acme/infrastructure")]
    repo: String,
    /// The tenant secret holding a token with contents and pull-request write access.
    #[schemars(title = "Token secret", example = &"GITHUB_TOKEN")]
    token: SecretName,
    /// The branch to merge into; the repository's default branch when left out.
    #[serde(default)]
    #[schemars(title = "Base branch", example = &"main")]
    base: Option<String>,
    /// The file to write, relative to the repository's root.
    #[schemars(title = "File path", example = &"deploy/nginx/security-headers.conf")]
    path: String,
    /// The file's new content.
    #[schemars(title = "Content", example = &"{{ nodes.fix.output.nginx }}")]
    content: String,
    #[schemars(title = "Title", example = &"Add security headers")]
    title: String,
    #[serde(default)]
    #[schemars(title = "Description")]
    body: Option<String>,
    /// GitHub's API root (GitHub Enterprise: `https://HOST/api/v3`); its
    /// host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "API base URL", example = &"https://api.github.com")]
    api_base: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct PullRequest {
    number: u64,
    url: String,
    branch: String,
    /// False when an earlier attempt had already opened it.
    created: bool,
}

pub(crate) struct GithubPr;

impl Node for GithubPr {
    const KIND: &'static str = "github-pr";
    const TITLE: &'static str = "Open a GitHub pull request";
    const DESCRIPTION: &'static str = "Commit a file to a new branch and open a pull request (GitHub REST API)";
    const CATEGORY: &'static str = "fixer";
    type Config = PullRequestConfig;
    type Input = Value;
    type Output = PullRequest;

    fn run(cx: &Context, config: PullRequestConfig, _input: Value) -> Result<Emits<PullRequest>, NodeError> {
        let (owner, name) = config
            .repo
            .split_once('/')
            .filter(|(o, n)| {
                [o, n]
                    .iter()
                    .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
            })
            .ok_or_else(|| NodeError::InvalidConfig(format!("config.repo: `{}` is not `owner/name`", config.repo)))?;
        let path = config.path.trim_matches('/');
        if path.is_empty() || path.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(NodeError::InvalidConfig(format!(
                "config.path: `{}` is not a file path in the repository",
                config.path
            )));
        }
        let github = GitHub {
            token: config.token.read("token", crate::PLUGIN)?,
            repo: format!(
                "{}/repos/{owner}/{name}",
                config.api_base.as_deref().unwrap_or("https://api.github.com").trim_end_matches('/')
            ),
        };
        let base = match &config.base {
            Some(base) => base.clone(),
            None => github.json(Request::get(&github.repo))?["default_branch"].as_str().unwrap_or("main").to_owned(),
        };
        let key: String =
            cx.idempotency_key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
        let branch = format!("trellis/{key}");

        // The branch, unless an earlier attempt made it.
        let base_ref = github.json(Request::get(format!("{}/git/ref/heads/{}", github.repo, encode(&base))))?;
        let sha = base_ref["object"]["sha"].as_str().unwrap_or_default().to_owned();
        let created = github.send(
            Request::post(format!("{}/git/refs", github.repo))
                .json(&json!({"ref": format!("refs/heads/{branch}"), "sha": sha}))
                .map_err(config_error)?,
        )?;
        if !(created.status == 201 || (created.status == 422 && created.text().contains("Reference already exists"))) {
            return Err(provider::status_error("GitHub", created.status, &created.body));
        }

        // The file, unless it already holds this content on the branch.
        let url = format!("{}/contents/{}", github.repo, path.split('/').map(encode).collect::<Vec<_>>().join("/"));
        let current = github.send(Request::get(format!("{url}?ref={}", encode(&branch))))?;
        let existing: Option<Value> = match current.status {
            200 => Some(current.json().map_err(|e| NodeError::Fatal(format!("GitHub: {e}")))?),
            404 => None,
            status => return Err(provider::status_error("GitHub", status, &current.body)),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(&config.content);
        let same =
            existing.as_ref().and_then(|f| f["content"].as_str()).is_some_and(|c| c.replace('\n', "") == encoded);
        if !same {
            let mut put = json!({"message": config.title, "content": encoded, "branch": branch});
            if let Some(sha) = existing.as_ref().and_then(|f| f["sha"].as_str()) {
                put["sha"] = json!(sha);
            }
            github.json(Request::new("PUT", &url).json(&put).map_err(config_error)?)?;
        }

        // The pull request, unless one is open for the branch.
        let open = github.json(Request::get(format!(
            "{}/pulls?state=open&head={}",
            github.repo,
            encode(&format!("{owner}:{branch}"))
        )))?;
        if let Some(pr) = open.as_array().and_then(|prs| prs.first()) {
            return Ok(Emits::out(pull_request(pr, branch, false)));
        }
        let body =
            json!({"title": config.title, "head": branch, "base": base, "body": config.body.unwrap_or_default()});
        let pr = github.json(Request::post(format!("{}/pulls", github.repo)).json(&body).map_err(config_error)?)?;
        Ok(Emits::out(pull_request(&pr, branch, true)))
    }
}

fn pull_request(pr: &Value, branch: String, created: bool) -> PullRequest {
    PullRequest {
        number: pr["number"].as_u64().unwrap_or(0),
        url: pr["html_url"].as_str().unwrap_or_default().to_owned(),
        branch,
        created,
    }
}

fn config_error(error: trellis_plugin_sdk::http::HttpError) -> NodeError {
    NodeError::InvalidConfig(error.to_string())
}

/// Percent-encoding for a path segment or query value.
fn encode(text: &str) -> String {
    provider::form([("", text)]).trim_start_matches('=').replace('+', "%20")
}

struct GitHub {
    token: String,
    /// `…/repos/OWNER/NAME`.
    repo: String,
}

impl GitHub {
    /// Any answer; transport failures and rate limits become node errors.
    fn send(&self, request: Request) -> Result<Response, NodeError> {
        let request = request
            .header("authorization", &format!("Bearer {}", self.token))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "trellis-fixer");
        let response = provider::send("GitHub", &request)?;
        // GitHub answers a rate limit with 403 and no requests remaining.
        let limited = response.status == 403
            && (response.header("x-ratelimit-remaining") == Some("0") || response.header("retry-after").is_some());
        if limited {
            return Err(NodeError::Retryable(format!("GitHub rate limit: {}", provider::detail(&response.body))));
        }
        Ok(response)
    }

    /// A 2xx answer's JSON; any other status is its node error.
    fn json(&self, request: Request) -> Result<Value, NodeError> {
        let response = provider::check("GitHub", self.send(request)?)?;
        response.json().map_err(|e| NodeError::Fatal(format!("GitHub: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_for_paths_and_queries() {
        assert_eq!(encode("trellis/run-1-fix"), "trellis%2Frun-1-fix");
        assert_eq!(encode("acme:trellis/x y"), "acme%3Atrellis%2Fx%20y");
    }
}
