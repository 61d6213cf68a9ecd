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

use std::collections::BTreeMap;

use minijinja::machinery::{CodeGenerator, Instruction, Instructions, WhitespaceConfig, parse, parse_expr};
use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

use super::guards;

/// Prefix of the guard functions' names, which documents may not use.
pub(super) const RESERVED: &str = "__trellis";
/// `PushLoop`'s flag for `{% for … recursive %}`.
const LOOP_FLAG_RECURSIVE: u8 = 2;

/// Compiles a bare expression (`input.n * 2`).
pub(super) fn expression(source: &str) -> Result<Instructions<'_>, Error> {
    let ast = parse_expr(source)?;
    let mut generator = CodeGenerator::new("<expression>", source);
    generator.compile_expr(&ast);
    rewrite(generator.finish().0)
}

/// Compiles a template (`hi {{ input.name }}{% if … %}…{% endif %}`).
pub(super) fn template(source: &str) -> Result<Instructions<'_>, Error> {
    let ast = parse(source, "<template>", Default::default(), WhitespaceConfig::default())?;
    let mut generator = CodeGenerator::new("<template>", source);
    generator.compile_stmt(&ast);
    let (instructions, blocks): (_, BTreeMap<_, _>) = generator.finish();
    if !blocks.is_empty() {
        return Err(unsupported("template blocks are"));
    }
    rewrite(instructions)
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
