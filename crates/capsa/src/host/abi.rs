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

use std::collections::HashMap;

use serde_json::Value;
use tokio::task::JoinHandle;
use wasmtime::{Caller, Extern, Linker, Memory};

use crate::capability::{Grants, Handler, HostError, HostResult};
use crate::error::ErrorCode;
use crate::sandbox::{LimitExceeded, SandboxState};

const MODULE: &str = "capsa";

/// The interface components import (`guests/python/wit/capsa.wit`).
const COMPONENT_INTERFACE: &str = "capsa:runtime/host@0.1.0";

/// Status `call_wait` returns for a successful call.
const STATUS_OK: u32 = 0;
/// Status `call_wait` returns when the host function failed or was denied.
const STATUS_ERROR: u32 = 1;

/// Log levels of `log`, by number.
const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The longest host function name; longer names trap (they can only be a bug or an attack).
pub(crate) const MAX_NAME_BYTES: usize = 256;

/// Host calls a sandbox may have started and not yet read. Bounds the host memory and threads one
/// guest can tie up.
pub(crate) const MAX_PENDING: usize = 32;

/// Bytes of finished, unread results a sandbox may hold on the host (they live outside its memory
/// limit until the guest reads them).
pub(crate) const MAX_UNREAD_BYTES: usize = 64 << 20;

/// The host-call state of one sandbox.
pub(crate) struct HostCalls {
    grants: Grants,
    runtime: tokio::runtime::Handle,
    pending: HashMap<u32, Pending>,
    next_handle: u32,
    max_calls: u64,
    max_egress: u64,
    pub(crate) calls: u64,
    /// Bytes of finished results not yet read.
    unread_bytes: usize,
    /// Calls per capped prefix (see `Grants::call_caps`), in the same order.
    calls_by_cap: Vec<u64>,
    pub(crate) egress_bytes: u64,
    /// The first error a host call returned, and when: the outcome if the guest then fails.
    pub(crate) first_failure: Option<(std::time::Instant, ErrorCode, String)>,
    /// The codes of every host call that failed, each once: what a guest may truthfully say ended it.
    pub(crate) failure_codes: Vec<ErrorCode>,
    /// A limit passed where the guest could not be stopped at once (inside a `wasi:http` request
    /// hook); the sandbox raises it as a trap at the guest's next epoch check, or at the end.
    pub(crate) tripped: Option<LimitExceeded>,
}

enum Pending {
    Running { name: String, task: AbortOnDrop },
    Ready { status: u32, bytes: Vec<u8> },
}

/// Aborts a host task whose guest is gone (deadline, cancellation, end of the call).
struct AbortOnDrop(JoinHandle<HostResult>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HostCalls {
    pub(crate) fn new(
        grants: Grants,
        runtime: tokio::runtime::Handle,
        max_calls: u64,
        max_egress: u64,
    ) -> Self {
        HostCalls {
            grants,
            runtime,
            pending: HashMap::new(),
            next_handle: 1,
            max_calls,
            max_egress,
            calls: 0,
            unread_bytes: 0,
            calls_by_cap: Vec::new(),
            egress_bytes: 0,
            first_failure: None,
            failure_codes: Vec::new(),
            tripped: None,
        }
    }

    /// Starts the next call in the same sandbox with fresh counters and these caps. Host calls still
    /// in flight are abandoned (their tasks aborted).
    pub(crate) fn reset(&mut self, max_calls: u64, max_egress: u64) {
        self.pending.clear();
        self.max_calls = max_calls;
        self.max_egress = max_egress;
        self.calls = 0;
        self.unread_bytes = 0;
        self.calls_by_cap.clear();
        self.egress_bytes = 0;
        self.first_failure = None;
        self.failure_codes.clear();
        self.tripped = None;
    }

    fn start(&mut self, name: &[u8], args: &[u8]) -> wasmtime::Result<u32> {
        if name.len() > MAX_NAME_BYTES {
            return Err(trap(
                "call_start",
                &format!("host function name longer than {MAX_NAME_BYTES} bytes"),
            ));
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(wasmtime::Error::new(LimitExceeded::new(
                ErrorCode::HostCallLimitExceeded,
                format!("guest has more than {MAX_PENDING} host calls started and not read"),
            )));
        }
        let egress = (name.len() + args.len()) as u64;
        let name = String::from_utf8_lossy(name).into_owned();
        self.count(&name, egress).map_err(wasmtime::Error::new)?;
        let handle = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);

        let pending = match (
            self.grants.resolve(&name),
            serde_json::from_slice::<Value>(args),
        ) {
            (None, _) => {
                let err = HostError::denied(format!("host function `{name}` is not granted"));
                self.finish(&name, Err(err))
            }
            (Some(_), Err(e)) => {
                let err =
                    HostError::invalid_input(format!("arguments of `{name}` are not JSON: {e}"));
                self.finish(&name, Err(err))
            }
            (Some(handler), Ok(args)) => {
                let task = match handler.clone() {
                    Handler::Sync(f) => self.runtime.spawn_blocking(move || f(args)),
                    Handler::Async(f) => self.runtime.spawn(f(args)),
                };
                Pending::Running {
                    name,
                    task: AbortOnDrop(task),
                }
            }
        };
        if let Pending::Ready { bytes, .. } = &pending {
            self.unread_bytes += bytes.len();
        }
        self.pending.insert(handle, pending);
        Ok(handle)
    }

    /// Counts one host call named `name` that sends `egress` bytes, against the call's caps (all calls,
    /// egress bytes, and the cap of its capability, e.g. HTTP fetches).
    ///
    /// # Errors
    ///
    /// `host_call_limit_exceeded` once a cap is passed; the call must then end.
    pub(crate) fn count(&mut self, name: &str, egress: u64) -> Result<(), LimitExceeded> {
        self.calls += 1;
        if self.calls > self.max_calls {
            return Err(LimitExceeded::new(
                ErrorCode::HostCallLimitExceeded,
                format!("guest made more than {} host calls", self.max_calls),
            ));
        }
        self.egress_bytes = self.egress_bytes.saturating_add(egress);
        if self.egress_bytes > self.max_egress {
            return Err(LimitExceeded::new(
                ErrorCode::HostCallLimitExceeded,
                format!(
                    "guest sent more than {} through host calls",
                    crate::ByteSize(self.max_egress).approx()
                ),
            ));
        }
        self.calls_by_cap.resize(self.grants.call_caps.len(), 0);
        for (i, (prefix, max, what)) in self.grants.call_caps.iter().enumerate() {
            if name.starts_with(prefix) {
                self.calls_by_cap[i] += 1;
                if self.calls_by_cap[i] > *max {
                    return Err(LimitExceeded::new(
                        ErrorCode::HostCallLimitExceeded,
                        format!("guest made more than {max} {what}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The call's grants.
    pub(crate) fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Remembers a failed host call: its code as evidence, and the first failure as the root cause
    /// of a guest that then fails.
    pub(crate) fn record_failure(&mut self, name: &str, err: &HostError) {
        if !self.failure_codes.contains(&err.code) {
            self.failure_codes.push(err.code);
        }
        if self.first_failure.is_none() {
            let message = match err.code {
                ErrorCode::CapabilityDenied => err.message.clone(),
                _ => format!("host function `{name}` failed: {}", err.message),
            };
            self.first_failure = Some((std::time::Instant::now(), err.code, message));
        }
    }

    /// Turns a finished call into what the guest reads, remembering the first failure.
    fn finish(&mut self, name: &str, result: HostResult) -> Pending {
        match result {
            Ok(value) => Pending::Ready {
                status: STATUS_OK,
                bytes: value.to_string().into_bytes(),
            },
            Err(err) => {
                self.record_failure(name, &err);
                Pending::Ready {
                    status: STATUS_ERROR,
                    bytes: err.to_json(),
                }
            }
        }
    }
}

impl HostCalls {
    /// Takes a started call out of the table, to wait for it without holding the store.
    fn take(&mut self, handle: u32, func: &str) -> wasmtime::Result<Pending> {
        self.pending
            .remove(&handle)
            .ok_or_else(|| trap(func, "unknown handle"))
    }

    /// Puts a call back after [`Pending::settle`], finished: its status and result length.
    fn put_back(&mut self, handle: u32, settled: Settled) -> wasmtime::Result<(u32, usize)> {
        let pending = match settled {
            Settled::AlreadyReady(pending) => pending,
            Settled::Finished(name, result) => {
                let pending = self.finish(&name, result);
                if let Pending::Ready { bytes, .. } = &pending {
                    self.unread_bytes += bytes.len();
                }
                if self.unread_bytes > MAX_UNREAD_BYTES {
                    return Err(wasmtime::Error::new(LimitExceeded::new(
                        ErrorCode::HostCallLimitExceeded,
                        format!(
                            "results of host calls not yet read exceed {}",
                            crate::ByteSize(MAX_UNREAD_BYTES as u64).approx()
                        ),
                    )));
                }
                pending
            }
        };
        let (status, len) = match &pending {
            Pending::Ready { status, bytes } => (*status, bytes.len()),
            Pending::Running { .. } => (STATUS_ERROR, 0),
        };
        self.pending.insert(handle, pending);
        Ok((status, len))
    }

    /// Removes a finished call: its status and result.
    fn read(&mut self, handle: u32) -> wasmtime::Result<(u32, Vec<u8>)> {
        match self.pending.remove(&handle) {
            Some(Pending::Ready { status, bytes }) => {
                self.unread_bytes = self.unread_bytes.saturating_sub(bytes.len());
                Ok((status, bytes))
            }
            Some(running) => {
                self.pending.insert(handle, running);
                Err(trap("call_read", "handle read before `call_wait`"))
            }
            None => Err(trap("call_read", "unknown handle")),
        }
    }
}

/// A call taken out of the table and waited for.
enum Settled {
    AlreadyReady(Pending),
    Finished(String, HostResult),
}

impl Pending {
    /// Waits for the call to finish.
    async fn settle(self) -> Settled {
        match self {
            Pending::Running { name, mut task } => {
                let result = (&mut task.0).await.unwrap_or_else(join_error);
                Settled::Finished(name, result)
            }
            ready => Settled::AlreadyReady(ready),
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> HostResult {
    Err(HostError::new(if e.is_panic() {
        "the host function panicked"
    } else {
        "the host function was cancelled"
    }))
}

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
                let host = &mut store.data_mut().host;
                if let Some(ready) = handles
                    .iter()
                    .find(|h| matches!(host.pending.get(h), Some(Pending::Ready { .. })))
                {
                    return Ok((Some(*ready),));
                }
                // Take the running calls out, wait for the first to finish, put them all back.
                let mut running: Vec<(u32, Pending)> = handles
                    .iter()
                    .filter_map(|h| host.pending.remove(h).map(|p| (*h, p)))
                    .collect();
                if running.is_empty() {
                    return Err(trap("wait-any", "no such handle is in flight"));
                }
                let first = std::future::poll_fn(|cx| {
                    for (i, (_, pending)) in running.iter_mut().enumerate() {
                        if let Pending::Running { task, .. } = pending
                            && let std::task::Poll::Ready(result) =
                                std::pin::Pin::new(&mut task.0).poll(cx)
                        {
                            return std::task::Poll::Ready((i, result.unwrap_or_else(join_error)));
                        }
                    }
                    std::task::Poll::Pending
                });
                let finished = match timeout_ns {
                    None => Some(first.await),
                    Some(ns) => tokio::time::timeout(std::time::Duration::from_nanos(ns), first)
                        .await
                        .ok(),
                };
                let mut finished = finished;
                let host = &mut store.data_mut().host;
                let mut ready = None;
                for (i, (handle, pending)) in running.into_iter().enumerate() {
                    match (finished.take_if(|(done, _)| *done == i), pending) {
                        (Some((_, result)), Pending::Running { name, .. }) => {
                            ready = Some(handle);
                            host.put_back(handle, Settled::Finished(name, result))?;
                        }
                        (_, pending) => {
                            host.pending.insert(handle, pending);
                        }
                    }
                }
                Ok((ready,))
            })
        },
    )?;

    host.func_wrap(
        "call-drop",
        |mut store: StoreContextMut<'_, SandboxState>, (handle,): (u32,)| {
            let host = &mut store.data_mut().host;
            if let Some(Pending::Ready { bytes, .. }) = host.pending.remove(&handle) {
                host.unread_bytes = host.unread_bytes.saturating_sub(bytes.len());
            }
            // A running call's task is aborted as its `AbortOnDrop` goes.
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

fn trap(func: &str, message: &str) -> wasmtime::Error {
    wasmtime::format_err!("capsa::{func}: {message}")
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
