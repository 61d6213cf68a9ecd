//! What each built-in node is, in the shape the catalog gives plugin kinds:
//! title, description, config/input/output JSON Schemas and ports. The
//! config schema is the one validation checks documents against.

use serde_json::{Value, json};

use super::document::Builtin;

/// A built-in node kind as the catalog lists it.
pub fn describe(builtin: Builtin) -> Value {
    let (title, description, ports, input, output) = match builtin {
        Builtin::Branch => (
            "Branch",
            "Sends its input on `true` or `false` by a condition",
            json!(["true", "false"]),
            any("Passed on unchanged"),
            any("The node's input"),
        ),
        Builtin::Switch => (
            "Switch",
            "Sends its input on the port named by the case the value matches, else `default`",
            json!(["default"]),
            any("Passed on unchanged"),
            any("The node's input"),
        ),
        Builtin::Map => (
            "Map",
            "Runs a sub-graph once per item (as child runs) and emits their outputs in item order",
            json!(["out"]),
            any("Seen by the items expression as `input`"),
            json!({"type": "array", "description": "Each item's run output, in item order"}),
        ),
        Builtin::Delay => (
            "Delay",
            "Waits, durably (a restart continues the wait), then passes its input on",
            json!(["out"]),
            any("Passed on unchanged"),
            any("The node's input"),
        ),
        Builtin::Approval => (
            "Approval",
            "Waits for a person's decision through the API or `trellis approve`",
            json!(["approved", "rejected"]),
            any("Shown with the decision"),
            json!({"type": "object", "required": ["decision", "input"], "properties": {
                "decision": {"type": "object", "description": "`approved` (boolean) and an optional `comment`"},
                "input": {"description": "The node's input"}}}),
        ),
        Builtin::Subworkflow => (
            "Subworkflow",
            "Runs a saved workflow as a child run and emits its output",
            json!(["out"]),
            any("Seen by the config's expressions as `input`"),
            any("The child run's output"),
        ),
        Builtin::Respond => (
            "Respond",
            "Sets the reply to the webhook request that started the run, and passes its input on",
            json!(["out"]),
            any("Passed on unchanged"),
            any("The node's input"),
        ),
        Builtin::Agent => (
            "Agent",
            "Asks an LLM, which may call the listed node kinds as tools (each call a sandboxed execution, \
             some after a person's approval), until it answers",
            json!(["out"]),
            any("Sent to the model as the prompt when `prompt` is left out"),
            json!({"type": "object", "required": ["answer", "turns", "tool_calls"], "properties": {
                "answer": {"type": "string", "description": "The model's final answer"},
                "turns": {"type": "integer", "description": "Model turns taken"},
                "tool_calls": {"type": "integer", "description": "Tool calls made"}}}),
        ),
    };
    let mut kind = json!({
        "name": builtin.name(),
        "title": title,
        "description": description,
        "category": "control",
        "config_schema": config_schema(builtin),
        "input_schema": input,
        "output_schema": output,
        "ports": ports,
    });
    if builtin == Builtin::Switch {
        kind["dynamic_ports"] = json!({"from": "config.cases", "description": "one port per case, before `default`"});
    }
    kind
}

fn any(description: &str) -> Value {
    json!({"description": description})
}

/// The engine's own schema for each built-in's config.
pub fn config_schema(builtin: Builtin) -> Value {
    let expression = |what: &str| json!({"type": "string", "minLength": 1, "description": what});
    match builtin {
        Builtin::Branch => json!({"type": "object", "required": ["condition"], "additionalProperties": false,
            "properties": {"condition": expression("An expression (`input.score > 7`): true sends on `true`")}}),
        Builtin::Switch => json!({"type": "object", "required": ["value", "cases"], "additionalProperties": false,
            "properties": {"value": expression("An expression whose value names the port"),
                "cases": {"type": "array", "description": "Port names, one per case",
                    "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}}}),
        Builtin::Map => json!({"type": "object", "required": ["items", "nodes"], "additionalProperties": false,
            "properties": {"items": {"type": ["string", "array"], "description": "A list, or an expression giving one"},
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 64, "description": "Items run at once"},
                "nodes": {"type": "array", "minItems": 1, "description": "The sub-graph's nodes; each sees its item as `input`"},
                "edges": {"type": "array", "description": "The sub-graph's edges"}}}),
        Builtin::Delay => json!({"type": "object", "required": ["ms"], "additionalProperties": false,
            "properties": {"ms": {"type": ["integer", "string"], "minimum": 0,
                "description": "Milliseconds, or an expression giving them"}}}),
        Builtin::Approval => json!({"type": "object", "additionalProperties": false,
            "properties": {"message": {"type": "string", "description": "What the approver is asked"}}}),
        Builtin::Subworkflow => json!({"type": "object", "required": ["workflow"], "additionalProperties": false,
            "properties": {"workflow": {"type": "string", "description": "The saved workflow's id"},
                "version": {"type": "integer", "minimum": 1, "description": "A saved version; the latest when left out"},
                "input": {"description": "The child run's input"}}}),
        Builtin::Agent => json!({"type": "object", "required": ["tools"], "additionalProperties": false,
            "properties": {
                "system": {"type": "string", "title": "System prompt", "description": "Who the agent is and how it works"},
                "prompt": {"type": "string", "title": "Prompt", "description": "The task; the node's input when left out"},
                "model": {"type": "string", "description": "A model the tenant's providers allow; the default one when left out"},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "max_tokens": {"type": "integer", "minimum": 1, "description": "Tokens one model turn may answer with"},
                "max_iterations": {"type": "integer", "minimum": 1, "maximum": crate::executor::agent::MAX_ITERATIONS,
                    "default": crate::executor::agent::DEFAULT_ITERATIONS,
                    "description": "Model turns before the node fails without an answer"},
                "tools": {"type": "array", "maxItems": crate::executor::agent::MAX_TOOLS,
                    "description": "Installed node kinds the model may call",
                    "items": {"type": "object", "required": ["uses", "kind"], "additionalProperties": false,
                        "properties": {
                            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
                                "description": "What the model calls it; `kind` when left out"},
                            "description": {"type": "string", "description": "What it does, for the model; the kind's when left out"},
                            "uses": {"type": "string", "description": "`publisher/plugin@version`, installed in the tenant"},
                            "kind": {"type": "string"},
                            "config": {"type": "object",
                                "description": "Fixed config; `{{ input.… }}` reads the model's arguments"},
                            "parameters": {"type": "object",
                                "description": "JSON Schema of the arguments; the kind's input schema when left out"},
                            "approval": {"type": "boolean", "description": "A person approves each call before it runs"},
                            "timeout_ms": {"type": "integer", "minimum": 1}}}}}}),
        Builtin::Respond => json!({"type": "object", "additionalProperties": false,
            "properties": {"status": {"type": ["integer", "string"], "description": "The HTTP status"},
                "body": {"description": "The reply's JSON body"},
                "headers": {"type": "object", "description": "Reply headers"}}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in is described, and its config schema compiles.
    #[test]
    fn every_builtin_has_compiling_schemas_and_ports() {
        for builtin in Builtin::ALL {
            let kind = describe(builtin);
            assert_eq!(kind["name"], builtin.name());
            for schema in ["config_schema", "input_schema", "output_schema"] {
                assert!(jsonschema::validator_for(&kind[schema]).is_ok(), "{} {schema}", builtin.name());
            }
            assert!(!kind["ports"].as_array().unwrap().is_empty());
        }
    }
}
