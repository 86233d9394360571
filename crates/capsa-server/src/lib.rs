//! The capsa gateway (`capsa serve`, SPEC §8): an HTTP serverless server over capsa's fresh sandboxes.
//!
//! - [`config`]: the `capsa.toml` file;
//! - [`Gateway`]: the shared state (engine, store, routes, plugins, admission, metrics, auth) and the
//!   one path every call takes;
//! - `api`: the endpoints: configured routes, the registry, `/run/…`, `/v1/run`, `/execute/…`,
//!   server-sent events and the operations endpoints;
//! - [`guests`]: the runtime guests run on, apart from the one serving HTTP;
//! - [`Sessions`]: live sessions (`/v1/sessions`), usable without HTTP;
//! - [`mcp`]: the MCP tools, for `capsa mcp` (stdio) and `/mcp` (streamable HTTP);
//! - [`serve`]: the connection layer with its limits and graceful shutdown; [`Listener`] and
//!   [`Startup`]: listening before the routes are compiled, with `/readyz` saying what is left.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = capsa_server::config::Config::parse("[[route]]\npath = \"/hi\"\nfunction = \"hello.js\"")?;
//! let engine = capsa::Engine::builder().cpu_budget(true).build()?;
//! let gateway = capsa_server::Gateway::new(&config, engine).await.map_err(|e| e.message)?;
//! let listener = tokio::net::TcpListener::bind(config.listen()).await?;
//! capsa_server::serve(gateway, listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod admission;
mod api;
mod auth;
pub mod config;
mod context;
pub mod error;
mod function;
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
pub mod guests;
pub mod mcp;
mod metrics;
mod plugins;
mod routes;
mod server;
pub mod sessions;
mod startup;
mod telemetry;

pub use api::openapi_document;
pub use error::ApiError;
pub use function::Function;
pub use function::{GrantSpec, LimitOverrides};
pub use gateway::{Gateway, Metadata, Route, RouteTarget};
pub use server::{Listener, serve, serve_on};
pub use sessions::{CreateSession, ForkSession, SessionInfo, Sessions, SnapshotInfo};
pub use startup::Startup;
