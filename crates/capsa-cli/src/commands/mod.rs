//! One module per subcommand.

pub mod call;
pub mod client;
pub mod compile;
pub mod completions;
pub mod deploy;
pub mod doctor;
pub mod functions;
pub mod invoke;
pub mod mcp;
pub mod repl;
pub mod run;
pub mod serve;
pub mod session;

use std::io::Write;
use std::sync::Arc;

use capsa::{ErrorCode, OutputListener, Receipt, Stream};

/// Passes the guest's output through to this process's stdout/stderr as it is written.
///
/// The guest only hands chunks to a channel; a writer thread does the (possibly blocking) writes, so a
/// slow reader on our stdout cannot hold the guest past its deadline. The channel holds at most the
/// call's output cap. Join the returned thread after the call to flush the rest.
pub(crate) fn passthrough() -> (OutputListener, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<(Stream, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (stream, bytes) in rx {
            // A closed pipe on our side must not fail anything; the receipt keeps the output.
            let _ = match stream {
                Stream::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes).and_then(|()| out.flush())
                }
                Stream::Stderr => std::io::stderr().lock().write_all(&bytes),
            };
        }
    });
    let listener: OutputListener = Arc::new(move |stream, bytes: &[u8]| {
        let _ = tx.send((stream, bytes.to_vec()));
    });
    (listener, writer)
}

/// The exit status for a finished call: the guest's own code for a normal or non-zero exit, the
/// documented status of the error code otherwise. Prints `error[code]: message` for failures other
/// than a plain non-zero exit, on a line of its own.
pub(crate) fn exit_status(receipt: &Receipt, print_error: bool) -> u8 {
    match &receipt.error {
        None => 0,
        Some(failure) => {
            if print_error && failure.code != ErrorCode::Exit {
                // The error starts its own line even when the guest's last stderr line did not end.
                if receipt.stderr.last().is_some_and(|&b| b != b'\n') {
                    eprintln!();
                }
                eprintln!("error[{}]: {}", failure.code, failure.message);
                if let Some(backtrace) = &failure.backtrace {
                    eprintln!("{}", backtrace.trim_end());
                }
                if let Some(exception) = &failure.exception
                    && !exception.stack.trim().is_empty()
                {
                    eprintln!("{}", exception.stack.trim_end());
                }
            }
            match (failure.code, receipt.exit_code) {
                (ErrorCode::Exit, Some(code)) => crate::exit_byte(code).max(1),
                (code, _) => crate::exit_byte(code.exit_status()),
            }
        }
    }
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
pub fn print_stdout(bytes: &[u8]) -> Result<u8, capsa::Error> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(capsa::Error::new(
            capsa::ErrorCode::Internal,
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(0),
    }
}
