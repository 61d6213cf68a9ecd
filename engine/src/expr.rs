//! Expressions in workflow configs, with minijinja: a sandboxed Jinja2
//! (no I/O, recursion limit) with fuel so no expression runs long.
//!
//! In a config, a string that is exactly `{{ expr }}` evaluates to the
//! expression's JSON value (numbers stay numbers); a string with `{{ }}` or
//! `{% %}` elsewhere renders to text; other strings are literal. Conditions
//! (`branch.condition`, `switch.value`) are bare expressions.
//! The context is `input` (the run input) and `nodes.<id>.output|status`.

use minijinja::{Environment, UndefinedBehavior, Value as JinjaValue};
use serde_json::{Map, Value};
use thiserror::Error;

/// Instructions per evaluation; plenty for field access and filters.
const FUEL: u64 = 200_000;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{path}: expression `{expression}`{position}: {message}")]
pub struct ExprError {
    /// Where the expression sits, e.g. `config.url`.
    pub path: String,
    pub expression: String,
    /// ` at line L, column C` when known.
    pub position: String,
    pub message: String,
}

/// Built once: an environment holds no per-evaluation state (fuel is
/// counted per render), and building one registers every filter.
fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(|| {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env
    });
    &ENVIRONMENT
}

/// Whether any string inside `value` is a template.
pub fn has_templates(value: &Value) -> bool {
    match value {
        Value::String(text) => is_template(text),
        Value::Array(items) => items.iter().any(has_templates),
        Value::Object(fields) => fields.values().any(has_templates),
        _ => false,
    }
}

fn error(path: &str, source: &str, e: &minijinja::Error) -> ExprError {
    let position = match (e.line(), e.range()) {
        (Some(line), Some(range)) => {
            let line_start = source[..range.start.min(source.len())].rfind('\n').map(|i| i + 1).unwrap_or(0);
            format!(" at line {line}, column {}", range.start - line_start + 1)
        }
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    };
    ExprError {
        path: path.to_owned(),
        expression: source.to_owned(),
        position,
        message: e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string()),
    }
}

/// A string that is one `{{ … }}` and nothing else: its inner expression.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    Some(inner.trim_matches('-').trim())
}

/// Whether a config string is evaluated rather than taken literally.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// Checks a bare expression parses.
pub fn check_expression(path: &str, expression: &str) -> Result<(), ExprError> {
    environment().compile_expression(expression).map(|_| ()).map_err(|e| error(path, expression, &e))
}

/// Checks every template string inside `value` parses; returns all errors.
pub fn check_templates(path: &str, value: &Value) -> Vec<ExprError> {
    let env = environment();
    let mut errors = Vec::new();
    walk_strings(path, value, &mut |path, text| {
        if let Some(expr) = sole_expression(text) {
            if let Err(e) = env.compile_expression(expr) {
                errors.push(error(path, expr, &e));
            }
        } else if is_template(text)
            && let Err(e) = env.template_from_str(text)
        {
            errors.push(error(path, text, &e));
        }
    });
    errors
}

fn walk_strings(path: &str, value: &Value, f: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::String(text) => f(path, text),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(&format!("{path}[{i}]"), item, f);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                walk_strings(&format!("{path}.{key}"), item, f);
            }
        }
        _ => {}
    }
}

/// Evaluates a bare expression against `context`.
pub fn evaluate(path: &str, expression: &str, context: &Value) -> Result<Value, ExprError> {
    let env = environment();
    let compiled = env.compile_expression(expression).map_err(|e| error(path, expression, &e))?;
    let value = compiled.eval(JinjaValue::from_serialize(context)).map_err(|e| error(path, expression, &e))?;
    to_json(path, expression, &value)
}

/// Truthiness as Jinja defines it (empty, zero, none and false are false).
pub fn truthy(value: &Value) -> bool {
    JinjaValue::from_serialize(value).is_true()
}

fn to_json(path: &str, expression: &str, value: &JinjaValue) -> Result<Value, ExprError> {
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    serde_json::to_value(value).map_err(|e| ExprError {
        path: path.to_owned(),
        expression: expression.to_owned(),
        position: String::new(),
        message: format!("result is not JSON: {e}"),
    })
}

/// Resolves every template inside a config value against `context`.
pub fn render(path: &str, value: &Value, context: &Value) -> Result<Value, ExprError> {
    if !has_templates(value) {
        return Ok(value.clone());
    }
    let context = JinjaValue::from_serialize(context);
    render_with(environment(), path, value, &context)
}

fn render_with(env: &Environment<'_>, path: &str, value: &Value, context: &JinjaValue) -> Result<Value, ExprError> {
    match value {
        Value::String(text) => {
            if let Some(expr) = sole_expression(text) {
                let compiled = env.compile_expression(expr).map_err(|e| error(path, expr, &e))?;
                let result = compiled.eval(context).map_err(|e| error(path, expr, &e))?;
                to_json(path, expr, &result)
            } else if is_template(text) {
                env.render_str(text, context).map(Value::String).map_err(|e| error(path, text, &e))
            } else {
                Ok(value.clone())
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| render_with(env, &format!("{path}[{i}]"), item, context))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, item) in fields {
                out.insert(key.clone(), render_with(env, &format!("{path}.{key}"), item, context)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sole_expressions_keep_their_type_and_templates_render_text() {
        let context =
            json!({"input": {"n": 2, "name": "ada"}, "nodes": {"a": {"output": [1, 2], "status": "succeeded"}}});
        let config = json!({
            "n": "{{ input.n * 10 }}",
            "list": "{{ nodes.a.output }}",
            "text": "hi {{ input.name }}",
            "plain": "no braces",
            "nested": [{"ok": "{{ nodes.a.status == 'succeeded' }}"}]
        });
        assert_eq!(
            render("config", &config, &context).unwrap(),
            json!({"n": 20, "list": [1, 2], "text": "hi ada", "plain": "no braces", "nested": [{"ok": true}]})
        );
    }

    #[test]
    fn errors_carry_path_expression_and_position() {
        let errors = check_templates("config", &json!({"url": "{{ input. }}", "ok": "{{ input.a }}"}));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "config.url");
        assert_eq!(errors[0].expression, "input.");
        assert!(errors[0].position.contains("line 1"), "{:?}", errors[0]);

        let err = evaluate("config.condition", "input.n | nosuchfilter", &json!({"input": {"n": 1}})).unwrap_err();
        assert!(err.to_string().starts_with("config.condition: expression `input.n | nosuchfilter`"), "{err}");
    }

    #[test]
    fn runaway_templates_stop_on_fuel() {
        let looping = "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}";
        let err = render("config.t", &json!(looping), &json!({})).unwrap_err();
        assert!(err.message.contains("fuel"), "{err}");
    }

    #[test]
    fn missing_values_are_null_and_falsy() {
        let value = evaluate("c", "nodes.skipped.output.score", &json!({"nodes": {}})).unwrap();
        assert_eq!(value, Value::Null);
        assert!(!truthy(&value));
        assert!(truthy(&json!([1])));
    }
}
