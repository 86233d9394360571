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
    let preinitialized = snapshot.map_err(|e| failed("snapshot", e))?;
    check_capturable(&preinitialized)?;
    Ok(preinitialized)
}

/// Refuses a runtime whose state between calls is more than a session snapshot captures
/// (`crate::sandbox` snapshot: the one memory, exported as `memory`, and the exported mutable
/// globals): an imported memory, table or global, another memory, a mutable global that is not
/// exported, or code that changes a table or a data segment (`table.set`, `memory.init`, …), whose
/// state no export reaches.
pub(crate) fn check_capturable(wasm: &[u8]) -> Result<()> {
    use wasmparser::{ExternalKind, Operator, Payload, TypeRef};
    let refuse = |why: String| {
        Error::internal(format!(
            "the language runtime cannot be snapshotted: {why} (a change to guests/js broke what \
             `Session::snapshot` relies on)"
        ))
    };
    let parse = |e: wasmparser::BinaryReaderError| refuse(format!("it does not parse: {e}"));
    let mut memories = 0;
    let mut mutable_globals = Vec::new();
    let mut globals = 0u32;
    let mut exported_globals = Vec::new();
    let mut memory_exported = false;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(parse)? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.map_err(parse)?;
                    match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => {}
                        _ => {
                            return Err(refuse(format!(
                                "it imports `{}::{}`, which is not a function",
                                import.module, import.name
                            )));
                        }
                    }
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    if memory.map_err(parse)?.shared {
                        return Err(refuse("its memory is shared".into()));
                    }
                    memories += 1;
                }
            }
            Payload::GlobalSection(section) => {
                for global in section {
                    if global.map_err(parse)?.ty.mutable {
                        mutable_globals.push(globals);
                    }
                    globals += 1;
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    let export = export.map_err(parse)?;
                    match export.kind {
                        ExternalKind::Global => exported_globals.push(export.index),
                        ExternalKind::Memory => memory_exported |= export.name == "memory",
                        _ => {}
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut operators = body.get_operators_reader().map_err(parse)?;
                while !operators.eof() {
                    let operator = operators.read().map_err(parse)?;
                    let changes = match operator {
                        Operator::TableSet { .. } => Some("table.set"),
                        Operator::TableGrow { .. } => Some("table.grow"),
                        Operator::TableFill { .. } => Some("table.fill"),
                        Operator::TableCopy { .. } => Some("table.copy"),
                        Operator::TableInit { .. } => Some("table.init"),
                        Operator::ElemDrop { .. } => Some("elem.drop"),
                        Operator::MemoryInit { .. } => Some("memory.init"),
                        Operator::DataDrop { .. } => Some("data.drop"),
                        _ => None,
                    };
                    if let Some(op) = changes {
                        return Err(refuse(format!("its code uses `{op}`")));
                    }
                }
            }
            _ => {}
        }
    }
    if memories != 1 || !memory_exported {
        return Err(refuse(format!(
            "it has {memories} memories; it must have one, exported as `memory`"
        )));
    }
    if let Some(hidden) = mutable_globals
        .iter()
        .find(|g| !exported_globals.contains(g))
    {
        return Err(refuse(format!(
            "its mutable global {hidden} is not exported (export it, as guests/js/build.rs exports \
             `__stack_pointer`)"
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wat: &str) -> Result<()> {
        check_capturable(&wat::parse_str(wat).unwrap())
    }

    #[test]
    fn state_a_snapshot_cannot_reach_refuses_the_runtime() {
        check(r#"(module (memory (export "memory") 1) (global (export "sp") (mut i32) (i32.const 0)))"#)
            .unwrap();
        for (wat, why) in [
            (
                r#"(module (memory (export "memory") 1) (global (mut i32) (i32.const 0)))"#,
                "not exported",
            ),
            (r#"(module (memory 1))"#, "one, exported"),
            (
                r#"(module (memory (export "memory") 1) (memory 1))"#,
                "2 memories",
            ),
            (
                r#"(module (import "m" "mem" (memory 1)) (memory (export "memory") 1))"#,
                "imports",
            ),
            (
                r#"(module (memory (export "memory") 1) (table 1 funcref)
                    (func (table.set (i32.const 0) (ref.null func))))"#,
                "table.set",
            ),
            (
                r#"(module (memory (export "memory") 1) (data "x")
                    (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1))))"#,
                "memory.init",
            ),
        ] {
            let e = check(wat).unwrap_err();
            assert!(e.message().contains(why), "{why}: {e}");
        }
    }
}
