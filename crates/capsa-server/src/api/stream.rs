//! Server-sent events (SPEC §8 streaming): `stdout`/`stderr` events as the guest writes, then one
//! `result` event with the receipt. The call runs in its own task, which is aborted (and the guest
//! with it) when the client goes away.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use capsa::{OutputListener, Stream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::admission::Ticket;
use crate::function::Function;
use crate::gateway::{Gateway, Input};

/// Aborts the call's task when the response stream is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Streams an admitted call as server-sent events.
pub(crate) fn events(
    gateway: Arc<Gateway>,
    ticket: Ticket,
    function: Arc<Function>,
    input: Input,
    trace_parent: Option<String>,
) -> Response {
    // Unbounded, but never larger than the call's output cap plus one receipt.
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let output = tx.clone();
    let listener: OutputListener = Arc::new(move |stream, bytes: &[u8]| {
        let name = match stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        let _ = output.send(
            Event::default()
                .event(name)
                .data(String::from_utf8_lossy(bytes)),
        );
    });
    let task = tokio::spawn(async move {
        let result = gateway
            .run(
                ticket,
                &function,
                input,
                Some(listener),
                trace_parent.as_deref(),
            )
            .await;
        let data = match result {
            Ok(receipt) => serde_json::to_string(&receipt).unwrap_or_default(),
            Err(e) => e.body().to_string(),
        };
        let _ = tx.send(Event::default().event("result").data(data));
    });
    let guard = AbortOnDrop(task);
    let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), (rx, guard)))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
