//! Capture of a guest's stdout, stderr and log lines under one shared byte cap.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::outcome::LimitExceeded;
use crate::receipt::{LogLine, Truncated};

/// Which output a chunk was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// A callback that sees each chunk of output as the guest writes it (after the cap is applied).
pub type OutputListener = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

/// What a call wrote, shared between the WASI streams, the log host function and the receipt.
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<CaptureInner>>,
}

#[derive(Default)]
pub(crate) struct CaptureInner {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) truncated: Truncated,
    /// Set once the cap was exceeded: the call ends with `output_limit_exceeded`.
    pub(crate) exceeded: bool,
    used: u64,
    cap: u64,
}

impl Capture {
    pub(crate) fn new(cap: u64) -> Capture {
        let inner = CaptureInner {
            cap,
            ..CaptureInner::default()
        };
        Capture {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Everything captured so far, leaving the capture empty for the next call in the same sandbox
    /// (with a cap of `cap`).
    pub(crate) fn take(&self, cap: u64) -> CaptureInner {
        std::mem::replace(
            &mut *self.lock(),
            CaptureInner {
                cap,
                ..CaptureInner::default()
            },
        )
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, CaptureInner> {
        // A poisoned lock only means another thread panicked mid-write; the bytes are still valid.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `bytes` to `stream`, keeping what fits under the cap. `Err` when the cap was exceeded.
    fn write(
        &self,
        stream: Stream,
        bytes: &[u8],
        listener: Option<&OutputListener>,
    ) -> Result<(), LimitExceeded> {
        let mut inner = self.lock();
        let room = inner.cap.saturating_sub(inner.used);
        let keep = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let kept = &bytes[..keep];
        inner.used += keep as u64;
        match stream {
            Stream::Stdout => inner.stdout.extend_from_slice(kept),
            Stream::Stderr => inner.stderr.extend_from_slice(kept),
        }
        let over = keep < bytes.len();
        if over {
            match stream {
                Stream::Stdout => inner.truncated.stdout = true,
                Stream::Stderr => inner.truncated.stderr = true,
            }
            inner.exceeded = true;
        }
        let cap = inner.cap;
        drop(inner);
        if let (Some(listener), false) = (listener, kept.is_empty()) {
            listener(stream, kept);
        }
        if over {
            return Err(output_exceeded(cap));
        }
        Ok(())
    }

    /// Records a guest log line; it counts against the same cap as stdout and stderr, plus a fixed
    /// charge per line so a flood of empty lines is bounded too.
    pub(crate) fn log(&self, level: &'static str, message: &[u8]) -> Result<(), LimitExceeded> {
        let mut inner = self.lock();
        let size = LOG_LINE_CHARGE + message.len() as u64;
        if inner.used.saturating_add(size) > inner.cap {
            inner.truncated.logs = true;
            inner.exceeded = true;
            return Err(output_exceeded(inner.cap));
        }
        inner.used += size;
        inner.logs.push(LogLine {
            level,
            message: String::from_utf8_lossy(message).into_owned(),
        });
        Ok(())
    }

    /// A WASI stdout/stderr stream writing into this capture.
    pub(crate) fn stream(&self, stream: Stream, listener: Option<OutputListener>) -> GuestOutput {
        GuestOutput {
            capture: self.clone(),
            stream,
            listener,
        }
    }
}

fn output_exceeded(cap: u64) -> LimitExceeded {
    crate::outcome::output_exceeded(crate::limits::ByteSize(cap))
}

/// One of the guest's output streams. Writes beyond the cap keep what fits and then trap the guest, so
/// a flooding guest ends at once instead of spinning until its deadline.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    capture: Capture,
    stream: Stream,
    listener: Option<OutputListener>,
}

/// Bytes of the output cap each log line costs on top of its text: about what the line costs the host.
pub(crate) const LOG_LINE_CHARGE: u64 = 64;

/// Largest write permit handed to the guest at once; bounds the host's buffer per write.
const WRITE_PERMIT: usize = 64 * 1024;

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.capture
            .write(self.stream, &bytes, self.listener.as_ref())
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Poll::Ready(
            this.capture
                .write(this.stream, buf, this.listener.as_ref())
                .map(|()| buf.len())
                .map_err(io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn output_beyond_the_cap_is_cut_and_marked() {
        let capture = Capture::new(10);
        capture.write(Stream::Stdout, b"12345", None).unwrap();
        capture.write(Stream::Stderr, b"abc", None).unwrap();
        let err = capture.write(Stream::Stdout, b"6789", None).unwrap_err();
        assert_eq!(err.code, ErrorCode::OutputLimitExceeded);
        let inner = capture.lock();
        assert_eq!(inner.stdout, b"1234567");
        assert_eq!(inner.stderr, b"abc");
        assert!(inner.truncated.stdout && !inner.truncated.stderr && inner.exceeded);
    }

    #[test]
    fn logs_share_the_cap() {
        let capture = Capture::new(2 * LOG_LINE_CHARGE + 8);
        capture.log("info", b"hello").unwrap();
        capture.log("info", b"").unwrap();
        assert!(capture.log("info", b"world").is_err());
        let inner = capture.lock();
        assert_eq!(inner.logs.len(), 2);
        assert!(inner.truncated.logs);
    }
}
