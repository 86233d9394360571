//! The host side of a sandbox's store: its data ([`SandboxState`]), the resource limiter, the
//! host-call table, and everything a guest can import. [`Linkers::new`] is the one place that says
//! what that is:
//!
//! - core modules: WASI preview 1 (with `path_symlink` checked, `wasi`) and capsa's host-call ABI,
//!   the `capsa` import module (`abi`, `docs/abi.md`);
//! - components: WASI 0.2 (with `symlink-at` checked), `wasi:http` (outgoing requests through the
//!   call's HTTP grant, `outgoing`) and the same ABI as `capsa:runtime/host`.
//!
//! What a call may reach is decided one layer down, in `crate::capability`; this layer only wires
//! those grants into wasmtime.

mod abi;
mod calls;
mod limiter;
mod outgoing;
mod state;
mod wasi;

pub(crate) use calls::HostCalls;
pub(crate) use limiter::Limiter;
pub(crate) use state::SandboxState;
use wasi::wasi_context;

use crate::error::{Error, Result};

/// The linkers of one engine: what core modules and components can import.
pub(crate) struct Linkers {
    pub(crate) core: wasmtime::Linker<SandboxState>,
    pub(crate) component: wasmtime::component::Linker<SandboxState>,
}

impl Linkers {
    /// Links everything a guest can import into linkers for `engine`.
    pub(crate) fn new(engine: &wasmtime::Engine) -> Result<Linkers> {
        let link_error =
            |e: wasmtime::Error| Error::internal(format!("cannot link host functions: {e:#}"));
        let mut core = wasmtime::Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut core, |s: &mut SandboxState| &mut s.wasi)
            .and_then(|()| wasi::guard_symlinks(&mut core))
            .and_then(|()| wasi::exit_with_any_status(&mut core))
            .and_then(|()| abi::add_to_linker(&mut core))
            .map_err(link_error)?;
        let mut component = wasmtime::component::Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut component)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut component))
            .and_then(|()| wasi::guard_component_symlinks(&mut component))
            .and_then(|()| abi::add_to_component_linker(&mut component))
            .map_err(link_error)?;
        Ok(Linkers { core, component })
    }
}
