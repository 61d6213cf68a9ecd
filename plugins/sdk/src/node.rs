use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::trellis::plugin::types as wit;

pub use wit::NodeError;

/// One kind of node. `Config` and `Input` are deserialized from the host's
/// JSON (a mismatch is `invalid-config` / `invalid-input`, never retried);
/// their JSON Schemas, derived with `schemars`, are what the catalog and the
/// workflow validator see.
pub trait Node {
    /// Machine name, unique within the plugin.
    const KIND: &'static str;
    const TITLE: &'static str;
    const DESCRIPTION: &'static str;
    const CATEGORY: &'static str = "general";
    /// Output ports this kind may emit on.
    const PORTS: &'static [&'static str] = &["out"];

    type Config: DeserializeOwned + schemars::JsonSchema;
    type Input: DeserializeOwned + schemars::JsonSchema;
    type Output: Serialize + schemars::JsonSchema;

    fn run(cx: &Context, config: Self::Config, input: Self::Input) -> Result<Emits<Self::Output>, NodeError>;
}

/// Who is running this node, for logs and idempotent side effects.
#[derive(Debug, Clone)]
pub struct Context {
    pub run_id: String,
    pub node_id: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// The same on every attempt of this node in this run: pass it to APIs
    /// that deduplicate (e.g. Stripe's `Idempotency-Key`).
    pub idempotency_key: String,
}

/// What a node emits: zero or more `(port, data)` pairs. Emitting nothing on
/// a port makes the edges from it dead.
#[derive(Debug)]
pub struct Emits<T> {
    items: Vec<(String, T)>,
}

impl<T> Emits<T> {
    /// Emits nothing: every outgoing edge is dead.
    pub fn none() -> Self {
        Emits { items: Vec::new() }
    }

    /// One value on the default `out` port.
    pub fn out(data: T) -> Self {
        Self::on("out", data)
    }

    /// One value on the named port.
    pub fn on(port: impl Into<String>, data: T) -> Self {
        Emits { items: vec![(port.into(), data)] }
    }

    /// Adds another value.
    pub fn and(mut self, port: impl Into<String>, data: T) -> Self {
        self.items.push((port.into(), data));
        self
    }

    /// The `(port, data)` pairs in the order emitted, for unit tests of `run`.
    pub fn into_items(self) -> Vec<(String, T)> {
        self.items
    }
}

fn schema_text<T: schemars::JsonSchema>() -> String {
    serde_json::to_string(&schemars::schema_for!(T)).unwrap_or_else(|_| "true".to_owned())
}

#[doc(hidden)]
pub fn describe_node<N: Node>() -> wit::NodeKind {
    wit::NodeKind {
        name: N::KIND.to_owned(),
        title: N::TITLE.to_owned(),
        description: N::DESCRIPTION.to_owned(),
        category: N::CATEGORY.to_owned(),
        config_schema: schema_text::<N::Config>(),
        input_schema: schema_text::<N::Input>(),
        output_schema: schema_text::<N::Output>(),
        ports: N::PORTS.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// An empty document means "nothing given", which is `null` in JSON.
fn parse_json<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    if text.trim().is_empty() { serde_json::from_str("null") } else { serde_json::from_str(text) }
}

#[doc(hidden)]
pub fn run_node<N: Node>(inv: wit::Invocation) -> Result<Vec<wit::Emit>, NodeError> {
    let config: N::Config = parse_json(&inv.config).map_err(|e| NodeError::InvalidConfig(format!("config: {e}")))?;
    let input: N::Input = parse_json(&inv.input).map_err(|e| NodeError::InvalidInput(format!("input: {e}")))?;
    let cx = Context {
        run_id: inv.run_id,
        node_id: inv.node_id,
        attempt: inv.attempt,
        idempotency_key: inv.idempotency_key,
    };
    let emits = N::run(&cx, config, input)?;
    emits
        .items
        .into_iter()
        .map(|(port, data)| {
            let data = serde_json::to_string(&data)
                .map_err(|e| NodeError::Fatal(format!("output on port `{port}` is not JSON: {e}")))?;
            Ok(wit::Emit { port, data })
        })
        .collect()
}
