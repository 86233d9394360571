//! A loaded module: compiled (or taken from the cache), linked, and ready to run in fresh sandboxes.

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use wasmtime::{ExternType, FuncType, InstancePre};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::cache::{Artifact, ArtifactSource, Digest, hex};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::lang::wasi_http::IncomingRequest;
use crate::receipt::Receipt;
use crate::sandbox::{self, Call, Prepared, SandboxState};

/// A WebAssembly module ready to run: compiled once, instantiated fresh for every call.
///
/// A core wasm module (a WASI command or a module of exported functions), or a `wasi:http/proxy`
/// component ([`Module::is_http_proxy`]), which is called as a handler ([`Module::handle`]).
///
/// Cheap to clone and safe to share between threads. Get one from [`Engine::load`] or
/// [`Engine::load_file`].
#[derive(Clone)]
pub struct Module {
    engine: Engine,
    inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    linked: Linked,
    digest: Digest,
    source: ArtifactSource,
    functions: Vec<(String, FuncType)>,
}

/// A compiled artifact linked against the engine's host functions, ready to instantiate.
pub(crate) enum Linked {
    Core(InstancePre<SandboxState>),
    /// A component: capsa's Python runtime. Called through one `string -> string` export.
    Component(wasmtime::component::InstancePre<SandboxState>),
    /// A user's component exporting `wasi:http/incoming-handler` (the `wasi:http/proxy` world).
    HttpProxy(ProxyPre<SandboxState>),
}

/// What the first bytes of a file say it is.
enum Kind {
    Core,
    Component,
    Precompiled,
    Text,
    Unknown,
}

fn kind(bytes: &[u8]) -> Kind {
    match bytes {
        [0x00, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00, ..] => Kind::Core,
        [0x00, b'a', b's', b'm', _, _, 0x01, 0x00, ..] => Kind::Component,
        [0x7f, b'E', b'L', b'F', ..] => Kind::Precompiled,
        _ if std::str::from_utf8(bytes).is_ok() => Kind::Text,
        _ => Kind::Unknown,
    }
}

impl Module {
    /// Loads code from outside: measured against the engine's compile limits before it is compiled.
    pub(crate) fn load(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        let limits = &engine.inner.compile_limits;
        limits.check_size_of_module(bytes)?;
        let digest: Digest = Sha256::digest(bytes).into();
        let binary;
        let bytes = match kind(bytes) {
            // Text becomes binary here, so a component in text is known as one.
            Kind::Text => {
                limits.check_text(bytes)?;
                binary = wat::parse_bytes(bytes)
                    .map_err(|e| Error::invalid_module(format!("{e}")))?
                    .into_owned();
                binary.as_slice()
            }
            _ => bytes,
        };
        let deadline = Some(limits.deadline());
        // Measured only when it is to be compiled: a cached module was measured when it was.
        let source = || {
            limits.check_module(bytes)?;
            Ok(bytes.to_vec())
        };
        match kind(bytes) {
            Kind::Core => Module::compile(engine, digest, &source, deadline),
            Kind::Component => {
                Module::compile(engine, digest, &source, deadline)?.into_http_proxy()
            }
            Kind::Precompiled => Err(Error::invalid_module(
                "precompiled artifacts are not accepted: pass the `.wasm` or `.wat` source",
            )),
            Kind::Unknown | Kind::Text => Err(Error::invalid_module(
                "not a WebAssembly module: expected wasm binary or wat text",
            )),
        }
    }

    /// This component as a `wasi:http/proxy` handler.
    fn into_http_proxy(self) -> Result<Module> {
        let Linked::Component(pre) = &self.inner.linked else {
            return Ok(self);
        };
        let proxy = ProxyPre::new(pre.clone()).map_err(|e| {
            Error::invalid_module(format!(
                "this component does not export `wasi:http/incoming-handler@0.2.x`; capsa runs \
                 components of the `wasi:http/proxy` world (other components are not supported): {e:#}"
            ))
        })?;
        let inner = ModuleInner {
            linked: Linked::HttpProxy(proxy),
            digest: self.inner.digest,
            source: self.inner.source,
            functions: Vec::new(),
        };
        Ok(Module {
            engine: self.engine,
            inner: Arc::new(inner),
        })
    }

    /// The module filed under `digest` in the artifact cache, made from `source` when it is not cached
    /// (capsa's own runtimes: no compile limits).
    pub(crate) fn from_source(
        engine: &Engine,
        digest: Digest,
        source: &dyn Fn() -> Result<Vec<u8>>,
    ) -> Result<Module> {
        Module::compile(engine, digest, source, None)
    }

    fn compile(
        engine: &Engine,
        digest: Digest,
        source: &dyn Fn() -> Result<Vec<u8>>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Module> {
        let inner = &engine.inner;
        let (artifact, source) =
            inner
                .cache
                .get_or_compile(&inner.wasmtime, &digest, source, deadline)?;
        let link_error = |e: wasmtime::Error| Error::invalid_module(format!("{e:#}"));
        let (linked, functions) = match artifact {
            Artifact::Module(module) => {
                let pre = inner.linker.instantiate_pre(&module).map_err(link_error)?;
                let functions = module
                    .exports()
                    .filter_map(|export| match export.ty() {
                        ExternType::Func(ty) => Some((export.name().to_owned(), ty)),
                        _ => None,
                    })
                    .collect();
                (Linked::Core(pre), functions)
            }
            Artifact::Component(component) => {
                let pre = inner
                    .component_linker
                    .instantiate_pre(&component)
                    .map_err(link_error)?;
                (Linked::Component(pre), Vec::new())
            }
        };
        Ok(Module {
            engine: engine.clone(),
            inner: Arc::new(ModuleInner {
                linked,
                digest,
                source,
                functions,
            }),
        })
    }

    /// Runs one call in a fresh sandbox and returns its receipt, blocking the current thread.
    ///
    /// # Errors
    ///
    /// Only for problems of the caller's making: `invalid_input` (bad arguments, a fuel budget on an
    /// engine without one, a directory that cannot be mounted, a `wasi:http` component, which is
    /// called with [`Module::handle`], or calling this from inside an async runtime, where
    /// [`Module::run_async`] is the right call), `not_found` (no such export) and `internal`.
    /// Everything the guest does, including every limit it hits, is in the receipt.
    pub fn run(&self, call: Call) -> Result<Receipt> {
        self.block_on(self.run_async(call))
    }

    /// Runs `future` to completion on the engine's runtime, for the blocking entry points.
    pub(crate) fn block_on<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::invalid_input(
                "`run` blocks the thread; inside an async runtime use `run_async`",
            ));
        }
        self.engine.runtime()?.block_on(future)
    }

    /// Runs one call in a fresh sandbox. Must be polled inside a tokio runtime with timers enabled.
    /// Dropping the future cancels the guest.
    ///
    /// # Errors
    ///
    /// As [`Module::run`].
    pub async fn run_async(&self, call: Call) -> Result<Receipt> {
        sandbox::run(self, call).await
    }

    /// Calls the module as a handler with a request context (SPEC §2, `docs/contract.md`) in a fresh
    /// sandbox, blocking the current thread.
    ///
    /// - A `wasi:http/proxy` component ([`Module::is_http_proxy`]) gets the context as a `wasi:http`
    ///   incoming request (scheme `http`, the authority from the `host` header or `localhost`, the
    ///   path and the `query` object re-encoded) and its `wasi:http/incoming-handler` is called. The
    ///   receipt's result is its response, `{"status", "headers", "body"}` (or `"body_base64"` for a
    ///   body that is not UTF-8; repeated headers joined with `, `). The body counts against
    ///   [`Limits::max_output`](crate::Limits::max_output) on its own: past it the call ends with
    ///   `output_limit_exceeded`. Outgoing requests (`wasi:http/outgoing-handler`) go out only
    ///   through the call's HTTP grant.
    /// - A core module gets the context as JSON on stdin, as [`Module::run`] with that stdin; the
    ///   call's stdin is replaced.
    ///
    /// # Errors
    ///
    /// As [`Module::run`]; `invalid_input` for a context a `wasi:http` request cannot be made of.
    pub fn handle(&self, context: &Value, call: Call) -> Result<Receipt> {
        self.block_on(self.handle_async(context, call))
    }

    /// As [`Module::handle`], in an async runtime (as [`Module::run_async`]).
    ///
    /// # Errors
    ///
    /// As [`Module::handle`].
    pub async fn handle_async(&self, context: &Value, call: Call) -> Result<Receipt> {
        if self.is_http_proxy() {
            let request = IncomingRequest::from_context(context)?;
            sandbox::run_prepared(self, call, Prepared::Http(request)).await
        } else {
            self.run_async(call.stdin(context.to_string())).await
        }
    }

    /// Whether this is a `wasi:http/proxy` component: one that exports
    /// `wasi:http/incoming-handler@0.2.x`. It runs only as a handler ([`Module::handle`]).
    pub fn is_http_proxy(&self) -> bool {
        matches!(self.inner.linked, Linked::HttpProxy(_))
    }

    /// The SHA-256 of the module's source bytes, in hex.
    pub fn digest(&self) -> String {
        hex(&self.inner.digest)
    }

    /// Where the compiled artifact came from when this module was loaded.
    pub fn artifact_source(&self) -> ArtifactSource {
        self.inner.source
    }

    /// Whether the module is a WASI command (it exports `_start`).
    pub fn is_command(&self) -> bool {
        self.function_type("_start").is_some()
    }

    /// The names of the exported functions, in export order.
    pub fn function_names(&self) -> Vec<&str> {
        self.inner
            .functions
            .iter()
            .map(|(n, _)| n.as_str())
            .collect()
    }

    pub(crate) fn function_type(&self, name: &str) -> Option<&FuncType> {
        self.inner
            .functions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ty)| ty)
    }

    pub(crate) fn from_inner(engine: &Engine, inner: Arc<ModuleInner>) -> Module {
        Module {
            engine: engine.clone(),
            inner,
        }
    }

    pub(crate) fn inner(&self) -> &Arc<ModuleInner> {
        &self.inner
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linked(&self) -> &Linked {
        &self.inner.linked
    }

    /// Whether this is a component of a language runtime, not a core module or a user's component.
    pub(crate) fn is_component(&self) -> bool {
        matches!(self.inner.linked, Linked::Component(_))
    }
}
