use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Server-wide sandbox settings: fixed for the life of a [`crate::Runtime`].
/// The values here are ceilings; per-execution [`Limits`] may only be tighter.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are kept between process starts. `None`
    /// compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Uploaded components larger than this are refused before parsing.
    pub max_component_bytes: usize,
    /// Wasm call-stack ceiling; a guest past it traps with "call stack exhausted".
    pub max_wasm_stack_bytes: usize,
    /// Largest linear memory any execution may reach (the pool slot size).
    pub memory_ceiling_bytes: u64,
    /// Executions that may be alive at once (pooling allocator slots).
    pub max_concurrent_instances: u32,
    /// Granularity of wall-time enforcement.
    pub epoch_tick: Duration,
    /// Pre-reserve instance slots (fast instantiation). Off only for tools
    /// that load one component once.
    pub pooling: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_component_bytes: 32 << 20,
            max_wasm_stack_bytes: 512 << 10,
            memory_ceiling_bytes: 512 << 20,
            max_concurrent_instances: 64,
            epoch_tick: Duration::from_millis(5),
            pooling: true,
        }
    }
}

/// Limits of one execution. Sources (server ceiling, tenant plan, plugin
/// manifest, node settings) are combined with [`Limits::tightest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel units (roughly one per wasm instruction).
    pub fuel: u64,
    #[serde(with = "millis")]
    pub timeout: Duration,
    pub memory_bytes: u64,
    /// Total bytes of all emitted JSON.
    pub max_output_bytes: usize,
    /// Bytes of log lines kept (including captured stdout/stderr); each
    /// line counts one byte more than its text, so empty lines count too.
    pub max_log_bytes: usize,
    /// Log lines kept.
    #[serde(default = "default_max_log_lines")]
    pub max_log_lines: usize,
}

fn default_max_log_lines() -> usize {
    Limits::default().max_log_lines
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 1_000_000_000,
            timeout: Duration::from_secs(30),
            memory_bytes: 64 << 20,
            max_output_bytes: 4 << 20,
            max_log_bytes: 64 << 10,
            max_log_lines: 1_000,
        }
    }
}

impl Limits {
    /// Field-by-field minimum: the tightest source wins.
    pub fn tightest(&self, other: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.min(other.fuel),
            timeout: self.timeout.min(other.timeout),
            memory_bytes: self.memory_bytes.min(other.memory_bytes),
            max_output_bytes: self.max_output_bytes.min(other.max_output_bytes),
            max_log_bytes: self.max_log_bytes.min(other.max_log_bytes),
            max_log_lines: self.max_log_lines.min(other.max_log_lines),
        }
    }
}

/// Durations as whole milliseconds in JSON; shared by every host-api
/// setting that carries a time.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// [`millis`] for an optional duration.
pub(crate) mod optional_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::millis::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightest_takes_each_minimum() {
        let plan = Limits { fuel: 10, timeout: Duration::from_secs(5), ..Limits::default() };
        let node = Limits { memory_bytes: 1 << 20, timeout: Duration::from_secs(60), ..Limits::default() };
        let merged = plan.tightest(&node);
        assert_eq!(merged.fuel, 10);
        assert_eq!(merged.timeout, Duration::from_secs(5));
        assert_eq!(merged.memory_bytes, 1 << 20);
    }
}
