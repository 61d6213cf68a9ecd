//! The per-execution store data: WASI context, resource table, capability
//! hosts and the memory limiter.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::Capabilities;
use crate::capabilities::http::OutboundHttp;
use crate::capabilities::kv::KvStore;
use crate::capabilities::llm::LlmHost;
use crate::capabilities::log::LogSink;
use crate::capabilities::secrets::SecretsHost;

pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http_ctx: WasiHttpCtx,
    pub(crate) http: OutboundHttp,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) secrets: SecretsHost,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) llm: LlmHost,
    pub(crate) log: LogSink,
}

impl HostState {
    pub(crate) fn new(wasi: WasiCtx, capabilities: Capabilities, limiter: MemoryLimiter, log: LogSink) -> Self {
        HostState {
            wasi,
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http: OutboundHttp::new(capabilities.http, capabilities.http_budget),
            limiter,
            secrets: SecretsHost::new(capabilities.secrets, capabilities.granted_secrets),
            kv: capabilities.kv,
            llm: LlmHost::new(capabilities.llm),
            log,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http_ctx, table: &mut self.table, hooks: &mut self.http }
    }
}

/// Caps the total size of the instance's linear memories and records the
/// peak. Growth past the cap traps at once (rather than letting
/// `memory.grow` return -1) and sets `exceeded`, so the failure is reported
/// as `memory_limit` and not as whatever the guest did next.
pub(crate) struct MemoryLimiter {
    limit: usize,
    total: usize,
    pub(crate) peak: usize,
    pub(crate) exceeded: bool,
}

/// Bounds that are not part of the user-facing limits but keep one guest
/// from exhausting host tables.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 8;

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        MemoryLimiter { limit: usize::try_from(limit).unwrap_or(usize::MAX), total: 0, peak: 0, exceeded: false }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let next = self.total.saturating_sub(current).saturating_add(desired);
        if next > self.limit {
            self.exceeded = true;
            return Err(wasmtime::format_err!("memory limit of {} bytes reached (wanted {next})", self.limit));
        }
        self.total = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
