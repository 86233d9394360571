//! The connection layer: HTTP/1.1 with header limits and client timeouts, and graceful shutdown.
//!
//! hyper answers a request line plus headers larger than `max_header_bytes`, or with more than
//! `max_headers` headers, with `431`, and closes a connection that has not sent its headers within
//! the client timeout. A client that disconnects drops its request's future, which cancels the guest.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::api::{ClientAddr, router};
use crate::gateway::Gateway;

/// hyper's smallest read buffer.
const MIN_BUF: usize = 8192;

/// Serves `gateway` on `listener` until `shutdown` resolves, then stops accepting and waits up to the
/// shutdown grace for in-flight requests.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = router(gateway.clone());
    let server = &gateway.server;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(server.client_timeout.0)
        .max_buf_size(
            usize::try_from(server.max_header_bytes.bytes())
                .unwrap_or(usize::MAX)
                .max(MIN_BUF),
        )
        .max_headers(server.max_headers)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    if let Some(plugins) = &gateway.plugins {
        tracing::info!(plugins = ?plugins.names(), "plugins loaded");
        crate::plugins::Plugins::watch(&gateway);
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ClientAddr(addr));
                    app.clone().oneshot(request.map(Body::new))
                });
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, client = %addr, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight calls");
    let grace = gateway.shutdown_grace();
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "shutdown grace over; closing the remaining connections"),
    }
    Ok(())
}
