//! How the guest part of a call ended, mapped to the receipt's error, exit code and result.
//!
//! Precedence, first match wins: a stdin read past its limit; the deadline; a limit tripped in a host hook the
//! guest finished (or failed) before its next epoch check; then how the guest failed ([`failed`]): its exit, a
//! limit the host raised, a misused ABI, a full pool, the output cap, a trap (a refused growth or a
//! failed host call that came first is the root cause of a trap), and last what wasmtime reports
//! only as text ([`wasmtime_error_code`]).

use serde_json::Value;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use crate::error::ErrorCode;
use crate::host::SandboxState;
use crate::limits::{ByteSize, Limits};
use crate::outcome::{AbiMisuse, LimitExceeded, deadline_exceeded, failure, output_exceeded};
use crate::receipt::Failure;

/// Why the guest part of a call failed.
pub(crate) enum Failed {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

/// A receipt's error, exit code and result.
type Ending = (Option<Failure>, Option<i32>, Option<Value>);

/// Maps how the guest part of a call ended to the receipt's error, exit code and result. `None`: the
/// host's timer ended it at the deadline.
pub(super) fn classify(
    outcome: Option<Result<Option<Value>, Failed>>,
    state: &SandboxState,
    max_wasm_stack: usize,
    limits: &Limits,
) -> Ending {
    // A guest that read past its stdin limit failed that read; whatever it did next, the call ends
    // with the limit.
    if let Some(limit) = state.stdin_over.get() {
        return (Some(limit.clone().into()), None, None);
    }
    match outcome {
        None => (Some(deadline_exceeded(limits.timeout).into()), None, None),
        // A limit passed in a host hook, and the guest finished, or failed because of the refusal
        // (a `wasi:http` body left unfinished), before its next epoch check: the limit came first.
        Some(_) if state.host.tripped.is_some() => {
            (state.host.tripped.clone().map(Failure::from), None, None)
        }
        Some(Ok(result)) => (None, Some(0), result),
        Some(Err(why)) => failed(why, state, max_wasm_stack, limits),
    }
}

fn failed(why: Failed, state: &SandboxState, max_wasm_stack: usize, limits: &Limits) -> Ending {
    let (err, instantiating) = match why {
        Failed::Instantiate(e) => (e, true),
        Failed::Run(e) => (e, false),
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return match exit.0 {
            0 => (None, Some(0), None),
            code => (
                Some(root_cause(state).unwrap_or_else(|| {
                    failure(ErrorCode::Exit, format!("guest exited with code {code}"))
                })),
                Some(code),
                None,
            ),
        };
    }
    let error = if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
        limit.clone().into()
    } else if let Some(abi) = err.downcast_ref::<AbiMisuse>() {
        failure(ErrorCode::InvalidModule, abi.0.clone())
    } else if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        failure(ErrorCode::Busy, format!("no sandbox slot is free: {err:#}"))
    } else if state.capture.lock().exceeded {
        output_exceeded(limits.max_output).into()
    } else if let Some(trap) = err.downcast_ref::<Trap>() {
        trapped(*trap, &err, state, max_wasm_stack, limits)
    } else if let Some(cause) = root_cause(state) {
        cause
    } else {
        let message = format!("{err:#}");
        match instantiating
            .then(|| wasmtime_error_code(&message))
            .flatten()
        {
            Some(ErrorCode::Internal) => failure(
                ErrorCode::Internal,
                format!("the host could not reserve memory for the sandbox: {message}"),
            ),
            Some(code) => failure(code, message),
            None => Failure {
                code: ErrorCode::Trap,
                message,
                backtrace: backtrace(&err),
                exception: None,
            },
        }
    };
    (Some(error), None, None)
}

/// The receipt's error for a wasm trap.
fn trapped(
    trap: Trap,
    err: &wasmtime::Error,
    state: &SandboxState,
    max_wasm_stack: usize,
    limits: &Limits,
) -> Failure {
    match trap {
        Trap::StackOverflow => failure(
            ErrorCode::StackOverflow,
            format!(
                "guest overflowed its {} wasm stack",
                ByteSize(max_wasm_stack as u64)
            ),
        ),
        Trap::OutOfFuel => failure(
            ErrorCode::CpuLimitExceeded,
            format!(
                "guest used its whole CPU budget of {} fuel",
                limits.fuel.unwrap_or(0)
            ),
        ),
        Trap::Interrupt => deadline_exceeded(limits.timeout).into(),
        trap => root_cause(state).unwrap_or_else(|| Failure {
            code: ErrorCode::Trap,
            message: trap.to_string(),
            backtrace: backtrace(err),
            exception: None,
        }),
    }
}

/// A guest that fails after a refused growth or a failed host call failed because of the first of
/// them.
fn root_cause(state: &SandboxState) -> Option<Failure> {
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
}

fn backtrace(err: &wasmtime::Error) -> Option<String> {
    err.downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| bt.to_string())
        .filter(|bt| !bt.trim().is_empty())
}

/// The code of an instantiation failure wasmtime reports only as text: the one place capsa reads
/// wasmtime's messages (wasmtime 48.0.8).
///
/// - `resource limit exceeded`: more instances, tables or memories than `ResourceLimiter::instances`
///   and friends allow. The limiter only gives counts and has no refusal hook, so the refusal comes
///   back as this message. Pinned by `tests/all/regression.rs`
///   `the_instance_limit_is_enforced`.
/// - `mmap failed`: the host could not reserve a sandbox's memory (on-demand allocation under a small
///   `ulimit -v`): the host's fault, not the guest's.
fn wasmtime_error_code(message: &str) -> Option<ErrorCode> {
    if message.contains("resource limit exceeded") {
        Some(ErrorCode::MemoryLimitExceeded)
    } else if message.contains("mmap failed") {
        Some(ErrorCode::Internal)
    } else {
        None
    }
}
