//! The host-call table of one sandbox ([`HostCalls`]): the calls a guest started and has not read,
//! the per-call caps (calls, egress, calls per capability), and the evidence of failed calls that
//! decides a receipt's root cause. The ABI that reaches it is `host::abi` (`docs/abi.md`).

use std::collections::HashMap;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::capability::{Grants, Handler, HostError, HostResult};
use crate::error::ErrorCode;
use crate::outcome::LimitExceeded;

/// Status `call_wait` returns for a successful call.
pub(super) const STATUS_OK: u32 = 0;
/// Status `call_wait` returns when the host function failed or was denied.
pub(super) const STATUS_ERROR: u32 = 1;

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

pub(super) enum Pending {
    Running { name: String, task: AbortOnDrop },
    Ready { status: u32, bytes: Vec<u8> },
}

/// What `wait-any` finds among its handles.
pub(super) enum Waiting {
    /// A call that has finished and not been read.
    Ready(u32),
    /// The calls still running, taken out of the table until one of them finishes.
    Running(Vec<(u32, Pending)>),
}

/// Which of `running` finishes first, and its result; `None` when `timeout` passes first.
pub(super) async fn first_finished(
    running: &mut [(u32, Pending)],
    timeout: Option<std::time::Duration>,
) -> Option<(usize, HostResult)> {
    let first = std::future::poll_fn(|cx| {
        for (i, (_, pending)) in running.iter_mut().enumerate() {
            if let Pending::Running { task, .. } = pending
                && let std::task::Poll::Ready(result) = std::pin::Pin::new(&mut task.0).poll(cx)
            {
                return std::task::Poll::Ready((i, result.unwrap_or_else(join_error)));
            }
        }
        std::task::Poll::Pending
    });
    match timeout {
        None => Some(first.await),
        Some(timeout) => tokio::time::timeout(timeout, first).await.ok(),
    }
}

/// Aborts a host task whose guest is gone (deadline, cancellation, end of the call).
pub(super) struct AbortOnDrop(JoinHandle<HostResult>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HostCalls {
    /// The first of `handles` that is ready, else the running ones, taken out of the table (to be
    /// awaited without the store, and put back with [`HostCalls::put_back_running`]).
    pub(super) fn take_running(&mut self, handles: &[u32]) -> wasmtime::Result<Waiting> {
        if let Some(ready) = handles
            .iter()
            .find(|h| matches!(self.pending.get(h), Some(Pending::Ready { .. })))
        {
            return Ok(Waiting::Ready(*ready));
        }
        let running: Vec<(u32, Pending)> = handles
            .iter()
            .filter_map(|h| self.pending.remove(h).map(|p| (*h, p)))
            .collect();
        if running.is_empty() {
            return Err(trap("wait-any", "no such handle is in flight"));
        }
        Ok(Waiting::Running(running))
    }

    /// Puts the calls [`HostCalls::take_running`] took back, the one that `finished` settled; returns
    /// its handle.
    pub(super) fn put_back_running(
        &mut self,
        running: Vec<(u32, Pending)>,
        mut finished: Option<(usize, HostResult)>,
    ) -> wasmtime::Result<Option<u32>> {
        let mut ready = None;
        for (i, (handle, pending)) in running.into_iter().enumerate() {
            match (finished.take_if(|(done, _)| *done == i), pending) {
                (Some((_, result)), Pending::Running { name, .. }) => {
                    ready = Some(handle);
                    self.put_back(handle, Settled::Finished(name, result))?;
                }
                (_, pending) => {
                    self.pending.insert(handle, pending);
                }
            }
        }
        Ok(ready)
    }

    /// Forgets a call the guest gave up on: a running call's task is aborted as its `AbortOnDrop`
    /// goes; a finished one's unread bytes are freed.
    pub(super) fn abandon(&mut self, handle: u32) {
        if let Some(Pending::Ready { bytes, .. }) = self.pending.remove(&handle) {
            self.unread_bytes = self.unread_bytes.saturating_sub(bytes.len());
        }
    }

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

    /// Host calls started and not read: state a session snapshot cannot carry.
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// The handle the next call will get. Handles are never reused within a sandbox, so a snapshot
    /// carries this and a sandbox restored from it goes on from there: a handle the guest kept from
    /// before names no new call.
    pub(crate) fn next_handle(&self) -> u32 {
        self.next_handle
    }

    /// Goes on numbering handles from `next` (a restored sandbox).
    pub(crate) fn set_next_handle(&mut self, next: u32) {
        self.next_handle = next.max(1);
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

    pub(super) fn start(&mut self, name: &[u8], args: &[u8]) -> wasmtime::Result<u32> {
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
                    crate::limits::ByteSize(self.max_egress).approx()
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
    pub(super) fn take(&mut self, handle: u32, func: &str) -> wasmtime::Result<Pending> {
        self.pending
            .remove(&handle)
            .ok_or_else(|| trap(func, "unknown handle"))
    }

    /// Puts a call back after [`Pending::settle`], finished: its status and result length.
    pub(super) fn put_back(
        &mut self,
        handle: u32,
        settled: Settled,
    ) -> wasmtime::Result<(u32, usize)> {
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
                            crate::limits::ByteSize(MAX_UNREAD_BYTES as u64).approx()
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
    pub(super) fn read(&mut self, handle: u32) -> wasmtime::Result<(u32, Vec<u8>)> {
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
pub(super) enum Settled {
    AlreadyReady(Pending),
    Finished(String, HostResult),
}

impl Pending {
    /// Waits for the call to finish.
    pub(super) async fn settle(self) -> Settled {
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

pub(super) fn trap(func: &str, message: &str) -> wasmtime::Error {
    wasmtime::format_err!("capsa::{func}: {message}")
}
