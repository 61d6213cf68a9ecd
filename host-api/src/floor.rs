//! The raw-wasmtime floor for benchmarks: the same component instantiated
//! from a bare `InstancePre` and called, with no fuel, no epoch deadline, no
//! memory limiter and no report. Same allocation strategy as [`Runtime`] so
//! the ratio isolates what our limits and metering cost.
//!
//! [`Runtime`]: crate::Runtime

use std::time::Instant;

use wasmtime::component::Component;
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;

use crate::capabilities::Capabilities;
use crate::capabilities::log::LogSink;
use crate::config::RuntimeConfig;
use crate::runtime::{Invocation, Pre, build_linker, engine_config};
use crate::state::{HostState, MemoryLimiter};

pub struct BareRunner {
    engine: Engine,
    pre: Pre,
}

impl BareRunner {
    pub fn new(component: &[u8]) -> Result<Self, String> {
        let config = engine_config(&RuntimeConfig::default(), false).map_err(|e| e.to_string())?;
        let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
        let component = Component::new(&engine, component).map_err(|e| format!("{e:#}"))?;
        let linker = build_linker(&engine).map_err(|e| format!("{e:#}"))?;
        let (pre, _, _) = Pre::link(&engine, &linker, &component).map_err(|e| e.to_string())?;
        Ok(BareRunner { engine, pre })
    }

    /// Instantiates and calls `run` once; returns whether the plugin
    /// answered with emits.
    pub async fn run(&self, invocation: &Invocation) -> Result<bool, String> {
        // The state is needed to satisfy the imports; no limiter is installed.
        let state = HostState::new(
            WasiCtxBuilder::new().build(),
            Capabilities::default(),
            MemoryLimiter::new(u64::MAX),
            LogSink::new(Instant::now(), usize::MAX, usize::MAX),
        );
        let mut store = Store::new(&self.engine, state);
        let result = self.pre.run(&mut store, invocation).await.map_err(|e| format!("{e:#}"))?;
        Ok(result.is_ok())
    }
}
