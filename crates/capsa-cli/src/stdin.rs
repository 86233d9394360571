//! The process's stdin for a guest: streamed as the guest reads it, or read up front for `--handler`
//! within the call's deadline and stdin cap.

use std::io::Read;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

use capsa::{ByteSize, Error, ErrorCode, HumanDuration};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes a reader thread hands over at a time.
const CHUNK: usize = 64 * 1024;

/// The process's stdin as an async stream. Nothing is read until the guest reads: a guest that never
/// reads stdin never waits for it. The reading happens on a thread of its own, one chunk ahead of the
/// guest at most; the thread is left behind when the process exits.
#[derive(Default)]
pub struct ProcessStdin {
    chunks: Option<tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ProcessStdin {
    fn start() -> std::io::Result<tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>> {
        let (send, receive) = tokio::sync::mpsc::channel(1);
        std::thread::Builder::new()
            .name("capsa-stdin".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                loop {
                    let mut chunk = vec![0; CHUNK];
                    let read = match stdin.read(&mut chunk) {
                        Ok(0) => return,
                        Ok(n) => {
                            chunk.truncate(n);
                            Ok(chunk)
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => Err(e),
                    };
                    let failed = read.is_err();
                    if send.blocking_send(read).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(receive)
    }
}

impl AsyncRead for ProcessStdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while this.at == this.chunk.len() {
            if this.chunks.is_none() {
                this.chunks = Some(ProcessStdin::start()?);
            }
            let Some(chunks) = this.chunks.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match chunks.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // The thread is done: end of stdin.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(chunk))) => {
                    this.chunk = chunk;
                    this.at = 0;
                }
            }
        }
        let n = buf.remaining().min(this.chunk.len() - this.at);
        buf.put_slice(&this.chunk[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Reads all of stdin (for `--handler`'s request context), at most `cap` bytes and for at most
/// `timeout`: more is `input_limit_exceeded`, a stdin still open at the deadline is `timeout`.
pub fn read_all_within(cap: ByteSize, timeout: HumanDuration) -> Result<Vec<u8>, Error> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return Ok(Vec::new());
    }
    let (send, receive) = mpsc::sync_channel(1);
    let limit = cap.bytes();
    std::thread::Builder::new()
        .name("capsa-stdin".into())
        .spawn(move || {
            let mut buf = Vec::new();
            let read = std::io::stdin()
                .lock()
                .take(limit.saturating_add(1))
                .read_to_end(&mut buf)
                .map(|_| buf);
            let _ = send.send(read);
        })
        .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot read stdin: {e}")))?;
    let wait: Duration = timeout.get();
    match receive.recv_timeout(wait) {
        Ok(Ok(buf)) if buf.len() as u64 > limit => Err(Error::new(
            ErrorCode::InputLimitExceeded,
            format!("stdin is over the call's {cap} limit"),
        )),
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) => Err(Error::new(
            ErrorCode::InvalidInput,
            format!("cannot read stdin: {e}"),
        )),
        Err(_) => Err(Error::new(
            ErrorCode::Timeout,
            format!("stdin did not end within the call's {timeout} deadline"),
        )),
    }
}

/// The bytes of a program named on the command line: the file, or all of stdin for `-` (at most the
/// compile limits' module size; a stdin still open after ten minutes is given up on).
pub fn read_program(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    if path.as_os_str() == "-" {
        let cap = capsa::CompileLimits::default().max_module_size;
        return read_all_within(cap, HumanDuration(Duration::from_secs(600)));
    }
    std::fs::read(path).map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorCode::NotFound,
            _ => ErrorCode::InvalidInput,
        };
        Error::new(code, format!("cannot read `{}`: {e}", path.display()))
    })
}
