//! How the guest part of a call failed, mapped to the receipt's error, exit code and result.

use serde_json::Value;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use crate::error::ErrorCode;
use crate::host::SandboxState;
use crate::limits::{ByteSize, Limits};
use crate::outcome::{AbiMisuse, LimitExceeded, failure};
use crate::receipt::Failure;

/// Why the guest part of a call failed.
pub(crate) enum Failed {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

/// Maps how the guest failed to the receipt's error, exit code and result.
pub(super) fn classify(
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
                ByteSize(max_wasm_stack as u64)
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
