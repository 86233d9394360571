//! What ends a call, as plain data shared by every layer: a limit the host tripped and a module
//! that misuses the string ABI, as the errors wasmtime carries up from a trap, plus the receipt
//! [`Failure`] they become.

use std::time::Duration;

use crate::error::ErrorCode;
use crate::limits::{ByteSize, HumanDuration};
use crate::receipt::Failure;

/// A limit tripped by the host (deadline, output cap, host-call cap). Raised as the trap that ends the
/// guest, and recognised again when the receipt is made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct LimitExceeded {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl LimitExceeded {
    pub(crate) fn new(code: ErrorCode, message: String) -> Self {
        LimitExceeded { code, message }
    }
}

/// A module that exports functions but not the string ABI they are called with (`docs/abi.md`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct AbiMisuse(pub(crate) String);

pub(crate) fn abi_misuse(message: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(AbiMisuse(message.into()))
}

/// The call ran past its deadline.
pub(crate) fn deadline_exceeded(timeout: HumanDuration) -> LimitExceeded {
    LimitExceeded::new(
        ErrorCode::Timeout,
        format!("call exceeded its {timeout} deadline"),
    )
}

/// The guest wrote more than its output cap.
pub(crate) fn output_exceeded(cap: ByteSize) -> LimitExceeded {
    LimitExceeded::new(
        ErrorCode::OutputLimitExceeded,
        if cap.bytes() == 0 {
            "guest wrote output, and the call allows none (output limit 0)".to_owned()
        } else {
            format!("guest wrote more than the {cap} output limit")
        },
    )
}

impl From<LimitExceeded> for Failure {
    fn from(limit: LimitExceeded) -> Failure {
        failure(limit.code, limit.message)
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn failure(code: ErrorCode, message: String) -> Failure {
    Failure {
        code,
        message,
        backtrace: None,
        exception: None,
    }
}
