//! The connection layer: HTTP/1.1 with header limits, client and write timeouts, a cap on open
//! connections, lingering close, the starting phase, and graceful shutdown.
//!
//! - hyper answers a request line plus headers larger than `max_header_bytes`, or with more than
//!   `max_headers` headers, with `431`, and closes a connection that has not sent its headers within
//!   the client timeout.
//! - A response write (a body, an event stream) that makes no progress for `write_timeout`, because
//!   the client does not read, fails the connection: its request's future is dropped, which cancels
//!   the guest, as a client that disconnects does.
//! - At most `max_connections` connections are open; one more is answered `503 busy` and closed.
//! - Every connection closes lingering: the gateway stops writing, then reads and discards what the
//!   client still sends for a moment, so a client that is still sending a body the gateway refused
//!   early (`413`) reads the answer instead of a reset.
//! - While the gateway starts (compiles its routes and plugins), [`Listener::while_starting`]
//!   already answers `/healthz`, and `/readyz` and every other path with `503` and what is still
//!   compiling.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use crate::api::{ClientAddr, router};
use crate::config::ServerConfig;
use crate::gateway::Gateway;
use crate::startup::Startup;

/// hyper's smallest read buffer.
const MIN_BUF: usize = 8192;

/// How long a closing connection keeps reading what its client still sends.
const LINGER: Duration = Duration::from_secs(2);

/// The most a closing connection reads and discards.
const LINGER_BYTES: usize = 16 << 20;

/// A listening socket with the gateway's connection limits.
pub struct Listener {
    listener: TcpListener,
    /// One permit per open connection.
    slots: Arc<Semaphore>,
    /// Refusals being written (bounded, so a flood of refused connections costs little).
    refusals: Arc<Semaphore>,
    server: ServerConfig,
}

/// An accepted connection, holding its slot until it is closed.
struct Accepted {
    stream: Arc<TcpStream>,
    addr: SocketAddr,
    slot: OwnedSemaphorePermit,
}

impl Listener {
    /// Wraps `listener` with the limits of `server` (`[server]` of capsa.toml).
    pub fn new(listener: TcpListener, server: &ServerConfig) -> Listener {
        Listener {
            listener,
            slots: Arc::new(Semaphore::new(server.max_connections)),
            refusals: Arc::new(Semaphore::new(server.max_connections.clamp(16, 256))),
            server: server.clone(),
        }
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// What the socket says.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves the starting phase until `starting` (the gateway being made) resolves, and gives its
    /// output: `/healthz` is `200`, `/readyz` is `503` with what `startup` says is still compiling,
    /// and any other request is `503 busy`. Each of these connections closes after one answer.
    pub async fn while_starting<T>(
        &self,
        startup: &Arc<Startup>,
        starting: impl Future<Output = T>,
    ) -> T {
        let app = crate::startup::router(startup.clone());
        let mut http = self.http();
        http.keep_alive(false);
        tokio::pin!(starting);
        loop {
            tokio::select! {
                accepted = self.accept() => {
                    let app = app.clone();
                    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        app.clone().oneshot(request.map(Body::new))
                    });
                    let io = Io::new(accepted.stream.clone(), self.server.write_timeout.0);
                    let connection = http.serve_connection(TokioIo::new(io), service);
                    tokio::spawn(close_after(accepted, connection));
                }
                made = &mut starting => return made,
            }
        }
    }

    /// The next connection under the cap. One over it is refused in the background.
    async fn accept(&self) -> Accepted {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    return Accepted {
                        stream: Arc::new(stream),
                        addr,
                        slot,
                    };
                }
                Err(_) => {
                    tracing::warn!(client = %addr, max_connections = self.server.max_connections, "connection refused: too many open connections");
                    if let Ok(permit) = self.refusals.clone().try_acquire_owned() {
                        tokio::spawn(refuse(stream, self.server.max_connections, permit));
                    }
                }
            }
        }
    }

    fn http(&self) -> hyper::server::conn::http1::Builder {
        let server = &self.server;
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
        http
    }
}

/// Serves `gateway` on `listener` until `shutdown` resolves, then stops accepting and waits up to the
/// shutdown grace for in-flight requests.
///
/// # Errors
///
/// None yet: accept errors are logged and retried. (The result leaves room for listener errors
/// that end serving.)
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let listener = Listener::new(listener, &gateway.server);
    serve_on(gateway, listener, shutdown).await
}

/// [`serve`] on a [`Listener`] that may have served the starting phase.
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_on(
    gateway: Arc<Gateway>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = router(gateway.clone());
    let http = listener.http();
    let graceful = GracefulShutdown::new();
    if let Some(plugins) = &gateway.plugins {
        tracing::info!(plugins = ?plugins.names(), "plugins loaded");
        crate::plugins::Plugins::watch(&gateway);
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let app = app.clone();
                let addr = accepted.addr;
                let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ClientAddr(addr));
                    app.clone().oneshot(request.map(Body::new))
                });
                let io = Io::new(accepted.stream.clone(), listener.server.write_timeout.0);
                let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
                tokio::spawn(close_after(accepted, connection));
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

/// Runs `connection` to its end, then closes the socket lingering and frees the slot.
async fn close_after<E: std::fmt::Display>(
    accepted: Accepted,
    connection: impl Future<Output = Result<(), E>>,
) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, client = %accepted.addr, "connection ended with an error");
    }
    linger(&accepted.stream).await;
    drop(accepted.slot);
}

/// Stops writing, then reads and discards what the client still sends, until it closes its side,
/// [`LINGER`] has passed or [`LINGER_BYTES`] were read. Closing a socket with unread bytes resets
/// the connection, and a reset can destroy an answer the client has not read yet.
async fn linger(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut discarded = 0;
    let mut buf = [0u8; 16 * 1024];
    while discarded < LINGER_BYTES {
        let Ok(Ok(())) = tokio::time::timeout_at(deadline, stream.readable()).await else {
            return;
        };
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Answers a connection over the cap with `503 busy` and closes it.
async fn refuse(stream: TcpStream, max_connections: usize, _permit: OwnedSemaphorePermit) {
    let body = serde_json::json!({"error": {
        "code": "busy",
        "message": format!("too many open connections (the gateway's cap is {max_connections}); retry later"),
    }})
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nx-capsa-outcome: busy\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // A new socket's send buffer holds a few hundred bytes at once.
    let _ = stream.try_write(response.as_bytes());
    linger(&stream).await;
}

/// A connection's socket as hyper reads and writes it, with the write timeout. Shared with the
/// task that closes it lingering after hyper is done with it.
struct Io {
    stream: Arc<TcpStream>,
    write_timeout: Duration,
    /// Armed while a write waits on the client; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Io {
    fn new(stream: Arc<TcpStream>, write_timeout: Duration) -> Io {
        Io {
            stream,
            write_timeout,
            stalled: None,
        }
    }

    /// One write through `write` once the socket is writable; an error once writes have made no
    /// progress for the write timeout.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.stream.poll_write_ready(cx) {
                Poll::Ready(Ok(())) => match write(&self.stream) {
                    Ok(n) => {
                        self.stalled = None;
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                },
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let timeout = self.write_timeout;
                    let stall = self
                        .stalled
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    ready!(stall.as_mut().poll(cx));
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the client read nothing for {timeout:?}"),
                    )));
                }
            }
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |stream| stream.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |stream| stream.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match socket2::SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}
