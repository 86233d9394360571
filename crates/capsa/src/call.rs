//! The request of one call: stdin, arguments, limits, grants and the entry point ([`Call`]).

use std::sync::Arc;

use bytes::Bytes;

use crate::capability::Grants;
use crate::limits::Limits;
use crate::output::OutputListener;

/// Everything one call needs besides the module: input, arguments, limits, grants and what to run.
///
/// ```
/// use capsa::{Call, Grants, Limits};
/// use std::time::Duration;
///
/// let call = Call::new()
///     .stdin(r#"{"name":"ada"}"#)
///     .args(["--verbose"])
///     .limits(Limits { timeout: capsa::HumanDuration(Duration::from_secs(2)), ..Limits::default() })
///     .grants(Grants::new().env("GREETING", "hello"));
/// ```
#[derive(Clone)]
pub struct Call {
    pub(crate) stdin: Stdin,
    pub(crate) program_name: String,
    pub(crate) args: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) grants: Grants,
    pub(crate) entry: Entry,
    pub(crate) listener: Option<OutputListener>,
}

impl Default for Call {
    fn default() -> Self {
        Call {
            stdin: Stdin::Bytes(Bytes::new()),
            program_name: "main.wasm".to_owned(),
            args: Vec::new(),
            limits: Limits::default(),
            grants: Grants::default(),
            entry: Entry::Start,
            listener: None,
        }
    }
}

/// What a call runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The module's `_start` (a WASI command). The default.
    Start,
    /// An exported function, called with these arguments (`capsa call`).
    Function {
        /// The export's name.
        name: String,
        /// Its arguments.
        args: FunctionArgs,
    },
}

/// Arguments of an exported function (see `docs/abi.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionArgs {
    /// Numbers in decimal (`-3`, `2.5`, `nan`, `inf`), converted to the function's parameter types
    /// (i32, i64, f32, f64). The receipt's result is an array of the returned numbers.
    Numbers(Vec<String>),
    /// Strings, each copied into guest memory through the guest's `alloc` export and passed as an
    /// `(i32 ptr, i32 len)` pair. A function returning an `i64` returns a string packed as
    /// `ptr << 32 | len`, which the host reads and hands back to the guest's `dealloc`.
    Strings(Vec<String>),
}

impl Call {
    /// A call of `_start` with no input, no arguments, default limits and no grants.
    pub fn new() -> Self {
        Call::default()
    }

    /// The guest's stdin. Over [`Limits::max_stdin`] the call fails with `input_limit_exceeded`
    /// before it starts.
    pub fn stdin(mut self, stdin: impl Into<Bytes>) -> Self {
        self.stdin = Stdin::Bytes(stdin.into());
        self
    }

    /// The guest's stdin, read from `reader` as the guest asks for it: a guest that never reads does not
    /// wait for it, a blocked read ends at the deadline, and a byte past [`Limits::max_stdin`] ends
    /// the call with `input_limit_exceeded`. Only the first sandbox a call opens reads the stream.
    pub fn stdin_stream(
        mut self,
        reader: impl tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
    ) -> Self {
        self.stdin = Stdin::Stream(Arc::new(std::sync::Mutex::new(Some(Box::new(reader)))));
        self
    }

    /// The guest's stdin, as set by [`Call::stdin`] (empty for [`Call::stdin_stream`]).
    pub fn stdin_bytes(&self) -> &[u8] {
        match &self.stdin {
            Stdin::Bytes(bytes) => bytes,
            Stdin::Stream(_) => &[],
        }
    }

    /// `argv[0]` as the guest sees it. By default `main.wasm`.
    pub fn program_name(mut self, name: impl Into<String>) -> Self {
        self.program_name = name.into();
        self
    }

    /// The guest's arguments after `argv[0]`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The call's limits. By default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What the guest may reach. By default nothing.
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Calls an exported function instead of `_start`.
    pub fn function(mut self, name: impl Into<String>, args: FunctionArgs) -> Self {
        self.entry = Entry::Function {
            name: name.into(),
            args,
        };
        self
    }

    /// Sees each chunk of stdout/stderr as the guest writes it, e.g. to stream it to a terminal or a
    /// client. The receipt still holds the whole output (up to the cap).
    ///
    /// The listener runs on the guest's thread, inside its write: it must not block (hand the bytes to
    /// a channel), or the guest waits with it, past its deadline.
    pub fn on_output(mut self, listener: OutputListener) -> Self {
        self.listener = Some(listener);
        self
    }
}

/// A call's stdin: bytes given up front, or a stream read as the guest asks.
#[derive(Clone)]
pub(crate) enum Stdin {
    Bytes(Bytes),
    Stream(Arc<std::sync::Mutex<Option<StdinReader>>>),
}

pub(crate) type StdinReader = Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>;
