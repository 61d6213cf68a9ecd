//! Calling a provider's HTTP API, and the node error each failure means:
//!
//! - time-outs, refused connections, 408, 409, 425, 429 and 5xx are
//!   `retryable` (the node's retry policy tries again);
//! - 400, 401, 403, 404 and 422 are `invalid-config`: bad credentials or a
//!   value the provider refuses, which a retry cannot fix;
//! - a host the tenant did not grant is `invalid-config` too;
//! - anything else (402 "declined", a malformed answer) is `fatal`.
//!
//! The message names the provider, the status and the provider's own error
//! text, cut to [`DETAIL_CHARS`] characters.

use crate::NodeError;
use crate::http::{HttpError, Request, Response};

/// How much of a provider's error text a node error carries.
pub const DETAIL_CHARS: usize = 300;

/// Sends `request`; transport failures become node errors. Any status is
/// returned: pass the response to [`check`].
pub fn send(provider: &str, request: &Request) -> Result<Response, NodeError> {
    request.send().map_err(|e| transport_error(provider, e))
}

/// Sends `request` and turns a non-2xx answer into its node error.
pub fn call(provider: &str, request: &Request) -> Result<Response, NodeError> {
    check(provider, send(provider, request)?)
}

/// The response when it is 2xx, otherwise the node error its status means.
pub fn check(provider: &str, response: Response) -> Result<Response, NodeError> {
    if response.is_success() { Ok(response) } else { Err(status_error(provider, response.status, &response.body)) }
}

/// The node error for an HTTP failure that never reached the provider.
pub fn transport_error(provider: &str, error: HttpError) -> NodeError {
    match error {
        HttpError::Transport(m) => NodeError::Retryable(format!("{provider}: {m}")),
        HttpError::Denied(_) | HttpError::InvalidRequest(_) => NodeError::InvalidConfig(format!("{provider}: {error}")),
        HttpError::InvalidResponse(_) | HttpError::ResponseTooLarge(_) => {
            NodeError::Fatal(format!("{provider}: {error}"))
        }
    }
}

/// The node error for a provider's answer with `status` and `body`.
pub fn status_error(provider: &str, status: u16, body: &[u8]) -> NodeError {
    let detail = detail(body);
    let message = if detail.is_empty() {
        format!("{provider} answered HTTP {status}")
    } else {
        format!("{provider} answered HTTP {status}: {detail}")
    };
    match status {
        408 | 409 | 425 | 429 | 500..=599 => NodeError::Retryable(message),
        400 | 401 | 403 | 404 | 422 => NodeError::InvalidConfig(message),
        _ => NodeError::Fatal(message),
    }
}

/// The provider's own words from an error body: the usual JSON shapes
/// (`{"error": {"message"}}`, `{"message"}`, `{"errors": [{"message"}]}`,
/// `{"error": "code"}`), else the text itself, on one line and cut short.
pub fn detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => message_in(&json).unwrap_or_else(|| json.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn message_in(json: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    json.pointer("/error/message")
        .and_then(text)
        .or_else(|| json.get("message").and_then(text))
        .or_else(|| json.pointer("/errors/0/message").and_then(text))
        .or_else(|| json.get("error").and_then(text))
        .or_else(|| json.get("detail").and_then(text))
}

/// `application/x-www-form-urlencoded` of the pairs, in order.
pub fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(error: &NodeError) -> &'static str {
        match error {
            NodeError::Retryable(_) => "retryable",
            NodeError::InvalidConfig(_) => "invalid-config",
            NodeError::InvalidInput(_) => "invalid-input",
            NodeError::Fatal(_) => "fatal",
        }
    }

    #[test]
    fn statuses_map_to_node_errors() {
        for (status, expected) in [
            (429, "retryable"),
            (500, "retryable"),
            (503, "retryable"),
            (408, "retryable"),
            (400, "invalid-config"),
            (401, "invalid-config"),
            (403, "invalid-config"),
            (404, "invalid-config"),
            (422, "invalid-config"),
            (402, "fatal"),
            (410, "fatal"),
        ] {
            assert_eq!(kind(&status_error("Stripe", status, b"")), expected, "HTTP {status}");
        }
    }

    #[test]
    fn the_providers_message_is_kept() {
        let stripe = br#"{"error": {"type": "invalid_request_error", "message": "No such customer: 'cus_1'"}}"#;
        assert_eq!(detail(stripe), "No such customer: 'cus_1'");
        assert_eq!(
            detail(br#"{"code": 21211, "message": "The 'To' number is not valid.", "status": 400}"#),
            "The 'To' number is not valid."
        );
        assert_eq!(
            detail(br#"{"errors": [{"message": "The from address does not match", "field": "from"}]}"#),
            "The from address does not match"
        );
        assert_eq!(detail(br#"{"ok": false, "error": "channel_not_found"}"#), "channel_not_found");
        assert_eq!(detail(b"The supplied authentication is invalid\n"), "The supplied authentication is invalid");
        let long = "x".repeat(1000);
        assert_eq!(detail(long.as_bytes()).chars().count(), DETAIL_CHARS + 1);
        let NodeError::InvalidConfig(message) = status_error("Resend", 422, br#"{"message": "bad to"}"#) else {
            panic!("not invalid-config")
        };
        assert_eq!(message, "Resend answered HTTP 422: bad to");
    }

    #[test]
    fn transport_failures_are_retryable_and_denials_are_config() {
        assert_eq!(kind(&transport_error("Slack", HttpError::Transport("timed out".into()))), "retryable");
        assert_eq!(kind(&transport_error("Slack", HttpError::Denied("denied: host".into()))), "invalid-config");
        assert_eq!(kind(&transport_error("Slack", HttpError::ResponseTooLarge("big".into()))), "fatal");
    }

    #[test]
    fn forms_encode_like_browsers() {
        assert_eq!(
            form([("To", "whatsapp:+14155550100"), ("Body", "Hi & bye ü")]),
            "To=whatsapp%3A%2B14155550100&Body=Hi+%26+bye+%C3%BC"
        );
    }
}
