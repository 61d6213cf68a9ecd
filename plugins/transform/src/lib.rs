//! `trellis/transform`: reshape JSON with minijinja templates.
//!
//! minijinja is a sandboxed Jinja2 engine: no I/O, a recursion limit, and
//! fuel (every instruction costs one unit) so a template cannot run forever.

use minijinja::{Environment, UndefinedBehavior, Value as JinjaValue};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, plugin};

/// Instruction budget per template evaluation; ample for reshaping, small
/// enough that a runaway loop ends long before the sandbox's own fuel limit.
const DEFAULT_FUEL: u64 = 1_000_000;

fn environment(fuel: Option<u64>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(fuel.unwrap_or(DEFAULT_FUEL).min(DEFAULT_FUEL * 100)));
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

/// Templates see the node's input as `input`.
fn input_context(input: &Value) -> JinjaValue {
    minijinja::context! { input => JinjaValue::from_serialize(input) }
}

/// A string holding exactly one `{{ … }}` and nothing else is evaluated as an
/// expression so numbers, lists and objects keep their JSON type.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    Some(inner.trim_matches('-').trim())
}

fn render_value(env: &Environment<'_>, template: &Value, context: &JinjaValue, path: &str) -> Result<Value, NodeError> {
    let fail = |e: minijinja::Error| NodeError::InvalidConfig(format!("config.template{path}: {e:#}"));
    match template {
        Value::String(text) => {
            if let Some(expr) = sole_expression(text) {
                let value = env.compile_expression(expr).map_err(fail)?.eval(context).map_err(fail)?;
                if value.is_undefined() {
                    return Ok(Value::Null);
                }
                serde_json::to_value(&value)
                    .map_err(|e| NodeError::InvalidConfig(format!("config.template{path}: not JSON: {e}")))
            } else if text.contains("{{") || text.contains("{%") {
                env.render_str(text, context).map(Value::String).map_err(fail)
            } else {
                Ok(template.clone())
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| render_value(env, item, context, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, item) in fields {
                out.insert(key.clone(), render_value(env, item, context, &format!("{path}.{key}"))?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReshapeConfig {
    /// Any JSON. Strings are minijinja templates over `input`; a string that
    /// is a single `{{ expression }}` keeps the expression's JSON type.
    template: Value,
    /// Instruction budget for the templates.
    #[serde(default)]
    fuel: Option<u64>,
}

struct Reshape;

impl Node for Reshape {
    const KIND: &'static str = "reshape";
    const TITLE: &'static str = "Reshape JSON";
    const DESCRIPTION: &'static str = "Builds a new JSON value from the input with templates";
    const CATEGORY: &'static str = "data";
    type Config = ReshapeConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: ReshapeConfig, input: Value) -> Result<Emits<Value>, NodeError> {
        let env = environment(config.fuel);
        Ok(Emits::out(render_value(&env, &config.template, &input_context(&input), "")?))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RenderConfig {
    /// A minijinja text template over `input`.
    template: String,
    #[serde(default)]
    fuel: Option<u64>,
}

struct Render;

impl Node for Render {
    const KIND: &'static str = "render";
    const TITLE: &'static str = "Render text";
    const DESCRIPTION: &'static str = "Renders a text template (messages, reports) from the input";
    const CATEGORY: &'static str = "data";
    type Config = RenderConfig;
    type Input = Value;
    type Output = String;

    fn run(_cx: &Context, config: RenderConfig, input: Value) -> Result<Emits<String>, NodeError> {
        let env = environment(config.fuel);
        env.render_str(&config.template, input_context(&input))
            .map(Emits::out)
            .map_err(|e| NodeError::InvalidConfig(format!("config.template: {e:#}")))
    }
}

plugin!(Reshape, Render);
