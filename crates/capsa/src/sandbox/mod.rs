//! One call in a fresh sandbox: a new store and instance, the limits, and the receipt.
//!
//! Each guest kind has its entry here: a WASI command (`_start`), an exported function called with
//! numbers or strings, and a capsa runtime component (`entry`); a `wasi:http/proxy` component
//! (`http_proxy`). `classify` maps how a guest failed to the receipt's error, `cpu` measures the CPU
//! a call used. The blocking and async entry points of [`Module`] (`run`, `handle`) live here too,
//! so the module layer below never names the sandbox.

mod classify;
mod cpu;
mod entry;
mod http_proxy;
mod snapshot;
mod standby;

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::{Store, UpdateDeadline, Val};

use crate::call::Call;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::host::SandboxState;
use crate::limits::Limits;
use crate::module::{Instance, Linked, Module, Standby};
use crate::outcome::{abi_misuse, deadline_exceeded, failure, micros};
use crate::output::Capture;
use crate::receipt::{Evidence, Receipt, Stats};
use classify::{Failed, classify};
use cpu::cpu_metered;
pub(crate) use entry::{Prepared, prepare};
use entry::{call_component, call_with_strings, number_json};
use http_proxy::IncomingRequest;
pub(crate) use snapshot::{GlobalValue, MemoryState, PAGE_SIZE};
pub(crate) use standby::refill as refill_standby;

/// The entry points of a module, which run it in sandboxes (this layer), documented with the type.
impl Module {
    /// Runs one call in a fresh sandbox and returns its receipt, blocking the current thread.
    ///
    /// # Errors
    ///
    /// Only for problems of the caller's making: `invalid_input` (bad arguments, a fuel budget on an
    /// engine without one, a directory that cannot be mounted, a `wasi:http` component, which is
    /// called with [`Module::handle`], or calling this from inside an async runtime, where
    /// [`Module::run_async`] is the right call), `not_found` (no such export) and `internal`.
    /// Everything the guest does, including every limit it hits, is in the receipt.
    pub fn run(&self, call: Call) -> Result<Receipt> {
        self.block_on(self.run_async(call))
    }

    /// Runs one call in a fresh sandbox. Must be polled inside a tokio runtime with timers enabled.
    /// Dropping the future cancels the guest.
    ///
    /// # Errors
    ///
    /// As [`Module::run`].
    pub async fn run_async(&self, call: Call) -> Result<Receipt> {
        run(self, call).await
    }

    /// Calls the module as a handler with a request context (SPEC §2, `docs/contract.md`) in a fresh
    /// sandbox, blocking the current thread.
    ///
    /// - A `wasi:http/proxy` component ([`Module::is_http_proxy`]) gets the context as a `wasi:http`
    ///   incoming request (scheme `http`, the authority from the `host` header or `localhost`, the
    ///   path and the `query` object re-encoded) and its `wasi:http/incoming-handler` is called. The
    ///   receipt's result is its response, `{"status", "headers", "body"}` (or `"body_base64"` for a
    ///   body that is not UTF-8; repeated headers joined with `, `). The body counts against
    ///   [`Limits::max_output`](crate::Limits::max_output) on its own: past it the call ends with
    ///   `output_limit_exceeded`. Outgoing requests (`wasi:http/outgoing-handler`) go out only
    ///   through the call's HTTP grant.
    /// - A core module gets the context as JSON on stdin, as [`Module::run`] with that stdin; the
    ///   call's stdin is replaced.
    ///
    /// # Errors
    ///
    /// As [`Module::run`]; `invalid_input` for a context a `wasi:http` request cannot be made of.
    pub fn handle(&self, context: &Value, call: Call) -> Result<Receipt> {
        self.block_on(self.handle_async(context, call))
    }

    /// As [`Module::handle`], in an async runtime (as [`Module::run_async`]).
    ///
    /// # Errors
    ///
    /// As [`Module::handle`].
    pub async fn handle_async(&self, context: &Value, call: Call) -> Result<Receipt> {
        if self.is_http_proxy() {
            let request = IncomingRequest::from_context(context)?;
            run_prepared(self, call, Prepared::Http(request)).await
        } else {
            self.run_async(call.stdin(context.to_string())).await
        }
    }
}

/// The longest deadline a call may have. Far beyond any real call; it keeps deadline arithmetic and
/// timers well inside their ranges.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

async fn run(module: &Module, call: Call) -> Result<Receipt> {
    let prepared = prepare(module, &call.entry)?;
    run_prepared(module, call, prepared).await
}

/// Runs an entry point already checked against the module, in a fresh sandbox.
pub(crate) async fn run_prepared(
    module: &Module,
    call: Call,
    prepared: Prepared,
) -> Result<Receipt> {
    standby::note_call(module);
    let mut sandbox = Sandbox::open_ready(module, &call)?;
    let receipt = sandbox.invoke(&prepared, &call.limits).await;
    // The call's slot goes back to the pool first, so the refill can reuse it warm.
    drop(sandbox);
    standby::refill(module);
    Ok(receipt)
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
    /// The time [`Sandbox::restore`] took, reported as the first call's `instantiate_us`.
    restored_us: Option<u64>,
    /// The instance is a standby instance that has not run yet: its entry code (`_initialize`) is
    /// still to run, as in a fresh instance.
    uninitialized: bool,
    /// For the first call's receipt: whether the instance was a standby one, and the time spent
    /// looking for one.
    standby: Option<(bool, u64)>,
}

impl Sandbox {
    /// A new store for `module` with `call`'s memory limit, grants, stdin and arguments, instantiated
    /// on its first call.
    pub(crate) fn open(module: &Module, call: &Call) -> Result<Sandbox> {
        Sandbox::open_with(module, call, false)
    }

    /// As [`Sandbox::open`], with a standby instance of `module` when one is ready (`standby`), its
    /// store then given `call`'s data.
    pub(crate) fn open_ready(module: &Module, call: &Call) -> Result<Sandbox> {
        Sandbox::open_with(module, call, true)
    }

    fn open_with(module: &Module, call: &Call, use_standby: bool) -> Result<Sandbox> {
        let engine = module.engine();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::internal("`Module::run_async` must be polled inside a tokio runtime")
        })?;
        let limits = &call.limits;
        check_limits(engine, limits)?;
        let capture = Capture::new(limits.max_output.bytes());
        let mut state = SandboxState::new(call, &capture, engine.inner.cache.protected(), runtime)?;
        let mut standby_wait = None;
        if use_standby && module.standby().is_some() && engine.inner.standby.limits.per_module > 0 {
            let looking = Instant::now();
            let taken = standby::take(module, &mut state.limiter);
            let waited_us = micros(looking.elapsed());
            if let Some(Standby {
                mut store,
                instance,
                reservation,
            }) = taken
            {
                // No longer a standby instance: a call's sandbox, counted by the pool as any.
                drop(reservation);
                *store.data_mut() = state;
                return Ok(Sandbox {
                    module: module.clone(),
                    store,
                    instance: Some(instance),
                    capture,
                    poisoned: false,
                    restored_us: None,
                    uninitialized: true,
                    standby: Some((true, waited_us)),
                });
            }
            standby_wait = Some((false, waited_us));
        }
        let mut store = Store::new(&engine.inner.wasmtime, state);
        store.limiter(|s| &mut s.limiter);
        Ok(Sandbox {
            module: module.clone(),
            store,
            instance: None,
            capture,
            poisoned: false,
            restored_us: None,
            uninitialized: false,
            standby: standby_wait,
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
        if let Err(e) = self.begin(&engine, limits) {
            return Receipt {
                error: Some(failure(e.code(), e.to_string())),
                ..Receipt::default()
            };
        }
        let started = Instant::now();
        let deadline = started + limits.timeout.get();
        arm_deadline(&mut self.store, deadline, limits);

        // Poisoned until the call finishes normally: a call whose future is dropped half-way (an
        // embedder's own timeout) leaves a guest stopped mid-operation.
        self.poisoned = true;
        let _ticking = engine.ticker().activate();
        let mut instantiate_us = 0;
        let mut cpu = Duration::ZERO;
        let outcome = {
            let execution = execute(
                &mut self.store,
                &self.module,
                &mut self.instance,
                std::mem::take(&mut self.uninitialized),
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
        if let Some(restored_us) = self.restored_us.take() {
            instantiate_us = restored_us;
        }
        let standby = self.standby.take();
        let stats = Stats {
            wall_us: micros(started.elapsed()),
            instantiate_us,
            cpu_us: micros(cpu),
            standby: standby.is_some_and(|(used, _)| used),
            standby_wait_us: standby.map(|(_, waited)| waited),
            ..self.usage(&engine, limits)
        };
        let state = self.store.data();
        let (error, exit_code, result) =
            classify(outcome.ok(), state, engine.inner.max_wasm_stack, limits);
        self.poisoned = error.is_some();
        let evidence = Evidence {
            memory_denied: state.limiter.denied.is_some(),
            host_failures: state.host.failure_codes.clone(),
        };
        let output = self.capture.take(limits.max_output.bytes());
        let result = match (&error, result, prepared) {
            (_, Some(result), _) => Some(result),
            // A command's result is its stdout when that is one JSON document (the JSON contract).
            (None, None, Prepared::Start) => serde_json::from_slice(&output.stdout).ok(),
            _ => None,
        };
        Receipt {
            error,
            exit_code,
            stdout: output.stdout,
            stderr: output.stderr,
            result,
            truncated: output.truncated,
            logs: output.logs,
            stats,
            evidence,
        }
    }

    /// Starts a call in this store: its limits checked, the host-call table, the limiter's evidence
    /// and the output emptied, and the fuel filled.
    fn begin(&mut self, engine: &Engine, limits: &Limits) -> Result<()> {
        check_limits(engine, limits)?;
        let state = self.store.data_mut();
        state
            .host
            .reset(limits.max_host_calls, limits.max_egress.bytes());
        state.limiter.denied = None;
        drop(self.capture.take(limits.max_output.bytes()));
        if engine.has_cpu_budget() {
            // A metering engine runs calls without a budget too: they get all the fuel there is.
            self.store
                .set_fuel(limits.fuel.unwrap_or(u64::MAX))
                .map_err(|e| Error::internal(format!("cannot set fuel: {e:#}")))?;
        }
        Ok(())
    }

    /// What the call used of the store: fuel, peak memory, host calls and egress.
    fn usage(&self, engine: &Engine, limits: &Limits) -> Stats {
        let state = self.store.data();
        Stats {
            fuel_used: engine.has_cpu_budget().then(|| {
                let initial = limits.fuel.unwrap_or(u64::MAX);
                initial.saturating_sub(self.store.get_fuel().unwrap_or(0))
            }),
            memory_peak_bytes: state.limiter.memory_peak(),
            host_calls: state.host.calls,
            egress_bytes: state.host.egress_bytes,
            ..Stats::default()
        }
    }
}

/// Ends the guest at its next epoch check once `deadline` passes, or once a limit tripped where the
/// guest could not be stopped at once (a `wasi:http` hook, the stdin stream).
fn arm_deadline(store: &mut Store<SandboxState>, deadline: Instant, limits: &Limits) {
    let timeout = limits.timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |mut store| {
        if let Some(limit) = store.data_mut().host.tripped.take() {
            return Err(wasmtime::Error::new(limit));
        }
        if let Some(limit) = store.data().stdin_over.get() {
            return Err(wasmtime::Error::new(limit.clone()));
        }
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(deadline_exceeded(timeout)))
        } else {
            // Yield so a cancelled call (a dropped future) ends even while the guest computes.
            Ok(UpdateDeadline::Yield(1))
        }
    });
}

fn check_limits(engine: &crate::engine::Engine, limits: &Limits) -> Result<()> {
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

/// Instantiates the module in `store` unless `instance` already is, and runs the entry point
/// (after the module's `_initialize` in a new instance, or in a standby one that is `uninitialized`).
async fn execute(
    store: &mut Store<SandboxState>,
    module: &Module,
    instance: &mut Option<Instance>,
    uninitialized: bool,
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
        return http_proxy::serve(store, pre, request, max_body, instantiate_us)
            .await
            .map(Some);
    }
    let (instance, fresh) = match instance {
        Some(instance) => (*instance, uninitialized),
        None => {
            let began = Instant::now();
            let new = match module.linked() {
                Linked::Core(pre) => pre.instantiate_async(&mut *store).await.map(Instance::Core),
                Linked::Runtime(pre) => pre
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

    call_core(store, module, &instance, fresh, prepared)
        .await
        .map_err(Failed::Run)
}

/// Runs the entry point of a core module's instance (`_initialize` first, in a fresh reactor).
async fn call_core(
    store: &mut Store<SandboxState>,
    module: &Module,
    instance: &wasmtime::Instance,
    fresh: bool,
    prepared: &Prepared,
) -> wasmtime::Result<Option<Value>> {
    // Look the export up in the module's list first: a failed lookup makes an error, and with it a
    // backtrace, which costs tens of microseconds.
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
        } => call_with_strings(store, instance, name, args, *returns_string).await,
        Prepared::Http(_) => Err(abi_misuse(
            "a wasm module is called as a handler with the context on stdin",
        )),
    }
}
