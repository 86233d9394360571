//! The receipt: what one call did and what it cost.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::error::ErrorCode;

/// The record of one finished call (SPEC §4): how it ended, what it wrote and what it cost.
///
/// A receipt is produced for every call that started, whatever the guest did; only problems of the
/// caller's own making (a module that does not load, a granted directory that does not exist) are
/// reported as [`Error`](crate::Error)s instead.
///
/// It serialises to the JSON that `capsa run --json` prints: output that is valid UTF-8 appears as
/// `stdout`/`stderr` strings, other output as `stdout_base64`/`stderr_base64`.
#[derive(Debug, Clone, Default)]
pub struct Receipt {
    /// `None` when the call succeeded, otherwise what ended it.
    pub error: Option<Failure>,
    /// The guest's exit code: 0 for a normal end, the `proc_exit` value otherwise; `None` when the
    /// guest did not exit (a trap, a limit).
    pub exit_code: Option<i32>,
    /// Everything the guest wrote to stdout, up to the output cap.
    pub stdout: Vec<u8>,
    /// Everything the guest wrote to stderr, up to the output cap.
    pub stderr: Vec<u8>,
    /// The call's JSON result: for an exported function its results (an array of numbers, or a
    /// string); for a command, its stdout when that is one JSON document.
    pub result: Option<serde_json::Value>,
    /// Which outputs were cut at the output cap.
    pub truncated: Truncated,
    /// Structured log lines the guest sent through `capsa::log`.
    pub logs: Vec<LogLine>,
    /// What the call cost.
    pub stats: Stats,
    /// What the host saw happen, to check a language runtime's account of how the call ended.
    pub(crate) evidence: Evidence,
}

/// Facts only the host knows about a call. A language runtime reports how a script ended, but a
/// runtime the script can reach (Python's, written in Python) could be made to claim anything: its
/// claims of a limit or a host failure count only when these facts back them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evidence {
    /// A memory or table growth was refused.
    pub(crate) memory_denied: bool,
    /// The codes of the host calls that failed.
    pub(crate) host_failures: Vec<ErrorCode>,
}

impl Receipt {
    /// `true` when the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// `"ok"`, or the error code's name.
    pub fn outcome(&self) -> &'static str {
        self.error.as_ref().map_or("ok", |f| f.code.as_str())
    }

    /// The error code, if the call failed.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error.as_ref().map(|f| f.code)
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The stable error code.
    pub code: ErrorCode,
    /// A one-line human message.
    pub message: String,
    /// The wasm backtrace, innermost frame first, when the guest trapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<String>,
    /// The uncaught exception, when a JavaScript (or other language runtime) guest threw one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<Exception>,
}

/// An exception a script did not catch (`guest_exception`), as the language runtime described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    /// The exception's class, e.g. `TypeError`.
    pub name: String,
    /// Its message.
    pub message: String,
    /// The stack trace, innermost frame first, with line numbers of the user's source.
    pub stack: String,
    /// The program's source did not parse (a `SyntaxError` of the source itself, not one its code
    /// raised at run time, such as `JSON.parse` of bad text): nothing of it ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub syntax: bool,
}

/// Which outputs were cut at the output cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Truncated {
    /// stdout was cut.
    pub stdout: bool,
    /// stderr was cut.
    pub stderr: bool,
    /// log lines were dropped.
    pub logs: bool,
}

/// One structured log line from the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: &'static str,
    /// The message, as the guest wrote it (invalid UTF-8 replaced).
    pub message: String,
}

/// What a call cost. Times are in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Wall-clock time of the whole call, instantiation included.
    pub wall_us: u64,
    /// Time to instantiate the sandbox (allocate memory, link, run the start function).
    pub instantiate_us: u64,
    /// CPU time spent running the guest and host code on its behalf, excluding time spent waiting
    /// on host calls.
    pub cpu_us: u64,
    /// Fuel consumed, when the call had a CPU budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_used: Option<u64>,
    /// The largest total linear memory the sandbox had at any moment.
    pub memory_peak_bytes: u64,
    /// Host calls the guest started.
    pub host_calls: u64,
    /// Bytes the guest sent through host calls.
    pub egress_bytes: u64,
    /// Whether the call ran in a standby instance: one made before the call from the pristine image,
    /// that had never run code (`instantiate_us` is then 0: the instantiation was off the call's
    /// path). Only in receipts of engines that keep standby instances.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
    /// Time spent looking for a standby instance (taking one, or finding none), when the module keeps
    /// them. A call never waits for one to be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_wait_us: Option<u64>,
}

impl Serialize for Receipt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("outcome", self.outcome())?;
        if let Some(error) = &self.error {
            map.serialize_entry("error", error)?;
        }
        map.serialize_entry("exit_code", &self.exit_code)?;
        for (name, bytes) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (key, text) = capsa_wire::bytes::encode_ref(name, bytes);
            map.serialize_entry(&key, &text)?;
        }
        if let Some(result) = &self.result {
            map.serialize_entry("result", result)?;
        }
        map.serialize_entry("truncated", &self.truncated)?;
        if !self.logs.is_empty() {
            map.serialize_entry("logs", &self.logs)?;
        }
        map.serialize_entry("stats", &self.stats)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_json_has_outcome_and_base64_for_binary_output() {
        let receipt = Receipt {
            error: Some(Failure {
                code: ErrorCode::Timeout,
                message: "call exceeded its 1s deadline".into(),
                backtrace: None,
                exception: None,
            }),
            stdout: b"hi\n".to_vec(),
            stderr: vec![0xff, 0x00],
            ..Receipt::default()
        };
        let json = serde_json::to_value(&receipt).unwrap();
        assert_eq!(json["outcome"], "timeout");
        assert_eq!(json["error"]["code"], "timeout");
        assert_eq!(json["stdout"], "hi\n");
        assert_eq!(json["stderr_base64"], "/wA=");
        assert!(json.get("stderr").is_none());
        assert_eq!(json["stats"]["wall_us"], 0);
    }
}
