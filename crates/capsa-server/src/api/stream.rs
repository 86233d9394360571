//! Server-sent events (SPEC §8 streaming): `stdout`/`stderr` events as the guest writes, then one
//! `result` event with the receipt. Each event's data is one JSON value: the output chunk as a JSON
//! string (so line breaks and carriage returns arrive exactly as written), the receipt as an object.
//!
//! The call runs in its own task, which is aborted (and the guest with it) when the client goes away.
//! Output waiting for a slow client is kept in one buffer that merges consecutive writes to the same
//! stream, so it never holds more than the call's output cap, however small the guest's writes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use capsa::{OutputListener, Receipt, Stream};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::admission::Ticket;
use crate::error::ApiError;
use crate::function::Function;
use crate::gateway::{Gateway, Input};

/// Aborts the call's task when the response stream is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the call produced and the client has not been sent yet.
#[derive(Default)]
struct Pending {
    output: VecDeque<(Stream, Vec<u8>)>,
    /// The `result` event's data, once the call ended.
    result: Option<String>,
}

struct Shared {
    pending: Mutex<Pending>,
    ready: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
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
    stream(move |listener| async move {
        gateway
            .run(
                ticket,
                &function,
                input,
                Some(listener),
                trace_parent.as_deref(),
            )
            .await
    })
}

/// Streams what `run` writes to the listener it is given, then its receipt (or its error body), as
/// server-sent events. `run` is aborted when the client goes away.
pub(crate) fn stream<F, Fut>(run: F) -> Response
where
    F: FnOnce(OutputListener) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Receipt, ApiError>> + Send + 'static,
{
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        ready: Notify::new(),
    });
    let output = shared.clone();
    let listener: OutputListener = Arc::new(move |stream, bytes: &[u8]| {
        let mut pending = output.lock();
        match pending.output.back_mut() {
            Some((last, buffer)) if *last == stream => buffer.extend_from_slice(bytes),
            _ => pending.output.push_back((stream, bytes.to_vec())),
        }
        drop(pending);
        output.ready.notify_one();
    });
    let done = shared.clone();
    let task = tokio::spawn(async move {
        let result = run(listener).await;
        let data = match result {
            Ok(receipt) => serde_json::to_string(&receipt).unwrap_or_default(),
            Err(e) => e.body().to_string(),
        };
        done.lock().result = Some(data);
        done.ready.notify_one();
    });
    let state = (shared, Some(AbortOnDrop(task)));
    let stream = futures_util::stream::unfold(state, |(shared, task)| async move {
        // `None` for the task: the result was sent, the stream ends.
        let task = task?;
        loop {
            let next = {
                let mut pending = shared.lock();
                match pending.output.pop_front() {
                    Some((stream, bytes)) => Some((output_event(stream, &bytes), false)),
                    // Output first: the result comes last, after everything the guest wrote.
                    None => pending
                        .result
                        .take()
                        .map(|data| (Event::default().event("result").data(data), true)),
                }
            };
            match next {
                Some((event, last)) => {
                    let task = if last { None } else { Some(task) };
                    return Some((Ok::<_, Infallible>(event), (shared, task)));
                }
                // `notify_one` keeps a permit when nobody waits: no wake-up is lost.
                None => shared.ready.notified().await,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn output_event(stream: Stream, bytes: &[u8]) -> Event {
    let name = match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    let text = Value::String(String::from_utf8_lossy(bytes).into_owned());
    Event::default().event(name).data(text.to_string())
}
