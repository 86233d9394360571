//! A sandbox's state between calls, captured ([`Sandbox::capture`]) and put into a new sandbox
//! ([`Sandbox::restore`]): what a session snapshot holds of the guest.
//!
//! A core module's state between calls is its one linear memory and its mutable globals (the
//! language runtime is checked to have no other, `lang::wizer::check_capturable`), and on the host
//! side the numbering of host-call handles. Memory is kept as the 4 KiB pages that differ from the
//! module's initial image, the copy-on-write image every fresh instance starts from, so a restore is
//! a fresh instantiation (pages shared with the image) plus writing only those pages: its cost is the
//! session's changes, not its heap.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Val;

use super::{Instance, Sandbox};
use crate::call::Call;
use crate::error::{Error, ErrorCode, Result};
use crate::limits::ByteSize;
use crate::module::{Linked, Module};
use crate::outcome::micros;

/// The granularity of a captured memory: the host's page size, so a restore dirties (and copies) no
/// page the session did not change.
pub(crate) const PAGE_SIZE: usize = 4096;

/// Wasm's own page size: memory sizes are multiples of it.
pub(crate) const WASM_PAGE_SIZE: u64 = 65536;

static ZERO_PAGE: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// A captured global's value (floats and vectors as their bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobalValue {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
}

/// The guest state of a sandbox between two calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemoryState {
    /// The size of the linear memory, in bytes (a multiple of 64 KiB).
    pub(crate) memory_bytes: u64,
    /// Every exported mutable global, by name.
    pub(crate) globals: Vec<(String, GlobalValue)>,
    /// The indices of the 4 KiB pages that differ from the initial image, ascending.
    pub(crate) pages: Vec<u32>,
    /// Those pages' contents, `PAGE_SIZE` bytes each, in the same order.
    pub(crate) data: Vec<u8>,
    /// The handle the next host call gets.
    pub(crate) next_handle: u32,
}

impl MemoryState {
    /// Checks that the pages fit the memory and each other (for state read back from bytes).
    pub(crate) fn check(&self) -> std::result::Result<(), &'static str> {
        if !self.memory_bytes.is_multiple_of(WASM_PAGE_SIZE) || self.memory_bytes > 1 << 32 {
            return Err("its memory size is not one a wasm32 memory can have");
        }
        if self.data.len() != self.pages.len() * PAGE_SIZE {
            return Err("its page data does not match its page list");
        }
        let pages_in_memory = self.memory_bytes / PAGE_SIZE as u64;
        let ascending = self.pages.windows(2).all(|w| w[0] < w[1]);
        if !ascending
            || self
                .pages
                .last()
                .is_some_and(|&p| u64::from(p) >= pages_in_memory)
        {
            return Err("its pages are out of order or outside its memory");
        }
        Ok(())
    }

    /// Bytes of memory the state holds (its changed pages).
    pub(crate) fn held_bytes(&self) -> u64 {
        self.data.len() as u64
    }
}

impl Sandbox {
    /// The guest's state now, or `None` when nothing ran yet (a fresh sandbox has no state to keep).
    ///
    /// # Errors
    ///
    /// `conflict` when the last call did not finish cleanly (a trap, a limit, a cancelled call) or
    /// host calls are in flight; `invalid_input` for a component (only core modules are captured);
    /// `internal` when the instance lacks what the runtime check promised.
    pub(crate) async fn capture(&mut self) -> Result<Option<MemoryState>> {
        if self.poisoned {
            return Err(Error::new(
                ErrorCode::Conflict,
                "the session's last evaluation did not finish cleanly: its state may be half-updated",
            ));
        }
        let Some(instance) = self.instance else {
            return Ok(None);
        };
        let Instance::Core(instance) = instance else {
            return Err(Error::invalid_input(
                "only a core module's state can be captured, not a component's",
            ));
        };
        let in_flight = self.store.data().host.in_flight();
        if in_flight > 0 {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "the session has {in_flight} host call(s) in flight, started and never awaited: \
                     a snapshot cannot carry them"
                ),
            ));
        }
        let initial = initial_memory(&self.module).await?;
        let memory = instance
            .get_memory(&mut self.store, "memory")
            .ok_or_else(|| Error::internal("the runtime exports no `memory`"))?;
        let current = memory.data(&self.store);
        let mut pages = Vec::new();
        let mut data = Vec::new();
        for (index, page) in current.chunks(PAGE_SIZE).enumerate() {
            let start = index * PAGE_SIZE;
            let pristine = initial
                .get(start..start + page.len())
                .unwrap_or(&ZERO_PAGE[..page.len()]);
            if page != pristine {
                let index = u32::try_from(index)
                    .map_err(|_| Error::internal("a memory larger than 16 TiB"))?;
                pages.push(index);
                data.extend_from_slice(page);
                // A memory is a whole number of wasm pages, so of 4 KiB pages too.
                data.resize(pages.len() * PAGE_SIZE, 0);
            }
        }
        let memory_bytes = current.len() as u64;
        let mut globals = Vec::new();
        for name in self.module.mutable_globals() {
            let global = instance.get_global(&mut self.store, name).ok_or_else(|| {
                Error::internal(format!("the runtime's global `{name}` vanished"))
            })?;
            let value = match global.get(&mut self.store) {
                Val::I32(x) => GlobalValue::I32(x),
                Val::I64(x) => GlobalValue::I64(x),
                Val::F32(x) => GlobalValue::F32(x),
                Val::F64(x) => GlobalValue::F64(x),
                Val::V128(x) => GlobalValue::V128(x.as_u128()),
                _ => {
                    return Err(Error::internal(format!(
                        "the runtime's global `{name}` holds a reference, which cannot be captured"
                    )));
                }
            };
            globals.push((name.clone(), value));
        }
        Ok(Some(MemoryState {
            memory_bytes,
            globals,
            pages,
            data,
            next_handle: self.store.data().host.next_handle(),
        }))
    }

    /// A new sandbox for `call` whose guest is in `state`: a fresh instance of `module`, grown to the
    /// state's memory size (counted against `call`'s memory limit), with its changed pages and its
    /// globals written in. The first call's receipt reports the time this took as `instantiate_us`.
    ///
    /// # Errors
    ///
    /// `memory_limit_exceeded` when the state's memory is over `call`'s limit; `invalid_input` when
    /// the state does not fit the module (another runtime's); otherwise as [`Sandbox::open`].
    pub(crate) async fn restore(
        module: &Module,
        call: &Call,
        state: &MemoryState,
    ) -> Result<Sandbox> {
        let began = Instant::now();
        let mut sandbox = Sandbox::open(module, call)?;
        let Linked::Core(pre) = module.linked() else {
            return Err(Error::invalid_input(
                "only a core module's state can be restored, not a component's",
            ));
        };
        let memory_limit = |sandbox: &Sandbox| {
            sandbox.store.data().limiter.denied.as_ref().map(|_| {
                Error::new(
                    ErrorCode::MemoryLimitExceeded,
                    format!(
                        "the snapshot's {} of linear memory is over this session's {} memory limit",
                        ByteSize(state.memory_bytes).approx(),
                        call.limits.memory
                    ),
                )
            })
        };
        let instance = match pre.instantiate_async(&mut sandbox.store).await {
            Ok(instance) => instance,
            Err(e) => {
                return Err(memory_limit(&sandbox).unwrap_or_else(|| {
                    Error::internal(format!("cannot instantiate the runtime: {e:#}"))
                }));
            }
        };
        let memory = instance
            .get_memory(&mut sandbox.store, "memory")
            .ok_or_else(|| Error::internal("the runtime exports no `memory`"))?;
        let have = memory.data_size(&sandbox.store) as u64;
        if state.memory_bytes < have {
            return Err(Error::invalid_input(
                "the snapshot's memory is smaller than the runtime's initial memory: it is of another runtime",
            ));
        }
        let grow = (state.memory_bytes - have) / WASM_PAGE_SIZE;
        if grow > 0
            && let Err(e) = memory.grow(&mut sandbox.store, grow)
        {
            return Err(memory_limit(&sandbox).unwrap_or_else(|| {
                Error::internal(format!("cannot grow the restored memory: {e:#}"))
            }));
        }
        let data = memory.data_mut(&mut sandbox.store);
        for (&index, page) in state.pages.iter().zip(state.data.chunks_exact(PAGE_SIZE)) {
            let start = index as usize * PAGE_SIZE;
            data.get_mut(start..start + PAGE_SIZE)
                .ok_or_else(|| Error::invalid_input("a snapshot page lies outside its memory"))?
                .copy_from_slice(page);
        }
        if state.globals.len() != module.mutable_globals().len() {
            return Err(Error::invalid_input(
                "the snapshot's globals are not this runtime's",
            ));
        }
        for (name, value) in &state.globals {
            let global = instance
                .get_global(&mut sandbox.store, name)
                .ok_or_else(|| {
                    Error::invalid_input(format!("the runtime has no global `{name}` to restore"))
                })?;
            let value = match *value {
                GlobalValue::I32(x) => Val::I32(x),
                GlobalValue::I64(x) => Val::I64(x),
                GlobalValue::F32(x) => Val::F32(x),
                GlobalValue::F64(x) => Val::F64(x),
                GlobalValue::V128(x) => Val::V128(x.into()),
            };
            global.set(&mut sandbox.store, value).map_err(|e| {
                Error::invalid_input(format!("cannot restore the global `{name}`: {e:#}"))
            })?;
        }
        sandbox
            .store
            .data_mut()
            .host
            .set_next_handle(state.next_handle);
        sandbox.instance = Some(Instance::Core(instance));
        sandbox.restored_us = Some(micros(began.elapsed()));
        Ok(sandbox)
    }
}

/// The memory of a fresh instance of `module`: taken once, from an instance made for the purpose,
/// and kept with the module.
async fn initial_memory(module: &Module) -> Result<Arc<[u8]>> {
    if let Some(memory) = module.initial_memory() {
        return Ok(memory);
    }
    let Linked::Core(pre) = module.linked() else {
        return Err(Error::invalid_input(
            "only a core module's memory can be captured, not a component's",
        ));
    };
    let mut sandbox = Sandbox::open(module, &Call::new())?;
    let instance = pre
        .instantiate_async(&mut sandbox.store)
        .await
        .map_err(|e| Error::internal(format!("cannot instantiate the runtime: {e:#}")))?;
    let memory = instance
        .get_memory(&mut sandbox.store, "memory")
        .ok_or_else(|| Error::internal("the runtime exports no `memory`"))?;
    let contents: Arc<[u8]> = memory.data(&sandbox.store).into();
    Ok(module.keep_initial_memory(contents))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::FunctionArgs;
    use crate::engine::Engine;
    use crate::sandbox::prepare;

    const WAT: &str = r#"(module
        (import "capsa" "call_start" (func $start (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (global $g (export "g") (mut i32) (i32.const 0))
        (data (i32.const 0) "slow{}")
        (func (export "set") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
        (func (export "read") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func (export "grow") (drop (memory.grow (i32.const 1))))
        (func (export "bump") (global.set $g (i32.add (global.get $g) (i32.const 1))))
        (func (export "get_g") (result i32) (global.get $g))
        (func (export "start") (drop (call $start (i32.const 0) (i32.const 4) (i32.const 4) (i32.const 2)))))"#;

    fn call(name: &str, args: &[&str]) -> Call {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        Call::new().function(name, FunctionArgs::Numbers(args))
    }

    async fn invoke(
        sandbox: &mut Sandbox,
        module: &Module,
        name: &str,
        args: &[&str],
    ) -> serde_json::Value {
        let call = call(name, args);
        let prepared = prepare(module, &call.entry).unwrap();
        let receipt = sandbox.invoke(&prepared, &call.limits).await;
        assert!(receipt.is_ok(), "{name}: {:?}", receipt.error);
        receipt.result.unwrap()
    }

    #[test]
    fn a_restored_sandbox_has_the_captured_memory_and_globals() {
        let engine = Engine::builder().cache_dir(None).build().unwrap();
        let module = engine.load(WAT.as_bytes()).unwrap();
        engine.runtime().unwrap().block_on(async {
            let mut sandbox = Sandbox::open(&module, &Call::new()).unwrap();
            assert!(
                sandbox.capture().await.unwrap().is_none(),
                "nothing ran yet"
            );
            invoke(&mut sandbox, &module, "set", &["5", "1"]).await;
            invoke(&mut sandbox, &module, "grow", &[]).await;
            invoke(&mut sandbox, &module, "set", &["70000", "9"]).await;
            invoke(&mut sandbox, &module, "bump", &[]).await;
            invoke(&mut sandbox, &module, "bump", &[]).await;
            let state = sandbox.capture().await.unwrap().unwrap();
            assert_eq!(state.memory_bytes, 2 * WASM_PAGE_SIZE);
            assert_eq!(
                state.pages,
                vec![0, 70000 / PAGE_SIZE as u32],
                "only the changed pages"
            );
            assert_eq!(state.globals, vec![("g".to_owned(), GlobalValue::I32(2))]);
            state.check().unwrap();

            let mut restored = Sandbox::restore(&module, &Call::new(), &state)
                .await
                .unwrap();
            assert_eq!(
                invoke(&mut restored, &module, "read", &["70000"]).await,
                serde_json::json!([9])
            );
            assert_eq!(
                invoke(&mut restored, &module, "read", &["5"]).await,
                serde_json::json!([1])
            );
            assert_eq!(
                invoke(&mut restored, &module, "read", &["0"]).await,
                serde_json::json!([115])
            );
            assert_eq!(
                invoke(&mut restored, &module, "get_g", &[]).await,
                serde_json::json!([2])
            );
            // The restored sandbox is its own: the original does not see its writes.
            invoke(&mut restored, &module, "set", &["5", "2"]).await;
            assert_eq!(
                invoke(&mut sandbox, &module, "read", &["5"]).await,
                serde_json::json!([1])
            );

            // Over the new sandbox's memory limit: refused with the limit's code.
            let small = Call::new().limits(crate::limits::Limits {
                memory: ByteSize(WASM_PAGE_SIZE),
                ..Default::default()
            });
            let e = Sandbox::restore(&module, &small, &state)
                .await
                .err()
                .unwrap();
            assert_eq!(e.code(), ErrorCode::MemoryLimitExceeded, "{e}");
        });
    }

    #[test]
    fn host_calls_in_flight_cannot_be_captured() {
        let engine = Engine::builder().cache_dir(None).build().unwrap();
        let module = engine.load(WAT.as_bytes()).unwrap();
        engine.runtime().unwrap().block_on(async {
            let mut sandbox = Sandbox::open(&module, &Call::new()).unwrap();
            invoke(&mut sandbox, &module, "start", &[]).await;
            let e = sandbox.capture().await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::Conflict);
            assert!(e.message().contains("1 host call(s) in flight"), "{e}");
        });
    }

    #[test]
    fn a_poisoned_sandbox_cannot_be_captured() {
        let engine = Engine::builder().cache_dir(None).build().unwrap();
        let module = engine.load(WAT.as_bytes()).unwrap();
        engine.runtime().unwrap().block_on(async {
            let mut sandbox = Sandbox::open(&module, &Call::new()).unwrap();
            let call = call("read", &["4294967295"]);
            let prepared = prepare(&module, &call.entry).unwrap();
            let trapped = sandbox.invoke(&prepared, &call.limits).await;
            assert_eq!(trapped.code(), Some(ErrorCode::Trap));
            assert_eq!(
                sandbox.capture().await.unwrap_err().code(),
                ErrorCode::Conflict
            );
        });
    }
}
