//! capsa runs untrusted WebAssembly fast and safely: every call gets a **fresh sandbox** with hard
//! limits on time, CPU, memory, stack and output, and reaches nothing outside it unless granted.
//!
//! The flow is `source → compiled artifact → sandbox → receipt`:
//!
//! - an [`Engine`] holds the wasmtime configuration (pooling allocator, copy-on-write memory images,
//!   epoch deadlines, optional fuel) and a cache of compiled artifacts, in memory and on disk;
//! - [`Engine::load`] turns `.wasm`/`.wat` bytes into a [`Module`], compiling at most once per content
//!   hash and engine configuration;
//! - [`Module::run`] runs a [`Call`] (stdin, args, [`Limits`], [`Grants`], entry point) in a new
//!   store and instance, and returns a [`Receipt`]: outcome, exit code, output, result and [`Stats`];
//! - [`Module::handle`] calls a module as an HTTP handler with a request context, including
//!   `wasi:http/proxy` components built by any toolchain ([`Module::is_http_proxy`]);
//! - a [`Session`] keeps one JavaScript, TypeScript or Python sandbox across evaluations, with its own
//!   files ([`Session::write_file`]); [`Session::snapshot`] captures a JavaScript session as a
//!   [`Snapshot`] that [`Engine::fork`] starts new sessions from (`docs/sessions.md`).
//!
//! Guests reach the host only through what the call grants: env vars, mounted directories and named
//! [`HostFunctions`] behind capsa's host-call ABI (`docs/abi.md`).
//!
//! # Example
//!
//! ```
//! use capsa::{Call, Engine, ErrorCode, Limits, ByteSize};
//!
//! # fn main() -> Result<(), capsa::Error> {
//! let engine = Engine::builder().cache_dir(None).build()?;
//!
//! // A WASI command that echoes stdin to stdout would normally come from a file; this one loops forever.
//! let module = engine.load(br#"(module (func (export "_start") (loop (br 0))))"#)?;
//! let limits = Limits { timeout: "50ms".parse()?, ..Limits::default() };
//! let receipt = module.run(Call::new().limits(limits))?;
//! assert_eq!(receipt.code(), Some(ErrorCode::Timeout));
//!
//! // The same engine keeps serving after a limit was hit.
//! let add = engine.load(br#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#)?;
//! let receipt = add.run(Call::new().function("add", capsa::FunctionArgs::Numbers(vec!["2".into(), "40".into()])))?;
//! assert_eq!(receipt.result, Some(serde_json::json!([42])));
//! # let _ = ByteSize::mib(1);
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Problems of the caller's making (a module that does not load, a bad argument) are [`Error`]s with a
//! stable [`ErrorCode`]. Everything the guest does, including every limit it hits, ends in a receipt
//! whose [`Receipt::error`] carries the same codes.

#![deny(missing_docs)]

// The layers, bottom to top; a module imports only its own layer and those below it (checked by
// `tests/all/layers.rs`). The README's layout table says the same.
//
// L0 vocabulary: plain data.
mod error;
mod limits;
mod outcome;
mod receipt;
// L1 artifacts, the host filesystem and output capture.
mod cache;
mod compile;
mod files;
mod mount;
mod output;
// L2 policy: what a call may reach, and the request of one call.
mod call;
mod capability;
// L3 the host side of the store: state, limiter, host calls, and what a guest can import.
mod host;
// L4 compile: the engine and its modules.
mod engine;
mod module;
// L5 run: one call in one store, and each guest kind's entry.
mod sandbox;
// L6 language front ends.
mod lang;
// L7 entry points for the fuzz targets (fuzz/): parsers of every layer, reached without a sandbox.
#[doc(hidden)]
pub mod fuzzing;

pub use cache::ArtifactSource;
pub use call::{Call, Entry, FunctionArgs};
pub use capability::{DirGrant, Grants, HostError, HostFunctions, HostResult, http, kv};
pub use compile::CompileLimits;
pub use engine::{DEFAULT_MAX_WASM_STACK, Engine, EngineBuilder, StandbyLimits};
pub use error::{Error, ErrorCode, Result};
pub use files::FileEntry;
pub use lang::{
    Compiled, Language, Program, Rejections, Script, Session, SessionStats, Snapshot, SnapshotKey,
};
pub use limits::{ByteSize, HumanDuration, LimitOverrides, Limits};
pub use module::Module;
pub use output::{OutputListener, Stream};
pub use receipt::{Exception, Failure, LogLine, Receipt, Stats, Truncated};
