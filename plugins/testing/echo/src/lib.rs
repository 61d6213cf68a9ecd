//! The smallest useful node: emits its input, tagged with a configured label.
//! Also the "normal plugin" the hostile-guest tests run after each attack.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, plugin};

#[derive(Deserialize, JsonSchema)]
struct Config {
    #[serde(default)]
    label: String,
}

#[derive(Serialize, JsonSchema)]
struct Output {
    label: String,
    input: Value,
    attempt: u32,
}

struct Echo;

impl Node for Echo {
    const KIND: &'static str = "echo";
    const TITLE: &'static str = "Echo";
    const DESCRIPTION: &'static str = "Emits its input unchanged, with a label";
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(cx: &Context, config: Config, input: Value) -> Result<Emits<Output>, NodeError> {
        Ok(Emits::out(Output { label: config.label, input, attempt: cx.attempt }))
    }
}

plugin!(Echo);
