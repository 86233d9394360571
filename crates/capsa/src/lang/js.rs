//! JavaScript: capsa's QuickJS runtime (`guests/js`), embedded in the library, pre-initialised with
//! wizer on first use and compiled into the artifact cache like any module. Scripts run on it through
//! [`Script`](crate::Script) (`lang::script`); TypeScript is stripped to JavaScript first.

use crate::cache::Digest;
use crate::engine::Engine;
use crate::error::Result;
use crate::lang::Language;
use crate::module::Module;

/// The runtime as built by `make guests` (see build.rs).
static RUNTIME_WASM: &[u8] = include_bytes!(env!("CAPSA_JS_RUNTIME_WASM"));

/// Names the pre-initialised runtime in the artifact cache: the runtime's bytes and how it was
/// pre-initialised.
const RUNTIME_KIND: &str = "capsa-js/wizer-48.0.8/1";

pub(crate) fn runtime_digest() -> &'static Digest {
    static DIGEST: std::sync::OnceLock<Digest> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| {
        crate::lang::runtime_digest(RUNTIME_KIND, env!("CAPSA_JS_RUNTIME_WASM_SHA256"))
    })
}

/// The JavaScript runtime module of `engine`: from its memory, from the artifact cache, or
/// pre-initialised and compiled now (about a second, once per cache).
pub(crate) fn runtime(engine: &Engine) -> Result<Module> {
    engine.language_runtime(Language::JavaScript, || {
        Module::from_source(engine, *runtime_digest(), &preinitialized)
    })
}

/// The runtime, pre-initialised: the prelude evaluated and the context ready.
pub(crate) fn preinitialized() -> Result<Vec<u8>> {
    crate::lang::wizer::preinitialize(RUNTIME_WASM)
}

/// Whether JavaScript source is an ES module: a line starting with an `import` or `export`
/// declaration (`import(` is a dynamic import, fine in scripts).
pub(crate) fn looks_like_module(source: &str) -> bool {
    source.lines().any(|line| {
        let line = line.trim_start();
        ["import", "export"].iter().any(|keyword| {
            line.strip_prefix(keyword).is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_whitespace() || c == '{' || c == '*')
                    || (keyword == &"import" && rest.starts_with(['"', '\'']))
            })
        })
    })
}
