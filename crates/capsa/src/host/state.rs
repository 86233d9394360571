//! The data of a sandbox's store, and the WASI and `wasi:http` views wasmtime reaches it through.

use std::sync::{Arc, OnceLock};

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::{HostCalls, Limiter, wasi_context};
use crate::call::Call;
use crate::error::Result;
use crate::mount::Protected;
use crate::outcome::LimitExceeded;
use crate::output::Capture;

/// The data of a sandbox's store.
pub(crate) struct SandboxState {
    pub(crate) wasi: WasiP1Ctx,
    /// `wasi:http` state of a component (its resources live in the WASI resource table).
    pub(crate) http: WasiHttpCtx,
    pub(crate) limiter: Limiter,
    pub(crate) host: HostCalls,
    pub(crate) capture: Capture,
    /// The stdin limit, once the guest read past it (set by the stdin stream, outside the store).
    pub(crate) stdin_over: Arc<OnceLock<LimitExceeded>>,
}

impl SandboxState {
    /// The state of a new store for `call`: its WASI context (stdin, arguments, env, mounts, with
    /// output into `capture`), its limiter and its host-call table, whose calls run on `runtime`.
    /// `protected` is what no mount may overlap (the artifact cache).
    ///
    /// # Errors
    ///
    /// `invalid_input` for a directory grant that cannot be mounted.
    pub(crate) fn new(
        call: &Call,
        capture: &Capture,
        protected: Option<&Protected>,
        runtime: tokio::runtime::Handle,
    ) -> Result<SandboxState> {
        let limits = &call.limits;
        let stdin_over = Arc::new(OnceLock::new());
        Ok(SandboxState {
            wasi: wasi_context(call, capture, protected, &stdin_over)?,
            http: WasiHttpCtx::new(),
            limiter: Limiter::new(limits),
            host: HostCalls::new(
                call.grants.clone(),
                runtime,
                limits.max_host_calls,
                limits.max_egress.bytes(),
            ),
            capture: capture.clone(),
            stdin_over,
        })
    }
}

impl wasmtime_wasi::WasiView for SandboxState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

impl WasiHttpView for SandboxState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let wasi = wasmtime_wasi::WasiView::ctx(&mut self.wasi);
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: wasi.table,
            // Outgoing requests go through the call's HTTP grant and host-call caps
            // (`capability::http::outgoing`).
            hooks: &mut self.host,
        }
    }
}
