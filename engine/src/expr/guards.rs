//! The guard functions the rewritten instructions call, the filters and
//! functions of the expression environment wrapped with their cost, and
//! the formatter that counts what a template writes.
//!
//! A guard works out what the operation would build from its operands
//! (a repeated string's length, a joined list's text), refuses it past the
//! payload limit or the evaluation's budget, and only then lets minijinja
//! perform it, so its semantics stay minijinja's.

use std::fmt::Write as _;
use std::sync::LazyLock;

use minijinja::machinery::ast::BinOpKind;
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Expression, State};

use super::meter::{self, admit, admit_size, charge, value_limit, weigh};

pub(super) const ADD: &str = "__trellis_add";
pub(super) const MUL: &str = "__trellis_mul";
pub(super) const CONCAT: &str = "__trellis_concat";
pub(super) const IN: &str = "__trellis_in";
pub(super) const EQ: &str = "__trellis_eq";
pub(super) const NE: &str = "__trellis_ne";
pub(super) const LT: &str = "__trellis_lt";
pub(super) const LTE: &str = "__trellis_lte";
pub(super) const GT: &str = "__trellis_gt";
pub(super) const GTE: &str = "__trellis_gte";
pub(super) const LIST: &str = "__trellis_list";
pub(super) const MAP: &str = "__trellis_map";

/// Memory a materialised item costs beyond its own weight (a `Value`).
const ITEM_OVERHEAD: u64 = 32;

/// Where operators run once their guard let them: a plain environment
/// whose compiled `a OP b` performs minijinja's own operator.
static PLAIN: LazyLock<Environment<'static>> = LazyLock::new(Environment::new);

fn operator(source: &'static str) -> Expression<'static, 'static> {
    PLAIN.compile_expression(source).unwrap_or_else(|e| unreachable!("`{source}` compiles: {e}"))
}

static OPERATORS: LazyLock<[Expression<'static, 'static>; 3]> =
    LazyLock::new(|| [operator("a + b"), operator("a * b"), operator("a in b")]);

/// The operators that build no more than their operands, for constant
/// folding: minijinja's own.
static SMALL_OPERATORS: LazyLock<Vec<(BinOpKind, Expression<'static, 'static>)>> = LazyLock::new(|| {
    use BinOpKind::*;
    [
        (Sub, "a - b"),
        (Div, "a / b"),
        (FloorDiv, "a // b"),
        (Rem, "a % b"),
        (Pow, "a ** b"),
        (Eq, "a == b"),
        (Ne, "a != b"),
        (Lt, "a < b"),
        (Lte, "a <= b"),
        (Gt, "a > b"),
        (Gte, "a >= b"),
        (ScAnd, "a and b"),
        (ScOr, "a or b"),
        (In, "a in b"),
    ]
    .into_iter()
    .map(|(kind, source)| (kind, operator(source)))
    .collect()
});

/// A constant operation that cannot build a large value; `In` and the
/// comparisons walk their operands and are charged.
pub(super) fn small_operator(kind: &BinOpKind, a: Value, b: Value) -> Result<Value, Error> {
    compared(&a, &b)?;
    let found = SMALL_OPERATORS.iter().find(|(k, _)| std::mem::discriminant(k) == std::mem::discriminant(kind));
    match found {
        Some((_, expression)) => expression.eval(minijinja::context! { a => a, b => b }),
        None => Err(Error::new(ErrorKind::InvalidOperation, "an operator the guards do not know")),
    }
}

/// `-value` for a number.
pub(super) fn negate(value: Value) -> Value {
    static NEGATE: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| operator("-a"));
    NEGATE.eval(minijinja::context! { a => value }).unwrap_or(Value::UNDEFINED)
}

fn perform(index: usize, a: Value, b: Value) -> Result<Value, Error> {
    OPERATORS[index].eval(minijinja::context! { a => a, b => b })
}

fn is_string(value: &Value) -> bool {
    value.kind() == ValueKind::String
}

fn is_sequence(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

fn string_len(value: &Value) -> u64 {
    value.as_str().map_or(0, str::len) as u64
}

/// An upper bound of `value`'s text (`{{ value }}`, `~`), charged.
fn text_size(value: &Value) -> Result<u64, Error> {
    if is_string(value) {
        return Ok(string_len(value));
    }
    // Display quotes strings and separates items: at most twice the weight.
    Ok(weigh("a value", value, value_limit()?)?.saturating_mul(2).saturating_add(2))
}

pub(super) fn add(a: Value, b: Value) -> Result<Value, Error> {
    if is_string(&a) && is_string(&b) {
        admit_size("a string", string_len(&a).saturating_add(string_len(&b)))?;
    } else if is_sequence(&a) || is_sequence(&b) {
        let limit = value_limit()?;
        let total = weigh("a list", &a, limit)?.saturating_add(weigh("a list", &b, limit)?);
        if total > limit {
            return Err(meter::over_limit("a list", limit));
        }
    }
    perform(0, a, b)
}

pub(super) fn mul(a: Value, b: Value) -> Result<Value, Error> {
    let (repeated, times) = if is_string(&a) || is_sequence(&a) { (&a, &b) } else { (&b, &a) };
    if let Some(times) = times.as_usize() {
        if is_string(repeated) {
            admit_size("a repeated string", string_len(repeated).saturating_mul(times as u64))?;
        } else if is_sequence(repeated) {
            let limit = value_limit()?;
            let one = weigh("a repeated list", repeated, limit)?;
            admit_size("a repeated list", one.saturating_mul(times as u64))?;
        }
    }
    perform(1, a, b)
}

/// `printf`-style formatting (the `format` filter): the format's own text,
/// every number in it taken as a width, and the arguments' text bound the
/// result.
fn format_bound(format: &Value, arguments: &[Value]) -> Result<u64, Error> {
    let text = format.as_str().unwrap_or_default();
    let mut bound = text.len() as u64;
    for run in text.split(|c: char| !c.is_ascii_digit()).filter(|r| !r.is_empty()) {
        bound = bound.saturating_add(run.parse::<u64>().unwrap_or(u64::MAX));
    }
    for argument in arguments {
        bound = bound.saturating_add(text_size(argument)?);
    }
    Ok(bound)
}

pub(super) fn concat(a: Value, b: Value) -> Result<Value, Error> {
    admit_size("a string", text_size(&a)?.saturating_add(text_size(&b)?))?;
    Ok(Value::from(format!("{a}{b}")))
}

/// Comparing walks both sides: charged by their weight.
fn compared(a: &Value, b: &Value) -> Result<(), Error> {
    let limit = value_limit()?;
    weigh("a compared value", a, limit)?;
    weigh("a compared value", b, limit)?;
    Ok(())
}

pub(super) fn list(items: Rest<Value>) -> Result<Value, Error> {
    let list = Value::from(items.0);
    admit("a list", &list)?;
    Ok(list)
}

pub(super) fn map(items: Rest<Value>) -> Result<Value, Error> {
    let mut pairs = Vec::with_capacity(items.0.len() / 2);
    let mut items = items.0.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    let map: Value = pairs.into_iter().collect();
    admit("a map", &map)?;
    Ok(map)
}

/// What a filter or function may build before minijinja runs it.
#[derive(Clone, Copy)]
enum Cost {
    /// No larger than its input; the result is weighed.
    Bounded,
    /// Makes one value per item (or character) of its input.
    PerItem,
    /// Escapes its input's text: up to six bytes per byte.
    Escaped,
    Replace,
    Join,
    Indent,
    Batch,
    Format,
}

fn item_count(value: &Value) -> Result<u64, Error> {
    if is_string(value) {
        return Ok(string_len(value));
    }
    match value.len() {
        Some(len) => Ok(len as u64),
        None => weigh("a value", value, value_limit()?),
    }
}

fn positional(args: &[Value]) -> impl Iterator<Item = &Value> {
    args.iter().filter(|a| Kwargs::try_from(Value::clone(a)).is_err())
}

fn precharge(cost: Cost, args: &[Value]) -> Result<(), Error> {
    let value = args.first().cloned().unwrap_or(Value::UNDEFINED);
    let arg = |i: usize| positional(args).nth(i).cloned();
    match cost {
        Cost::Bounded => Ok(()),
        Cost::PerItem => charge(item_count(&value)?.saturating_mul(ITEM_OVERHEAD)),
        Cost::Escaped => charge(text_size(&value)?.saturating_mul(6)),
        Cost::Replace => {
            let text = value.as_str().unwrap_or_default();
            let from = arg(1).map(|v| v.to_string()).unwrap_or_default();
            let to = arg(2).map(|v| text_size(&v)).transpose()?.unwrap_or(0);
            let hits =
                if from.is_empty() { text.chars().count() as u64 + 1 } else { text.matches(&*from).count() as u64 };
            admit_size("a replaced string", (text.len() as u64).saturating_add(hits.saturating_mul(to)))
        }
        Cost::Join => {
            let separator = arg(1).map(|v| text_size(&v)).transpose()?.unwrap_or(0);
            let mut total: u64 = 0;
            for item in value.try_iter()? {
                total = total.saturating_add(text_size(&item)?).saturating_add(separator);
                if total > value_limit()? {
                    return Err(meter::over_limit("a joined string", value_limit()?));
                }
            }
            admit_size("a joined string", total)
        }
        Cost::Indent => {
            let text = value.as_str().unwrap_or_default();
            let width = arg(1).and_then(|v| v.as_usize()).unwrap_or(4) as u64;
            let lines = text.matches('\n').count() as u64 + 1;
            admit_size("an indented string", (text.len() as u64).saturating_add(lines.saturating_mul(width)))
        }
        Cost::Batch => {
            let size = arg(1).and_then(|v| v.as_usize()).unwrap_or(1) as u64;
            let fill = arg(2).map(|v| weigh("a batch filler", &v, value_limit()?)).transpose()?.unwrap_or(0);
            charge(item_count(&value)?.saturating_mul(ITEM_OVERHEAD))?;
            admit_size("batches", size.saturating_mul(fill.saturating_add(ITEM_OVERHEAD)))
        }
        Cost::Format => {
            let rest: Vec<Value> = positional(args).skip(1).cloned().collect();
            admit_size("a formatted string", format_bound(&value, &rest)?)
        }
    }
}

/// `f` with its cost checked before it runs and its result weighed after.
fn guarded(original: Value, cost: Cost) -> impl Fn(&State, Rest<Value>) -> Result<Value, Error> + Send + Sync {
    move |state, args| {
        precharge(cost, &args.0)?;
        let result = original.call(state, &args.0)?;
        admit("a result", &result)?;
        Ok(result)
    }
}

/// Text written into `limit` bytes at most; the write fails past it.
struct Bounded {
    text: String,
    limit: usize,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len().saturating_add(s.len()) > self.limit {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// Formats into at most the payload limit: `string` and `pprint` without
/// building more than they may keep.
fn bounded_text(what: &'static str, write: impl FnOnce(&mut Bounded) -> std::fmt::Result) -> Result<Value, Error> {
    let limit = value_limit()?;
    let mut out = Bounded { text: String::new(), limit: usize::try_from(limit).unwrap_or(usize::MAX) };
    write(&mut out).map_err(|_| meter::over_limit(what, limit))?;
    charge(out.text.len() as u64)?;
    Ok(Value::from(out.text))
}

fn string(value: Value) -> Result<Value, Error> {
    if is_string(&value) {
        return Ok(value);
    }
    bounded_text("a string", |out| write!(out, "{value}"))
}

fn pprint(value: Value) -> Result<Value, Error> {
    bounded_text("a printed value", |out| write!(out, "{value:#?}"))
}

/// `tojson`, serialised into the payload limit at most, with `<`, `>`, `&`
/// and `'` escaped as minijinja does so the text is safe inside HTML.
fn tojson(value: Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match indent {
        Some(indent) => Some(indent),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    kwargs.assert_all_used()?;
    let width = match &indent {
        None => None,
        Some(v) if v.is_true() && v.kind() == ValueKind::Bool => Some(2),
        Some(v) => v.as_usize().map(|w| w.min(16)),
    };
    let limit = value_limit()?;
    let mut out = JsonOut { bytes: Vec::new(), limit: usize::try_from(limit).unwrap_or(usize::MAX) };
    let written = match width {
        Some(width) => {
            let spaces = " ".repeat(width);
            let formatter = serde_json::ser::PrettyFormatter::with_indent(spaces.as_bytes());
            serde::Serialize::serialize(&value, &mut serde_json::Serializer::with_formatter(&mut out, formatter))
        }
        None => serde::Serialize::serialize(&value, &mut serde_json::Serializer::new(&mut out)),
    };
    written.map_err(|_| meter::over_limit("a JSON text", limit))?;
    charge(out.bytes.len() as u64)?;
    let text =
        String::from_utf8(out.bytes).map_err(|_| Error::new(ErrorKind::InvalidOperation, "JSON was not UTF-8"))?;
    Ok(Value::from_safe_string(text))
}

struct JsonOut {
    bytes: Vec<u8>,
    limit: usize,
}

impl std::io::Write for JsonOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &byte in buf {
            let escaped: &[u8] = match byte {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                b'&' => b"\\u0026",
                b'\'' => b"\\u0027",
                _ => std::slice::from_ref(&byte),
            };
            if self.bytes.len() + escaped.len() > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            self.bytes.extend_from_slice(escaped);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts what a template writes: every emitted value and raw text passes
/// here (the rewrite turns raw text into emitted values).
fn formatter(out: &mut minijinja::Output, state: &State, value: &Value) -> Result<(), Error> {
    let size = text_size(value)?;
    meter::wrote(size)?;
    minijinja::escape_formatter(out, state, value)
}

macro_rules! filters {
    ($env:ident: $($name:literal => $function:path, $cost:ident;)*) => {
        $( $env.add_filter($name, guarded(Value::from_function($function), Cost::$cost)); )*
    };
}

/// Installs the guards, the wrapped filters and functions, and the
/// formatter; takes away what can hold state across items (`namespace`)
/// or dump everything (`debug`).
pub(super) fn install(env: &mut Environment<'static>) {
    use minijinja::filters as f;
    env.add_function(ADD, add);
    env.add_function(MUL, mul);
    env.add_function(CONCAT, concat);
    env.add_function(IN, |a: Value, b: Value| -> Result<Value, Error> {
        compared(&a, &b)?;
        perform(2, a, b)
    });
    env.add_function(EQ, |a: Value, b: Value| compared(&a, &b).map(|()| Value::from(a == b)));
    env.add_function(NE, |a: Value, b: Value| compared(&a, &b).map(|()| Value::from(a != b)));
    env.add_function(LT, |a: Value, b: Value| compared(&a, &b).map(|()| Value::from(a < b)));
    env.add_function(LTE, |a: Value, b: Value| compared(&a, &b).map(|()| Value::from(a <= b)));
    env.add_function(GT, |a: Value, b: Value| compared(&a, &b).map(|()| Value::from(a > b)));
    env.add_function(GTE, |a: Value, b: Value| compared(&a, &b).map(|()| Value::from(a >= b)));
    env.add_function(LIST, list);
    env.add_function(MAP, map);

    filters! { env:
        "safe" => f::safe, Bounded;
        "escape" => f::escape, Escaped;
        "e" => f::escape, Escaped;
        "lower" => f::lower, Bounded;
        "upper" => f::upper, Escaped;
        "title" => f::title, Escaped;
        "capitalize" => f::capitalize, Escaped;
        "replace" => f::replace, Replace;
        "length" => f::length, Bounded;
        "count" => f::length, Bounded;
        "dictsort" => f::dictsort, PerItem;
        "items" => f::items, PerItem;
        "reverse" => f::reverse, PerItem;
        "trim" => f::trim, Bounded;
        "join" => f::join, Join;
        "split" => f::split, PerItem;
        "lines" => f::lines, PerItem;
        "default" => f::default, Bounded;
        "d" => f::default, Bounded;
        "round" => f::round, Bounded;
        "abs" => f::abs, Bounded;
        "int" => f::int, Bounded;
        "float" => f::float, Bounded;
        "attr" => f::attr, Bounded;
        "first" => f::first, Bounded;
        "last" => f::last, Bounded;
        "min" => f::min, PerItem;
        "max" => f::max, PerItem;
        "sort" => f::sort, PerItem;
        "list" => f::list, PerItem;
        "bool" => f::bool, Bounded;
        "batch" => f::batch, Batch;
        "slice" => f::slice, PerItem;
        "sum" => f::sum, PerItem;
        "indent" => f::indent, Indent;
        "select" => f::select, PerItem;
        "reject" => f::reject, PerItem;
        "selectattr" => f::selectattr, PerItem;
        "rejectattr" => f::rejectattr, PerItem;
        "map" => f::map, PerItem;
        "groupby" => f::groupby, PerItem;
        "unique" => f::unique, PerItem;
        "chain" => f::chain, PerItem;
        "zip" => f::zip, PerItem;
        "format" => f::format, Format;
    }
    env.add_filter("string", string);
    env.add_filter("pprint", pprint);
    env.add_filter("tojson", tojson);
    let range = Value::from_function(minijinja::functions::range);
    env.add_function("range", guarded(range, Cost::Bounded));
    env.add_function("dict", guarded(Value::from_function(minijinja::functions::dict), Cost::Bounded));
    env.remove_global("namespace");
    env.remove_global("debug");
    env.set_formatter(formatter);
}
