//! One provider endpoint (kind, base URL, key) and the exchange with it:
//! the request goes only to addresses the operator's HTTP policy allows,
//! the answer is read up to a cap, and every way it can go wrong becomes an
//! [`LlmError`] that says whether trying again may help.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ChatRequest, ChatResponse, LlmError, anthropic, openai};
use crate::capabilities::http::{HttpPolicy, resolve_checked};

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI chat completions: OpenAI itself, Ollama, vLLM, LiteLLM, any
    /// compatible server by base URL.
    Openai,
    /// Azure OpenAI: a deployment's base URL, `api-key` header,
    /// `api-version` query.
    AzureOpenai,
    /// The Anthropic Messages API.
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::AzureOpenai => "azure_openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// Where the provider's public API lives, when the setting names none.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("https://api.openai.com/v1"),
            ProviderKind::AzureOpenai => None,
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        }
    }
}

/// A provider to call: kind, base URL and key.
#[derive(Clone)]
pub struct Endpoint {
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("kind", &self.kind).field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

/// How provider calls go out.
#[derive(Debug, Clone)]
pub struct EndpointPolicy {
    /// The operator's outbound rules, applied to a base URL a tenant chose.
    /// `None` for a provider the operator configured: the operator's own
    /// setting is trusted (an Ollama on loopback, say).
    pub http: Option<HttpPolicy>,
    /// The whole exchange, connecting included.
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

impl Default for EndpointPolicy {
    fn default() -> Self {
        EndpointPolicy {
            http: Some(HttpPolicy::default()),
            timeout: Duration::from_secs(120),
            max_response_bytes: 8 << 20,
        }
    }
}

/// Longest wait a `retry-after` may ask for; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
const MAX_PROVIDER_MESSAGE: usize = 500;

impl Endpoint {
    /// Sends `request` for `model` and reads the answer.
    pub async fn chat(
        &self,
        policy: &EndpointPolicy,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, LlmError> {
        let result = match self.kind {
            ProviderKind::Openai | ProviderKind::AzureOpenai => openai::chat(self, policy, model, request).await,
            ProviderKind::Anthropic => anthropic::chat(self, policy, model, request).await,
        };
        // A provider may echo the key back in an error; it goes no further.
        result.map_err(|mut error| {
            if let Some(key) = self.api_key.as_deref().filter(|k| k.len() >= 4) {
                error.message = error.message.replace(key, "[redacted]");
            }
            error
        })
    }
}

/// One endpoint with a default model as a whole provider: what plugins
/// get outside a tenant (`trellis node run`, tests). The engine's tenant
/// provider adds settings, allowed models and the token quota.
#[derive(Debug, Clone)]
pub struct EndpointProvider {
    /// Recorded with each call.
    pub name: String,
    pub endpoint: Endpoint,
    pub policy: EndpointPolicy,
    pub default_model: String,
}

#[async_trait::async_trait]
impl super::LlmProvider for EndpointProvider {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let model = request.model.clone().unwrap_or_else(|| self.default_model.clone());
        let mut response = self.endpoint.chat(&self.policy, &model, &request).await?;
        response.provider = self.name.clone();
        Ok(response)
    }
}

/// What came back: the status, the `retry-after` it asked for, the body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// POSTs a JSON body. Connect and transport failures and time-outs are
/// retryable; the caller judges the status with [`status_error`].
pub(crate) async fn post_json(
    policy: &EndpointPolicy,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
) -> Result<Answer, LlmError> {
    let parsed =
        url::Url::parse(url).map_err(|e| LlmError::permanent(format!("provider URL `{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(LlmError::permanent(format!("provider URL `{url}` must be http or https")));
    }
    let host = parsed.host_str().ok_or_else(|| LlmError::permanent(format!("provider URL `{url}` has no host")))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(policy.timeout)
        .timeout(policy.timeout);
    if let Some(http) = &policy.http {
        if !http.host_allowed(host, port) {
            return Err(LlmError::permanent(format!(
                "denied: the operator's HTTP policy does not allow `{host}:{port}` for provider calls"
            )));
        }
        let (addrs, is_literal) =
            resolve_checked(http, host, port).await.map_err(|refusal| LlmError::permanent(refusal.to_string()))?;
        if !is_literal {
            client = client.resolve_to_addrs(host, &addrs);
        }
    }
    let client = client.build().map_err(|e| LlmError::permanent(format!("building the HTTP client: {e}")))?;
    let mut builder = client.post(parsed.as_str()).json(body);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let response = builder.send().await.map_err(|e| transport(&e, host, policy.timeout))?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let cap = policy.max_response_bytes;
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(LlmError::permanent(format!("the provider's answer is over the {cap}-byte limit")));
    }
    let mut response = response;
    let mut buffer = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e, host, policy.timeout))? {
        if buffer.len() + chunk.len() > cap {
            return Err(LlmError::permanent(format!("the provider's answer is over the {cap}-byte limit")));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Answer { status, retry_after, body: buffer.freeze() })
}

fn transport(error: &reqwest::Error, host: &str, timeout: Duration) -> LlmError {
    if error.is_timeout() {
        return LlmError::retryable(format!("{host} did not answer within {} s", timeout.as_secs()), None);
    }
    if error.is_connect() {
        return LlmError::retryable(format!("could not connect to {host}"), None);
    }
    LlmError::retryable(format!("the exchange with {host} broke off"), None)
}

/// `retry-after` in seconds (or OpenAI's `retry-after-ms`), at most
/// [`MAX_RETRY_AFTER`]. An HTTP-date form is not honoured: a provider
/// sending one gets the node's own back-off.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let wait = if let Some(ms) = text("retry-after-ms").and_then(|t| t.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()
    } else {
        text("retry-after").and_then(|t| t.parse::<f64>().ok()).and_then(|s| Duration::try_from_secs_f64(s).ok())
    };
    wait.map(|w| w.min(MAX_RETRY_AFTER))
}

/// The error for a non-2xx answer: 408, 409, 429 and 5xx are retryable,
/// every other 4xx is not. The provider's own message is kept (both
/// formats put it in `error.message`), cut short.
pub(crate) fn status_error(answer: &Answer, provider: &str) -> LlmError {
    let said = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
    let said: String = said.chars().take(MAX_PROVIDER_MESSAGE).collect();
    let message = if said.trim().is_empty() {
        format!("{provider} answered HTTP {}", answer.status)
    } else {
        format!("{provider} answered HTTP {}: {}", answer.status, said.trim())
    };
    match answer.status {
        408 | 409 | 429 | 500..=599 => LlmError::retryable(message, answer.retry_after),
        _ => LlmError::permanent(message),
    }
}

/// The body of a 2xx answer as `T`; a body that is not (the proxy's HTML
/// page, a cut-off stream) is a permanent error naming the problem.
pub(crate) fn parse_answer<T: serde::de::DeserializeOwned>(answer: &Answer, provider: &str) -> Result<T, LlmError> {
    serde_json::from_slice(&answer.body)
        .map_err(|e| LlmError::permanent(format!("{provider}'s answer is not the chat format it documents: {e}")))
}

/// `base` and `path` joined with exactly one slash.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, retry: Option<u64>) -> Answer {
        Answer { status, retry_after: retry.map(Duration::from_secs), body: Bytes::from(body.to_owned()) }
    }

    #[test]
    fn statuses_are_sorted_into_retryable_and_not() {
        let limited = status_error(&answer(429, r#"{"error":{"message":"slow down"}}"#, Some(7)), "openai");
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after, Some(Duration::from_secs(7)));
        assert!(limited.message.contains("HTTP 429: slow down"), "{}", limited.message);
        assert!(status_error(&answer(529, "overloaded", None), "anthropic").is_retryable());
        let bad = status_error(&answer(400, r#"{"error":{"message":"bad model"}}"#, None), "openai");
        assert!(!bad.is_retryable());
        assert!(!status_error(&answer(401, "", None), "openai").is_retryable());
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds_and_is_capped() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.clear();
        headers.insert("retry-after", "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[tokio::test]
    async fn a_private_base_url_is_refused_under_the_operators_policy() {
        let policy = EndpointPolicy { http: Some(HttpPolicy::allowing(["*"])), ..EndpointPolicy::default() };
        let err = post_json(&policy, "http://127.0.0.1:9/v1/chat/completions", &[], &Value::Null).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.message.contains("denied") && err.message.contains("127.0.0.1"), "{}", err.message);
        let metadata = post_json(&policy, "http://169.254.169.254/latest", &[], &Value::Null).await.unwrap_err();
        assert!(metadata.message.contains("denied"), "{}", metadata.message);
    }
}
