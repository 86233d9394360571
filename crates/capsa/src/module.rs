//! A loaded module: compiled (or taken from the cache), linked, and ready to run in fresh sandboxes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest as _, Sha256};
use wasmtime::{ExternType, FuncType, InstancePre, Mutability, Store};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::cache::{Artifact, ArtifactSource, Digest, WasmKind, hex};
use crate::engine::{Engine, StandbyReservation};
use crate::error::{Error, Result};
use crate::host::SandboxState;

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
    /// The exported mutable globals of a core module, by name: the globals a session snapshot
    /// captures.
    mutable_globals: Vec<String>,
    /// The contents of the memory of a fresh instance (its copy-on-write image), taken once when a
    /// session snapshot first needs to compare against it.
    initial_memory: OnceLock<Arc<[u8]>>,
    /// Instances made ahead of calls, once the module keeps them ([`Module::keep_standby`]).
    pub(crate) standby: OnceLock<StandbySet>,
    /// Calls started in fresh sandboxes: traffic that makes a module hot.
    calls: AtomicU64,
}

/// An instance of a core module or of a component.
#[derive(Clone, Copy)]
pub(crate) enum Instance {
    Core(wasmtime::Instance),
    Component(wasmtime::component::Instance),
}

/// The standby instances of a module (filled, taken and sized in `sandbox::standby`).
#[derive(Default)]
pub(crate) struct StandbySet {
    pub(crate) ready: Mutex<Vec<Standby>>,
    /// A task is filling `ready`.
    pub(crate) filling: AtomicBool,
    /// The module cannot be made ahead (its instantiation runs code): no more attempts.
    pub(crate) unusable: AtomicBool,
    /// What the module's instantiation runs is capsa's own code (a language runtime's), which may
    /// run ahead of a call; a user's module is never made ahead if its instantiation runs code.
    pub(crate) trusted_start: bool,
}

/// A store with an instance of the module made from its pristine image, that has never run any code.
/// It serves one call and is then dropped like any sandbox.
pub(crate) struct Standby {
    pub(crate) store: Store<SandboxState>,
    pub(crate) instance: Instance,
    /// Its share of the engine's standby budget, given back when it is dropped.
    pub(crate) reservation: StandbyReservation,
}

/// A compiled artifact linked against the engine's host functions, ready to instantiate.
pub(crate) enum Linked {
    Core(InstancePre<SandboxState>),
    /// A component of one of capsa's language runtimes (Python), called through one
    /// `string -> string` export. A user's component is only ever an `HttpProxy`.
    Runtime(wasmtime::component::InstancePre<SandboxState>),
    /// A user's component exporting `wasi:http/incoming-handler` (the `wasi:http/proxy` world).
    HttpProxy(ProxyPre<SandboxState>),
}

impl Module {
    /// Loads code from outside: measured against the engine's compile limits before it is compiled.
    pub(crate) fn load(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        let limits = &engine.inner.compile_limits;
        limits.check_size_of_module(bytes)?;
        let digest: Digest = Sha256::digest(bytes).into();
        let binary;
        let bytes = match WasmKind::of(bytes) {
            // Text becomes binary here, so a component in text is known as one.
            WasmKind::Text => {
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
        match WasmKind::of(bytes) {
            WasmKind::Core => Module::compile(engine, digest, &source, deadline),
            WasmKind::Component => {
                Module::compile(engine, digest, &source, deadline)?.into_http_proxy()
            }
            WasmKind::Precompiled => Err(Error::invalid_module(
                "precompiled artifacts are not accepted: pass the `.wasm` or `.wat` source",
            )),
            WasmKind::Unknown | WasmKind::Text => Err(Error::invalid_module(
                "not a WebAssembly module: expected wasm binary or wat text",
            )),
        }
    }

    /// This component as a `wasi:http/proxy` handler.
    fn into_http_proxy(self) -> Result<Module> {
        let Linked::Runtime(pre) = &self.inner.linked else {
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
            mutable_globals: Vec::new(),
            initial_memory: OnceLock::new(),
            standby: OnceLock::new(),
            calls: AtomicU64::new(0),
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
        let (linked, functions, mutable_globals) = match artifact {
            Artifact::Module(module) => {
                let pre = inner
                    .linkers
                    .core
                    .instantiate_pre(&module)
                    .map_err(link_error)?;
                let functions = module
                    .exports()
                    .filter_map(|export| match export.ty() {
                        ExternType::Func(ty) => Some((export.name().to_owned(), ty)),
                        _ => None,
                    })
                    .collect();
                let mutable_globals = module
                    .exports()
                    .filter_map(|export| match export.ty() {
                        ExternType::Global(ty) if ty.mutability() == Mutability::Var => {
                            Some(export.name().to_owned())
                        }
                        _ => None,
                    })
                    .collect();
                (Linked::Core(pre), functions, mutable_globals)
            }
            Artifact::Component(component) => {
                let pre = inner
                    .linkers
                    .component
                    .instantiate_pre(&component)
                    .map_err(link_error)?;
                (Linked::Runtime(pre), Vec::new(), Vec::new())
            }
        };
        Ok(Module {
            engine: engine.clone(),
            inner: Arc::new(ModuleInner {
                linked,
                digest,
                source,
                functions,
                mutable_globals,
                initial_memory: OnceLock::new(),
                standby: OnceLock::new(),
                calls: AtomicU64::new(0),
            }),
        })
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

    /// The exported mutable globals of a core module, by name.
    pub(crate) fn mutable_globals(&self) -> &[String] {
        &self.inner.mutable_globals
    }

    /// The memory of a fresh instance, if [`Module::keep_initial_memory`] has kept it.
    pub(crate) fn initial_memory(&self) -> Option<Arc<[u8]>> {
        self.inner.initial_memory.get().cloned()
    }

    /// Keeps `memory` as the memory of a fresh instance (the first one kept wins).
    pub(crate) fn keep_initial_memory(&self, memory: Arc<[u8]>) -> Arc<[u8]> {
        self.inner.initial_memory.get_or_init(|| memory).clone()
    }

    /// From now on, keep standby instances of this module ready, as the engine's standby settings
    /// allow; `trusted_start` for capsa's own runtimes (see [`StandbySet::trusted_start`]).
    pub(crate) fn keep_standby(&self, trusted_start: bool) {
        self.inner.standby.get_or_init(|| StandbySet {
            trusted_start,
            ..StandbySet::default()
        });
    }

    /// Counts a call of the module; returns how many there were before it.
    pub(crate) fn note_call(&self) -> u64 {
        self.inner.calls.fetch_add(1, Ordering::Relaxed)
    }

    /// The module's standby instances, if it keeps them.
    pub(crate) fn standby(&self) -> Option<&StandbySet> {
        self.inner.standby.get()
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
    pub(crate) fn is_runtime_component(&self) -> bool {
        matches!(self.inner.linked, Linked::Runtime(_))
    }
}
