//! The language front ends: what turns a program's source into something a sandbox runs.
//!
//! - **wasm**: `.wasm`/`.wat` bytes compile to a [`Module`] (`crate::module`);
//! - **JavaScript**, **TypeScript** and **Python**: source becomes a [`Script`] (`script`) run by one
//!   of capsa's language runtimes, each described once in `runtime`: QuickJS (TypeScript after its
//!   types are stripped on the host, `typescript`) or CPython; `wizer` pre-initialises them and `scan`
//!   reads source just enough to tell an ES module or an unfinished REPL cell;
//! - [`Session`]: a script sandbox kept alive across evaluations (`session`).
//!
//! [`Program`] is the one type callers use when the language is only known at run time (the CLI, the
//! gateway): [`Engine::program`] picks the front end.

mod runtime;
pub(crate) mod scan;
mod script;
mod session;
mod snapshot;
pub(crate) mod typescript;
mod wizer;

use std::path::Path;

use serde_json::Value;

use crate::call::Call;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::module::Module;
use crate::receipt::Receipt;
use runtime::Runtime;

pub use script::{Rejections, Script};
pub use session::{Compiled, Session, SessionStats};
pub use snapshot::{Snapshot, SnapshotKey};

/// Why wasm has no script runtime.
const NOT_A_SCRIPT: &str = "a wasm module is not a script: use `Engine::load`";

/// A language capsa runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// WebAssembly: a binary `.wasm` or text `.wat` module.
    Wasm,
    /// JavaScript (ES2023, QuickJS-ng), `.js`/`.mjs`.
    JavaScript,
    /// TypeScript, `.ts`/`.mts`: types stripped, then run as JavaScript.
    TypeScript,
    /// Python 3.14 (CPython), `.py`.
    Python,
}

impl Language {
    /// The language a file's extension says, if it says one.
    pub fn from_path(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "wasm" | "wat" | "wast" => Some(Language::Wasm),
            "js" | "mjs" | "cjs" => Some(Language::JavaScript),
            "ts" | "mts" | "cts" => Some(Language::TypeScript),
            "py" => Some(Language::Python),
            _ => None,
        }
    }

    /// The language's runtime as the pre-initialised wasm capsa compiles and caches, e.g. to inspect
    /// it or to measure it under bare wasmtime: a core module for JavaScript and TypeScript (made on
    /// demand, about a second), a component for Python. `None` for wasm, which needs no runtime. Its
    /// `run` export takes one JSON request (`guests/js`, `guests/python`).
    ///
    /// # Errors
    ///
    /// `internal` when pre-initialisation fails.
    pub fn runtime_wasm(self) -> Result<Option<Vec<u8>>> {
        self.runtime_descriptor().map(Runtime::wasm).transpose()
    }

    /// The short name the CLI and the gateway use: `wasm`, `js`, `ts`, `py`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Wasm => "wasm",
            Language::JavaScript => "js",
            Language::TypeScript => "ts",
            Language::Python => "py",
        }
    }

    /// The runtime that runs scripts of this language; `None` for wasm.
    pub(crate) fn runtime_descriptor(self) -> Option<&'static Runtime> {
        match self {
            Language::Wasm => None,
            Language::JavaScript | Language::TypeScript => Some(&runtime::JAVASCRIPT),
            Language::Python => Some(&runtime::PYTHON),
        }
    }
}

impl std::str::FromStr for Language {
    type Err = Error;

    fn from_str(s: &str) -> Result<Language> {
        match s.to_ascii_lowercase().as_str() {
            "wasm" | "wat" => Ok(Language::Wasm),
            "js" | "javascript" => Ok(Language::JavaScript),
            "ts" | "typescript" => Ok(Language::TypeScript),
            "py" | "python" => Ok(Language::Python),
            other => Err(Error::invalid_input(format!(
                "unknown language `{other}`: expected wasm, js, ts or py"
            ))),
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A program in any language, ready to run in fresh sandboxes.
#[derive(Clone)]
pub enum Program {
    /// A WebAssembly module.
    Wasm(Module),
    /// A JavaScript, TypeScript or Python script.
    Script(Script),
}

impl Program {
    /// Runs one call in a fresh sandbox (see [`Module::run`] and [`Script::run`]).
    ///
    /// # Errors
    ///
    /// Only problems of the caller's making; everything the guest does is in the receipt.
    pub fn run(&self, call: Call) -> Result<Receipt> {
        match self {
            Program::Wasm(module) => module.run(call),
            Program::Script(script) => script.run(call),
        }
    }

    /// As [`Program::run`], in an async runtime.
    ///
    /// # Errors
    ///
    /// As [`Program::run`].
    pub async fn run_async(&self, call: Call) -> Result<Receipt> {
        match self {
            Program::Wasm(module) => module.run_async(call).await,
            Program::Script(script) => script.run_async(call).await,
        }
    }

    /// Calls the program as a handler with the request context (SPEC §2). A wasm module gets the
    /// context as JSON on stdin, a `wasi:http` component as an incoming request
    /// ([`Module::handle`]); a script's `handler(request)` gets it as an object.
    ///
    /// # Errors
    ///
    /// As [`Program::run`].
    pub fn handle(&self, context: &Value, call: Call) -> Result<Receipt> {
        match self {
            Program::Wasm(module) => module.handle(context, call),
            Program::Script(script) => script.handle(context, call),
        }
    }

    /// As [`Program::handle`], in an async runtime.
    ///
    /// # Errors
    ///
    /// As [`Program::run`].
    pub async fn handle_async(&self, context: &Value, call: Call) -> Result<Receipt> {
        match self {
            Program::Wasm(module) => module.handle_async(context, call).await,
            Program::Script(script) => script.handle_async(context, call).await,
        }
    }

    /// Whether the program is a `wasi:http/proxy` component ([`Module::is_http_proxy`]), which
    /// answers HTTP requests for itself.
    pub fn is_http_proxy(&self) -> bool {
        matches!(self, Program::Wasm(module) if module.is_http_proxy())
    }

    /// The program's language.
    pub fn language(&self) -> Language {
        match self {
            Program::Wasm(_) => Language::Wasm,
            Program::Script(script) => script.language(),
        }
    }
}

impl Engine {
    /// Prepares a JavaScript, TypeScript or Python script. `file` is the name stack traces show. The
    /// first script of a language loads its runtime: from the artifact cache, or compiled into it
    /// (once per cache: about a second for JavaScript, a few seconds for Python).
    ///
    /// # Errors
    ///
    /// `invalid_input` for a TypeScript syntax error (with its line and column) or a non-script
    /// language; `internal` when the runtime cannot be prepared.
    pub fn script(&self, language: Language, file: &str, source: &str) -> Result<Script> {
        self.inner.compile_limits.check_text(source.as_bytes())?;
        Script::new(self, language, file, source)
    }

    /// Prepares a program in `language` from its source bytes.
    ///
    /// # Errors
    ///
    /// As [`Engine::load`] and [`Engine::script`]; `invalid_input` for a script that is not UTF-8.
    pub fn program(&self, language: Language, file: &str, source: &[u8]) -> Result<Program> {
        match language {
            Language::Wasm => self.load(source).map(Program::Wasm),
            Language::JavaScript | Language::TypeScript | Language::Python => {
                let text = std::str::from_utf8(source).map_err(|e| {
                    Error::invalid_input(format!("`{file}` is not UTF-8 text: {e}"))
                })?;
                self.script(language, file, text).map(Program::Script)
            }
        }
    }

    /// Starts filling the standby set of `language`'s runtime (see
    /// [`EngineBuilder::standby`](crate::EngineBuilder::standby)) on the current tokio runtime, so
    /// that even the first calls find one. Does nothing for wasm, outside a tokio runtime, when the
    /// engine keeps no standby instances, or when the runtime is not compiled yet (it is not compiled
    /// for this).
    ///
    /// # Errors
    ///
    /// `internal` when the compiled runtime cannot be loaded.
    pub fn warm_standby(&self, language: Language) -> Result<()> {
        let Some(runtime) = language.runtime_descriptor() else {
            return Ok(());
        };
        if self.inner.standby.limits.per_module == 0 || !runtime.is_ready(self) {
            return Ok(());
        }
        crate::sandbox::refill_standby(&runtime.module(self)?);
        Ok(())
    }

    /// Whether the runtime of `language` is already compiled, in memory or in the artifact cache, so
    /// the first script will not wait for it. Always `true` for wasm.
    pub fn runtime_ready(&self, language: Language) -> bool {
        language
            .runtime_descriptor()
            .is_none_or(|runtime| runtime.is_ready(self))
    }
}
