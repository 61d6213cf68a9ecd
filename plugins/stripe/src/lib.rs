//! `trellis/stripe`: Stripe's payments API as nodes. Every POST carries
//! the node's idempotency key, so a retried node never charges, refunds
//! or creates twice; amounts are in the currency's minor unit (cents), as
//! Stripe counts them.

mod api;
mod form;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, plugin};

use api::{Account, object_id};

/// Stripe's limit on line items in a payment link or checkout session.
const MAX_LINE_ITEMS: usize = 20;

/// One thing sold: a Price by id, or an amount, currency and product name.
#[derive(Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
struct LineItem {
    /// A Price (`price_…`) made in Stripe. Or give `amount`, `currency` and `name`.
    #[serde(default)]
    #[schemars(title = "Price id", example = &"price_1PqZ9cFz0123")]
    price: Option<String>,
    /// The unit price in the currency's minor unit (2000 = $20.00).
    #[serde(default)]
    #[schemars(title = "Amount (minor units)", range(min = 1), example = 2000)]
    amount: Option<u64>,
    /// A three-letter ISO currency code.
    #[serde(default)]
    #[schemars(title = "Currency", example = &"usd")]
    currency: Option<String>,
    /// The product's name on the checkout page.
    #[serde(default)]
    #[schemars(title = "Product name", example = &"Agent plan, monthly")]
    name: Option<String>,
    #[serde(default = "one")]
    #[schemars(title = "Quantity", range(min = 1))]
    quantity: u64,
}

fn one() -> u64 {
    1
}

impl LineItem {
    fn params(&self, at: usize) -> Result<Value, NodeError> {
        let field = |name: &str| format!("config.line_items[{at}].{name}");
        match (&self.price, self.amount, &self.currency, &self.name) {
            (Some(price), None, None, None) => {
                let price = object_id(&format!("line_items[{at}].price"), price, &["price_"])?;
                Ok(json!({"price": price, "quantity": self.quantity}))
            }
            (None, Some(amount), Some(currency), Some(name)) => {
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(NodeError::InvalidConfig(format!(
                        "{}: `{currency}` is not an ISO currency code",
                        field("currency")
                    )));
                }
                Ok(json!({"price_data": {"currency": currency.to_ascii_lowercase(), "unit_amount": amount,
                          "product_data": {"name": name}}, "quantity": self.quantity}))
            }
            _ => Err(NodeError::InvalidConfig(format!(
                "config.line_items[{at}]: give `price`, or `amount`, `currency` and `name`"
            ))),
        }
    }
}

fn line_items(items: &[LineItem]) -> Result<Value, NodeError> {
    if items.is_empty() || items.len() > MAX_LINE_ITEMS {
        return Err(NodeError::InvalidConfig(format!("config.line_items: give 1 to {MAX_LINE_ITEMS} items")));
    }
    items.iter().enumerate().map(|(i, item)| item.params(i)).collect::<Result<Vec<_>, _>>().map(Value::Array)
}

fn text(object: &Value, field: &str) -> Option<String> {
    object[field].as_str().map(str::to_owned)
}

// ---- create-customer ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Create a customer")]
struct CustomerConfig {
    #[serde(flatten)]
    account: Account,
    #[schemars(title = "Email", example = &"ada@acme.dev")]
    email: String,
    #[serde(default)]
    #[schemars(title = "Name", example = &"Ada Lovelace")]
    name: Option<String>,
    #[serde(default)]
    #[schemars(title = "Phone", example = &"+14155550100")]
    phone: Option<String>,
    #[serde(default)]
    #[schemars(title = "Description")]
    description: Option<String>,
    /// Up to 50 keys of your own, kept on the customer.
    #[serde(default)]
    #[schemars(title = "Metadata", example = json!({"tenant": "acme"}))]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, JsonSchema)]
struct Customer {
    /// `cus_…`.
    id: String,
    email: Option<String>,
    name: Option<String>,
    livemode: bool,
}

struct CreateCustomer;

impl Node for CreateCustomer {
    const KIND: &'static str = "create-customer";
    const TITLE: &'static str = "Create a Stripe customer";
    const DESCRIPTION: &'static str = "Create a customer in Stripe (POST /v1/customers)";
    const CATEGORY: &'static str = "payments";
    type Config = CustomerConfig;
    type Input = Value;
    type Output = Customer;

    fn run(cx: &Context, config: CustomerConfig, _input: Value) -> Result<Emits<Customer>, NodeError> {
        if !config.email.contains('@') {
            return Err(NodeError::InvalidConfig(format!("config.email: `{}` is not an email address", config.email)));
        }
        let params = json!({"email": config.email, "name": config.name, "phone": config.phone,
                            "description": config.description, "metadata": config.metadata});
        let customer = config.account.post("/v1/customers", &params, &cx.idempotency_key)?;
        Ok(Emits::out(Customer {
            id: text(&customer, "id").unwrap_or_default(),
            email: text(&customer, "email"),
            name: text(&customer, "name"),
            livemode: customer["livemode"].as_bool().unwrap_or(false),
        }))
    }
}

// ---- payment-link ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Create a payment link")]
struct PaymentLinkConfig {
    #[serde(flatten)]
    account: Account,
    #[schemars(title = "Line items", length(min = 1, max = 20))]
    line_items: Vec<LineItem>,
    /// Where the buyer goes after paying; Stripe's confirmation page when left out.
    #[serde(default)]
    #[schemars(title = "Redirect after payment", example = &"https://acme.dev/thanks")]
    redirect_url: Option<String>,
    #[serde(default)]
    #[schemars(title = "Metadata")]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, JsonSchema)]
struct PaymentLink {
    /// `plink_…`.
    id: String,
    /// The page to send buyers to.
    url: String,
    active: bool,
}

struct CreatePaymentLink;

impl Node for CreatePaymentLink {
    const KIND: &'static str = "payment-link";
    const TITLE: &'static str = "Create a Stripe payment link";
    const DESCRIPTION: &'static str = "Create a shareable payment page (POST /v1/payment_links)";
    const CATEGORY: &'static str = "payments";
    type Config = PaymentLinkConfig;
    type Input = Value;
    type Output = PaymentLink;

    fn run(cx: &Context, config: PaymentLinkConfig, _input: Value) -> Result<Emits<PaymentLink>, NodeError> {
        let mut params = json!({"line_items": line_items(&config.line_items)?, "metadata": config.metadata});
        if let Some(url) = config.redirect_url {
            params["after_completion"] = json!({"type": "redirect", "redirect": {"url": url}});
        }
        let link = config.account.post("/v1/payment_links", &params, &cx.idempotency_key)?;
        Ok(Emits::out(PaymentLink {
            id: text(&link, "id").unwrap_or_default(),
            url: text(&link, "url").unwrap_or_default(),
            active: link["active"].as_bool().unwrap_or(false),
        }))
    }
}

// ---- checkout-session ----

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum CheckoutMode {
    /// One-time payment.
    #[default]
    Payment,
    /// Recurring prices start a subscription.
    Subscription,
    /// Save a payment method for later.
    Setup,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Create a checkout session")]
struct CheckoutConfig {
    #[serde(flatten)]
    account: Account,
    #[serde(default)]
    #[schemars(title = "Mode")]
    mode: CheckoutMode,
    #[serde(default)]
    #[schemars(title = "Line items", length(max = 20))]
    line_items: Vec<LineItem>,
    #[schemars(title = "Success URL", example = &"https://acme.dev/billing/done?session={CHECKOUT_SESSION_ID}")]
    success_url: String,
    #[serde(default)]
    #[schemars(title = "Cancel URL", example = &"https://acme.dev/billing")]
    cancel_url: Option<String>,
    /// An existing customer (`cus_…`); or give `customer_email`.
    #[serde(default)]
    #[schemars(title = "Customer")]
    customer: Option<String>,
    #[serde(default)]
    #[schemars(title = "Customer email", example = &"ada@acme.dev")]
    customer_email: Option<String>,
    /// Your own reference, returned in webhooks (e.g. the tenant or order id).
    #[serde(default)]
    #[schemars(title = "Client reference", example = &"{{ input.tenant_id }}")]
    client_reference_id: Option<String>,
    #[serde(default)]
    #[schemars(title = "Metadata")]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, JsonSchema)]
struct CheckoutSession {
    /// `cs_…`.
    id: String,
    /// The hosted checkout page.
    url: Option<String>,
    status: Option<String>,
    payment_status: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
}

struct CreateCheckoutSession;

impl Node for CreateCheckoutSession {
    const KIND: &'static str = "checkout-session";
    const TITLE: &'static str = "Create a Stripe checkout session";
    const DESCRIPTION: &'static str =
        "Start a hosted checkout for a payment, subscription or setup (POST /v1/checkout/sessions)";
    const CATEGORY: &'static str = "payments";
    type Config = CheckoutConfig;
    type Input = Value;
    type Output = CheckoutSession;

    fn run(cx: &Context, config: CheckoutConfig, _input: Value) -> Result<Emits<CheckoutSession>, NodeError> {
        let mode = serde_json::to_value(config.mode).unwrap_or(Value::Null);
        let items = match (config.mode, config.line_items.is_empty()) {
            (CheckoutMode::Setup, true) => Value::Null,
            _ => line_items(&config.line_items)?,
        };
        let customer = config.customer.as_deref().map(|c| object_id("customer", c, &["cus_"])).transpose()?;
        if customer.is_some() && config.customer_email.is_some() {
            return Err(NodeError::InvalidConfig("config: give `customer` or `customer_email`, not both".to_owned()));
        }
        let params = json!({"mode": mode, "line_items": items, "success_url": config.success_url,
            "cancel_url": config.cancel_url, "customer": customer, "customer_email": config.customer_email,
            "client_reference_id": config.client_reference_id, "metadata": config.metadata});
        let session = config.account.post("/v1/checkout/sessions", &params, &cx.idempotency_key)?;
        Ok(Emits::out(CheckoutSession {
            id: text(&session, "id").unwrap_or_default(),
            url: text(&session, "url"),
            status: text(&session, "status"),
            payment_status: text(&session, "payment_status"),
            amount_total: session["amount_total"].as_i64(),
            currency: text(&session, "currency"),
        }))
    }
}

// ---- refund ----

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Refund a payment")]
struct RefundConfig {
    #[serde(flatten)]
    account: Account,
    /// The payment intent (`pi_…`) to refund; or give `charge`.
    #[serde(default)]
    #[schemars(title = "Payment intent", example = &"pi_3PqZ9cFz0123")]
    payment_intent: Option<String>,
    /// The charge (`ch_…`) to refund.
    #[serde(default)]
    #[schemars(title = "Charge")]
    charge: Option<String>,
    /// Part of the amount, in minor units; the whole remaining amount when left out.
    #[serde(default)]
    #[schemars(title = "Amount (minor units)", range(min = 1))]
    amount: Option<u64>,
    #[serde(default)]
    #[schemars(title = "Reason")]
    reason: Option<RefundReason>,
    #[serde(default)]
    #[schemars(title = "Metadata")]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, JsonSchema)]
struct Refund {
    /// `re_…`.
    id: String,
    /// `pending`, `succeeded`, `failed`, `requires_action` or `canceled`.
    status: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    payment_intent: Option<String>,
    charge: Option<String>,
}

struct CreateRefund;

impl Node for CreateRefund {
    const KIND: &'static str = "refund";
    const TITLE: &'static str = "Refund a Stripe payment";
    const DESCRIPTION: &'static str = "Refund a payment intent or charge, wholly or in part (POST /v1/refunds)";
    const CATEGORY: &'static str = "payments";
    type Config = RefundConfig;
    type Input = Value;
    type Output = Refund;

    fn run(cx: &Context, config: RefundConfig, _input: Value) -> Result<Emits<Refund>, NodeError> {
        let target = match (&config.payment_intent, &config.charge) {
            (Some(pi), None) => json!({"payment_intent": object_id("payment_intent", pi, &["pi_"])?}),
            (None, Some(ch)) => json!({"charge": object_id("charge", ch, &["ch_", "py_"])?}),
            _ => {
                return Err(NodeError::InvalidConfig(
                    "config: give exactly one of `payment_intent` and `charge`".to_owned(),
                ));
            }
        };
        let mut params = target;
        params["amount"] = json!(config.amount);
        params["reason"] = serde_json::to_value(config.reason).unwrap_or(Value::Null);
        params["metadata"] = json!(config.metadata);
        let refund = config.account.post("/v1/refunds", &params, &cx.idempotency_key)?;
        Ok(Emits::out(Refund {
            id: text(&refund, "id").unwrap_or_default(),
            status: text(&refund, "status"),
            amount: refund["amount"].as_i64(),
            currency: text(&refund, "currency"),
            payment_intent: text(&refund, "payment_intent"),
            charge: text(&refund, "charge"),
        }))
    }
}

// ---- retrieve ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Read a payment")]
struct RetrieveConfig {
    #[serde(flatten)]
    account: Account,
    /// A charge (`ch_…`, `py_…`) or payment intent (`pi_…`).
    #[schemars(title = "Id", example = &"{{ input.data.object.payment_intent }}")]
    id: String,
}

#[derive(Serialize, JsonSchema)]
struct Payment {
    id: String,
    /// `charge` or `payment_intent`.
    object: String,
    /// A charge: `succeeded`, `pending`, `failed`; a payment intent: `succeeded`,
    /// `processing`, `requires_payment_method`, `canceled`…
    status: Option<String>,
    amount: Option<i64>,
    /// What was received (payment intents) or captured (charges).
    amount_received: Option<i64>,
    amount_refunded: Option<i64>,
    currency: Option<String>,
    customer: Option<String>,
    receipt_email: Option<String>,
    metadata: BTreeMap<String, String>,
}

struct Retrieve;

impl Node for Retrieve {
    const KIND: &'static str = "retrieve";
    const TITLE: &'static str = "Read a Stripe payment";
    const DESCRIPTION: &'static str =
        "Read a charge or payment intent by id (GET /v1/charges/{id}, /v1/payment_intents/{id})";
    const CATEGORY: &'static str = "payments";
    type Config = RetrieveConfig;
    type Input = Value;
    type Output = Payment;

    fn run(_cx: &Context, config: RetrieveConfig, _input: Value) -> Result<Emits<Payment>, NodeError> {
        let id = object_id("id", &config.id, &["ch_", "py_", "pi_"])?;
        let path =
            if id.starts_with("pi_") { format!("/v1/payment_intents/{id}") } else { format!("/v1/charges/{id}") };
        let object = config.account.get(&path)?;
        let received = object["amount_received"].as_i64().or_else(|| object["amount_captured"].as_i64());
        Ok(Emits::out(Payment {
            id: text(&object, "id").unwrap_or(id),
            object: text(&object, "object").unwrap_or_default(),
            status: text(&object, "status"),
            amount: object["amount"].as_i64(),
            amount_received: received,
            amount_refunded: object["amount_refunded"].as_i64(),
            currency: text(&object, "currency"),
            customer: text(&object, "customer"),
            receipt_email: text(&object, "receipt_email"),
            metadata: serde_json::from_value(object["metadata"].clone()).unwrap_or_default(),
        }))
    }
}

plugin!(CreateCustomer, CreatePaymentLink, CreateCheckoutSession, CreateRefund, Retrieve);

#[cfg(test)]
mod tests {
    use super::*;

    fn item(value: Value) -> LineItem {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn line_items_are_prices_or_inline_amounts() {
        assert_eq!(item(json!({"price": "price_1"})).params(0).unwrap(), json!({"price": "price_1", "quantity": 1}));
        let inline = item(json!({"amount": 2000, "currency": "USD", "name": "Pro", "quantity": 2})).params(0).unwrap();
        assert_eq!(
            inline["price_data"],
            json!({"currency": "usd", "unit_amount": 2000, "product_data": {"name": "Pro"}})
        );
        let both = item(json!({"price": "price_1", "amount": 5})).params(3);
        assert!(matches!(both, Err(NodeError::InvalidConfig(m)) if m.starts_with("config.line_items[3]")));
        let euro = item(json!({"amount": 5, "currency": "euro", "name": "x"})).params(0);
        assert!(matches!(euro, Err(NodeError::InvalidConfig(m)) if m.contains("currency")));
        assert!(line_items(&[]).is_err());
    }
}
