//! One exchange with Stripe: `Authorization: Bearer <secret key>`,
//! form-encoded parameters, `Idempotency-Key` on every POST, and errors
//! mapped from the status (and `Stripe-Should-Retry` when Stripe sends it).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{NodeError, SecretName, provider};

use crate::form;

const PLUGIN: &str = "trellis/stripe";

/// The credentials every kind takes.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The tenant secret that holds the secret or restricted key
    /// (`sk_live_…`, `sk_test_…`, `rk_…`).
    #[schemars(title = "Secret key secret", example = &"STRIPE_SECRET_KEY")]
    pub api_key: SecretName,
    /// A `Stripe-Version` to pin; the account's default when left out.
    #[serde(default)]
    #[schemars(title = "API version", example = &"2024-06-20")]
    pub api_version: Option<String>,
    /// Stripe's API root. Change it only for a compatible endpoint (e.g.
    /// stripe-mock); its host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "API base URL", example = &"https://api.stripe.com")]
    pub api_base: Option<String>,
}

impl Account {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base.as_deref().unwrap_or("https://api.stripe.com").trim_end_matches('/'))
    }

    /// `POST path` with `params`, deduplicated by Stripe on `idempotency_key`.
    pub fn post(&self, path: &str, params: &Value, idempotency_key: &str) -> Result<Value, NodeError> {
        let body = provider::form(form::pairs(params).iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let request = self
            .request(Request::post(self.url(path)))?
            .header("content-type", "application/x-www-form-urlencoded")
            .header("idempotency-key", idempotency_key)
            .body(body);
        exchange(&request)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, NodeError> {
        exchange(&self.request(Request::get(self.url(path)))?)
    }

    fn request(&self, request: Request) -> Result<Request, NodeError> {
        let key = self.api_key.read("api_key", PLUGIN)?;
        let mut request = request.header("authorization", &format!("Bearer {key}"));
        if let Some(version) = &self.api_version {
            request = request.header("stripe-version", version);
        }
        Ok(request)
    }
}

fn exchange(request: &Request) -> Result<Value, NodeError> {
    let response = provider::send("Stripe", request)?;
    if !response.is_success() {
        let error = provider::status_error("Stripe", response.status, &response.body);
        return Err(match (response.header("stripe-should-retry"), error) {
            (Some("true"), NodeError::InvalidConfig(m) | NodeError::Fatal(m)) => NodeError::Retryable(m),
            (Some("false"), NodeError::Retryable(m)) => NodeError::Fatal(m),
            (_, error) => error,
        });
    }
    response.json().map_err(|e| NodeError::Fatal(format!("Stripe: {e}")))
}

/// A path segment from an id a config gives: letters, digits and `_`.
pub fn object_id(field: &str, id: &str, prefixes: &[&str]) -> Result<String, NodeError> {
    let id = id.trim();
    let valid = prefixes.iter().any(|p| id.starts_with(p))
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(id.to_owned())
    } else {
        Err(NodeError::InvalidConfig(format!(
            "config.{field}: `{id}` is not a Stripe id starting {}",
            prefixes.join(" or ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_they_enter_a_path() {
        assert_eq!(object_id("id", " ch_3Nx1 ", &["ch_", "py_"]).unwrap(), "ch_3Nx1");
        for bad in ["pi_1/../customers", "ch_1?expand=x", "cus_1", ""] {
            assert!(
                matches!(object_id("id", bad, &["ch_"]), Err(NodeError::InvalidConfig(m)) if m.starts_with("config.id")),
                "{bad}"
            );
        }
    }
}
