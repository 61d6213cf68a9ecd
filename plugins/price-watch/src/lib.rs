//! `trellis/price-watch`: competitor and supplier price tracking.
//!
//! - `product-price` fetches a product page and reads its price, currency
//!   and availability (`extract.rs`);
//! - `track` keeps each product's price history in kv and emits on
//!   `changed` (with the delta) or `unchanged`.

mod extract;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, http, kv, plugin};

/// Price points kept per product; the oldest go first.
const MAX_HISTORY: usize = 100;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Product price")]
struct PriceConfig {
    /// The product page.
    #[schemars(title = "Page URL", example = &"https://shop.example.com/p/espresso-machine")]
    url: String,
}

#[derive(Serialize, JsonSchema)]
struct PriceOutput {
    url: String,
    #[serde(flatten)]
    found: extract::Found,
}

/// Reads a product page's price.
struct ProductPrice;

impl Node for ProductPrice {
    const KIND: &'static str = "product-price";
    const TITLE: &'static str = "Product price";
    const DESCRIPTION: &'static str =
        "Fetch a product page and read its price, currency and availability (JSON-LD, microdata or OpenGraph)";
    const CATEGORY: &'static str = "data";
    type Config = PriceConfig;
    type Input = Value;
    type Output = PriceOutput;

    fn run(_cx: &Context, config: PriceConfig, _input: Value) -> Result<Emits<PriceOutput>, NodeError> {
        let response = http::Request::get(&config.url)
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .map_err(|e| NodeError::Retryable(e.to_string()))?;
        match response.status {
            200..=299 => {}
            408 | 429 | 500..=599 => {
                return Err(NodeError::Retryable(format!("{} answered HTTP {}", config.url, response.status)));
            }
            status => return Err(NodeError::Fatal(format!("{} answered HTTP {status}", config.url))),
        }
        let found = extract::from_html(&response.text()).ok_or_else(|| {
            NodeError::Fatal(format!("{} has no price in its JSON-LD, microdata or OpenGraph tags", config.url))
        })?;
        Ok(Emits::out(PriceOutput { url: config.url, found }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Track a price")]
struct TrackConfig {
    /// What identifies the product across runs (its URL, a SKU).
    #[schemars(title = "Product key", example = &"{{ input.url }}")]
    key: String,
    /// The price seen now.
    #[schemars(title = "Price", example = json!("{{ input.price }}"))]
    price: f64,
    /// Changes smaller than this (in percent) count as unchanged.
    #[serde(default)]
    #[schemars(title = "Threshold (%)", range(min = 0.0), example = 1.0)]
    threshold_percent: f64,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
struct Point {
    price: f64,
    /// The run that saw it.
    run_id: String,
}

/// Keeps the history and says whether the price moved.
struct Track;

impl Node for Track {
    const KIND: &'static str = "track";
    const TITLE: &'static str = "Track a price";
    const DESCRIPTION: &'static str =
        "Keep a product's price history and emit on `changed` (with the delta) or `unchanged`";
    const CATEGORY: &'static str = "data";
    const PORTS: &'static [&'static str] = &["changed", "unchanged"];
    type Config = TrackConfig;
    type Input = Value;
    type Output = Value;

    fn run(cx: &Context, config: TrackConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        if config.key.is_empty() || config.key.len() > 200 {
            return Err(NodeError::InvalidConfig("config.key must be 1 to 200 bytes".to_owned()));
        }
        let storage = format!("history:{}", config.key);
        let mut history: Vec<Point> = kv::get_json(&storage).map_err(NodeError::Retryable)?.unwrap_or_default();
        // A retry of the same run does not add its point twice.
        if history.last().is_none_or(|p| p.run_id != cx.run_id) {
            history.push(Point { price: config.price, run_id: cx.run_id.clone() });
            if history.len() > MAX_HISTORY {
                history.drain(..history.len() - MAX_HISTORY);
            }
            kv::set_json(&storage, &history).map_err(NodeError::Retryable)?;
        }
        // What an earlier run saw last.
        let before = history.iter().rev().find(|p| p.run_id != cx.run_id).map(|p| p.price);
        let Some(before) = before else {
            let data = json!({"key": config.key, "price": config.price, "first": true, "points": history.len()});
            return Ok(Emits::on("unchanged", data));
        };
        let delta = config.price - before;
        let percent = if before == 0.0 { 100.0 } else { delta / before * 100.0 };
        let data = json!({"key": config.key, "price": config.price, "previous": before, "delta": delta,
                          "delta_percent": percent, "points": history.len()});
        if delta != 0.0 && percent.abs() >= config.threshold_percent {
            Ok(Emits::on("changed", data))
        } else {
            Ok(Emits::on("unchanged", data))
        }
    }
}

plugin!(ProductPrice, Track);
