//! Stripe's form encoding: nested objects and lists in bracket notation
//! (`metadata[order]=42`, `line_items[0][price]=price_1`).

use serde_json::Value;

/// The `(name, value)` pairs of an object; `null`s are left out.
pub fn pairs(params: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = params {
        for (key, value) in map {
            flatten(key.clone(), value, &mut out);
        }
    }
    out
}

fn flatten(name: String, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((name, b.to_string())),
        Value::Number(n) => out.push((name, n.to_string())),
        Value::String(s) => out.push((name, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(format!("{name}[{i}]"), item, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                flatten(format!("{name}[{key}]"), item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_params_use_brackets() {
        let params = json!({
            "mode": "payment",
            "line_items": [{"price_data": {"currency": "usd", "unit_amount": 2000, "product_data": {"name": "Pro"}}, "quantity": 1}],
            "metadata": {"tenant": "acme"},
            "customer": null,
            "allow_promotion_codes": true
        });
        // Keys come in serde_json's (sorted) order; Stripe reads them in any.
        assert_eq!(
            pairs(&params),
            [
                ("allow_promotion_codes".to_owned(), "true".to_owned()),
                ("line_items[0][price_data][currency]".to_owned(), "usd".to_owned()),
                ("line_items[0][price_data][product_data][name]".to_owned(), "Pro".to_owned()),
                ("line_items[0][price_data][unit_amount]".to_owned(), "2000".to_owned()),
                ("line_items[0][quantity]".to_owned(), "1".to_owned()),
                ("metadata[tenant]".to_owned(), "acme".to_owned()),
                ("mode".to_owned(), "payment".to_owned()),
            ]
        );
    }
}
