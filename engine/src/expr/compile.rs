//! Compiles expressions and templates to minijinja instructions, then
//! rewrites them so every instruction that can build a large value, or
//! compare one, goes through a guard that weighs it first (`guards`).
//!
//! The rewrite works on minijinja's instruction list (the crate's
//! `unstable_machinery`, pinned by version in Cargo.toml): operators become
//! calls of reserved guard functions, raw template text is emitted through
//! the formatter like any value, and constructs that capture output or
//! recurse without fuel (macros, blocks, includes, recursive loops,
//! attribute assignment) are refused, at save time as at run time.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt, UnaryOpKind};
use minijinja::machinery::{CodeGenerator, Instruction, Instructions, WhitespaceConfig, parse, parse_expr};
use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

use super::{guards, meter};

/// The largest constant the compiler may fold (`{{ 'ab' * 3 }}` becomes
/// `'ababab'` before the expression ever runs), and what all the folds of
/// one source may build together is `meter::BUDGET_FACTOR` times this.
pub const MAX_CONSTANT_BYTES: u64 = 1 << 20;

/// Prefix of the guard functions' names, which documents may not use.
pub(super) const RESERVED: &str = "__trellis";
/// `PushLoop`'s flag for `{% for … recursive %}`.
const LOOP_FLAG_RECURSIVE: u8 = 2;

/// Compiles a bare expression (`input.n * 2`).
pub(super) fn expression(source: &str) -> Result<Instructions<'_>, Error> {
    let ast = parse_expr(source)?;
    check_constants(|| constants_in(&ast))?;
    let mut generator = CodeGenerator::new("<expression>", source);
    generator.compile_expr(&ast);
    let rewritten = rewrite(generator.finish().0)?;
    check_names(&rewritten)?;
    Ok(rewritten)
}

/// Compiles a template (`hi {{ input.name }}{% if … %}…{% endif %}`).
pub(super) fn template(source: &str) -> Result<Instructions<'_>, Error> {
    let ast = parse(source, "<template>", Default::default(), WhitespaceConfig::default())?;
    check_constants(|| constants_in_statement(&ast))?;
    let mut generator = CodeGenerator::new("<template>", source);
    generator.compile_stmt(&ast);
    let (instructions, blocks): (_, BTreeMap<_, _>) = generator.finish();
    if !blocks.is_empty() {
        return Err(unsupported("template blocks are"));
    }
    let rewritten = rewrite(instructions)?;
    check_names(&rewritten)?;
    Ok(rewritten)
}

/// minijinja folds constant operations while it compiles, with its own
/// operators: each constant subexpression is folded here first through the
/// guards, so one too large is refused before the compiler builds it.
fn check_constants(check: impl FnOnce() -> Result<(), Error>) -> Result<(), Error> {
    meter::metered(MAX_CONSTANT_BYTES, check).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("a constant of this expression: {}", e.detail().unwrap_or("too large")),
        )
    })
}

/// The value minijinja's constant folding would give `expr`, computed with
/// the guards; `None` when `expr` is not constant.
fn folded(expr: &Expr<'_>) -> Result<Option<Value>, Error> {
    Ok(match expr {
        Expr::Const(c) => Some(c.value.clone()),
        Expr::List(list) if list.items.iter().all(|e| matches!(e, Expr::Const(_))) => {
            Some(guards::list(minijinja::value::Rest(list.items.iter().filter_map(constant).collect()))?)
        }
        Expr::Map(map) if map.keys.iter().chain(&map.values).all(|e| matches!(e, Expr::Const(_))) => {
            let pairs = map.keys.iter().zip(&map.values).flat_map(|(k, v)| [constant(k), constant(v)]).flatten();
            Some(guards::map(minijinja::value::Rest(pairs.collect()))?)
        }
        Expr::UnaryOp(op) => match (&op.op, folded(&op.expr)?) {
            (UnaryOpKind::Not, Some(value)) => Some(Value::from(!value.is_true())),
            (UnaryOpKind::Neg, Some(value)) if value.is_number() => Some(guards::negate(value)),
            _ => None,
        },
        Expr::BinOp(op) => {
            let (Some(left), Some(right)) = (folded(&op.left)?, folded(&op.right)?) else { return Ok(None) };
            Some(match &op.op {
                BinOpKind::Add => guards::add(left, right)?,
                BinOpKind::Mul => guards::mul(left, right)?,
                BinOpKind::Concat => guards::concat(left, right)?,
                // The others build no more than their operands.
                other => guards::small_operator(other, left, right)?,
            })
        }
        Expr::Compare(compare) => {
            if folded(&compare.expr)?.is_none() {
                return Ok(None);
            }
            for op in &compare.ops {
                if folded(&op.expr)?.is_none() {
                    return Ok(None);
                }
            }
            Some(Value::from(true))
        }
        _ => None,
    })
}

fn constant(expr: &Expr<'_>) -> Option<Value> {
    match expr {
        Expr::Const(c) => Some(c.value.clone()),
        _ => None,
    }
}

/// Checks every constant subexpression of `expr`.
fn constants_in(expr: &Expr<'_>) -> Result<(), Error> {
    if folded(expr)?.is_some() {
        return Ok(());
    }
    let args = |args: &[CallArg<'_>]| -> Result<(), Error> {
        for arg in args {
            match arg {
                CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => {
                    constants_in(e)?
                }
            }
        }
        Ok(())
    };
    match expr {
        Expr::Var(_) | Expr::Const(_) => Ok(()),
        Expr::Slice(s) => {
            constants_in(&s.expr)?;
            for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                constants_in(part)?;
            }
            Ok(())
        }
        Expr::UnaryOp(op) => constants_in(&op.expr),
        Expr::BinOp(op) => constants_in(&op.left).and_then(|()| constants_in(&op.right)),
        Expr::Compare(c) => {
            constants_in(&c.expr)?;
            c.ops.iter().try_for_each(|op| constants_in(&op.expr))
        }
        Expr::IfExpr(e) => {
            constants_in(&e.test_expr)?;
            constants_in(&e.true_expr)?;
            e.false_expr.as_ref().map_or(Ok(()), constants_in)
        }
        Expr::Filter(f) => {
            f.expr.as_ref().map_or(Ok(()), constants_in)?;
            args(&f.args)
        }
        Expr::Test(t) => constants_in(&t.expr).and_then(|()| args(&t.args)),
        Expr::GetAttr(g) => constants_in(&g.expr),
        Expr::GetItem(g) => constants_in(&g.expr).and_then(|()| constants_in(&g.subscript_expr)),
        Expr::Call(c) => constants_in(&c.expr).and_then(|()| args(&c.args)),
        Expr::List(l) => l.items.iter().try_for_each(constants_in),
        Expr::Map(m) => m.keys.iter().chain(&m.values).try_for_each(constants_in),
    }
}

fn constants_in_all(statements: &[Stmt<'_>]) -> Result<(), Error> {
    statements.iter().try_for_each(constants_in_statement)
}

fn constants_in_statement(statement: &Stmt<'_>) -> Result<(), Error> {
    match statement {
        Stmt::Template(t) => constants_in_all(&t.children),
        Stmt::EmitExpr(e) => constants_in(&e.expr),
        Stmt::EmitRaw(_) => Ok(()),
        Stmt::ForLoop(f) => {
            constants_in(&f.iter)?;
            f.filter_expr.as_ref().map_or(Ok(()), constants_in)?;
            constants_in_all(&f.body)?;
            constants_in_all(&f.else_body)
        }
        Stmt::IfCond(i) => {
            constants_in(&i.expr)?;
            constants_in_all(&i.true_body)?;
            constants_in_all(&i.false_body)
        }
        Stmt::WithBlock(w) => {
            w.assignments.iter().try_for_each(|(_, value)| constants_in(value))?;
            constants_in_all(&w.body)
        }
        Stmt::Set(s) => constants_in(&s.expr),
        Stmt::AutoEscape(a) => constants_in(&a.enabled).and_then(|()| constants_in_all(&a.body)),
        Stmt::Do(d) => constants_in(&d.call.expr),
        // Refused whole when their instructions are rewritten.
        _ => Ok(()),
    }
}

/// The names of a run's context an expression may read.
pub(super) const CONTEXT: &[&str] = &["input", "nodes"];

/// Refuses a name that is neither the context, a global function, a loop's
/// `loop` nor a variable the source itself sets, and a filter or test the
/// environment does not have: left to run time, an unknown name would
/// render as nothing (`Bearer {{ secrets.TOKEN }}` → `Bearer `).
fn check_names(instructions: &Instructions<'_>) -> Result<(), Error> {
    let all = || (0..instructions.len()).filter_map(|i| u32::try_from(i).ok().and_then(|i| instructions.get(i)));
    let set: BTreeSet<&str> = all()
        .filter_map(|instruction| match instruction {
            Instruction::StoreLocal(name) => Some(*name),
            _ => None,
        })
        .collect();
    let known = |name: &str| CONTEXT.contains(&name) || set.contains(name) || name == "loop" || super::is_global(name);
    for instruction in all() {
        match instruction {
            Instruction::Lookup(name) if !known(name) => {
                return Err(Error::new(
                    ErrorKind::UndefinedError,
                    format!("unknown name `{name}`: expressions see `input` and `nodes` (`nodes.<id>.output`)"),
                ));
            }
            Instruction::CallFunction(name, _) if !known(name) => {
                return Err(Error::new(ErrorKind::UnknownFunction, format!("unknown function `{name}`")));
            }
            Instruction::ApplyFilter(name, ..) if !super::is_filter(name) => {
                return Err(Error::new(ErrorKind::UnknownFilter, format!("unknown filter `{name}`")));
            }
            Instruction::PerformTest(name, ..) if !super::is_test(name) => {
                return Err(Error::new(ErrorKind::UnknownTest, format!("unknown test `{name}`")));
            }
            _ => {}
        }
    }
    Ok(())
}

fn unsupported(what: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{what} not supported in workflow expressions"))
}

fn reserved(name: &str) -> Result<(), Error> {
    if name.starts_with(RESERVED) {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("names starting with `{RESERVED}` are reserved")));
    }
    Ok(())
}

/// What one instruction becomes.
fn replacement<'s>(instruction: &Instruction<'s>) -> Result<Vec<Instruction<'s>>, Error> {
    let call = |name: &'static str, args: usize| -> Result<Vec<Instruction<'s>>, Error> {
        let args = u16::try_from(args).map_err(|_| unsupported("literals this large are"))?;
        Ok(vec![Instruction::CallFunction(name, Some(args))])
    };
    match instruction {
        Instruction::Add => call(guards::ADD, 2),
        Instruction::Mul => call(guards::MUL, 2),
        Instruction::StringConcat => call(guards::CONCAT, 2),
        Instruction::In => call(guards::IN, 2),
        Instruction::Eq => call(guards::EQ, 2),
        Instruction::Ne => call(guards::NE, 2),
        Instruction::Lt => call(guards::LT, 2),
        Instruction::Lte => call(guards::LTE, 2),
        Instruction::Gt => call(guards::GT, 2),
        Instruction::Gte => call(guards::GTE, 2),
        Instruction::BuildList(Some(count)) => call(guards::LIST, *count),
        Instruction::BuildMap(pairs) => call(guards::MAP, pairs.saturating_mul(2)),
        // Raw text goes through the formatter, which counts what is written.
        Instruction::EmitRaw(text) => {
            Ok(vec![Instruction::LoadConst(Value::from_safe_string((*text).to_owned())), Instruction::Emit])
        }
        Instruction::Lookup(name) | Instruction::StoreLocal(name) => {
            reserved(name)?;
            Ok(vec![instruction.clone()])
        }
        Instruction::CallFunction(name, _) => {
            reserved(name)?;
            if *name == "super" || *name == "loop" || *name == "caller" {
                return Err(unsupported("`super()`, `loop()` and `caller()` are"));
            }
            Ok(vec![instruction.clone()])
        }
        Instruction::PushLoop(flags) if flags & LOOP_FLAG_RECURSIVE != 0 => Err(unsupported("recursive loops are")),
        Instruction::FastRecurse => Err(unsupported("recursive loops are")),
        Instruction::CompareAndPreserve(_) => Err(unsupported("chained comparisons (join them with `and`) are")),
        Instruction::SetAttr(_) => Err(unsupported("assignments to attributes are")),
        Instruction::BeginCapture(_) | Instruction::EndCapture => {
            Err(unsupported("`{% set %}…{% endset %}`, `{% filter %}` and `{% call %}` blocks are"))
        }
        Instruction::BuildMacro(..)
        | Instruction::Return
        | Instruction::Enclose(_)
        | Instruction::GetClosure
        | Instruction::CallBlock(_) => Err(unsupported("macros are")),
        Instruction::LoadBlocks | Instruction::FastSuper | Instruction::Include(_) | Instruction::ExportLocals => {
            Err(unsupported("blocks, imports and includes are"))
        }
        other => Ok(vec![other.clone()]),
    }
}

/// Rewrites every instruction, keeping spans for error positions and
/// moving jump targets to where their instruction went.
fn rewrite(original: Instructions<'_>) -> Result<Instructions<'_>, Error> {
    let mut expanded = Vec::with_capacity(original.len());
    let mut moved_to = Vec::with_capacity(original.len() + 1);
    for index in 0..original.len() {
        let index = u32::try_from(index).map_err(|_| unsupported("templates this large are"))?;
        let Some(instruction) = original.get(index) else { break };
        moved_to.push(u32::try_from(expanded.len()).map_err(|_| unsupported("templates this large are"))?);
        for replaced in replacement(instruction)? {
            expanded.push((index, replaced));
        }
    }
    // A jump may target the end of the list.
    moved_to.push(u32::try_from(expanded.len()).map_err(|_| unsupported("templates this large are"))?);
    let target = |old: u32| moved_to.get(old as usize).copied().unwrap_or(old);

    let mut rewritten = Instructions::new(original.name(), original.source());
    for (from, mut instruction) in expanded {
        match &mut instruction {
            Instruction::Jump(to)
            | Instruction::JumpIfFalse(to)
            | Instruction::JumpIfFalseOrPop(to)
            | Instruction::JumpIfTrueOrPop(to)
            | Instruction::Iterate(to) => *to = target(*to),
            _ => {}
        }
        match (original.get_span(from), original.get_line(from)) {
            (Some(span), _) => rewritten.add_with_span(instruction, span),
            (None, Some(line)) => rewritten.add_with_line(instruction, u16::try_from(line).unwrap_or(u16::MAX)),
            (None, None) => rewritten.add(instruction),
        };
    }
    Ok(rewritten)
}
