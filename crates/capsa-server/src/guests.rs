//! The guest runtime: a tokio runtime of its own, sized to the cores (`[server] guest_threads`), on
//! which every guest runs (routes, the registry, run-now, session execs, MCP). The runtime that
//! accepts connections and parses HTTP only waits for results, so a flood of CPU-bound guests cannot
//! delay an accept, a header read or a `/healthz`. Admission and backpressure are unchanged: they
//! decide before a guest gets here.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use capsa::ErrorCode;
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::ApiError;

/// Where guests run. Dropping it stops the runtime's threads without waiting for them (its tasks are
/// owned by the requests that wait for them, which have ended by then).
pub struct Guests {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Guests {
    /// A runtime of `threads` worker threads named `capsa-guest`.
    ///
    /// # Errors
    ///
    /// `internal` when the threads cannot be started.
    pub fn new(threads: usize) -> Result<Guests, ApiError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("capsa-guest")
            .enable_all()
            .build()
            .map_err(|e| ApiError::internal(format!("cannot start the guest runtime: {e}")))?;
        let handle = runtime.handle().clone();
        Ok(Guests {
            runtime: Some(runtime),
            handle,
        })
    }

    /// Runs `guest` on the guest runtime and waits for it. Dropping the returned future (a client
    /// that went away) cancels the guest, as it would if it ran here.
    ///
    /// # Errors
    ///
    /// `internal` when the guest's task panicked or the runtime is shutting down.
    pub async fn run<T: Send + 'static>(
        &self,
        guest: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ApiError> {
        AbortOnDrop(self.handle.spawn(guest))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the guest's task ended: {e}")))
    }
}

impl Drop for Guests {
    fn drop(&mut self) {
        // `Runtime`'s own drop blocks, which is not allowed inside another runtime (a gateway is
        // dropped in one).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A task that is cancelled when whoever waits for it stops waiting.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_guest_runs_on_its_own_threads() {
        let guests = Guests::new(1).unwrap();
        let name = guests
            .run(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("capsa-guest"));
    }

    #[tokio::test]
    async fn a_dropped_wait_cancels_the_guest() {
        let guests = Guests::new(1).unwrap();
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        let wait = guests.run(async move {
            // Held until the task is dropped: then `receiver` sees the sender gone.
            let _sender = sender;
            std::future::pending::<()>().await;
        });
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), wait).await;
        assert!(timed_out.is_err());
        assert!(receiver.await.is_err(), "the guest's task was dropped");
    }

    #[tokio::test]
    async fn a_panicking_guest_is_an_internal_error() {
        let guests = Guests::new(1).unwrap();
        let err = guests
            .run(async { panic!("guest task") })
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
    }
}
