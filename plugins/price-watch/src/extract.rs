//! A product's price from a page: schema.org JSON-LD first (a `Product`
//! with an `Offer`, a list of offers or an `AggregateOffer`, also inside
//! `@graph` or lists), then microdata (`itemprop="price"`), then
//! OpenGraph/product meta tags.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Found {
    pub name: Option<String>,
    pub price: f64,
    pub currency: Option<String>,
    /// `in_stock`, `out_of_stock`, `pre_order`, … (schema.org's
    /// ItemAvailability in snake case), when the page says.
    pub availability: Option<String>,
    /// `json-ld`, `microdata` or `opengraph`.
    pub source: &'static str,
}

pub fn from_html(html: &str) -> Option<Found> {
    let dom = tl::parse(html, tl::ParserOptions::default()).ok()?;
    let parser = dom.parser();
    let tags = |selector: &str| -> Vec<tl::HTMLTag<'_>> {
        dom.query_selector(selector)
            .map(|found| found.filter_map(|h| h.get(parser)?.as_tag().cloned()).collect())
            .unwrap_or_default()
    };
    let attr = |tag: &tl::HTMLTag<'_>, name: &str| -> Option<String> {
        tag.attributes().get(name).flatten().map(|v| v.as_utf8_str().into_owned())
    };
    for script in tags("script") {
        if attr(&script, "type").is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"))
            && let Ok(json) = serde_json::from_str::<Value>(script.inner_text(parser).trim())
            && let Some(found) = from_json_ld(&json)
        {
            return Some(found);
        }
    }
    let meta = tags("meta");
    let itemprop = |name: &str| -> Option<String> {
        meta.iter().find(|t| attr(t, "itemprop").as_deref() == Some(name)).and_then(|t| attr(t, "content")).or_else(
            || {
                tags(&format!("[itemprop={name}]"))
                    .first()
                    .and_then(|t| attr(t, "content").or_else(|| Some(t.inner_text(parser).into_owned())))
            },
        )
    };
    if let Some(price) = itemprop("price").as_deref().and_then(number) {
        return Some(Found {
            name: itemprop("name").map(|n| n.trim().to_owned()),
            price,
            currency: itemprop("priceCurrency"),
            availability: itemprop("availability").map(|a| availability(&a)),
            source: "microdata",
        });
    }
    let property = |names: &[&str]| -> Option<String> {
        meta.iter()
            .find(|t| attr(t, "property").is_some_and(|p| names.contains(&p.as_str())))
            .and_then(|t| attr(t, "content"))
    };
    let price = property(&["product:price:amount", "og:price:amount"]).as_deref().and_then(number)?;
    Some(Found {
        name: property(&["og:title"]),
        price,
        currency: property(&["product:price:currency", "og:price:currency"]),
        availability: property(&["product:availability", "og:availability"]).map(|a| availability(&a)),
        source: "opengraph",
    })
}

/// `"1,299.00"`, `"19.99 EUR"`, `19.99` as a number.
fn number(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-').collect();
    cleaned.parse().ok().filter(|n: &f64| n.is_finite())
}

fn value_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => number(s),
        _ => None,
    }
}

/// `https://schema.org/InStock` → `in_stock`.
fn availability(text: &str) -> String {
    let last = text.rsplit('/').next().unwrap_or(text).trim();
    let mut out = String::new();
    for (i, c) in last.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn is_type(node: &Value, wanted: &str) -> bool {
    match &node["@type"] {
        Value::String(t) => t == wanted || t.ends_with(&format!("/{wanted}")),
        Value::Array(types) => types.iter().any(|t| t.as_str() == Some(wanted)),
        _ => false,
    }
}

fn from_json_ld(json: &Value) -> Option<Found> {
    match json {
        Value::Array(items) => items.iter().find_map(from_json_ld),
        Value::Object(_) if json.get("@graph").is_some() => from_json_ld(&json["@graph"]),
        Value::Object(_) if is_type(json, "Product") => {
            let (price, currency, availability) = offer(&json["offers"])?;
            Some(Found {
                name: json["name"].as_str().map(str::to_owned),
                price,
                currency,
                availability,
                source: "json-ld",
            })
        }
        _ => None,
    }
}

/// Price, currency and availability of `offers`: one offer, the cheapest
/// of a list, or an aggregate's low price.
fn offer(offers: &Value) -> Option<(f64, Option<String>, Option<String>)> {
    match offers {
        Value::Array(list) => {
            list.iter().filter_map(offer).min_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
        }
        Value::Object(_) => {
            let price = value_number(&offers["price"])
                .or_else(|| value_number(&offers["lowPrice"]))
                .or_else(|| value_number(&offers["priceSpecification"]["price"]))?;
            let currency = offers["priceCurrency"]
                .as_str()
                .or_else(|| offers["priceSpecification"]["priceCurrency"].as_str())
                .map(str::to_owned);
            Some((price, currency, offers["availability"].as_str().map(availability)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(json_ld: &str) -> String {
        format!(r#"<html><head><script type="application/ld+json">{json_ld}</script></head><body></body></html>"#)
    }

    #[test]
    fn json_ld_products_offers_lists_aggregates_and_graphs() {
        let single = from_html(&page(r#"{"@type": "Product", "name": "Mug", "offers": {"@type": "Offer",
            "price": "12.50", "priceCurrency": "EUR", "availability": "https://schema.org/InStock"}}"#))
        .unwrap();
        assert_eq!((single.price, single.currency.as_deref(), single.name.as_deref()), (12.5, Some("EUR"), Some("Mug")));
        assert_eq!(single.availability.as_deref(), Some("in_stock"));
        let list = from_html(&page(r#"{"@type": "Product", "offers": [{"price": 30, "priceCurrency": "USD"},
            {"price": 25, "priceCurrency": "USD"}]}"#))
        .unwrap();
        assert_eq!(list.price, 25.0, "the cheapest offer");
        let aggregate =
            from_html(&page(r#"{"@type": "Product", "offers": {"@type": "AggregateOffer", "lowPrice": "9.99", "priceCurrency": "GBP"}}"#))
                .unwrap();
        assert_eq!((aggregate.price, aggregate.currency.as_deref()), (9.99, Some("GBP")));
        let graph = from_html(&page(r#"{"@graph": [{"@type": "WebPage"}, {"@type": "Product", "offers": {"price": "1,299.00"}}]}"#))
            .unwrap();
        assert_eq!(graph.price, 1299.0);
    }

    #[test]
    fn microdata_then_opengraph_and_nothing() {
        let micro = from_html(r#"<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Kettle</span>
            <meta itemprop="price" content="45.00"><meta itemprop="priceCurrency" content="CHF"></div>"#)
        .unwrap();
        assert_eq!((micro.price, micro.currency.as_deref()), (45.0, Some("CHF")));
        let og = from_html(r#"<head><meta property="product:price:amount" content="7.5">
            <meta property="product:price:currency" content="GBP"></head>"#)
        .unwrap();
        assert_eq!(og.price, 7.5);
        assert!(from_html("<html><body>No price</body></html>").is_none());
        assert!(from_html(&page("not json")).is_none());
        assert_eq!(value_number(&json!("$ 1,099.95")), Some(1099.95));
        assert_eq!(availability("https://schema.org/OutOfStock"), "out_of_stock");
    }
}
