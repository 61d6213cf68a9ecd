//! What one evaluation may cost in memory and work, counted as it goes.
//!
//! Every value an expression builds is weighed before it exists (roughly the
//! bytes of its JSON text): no single value may pass the payload limit, and
//! everything built, compared or written in one evaluation draws on one
//! budget of `BUDGET_FACTOR` × the payload limit. Weighing walks a value
//! and charges the walk, so a value shared many times (a list of itself)
//! costs what it would cost written out, and the walk stops at the budget.

use std::cell::RefCell;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// The budget of one evaluation, in multiples of the payload limit.
pub const BUDGET_FACTOR: u64 = 16;
/// Deepest nesting a value may have (JSON parsers allow about this much).
pub const MAX_DEPTH: usize = 64;

/// Weight of a scalar, and the overhead of one item in a list or map.
const SCALAR: u64 = 8;

pub(super) struct Meter {
    /// Bytes the evaluation may still build, compare or write.
    remaining: u64,
    /// The payload limit: the largest value, and the largest result.
    pub(super) value_limit: u64,
    /// Bytes a template has written so far.
    written: u64,
}

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// Runs `f` with a fresh meter for a payload limit of `limit` bytes.
pub(super) fn metered<T>(limit: u64, f: impl FnOnce() -> T) -> T {
    let meter = Meter { remaining: limit.saturating_mul(BUDGET_FACTOR), value_limit: limit, written: 0 };
    let previous = METER.with(|m| m.replace(Some(meter)));
    let result = f();
    METER.with(|m| *m.borrow_mut() = previous);
    result
}

pub(super) fn over_limit(what: &str, limit: u64) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{what} would pass the payload limit of {limit} bytes"))
}

fn with_meter<T>(f: impl FnOnce(&mut Meter) -> Result<T, Error>) -> Result<T, Error> {
    METER.with(|m| match m.borrow_mut().as_mut() {
        Some(meter) => f(meter),
        None => Err(Error::new(ErrorKind::InvalidOperation, "expression evaluated outside its budget")),
    })
}

/// Draws `bytes` from the evaluation's budget.
pub(super) fn charge(bytes: u64) -> Result<(), Error> {
    with_meter(|meter| {
        if bytes > meter.remaining {
            let budget = meter.value_limit.saturating_mul(BUDGET_FACTOR);
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "the expression builds more than its budget of {budget} bytes ({BUDGET_FACTOR} × the payload limit of {} bytes)",
                    meter.value_limit
                ),
            ));
        }
        meter.remaining -= bytes;
        Ok(())
    })
}

/// Counts `bytes` a template writes: its whole text obeys the payload limit.
pub(super) fn wrote(bytes: u64) -> Result<(), Error> {
    with_meter(|meter| {
        meter.written = meter.written.saturating_add(bytes);
        if meter.written > meter.value_limit {
            return Err(over_limit("the rendered text", meter.value_limit));
        }
        Ok(())
    })?;
    charge(bytes)
}

/// The payload limit of the running evaluation.
pub(super) fn value_limit() -> Result<u64, Error> {
    with_meter(|meter| Ok(meter.value_limit))
}

/// Charges a value about to be built from `bytes` and refuses it past the
/// payload limit.
pub(super) fn admit_size(what: &str, bytes: u64) -> Result<(), Error> {
    let limit = value_limit()?;
    if bytes > limit {
        return Err(over_limit(what, limit));
    }
    charge(bytes)
}

/// Weighs `value` (charging the walk) and refuses it past the payload
/// limit or `MAX_DEPTH`: the check every built value passes.
pub(super) fn admit(what: &'static str, value: &Value) -> Result<u64, Error> {
    weigh(what, value, value_limit()?)
}

/// The weight of `value`, walking at most `cap` bytes of it (charged).
pub(super) fn weigh(what: &'static str, value: &Value, cap: u64) -> Result<u64, Error> {
    let mut walk = Walk { total: 0, cap, what };
    walk.visit(value, 0)?;
    charge(walk.total)?;
    Ok(walk.total)
}

struct Walk {
    total: u64,
    cap: u64,
    what: &'static str,
}

impl Walk {
    fn add(&mut self, bytes: u64) -> Result<(), Error> {
        self.total = self.total.saturating_add(bytes);
        if self.total > self.cap {
            return Err(over_limit(self.what, self.cap));
        }
        Ok(())
    }

    fn visit(&mut self, value: &Value, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{} nests deeper than {MAX_DEPTH} levels", self.what),
            ));
        }
        match value.kind() {
            ValueKind::String => self.add(value.as_str().map_or(0, str::len) as u64 + 2),
            ValueKind::Bytes => self.add(value.as_bytes().map_or(0, <[u8]>::len) as u64 + 2),
            ValueKind::Seq | ValueKind::Iterable => {
                self.add(2)?;
                for item in value.try_iter()? {
                    self.add(1)?;
                    self.visit(&item, depth + 1)?;
                }
                Ok(())
            }
            ValueKind::Map => {
                self.add(2)?;
                for key in value.try_iter()? {
                    let item = value.get_item(&key)?;
                    self.add(2)?;
                    self.visit(&key, depth + 1)?;
                    self.visit(&item, depth + 1)?;
                }
                Ok(())
            }
            _ => self.add(SCALAR),
        }
    }
}
