//! Scripts: source code run by one of capsa's language runtimes (JavaScript, TypeScript, Python) in
//! fresh sandboxes.
//!
//! A script call is one call of the runtime's `run` export with a typed request
//! (`capsa_wire::protocol`); its answer becomes the receipt's result or `guest_exception`. The
//! runtimes speak the same protocol, and what differs between them is in their descriptor
//! (`lang::runtime`), so everything here is the same for all of them.

use std::borrow::Cow;
use std::sync::Arc;

use capsa_wire::protocol::{self, Answer, Op, Request, Source, Text};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::call::Call;
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::lang::Language;
use crate::lang::runtime::Runtime;
use crate::lang::typescript::{self, SourceMap};
use crate::module::Module;
use crate::receipt::{Exception, Failure, Receipt};
use crate::sandbox::{Prepared, run_prepared};

/// What a script does with unhandled promise rejections left when the call ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rejections {
    /// Print `Uncaught (in promise) …` on stderr; the call still succeeds. The default.
    #[default]
    Warn,
    /// Fail the call with `guest_exception`, like an uncaught exception.
    Error,
}

/// A JavaScript, TypeScript or Python program, ready to run in fresh sandboxes.
///
/// Cheap to clone. Get one from [`Engine::script`].
///
/// ```no_run
/// use capsa::{Call, Engine, Language};
///
/// # fn main() -> Result<(), capsa::Error> {
/// let engine = Engine::builder().build()?;
/// let script = engine.script(Language::JavaScript, "main.js", "const xs = [1, 2, 3]; xs.map(x => x * 2)")?;
/// let receipt = script.run(Call::new())?;
/// assert_eq!(receipt.result, Some(serde_json::json!([2, 4, 6])));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Script {
    pub(crate) runtime: Module,
    pub(crate) inner: Arc<ScriptInner>,
}

#[derive(Clone)]
pub(crate) struct ScriptInner {
    pub(crate) language: Language,
    pub(crate) file: String,
    /// JavaScript: the source itself, or the TypeScript source with its types stripped.
    pub(crate) code: String,
    pub(crate) is_module: bool,
    pub(crate) source_map: Option<SourceMap>,
    pub(crate) rejections: Rejections,
    /// `code` as a JSON string, escaped once here rather than in every request.
    code_json: Arc<RawValue>,
    /// The runtime the script runs on.
    descriptor: &'static Runtime,
}

impl Script {
    pub(crate) fn new(
        engine: &Engine,
        language: Language,
        file: &str,
        source: &str,
    ) -> Result<Script> {
        let (code, is_module, source_map) = match language {
            Language::JavaScript => (
                source.to_owned(),
                typescript::javascript_is_module(source, file),
                None,
            ),
            Language::Python => (source.to_owned(), false, None),
            Language::TypeScript => {
                let stripped = typescript::strip(source, file)?;
                (stripped.code, stripped.is_module, Some(stripped.source_map))
            }
            Language::Wasm => return Err(Error::invalid_input(super::NOT_A_SCRIPT)),
        };
        let descriptor = language
            .runtime_descriptor()
            .ok_or_else(|| Error::invalid_input(super::NOT_A_SCRIPT))?;
        let code_json = serde_json::value::to_raw_value(&code)
            .map_err(|e| Error::internal(format!("cannot encode the script: {e}")))?;
        let inner = ScriptInner {
            language,
            file: file.to_owned(),
            code,
            is_module,
            source_map,
            rejections: Rejections::Warn,
            code_json: code_json.into(),
            descriptor,
        };
        Ok(Script {
            runtime: descriptor.module(engine)?,
            inner: Arc::new(inner),
        })
    }

    /// The same script, treating unhandled promise rejections as `rejections` says.
    pub fn rejections(mut self, rejections: Rejections) -> Script {
        Arc::make_mut(&mut self.inner).rejections = rejections;
        self
    }

    /// The script's language.
    pub fn language(&self) -> Language {
        self.inner.language
    }

    /// Whether the script is an ES module: it has `import`/`export` declarations, or is a `.mjs`
    /// file (`.cjs` never is).
    pub fn is_module(&self) -> bool {
        self.inner.is_module
    }

    /// The JavaScript that runs: the source, or the TypeScript source with its types stripped.
    pub fn code(&self) -> &str {
        &self.inner.code
    }

    /// Runs the script in a fresh sandbox, blocking the current thread. The receipt's result is the
    /// value of the script's last expression statement, as JSON.
    ///
    /// # Errors
    ///
    /// As [`Module::run`]: only problems of the caller's making.
    pub fn run(&self, call: Call) -> Result<Receipt> {
        self.runtime.block_on(self.run_async(call))
    }

    /// Runs the script in a fresh sandbox. As [`Module::run_async`].
    ///
    /// # Errors
    ///
    /// As [`Script::run`].
    pub async fn run_async(&self, call: Call) -> Result<Receipt> {
        let request = self.request(&call, None)?;
        self.call(call, request).await
    }

    /// Runs the script as a handler (SPEC §2): evaluates it, then calls its `handler(request)` or
    /// `export default { fetch(request) }` with the request context. The receipt's result is the
    /// response: `{"status", "headers", "body" | "body_base64"}`.
    ///
    /// # Errors
    ///
    /// As [`Script::run`].
    pub fn handle(&self, request: &Value, call: Call) -> Result<Receipt> {
        self.runtime.block_on(self.handle_async(request, call))
    }

    /// As [`Script::handle`], in an async runtime.
    ///
    /// # Errors
    ///
    /// As [`Script::run`].
    pub async fn handle_async(&self, context: &Value, call: Call) -> Result<Receipt> {
        let request = self.request(&call, Some(context))?;
        self.call(call, request).await
    }

    /// The runtime request: `eval`, or `handler` with the request context.
    fn request(&self, call: &Call, context: Option<&Value>) -> Result<String> {
        let inner = &self.inner;
        let source = Source {
            code: Text::Escaped(&inner.code_json),
            file: Cow::Borrowed(&inner.file),
            module: inner.is_module,
            rejections: match inner.rejections {
                Rejections::Warn => protocol::Rejections::Warn,
                Rejections::Error => protocol::Rejections::Error,
            },
        };
        let op = match context {
            None => Op::Eval(source),
            Some(context) => Op::Handler {
                source,
                request: Cow::Borrowed(context),
            },
        };
        encode_request(&Request {
            op,
            memory_limit: Some(call.limits.memory.bytes()),
        })
    }

    async fn call(&self, call: Call, request: String) -> Result<Receipt> {
        let mut receipt = run_prepared(&self.runtime, call, Prepared::runtime(request)).await?;
        apply_answer(
            &mut receipt,
            self.inner.descriptor,
            self.inner.source_map.as_ref(),
        );
        Ok(receipt)
    }
}

/// A request as the JSON text the runtime's `run` export takes.
pub(crate) fn encode_request(request: &Request<'_>) -> Result<String> {
    serde_json::to_string(request)
        .map_err(|e| Error::internal(format!("cannot encode a runtime request: {e}")))
}

/// Turns the runtime's JSON answer, which the sandbox put in `receipt.result`, into the receipt's
/// result or error. Returns the answer's other fields (e.g. `bytecode`).
pub(crate) fn apply_answer(
    receipt: &mut Receipt,
    runtime: &Runtime,
    source_map: Option<&SourceMap>,
) -> Answer {
    let answer = receipt.result.take();
    if receipt.error.is_some() {
        // A limit or a trap ended the call; the runtime had no say.
        return Answer::default();
    }
    let text = match answer {
        Some(Value::String(text)) => Some(text),
        _ => None,
    };
    // A result nested too deep is the script's doing, whichever runtime let it through (JavaScript's
    // checks, Python's leaves it here), and past 127 levels the parser would not read it at all. (The
    // answer wraps the result in one more level.)
    if text.as_deref().is_some_and(|t| {
        capsa_wire::protocol::json_depth(t.as_bytes()) > capsa_wire::protocol::MAX_RESULT_DEPTH + 1
    }) {
        receipt.error = Some(Failure {
            code: ErrorCode::GuestException,
            message: capsa_wire::protocol::too_deep_message(),
            backtrace: None,
            exception: None,
        });
        receipt.exit_code = None;
        return Answer::default();
    }
    let answer: Option<Answer> = text.as_deref().and_then(|t| serde_json::from_str(t).ok());
    let Some(mut answer) = answer else {
        // From a runtime the script cannot reach this is a host bug. From one the script can rewrite
        // it is the script's doing, and a tenant must not be able to raise the operator's `internal`.
        let code = runtime.believed(ErrorCode::Internal, &receipt.evidence);
        receipt.error = Some(Failure {
            code,
            message: format!("the {} runtime returned no answer", runtime.name),
            backtrace: None,
            exception: None,
        });
        receipt.exit_code = None;
        return Answer::default();
    };
    if answer.ok {
        receipt.result = answer.result.take().filter(|r| !r.is_null());
        receipt.exit_code = Some(0);
        return answer;
    }
    let thrown = answer.error.clone().unwrap_or_default();
    let exception = Exception {
        name: thrown.name,
        message: thrown.message,
        stack: match source_map {
            Some(map) => map.rewrite_stack(&thrown.stack),
            None => thrown.stack,
        },
        syntax: thrown.syntax,
    };
    // An uncaught host-call error keeps the host's code (`capability_denied`, …): that is the root
    // cause, as for any guest (docs/abi.md).
    let claimed = thrown
        .code
        .as_deref()
        .or(answer.code.as_deref())
        .and_then(ErrorCode::from_name)
        .unwrap_or(ErrorCode::GuestException);
    let code = runtime.believed(claimed, &receipt.evidence);
    let prefix = if !runtime.uncaught_prefix {
        ""
    } else if answer.unhandled_rejection {
        "Uncaught (in promise) "
    } else {
        "Uncaught "
    };
    let message = match code {
        ErrorCode::Exit => format!("script exited with code {}", exception.message),
        ErrorCode::MemoryLimitExceeded => {
            "the script ran out of memory under the sandbox's memory limit".to_owned()
        }
        _ => format!("{prefix}{}: {}", exception.name, exception.message),
    };
    // `sys.exit(n)` ends the call as a process exit does.
    receipt.exit_code = answer
        .exit_code
        .and_then(|c| i32::try_from(c).ok())
        .filter(|_| code == ErrorCode::Exit);
    receipt.error = Some(Failure {
        code,
        message,
        backtrace: None,
        exception: (code != ErrorCode::Exit).then_some(exception),
    });
    answer
}
