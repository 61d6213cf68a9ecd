//! Expressions in workflow configs, with minijinja: a sandboxed Jinja2
//! (no I/O, recursion limit) with fuel so no expression runs long, and a
//! budget so none builds much (`meter`, `guards`, `compile`).
//!
//! In a config, a string that is exactly `{{ expr }}` evaluates to the
//! expression's JSON value (numbers stay numbers); a string with `{{ }}` or
//! `{% %}` elsewhere renders to text; other strings are literal. Conditions
//! (`branch.condition`, `switch.value`) are bare expressions.
//! The context is `input` (the run input) and `nodes.<id>.output|status`.
//!
//! Bounds, for a payload limit of L bytes: no value an expression builds
//! passes L (a repeated string, a joined list, a list literal, a filter's
//! result), a config's rendered results together stay within L, and one
//! evaluation builds, compares and writes at most `BUDGET_FACTOR` × L bytes
//! in all. A value is refused before it is built, so memory stays flat.

mod compile;
mod guards;
mod meter;

use std::collections::BTreeMap;

use minijinja::machinery::{Instructions, Vm, make_string_output};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value as JinjaValue};
use serde_json::{Map, Value};
use thiserror::Error;

pub use meter::{BUDGET_FACTOR, MAX_DEPTH};

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
/// counted per evaluation, the budget per `meter::metered`), and building
/// one registers every filter.
fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(|| {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        guards::install(&mut env);
        env
    });
    &ENVIRONMENT
}

/// Whether `name` is a global of the environment (`range`, `dict`, …).
fn is_global(name: &str) -> bool {
    environment().globals().any(|(global, _)| global == name)
}

/// Filters and tests the environment knows, learnt by asking it: minijinja
/// does not expose its tables, and tells an unknown one only when it runs.
/// Only names found are remembered, so hostile names cannot grow the set.
fn known(probe: String, unknown: minijinja::ErrorKind) -> bool {
    static KNOWN: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::LazyLock::new(Default::default);
    if KNOWN.lock().map(|known| known.contains(&probe)).unwrap_or(false) {
        return true;
    }
    let found = match environment().render_str(&probe, ()) {
        Ok(_) => true,
        Err(e) => e.kind() != unknown,
    };
    if found && let Ok(mut known) = KNOWN.lock() {
        known.insert(probe);
    }
    found
}

fn is_filter(name: &str) -> bool {
    known(format!("{{{{ none | {name} }}}}"), minijinja::ErrorKind::UnknownFilter)
}

fn is_test(name: &str) -> bool {
    known(format!("{{{{ none is {name} }}}}"), minijinja::ErrorKind::UnknownTest)
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
            format!(" at line {line}, column {}", range.start.saturating_sub(line_start) + 1)
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

/// Checks a bare expression parses and uses only what workflows allow.
pub fn check_expression(path: &str, expression: &str) -> Result<(), ExprError> {
    compile::expression(expression).map(|_| ()).map_err(|e| error(path, expression, &e))
}

/// Checks every template string inside `value`; returns all errors.
pub fn check_templates(path: &str, value: &Value) -> Vec<ExprError> {
    let mut errors = Vec::new();
    walk_strings(path, value, &mut |path, text| {
        if let Some(expr) = sole_expression(text) {
            if let Err(e) = compile::expression(expr) {
                errors.push(error(path, expr, &e));
            }
        } else if is_template(text)
            && let Err(e) = compile::template(text)
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

/// Runs rewritten instructions: the value left on the stack, and the text
/// written.
fn run(instructions: &Instructions<'_>, context: &JinjaValue) -> Result<(JinjaValue, String), minijinja::Error> {
    let mut text = String::new();
    let value = {
        let mut out = make_string_output(&mut text);
        let (value, _state) =
            Vm::new(environment()).eval(instructions, context.clone(), &BTreeMap::new(), &mut out, AutoEscape::None)?;
        value
    };
    Ok((value.unwrap_or(JinjaValue::UNDEFINED), text))
}

fn evaluate_in(expression: &str, context: &JinjaValue) -> Result<JinjaValue, minijinja::Error> {
    run(&compile::expression(expression)?, context).map(|(value, _)| value)
}

fn render_text(template: &str, context: &JinjaValue) -> Result<String, minijinja::Error> {
    run(&compile::template(template)?, context).map(|(_, text)| text)
}

/// Evaluates a bare expression against `context`; no value it builds may
/// pass `limit` bytes.
pub fn evaluate(path: &str, expression: &str, context: &Value, limit: u64) -> Result<Value, ExprError> {
    let context = JinjaValue::from_serialize(context);
    meter::metered(limit, || {
        let value = evaluate_in(expression, &context).map_err(|e| error(path, expression, &e))?;
        to_json(&value).map(|(json, _)| json).map_err(|e| error(path, expression, &e))
    })
}

/// Truthiness as Jinja defines it (empty, zero, none and false are false).
pub fn truthy(value: &Value) -> bool {
    JinjaValue::from_serialize(value).is_true()
}

/// The JSON of a result, weighed (charged) first so converting it builds
/// no more than the limit; with its weight.
fn to_json(value: &JinjaValue) -> Result<(Value, u64), minijinja::Error> {
    if value.is_undefined() {
        return Ok((Value::Null, 0));
    }
    let weight = meter::admit("the result", value)?;
    serde_json::to_value(value)
        .map(|json| (json, weight))
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("result is not JSON: {e}")))
}

/// Resolves every template inside a config value against `context`; the
/// results together may not pass `limit` bytes.
pub fn render(path: &str, value: &Value, context: &Value, limit: u64) -> Result<Value, ExprError> {
    if !has_templates(value) {
        return Ok(value.clone());
    }
    let context = JinjaValue::from_serialize(context);
    meter::metered(limit, || {
        let mut produced = 0;
        render_with(path, value, &context, &mut Produced { total: &mut produced, limit })
    })
}

/// What a config's templates produced so far, against the payload limit.
struct Produced<'a> {
    total: &'a mut u64,
    limit: u64,
}

impl Produced<'_> {
    fn add(&mut self, path: &str, source: &str, weight: u64) -> Result<(), ExprError> {
        *self.total = self.total.saturating_add(weight);
        if *self.total > self.limit {
            return Err(error(path, source, &meter::over_limit("the config's rendered values", self.limit)));
        }
        Ok(())
    }
}

fn render_with(
    path: &str,
    value: &Value,
    context: &JinjaValue,
    produced: &mut Produced<'_>,
) -> Result<Value, ExprError> {
    match value {
        Value::String(text) => {
            if let Some(expr) = sole_expression(text) {
                let result = evaluate_in(expr, context).map_err(|e| error(path, expr, &e))?;
                let (json, weight) = to_json(&result).map_err(|e| error(path, expr, &e))?;
                produced.add(path, expr, weight)?;
                Ok(json)
            } else if is_template(text) {
                let rendered = render_text(text, context).map_err(|e| error(path, text, &e))?;
                produced.add(path, text, rendered.len() as u64)?;
                Ok(Value::String(rendered))
            } else {
                Ok(value.clone())
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| render_with(&format!("{path}[{i}]"), item, context, produced))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, item) in fields {
                out.insert(key.clone(), render_with(&format!("{path}.{key}"), item, context, produced)?);
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

    const LIMIT: u64 = 1 << 20;

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
            render("config", &config, &context, LIMIT).unwrap(),
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

        let err =
            evaluate("config.condition", "input.n | nosuchfilter", &json!({"input": {"n": 1}}), LIMIT).unwrap_err();
        assert!(err.to_string().starts_with("config.condition: expression `input.n | nosuchfilter`"), "{err}");
    }

    #[test]
    fn unknown_names_filters_and_tests_are_refused_before_running() {
        let config = json!({
            "auth": "Bearer {{ secrets.GH_TOKEN }}",
            "f": "{{ input.n | nosuchfilter }}",
            "t": "{% if input.n is nosuchtest %}x{% endif %}",
            "call": "{{ fetch(input.url) }}",
        });
        let errors = check_templates("config", &config);
        let messages: Vec<(&str, &str)> = errors.iter().map(|e| (e.path.as_str(), e.message.as_str())).collect();
        assert_eq!(
            messages,
            [
                ("config.auth", "unknown name `secrets`: expressions see `input` and `nodes` (`nodes.<id>.output`)"),
                ("config.call", "unknown function `fetch`"),
                ("config.f", "unknown filter `nosuchfilter`"),
                ("config.t", "unknown test `nosuchtest`"),
            ]
        );
        // At run time too: never an empty string in its place.
        let err = render("config", &json!({"h": "Bearer {{ token }}"}), &json!({"input": {}}), LIMIT).unwrap_err();
        assert!(err.message.contains("unknown name `token`"), "{err}");

        // What the source sets itself, loops, globals, filters and tests are known.
        let fine = json!({
            "loop": "{% for x in input.items %}{{ loop.index }}{{ x | upper }}{% endfor %}",
            "set": "{% set total = input.n * 2 %}{{ total }}",
            "global": "{{ range(3) | list | length }}",
            "test": "{{ input.n is number and input.s is defined }}",
            "nodes": "{{ nodes.a.output | tojson }}",
        });
        assert_eq!(check_templates("config", &fine), []);
    }

    #[test]
    fn runaway_templates_stop_on_fuel() {
        let looping = "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}";
        let err = render("config.t", &json!(looping), &json!({}), LIMIT).unwrap_err();
        assert!(err.message.contains("fuel"), "{err}");
    }

    #[test]
    fn missing_values_are_null_and_falsy() {
        let value = evaluate("c", "nodes.skipped.output.score", &json!({"nodes": {}}), LIMIT).unwrap();
        assert_eq!(value, Value::Null);
        assert!(!truthy(&value));
        assert!(truthy(&json!([1])));
    }

    /// Each builds far past the limit if allowed: refused before it is built,
    /// naming the limit.
    #[test]
    fn values_past_the_payload_limit_are_refused_before_they_are_built() {
        let context = json!({"input": {"s": "abc", "n": 3}, "nodes": {}});
        let attacks = [
            "{{ [input.n] * 3000000000 }}",
            "{{ input.s * 100000000 }}",
            "{{ (input.s * 20000) ~ (input.s * 20000) }}",
            "{{ 'aaaa' | replace('a', input.s * 16667) }}",
            "{{ range(100000) | join('x' * 1000) }}",
            "{{ 'x\ny' | indent(100000000) }}",
            "{{ '%99999999d' | format(1) }}",
            "{{ '%s' | format('a' * 200000) }}",
            "{{ [[input.n] * 1000] * 1000 }}",
            "{% for i in range(100000) %}{{ 'abcdefghij' }}{% endfor %}",
            "{{ (range(10000) | list) | tojson(indent=16) }}",
        ];
        // Assignments inside a loop do not outlive an iteration, so growth
        // by doubling is written out.
        let doubled_list =
            format!("{{% set x = [input.s] %}}{}{{{{ x | length }}}}", "{% set x = [x, x] %}".repeat(40));
        let doubled_text =
            format!("{{% set x = 'a' * 1000 %}}{}{{{{ x | length }}}}", "{% set x = x ~ x %}".repeat(40));
        for attack in attacks.iter().copied().chain([doubled_list.as_str(), doubled_text.as_str()]) {
            let err = render("config.body", &json!(attack), &context, 100_000).unwrap_err();
            assert_eq!(err.path, "config.body", "{attack}");
            assert!(err.message.contains("100000 bytes"), "{attack}: {err}");
        }
        // The fields of one config share the limit.
        let config = json!({"a": "{{ input.s * 20000 }}", "b": "{{ input.s * 20000 }}"});
        let err = render("config", &config, &context, 100_000).unwrap_err();
        assert_eq!(err.path, "config.b", "{err}");
    }

    #[test]
    fn constants_too_large_to_fold_are_refused_before_they_are_built() {
        for source in [
            "{{ 'a' * 100000000 }}",
            "{{ ('a' * 1000000) ~ ('a' * 1000000) }}",
            "{{ input.x ~ ('a' * 100000000) }}",
            "{{ 'a' * (10 ** 8) }}",
            "{% if 'a' * 100000000 %}x{% endif %}",
        ] {
            let errors = check_templates("config.t", &json!(source));
            assert_eq!(errors.len(), 1, "{source}: {errors:?}");
            assert!(errors[0].message.contains("a constant of this expression"), "{source}: {errors:?}");
        }
        assert!(check_templates("config.t", &json!("{{ 'ab' * 3 ~ (2 ** 10) }}")).is_empty());
    }

    #[test]
    fn values_nested_past_the_depth_limit_are_refused() {
        let deep = format!("{{% set x = 1 %}}{}{{{{ x | length }}}}", "{% set x = [x] %}".repeat(100));
        let err = render("config.t", &json!(deep), &json!({}), LIMIT).unwrap_err();
        assert!(err.message.contains("64 levels"), "{err}");
    }

    #[test]
    fn comparing_large_values_in_a_loop_runs_out_of_budget() {
        let context = json!({"input": {"big": "x".repeat(50_000)}});
        let looping = "{% for i in range(10000) %}{% if input.big == input.big %}{% endif %}{% endfor %}";
        let err = render("config.t", &json!(looping), &context, 100_000).unwrap_err();
        assert!(err.message.contains("budget"), "{err}");
    }

    #[test]
    fn constructs_that_capture_or_recurse_are_refused_at_check_time() {
        for source in [
            "{% macro m() %}x{% endmacro %}{{ m() }}",
            "{% set x %}captured{% endset %}{{ x }}",
            "{% filter upper %}x{% endfilter %}",
            "{% for x in [1] recursive %}{{ loop([]) }}{% endfor %}",
            "{% set ns = namespace() %}{% set ns.a = 1 %}",
            "{% set __trellis_add = 1 %}",
            "{{ input.a < input.b < input.c }}",
            "{% block b %}{% endblock %}",
        ] {
            let errors = check_templates("config.t", &json!(source));
            assert_eq!(errors.len(), 1, "{source}: {errors:?}");
            assert!(
                errors[0].message.contains("not supported") || errors[0].message.contains("reserved"),
                "{source}: {errors:?}"
            );
        }
        let errors = check_templates("config.t", &json!("{{ debug() }}"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].message, "unknown function `debug`");
        let err = render("config.t", &json!("{{ debug() }}"), &json!({}), LIMIT).unwrap_err();
        assert!(err.message.contains("unknown function"), "{err}");
    }

    #[test]
    fn ordinary_templates_keep_minijinja_semantics() {
        let context = json!({"input": {"items": [{"n": "b", "v": 2}, {"n": "a", "v": 1}], "s": "Ada", "x": 7},
            "nodes": {"scan": {"output": {"score": 70}, "status": "succeeded"}}});
        let cases = [
            ("{{ input.x + 1 }}", json!(8)),
            ("{{ input.x * 2.5 }}", json!(17.5)),
            ("{{ input.x % 4 }}", json!(3)),
            ("{{ input.x // 2 }}", json!(3)),
            ("{{ 'ab' * 3 }}", json!("ababab")),
            ("{{ [1] * 3 }}", json!([1, 1, 1])),
            ("{{ [1, 2] + [3] }}", json!([1, 2, 3])),
            ("{{ input.s ~ '-' ~ input.x }}", json!("Ada-7")),
            ("{{ 'x' in 'xyz' and 2 in [1, 2] }}", json!(true)),
            ("{{ nodes.scan.output.score < 80 }}", json!(true)),
            ("{{ nodes.scan.status == 'succeeded' }}", json!(true)),
            ("{{ {'a': input.x, 'b': [1, 2]} }}", json!({"a": 7, "b": [1, 2]})),
            ("{{ input.items | map(attribute='n') | sort | join(',') }}", json!("a,b")),
            ("{{ input.items | map(attribute='v') | sum }}", json!(3)),
            ("{{ 'a b c' | split | list }}", json!(["a", "b", "c"])),
            ("{{ '%s=%d' | format('n', 4) }}", json!("n=4")),
            ("{{ input.items | tojson }}", json!(r#"[{"n":"b","v":2},{"n":"a","v":1}]"#)),
            ("{{ '<b>' | tojson }}", json!("\"\\u003cb\\u003e\"")),
            ("{{ input.missing.deeper | default('none') }}", json!("none")),
            ("{{ range(3) | list }}", json!([0, 1, 2])),
            ("{{ input.items | length }}", json!(2)),
            ("n={% for i in input.items if i.v > 1 %}{{ i.n }}{% endfor %}", json!("n=b")),
            ("{% for i in range(3) %}{{ loop.index }}{% if not loop.last %},{% endif %}{% endfor %}", json!("1,2,3")),
            ("{% set t = input.x * 2 %}{% if t > 10 %}big {{ t }}{% else %}small{% endif %}", json!("big 14")),
            ("{{ 'Hello' | upper }} {{ input.s | lower }}", json!("HELLO ada")),
            ("{{ dict(a=1) }}", json!({"a": 1})),
        ];
        for (source, expected) in cases {
            assert_eq!(render("c", &json!(source), &context, LIMIT).unwrap(), expected, "{source}");
        }
        assert_eq!(evaluate("c", "input.items | length > 1", &context, LIMIT).unwrap(), json!(true));
    }
}
