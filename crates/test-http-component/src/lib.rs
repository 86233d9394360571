//! A `wasi:http/proxy` component for capsa's tests, built the way other toolchains build them (the `wasi`
//! crate's bindings, `wasm32-wasip2`), so the tests show such components run unchanged.
//!
//! Routes:
//!
//! - `GET /hello?name=X` → 200 `{"hello":"X"}` (`content-type: application/json`)
//! - `POST /echo` → 200 with the request body, its `content-type`, and `x-echo-method`
//! - `GET /headers` → 200 with the request's headers, one `name: value` line each, and
//!   `x-repeated` set twice in the response
//! - `GET /big?bytes=N` → 200 with `N` bytes of `x`, written in 64 KiB chunks
//! - `GET /loop` → never returns
//! - `GET /hang-body` → sends the response head, then computes forever without finishing the body
//! - `GET /drip` → sends the response head, then one byte every 10 ms, forever
//! - `GET /alloc` → allocates until memory runs out
//! - `GET /stdout` → writes to stdout and stderr, then 200 `printed`
//! - `GET /trap` → panics (a trap)
//! - `GET /noresponse` → returns without setting the response
//! - `GET /fetch?url=U` → requests `U`; its status and body, or 502 with the error
//! - anything else → 404

use std::io::{Read as _, Write as _};

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

struct Handler;

wasi::http::proxy::export!(Handler);

impl Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_default();
        // `/headers?…` answers like `/headers`: the query is part of what it reports.
        let (path, query) = match path_with_query.split_once('?') {
            Some((path, query)) => (path.to_owned(), query.to_owned()),
            None => (path_with_query, String::new()),
        };
        let param = |name: &str| {
            query.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key) == name).then(|| percent_decode(value))
            })
        };
        match path.as_str() {
            "/hello" => {
                let name = param("name").unwrap_or_else(|| "world".to_owned());
                let body = format!("{{\"hello\":{}}}", json_string(&name));
                respond(
                    out,
                    200,
                    &[("content-type", "application/json")],
                    body.as_bytes(),
                );
            }
            "/echo" => {
                let method = match request.method() {
                    Method::Get => "GET".to_owned(),
                    Method::Post => "POST".to_owned(),
                    Method::Put => "PUT".to_owned(),
                    Method::Other(other) => other,
                    other => format!("{other:?}").to_uppercase(),
                };
                let content_type = header(&request, "content-type")
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                let body = read_body(&request);
                respond(
                    out,
                    200,
                    &[("content-type", &content_type), ("x-echo-method", &method)],
                    &body,
                );
            }
            "/headers" => {
                let mut lines = String::new();
                for (name, value) in request.headers().entries() {
                    lines.push_str(&format!("{name}: {}\n", String::from_utf8_lossy(&value)));
                }
                let authority = request.authority().unwrap_or_default();
                lines.push_str(&format!("authority: {authority}\n"));
                let target = request.path_with_query().unwrap_or_default();
                lines.push_str(&format!("target: {target}\n"));
                respond(
                    out,
                    200,
                    &[("x-repeated", "one"), ("x-repeated", "two")],
                    lines.as_bytes(),
                );
            }
            "/big" => {
                let bytes: usize = param("bytes").and_then(|b| b.parse().ok()).unwrap_or(0);
                big(out, bytes);
            }
            "/loop" => loop {
                std::hint::black_box(0);
            },
            "/hang-body" => {
                let response = OutgoingResponse::new(Fields::new());
                let outgoing = response.body().expect("response body");
                ResponseOutparam::set(out, Ok(response));
                let mut stream = outgoing.write().expect("body stream");
                stream.write_all(b"started").expect("write body");
                stream.blocking_flush().expect("flush body");
                loop {
                    std::hint::black_box(0);
                }
            }
            "/drip" => {
                let response = OutgoingResponse::new(Fields::new());
                let outgoing = response.body().expect("response body");
                ResponseOutparam::set(out, Ok(response));
                let mut stream = outgoing.write().expect("body stream");
                while stream.write_all(b".").is_ok() && stream.blocking_flush().is_ok() {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            "/alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1; 1 << 20]));
                }
            }
            "/stdout" => {
                println!("to stdout");
                eprintln!("to stderr");
                respond(out, 200, &[], b"printed");
            }
            "/trap" => panic!("the handler panicked on purpose"),
            "/noresponse" => drop(out),
            "/fetch" => match param("url")
                .ok_or_else(|| "no `url`".to_owned())
                .and_then(|u| fetch(&u))
            {
                Ok((status, body)) => respond(out, status, &[], &body),
                Err(error) => respond(out, 502, &[], error.as_bytes()),
            },
            _ => respond(out, 404, &[], b"not found"),
        }
    }
}

/// Sets a response with `status`, `headers` and `body`.
fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let fields = Fields::new();
    for (name, value) in headers {
        fields.append(name, value.as_bytes()).expect("valid header");
    }
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("response body");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = outgoing.write().expect("body stream");
    stream.write_all(body).expect("write body");
    stream.blocking_flush().expect("flush body");
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish body");
}

/// Streams `bytes` bytes of `x` after the headers went out.
fn big(out: ResponseOutparam, bytes: usize) {
    let response = OutgoingResponse::new(Fields::new());
    let outgoing = response.body().expect("response body");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = outgoing.write().expect("body stream");
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        if stream.write_all(&chunk[..n]).is_err() {
            // The host stopped reading (an output cap): give up like a server whose client left.
            return;
        }
        left -= n;
    }
    let _ = stream.blocking_flush();
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let body = request.consume().expect("request body");
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().expect("body stream");
        stream.read_to_end(&mut bytes).expect("read body");
    }
    drop(body);
    bytes
}

/// Requests `url` (`http://` or `https://` only) and returns the status and body.
fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(format!("unsupported URL `{url}`"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "path")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "response body")?;
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().map_err(|()| "response stream")?;
        stream
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading the response: {e}"))?;
    }
    Ok((status, bytes))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
