//! capsa's host-call ABI for core wasm modules: the `capsa` import module (see `docs/abi.md`).
//!
//! ```text
//! call_start(name_ptr, name_len, args_ptr, args_len: u32) -> u32   start a host call, get a handle
//! call_wait(handle, len_ptr: u32) -> u32                           wait; 0 = ok, 1 = error; writes result length
//! call_read(handle, buf_ptr, buf_len: u32) -> u32                  copy the result out, free the handle
//! log(level, ptr, len: u32)                                        a structured log line
//! ```
//!
//! Arguments and results are UTF-8 JSON. An error result is `{"code": "...", "message": "..."}`.
//! Several calls may be in flight at once; each runs on the host as soon as it is started.
//!
//! Components (capsa's Python runtime) get the same calls as the `capsa:runtime/host` interface
//! (`guests/python/wit/capsa.wit`), with strings instead of pointers and two more for event loops:
//! `wait-any` (await several calls at once) and `call-drop` (abandon a cancelled one).

use wasmtime::{Caller, Extern, Linker, Memory};

use super::SandboxState;
use super::calls::{MAX_PENDING, STATUS_OK, Waiting, first_finished, trap};

const MODULE: &str = "capsa";

/// The interface components import (`guests/python/wit/capsa.wit`).
const COMPONENT_INTERFACE: &str = "capsa:runtime/host@0.1.0";

/// Log levels of `log`, by number.
const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The `capsa:runtime/host` interface of components: the calls above over strings, plus `wait-any`.
pub(crate) fn add_to_component_linker(
    linker: &mut wasmtime::component::Linker<SandboxState>,
) -> wasmtime::Result<()> {
    use wasmtime::StoreContextMut;
    use wasmtime::component::WasmList;
    let mut host = linker.instance(COMPONENT_INTERFACE)?;

    host.func_wrap(
        "call-start",
        |mut store: StoreContextMut<'_, SandboxState>, (name, args): (String, String)| {
            Ok((store
                .data_mut()
                .host
                .start(name.as_bytes(), args.as_bytes())?,))
        },
    )?;

    host.func_wrap_async(
        "call-wait",
        |mut store: StoreContextMut<'_, SandboxState>, (handle,): (u32,)| {
            Box::new(async move {
                let pending = store.data_mut().host.take(handle, "call-wait")?;
                let settled = pending.settle().await;
                let host = &mut store.data_mut().host;
                host.put_back(handle, settled)?;
                let (status, bytes) = host.read(handle)?;
                // The runtime made these bytes from JSON text; lossy only for a broken host function.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                Ok((if status == STATUS_OK {
                    Ok(text)
                } else {
                    Err(text)
                },))
            })
        },
    )?;

    host.func_wrap_async(
        "wait-any",
        |mut store: StoreContextMut<'_, SandboxState>,
         (handles, timeout_ns): (WasmList<u32>, Option<u64>)| {
            Box::new(async move {
                // At most MAX_PENDING calls can be in flight: a longer list is checked before it is
                // copied out of the guest, so its size costs the host nothing.
                if handles.len() > MAX_PENDING {
                    return Err(trap("wait-any", "more handles than calls can be in flight"));
                }
                let handles = handles
                    .iter(&mut store)?
                    .collect::<wasmtime::Result<Vec<u32>>>()?;
                let mut running = match store.data_mut().host.take_running(&handles)? {
                    Waiting::Ready(handle) => return Ok((Some(handle),)),
                    Waiting::Running(running) => running,
                };
                let timeout = timeout_ns.map(std::time::Duration::from_nanos);
                let finished = first_finished(&mut running, timeout).await;
                let ready = store.data_mut().host.put_back_running(running, finished)?;
                Ok((ready,))
            })
        },
    )?;

    host.func_wrap(
        "call-drop",
        |mut store: StoreContextMut<'_, SandboxState>, (handle,): (u32,)| {
            store.data_mut().host.abandon(handle);
            Ok(())
        },
    )?;

    host.func_wrap(
        "log",
        |mut store: StoreContextMut<'_, SandboxState>, (level, message): (u32, String)| {
            let level = LEVELS.get(level as usize).copied().unwrap_or("info");
            store
                .data_mut()
                .capture
                .log(level, message.as_bytes())
                .map_err(wasmtime::Error::new)
        },
    )?;
    Ok(())
}

fn memory(caller: &mut Caller<'_, SandboxState>, func: &str) -> wasmtime::Result<Memory> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| trap(func, "the module exports no `memory`"))
}

fn range(ptr: u32, len: u32) -> std::ops::Range<usize> {
    let start = ptr as usize;
    start..start.saturating_add(len as usize)
}

pub(crate) fn add_to_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "call_start",
        |mut caller: Caller<'_, SandboxState>,
         name_ptr: u32,
         name_len: u32,
         args_ptr: u32,
         args_len: u32|
         -> wasmtime::Result<u32> {
            let memory = memory(&mut caller, "call_start")?;
            let (data, state) = memory.data_and_store_mut(&mut caller);
            let oob = || trap("call_start", "pointer out of bounds");
            let name = data.get(range(name_ptr, name_len)).ok_or_else(oob)?;
            let args = data.get(range(args_ptr, args_len)).ok_or_else(oob)?;
            state.host.start(name, args)
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "call_wait",
        |mut caller: Caller<'_, SandboxState>, (handle, len_ptr): (u32, u32)| {
            Box::new(async move {
                let pending = caller.data_mut().host.take(handle, "call_wait")?;
                let settled = pending.settle().await;
                let (status, len) = caller.data_mut().host.put_back(handle, settled)?;
                let len = len as u32;
                let memory = memory(&mut caller, "call_wait")?;
                memory
                    .data_mut(&mut caller)
                    .get_mut(range(len_ptr, 4))
                    .ok_or_else(|| trap("call_wait", "pointer out of bounds"))?
                    .copy_from_slice(&len.to_le_bytes());
                Ok(status)
            })
        },
    )?;

    linker.func_wrap(
        MODULE,
        "call_read",
        |mut caller: Caller<'_, SandboxState>,
         handle: u32,
         buf_ptr: u32,
         buf_len: u32|
         -> wasmtime::Result<u32> {
            let memory = memory(&mut caller, "call_read")?;
            let (data, state) = memory.data_and_store_mut(&mut caller);
            let (_, bytes) = state.host.read(handle)?;
            let n = bytes.len().min(buf_len as usize);
            data.get_mut(range(buf_ptr, n as u32))
                .ok_or_else(|| trap("call_read", "pointer out of bounds"))?
                .copy_from_slice(&bytes[..n]);
            Ok(n as u32)
        },
    )?;

    linker.func_wrap(
        MODULE,
        "log",
        |mut caller: Caller<'_, SandboxState>,
         level: u32,
         ptr: u32,
         len: u32|
         -> wasmtime::Result<()> {
            let memory = memory(&mut caller, "log")?;
            let (data, state) = memory.data_and_store_mut(&mut caller);
            let message = data
                .get(range(ptr, len))
                .ok_or_else(|| trap("log", "pointer out of bounds"))?;
            let level = LEVELS.get(level as usize).copied().unwrap_or("info");
            state
                .capture
                .log(level, message)
                .map_err(wasmtime::Error::new)
        },
    )?;
    Ok(())
}
