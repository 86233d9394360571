//! A starting gateway: what it still compiles, and what it answers meanwhile.
//!
//! `capsa serve` listens before it compiles its routes and plugins, so that a load balancer or a
//! test sees the process up at once (`/healthz`) and not ready (`/readyz`) until it is, however
//! long compiling takes on a busy machine.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::error::ApiError;

/// The progress of a gateway's start: the things it compiles, and which are done.
#[derive(Debug, Default)]
pub struct Startup {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Still to do, in order.
    pending: Vec<String>,
    done: usize,
}

impl Startup {
    /// Adds `what` (e.g. `route /hello`) to the things still to do.
    pub(crate) fn expect(&self, what: impl Into<String>) {
        self.lock().pending.push(what.into());
    }

    /// `what` is done, after `began`: logs it with how far the start is.
    pub(crate) fn finished(&self, what: &str, began: Instant) {
        let (done, total) = {
            let mut state = self.lock();
            // One entry: two routes may have the same path.
            if let Some(at) = state.pending.iter().position(|p| p == what) {
                state.pending.remove(at);
            }
            state.done += 1;
            (state.done, state.done + state.pending.len())
        };
        tracing::info!(elapsed = ?began.elapsed(), "compiled {what} ({done} of {total})");
    }

    /// `/readyz` of a starting gateway.
    fn report(&self) -> serde_json::Value {
        let state = self.lock();
        json!({
            "status": "starting",
            "done": state.done,
            "total": state.done + state.pending.len(),
            "compiling": state.pending,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a starting gateway serves: `/healthz` is up, `/readyz` is `503` with the progress, and
/// anything else is `503 busy` (with `Retry-After`).
pub(crate) fn router(startup: Arc<Startup>) -> Router {
    let readyz = {
        let startup = startup.clone();
        move || async move {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(startup.report()),
            )
                .into_response()
        }
    };
    Router::new()
        .route("/healthz", get(crate::api::healthz))
        .route("/readyz", get(readyz))
        .fallback(move || async move { starting(&startup) })
}

fn starting(startup: &Startup) -> Response {
    let state = startup.lock();
    let total = state.done + state.pending.len();
    ApiError::busy(format!(
        "the gateway is starting: {} of {total} routes and plugins still compiling",
        state.pending.len()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_routes_of_one_path_count_as_two() {
        let startup = Startup::default();
        startup.expect("route /a");
        startup.expect("route /a");
        startup.finished("route /a", Instant::now());
        let report = startup.report();
        assert_eq!(report["done"], 1);
        assert_eq!(report["total"], 2);
        assert_eq!(report["compiling"], json!(["route /a"]));
    }
}
