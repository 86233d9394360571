//! Scripts: source code run by one of capsa's language runtimes (JavaScript, TypeScript, Python) in
//! fresh sandboxes.
//!
//! A script call is one call of the runtime's `run` export with a JSON request (`{"op": "eval" |
//! "handler" | ..., "code", "file", ...}`); its JSON answer becomes the receipt's result or
//! `guest_exception`. The runtimes speak the same protocol, so everything here is the same for all
//! of them.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::lang::typescript::{self, SourceMap};
use crate::lang::{Language, js};
use crate::module::Module;
use crate::receipt::{Evidence, Exception, Failure, Receipt};
use crate::sandbox::{Call, FunctionArgs};

/// The export every script call goes through.
pub(crate) const RUN_EXPORT: &str = "run";

/// What a script does with unhandled promise rejections left when the call ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rejections {
    /// Print `Uncaught (in promise) …` on stderr; the call still succeeds. The default.
    #[default]
    Warn,
    /// Fail the call with `guest_exception`, like an uncaught exception.
    Error,
}

/// A JavaScript or TypeScript program, ready to run in fresh sandboxes.
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
    /// The part of every runtime request that does not change from call to call (code, file,
    /// module, rejections), as JSON object members: the source is escaped once, not per call.
    request_fields: String,
}

impl ScriptInner {
    fn encode_request_fields(&mut self) {
        let fields = json!({
            "code": self.code,
            "file": self.file,
            "module": self.is_module,
            "rejections": match self.rejections {
                Rejections::Warn => "warn",
                Rejections::Error => "error",
            },
        })
        .to_string();
        // `{…}` without its braces, to be spliced into each request.
        self.request_fields = fields[1..fields.len() - 1].to_owned();
    }
}

impl Script {
    pub(crate) fn new(
        engine: &Engine,
        language: Language,
        file: &str,
        source: &str,
    ) -> Result<Script> {
        let (code, is_module, source_map) = match language {
            Language::JavaScript => (source.to_owned(), js::looks_like_module(source), None),
            Language::Python => (source.to_owned(), false, None),
            Language::TypeScript => {
                let stripped = typescript::strip(source, file)?;
                (stripped.code, stripped.is_module, Some(stripped.source_map))
            }
            Language::Wasm => return Err(Error::invalid_input(super::NOT_A_SCRIPT)),
        };
        let mut inner = ScriptInner {
            language,
            file: file.to_owned(),
            code,
            is_module,
            source_map,
            rejections: Rejections::Warn,
            request_fields: String::new(),
        };
        inner.encode_request_fields();
        Ok(Script {
            runtime: language.runtime(engine)?,
            inner: Arc::new(inner),
        })
    }

    /// The same script, treating unhandled promise rejections as `rejections` says.
    pub fn rejections(mut self, rejections: Rejections) -> Script {
        let inner = Arc::make_mut(&mut self.inner);
        inner.rejections = rejections;
        inner.encode_request_fields();
        self
    }

    /// The script's language.
    pub fn language(&self) -> Language {
        self.inner.language
    }

    /// Whether the script is an ES module (it has `import`/`export` declarations).
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
        let request = self.request("eval", &call, None);
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
        let request = self.request("handler", &call, Some(context));
        self.call(call, request).await
    }

    /// The runtime request for `op`: the per-call members, then the script's own.
    fn request(&self, op: &str, call: &Call, context: Option<&Value>) -> String {
        let mut request = format!(
            "{{\"op\":\"{op}\",\"memory_limit\":{},",
            call.limits.memory.bytes()
        );
        if let Some(context) = context {
            request.push_str("\"request\":");
            request.push_str(&context.to_string());
            request.push(',');
        }
        request.push_str(&self.inner.request_fields);
        request.push('}');
        request
    }

    async fn call(&self, call: Call, request: String) -> Result<Receipt> {
        let call = call.function(RUN_EXPORT, FunctionArgs::Strings(vec![request]));
        let mut receipt = self.runtime.run_async(call).await?;
        apply_answer(
            &mut receipt,
            self.inner.language,
            self.inner.source_map.as_ref(),
        );
        Ok(receipt)
    }
}

/// Turns the runtime's JSON answer, which the sandbox put in `receipt.result`, into the receipt's
/// result or error. Returns the answer's other fields (e.g. `bytecode`).
pub(crate) fn apply_answer(
    receipt: &mut Receipt,
    language: Language,
    source_map: Option<&SourceMap>,
) -> Value {
    let answer = receipt.result.take();
    if receipt.error.is_some() {
        // A limit or a trap ended the call; the runtime had no say.
        return Value::Null;
    }
    let answer: Value = match answer {
        Some(Value::String(text)) => serde_json::from_str(&text).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    match answer.get("ok").and_then(Value::as_bool) {
        Some(true) => {
            receipt.result = answer.get("result").filter(|r| !r.is_null()).cloned();
            receipt.exit_code = Some(0);
        }
        Some(false) => {
            let error = answer.get("error").cloned().unwrap_or(Value::Null);
            let field = |key: &str| {
                error
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let stack = field("stack");
            let exception = Exception {
                name: field("name"),
                message: field("message"),
                stack: match source_map {
                    Some(map) => map.rewrite_stack(&stack),
                    None => stack,
                },
            };
            // An uncaught host-call error keeps the host's code (`capability_denied`, …): that is the
            // root cause, as for any guest (docs/abi.md).
            let claimed = error
                .get("code")
                .or_else(|| answer.get("code"))
                .and_then(Value::as_str)
                .and_then(ErrorCode::from_name)
                .unwrap_or(ErrorCode::GuestException);
            let code = believed(claimed, language, &receipt.evidence);
            let prefix = if language == Language::Python {
                // Python's own way: `ZeroDivisionError: division by zero`.
                ""
            } else if answer.get("unhandled_rejection").is_some() {
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
                .get("exit_code")
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok())
                .filter(|_| code == ErrorCode::Exit);
            receipt.error = Some(Failure {
                code,
                message,
                backtrace: None,
                exception: (code != ErrorCode::Exit).then_some(exception),
            });
        }
        None => {
            receipt.error = Some(Failure {
                code: ErrorCode::Internal,
                message: format!("the {language} runtime returned no answer"),
                backtrace: None,
                exception: None,
            });
            receipt.exit_code = None;
        }
    }
    answer
}

/// The code a runtime's answer claims, if the host believes it; `guest_exception` otherwise.
///
/// QuickJS's runtime is Rust and C that scripts cannot reach, so its answers are taken as they are.
/// Python's runtime is Python in the same interpreter as the script, which can rewrite it: its claims
/// of running out of memory or of a host call's failure count only when the host saw the refused
/// growth or the failed call. What a program may say about itself (its exit code, its own recursion
/// error) needs no evidence.
fn believed(claimed: ErrorCode, language: Language, evidence: &Evidence) -> ErrorCode {
    if language != Language::Python {
        return claimed;
    }
    let backed = match claimed {
        ErrorCode::GuestException | ErrorCode::Exit | ErrorCode::StackOverflow => true,
        ErrorCode::MemoryLimitExceeded => evidence.memory_denied,
        other => evidence.host_failures.contains(&other),
    };
    if backed {
        claimed
    } else {
        ErrorCode::GuestException
    }
}
