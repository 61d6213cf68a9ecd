//! Stripe and Flutterwave, as their APIs document them, with a few
//! payments already made: Stripe `pi_fake_paid` / `ch_fake_paid` ($20.00,
//! succeeded) and Flutterwave transactions 1163068 (2,500 NGN,
//! `order-1042`, successful) and 1163069 (pending).

use serde_json::{Map, Value, json};

use crate::messaging::idempotent;
use crate::{Memory, Reply, Seen, basic, bearer, keys};

pub(crate) fn route(memory: &mut Memory, seen: &Seen) -> Option<Reply> {
    let path = seen.path.as_str();
    if path.starts_with("/v1/") {
        return Some(stripe(memory, seen));
    }
    if path.starts_with("/v3/") {
        return Some(flutterwave(seen));
    }
    None
}

fn stripe_error(status: u16, kind: &str, message: &str, param: Option<&str>) -> Reply {
    let code = if status == 404 { json!("resource_missing") } else { Value::Null };
    Reply::json(status, json!({"error": {"type": kind, "code": code, "message": message, "param": param}}))
}

/// Stripe's form body, nested back from bracket notation.
fn stripe_params(seen: &Seen) -> Value {
    let mut root = Value::Object(Map::new());
    for (name, value) in seen.form() {
        let mut keys: Vec<String> = Vec::new();
        let (head, rest) = name.split_once('[').map_or((name.as_str(), ""), |(h, r)| (h, r));
        keys.push(head.to_owned());
        for part in rest.split('[') {
            let part = part.trim_end_matches(']');
            if !part.is_empty() {
                keys.push(part.to_owned());
            }
        }
        let mut node = &mut root;
        for key in &keys[..keys.len() - 1] {
            if !node.is_object() {
                break;
            }
            node = &mut node[key.as_str()];
            if node.is_null() {
                *node = json!({});
            }
        }
        if let (Some(map), Some(last)) = (node.as_object_mut(), keys.last()) {
            map.insert(last.clone(), Value::String(value));
        }
    }
    root
}

fn paid_intent() -> Value {
    json!({"id": "pi_fake_paid", "object": "payment_intent", "status": "succeeded", "amount": 2000,
           "amount_received": 2000, "currency": "usd", "customer": "cus_fake", "receipt_email": "ada@acme.dev",
           "latest_charge": "ch_fake_paid", "metadata": {"plan": "pro"}, "livemode": false})
}

fn paid_charge() -> Value {
    json!({"id": "ch_fake_paid", "object": "charge", "status": "succeeded", "paid": true, "amount": 2000,
           "amount_captured": 2000, "amount_refunded": 0, "currency": "usd", "customer": "cus_fake",
           "payment_intent": "pi_fake_paid", "receipt_email": "ada@acme.dev", "metadata": {"plan": "pro"},
           "livemode": false})
}

fn stripe(memory: &mut Memory, seen: &Seen) -> Reply {
    let key = bearer(seen).map(str::to_owned).or_else(|| basic(seen).map(|(user, _)| user));
    if key.as_deref() != Some(keys::STRIPE) {
        let shown = key
            .as_deref()
            .map_or("none".to_owned(), |k| format!("{}***{}", &k[..k.len().min(8)], &k[k.len().saturating_sub(4)..]));
        return stripe_error(401, "invalid_request_error", &format!("Invalid API Key provided: {shown}"), None);
    }
    if seen.method == "POST"
        && !seen.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        return stripe_error(400, "invalid_request_error", "Invalid request: the body must be form-encoded", None);
    }
    let params = stripe_params(seen);
    match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/v1/customers") => idempotent(memory, seen, "stripe", |memory| {
            Reply::json(
                200,
                json!({"id": memory.id("cus_fake"), "object": "customer", "email": params["email"],
                "name": params["name"], "phone": params["phone"], "metadata": params.get("metadata").cloned().unwrap_or(json!({})),
                "livemode": false}),
            )
        }),
        ("POST", "/v1/payment_links") => {
            if params["line_items"].is_null() {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    "Missing required param: line_items.",
                    Some("line_items"),
                );
            }
            idempotent(memory, seen, "stripe", |memory| {
                let id = memory.id("plink_fake");
                Reply::json(
                    200,
                    json!({"id": id, "object": "payment_link", "active": true,
                    "url": format!("https://buy.stripe.com/test_{id}"), "livemode": false}),
                )
            })
        }
        ("POST", "/v1/checkout/sessions") => {
            if params["success_url"].is_null() {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    "Missing required param: success_url.",
                    Some("success_url"),
                );
            }
            let items: Vec<&Value> = params["line_items"].as_object().map(|m| m.values().collect()).unwrap_or_default();
            if params["mode"] != "setup" && items.is_empty() {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    "Missing required param: line_items.",
                    Some("line_items"),
                );
            }
            let total: i64 = items
                .iter()
                .map(|item| {
                    let unit =
                        item["price_data"]["unit_amount"].as_str().and_then(|a| a.parse::<i64>().ok()).unwrap_or(1000);
                    unit * item["quantity"].as_str().and_then(|q| q.parse::<i64>().ok()).unwrap_or(1)
                })
                .sum();
            let currency = items.first().and_then(|i| i["price_data"]["currency"].as_str()).unwrap_or("usd").to_owned();
            idempotent(memory, seen, "stripe", |memory| {
                let id = memory.id("cs_test_fake");
                Reply::json(
                    200,
                    json!({"id": id, "object": "checkout.session", "mode": params["mode"],
                    "url": format!("https://checkout.stripe.com/c/pay/{id}"), "status": "open", "payment_status": "unpaid",
                    "amount_total": total, "currency": currency, "client_reference_id": params["client_reference_id"],
                    "customer_email": params["customer_email"], "success_url": params["success_url"]}),
                )
            })
        }
        ("POST", "/v1/refunds") => {
            let (field, id) = match (params["payment_intent"].as_str(), params["charge"].as_str()) {
                (Some(pi), None) => ("payment_intent", pi),
                (None, Some(ch)) => ("charge", ch),
                _ => {
                    return stripe_error(
                        400,
                        "invalid_request_error",
                        "One of `charge` or `payment_intent` is required.",
                        None,
                    );
                }
            };
            if id != "pi_fake_paid" && id != "ch_fake_paid" {
                return stripe_error(404, "invalid_request_error", &format!("No such {field}: '{id}'"), Some(field));
            }
            let amount = params["amount"].as_str().and_then(|a| a.parse::<i64>().ok()).unwrap_or(2000);
            if amount > 2000 {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    &format!("Refund amount (${:.2}) is greater than charge amount ($20.00)", amount as f64 / 100.0),
                    Some("amount"),
                );
            }
            idempotent(memory, seen, "stripe", |memory| {
                Reply::json(
                    200,
                    json!({"id": memory.id("re_fake"), "object": "refund", "status": "succeeded",
                    "amount": amount, "currency": "usd", "payment_intent": "pi_fake_paid", "charge": "ch_fake_paid",
                    "reason": params["reason"]}),
                )
            })
        }
        ("GET", "/v1/payment_intents/pi_fake_paid") => Reply::json(200, paid_intent()),
        ("GET", "/v1/charges/ch_fake_paid") => Reply::json(200, paid_charge()),
        ("GET", path) => {
            let (kind, id) = path.trim_start_matches("/v1/").split_once('/').unwrap_or(("object", ""));
            let kind = kind.trim_end_matches('s');
            stripe_error(404, "invalid_request_error", &format!("No such {kind}: '{id}'"), Some("id"))
        }
        _ => stripe_error(
            404,
            "invalid_request_error",
            &format!("Unrecognized request URL ({} {}).", seen.method, seen.path),
            None,
        ),
    }
}

fn flutterwave_transaction(id: u64) -> Option<Value> {
    match id {
        1163068 => Some(json!({"id": 1163068, "tx_ref": "order-1042", "flw_ref": "FLW-MOCK-1163068", "amount": 2500,
            "charged_amount": 2535, "currency": "NGN", "status": "successful", "payment_type": "card",
            "customer": {"id": 2180, "email": "ada@acme.dev", "name": "Ada Lovelace", "phone_number": "+2348012345678"}})),
        1163069 => Some(json!({"id": 1163069, "tx_ref": "order-1043", "flw_ref": "FLW-MOCK-1163069", "amount": 2500,
            "charged_amount": 2500, "currency": "NGN", "status": "pending", "payment_type": "ussd",
            "customer": {"id": 2181, "email": "grace@acme.dev", "name": "Grace Hopper"}})),
        _ => None,
    }
}

fn flutterwave(seen: &Seen) -> Reply {
    let error =
        |status: u16, message: &str| Reply::json(status, json!({"status": "error", "message": message, "data": null}));
    if bearer(seen) != Some(keys::FLUTTERWAVE) {
        return error(401, "Invalid authorization key");
    }
    let path = seen.path.as_str();
    match seen.method.as_str() {
        "POST" if path == "/v3/payments" => {
            let body = seen.json();
            for field in ["tx_ref", "amount", "currency", "redirect_url"] {
                if body[field].is_null() {
                    return error(400, &format!("{field} is required"));
                }
            }
            if body["customer"]["email"].as_str().is_none() {
                return error(400, "customer.email is required");
            }
            let tx_ref = body["tx_ref"].as_str().unwrap_or_default();
            Reply::json(
                200,
                json!({"status": "success", "message": "Hosted Link",
                "data": {"link": format!("https://checkout.flutterwave.com/v3/hosted/pay/flwlnk-{tx_ref}")}}),
            )
        }
        "GET" if path == "/v3/transactions/verify_by_reference" => {
            let tx_ref =
                seen.query_pairs().into_iter().find(|(k, _)| k == "tx_ref").map(|(_, v)| v).unwrap_or_default();
            let found = [1163068, 1163069]
                .into_iter()
                .filter_map(flutterwave_transaction)
                .find(|t| t["tx_ref"] == tx_ref.as_str());
            match found {
                Some(data) => Reply::json(
                    200,
                    json!({"status": "success", "message": "Transaction fetched successfully", "data": data}),
                ),
                None => error(400, "No transaction was found for this tx_ref"),
            }
        }
        "GET" if path.starts_with("/v3/transactions/") && path.ends_with("/verify") => {
            let id = path.trim_start_matches("/v3/transactions/").trim_end_matches("/verify");
            match id.parse().ok().and_then(flutterwave_transaction) {
                Some(data) => Reply::json(
                    200,
                    json!({"status": "success", "message": "Transaction fetched successfully", "data": data}),
                ),
                None => error(400, "No transaction was found for this id"),
            }
        }
        _ => error(404, "Route not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_forms_nest_back() {
        let seen = Seen {
            method: "POST".into(),
            path: "/v1/checkout/sessions".into(),
            query: String::new(),
            headers: Default::default(),
            body:
                "line_items[0][price_data][unit_amount]=2000&line_items[0][quantity]=2&metadata[plan]=pro&mode=payment"
                    .into(),
        };
        assert_eq!(
            stripe_params(&seen),
            json!({"line_items": {"0": {"price_data": {"unit_amount": "2000"}, "quantity": "2"}},
            "metadata": {"plan": "pro"}, "mode": "payment"})
        );
    }
}
