//! Server-sent events (SPEC §8 streaming): `stdout`/`stderr` events as the guest writes, then one
//! `result` event with the receipt. Each event's data is one JSON value: the output chunk as a JSON
//! string (so line breaks and carriage returns arrive exactly as written), the receipt as an object.
//!
//! Bytes that are not UTF-8 go as `stdout_base64`/`stderr_base64` events (base64 in a JSON string), and
//! a character split across two writes is sent whole.
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
                let running = pending.result.is_none();
                match pending.output.pop_front() {
                    Some((stream, bytes)) => {
                        // A character split between two writes can wait for its rest (which the
                        // guest's next write to the same stream appends) while the call runs and
                        // nothing else is queued behind it.
                        let may_wait = running && pending.output.is_empty();
                        let (event, rest) = next_output(stream, bytes, may_wait);
                        if let Some(rest) = rest {
                            pending.output.push_front((stream, rest));
                        }
                        event.map(|event| (event, false))
                    }
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

/// The next event of an output chunk, and what is left of it: the longest UTF-8 prefix as
/// `stdout`/`stderr` (the text as a JSON string); bytes that are not UTF-8 as
/// `stdout_base64`/`stderr_base64` (base64 in a JSON string, as the receipt has `stdout_base64`), so
/// that no byte is replaced; nothing yet for an incomplete character at the end when `may_wait`.
fn next_output(stream: Stream, bytes: Vec<u8>, may_wait: bool) -> (Option<Event>, Option<Vec<u8>>) {
    let event = |base64: bool, chunk: &[u8]| {
        let (name, data) = match (stream, base64) {
            (Stream::Stdout, false) => ("stdout", String::from_utf8_lossy(chunk).into_owned()),
            (Stream::Stderr, false) => ("stderr", String::from_utf8_lossy(chunk).into_owned()),
            (Stream::Stdout, true) => ("stdout_base64", capsa_wire::bytes::base64_encode(chunk)),
            (Stream::Stderr, true) => ("stderr_base64", capsa_wire::bytes::base64_encode(chunk)),
        };
        Event::default()
            .event(name)
            .data(Value::String(data).to_string())
    };
    let rest = |at: usize| (at < bytes.len()).then(|| bytes[at..].to_vec());
    match std::str::from_utf8(&bytes) {
        Ok(_) => (Some(event(false, &bytes)), None),
        Err(e) if e.valid_up_to() > 0 => {
            let valid = e.valid_up_to();
            (Some(event(false, &bytes[..valid])), rest(valid))
        }
        // An incomplete character and nothing after it.
        Err(e) if e.error_len().is_none() && may_wait => (None, Some(bytes)),
        Err(e) => {
            let invalid = e.error_len().unwrap_or(bytes.len());
            (Some(event(true, &bytes[..invalid])), rest(invalid))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(stream: Stream, bytes: &[u8], may_wait: bool) -> (Option<String>, Option<Vec<u8>>) {
        let (event, rest) = next_output(stream, bytes.to_vec(), may_wait);
        (event.map(|e| format!("{e:?}")), rest)
    }

    #[test]
    fn output_becomes_text_and_base64_events_without_losing_a_byte() {
        let (event, rest) = names(Stream::Stdout, "a€".as_bytes(), true);
        assert!(event.unwrap().contains("stdout"));
        assert_eq!(rest, None);
        // An incomplete character waits for its rest while the call runs ...
        let (event, rest) = names(Stream::Stdout, &[b'a', 0xe2, 0x82], true);
        assert!(event.unwrap().contains("stdout"));
        assert_eq!(rest, Some(vec![0xe2, 0x82]));
        assert_eq!(
            names(Stream::Stdout, &[0xe2, 0x82], true),
            (None, Some(vec![0xe2, 0x82]))
        );
        // ... and goes as base64 once it cannot complete.
        let (event, rest) = names(Stream::Stderr, &[0xe2, 0x82], false);
        assert!(event.unwrap().contains("stderr_base64"));
        assert_eq!(rest, None);
        let (event, rest) = names(Stream::Stdout, &[0xff, b'o', b'k'], true);
        assert!(event.unwrap().contains("stdout_base64"));
        assert_eq!(rest, Some(b"ok".to_vec()));
    }
}
