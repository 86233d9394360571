//! One call in a fresh sandbox: a new store and instance, the limits, and the receipt.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline, Val, ValType};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capability::abi::HostCalls;
use crate::capability::{Grants, wasi_context};
use crate::error::{Error, ErrorCode, Result};
use crate::lang::wasi_http::{self, IncomingRequest};
use crate::limits::Limits;
use crate::module::{Linked, Module};
use crate::output::{Capture, OutputListener};
use crate::receipt::{Evidence, Failure, Receipt, Stats};

/// Everything one call needs besides the module: input, arguments, limits, grants and what to run.
///
/// ```
/// use capsa::{Call, Grants, Limits};
/// use std::time::Duration;
///
/// let call = Call::new()
///     .stdin(r#"{"name":"ada"}"#)
///     .args(["--verbose"])
///     .limits(Limits { timeout: capsa::HumanDuration(Duration::from_secs(2)), ..Limits::default() })
///     .grants(Grants::new().env("GREETING", "hello"));
/// ```
#[derive(Clone)]
pub struct Call {
    pub(crate) stdin: Stdin,
    pub(crate) program_name: String,
    pub(crate) args: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) grants: Grants,
    pub(crate) entry: Entry,
    pub(crate) listener: Option<OutputListener>,
}

impl Default for Call {
    fn default() -> Self {
        Call {
            stdin: Stdin::Bytes(Bytes::new()),
            program_name: "main.wasm".to_owned(),
            args: Vec::new(),
            limits: Limits::default(),
            grants: Grants::default(),
            entry: Entry::Start,
            listener: None,
        }
    }
}

/// What a call runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The module's `_start` (a WASI command). The default.
    Start,
    /// An exported function, called with these arguments (`capsa call`).
    Function {
        /// The export's name.
        name: String,
        /// Its arguments.
        args: FunctionArgs,
    },
}

/// Arguments of an exported function (see `docs/abi.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionArgs {
    /// Numbers in decimal (`-3`, `2.5`, `nan`, `inf`), converted to the function's parameter types
    /// (i32, i64, f32, f64). The receipt's result is an array of the returned numbers.
    Numbers(Vec<String>),
    /// Strings, each copied into guest memory through the guest's `alloc` export and passed as an
    /// `(i32 ptr, i32 len)` pair. A function returning an `i64` returns a string packed as
    /// `ptr << 32 | len`, which the host reads and hands back to the guest's `dealloc`.
    Strings(Vec<String>),
}

impl Call {
    /// A call of `_start` with no input, no arguments, default limits and no grants.
    pub fn new() -> Self {
        Call::default()
    }

    /// The guest's stdin. Over [`Limits::max_stdin`] the call fails with `input_limit_exceeded`
    /// before it starts.
    pub fn stdin(mut self, stdin: impl Into<Bytes>) -> Self {
        self.stdin = Stdin::Bytes(stdin.into());
        self
    }

    /// The guest's stdin, read from `reader` as the guest asks for it: a guest that never reads does not
    /// wait for it, a blocked read ends at the deadline, and a byte past [`Limits::max_stdin`] ends
    /// the call with `input_limit_exceeded`. Only the first sandbox a call opens reads the stream.
    pub fn stdin_stream(
        mut self,
        reader: impl tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
    ) -> Self {
        self.stdin = Stdin::Stream(Arc::new(std::sync::Mutex::new(Some(Box::new(reader)))));
        self
    }

    /// The guest's stdin, as set by [`Call::stdin`] (empty for [`Call::stdin_stream`]).
    pub fn stdin_bytes(&self) -> &[u8] {
        match &self.stdin {
            Stdin::Bytes(bytes) => bytes,
            Stdin::Stream(_) => &[],
        }
    }

    /// `argv[0]` as the guest sees it. By default `main.wasm`.
    pub fn program_name(mut self, name: impl Into<String>) -> Self {
        self.program_name = name.into();
        self
    }

    /// The guest's arguments after `argv[0]`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The call's limits. By default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What the guest may reach. By default nothing.
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Calls an exported function instead of `_start`.
    pub fn function(mut self, name: impl Into<String>, args: FunctionArgs) -> Self {
        self.entry = Entry::Function {
            name: name.into(),
            args,
        };
        self
    }

    /// Sees each chunk of stdout/stderr as the guest writes it, e.g. to stream it to a terminal or a
    /// client. The receipt still holds the whole output (up to the cap).
    ///
    /// The listener runs on the guest's thread, inside its write: it must not block (hand the bytes to
    /// a channel), or the guest waits with it, past its deadline.
    pub fn on_output(mut self, listener: OutputListener) -> Self {
        self.listener = Some(listener);
        self
    }
}

/// A call's stdin: bytes given up front, or a stream read as the guest asks.
#[derive(Clone)]
pub(crate) enum Stdin {
    Bytes(Bytes),
    Stream(Arc<std::sync::Mutex<Option<StdinReader>>>),
}

pub(crate) type StdinReader = Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>;

/// A limit tripped by the host (deadline, output cap, host-call cap). Raised as the trap that ends the
/// guest, and recognised again when the receipt is made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct LimitExceeded {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl LimitExceeded {
    pub(crate) fn new(code: ErrorCode, message: String) -> Self {
        LimitExceeded { code, message }
    }
}

/// A module that exports functions but not the string ABI they are called with (`docs/abi.md`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct AbiMisuse(String);

fn abi_misuse(message: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(AbiMisuse(message.into()))
}

/// The longest deadline a call may have. Far beyond any real call; it keeps deadline arithmetic and
/// timers well inside their ranges.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The data of a sandbox's store.
pub(crate) struct SandboxState {
    pub(crate) wasi: WasiP1Ctx,
    /// `wasi:http` state of a component (its resources live in the WASI resource table).
    pub(crate) http: WasiHttpCtx,
    pub(crate) limiter: Limiter,
    pub(crate) host: HostCalls,
    pub(crate) capture: Capture,
    /// The stdin limit, once the guest read past it (set by the stdin stream, outside the store).
    pub(crate) stdin_over: Arc<OnceLock<LimitExceeded>>,
}

impl wasmtime_wasi::WasiView for SandboxState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

impl WasiHttpView for SandboxState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let wasi = wasmtime_wasi::WasiView::ctx(&mut self.wasi);
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: wasi.table,
            // Outgoing requests go through the call's HTTP grant and host-call caps
            // (`capability::http::outgoing`).
            hooks: &mut self.host,
        }
    }
}

/// Enforces the memory, table and instance limits, and records the peak memory.
pub(crate) struct Limiter {
    memory_max: u64,
    table_max: u64,
    instances_max: usize,
    memory: Usage,
    table: Usage,
    /// Why a growth was refused, and when: the outcome if the guest then fails.
    pub(crate) denied: Option<(Instant, String)>,
}

/// The total of one kind of resource, with the state before the last approved growth so a growth
/// that wasmtime refuses after the limiter approved it (a declared maximum, an mmap failure) can be
/// taken back.
#[derive(Default)]
struct Usage {
    now: u64,
    peak: u64,
    before_last: Option<(u64, u64)>,
}

impl Usage {
    /// Approves growing one memory (or table) from `current` to `desired` if the total stays within
    /// `max`. Sizes come from the guest (64-bit memories reach 2^64), so the arithmetic is checked.
    fn grow(&mut self, current: usize, desired: usize, max: u64) -> Result<(), u64> {
        let total = self
            .now
            .saturating_sub(current as u64)
            .saturating_add(desired as u64);
        if total > max {
            return Err(total);
        }
        self.before_last = Some((self.now, self.peak));
        self.now = total;
        self.peak = self.peak.max(total);
        Ok(())
    }

    fn undo_last(&mut self) {
        if let Some((now, peak)) = self.before_last.take() {
            self.now = now;
            self.peak = peak;
        }
    }
}

impl Limiter {
    fn new(limits: &Limits) -> Self {
        Limiter {
            memory_max: limits.memory.bytes(),
            table_max: limits.max_table_elements,
            instances_max: limits.max_instances as usize,
            memory: Usage::default(),
            table: Usage::default(),
            denied: None,
        }
    }

    pub(crate) fn memory_peak(&self) -> u64 {
        self.memory.peak
    }

    fn deny(&mut self, message: impl FnOnce() -> String) {
        if self.denied.is_none() {
            self.denied = Some((Instant::now(), message()));
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = self.memory_max;
        match self.memory.grow(current, desired, max) {
            Ok(()) => Ok(true),
            Err(total) => {
                self.deny(|| {
                    format!(
                        "guest asked for {} of linear memory; the limit is {}",
                        crate::ByteSize(total).approx(),
                        crate::ByteSize(max).approx()
                    )
                });
                Ok(false)
            }
        }
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory.undo_last();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = self.table_max;
        match self.table.grow(current, desired, max) {
            Ok(()) => Ok(true),
            Err(total) => {
                self.deny(|| format!("guest asked for {total} table elements; the limit is {max}"));
                Ok(false)
            }
        }
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table.undo_last();
        Ok(())
    }

    fn instances(&self) -> usize {
        self.instances_max
    }

    fn tables(&self) -> usize {
        self.instances_max.saturating_mul(4)
    }

    fn memories(&self) -> usize {
        self.instances_max.saturating_mul(4)
    }
}

/// An instance of a core module or of a component.
#[derive(Clone, Copy)]
enum Instance {
    Core(wasmtime::Instance),
    Component(wasmtime::component::Instance),
}

/// The entry point, checked against the module's exports before any sandbox exists.
pub(crate) enum Prepared {
    Start,
    Numbers {
        name: String,
        params: Vec<Val>,
    },
    Strings {
        name: String,
        args: Vec<String>,
        returns_string: bool,
    },
    /// A `wasi:http` component's handler, called with this request.
    Http(IncomingRequest),
}

/// Why the guest part of a call failed.
pub(crate) enum Failed {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

pub(crate) async fn run(module: &Module, call: Call) -> Result<Receipt> {
    let prepared = prepare(module, &call.entry)?;
    run_prepared(module, call, prepared).await
}

/// Runs an entry point already checked against the module, in a fresh sandbox.
pub(crate) async fn run_prepared(
    module: &Module,
    call: Call,
    prepared: Prepared,
) -> Result<Receipt> {
    let mut sandbox = Sandbox::open(module, &call)?;
    Ok(sandbox.invoke(&prepared, &call.limits).await)
}

/// A sandbox: one store, instantiated on its first call. A one-shot call ([`run`]) uses it once; a
/// session keeps it for many calls, each with its own deadline, budgets and output.
pub(crate) struct Sandbox {
    module: Module,
    store: Store<SandboxState>,
    instance: Option<Instance>,
    capture: Capture,
    /// A call ended in a trap or a limit: the guest's state may be half-updated, so nothing more may
    /// run here.
    poisoned: bool,
}

impl Sandbox {
    /// A new store for `module` with `call`'s memory limit, grants, stdin and arguments.
    pub(crate) fn open(module: &Module, call: &Call) -> Result<Sandbox> {
        let engine = module.engine();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::internal("`Module::run_async` must be polled inside a tokio runtime")
        })?;
        let limits = &call.limits;
        check_limits(engine, limits)?;
        let capture = Capture::new(limits.max_output.bytes());
        let stdin_over = Arc::new(OnceLock::new());
        let state = SandboxState {
            wasi: wasi_context(call, &capture, engine.inner.cache.protected(), &stdin_over)?,
            http: WasiHttpCtx::new(),
            limiter: Limiter::new(limits),
            host: HostCalls::new(
                call.grants.clone(),
                runtime,
                limits.max_host_calls,
                limits.max_egress.bytes(),
            ),
            capture: capture.clone(),
            stdin_over,
        };
        let mut store = Store::new(&engine.inner.wasmtime, state);
        store.limiter(|s| &mut s.limiter);
        Ok(Sandbox {
            module: module.clone(),
            store,
            instance: None,
            capture,
            poisoned: false,
        })
    }

    /// Whether a call ended in a trap or a limit, so the sandbox must be thrown away.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs `prepared` (instantiating first, on the first call) under `limits`' deadline, budgets and
    /// caps, and returns the receipt. The memory limit is the one the sandbox was opened with.
    pub(crate) async fn invoke(&mut self, prepared: &Prepared, limits: &Limits) -> Receipt {
        let engine = self.module.engine().clone();
        if let Err(e) = check_limits(&engine, limits) {
            return Receipt {
                error: Some(failure(e.code(), e.to_string())),
                ..Receipt::default()
            };
        }
        let store = &mut self.store;
        let state = store.data_mut();
        state
            .host
            .reset(limits.max_host_calls, limits.max_egress.bytes());
        state.limiter.denied = None;
        drop(self.capture.take(limits.max_output.bytes()));

        let timeout = limits.timeout.get();
        let started = Instant::now();
        let deadline = started + timeout;
        if engine.has_cpu_budget() {
            // A metering engine runs calls without a budget too: they get all the fuel there is.
            if let Err(e) = store.set_fuel(limits.fuel.unwrap_or(u64::MAX)) {
                return Receipt {
                    error: Some(failure(
                        ErrorCode::Internal,
                        format!("cannot set fuel: {e:#}"),
                    )),
                    ..Receipt::default()
                };
            }
        }
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut store| {
            // A limit passed where the guest could not be stopped at once ends it here.
            if let Some(limit) = store.data_mut().host.tripped.take() {
                return Err(wasmtime::Error::new(limit));
            }
            if let Some(limit) = store.data().stdin_over.get() {
                return Err(wasmtime::Error::new(limit.clone()));
            }
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(LimitExceeded::new(
                    ErrorCode::Timeout,
                    format!(
                        "call exceeded its {} deadline",
                        crate::HumanDuration(timeout)
                    ),
                )))
            } else {
                // Yield so a cancelled call (a dropped future) ends even while the guest computes.
                Ok(UpdateDeadline::Yield(1))
            }
        });

        // Poisoned until the call finishes normally: a call whose future is dropped half-way (an
        // embedder's own timeout) leaves a guest stopped mid-operation.
        self.poisoned = true;
        let _ticking = engine.ticker().activate();
        let mut instantiate_us = 0;
        let mut cpu = Duration::ZERO;
        let outcome = {
            let execution = execute(
                store,
                &self.module,
                &mut self.instance,
                prepared,
                limits,
                &mut instantiate_us,
            );
            let metered = cpu_metered(
                tokio::time::timeout_at(deadline.into(), execution),
                &mut cpu,
            );
            metered.await
        };
        let wall = started.elapsed();

        let fuel_used = engine.has_cpu_budget().then(|| {
            let initial = limits.fuel.unwrap_or(u64::MAX);
            initial.saturating_sub(store.get_fuel().unwrap_or(0))
        });
        let state = store.data();
        let stats = Stats {
            wall_us: micros(wall),
            instantiate_us,
            cpu_us: micros(cpu),
            fuel_used,
            memory_peak_bytes: state.limiter.memory_peak(),
            host_calls: state.host.calls,
            egress_bytes: state.host.egress_bytes,
        };
        let evidence = Evidence {
            memory_denied: state.limiter.denied.is_some(),
            host_failures: state.host.failure_codes.clone(),
        };
        let (error, exit_code, result) = match outcome {
            Err(_elapsed) => (
                Some(failure(
                    ErrorCode::Timeout,
                    format!("call exceeded its {} deadline", limits.timeout),
                )),
                None,
                None,
            ),
            // A limit passed in a host hook that the guest finished before its next epoch check.
            Ok(Ok(_)) if state.host.tripped.is_some() => {
                let limit = state.host.tripped.clone();
                (limit.map(|l| failure(l.code, l.message)), None, None)
            }
            Ok(Ok(result)) => (None, Some(0), result),
            Ok(Err(failed)) => classify(failed, state, engine.inner.max_wasm_stack, limits),
        };
        // A guest that read past its stdin limit failed that read; whatever it did next, the call ends
        // with the limit.
        let error = match state.stdin_over.get() {
            Some(limit) => Some(failure(limit.code, limit.message.clone())),
            None => error,
        };
        self.poisoned = error.is_some();

        let inner = self.capture.take(limits.max_output.bytes());
        let result = match (&error, result, prepared) {
            (_, Some(result), _) => Some(result),
            // A command's result is its stdout when that is one JSON document (the JSON contract).
            (None, None, Prepared::Start) => serde_json::from_slice(&inner.stdout).ok(),
            _ => None,
        };
        Receipt {
            error,
            exit_code,
            stdout: inner.stdout,
            stderr: inner.stderr,
            result,
            truncated: inner.truncated,
            logs: inner.logs,
            stats,
            evidence,
        }
    }
}

fn check_limits(engine: &crate::Engine, limits: &Limits) -> Result<()> {
    if limits.fuel.is_some() && !engine.has_cpu_budget() {
        return Err(Error::invalid_input(
            "a fuel budget needs an engine built with `cpu_budget(true)` (CLI: pass `--fuel`)",
        ));
    }
    if limits.timeout.get() > MAX_TIMEOUT {
        return Err(Error::invalid_input(format!(
            "timeout `{}` is too long: at most 7 days",
            limits.timeout
        )));
    }
    Ok(())
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn failure(code: ErrorCode, message: String) -> Failure {
    Failure {
        code,
        message,
        backtrace: None,
        exception: None,
    }
}

/// Maps how the guest failed to the receipt's error, exit code and result.
fn classify(
    failed: Failed,
    state: &SandboxState,
    max_wasm_stack: usize,
    limits: &Limits,
) -> (Option<Failure>, Option<i32>, Option<Value>) {
    let (err, instantiating) = match failed {
        Failed::Instantiate(e) => (e, true),
        Failed::Run(e) => (e, false),
    };
    // A guest that fails after a refused growth or a failed host call failed because of the first
    // of them.
    let root_cause = || {
        let denied = state
            .limiter
            .denied
            .as_ref()
            .map(|(at, message)| (*at, ErrorCode::MemoryLimitExceeded, message));
        let host = state
            .host
            .first_failure
            .as_ref()
            .map(|(at, code, message)| (*at, *code, message));
        [denied, host]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _, _)| *at)
            .map(|(_, code, message)| failure(code, message.clone()))
    };

    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => (None, Some(0), None),
            code => (
                Some(root_cause().unwrap_or_else(|| {
                    failure(ErrorCode::Exit, format!("guest exited with code {code}"))
                })),
                Some(code),
                None,
            ),
        };
    }
    if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
        return (Some(failure(limit.code, limit.message.clone())), None, None);
    }
    if let Some(abi) = err.downcast_ref::<AbiMisuse>() {
        return (
            Some(failure(ErrorCode::InvalidModule, abi.0.clone())),
            None,
            None,
        );
    }
    if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        let message = format!("no sandbox slot is free: {err:#}");
        return (Some(failure(ErrorCode::Busy, message)), None, None);
    }
    if state.capture.lock().exceeded {
        let message = format!(
            "guest wrote more than the {} output limit",
            limits.max_output
        );
        return (
            Some(failure(ErrorCode::OutputLimitExceeded, message)),
            None,
            None,
        );
    }
    let backtrace = err
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| bt.to_string())
        .filter(|bt| !bt.trim().is_empty());
    let failure = match err.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => failure(
            ErrorCode::StackOverflow,
            format!(
                "guest overflowed its {} wasm stack",
                crate::ByteSize(max_wasm_stack as u64)
            ),
        ),
        Some(Trap::OutOfFuel) => failure(
            ErrorCode::CpuLimitExceeded,
            format!(
                "guest used its whole CPU budget of {} fuel",
                limits.fuel.unwrap_or(0)
            ),
        ),
        Some(Trap::Interrupt) => failure(
            ErrorCode::Timeout,
            format!("call exceeded its {} deadline", limits.timeout),
        ),
        Some(trap) => root_cause().unwrap_or_else(|| Failure {
            code: ErrorCode::Trap,
            message: trap.to_string(),
            backtrace,
            exception: None,
        }),
        None => {
            let message = format!("{err:#}");
            if let Some(cause) = root_cause() {
                cause
            } else if instantiating && message.contains("resource limit exceeded") {
                failure(ErrorCode::MemoryLimitExceeded, message)
            } else if instantiating && message.contains("mmap failed") {
                let message =
                    format!("the host could not reserve memory for the sandbox: {message}");
                failure(ErrorCode::Internal, message)
            } else {
                Failure {
                    code: ErrorCode::Trap,
                    message,
                    backtrace,
                    exception: None,
                }
            }
        }
    };
    (Some(failure), None, None)
}

/// Checks the entry point against the module's exports and converts the arguments.
pub(crate) fn prepare(module: &Module, entry: &Entry) -> Result<Prepared> {
    if module.is_http_proxy() {
        return Err(Error::invalid_input(
            "a wasi:http component is called as a handler (`--handler` / the gateway)",
        ));
    }
    if module.is_component() {
        // Components are capsa's own runtimes, called through one `string -> string` export; its
        // type is checked when it is called.
        return match entry {
            Entry::Function {
                name,
                args: FunctionArgs::Strings(args),
            } if args.len() == 1 => Ok(Prepared::Strings {
                name: name.clone(),
                args: args.clone(),
                returns_string: true,
            }),
            _ => Err(Error::invalid_input(
                "a component is called through one string export",
            )),
        };
    }
    let (name, args) = match entry {
        Entry::Start => {
            return if module.is_command() {
                Ok(Prepared::Start)
            } else {
                Err(Error::invalid_input(format!(
                    "module has no `_start`; call one of its functions instead: {}",
                    module.function_names().join(", ")
                )))
            };
        }
        Entry::Function { name, args } => (name, args),
    };
    let ty = module.function_type(name).ok_or_else(|| {
        Error::new(
            ErrorCode::NotFound,
            format!(
                "module exports no function `{name}`; it has: {}",
                module.function_names().join(", ")
            ),
        )
    })?;
    let params: Vec<ValType> = ty.params().collect();
    match args {
        FunctionArgs::Numbers(args) => {
            if args.len() != params.len() {
                return Err(Error::invalid_input(format!(
                    "function `{name}` takes {} arguments, got {}",
                    params.len(),
                    args.len()
                )));
            }
            let params = params
                .iter()
                .zip(args)
                .map(|(ty, arg)| parse_number(ty, arg))
                .collect::<Result<_>>()?;
            Ok(Prepared::Numbers {
                name: name.clone(),
                params,
            })
        }
        FunctionArgs::Strings(args) => {
            let pairs_ok =
                params.len() == 2 * args.len() && params.iter().all(|t| matches!(t, ValType::I32));
            let results: Vec<ValType> = ty.results().collect();
            let returns_string = match results.as_slice() {
                [] => false,
                [ValType::I64] => true,
                _ => {
                    return Err(Error::invalid_input(format!(
                        "function `{name}` does not return a string: expected no result or an i64 `ptr << 32 | len`"
                    )));
                }
            };
            if !pairs_ok {
                return Err(Error::invalid_input(format!(
                    "function `{name}` does not take {} string arguments: expected {} i32 parameters (ptr, len per string)",
                    args.len(),
                    2 * args.len()
                )));
            }
            if module.function_type("alloc").is_none() {
                return Err(Error::invalid_input(
                    "string arguments need the module to export `alloc(len: i32) -> i32` (see docs/abi.md)",
                ));
            }
            Ok(Prepared::Strings {
                name: name.clone(),
                args: args.clone(),
                returns_string,
            })
        }
    }
}

fn parse_number(ty: &ValType, arg: &str) -> Result<Val> {
    let bad = |what: &str| Error::invalid_input(format!("argument `{arg}` is not {what}"));
    let float = |arg: &str| -> Option<f64> {
        match arg.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "+inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        }
    };
    Ok(match ty {
        ValType::I32 => Val::I32(
            arg.parse::<i32>()
                .or_else(|_| arg.parse::<u32>().map(|u| u as i32))
                .map_err(|_| bad("an i32"))?,
        ),
        ValType::I64 => Val::I64(
            arg.parse::<i64>()
                .or_else(|_| arg.parse::<u64>().map(|u| u as i64))
                .map_err(|_| bad("an i64"))?,
        ),
        ValType::F32 => Val::F32((float(arg).ok_or_else(|| bad("an f32"))? as f32).to_bits()),
        ValType::F64 => Val::F64(float(arg).ok_or_else(|| bad("an f64"))?.to_bits()),
        other => {
            return Err(Error::invalid_input(format!(
                "parameters of type `{other}` cannot be passed from the command line"
            )));
        }
    })
}

fn number_json(val: &Val) -> Value {
    let float = |f: f64| {
        serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
    };
    match val {
        Val::I32(v) => Value::from(*v),
        Val::I64(v) => Value::from(*v),
        Val::F32(bits) => float(f64::from(f32::from_bits(*bits))),
        Val::F64(bits) => float(f64::from_bits(*bits)),
        other => Value::String(format!("{other:?}")),
    }
}

/// Instantiates the module in `store` unless `instance` already is, and runs the entry point.
async fn execute(
    store: &mut Store<SandboxState>,
    module: &Module,
    instance: &mut Option<Instance>,
    prepared: &Prepared,
    limits: &Limits,
    instantiate_us: &mut u64,
) -> std::result::Result<Option<Value>, Failed> {
    if let Linked::HttpProxy(pre) = module.linked() {
        let Prepared::Http(request) = prepared else {
            return Err(Failed::Run(abi_misuse(
                "a wasi:http component is called as a handler",
            )));
        };
        let max_body = limits.max_output.bytes();
        return wasi_http::serve(store, pre, request, max_body, instantiate_us)
            .await
            .map(Some);
    }
    let (instance, fresh) = match instance {
        Some(instance) => (*instance, false),
        None => {
            let began = Instant::now();
            let new = match module.linked() {
                Linked::Core(pre) => pre.instantiate_async(&mut *store).await.map(Instance::Core),
                Linked::Component(pre) => pre
                    .instantiate_async(&mut *store)
                    .await
                    .map(Instance::Component),
                Linked::HttpProxy(_) => {
                    return Err(Failed::Run(abi_misuse(
                        "a wasi:http component is called as a handler",
                    )));
                }
            }
            .map_err(Failed::Instantiate)?;
            *instantiate_us = micros(began.elapsed());
            *instance = Some(new);
            (new, true)
        }
    };
    let instance = match instance {
        Instance::Core(instance) => instance,
        Instance::Component(instance) => {
            return call_component(store, &instance, prepared)
                .await
                .map_err(Failed::Run);
        }
    };

    let run = async {
        // Look the export up in the module's list first: a failed lookup makes an error, and with it
        // a backtrace, which costs tens of microseconds.
        if fresh
            && !matches!(prepared, Prepared::Start)
            && module.function_type("_initialize").is_some()
        {
            let init = instance.get_typed_func::<(), ()>(&mut *store, "_initialize")?;
            init.call_async(&mut *store, ()).await?;
        }
        match prepared {
            Prepared::Start => {
                let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
                start.call_async(&mut *store, ()).await?;
                Ok(None)
            }
            Prepared::Numbers { name, params } => {
                let func = instance
                    .get_func(&mut *store, name)
                    .ok_or_else(|| wasmtime::format_err!("export `{name}` vanished"))?;
                let mut results = vec![Val::I32(0); func.ty(&*store).results().len()];
                func.call_async(&mut *store, params, &mut results).await?;
                Ok(Some(Value::Array(
                    results.iter().map(number_json).collect(),
                )))
            }
            Prepared::Strings {
                name,
                args,
                returns_string,
            } => call_with_strings(store, &instance, name, args, *returns_string).await,
            Prepared::Http(_) => Err(abi_misuse(
                "a wasm module is called as a handler with the context on stdin",
            )),
        }
    };
    run.await.map_err(Failed::Run)
}

/// Calls a component's `string -> string` export (capsa's runtimes).
async fn call_component(
    store: &mut Store<SandboxState>,
    instance: &wasmtime::component::Instance,
    prepared: &Prepared,
) -> wasmtime::Result<Option<Value>> {
    let Prepared::Strings { name, args, .. } = prepared else {
        return Err(abi_misuse(
            "a component is called through one string export",
        ));
    };
    let [arg] = args.as_slice() else {
        return Err(abi_misuse("a component export takes one string"));
    };
    let func = instance
        .get_typed_func::<(&str,), (String,)>(&mut *store, name.as_str())
        .map_err(|e| abi_misuse(format!("component export `{name}`: {e:#}")))?;
    let (answer,) = func.call_async(&mut *store, (arg.as_str(),)).await?;
    Ok(Some(Value::String(answer)))
}

async fn call_with_strings(
    store: &mut Store<SandboxState>,
    instance: &wasmtime::Instance,
    name: &str,
    args: &[String],
    returns_string: bool,
) -> wasmtime::Result<Option<Value>> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| abi_misuse("string arguments need the module to export `memory`"))?;
    let alloc = instance
        .get_typed_func::<u32, u32>(&mut *store, "alloc")
        .map_err(|e| abi_misuse(format!("`alloc` must be `(i32) -> i32`: {e:#}")))?;
    let dealloc = match instance.get_export(&mut *store, "dealloc") {
        None => None,
        Some(_) => Some(
            instance
                .get_typed_func::<(u32, u32), ()>(&mut *store, "dealloc")
                .map_err(|e| abi_misuse(format!("`dealloc` must be `(i32, i32)`: {e:#}")))?,
        ),
    };
    let mut params = Vec::with_capacity(args.len() * 2);
    for arg in args {
        let len = u32::try_from(arg.len())
            .map_err(|_| wasmtime::format_err!("string argument is larger than 4 GiB"))?;
        let ptr = alloc.call_async(&mut *store, len).await?;
        memory
            .write(&mut *store, ptr as usize, arg.as_bytes())
            .map_err(|_| abi_misuse("`alloc` returned a pointer outside memory"))?;
        params.push(Val::I32(ptr as i32));
        params.push(Val::I32(len as i32));
    }
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| wasmtime::format_err!("export `{name}` vanished"))?;
    let mut results = vec![Val::I32(0); usize::from(returns_string)];
    func.call_async(&mut *store, &params, &mut results).await?;
    let Some(Val::I64(packed)) = results.first() else {
        return Ok(None);
    };
    let (ptr, len) = ((*packed as u64 >> 32) as u32, *packed as u32);
    // Bounds-check before copying: the length is the guest's word, up to 4 GiB.
    let start = ptr as usize;
    let text = memory
        .data(&*store)
        .get(start..start.saturating_add(len as usize))
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| {
            abi_misuse(format!(
                "function `{name}` returned a string outside memory"
            ))
        })?;
    if let Some(dealloc) = dealloc {
        dealloc.call_async(&mut *store, (ptr, len)).await?;
    }
    Ok(Some(Value::String(text)))
}

/// Polls `future`, adding the thread CPU time of each poll to `total`: guest execution and host work
/// done inline, but not time spent waiting.
async fn cpu_metered<F: Future>(future: F, total: &mut Duration) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| {
        let before = thread_cpu_time();
        let poll = future.as_mut().poll(cx);
        *total += thread_cpu_time().saturating_sub(before);
        poll
    })
    .await
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on every Linux.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
