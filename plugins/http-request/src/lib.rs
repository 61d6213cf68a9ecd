//! `trellis/http-request`: one HTTP call, with the response parsed for the
//! next nodes. Whether a non-2xx status fails the node is the config's choice.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_plugin_sdk::http::{self, HttpError};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, log, plugin};

#[derive(Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ResponseFormat {
    /// JSON when the body parses as JSON, text otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// HTTP method; GET when omitted.
    #[serde(default = "default_method")]
    method: String,
    /// Absolute http(s) URL. Must be on the plugin's allowed hosts.
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Appended to the URL's query string, URL-encoded.
    #[serde(default)]
    query: BTreeMap<String, Value>,
    /// Sent as JSON (`content-type: application/json`).
    #[serde(default)]
    body: Option<Value>,
    /// Sent as text; exclusive with `body`.
    #[serde(default)]
    body_text: Option<String>,
    /// When true (default), 408, 429 and 5xx fail the node as retryable and
    /// other non-2xx statuses fail it as fatal. When false, every status is
    /// emitted on `out`.
    #[serde(default = "default_true")]
    fail_on_error_status: bool,
    #[serde(default)]
    response_format: ResponseFormat,
    /// Per-request timeout (the host's own cap still applies).
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// Credentials, by the *names* of tenant secrets: the host hands this
    /// plugin a value only when the tenant granted it that name, and the
    /// value never appears in the config or the run's record.
    #[serde(default)]
    auth: Option<Auth>,
}

/// How the request authenticates. Every field is a secret's name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer { token: SecretName },
    /// `Authorization: Basic base64(username:password)`; without a password
    /// the username alone (as Stripe's API keys are sent).
    Basic {
        username: SecretName,
        #[serde(default)]
        password: Option<SecretName>,
    },
    /// The secret as the value of a header, e.g. `X-Api-Key`.
    Header { name: String, secret: SecretName },
    /// The secret as a query parameter, e.g. `api_key`.
    Query { name: String, secret: SecretName },
    /// Several headers, each set to a secret: `{"X-Key": "KEY", "X-Id": "ID"}`.
    Headers { headers: BTreeMap<String, SecretName> },
}

fn secret(field: &str, name: &SecretName) -> Result<String, NodeError> {
    name.read(&format!("auth.{field}"), "trellis/http-request")
}

/// Headers and query parameters to add.
type Credentials = (Vec<(String, String)>, Vec<(String, String)>);

impl Auth {
    /// The headers and query parameters this authentication adds.
    fn resolve(&self) -> Result<Credentials, NodeError> {
        use base64::Engine as _;
        let header = |name: &str, value: String| (vec![(name.to_owned(), value)], Vec::new());
        Ok(match self {
            Auth::Bearer { token } => header("authorization", format!("Bearer {}", secret("token", token)?)),
            Auth::Basic { username, password } => {
                let user = secret("username", username)?;
                let pass = password.as_ref().map(|name| secret("password", name)).transpose()?.unwrap_or_default();
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                header("authorization", format!("Basic {encoded}"))
            }
            Auth::Header { name, secret: from } => header(name, secret("secret", from)?),
            Auth::Query { name, secret: from } => (Vec::new(), vec![(name.clone(), secret("secret", from)?)]),
            Auth::Headers { headers } => {
                let mut set = Vec::new();
                for (name, from) in headers {
                    set.push((name.clone(), secret(&format!("headers.{name}"), from)?));
                }
                (set, Vec::new())
            }
        })
    }
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_true() -> bool {
    true
}

#[derive(Serialize, JsonSchema)]
struct Output {
    status: u16,
    /// Lower-case names; repeated headers joined with ", ".
    headers: BTreeMap<String, String>,
    /// Parsed JSON or text, per `response_format`.
    body: Value,
}

struct HttpRequest;

impl Node for HttpRequest {
    const KIND: &'static str = "request";
    const TITLE: &'static str = "HTTP request";
    const DESCRIPTION: &'static str = "Calls an HTTP API and emits the status, headers and parsed body";
    const CATEGORY: &'static str = "network";
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(_cx: &Context, config: Config, _input: Value) -> Result<Emits<Output>, NodeError> {
        let request = build_request(&config)?;
        let response = request.send().map_err(|e| match e {
            HttpError::Transport(_) => NodeError::Retryable(e.to_string()),
            HttpError::InvalidRequest(_) => NodeError::InvalidConfig(e.to_string()),
            HttpError::Denied(_) | HttpError::InvalidResponse(_) | HttpError::ResponseTooLarge(_) => {
                NodeError::Fatal(e.to_string())
            }
        })?;
        log::info(&format!("{} {} -> {}", request.method, config.url, response.status));

        if config.fail_on_error_status && !response.is_success() {
            let snippet: String = response.text().chars().take(512).collect();
            let message = format!("HTTP {} from {}: {}", response.status, config.url, snippet);
            return Err(match response.status {
                408 | 429 | 500..=599 => NodeError::Retryable(message),
                _ => NodeError::Fatal(message),
            });
        }

        let body = parse_body(&response, &config.response_format)?;
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &response.headers {
            headers
                .entry(name.to_ascii_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        Ok(Emits::out(Output { status: response.status, headers, body }))
    }
}

fn build_request(config: &Config) -> Result<http::Request, NodeError> {
    let (auth_headers, auth_query) = match &config.auth {
        Some(auth) => auth.resolve()?,
        None => (Vec::new(), Vec::new()),
    };
    let mut url = config.url.clone();
    if !config.query.is_empty() || !auth_query.is_empty() {
        let mut encoder = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &config.query {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            encoder.append_pair(key, &text);
        }
        for (key, value) in &auth_query {
            encoder.append_pair(key, value);
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&encoder.finish());
    }

    let mut request = http::Request::new(&config.method, url);
    // Credentials win over a configured header of the same name.
    for (name, value) in &config.headers {
        if !auth_headers.iter().any(|(auth, _)| auth.eq_ignore_ascii_case(name)) {
            request = request.header(name, value);
        }
    }
    for (name, value) in &auth_headers {
        request = request.header(name, value);
    }
    let has_header = |name: &str| config.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
    match (&config.body, &config.body_text) {
        (Some(_), Some(_)) => {
            return Err(NodeError::InvalidConfig("config: set `body` or `body_text`, not both".to_owned()));
        }
        (Some(json), None) => {
            let bytes = serde_json::to_vec(json).map_err(|e| NodeError::InvalidConfig(format!("config.body: {e}")))?;
            if !has_header("content-type") {
                request = request.header("content-type", "application/json");
            }
            request = request.body(bytes);
        }
        (None, Some(text)) => {
            if !has_header("content-type") {
                request = request.header("content-type", "text/plain; charset=utf-8");
            }
            request = request.body(text.clone().into_bytes());
        }
        (None, None) => {}
    }
    if let Some(ms) = config.timeout_ms {
        request = request.timeout_ms(ms);
    }
    Ok(request)
}

fn parse_body(response: &http::Response, format: &ResponseFormat) -> Result<Value, NodeError> {
    if response.body.is_empty() {
        return Ok(Value::Null);
    }
    match format {
        ResponseFormat::Text => Ok(Value::String(response.text())),
        ResponseFormat::Json => serde_json::from_slice(&response.body)
            .map_err(|e| NodeError::Fatal(format!("response body is not JSON: {e}"))),
        ResponseFormat::Auto => {
            Ok(serde_json::from_slice(&response.body).unwrap_or_else(|_| Value::String(response.text())))
        }
    }
}

plugin!(HttpRequest);
