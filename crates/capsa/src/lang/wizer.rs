//! Pre-initialisation of capsa's language runtimes with wizer: run the runtime's `wizer-initialize`
//! once, then snapshot its memory and globals into a new module that starts where it left off.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::{Instance, Linker, Store, Val};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::error::{Error, Result};

/// The pre-initialised form of `wasm`, whose `wizer-initialize` export builds its state.
///
/// The initialiser runs in a throwaway engine with no grants: WASI without files, env or arguments,
/// and every other import trapping.
pub(crate) fn preinitialize(wasm: &[u8]) -> Result<Vec<u8>> {
    let failed = |what: &str, e: wasmtime::Error| {
        Error::internal(format!(
            "cannot pre-initialise a language runtime: {what}: {e:#}"
        ))
    };
    let wizer = Wizer::new();
    let (context, instrumented) = wizer
        .instrument(wasm)
        .map_err(|e| failed("instrument", e))?;
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, &instrumented).map_err(|e| failed("compile", e))?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |cx| cx).map_err(|e| failed("link", e))?;
    linker
        .define_unknown_imports_as_traps(&module)
        .map_err(|e| failed("link", e))?;
    let mut store = Store::new(&engine, WasiCtxBuilder::new().build_p1());
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| failed("instantiate", e))?;
    for name in ["_initialize", wizer.get_init_func()] {
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, name) {
            init.call(&mut store, ()).map_err(|e| failed(name, e))?;
        }
    }
    let mut state = Snapshot { store, instance };
    let snapshot = now(wizer.snapshot(&context, &mut state))
        .ok_or_else(|| Error::internal("the runtime snapshot did not complete synchronously"))?;
    snapshot.map_err(|e| failed("snapshot", e))
}

struct Snapshot {
    store: Store<WasiP1Ctx>,
    instance: Instance,
}

impl InstanceState for Snapshot {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        let value = self
            .instance
            .get_global(&mut self.store, name)
            .map(|g| g.get(&mut self.store));
        match value {
            Some(Val::I32(x)) => SnapshotVal::I32(x),
            Some(Val::I64(x)) => SnapshotVal::I64(x),
            Some(Val::F32(x)) => SnapshotVal::F32(x),
            Some(Val::F64(x)) => SnapshotVal::F64(x),
            Some(Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            // wizer only asks for the globals its instrumentation exported, all of these types.
            _ => SnapshotVal::I32(0),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut self.store, name) {
            Some(memory) => contents(memory.data(&self.store)),
            None => contents(&[]),
        }
    }
}

/// The output of a future that never waits (the snapshot only reads this thread's instance), or
/// `None` if it would.
fn now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
