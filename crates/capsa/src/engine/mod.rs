//! The engine: one wasmtime configuration, its linkers, its epoch ticker (`ticker`), its artifact
//! cache and the modules it keeps for its life (capsa's language runtimes, by content digest).

mod standby;
mod ticker;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::{ArtifactCache, Digest};
use crate::compile::CompileLimits;
use crate::error::{Error, Result};
use crate::host::Linkers;
use crate::limits::Limits;
use crate::module::{Module, ModuleInner};

pub use standby::StandbyLimits;
pub(crate) use standby::{StandbyBudget, StandbyReservation};
pub(crate) use ticker::Ticker;

/// The default wasm stack limit: 1 MiB.
pub const DEFAULT_MAX_WASM_STACK: usize = 1 << 20;

/// Compiles modules and runs them in sandboxes. Build one per process and share it: it is cheap to
/// clone (an `Arc` inside) and safe to use from many threads at once.
///
/// An engine owns the wasmtime configuration (Cranelift; a pooling instance allocator with
/// copy-on-write memory images; epoch interruption driven by a dedicated ticker thread; optional fuel),
/// the compiled-artifact cache and a small tokio runtime for host calls and synchronous callers.
///
/// ```no_run
/// # fn main() -> Result<(), capsa::Error> {
/// let engine = capsa::Engine::builder().build()?;
/// let module = engine.load(br#"(module (func (export "_start")))"#)?;
/// let receipt = module.run(capsa::Call::new())?;
/// assert!(receipt.is_ok());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub(crate) wasmtime: wasmtime::Engine,
    /// What guests can import: core modules, and components (capsa's Python runtime, users'
    /// `wasi:http` components).
    pub(crate) linkers: Linkers,
    pub(crate) cache: ArtifactCache,
    pub(crate) cpu_budget: bool,
    pub(crate) compile_limits: CompileLimits,
    pub(crate) max_wasm_stack: usize,
    /// Where sessions make their files' directories; `None` is the system's temporary directory.
    pub(crate) session_dir: Option<PathBuf>,
    /// The standby instances' limits and what they hold.
    pub(crate) standby: Arc<StandbyBudget>,
    pooling: bool,
    /// Which instance allocator is in use, and why, for people (`capsa doctor`).
    allocator: String,
    ticker: Ticker,
    runtime: OnceLock<std::result::Result<tokio::runtime::Runtime, String>>,
    /// Modules kept for the engine's life, by content digest: capsa's language runtimes (without
    /// their engine handle, which would be a cycle).
    pinned: Mutex<HashMap<Digest, Arc<ModuleInner>>>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.ticker.stop();
        // The last handle may go inside the host runtime itself (a background task's, or a session
        // dropped by a host call), where a blocking shutdown would panic.
        if let Some(Ok(runtime)) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Builds an [`Engine`]. Every setting has a safe default.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    cache_dir: Option<PathBuf>,
    cpu_budget: bool,
    max_wasm_stack: usize,
    pooling: bool,
    compile_limits: CompileLimits,
    session_dir: Option<PathBuf>,
    standby: StandbyLimits,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            cache_dir: default_cache_dir(),
            cpu_budget: false,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            pooling: true,
            compile_limits: CompileLimits::default(),
            session_dir: None,
            standby: StandbyLimits::OFF,
        }
    }
}

impl EngineBuilder {
    /// Where compiled artifacts are cached on disk. By default `$CAPSA_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/capsa`, else `~/.cache/capsa`. `None` keeps the cache in memory only.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Compile guests with fuel metering so calls can have a deterministic CPU budget
    /// ([`Limits::fuel`](crate::Limits::fuel)). Off by default: metering makes CPU-bound guests about
    /// a third slower, so turn it on only where a budget is wanted. Artifacts are cached separately
    /// for each setting.
    pub fn cpu_budget(mut self, enabled: bool) -> Self {
        self.cpu_budget = enabled;
        self
    }

    /// The most wasm stack a guest may use, in bytes. By default 1 MiB. Running past it ends the call
    /// with `stack_overflow`.
    pub fn max_wasm_stack(mut self, bytes: usize) -> Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// The caps on compiling code from outside: module size, functions, nesting, script size and the
    /// compile deadline (see [`CompileLimits`]). Loads past them fail with `compile_limit_exceeded`.
    pub fn compile_limits(mut self, limits: CompileLimits) -> Self {
        self.compile_limits = limits;
        self
    }

    /// Use wasmtime's pooling instance allocator (the default). It makes instantiation a few
    /// microseconds but reserves a large range of address space up front; where that reservation
    /// fails (a small `ulimit -v`, a constrained VM) the engine falls back to on-demand allocation on its
    /// own and logs a warning once. `false` skips the attempt.
    pub fn pooling(mut self, enabled: bool) -> Self {
        self.pooling = enabled;
        self
    }

    /// Where sessions keep their files (`/work`, [`Session::write_file`](crate::Session::write_file)):
    /// each session that has files gets a private directory (mode 0700) under this one, made when it
    /// first needs it and removed with everything in it when the session is dropped. By default
    /// (`None`) the system's temporary directory (`$TMPDIR`, else `/tmp`). It must not overlap the
    /// artifact cache.
    pub fn session_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.session_dir = dir;
        self
    }

    /// Keep standby instances of capsa's language runtimes (see [`StandbyLimits`]; off by default).
    /// Standby instances are made on the tokio runtime of the calls that use them, after a call of
    /// the runtime finds its set short.
    pub fn standby(mut self, limits: StandbyLimits) -> Self {
        self.standby = limits;
        self
    }

    /// Builds the engine and starts its epoch ticker thread.
    ///
    /// # Errors
    ///
    /// `invalid_input` for an unusable setting (a zero stack); `internal` when wasmtime cannot create
    /// an engine at all or the ticker thread cannot start.
    pub fn build(self) -> Result<Engine> {
        if self.max_wasm_stack < 64 * 1024 || self.max_wasm_stack > 256 << 20 {
            return Err(Error::invalid_input(format!(
                "wasm stack limit `{}` bytes is outside 64KiB..256MiB",
                self.max_wasm_stack
            )));
        }
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .consume_fuel(self.cpu_budget)
            .max_wasm_stack(self.max_wasm_stack)
            // Host functions (WASI, capsa's ABI) run on the guest's fiber stack, above the wasm part.
            .async_stack_size(self.max_wasm_stack + (1 << 20))
            .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable)
            .memory_init_cow(true)
            .parallel_compilation(true);

        let (wasmtime, pooling, allocator) = if self.pooling {
            pooled_engine(&mut config)?
        } else {
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            let why = "on-demand (pooling turned off by the embedder)".to_owned();
            (new_engine(&config)?, false, why)
        };

        let linkers = Linkers::new(&wasmtime)?;
        let cache = ArtifactCache::new(self.cache_dir.as_deref(), &wasmtime);
        let ticker = Ticker::start(wasmtime.clone())?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                wasmtime,
                linkers,
                cache,
                cpu_budget: self.cpu_budget,
                compile_limits: self.compile_limits,
                max_wasm_stack: self.max_wasm_stack,
                session_dir: self.session_dir,
                standby: StandbyBudget::new(self.standby, POOL_STANDBY as usize),
                pooling,
                allocator,
                ticker,
                runtime: OnceLock::new(),
                pinned: Mutex::new(HashMap::new()),
            }),
        })
    }
}

fn new_engine(config: &Config) -> Result<wasmtime::Engine> {
    wasmtime::Engine::new(config)
        .map_err(|e| Error::internal(format!("cannot create the wasmtime engine: {e:#}")))
}

/// The fastest allocator the host supports: the pool with dirty-page scanning, else the plain pool,
/// else on-demand allocation (with one warning).
fn pooled_engine(config: &mut Config) -> Result<(wasmtime::Engine, bool, String)> {
    // With PAGEMAP_SCAN (Linux 6.7+) wasmtime resets only the pages a call dirtied and keeps them
    // resident, so the next call in the slot takes no page faults. Without it, keeping memory
    // resident would mean rewriting the whole kept region on every call, so it stays off.
    let mut scanning = pooling_config();
    scanning
        .pagemap_scan(Enabled::Yes)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(scanning));
    let scan_error = match wasmtime::Engine::new(config) {
        Ok(engine) => {
            let how = "pooling, resetting dirty pages with PAGEMAP_SCAN".to_owned();
            return Ok((engine, true, how));
        }
        Err(err) => err,
    };
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config()));
    match wasmtime::Engine::new(config) {
        Ok(engine) => Ok((
            engine,
            true,
            format!(
                "pooling, without PAGEMAP_SCAN (it needs Linux 6.7+: {scan_error:#}), so memory is \
                 returned to the kernel after each call"
            ),
        )),
        Err(err) => {
            tracing::warn!(
                "pooling allocator unavailable ({err:#}); falling back to on-demand allocation"
            );
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            // Where the pool could not reserve its address space, a 4 GiB reservation per memory
            // will not fit either: reserve only what a memory uses, with explicit bounds checks,
            // and let it move when it grows.
            config
                .memory_reservation(0)
                .memory_guard_size(0)
                .memory_reservation_for_growth(1 << 20)
                .memory_may_move(true);
            let why = format!("on-demand (the pooling allocator is unavailable: {err:#})");
            Ok((new_engine(config)?, false, why))
        }
    }
}

/// Bytes of dirtied linear memory (and table) per slot reset in place rather than returned to the
/// kernel. Covers the working set of small guests; with 100 warm slots it bounds the memory kept
/// resident this way to 200 MiB.
const KEEP_RESIDENT: usize = 2 << 20;

/// Sandboxes the pool holds at once, live sessions and running calls together (SPEC §9: 1,000 parked
/// on host calls). Past it a call or a new session is `busy`.
const POOL_SANDBOXES: u32 = 1_000;

/// The most standby instances at once, out of [`POOL_SANDBOXES`].
const POOL_STANDBY: u32 = POOL_SANDBOXES / 10;

/// Tables per sandbox in the pool, on average: a CPython sandbox has 2, a plain module at most 1.
const POOL_TABLES_PER_SANDBOX: u32 = 4;

fn pooling_config() -> PoolingAllocationConfig {
    // Each slot is only address space until used; resident memory follows what guests touch. Core
    // instances get as many per sandbox as a sandbox may hold (`Limits::max_instances`, 16 by default,
    // for CPython's 14): with one each, about 70 Python sessions used up the pool (then 500, on
    // tables).
    let defaults = Limits::default();
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(POOL_SANDBOXES * defaults.max_instances)
        .total_memories(POOL_SANDBOXES)
        .total_tables(POOL_SANDBOXES * POOL_TABLES_PER_SANDBOX)
        .total_stacks(POOL_SANDBOXES)
        // A CPython component has 14 core instances and one 13 MiB memory; leave headroom.
        .total_component_instances(POOL_SANDBOXES)
        .max_core_instances_per_component(32)
        // Tables as large as `Limits::max_table_elements`. Memories and tables per module stay at
        // wasmtime's default of one each: allowing four cost about 9 µs on every call (measured with
        // benches/fresh_sandbox.rs), for modules that are rare.
        .table_elements(usize::try_from(crate::compile::POOL_TABLE_ELEMENTS).unwrap_or(usize::MAX))
        // Keep some warm slots so repeat calls of a module reuse their copy-on-write image mapping.
        .max_unused_warm_slots(100);
    pool
}

impl Engine {
    /// An engine with the default settings (see [`EngineBuilder`]).
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::build`].
    pub fn new() -> Result<Engine> {
        EngineBuilder::default().build()
    }

    /// A builder for an engine with custom settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Loads a module from `.wasm` or `.wat` bytes, compiling it unless the cache has it: a core wasm
    /// module, or a component that exports `wasi:http/incoming-handler@0.2.x` (the `wasi:http/proxy`
    /// world, as `wasmtime serve` and Spin run them), which runs as a handler
    /// ([`Module::handle`](crate::Module::handle)).
    ///
    /// # Errors
    ///
    /// `invalid_module` when the bytes are not a module capsa can run: malformed wasm or wat, a
    /// component that does not export `wasi:http/incoming-handler`, a precompiled artifact (capsa never
    /// deserialises artifacts it did not write), or an import capsa does not provide.
    pub fn load(&self, bytes: &[u8]) -> Result<Module> {
        Module::load(self, bytes)
    }

    /// Reads a `.wasm` or `.wat` file and loads it (see [`Engine::load`]).
    ///
    /// # Errors
    ///
    /// `not_found` when the file cannot be read; otherwise as [`Engine::load`].
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes = read_source(path)?;
        self.load(&bytes)
    }

    /// Whether the pooling allocator is in use (`false` after a fallback to on-demand allocation).
    pub fn is_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// The instance allocator in use and why, in words: pooling with or without PAGEMAP_SCAN, or
    /// on-demand with the reason the pool was unavailable.
    pub fn allocator(&self) -> &str {
        &self.inner.allocator
    }

    /// Whether this engine meters fuel, so calls may set [`Limits::fuel`](crate::Limits::fuel).
    pub fn has_cpu_budget(&self) -> bool {
        self.inner.cpu_budget
    }

    /// The directory holding this engine's cached artifacts, if it caches on disk. Artifacts of
    /// engines with different settings or wasmtime versions live in different directories.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.dir()
    }

    /// The module filed under `digest`, kept for the engine's life: loaded with `load` the first
    /// time. capsa's language runtimes are kept this way, so a script does not look its runtime up
    /// in the artifact cache.
    pub(crate) fn pinned(
        &self,
        digest: &Digest,
        load: impl FnOnce() -> Result<Module>,
    ) -> Result<Module> {
        let mut pinned = self
            .inner
            .pinned
            .lock()
            .map_err(|_| Error::internal("the table of pinned modules is poisoned"))?;
        if let Some(inner) = pinned.get(digest) {
            return Ok(Module::from_inner(self, inner.clone()));
        }
        let module = load()?;
        pinned.insert(*digest, module.inner().clone());
        Ok(module)
    }

    /// Standby instances held now, and their linear memory in bytes.
    pub fn standby_held(&self) -> (usize, u64) {
        self.inner.standby.held()
    }

    pub(crate) fn ticker(&self) -> &Ticker {
        &self.inner.ticker
    }

    /// The runtime that drives synchronous calls and host functions when the caller has none.
    pub(crate) fn runtime(&self) -> Result<&tokio::runtime::Runtime> {
        self.inner
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("capsa-host")
                    // Timers for deadlines, IO for host functions and capabilities that use the
                    // network (Redis, HTTP).
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the host runtime: {e}"))
            })
            .as_ref()
            .map_err(|e| Error::internal(e.clone()))
    }
}

/// Reads a guest source file, mapping a missing file to `not_found`.
pub(crate) fn read_source(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => crate::error::ErrorCode::NotFound,
            _ => crate::error::ErrorCode::InvalidInput,
        };
        Error::new(code, format!("cannot read `{}`: {e}", path.display()))
    })
}

fn default_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("CAPSA_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("capsa")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("capsa")))
}
