//! Stable error codes and the library's error type.

use std::fmt;

/// A stable, snake_case error code (SPEC §4). Every failure capsa reports carries exactly one.
///
/// The string form ([`ErrorCode::as_str`]) is part of capsa's public contract: it appears in receipts,
/// in `error[code]: …` lines of the CLI and in HTTP error bodies, and never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The call ran past its wall-clock deadline.
    Timeout,
    /// The call used up its CPU budget (fuel).
    CpuLimitExceeded,
    /// The guest asked for more linear memory (or table space, or instances) than its limit allows.
    MemoryLimitExceeded,
    /// The guest exhausted its wasm stack.
    StackOverflow,
    /// The guest wrote more than the output cap to stdout, stderr and the log together.
    OutputLimitExceeded,
    /// The guest made more host calls, or sent more bytes through them, than its limits allow.
    HostCallLimitExceeded,
    /// The call's stdin is larger than its `max_stdin` limit.
    InputLimitExceeded,
    /// A session's files (its `/work` directory) would pass, or passed, the session's `max_files`
    /// limit.
    FilesLimitExceeded,
    /// Compiling the code would pass a compilation limit (module size, functions, nesting, data,
    /// source size, compile deadline), so it was not compiled.
    CompileLimitExceeded,
    /// The guest trapped (unreachable, out-of-bounds access, division by zero, …).
    Trap,
    /// The guest exited with a non-zero exit code.
    Exit,
    /// A JavaScript or Python exception escaped the guest.
    GuestException,
    /// The guest reached for something that was not granted.
    CapabilityDenied,
    /// A host function or capability failed on the host side.
    HostError,
    /// The code is not a module capsa can run (bad bytes, unknown imports, a precompiled artifact).
    InvalidModule,
    /// The caller's input is malformed (a bad flag value, a missing export, a bad argument).
    InvalidInput,
    /// A file, function or version does not exist.
    NotFound,
    /// The request conflicts with the current state.
    Conflict,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// The request body is larger than allowed.
    PayloadTooLarge,
    /// No capacity is free right now; try again later.
    Busy,
    /// A bug or an environment failure inside capsa itself.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::Timeout,
        ErrorCode::CpuLimitExceeded,
        ErrorCode::MemoryLimitExceeded,
        ErrorCode::StackOverflow,
        ErrorCode::OutputLimitExceeded,
        ErrorCode::HostCallLimitExceeded,
        ErrorCode::InputLimitExceeded,
        ErrorCode::FilesLimitExceeded,
        ErrorCode::CompileLimitExceeded,
        ErrorCode::Trap,
        ErrorCode::Exit,
        ErrorCode::GuestException,
        ErrorCode::CapabilityDenied,
        ErrorCode::HostError,
        ErrorCode::InvalidModule,
        ErrorCode::InvalidInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unauthorized,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Busy,
        ErrorCode::Internal,
    ];

    /// Whether the code is one of the limits of SPEC §3 (deadline, CPU, memory, stack, output, host
    /// calls): the guest was stopped from outside, wherever it was.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            ErrorCode::Timeout
                | ErrorCode::CpuLimitExceeded
                | ErrorCode::MemoryLimitExceeded
                | ErrorCode::StackOverflow
                | ErrorCode::OutputLimitExceeded
                | ErrorCode::HostCallLimitExceeded
        )
    }

    /// The code named `name` (as [`ErrorCode::as_str`] spells it).
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
    }

    /// The stable snake_case name of the code, e.g. `"memory_limit_exceeded"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::CpuLimitExceeded => "cpu_limit_exceeded",
            ErrorCode::MemoryLimitExceeded => "memory_limit_exceeded",
            ErrorCode::StackOverflow => "stack_overflow",
            ErrorCode::OutputLimitExceeded => "output_limit_exceeded",
            ErrorCode::HostCallLimitExceeded => "host_call_limit_exceeded",
            ErrorCode::InputLimitExceeded => "input_limit_exceeded",
            ErrorCode::FilesLimitExceeded => "files_limit_exceeded",
            ErrorCode::CompileLimitExceeded => "compile_limit_exceeded",
            ErrorCode::Trap => "trap",
            ErrorCode::Exit => "exit",
            ErrorCode::GuestException => "guest_exception",
            ErrorCode::CapabilityDenied => "capability_denied",
            ErrorCode::HostError => "host_error",
            ErrorCode::InvalidModule => "invalid_module",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
        }
    }

    /// The process exit status the `capsa` CLI uses for this code (documented in `docs/errors.md`).
    ///
    /// A call whose outcome is [`ErrorCode::Exit`] exits with the guest's own code instead; this
    /// method returns 1 for it. Statuses follow `sysexits.h` for caller errors and `128 + signal` for the
    /// limits that have a Unix counterpart (SIGKILL for memory, SIGSEGV for stack, SIGXCPU, SIGXFSZ).
    pub fn exit_status(self) -> i32 {
        match self {
            ErrorCode::Exit => 1,
            ErrorCode::GuestException => 71,
            ErrorCode::InvalidInput => 64,
            ErrorCode::InvalidModule => 65,
            ErrorCode::NotFound => 66,
            ErrorCode::HostError => 69,
            ErrorCode::Internal => 70,
            ErrorCode::Conflict => 73,
            ErrorCode::Busy => 75,
            ErrorCode::CapabilityDenied => 77,
            ErrorCode::Unauthorized => 78,
            ErrorCode::PayloadTooLarge => 79,
            ErrorCode::HostCallLimitExceeded => 80,
            ErrorCode::InputLimitExceeded => 81,
            ErrorCode::CompileLimitExceeded => 82,
            ErrorCode::FilesLimitExceeded => 83,
            ErrorCode::Timeout => 124,
            ErrorCode::Trap => 134,
            ErrorCode::MemoryLimitExceeded => 137,
            ErrorCode::StackOverflow => 139,
            ErrorCode::CpuLimitExceeded => 152,
            ErrorCode::OutputLimitExceeded => 153,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from capsa's library API: something went wrong *before* a guest could run (the module did
/// not load, an argument was malformed, a granted directory does not exist, …).
///
/// Failures *of* a guest (traps, limits, non-zero exits) are not errors of the API: they are reported in
/// the call's [`Receipt`](crate::Receipt) with the same [`ErrorCode`]s.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    /// An error with the given code and one-line, lowercase message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidInput, message)
    }

    pub(crate) fn invalid_module(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidModule, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Internal, message)
    }
}

/// A `Result` whose error is capsa's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_snake_case_and_round_trip_through_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn limits_are_the_six_of_the_limits_table() {
        let limits: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.is_limit())
            .collect();
        assert_eq!(limits.len(), 6);
        assert!(limits.iter().all(|c| c.as_str().contains("limit")
            || matches!(c, ErrorCode::Timeout | ErrorCode::StackOverflow)));
        assert_eq!(ErrorCode::from_name("trap"), Some(ErrorCode::Trap));
        assert_eq!(ErrorCode::from_name("nope"), None);
    }

    #[test]
    fn exit_statuses_are_distinct() {
        let statuses: HashSet<i32> = ErrorCode::ALL
            .iter()
            .filter(|c| **c != ErrorCode::Exit)
            .map(|c| c.exit_status())
            .collect();
        assert_eq!(statuses.len(), ErrorCode::ALL.len() - 1);
        assert!(!statuses.contains(&0) && !statuses.contains(&1) && !statuses.contains(&2));
    }
}
