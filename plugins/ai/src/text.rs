//! What the model reads when a node's config names no text: the input as
//! it is when it is a string, else as pretty JSON.

use serde_json::Value;

pub fn input_text(input: &Value) -> String {
    match input {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}
