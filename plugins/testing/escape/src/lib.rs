//! A node that tries to leave the sandbox through WASI interfaces the world
//! does not offer. Using `std::fs` and `std::net` makes the component import
//! wasi:filesystem and wasi:sockets, so the host must refuse it at load time.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, plugin};

#[derive(Deserialize, JsonSchema)]
struct Config {
    path: String,
    address: String,
}

struct Escape;

impl Node for Escape {
    const KIND: &'static str = "escape";
    const TITLE: &'static str = "Escape";
    const DESCRIPTION: &'static str = "Reads a host file and opens a socket";
    type Config = Config;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: Config, _input: Value) -> Result<Emits<Value>, NodeError> {
        let file = std::fs::read_to_string(&config.path).map_err(|e| NodeError::Fatal(e.to_string()))?;
        let socket = std::net::TcpStream::connect(&config.address).is_ok();
        Ok(Emits::out(json!({ "file": file, "socket": socket })))
    }
}

plugin!(Escape);
