//! capsa's language runtimes, one descriptor each: what the runtime is (its bytes, their digest and
//! how it is pre-initialised), and the policy the host applies to it (which of its answers it is
//! trusted with, whether it makes bytecode, how a REPL knows a cell is complete). Nothing else in
//! the library asks which language a runtime is for.
//!
//! - JavaScript (and TypeScript, once stripped): QuickJS-ng (`guests/js`), a wasm32-wasip1 module,
//!   pre-initialised with wizer on first use (about a second, once per cache).
//! - Python: CPython (`guests/python`), a component componentize-py built and pre-initialised with
//!   the promised standard library at build time.
//!
//! Both are embedded in the library (build.rs), compiled into the artifact cache like any module, and
//! kept by the engine for its life under their digest. Scripts talk to them with the typed protocol
//! of `capsa_wire::protocol` through their `run` export.

use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use crate::cache::Digest;
use crate::engine::Engine;
use crate::error::{ErrorCode, Result};
use crate::lang::scan;
use crate::module::Module;
use crate::receipt::Evidence;

/// A language runtime.
pub(crate) struct Runtime {
    /// For people: "JavaScript", "Python".
    pub(crate) name: &'static str,
    /// How the runtime was made; with its bytes' SHA-256 it names the runtime in the artifact cache.
    kind: &'static str,
    /// The runtime as built by `make guests`.
    wasm: &'static [u8],
    /// The SHA-256 of `wasm`, in hex (computed by build.rs).
    wasm_sha256: &'static str,
    preinit: Preinit,
    /// Whether the runtime's answers are taken as they are. A runtime the script cannot reach (Rust
    /// and C) may be; one written in the script's own language, in the same interpreter, may not: its
    /// claims count only with the host's evidence ([`Runtime::believed`]).
    trusted: bool,
    /// Whether the runtime compiles cells to bytecode (`Session::compile`).
    pub(crate) bytecode: bool,
    /// Whether a session's state can be captured (`Session::snapshot`): a core module whose state
    /// between calls is its memory and exported globals (`wizer::check_capturable`).
    pub(crate) snapshots: bool,
    /// Whether scripts can reach files (WASI filesystem), so a session mounts its files at `/work`.
    pub(crate) files: bool,
    /// Exception messages get the `Uncaught ` prefix (JavaScript's way; Python prints
    /// `ZeroDivisionError: division by zero`).
    pub(crate) uncaught_prefix: bool,
    /// Whether a REPL should read another line before evaluating this input.
    pub(crate) is_incomplete: fn(&str) -> bool,
    digest: OnceLock<Digest>,
}

/// How a runtime is brought to the state a sandbox starts in.
enum Preinit {
    /// Its `wizer-initialize` runs on the host on first use, and its memory is snapshotted.
    Wizer,
    /// It was pre-initialised when it was built.
    AtBuild,
}

/// QuickJS-ng, for JavaScript and TypeScript.
pub(crate) static JAVASCRIPT: Runtime = Runtime {
    name: "JavaScript",
    kind: "capsa-js/wizer-48.0.8/2",
    wasm: include_bytes!(env!("CAPSA_JS_RUNTIME_WASM")),
    wasm_sha256: env!("CAPSA_JS_RUNTIME_WASM_SHA256"),
    preinit: Preinit::Wizer,
    trusted: true,
    bytecode: true,
    snapshots: true,
    // QuickJS as capsa builds it has no file API: a JavaScript session's files are the host's.
    files: false,
    uncaught_prefix: true,
    is_incomplete: |input| scan::scan(input, usize::MAX).open,
    digest: OnceLock::new(),
};

/// CPython.
pub(crate) static PYTHON: Runtime = Runtime {
    name: "Python",
    kind: "capsa-python/componentize-py-0.25.1/1",
    wasm: include_bytes!(env!("CAPSA_PYTHON_RUNTIME_WASM")),
    wasm_sha256: env!("CAPSA_PYTHON_RUNTIME_WASM_SHA256"),
    preinit: Preinit::AtBuild,
    trusted: false,
    bytecode: false,
    snapshots: false,
    files: true,
    uncaught_prefix: false,
    is_incomplete: scan::python_open,
    digest: OnceLock::new(),
};

impl Runtime {
    /// Names the pre-initialised runtime in the artifact cache and in the engine: how it was made and
    /// its bytes.
    pub(crate) fn digest(&self) -> &Digest {
        self.digest.get_or_init(|| {
            let mut hasher = Sha256::new();
            hasher.update(self.kind.as_bytes());
            hasher.update([0]);
            hasher.update(self.wasm_sha256.as_bytes());
            hasher.finalize().into()
        })
    }

    /// The runtime, pre-initialised: what capsa compiles and caches.
    pub(crate) fn wasm(&self) -> Result<Vec<u8>> {
        match self.preinit {
            Preinit::Wizer => crate::lang::wizer::preinitialize(self.wasm),
            Preinit::AtBuild => Ok(self.wasm.to_vec()),
        }
    }

    /// The runtime module of `engine`: kept by the engine, from the artifact cache, or compiled now.
    pub(crate) fn module(&'static self, engine: &Engine) -> Result<Module> {
        engine.pinned(self.digest(), || {
            let module = Module::from_source(engine, *self.digest(), &|| self.wasm())?;
            module.keep_standby(true);
            Ok(module)
        })
    }

    /// Whether `engine` has the runtime compiled already, so the first script will not wait for it.
    pub(crate) fn is_ready(&self, engine: &Engine) -> bool {
        engine.inner.cache.contains(self.digest())
    }

    /// The code an answer of this runtime claims, if the host believes it; `guest_exception`
    /// otherwise. An untrusted runtime's claims of running out of memory or of a host call's failure
    /// count only when the host saw the refused growth or the failed call. What a program may say
    /// about itself (its exit code, its own recursion error) needs no evidence.
    pub(crate) fn believed(&self, claimed: ErrorCode, evidence: &Evidence) -> ErrorCode {
        if self.trusted {
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
}
