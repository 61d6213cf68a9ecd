//! A component whose `describe` is invalid: it offers two kinds under one
//! name. It loads (the world is right), so only running `describe` at
//! publish time can refuse it.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, plugin};

#[derive(Deserialize, JsonSchema)]
struct Config {}

struct First;

impl Node for First {
    const KIND: &'static str = "twin";
    const TITLE: &'static str = "Twin";
    const DESCRIPTION: &'static str = "One of two kinds with the same name";
    type Config = Config;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, _config: Config, input: Value) -> Result<Emits<Value>, NodeError> {
        Ok(Emits::out(input))
    }
}

struct Second;

impl Node for Second {
    const KIND: &'static str = "twin";
    const TITLE: &'static str = "Twin again";
    const DESCRIPTION: &'static str = "The other kind with the same name";
    type Config = Config;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, _config: Config, input: Value) -> Result<Emits<Value>, NodeError> {
        Ok(Emits::out(input))
    }
}

plugin!(First, Second);
