//! Host functions registered by the embedding program: JSON in, JSON out, sync or async.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::error::ErrorCode;

/// What a host function returns: a JSON value for the guest, or an error the guest sees.
pub type HostResult = Result<Value, HostError>;

type SyncFn = dyn Fn(Value) -> HostResult + Send + Sync;
type AsyncFn = dyn Fn(Value) -> Pin<Box<dyn Future<Output = HostResult> + Send>> + Send + Sync;

#[derive(Clone)]
pub(crate) enum Handler {
    /// Runs on the runtime's blocking thread pool, off the guest's thread; a sandbox has at most 32
    /// calls in flight.
    Sync(Arc<SyncFn>),
    /// Runs as a task on the host runtime; several may be in flight for one guest.
    Async(Arc<AsyncFn>),
}

/// A set of named host functions a guest may call (SPEC §5 "custom host functions").
///
/// Arguments and results are JSON. Synchronous functions run on a blocking thread pool; asynchronous
/// ones run as tasks, and a guest may start several and wait for them together (`call_start` /
/// `call_wait` in `docs/abi.md`). Either way the call's wall-clock deadline holds: a guest waiting on a
/// slow host function still ends at its deadline with `timeout`.
///
/// ```
/// use capsa::{HostError, HostFunctions};
/// use serde_json::json;
///
/// let functions = HostFunctions::new()
///     .sync("add", |args| {
///         let a = args["a"].as_i64().ok_or_else(|| HostError::invalid_input("`a` must be an integer"))?;
///         let b = args["b"].as_i64().ok_or_else(|| HostError::invalid_input("`b` must be an integer"))?;
///         Ok(json!(a + b))
///     })
///     .asynchronous("sleep_ms", |args| async move {
///         let ms = args.as_u64().unwrap_or(0);
///         tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
///         Ok(json!(null))
///     });
/// assert!(functions.contains("add"));
/// ```
#[derive(Clone, Default)]
pub struct HostFunctions {
    functions: Arc<HashMap<String, Handler>>,
}

impl HostFunctions {
    /// An empty set.
    pub fn new() -> Self {
        HostFunctions::default()
    }

    /// Registers a synchronous function under `name`, replacing any function of that name.
    pub fn sync<F>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(Value) -> HostResult + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.functions).insert(name.into(), Handler::Sync(Arc::new(f)));
        self
    }

    /// Registers an asynchronous function under `name`, replacing any function of that name.
    pub fn asynchronous<F, Fut>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HostResult> + Send + 'static,
    {
        let f: Arc<AsyncFn> = Arc::new(move |args| Box::pin(f(args)));
        Arc::make_mut(&mut self.functions).insert(name.into(), Handler::Async(f));
        self
    }

    /// `self` with every function of `other` added, replacing those of the same name.
    pub(crate) fn merge(mut self, other: HostFunctions) -> Self {
        let functions = Arc::make_mut(&mut self.functions);
        for (name, handler) in other.functions.iter() {
            functions.insert(name.clone(), handler.clone());
        }
        self
    }

    /// Whether a function named `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.functions.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Handler> {
        self.functions.get(name)
    }
}

impl fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// An error a host function returns to the guest. The guest receives it as
/// `{"code": "...", "message": "..."}` and may handle it; if the guest then fails, the call's outcome
/// is this error's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// `host_error` for a failure of the function, `invalid_input` for bad arguments,
    /// `capability_denied` for a refusal, or any other code that fits.
    pub code: ErrorCode,
    /// A one-line message for the guest.
    pub message: String,
}

impl HostError {
    /// A failure of the host function (`host_error`).
    pub fn new(message: impl Into<String>) -> Self {
        HostError {
            code: ErrorCode::HostError,
            message: message.into(),
        }
    }

    /// Bad arguments from the guest (`invalid_input`).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        HostError {
            code: ErrorCode::InvalidInput,
            message: message.into(),
        }
    }

    /// A refusal (`capability_denied`).
    pub fn denied(message: impl Into<String>) -> Self {
        HostError {
            code: ErrorCode::CapabilityDenied,
            message: message.into(),
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::json!({"code": self.code, "message": self.message})
            .to_string()
            .into_bytes()
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for HostError {}
