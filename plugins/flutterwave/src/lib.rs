//! `trellis/flutterwave`: Flutterwave's v3 API as nodes.
//!
//! - `payment-link`: a hosted payment page (`POST /v3/payments`). Its
//!   `tx_ref` is the node's idempotency key unless the config gives one,
//!   so a retried node asks for the same transaction, not a second one.
//! - `verify`: reads a transaction (`GET /v3/transactions/{id}/verify`, or
//!   by `tx_ref`) and emits on `verified` only when it succeeded with the
//!   amount, currency and reference the workflow expects — Flutterwave's
//!   own advice before giving value — otherwise on `rejected` with why.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, plugin, provider};

const PLUGIN: &str = "trellis/flutterwave";

/// The credentials both kinds take.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Account {
    /// The tenant secret that holds the secret key (`FLWSECK-…`).
    #[schemars(title = "Secret key secret", example = &"FLUTTERWAVE_SECRET_KEY")]
    secret_key: SecretName,
    /// Flutterwave's API root; its host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "API base URL", example = &"https://api.flutterwave.com")]
    api_base: Option<String>,
}

impl Account {
    fn request(&self, request: Request) -> Result<Request, NodeError> {
        let key = self.secret_key.read("secret_key", PLUGIN)?;
        Ok(request.header("authorization", &format!("Bearer {key}")).header("accept", "application/json"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base.as_deref().unwrap_or("https://api.flutterwave.com").trim_end_matches('/'))
    }

    /// Flutterwave wraps answers as `{"status": "success", "message", "data"}`.
    fn exchange(&self, request: Request) -> Result<Value, NodeError> {
        let response = provider::call("Flutterwave", &self.request(request)?)?;
        let answer: Value = response.json().map_err(|e| NodeError::Fatal(format!("Flutterwave: {e}")))?;
        if answer["status"] != "success" {
            let message = answer["message"].as_str().unwrap_or("no message");
            return Err(NodeError::Fatal(format!("Flutterwave answered status `{}`: {message}", answer["status"])));
        }
        Ok(answer["data"].clone())
    }
}

fn check_currency(field: &str, currency: &str) -> Result<String, NodeError> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(currency.to_ascii_uppercase())
    } else {
        Err(NodeError::InvalidConfig(format!("config.{field}: `{currency}` is not an ISO currency code")))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Customer {
    #[schemars(title = "Email", example = &"ada@acme.dev")]
    email: String,
    #[serde(default)]
    #[schemars(title = "Name")]
    name: Option<String>,
    #[serde(default)]
    #[schemars(title = "Phone number", example = &"+2348012345678")]
    phonenumber: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Create a Flutterwave payment link")]
struct LinkConfig {
    #[serde(flatten)]
    account: Account,
    /// Your unique reference for the transaction; the node's idempotency key when left out.
    #[serde(default)]
    #[schemars(title = "Transaction reference", example = &"order-1042")]
    tx_ref: Option<String>,
    /// In the currency's major unit (Flutterwave's convention): 2500.50 NGN.
    #[schemars(title = "Amount", range(min = 0.01), example = 2500)]
    amount: f64,
    #[serde(default = "ngn")]
    #[schemars(title = "Currency", example = &"NGN")]
    currency: String,
    /// Where Flutterwave sends the buyer after paying, with `status`,
    /// `tx_ref` and `transaction_id` in the query.
    #[schemars(title = "Redirect URL", example = &"https://acme.dev/pay/done")]
    redirect_url: String,
    #[schemars(title = "Customer")]
    customer: Customer,
    /// The title on the payment page.
    #[serde(default)]
    #[schemars(title = "Page title", example = &"Acme Security, monthly")]
    title: Option<String>,
    /// Comma-separated methods, e.g. `card, mobilemoneyghana, ussd`.
    #[serde(default)]
    #[schemars(title = "Payment options")]
    payment_options: Option<String>,
    /// Your own data, returned on the transaction.
    #[serde(default)]
    #[schemars(title = "Meta")]
    meta: Option<serde_json::Map<String, Value>>,
}

fn ngn() -> String {
    "NGN".to_owned()
}

#[derive(Serialize, JsonSchema)]
struct Link {
    /// The hosted payment page.
    link: String,
    tx_ref: String,
}

struct PaymentLink;

impl Node for PaymentLink {
    const KIND: &'static str = "payment-link";
    const TITLE: &'static str = "Create a Flutterwave payment link";
    const DESCRIPTION: &'static str = "Create a hosted payment page for an amount (POST /v3/payments)";
    const CATEGORY: &'static str = "payments";
    type Config = LinkConfig;
    type Input = Value;
    type Output = Link;

    fn run(cx: &Context, config: LinkConfig, _input: Value) -> Result<Emits<Link>, NodeError> {
        if !(config.amount.is_finite() && config.amount > 0.0) {
            return Err(NodeError::InvalidConfig("config.amount: must be more than 0".to_owned()));
        }
        let currency = check_currency("currency", &config.currency)?;
        let tx_ref = config.tx_ref.clone().unwrap_or_else(|| cx.idempotency_key.clone());
        let mut body = json!({
            "tx_ref": tx_ref,
            "amount": config.amount,
            "currency": currency,
            "redirect_url": config.redirect_url,
            "customer": {"email": config.customer.email, "name": config.customer.name,
                         "phonenumber": config.customer.phonenumber},
        });
        if let Some(title) = &config.title {
            body["customizations"] = json!({"title": title});
        }
        if let Some(options) = &config.payment_options {
            body["payment_options"] = json!(options);
        }
        if let Some(meta) = &config.meta {
            body["meta"] = Value::Object(meta.clone());
        }
        let request = Request::post(config.account.url("/v3/payments"))
            .json(&body)
            .map_err(|e| NodeError::InvalidConfig(e.to_string()))?;
        let data = config.account.exchange(request)?;
        let link = data["link"].as_str().ok_or_else(|| NodeError::Fatal("Flutterwave returned no link".to_owned()))?;
        Ok(Emits::out(Link { link: link.to_owned(), tx_ref }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Verify a Flutterwave transaction")]
struct VerifyConfig {
    #[serde(flatten)]
    account: Account,
    /// Flutterwave's transaction id (`transaction_id` on the redirect, `data.id`
    /// in the webhook); or give `tx_ref` alone to look it up by reference.
    #[serde(default)]
    #[schemars(title = "Transaction id", example = json!("{{ input.data.id }}"))]
    id: Option<Value>,
    /// The reference you created it with; checked against the transaction.
    #[serde(default)]
    #[schemars(title = "Expected reference", example = &"order-1042")]
    tx_ref: Option<String>,
    /// The amount you expect, at least (major units).
    #[schemars(title = "Expected amount", example = 2500)]
    amount: f64,
    #[schemars(title = "Expected currency", example = &"NGN")]
    currency: String,
}

#[derive(Serialize, JsonSchema)]
struct Verification {
    /// Every check passed.
    verified: bool,
    /// The checks that failed, in words.
    reasons: Vec<String>,
    id: Option<i64>,
    tx_ref: Option<String>,
    /// `successful`, `failed` or `pending`.
    status: Option<String>,
    amount: Option<f64>,
    currency: Option<String>,
    customer_email: Option<String>,
}

struct Verify;

impl Node for Verify {
    const KIND: &'static str = "verify";
    const TITLE: &'static str = "Verify a Flutterwave transaction";
    const DESCRIPTION: &'static str = "Read a transaction and emit on `verified` when it succeeded with the expected amount, currency and reference, else on `rejected`";
    const CATEGORY: &'static str = "payments";
    const PORTS: &'static [&'static str] = &["verified", "rejected"];
    type Config = VerifyConfig;
    type Input = Value;
    type Output = Verification;

    fn run(_cx: &Context, config: VerifyConfig, _input: Value) -> Result<Emits<Verification>, NodeError> {
        let currency = check_currency("currency", &config.currency)?;
        let path = match (&config.id, &config.tx_ref) {
            (Some(id), _) => {
                let id = id.as_u64().or_else(|| id.as_str().and_then(|s| s.trim().parse().ok())).ok_or_else(|| {
                    NodeError::InvalidConfig(format!(
                        "config.id: `{id}` is not a Flutterwave transaction id (a number)"
                    ))
                })?;
                format!("/v3/transactions/{id}/verify")
            }
            (None, Some(tx_ref)) => {
                format!("/v3/transactions/verify_by_reference?{}", provider::form([("tx_ref", tx_ref.as_str())]))
            }
            (None, None) => return Err(NodeError::InvalidConfig("config: give `id` or `tx_ref`".to_owned())),
        };
        let data = config.account.exchange(Request::get(config.account.url(&path)))?;
        let verification = judge(&data, config.amount, &currency, config.tx_ref.as_deref());
        let port = if verification.verified { "verified" } else { "rejected" };
        Ok(Emits::on(port, verification))
    }
}

fn judge(data: &Value, amount: f64, currency: &str, tx_ref: Option<&str>) -> Verification {
    let mut reasons = Vec::new();
    let status = data["status"].as_str();
    if status != Some("successful") {
        reasons.push(format!("status is {}, not successful", status.unwrap_or("missing")));
    }
    let paid = data["amount"].as_f64();
    if paid.is_none_or(|paid| paid < amount) {
        reasons.push(format!(
            "amount {} is under the expected {amount}",
            paid.map_or("missing".to_owned(), |p| p.to_string())
        ));
    }
    let paid_currency = data["currency"].as_str();
    if paid_currency != Some(currency) {
        reasons.push(format!("currency {} is not {currency}", paid_currency.unwrap_or("missing")));
    }
    let reference = data["tx_ref"].as_str();
    if let Some(expected) = tx_ref
        && reference != Some(expected)
    {
        reasons.push(format!("tx_ref {} is not {expected}", reference.unwrap_or("missing")));
    }
    Verification {
        verified: reasons.is_empty(),
        reasons,
        id: data["id"].as_i64(),
        tx_ref: reference.map(str::to_owned),
        status: status.map(str::to_owned),
        amount: paid,
        currency: paid_currency.map(str::to_owned),
        customer_email: data["customer"]["email"].as_str().map(str::to_owned),
    }
}

plugin!(PaymentLink, Verify);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_passes_only_when_every_check_does() {
        let data = json!({"id": 4, "tx_ref": "order-1", "status": "successful", "amount": 2500, "currency": "NGN",
                          "customer": {"email": "ada@acme.dev"}});
        let ok = judge(&data, 2500.0, "NGN", Some("order-1"));
        assert!(ok.verified && ok.reasons.is_empty());
        assert_eq!(ok.customer_email.as_deref(), Some("ada@acme.dev"));
        let short = judge(&data, 3000.0, "NGN", None);
        assert_eq!(short.reasons, ["amount 2500 is under the expected 3000"]);
        let all = judge(
            &json!({"status": "pending", "amount": 10, "currency": "USD", "tx_ref": "x"}),
            20.0,
            "NGN",
            Some("y"),
        );
        assert_eq!(all.reasons.len(), 4, "{:?}", all.reasons);
        assert!(check_currency("currency", "naira").is_err());
        assert_eq!(check_currency("currency", "kes").unwrap(), "KES");
    }
}
