//! `capsa invoke`: call a deployed function over HTTP, optionally streaming its output.

use std::io::Write;

use capsa::{Error, ErrorCode};
use clap::Args;
use serde_json::Value;

use super::client::{Client, ServerArgs, error_of};

/// Call a function deployed on a gateway: `/run/NAME[@VERSION|@ALIAS][/PATH]`.
///
/// Prints the response body. With `--stream`, the function's stdout and stderr arrive as it
/// writes them, and the exit status is the call's.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa invoke hello --data '{\"name\":\"ada\"}'\n  capsa invoke hello@3 --method GET --path /users/42\n  capsa invoke hello@canary --data @request.json --stream"
)]
pub struct InvokeArgs {
    /// NAME, NAME@VERSION or NAME@ALIAS
    target: String,
    /// The request body: JSON or text, or @FILE
    #[arg(long, short, value_name = "BODY|@FILE")]
    data: Option<String>,
    /// The HTTP method [default: POST with --data, else GET]
    #[arg(long, short = 'X', value_name = "METHOD")]
    method: Option<String>,
    /// The rest of the path after the function, e.g. /users/42?verbose=1
    #[arg(long, value_name = "PATH", default_value = "")]
    path: String,
    /// A request header `NAME: VALUE`
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Stream stdout/stderr as server-sent events, then print nothing but them
    #[arg(long)]
    stream: bool,
    /// Print the status and headers too
    #[arg(long, short = 'i')]
    include: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: InvokeArgs) -> Result<u8, Error> {
    let body = match &args.data {
        Some(data) => Some(match data.strip_prefix('@') {
            Some(file) => std::fs::read(file).map_err(|e| {
                Error::new(ErrorCode::NotFound, format!("cannot read `{file}`: {e}"))
            })?,
            None => data.clone().into_bytes(),
        }),
        None => None,
    };
    let method = match &args.method {
        Some(m) => reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).map_err(|_| {
            Error::new(
                ErrorCode::InvalidInput,
                format!("`{m}` is not an HTTP method"),
            )
        })?,
        None if body.is_some() => reqwest::Method::POST,
        None => reqwest::Method::GET,
    };
    let path = if args.path.is_empty() || args.path.starts_with(['/', '?']) {
        args.path.clone()
    } else {
        format!("/{}", args.path)
    };
    let client = Client::new(&args.server)?;
    let mut request = client.request(method, &format!("/run/{}{path}", args.target));
    for header in &args.headers {
        let (name, value) = header.split_once(':').ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidInput,
                format!("`{header}`: expected NAME: VALUE"),
            )
        })?;
        request = request.header(name.trim(), value.trim());
    }
    if let Some(body) = body {
        let is_json = serde_json::from_slice::<Value>(&body).is_ok();
        if is_json {
            request = request.header("content-type", "application/json");
        }
        request = request.body(body);
    }
    if args.stream {
        request = request.header("accept", "text/event-stream");
        return stream(&client, request, print_response);
    }
    client.block_on(async {
        let response = request.send().await.map_err(|e| client.unreachable(e))?;
        let status = response.status();
        let outcome = response
            .headers()
            .get("x-capsa-outcome")
            .and_then(|v| v.to_str().ok())
            .and_then(ErrorCode::from_name);
        if args.include {
            outln!("{:?} {status}", response.version());
            for (name, value) in response.headers() {
                outln!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
            }
            outln!();
        }
        if !status.is_success() && outcome.is_some() {
            return Err(error_of(response).await);
        }
        let bytes = response.bytes().await.map_err(|e| client.unreachable(e))?;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&bytes);
        if !bytes.ends_with(b"\n") && !bytes.is_empty() {
            let _ = out.write_all(b"\n");
        }
        Ok(if status.is_success() { 0 } else { 1 })
    })
}

/// Prints `stdout`/`stderr` events as they arrive; the `result` event's receipt gives the status.
/// Prints a stream of server-sent events as they come: output events to stdout/stderr, then the
/// `result` event's receipt through `on_result`, which gives the exit status.
pub(super) fn stream(
    client: &Client,
    request: reqwest::RequestBuilder,
    on_result: fn(&Value) -> u8,
) -> Result<u8, Error> {
    let mut response = client.send(request)?;
    client.block_on(async {
        let mut buffer = Vec::new();
        // Where the search for the end of an event resumes: bytes before it were searched already.
        let mut searched = 0;
        let mut status = None;
        loop {
            let chunk = response.chunk().await.map_err(|e| client.unreachable(e))?;
            let Some(chunk) = chunk else { break };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = find(&buffer[searched..], b"\n\n").map(|i| i + searched) {
                let event: Vec<u8> = buffer.drain(..end + 2).collect();
                searched = 0;
                if let Some(code) = print_event(&String::from_utf8_lossy(&event), on_result) {
                    status = Some(code);
                }
            }
            searched = buffer.len().saturating_sub(1);
        }
        status.ok_or_else(|| Error::new(ErrorCode::Internal, "the stream ended without a result"))
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Prints one event; for the `result` event, returns the exit status.
fn print_event(event: &str, on_result: fn(&Value) -> u8) -> Option<u8> {
    let mut name = "message";
    let mut data = Vec::new();
    for line in event.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim_start();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    let data = data.join("\n");
    // Output chunks are JSON strings, so that line breaks survive the event framing; bytes that are
    // not UTF-8 come base64-encoded in `*_base64` events.
    let chunk = |data: String, base64: bool| -> Vec<u8> {
        let text: String = serde_json::from_str(&data).unwrap_or(data);
        if base64 {
            capsa_wire::bytes::base64_decode(&text).unwrap_or_default()
        } else {
            text.into_bytes()
        }
    };
    match name {
        "stdout" | "stdout_base64" => {
            let bytes = chunk(data, name == "stdout_base64");
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes).and_then(|()| out.flush());
            None
        }
        "stderr" | "stderr_base64" => {
            let bytes = chunk(data, name == "stderr_base64");
            let _ = std::io::stderr().lock().write_all(&bytes);
            None
        }
        "result" => {
            let receipt: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            Some(on_result(&receipt))
        }
        _ => None,
    }
}

/// The exit status of an invocation's receipt, printing its error or its response's body.
fn print_response(receipt: &Value) -> u8 {
    if let Some(code) = receipt.pointer("/error/code").and_then(Value::as_str) {
        let message = receipt
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        eprintln!("error[{code}]: {message}");
        let code = ErrorCode::from_name(code).unwrap_or(ErrorCode::Internal);
        crate::exit_byte(code.exit_status())
    } else if let Some(result) = receipt.get("result").filter(|r| !r.is_null()) {
        // A handler's response: its body is what the caller asked for.
        if let Some(body) = result.get("body").and_then(Value::as_str) {
            outln!("{body}");
        }
        0
    } else {
        0
    }
}
