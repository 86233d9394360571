//! Python: capsa's CPython runtime (`guests/python`), a component that componentize-py builds and
//! pre-initialises with the promised standard library. Embedded in the library and compiled into the
//! artifact cache on first use (a few seconds, once per cache); scripts run on it through
//! [`Script`](crate::Script) (`lang::script`) with the same JSON protocol as JavaScript.

use crate::cache::Digest;
use crate::engine::Engine;
use crate::error::Result;
use crate::lang::Language;
use crate::module::Module;

/// The runtime component as built by `make guests` (see build.rs).
static RUNTIME_WASM: &[u8] = include_bytes!(env!("CAPSA_PYTHON_RUNTIME_WASM"));

/// Names the runtime in the artifact cache, with its bytes.
const RUNTIME_KIND: &str = "capsa-python/componentize-py-0.25.1/1";

pub(crate) fn runtime_digest() -> &'static Digest {
    static DIGEST: std::sync::OnceLock<Digest> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| {
        crate::lang::runtime_digest(RUNTIME_KIND, env!("CAPSA_PYTHON_RUNTIME_WASM_SHA256"))
    })
}

/// The Python runtime of `engine`: from its memory, from the artifact cache, or compiled now.
pub(crate) fn runtime(engine: &Engine) -> Result<Module> {
    engine.language_runtime(Language::Python, || {
        Module::from_source(engine, *runtime_digest(), &|| Ok(RUNTIME_WASM.to_vec()))
    })
}

/// The runtime component's bytes (already pre-initialised at build time).
pub(crate) fn component() -> &'static [u8] {
    RUNTIME_WASM
}
