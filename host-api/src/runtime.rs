//! Loading components and running one execution under limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

use crate::cache::ComponentCache;
use crate::capabilities::Capabilities;
use crate::capabilities::log::LogSink;
use crate::config::{Limits, RuntimeConfig};
use crate::error::{DescribeError, LoadError, RuntimeError};
use crate::glue::{WitEmit, WitError, WitKind};
use crate::report::{Emit, Execution, Failure, FailureCode, LogLevel, Report, Status};
use crate::state::{HostState, MemoryLimiter};
use crate::stdio::CapturedOutput;
use crate::ticker::EpochTicker;
use crate::world;
use crate::{v0_1_0, v0_2_0};

/// Longest message kept from a plugin's own error text.
const MAX_ERROR_MESSAGE_BYTES: usize = 4096;
/// Largest JSON Schema text accepted from `describe`.
const MAX_SCHEMA_BYTES: usize = 1 << 20;
const MAX_PORT_BYTES: usize = 64;

/// One node invocation, as the engine hands it to a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub kind: String,
    pub config: Value,
    pub input: Value,
    pub run_id: String,
    pub node_id: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    pub idempotency_key: String,
}

impl Invocation {
    /// An invocation outside any run (CLI, tests, benchmarks).
    pub fn standalone(kind: impl Into<String>, config: Value, input: Value) -> Self {
        Invocation {
            kind: kind.into(),
            config,
            input,
            run_id: "standalone".to_owned(),
            node_id: "node".to_owned(),
            attempt: 1,
            idempotency_key: "standalone:node".to_owned(),
        }
    }
}

/// A node kind as `describe` reports it, with its schemas parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeKind {
    pub name: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub config_schema: Value,
    pub input_schema: Value,
    pub output_schema: Value,
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadedFrom {
    /// Compiled now (and written to the cache if there is one).
    Compiled,
    /// Loaded from the on-disk cache without compiling.
    Cache,
}

/// A checked, pre-linked component, ready to instantiate many times.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    digest: String,
    wit_version: String,
    /// Whether the component imports anything that acts outside its own
    /// execution (see [`Plugin::reaches_out`]).
    reaches_out: bool,
    pre: Pre,
    loaded_from: LoadedFrom,
    load_time: Duration,
}

impl Plugin {
    /// Hex SHA-256 of the component bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The `trellis:plugin` version the component was built against.
    pub fn wit_version(&self) -> &str {
        &self.inner.wit_version
    }

    pub fn loaded_from(&self) -> LoadedFrom {
        self.inner.loaded_from
    }

    /// Whether an execution can act outside itself: the component imports
    /// outbound HTTP, secrets, kv or the LLM. One that imports none of
    /// them computes its emits from its invocation alone (its clock,
    /// randomness and log change nothing anyone else sees), so running it
    /// again gives an equivalent result and changes nothing: the engine
    /// need not record that it started before it runs.
    pub fn reaches_out(&self) -> bool {
        self.inner.reaches_out
    }

    /// Time to compile or deserialize, and link.
    pub fn load_time(&self) -> Duration {
        self.inner.load_time
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.inner.digest)
            .field("wit_version", &self.inner.wit_version)
            .field("loaded_from", &self.inner.loaded_from)
            .finish()
    }
}

/// A component linked against the `node` world of its WIT version.
pub(crate) enum Pre {
    V0_1_0(v0_1_0::NodePre<HostState>),
    V0_2_0(v0_2_0::NodePre<HostState>),
}

impl Pre {
    /// Checks the imports against the world of the version they name and
    /// links the component for it; returns the version too.
    pub(crate) fn link(
        engine: &Engine,
        linker: &Linker<HostState>,
        component: &Component,
    ) -> Result<(Pre, String, bool), LoadError> {
        let component_type = component.component_type();
        let imports = || component_type.imports(engine).map(|(name, _)| name);
        let wit_version = world::check_imports(imports())?;
        let pre = linker.instantiate_pre(component).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld(format!("{e:#}"));
        let pre = if wit_version == v0_1_0::VERSION {
            Pre::V0_1_0(v0_1_0::NodePre::new(pre).map_err(wrong_world)?)
        } else {
            Pre::V0_2_0(v0_2_0::NodePre::new(pre).map_err(wrong_world)?)
        };
        let reaches_out = imports().any(world::reaches_out);
        Ok((pre, wit_version, reaches_out))
    }

    async fn describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<Vec<WitKind>> {
        Ok(match self {
            Pre::V0_1_0(pre) => {
                let node = pre.instantiate_async(&mut *store).await?;
                node.call_describe(store).await?.into_iter().map(v0_1_0::kind).collect()
            }
            Pre::V0_2_0(pre) => {
                let node = pre.instantiate_async(&mut *store).await?;
                node.call_describe(store).await?.into_iter().map(v0_2_0::kind).collect()
            }
        })
    }

    pub(crate) async fn run(
        &self,
        store: &mut Store<HostState>,
        invocation: &Invocation,
    ) -> wasmtime::Result<Result<Vec<WitEmit>, WitError>> {
        Ok(match self {
            Pre::V0_1_0(pre) => {
                let node = pre.instantiate_async(&mut *store).await?;
                node.call_run(store, &v0_1_0::invocation(invocation))
                    .await?
                    .map(|emits| emits.into_iter().map(v0_1_0::emit).collect())
                    .map_err(v0_1_0::error)
            }
            Pre::V0_2_0(pre) => {
                let node = pre.instantiate_async(&mut *store).await?;
                node.call_run(store, &v0_2_0::invocation(invocation))
                    .await?
                    .map(|emits| emits.into_iter().map(v0_2_0::emit).collect())
                    .map_err(v0_2_0::error)
            }
        })
    }
}

/// The sandbox. Cheap to clone; one per process is the intent.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<ComponentCache>,
    config: RuntimeConfig,
    compiles: AtomicU64,
    describes: AtomicU64,
    _ticker: EpochTicker,
}

/// Fuel a guest burns between two yields to the async runtime: roughly a
/// tenth of a millisecond, far more than a typical node's whole run, so
/// only long computations ever yield.
const FUEL_PER_SLICE: u64 = 200_000;

pub(crate) fn engine_config(config: &RuntimeConfig, metered: bool) -> Result<Config, RuntimeError> {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true);
    wasm.max_wasm_stack(config.max_wasm_stack_bytes);
    wasm.consume_fuel(metered);
    wasm.epoch_interruption(metered);
    if config.pooling {
        let n = config.max_concurrent_instances.max(1);
        let ceiling = usize::try_from(config.memory_ceiling_bytes)
            .map_err(|_| RuntimeError::Config("memory ceiling does not fit this platform".to_owned()))?;
        let mut pool = PoolingAllocationConfig::new();
        // A Rust component is a handful of core instances (main module plus
        // adapter shims), each with at most a memory and a few tables.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(16))
            .total_memories(n.saturating_mul(4))
            .total_tables(n.saturating_mul(16))
            .total_stacks(n)
            .max_memory_size(ceiling)
            // Resetting a small slot with memset beats giving its pages back
            // with madvise: every madvise flushes TLBs on all cores the
            // process runs on, which costs more than the node itself.
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(128 << 10);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(wasm)
}

/// Links exactly the `node` world: WASI io/clocks/random/stdio/environment/
/// exit/terminals, wasi:http, and the trellis interfaces. Nothing else, so
/// filesystem or socket imports cannot resolve.
pub(crate) fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p2::bindings::{cli, random};
    use wasmtime_wasi::random::WasiRandom;

    let mut linker = Linker::new(engine);
    let l = &mut linker;
    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(l)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, |s| s.wasi.random())?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;

    {
        use v0_1_0::trellis::plugin::{kv, llm, log, secrets};
        secrets::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
        kv::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
        llm::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
        log::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
    }
    {
        use v0_2_0::trellis::plugin::{kv, llm, log, secrets};
        secrets::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
        kv::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
        llm::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
        log::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
    }
    Ok(linker)
}

/// Checks the header so the common mistakes get a precise message instead
/// of a parser error.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::Invalid("the file does not start with the WebAssembly magic bytes `\\0asm`".to_owned()));
    }
    // Components have layer 1 in bytes 6..8; core modules have layer 0.
    if bytes[6..8] != [1, 0] {
        return Err(LoadError::Invalid(
            "this is a core WebAssembly module, not a component; build with `--target wasm32-wasip2`".to_owned(),
        ));
    }
    Ok(())
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&engine_config(&config, true)?).map_err(|e| RuntimeError::Config(format!("{e:#}")))?;
        let linker = build_linker(&engine).map_err(|e| RuntimeError::Config(format!("{e:#}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(
                ComponentCache::open(dir, &engine)
                    .map_err(|source| RuntimeError::CacheDir { path: dir.display().to_string(), source })?,
            ),
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)
            .map_err(|e| RuntimeError::Config(format!("starting the epoch ticker: {e}")))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache,
                config,
                compiles: AtomicU64::new(0),
                describes: AtomicU64::new(0),
                _ticker: ticker,
            }),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// How many components this runtime has compiled (cache hits excluded).
    pub fn compile_count(&self) -> u64 {
        self.inner.compiles.load(Ordering::Relaxed)
    }

    /// `describe` calls this runtime made (publishing runs one per package;
    /// loading an installed plugin runs none).
    pub fn describes(&self) -> u64 {
        self.inner.describes.load(Ordering::Relaxed)
    }

    /// Checks and prepares a component: size, header, compile (or load
    /// from cache), imports against the world, exports against the world.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let inner = &self.inner;
        let limit = inner.config.max_component_bytes;
        if bytes.len() > limit {
            return Err(LoadError::TooLarge { size: bytes.len(), limit });
        }
        check_header(bytes)?;
        let started = Instant::now();
        let digest = hex::encode(Sha256::digest(bytes));

        let cached = inner.cache.as_ref().and_then(|cache| cache.load(&inner.engine, &digest));
        let (component, loaded_from) = match cached {
            Some(component) => (component, LoadedFrom::Cache),
            None => {
                let component =
                    Component::new(&inner.engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
                inner.compiles.fetch_add(1, Ordering::Relaxed);
                (component, LoadedFrom::Compiled)
            }
        };

        let (pre, wit_version, reaches_out) = Pre::link(&inner.engine, &inner.linker, &component)?;

        // Only cache what passed every check, so the cache never holds a
        // component that would be refused.
        if loaded_from == LoadedFrom::Compiled
            && let Some(cache) = &inner.cache
            && let Err(error) = cache.store(&digest, &component)
        {
            tracing::warn!(%digest, %error, "could not write the component cache");
        }

        Ok(Plugin {
            inner: Arc::new(PluginInner {
                digest,
                wit_version,
                reaches_out,
                pre,
                loaded_from,
                load_time: started.elapsed(),
            }),
        })
    }

    fn new_store(
        &self,
        limits: &Limits,
        capabilities: Capabilities,
        started: Instant,
        stdout: &CapturedOutput,
        stderr: &CapturedOutput,
    ) -> Store<HostState> {
        let config = &self.inner.config;
        let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
        let limiter = MemoryLimiter::new(limits.memory_bytes.min(config.memory_ceiling_bytes));
        let state = HostState::new(
            wasi,
            capabilities,
            limiter,
            LogSink::new(started, limits.max_log_bytes, limits.max_log_lines),
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Fuel is enabled on this engine, so this cannot fail.
        let _ = store.set_fuel(limits.fuel);
        // Guests run on the async runtime's worker threads: one that computes
        // for long hands its thread back every so often, so other tenants'
        // requests and nodes are served between its slices instead of after it.
        let _ = store.fuel_async_yield_interval(Some(FUEL_PER_SLICE));
        // One tick more than the limit spans: the first tick may come at
        // once, and a guest must get its whole time, never less.
        let tick = config.epoch_tick.as_nanos().max(1);
        let ticks = limits.timeout.as_nanos().div_ceil(tick) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        store
    }

    /// Calls `describe` in the sandbox with default limits and no
    /// capabilities, and checks what it returns.
    pub async fn describe(&self, plugin: &Plugin) -> Result<Vec<NodeKind>, DescribeError> {
        self.inner.describes.fetch_add(1, Ordering::Relaxed);
        let limits = Limits::default();
        let started = Instant::now();
        let stdout = CapturedOutput::new(limits.max_log_bytes);
        let stderr = CapturedOutput::new(limits.max_log_bytes);
        let mut store = self.new_store(&limits, Capabilities::default(), started, &stdout, &stderr);
        let call = plugin.inner.pre.describe(&mut store);
        let kinds = match tokio::time::timeout(limits.timeout, call).await {
            Ok(Ok(kinds)) => kinds,
            Ok(Err(error)) => {
                let failure = classify(&error, &store.data().limiter, &limits, &stderr.text());
                return Err(DescribeError::Failed(failure.to_string()));
            }
            Err(_) => return Err(DescribeError::Failed(format!("timed out after {} ms", limits.timeout.as_millis()))),
        };
        let mut seen = std::collections::BTreeSet::new();
        kinds
            .into_iter()
            .map(|kind| {
                let invalid = |problem: String| DescribeError::InvalidKind { kind: kind.name.clone(), problem };
                if kind.name.is_empty() || kind.name.len() > 128 {
                    return Err(invalid("name must be 1 to 128 bytes".to_owned()));
                }
                if !seen.insert(kind.name.clone()) {
                    return Err(invalid("name is listed twice".to_owned()));
                }
                let schema = |field: &str, text: &str| -> Result<Value, DescribeError> {
                    if text.len() > MAX_SCHEMA_BYTES {
                        return Err(invalid(format!("{field} is over {MAX_SCHEMA_BYTES} bytes")));
                    }
                    serde_json::from_str(text).map_err(|e| invalid(format!("{field} is not JSON: {e}")))
                };
                Ok(NodeKind {
                    config_schema: schema("config-schema", &kind.config_schema)?,
                    input_schema: schema("input-schema", &kind.input_schema)?,
                    output_schema: schema("output-schema", &kind.output_schema)?,
                    name: kind.name,
                    title: kind.title,
                    description: kind.description,
                    category: kind.category,
                    ports: kind.ports,
                })
            })
            .collect()
    }

    /// Runs one invocation in a fresh instance. Never panics or returns an
    /// error: every way a plugin can fail is a [`Failure`] in the report.
    pub async fn execute(
        &self,
        plugin: &Plugin,
        invocation: &Invocation,
        limits: &Limits,
        capabilities: Capabilities,
    ) -> Execution {
        let started = Instant::now();
        let stdout = CapturedOutput::new(limits.max_log_bytes);
        let stderr = CapturedOutput::new(limits.max_log_bytes);
        let mut store = self.new_store(limits, capabilities, started, &stdout, &stderr);
        let call = plugin.inner.pre.run(&mut store, invocation);
        // The epoch deadline stops wasm code; this timeout also covers time
        // spent awaiting host calls (a slow HTTP response, say).
        let outcome = tokio::time::timeout(limits.timeout, call).await;
        let fuel_left = store.get_fuel().unwrap_or(0);

        let stderr_text = stderr.text();
        let mut result: Result<Vec<Emit>, Failure> = match outcome {
            Err(_) => Err(timeout_failure(limits)),
            Ok(Err(error)) => Err(classify(&error, &store.data().limiter, limits, &stderr_text)),
            Ok(Ok(Err(node_error))) => Err(plugin_failure(node_error)),
            Ok(Ok(Ok(emits))) => check_output(emits, limits),
        };
        // A node that failed after the tenant's tokens ran out failed
        // because of the quota, whatever the plugin made of the refusal.
        if let (Err(failure), Some(refusal)) = (&mut result, &store.data().llm.quota_refusal) {
            *failure = Failure::new(FailureCode::QuotaExceeded, refusal.clone());
        }

        let state = store.into_data();
        let mut log = state.log;
        for (level, text) in [(LogLevel::Info, stdout.text()), (LogLevel::Warn, stderr_text)] {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                log.push(level, line);
            }
        }
        let logs_truncated = log.truncated;
        // Redacted before anything leaves the sandbox's report: emits,
        // failure, logs and the recorded HTTP calls.
        let redactor = state.secrets.redactor().await;
        let mut logs = log.into_lines();
        for line in &mut logs {
            redactor.text(&mut line.message);
        }
        let mut http_calls = state.http.calls();
        for call in &mut http_calls {
            redactor.text(&mut call.url);
            redactor.text(&mut call.host);
            if let Some(error) = &mut call.error {
                redactor.text(error);
            }
        }
        let mut llm_calls = state.llm.calls;
        for call in &mut llm_calls {
            if let Some(error) = &mut call.error {
                redactor.text(&mut error.message);
            }
        }
        let (emits, status, failure) = match result {
            Ok(mut emits) => {
                for emit in &mut emits {
                    redactor.json(&mut emit.data);
                }
                (emits, Status::Succeeded, None)
            }
            Err(mut failure) => {
                redactor.text(&mut failure.message);
                (Vec::new(), Status::Failed, Some(failure))
            }
        };
        Execution {
            emits,
            report: Report {
                status,
                failure,
                fuel_used: limits.fuel.saturating_sub(fuel_left),
                peak_memory_bytes: state.limiter.peak as u64,
                wall_time_us: started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64,
                http_calls,
                llm_tokens: state.llm.tokens_used,
                llm_calls,
                logs,
                logs_truncated,
            },
        }
    }
}

fn timeout_failure(limits: &Limits) -> Failure {
    Failure::new(FailureCode::Timeout, format!("wall-time limit of {} ms reached", limits.timeout.as_millis()))
}

fn truncate(text: String) -> String {
    crate::report::clipped(text, MAX_ERROR_MESSAGE_BYTES)
}

fn plugin_failure(error: WitError) -> Failure {
    let (code, message) = match error {
        WitError::InvalidConfig(m) => (FailureCode::InvalidConfig, m),
        WitError::InvalidInput(m) => (FailureCode::InvalidInput, m),
        WitError::Retryable(m) => (FailureCode::Retryable, m),
        WitError::Fatal(m) => (FailureCode::Fatal, m),
    };
    Failure::new(code, truncate(message))
}

/// Turns an instance-killing error into the failure the user sees.
fn classify(error: &wasmtime::Error, limiter: &MemoryLimiter, limits: &Limits, stderr: &str) -> Failure {
    if limiter.exceeded {
        return Failure::new(
            FailureCode::MemoryLimit,
            format!("memory limit of {} bytes reached", limits.memory_bytes),
        );
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => {
                Failure::new(FailureCode::FuelExhausted, format!("fuel limit of {} units used up", limits.fuel))
            }
            Trap::Interrupt => timeout_failure(limits),
            other => {
                Failure::new(FailureCode::Trap, truncate(with_guest_stderr(format!("wasm trap: {other}"), stderr)))
            }
        };
    }
    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return Failure::new(FailureCode::Capacity, "no sandbox slot is free; too many executions at once");
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Failure::new(FailureCode::Trap, format!("guest called exit with status {}", exit.0));
    }
    Failure::new(FailureCode::Trap, truncate(with_guest_stderr(format!("{error:#}"), stderr)))
}

/// A panicking Rust guest prints its message to stderr before trapping;
/// that line is far more useful than "unreachable executed".
fn with_guest_stderr(message: String, stderr: &str) -> String {
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if tail.is_empty() {
        return message;
    }
    let start = tail.len().saturating_sub(3);
    format!("{message}; guest stderr: {}", tail[start..].join(" | "))
}

fn check_output(emits: Vec<WitEmit>, limits: &Limits) -> Result<Vec<Emit>, Failure> {
    let invalid = |m: String| Failure::new(FailureCode::InvalidOutput, m);
    let total: usize = emits.iter().map(|e| e.port.len() + e.data.len()).sum();
    if total > limits.max_output_bytes {
        return Err(invalid(format!("output is {total} bytes, over the {}-byte limit", limits.max_output_bytes)));
    }
    emits
        .into_iter()
        .enumerate()
        .map(|(i, emit)| {
            let port_ok = !emit.port.is_empty()
                && emit.port.len() <= MAX_PORT_BYTES
                && emit.port.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !port_ok {
                return Err(invalid(format!(
                    "emit #{i}: port name must be 1 to {MAX_PORT_BYTES} of [A-Za-z0-9_-], got {:?}",
                    truncate(emit.port)
                )));
            }
            let data = serde_json::from_str(&emit.data)
                .map_err(|e| invalid(format!("emit #{i} on port `{}` is not valid JSON: {e}", emit.port)))?;
            Ok(Emit { port: emit.port, data })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_names_the_mistake() {
        assert!(check_header(b"garbage!").unwrap_err().to_string().contains("magic"));
        let core = b"\0asm\x01\0\0\0";
        assert!(check_header(core).unwrap_err().to_string().contains("core WebAssembly module"));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn output_checks_size_port_and_json() {
        let limits = Limits { max_output_bytes: 32, ..Limits::default() };
        let ok = check_output(vec![WitEmit { port: "out".into(), data: "{\"a\":1}".into() }], &limits).unwrap();
        assert_eq!(ok[0].data, serde_json::json!({"a": 1}));
        let big = check_output(vec![WitEmit { port: "out".into(), data: "1".repeat(40) }], &limits).unwrap_err();
        assert!(big.message.contains("over the 32-byte limit"), "{big}");
        let port = check_output(vec![WitEmit { port: "a b".into(), data: "1".into() }], &limits).unwrap_err();
        assert_eq!(port.code, FailureCode::InvalidOutput);
        let json = check_output(vec![WitEmit { port: "out".into(), data: "{nope".into() }], &limits).unwrap_err();
        assert!(json.message.contains("not valid JSON"), "{json}");
    }
}
