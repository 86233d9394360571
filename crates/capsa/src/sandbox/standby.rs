//! Standby instances: for a hot module, a few stores with an instance already made from the
//! pristine image, so a call skips instantiation. A call takes one and it becomes that call's
//! sandbox (its store's data replaced by the call's own: WASI context, grants, limits, output); a
//! background task on the caller's runtime makes the next.
//!
//! Isolation is a fresh sandbox's: a standby instance serves exactly one call and is dropped with it,
//! and it has never run code. Its store has an epoch deadline that has already passed and no fuel, so
//! a module whose instantiation would run code (a start function) traps there and never becomes a
//! standby instance. Entry code (`_initialize`) runs in the call, as it does in a fresh sandbox.
//!
//! Sizing: [`StandbyLimits::per_module`](crate::StandbyLimits) per module, with the engine's budget
//! (`engine::StandbyBudget`) capping their number and linear memory; when a module's set is empty the
//! call instantiates as it always did.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use wasmtime::Store;

use crate::call::Call;
use crate::engine::Engine;
use crate::host::{Limiter, SandboxState};
use crate::module::{Instance, Linked, Module, Standby};
use crate::output::Capture;

/// Counts a fresh call of `module`: from its second call on, a core module keeps standby instances
/// (when the engine keeps any). capsa's language runtimes keep them from the start.
pub(super) fn note_call(module: &Module) {
    if module.standby().is_none()
        && matches!(module.linked(), Linked::Core(_))
        && module.engine().inner.standby.limits.per_module > 0
        && module.note_call() >= 1
    {
        module.keep_standby(false);
    }
}

/// Takes a standby instance of `module` whose resources fit `limiter`'s limits, which then counts
/// them; `None` when the module keeps none, none is ready, or the call's limits are tighter than the
/// standby instance already uses. The caller starts the refill ([`refill`]) once its call is over,
/// so that making the next instance (mappings, page faults) does not contend with the call.
pub(super) fn take(module: &Module, limiter: &mut Limiter) -> Option<Standby> {
    let set = module.standby()?;
    let mut ready = set.ready.lock().ok()?;
    match ready.pop() {
        Some(standby) if limiter.adopt(&standby.store.data().limiter) => Some(standby),
        Some(standby) => {
            ready.push(standby);
            None
        }
        None => None,
    }
}

/// Starts a task on the current tokio runtime that fills `module`'s standby set up to the engine's
/// per-module count, unless one is running or the budget is spent.
pub(crate) fn refill(module: &Module) {
    let Some(set) = module.standby() else {
        return;
    };
    let per_module = module.engine().inner.standby.limits.per_module;
    let short = move |set: &crate::module::StandbySet| {
        set.ready.lock().is_ok_and(|ready| ready.len() < per_module)
    };
    if set.unusable.load(Ordering::Relaxed)
        || !module.engine().inner.standby.has_room()
        || !short(set)
        || set.filling.swap(true, Ordering::AcqRel)
    {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        set.filling.store(false, Ordering::Release);
        return;
    };
    // The task does not keep the engine alive: it stops when the engine goes.
    let engine = Arc::downgrade(&module.engine().inner);
    let inner = module.inner().clone();
    runtime.spawn(async move {
        let Some(set) = inner.standby.get() else {
            return;
        };
        'fill: loop {
            while short(set) {
                let Some(engine) = engine.upgrade() else {
                    break 'fill;
                };
                let module = Module::from_inner(&Engine { inner: engine }, inner.clone());
                match make(&module).await {
                    Ok(Some(standby)) => match set.ready.lock() {
                        Ok(mut ready) => ready.push(standby),
                        Err(_) => break 'fill,
                    },
                    // The budget is spent: the next call's refill tries again.
                    Ok(None) => break 'fill,
                    // The pool is full: calls and sessions come first; the next call tries again.
                    Err(Unmade::PoolFull) => break 'fill,
                    Err(Unmade::Unusable(e)) => {
                        // A module that cannot be made ahead (its instantiation runs code) is
                        // called fresh from now on, as without standby.
                        tracing::debug!(module = %module.digest(), "no standby instance: {e}");
                        set.unusable.store(true, Ordering::Relaxed);
                        break 'fill;
                    }
                }
            }
            set.filling.store(false, Ordering::Release);
            // A call that took an instance after the last check found this task still filling and
            // left the refill to it: look again, or the set would stay short until the next call.
            if !short(set) || set.filling.swap(true, Ordering::AcqRel) {
                return;
            }
        }
        set.filling.store(false, Ordering::Release);
    });
}

/// Why no standby instance was made.
enum Unmade {
    PoolFull,
    Unusable(String),
}

/// Makes one standby instance of `module`, counted against the engine's budget; `None` when it does
/// not fit.
async fn make(module: &Module) -> std::result::Result<Option<Standby>, Unmade> {
    let engine = module.engine();
    // A placeholder for the call's data, replaced when a call takes the instance: default limits, no
    // grants, no input, output nowhere.
    let call = Call::new();
    let capture = Capture::new(0);
    let state = SandboxState::new(
        &call,
        &capture,
        engine.inner.cache.protected(),
        tokio::runtime::Handle::current(),
    )
    .map_err(|e| Unmade::Unusable(e.to_string()))?;
    let mut store = Store::new(&engine.inner.wasmtime, state);
    store.limiter(|s| &mut s.limiter);
    let set = module
        .standby()
        .ok_or_else(|| Unmade::Unusable("no standby set".into()))?;
    if set.trusted_start {
        // capsa's own runtime: what its instantiation runs is part of the build (CPython's
        // component initialises its core instances), never a user's code.
        store.set_epoch_deadline(u64::MAX / 2);
        if engine.has_cpu_budget() {
            store
                .set_fuel(u64::MAX)
                .map_err(|e| Unmade::Unusable(format!("{e:#}")))?;
        }
    } else {
        // Any code instantiation would run traps at its first check: the deadline has passed
        // (epoch 0) and, on a metering engine, there is no fuel.
        store.set_epoch_deadline(0);
    }
    let instantiate_error = |e: wasmtime::Error| {
        if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            Unmade::PoolFull
        } else {
            Unmade::Unusable(format!("{e:#}"))
        }
    };
    let instance = match module.linked() {
        Linked::Core(pre) => pre
            .instantiate_async(&mut store)
            .await
            .map(Instance::Core)
            .map_err(instantiate_error)?,
        Linked::Runtime(pre) => pre
            .instantiate_async(&mut store)
            .await
            .map(Instance::Component)
            .map_err(instantiate_error)?,
        Linked::HttpProxy(_) => {
            return Err(Unmade::Unusable(
                "wasi:http components have no standby instances".into(),
            ));
        }
    };
    let Some(reservation) = engine
        .inner
        .standby
        .reserve(store.data().limiter.memory_now())
    else {
        return Ok(None);
    };
    Ok(Some(Standby {
        store,
        instance,
        reservation,
    }))
}
