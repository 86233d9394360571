//! `wasi:http/proxy` components as handlers: the request context becomes a `wasi:http` incoming
//! request, the component's `wasi:http/incoming-handler` runs in a fresh sandbox, and its response
//! becomes the handler response of every other kind (`docs/contract.md`).
//!
//! The component answers through `response-outparam.set` and may go on writing its body after that,
//! so the host reads the body *while* the guest runs: both are polled in one future, under the call's
//! deadline (the epoch stops the guest, the sandbox's timer stops the whole), and the body is cut off at
//! the call's output cap.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderName, HeaderValue, TRANSFER_ENCODING};
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::classify::Failed;
use crate::error::{Error, ErrorCode, Result};
use crate::host::SandboxState;
use crate::outcome::{LimitExceeded, micros};

/// The request a component gets, converted from a request context once and copied into each sandbox.
#[derive(Debug, Clone)]
pub(crate) struct IncomingRequest {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

impl IncomingRequest {
    /// Converts a request context (`docs/contract.md`): `method` (default `GET`), `path` (default `/`)
    /// and the `query` object re-encoded into the request target, `headers`, and `body` or
    /// `body_base64`. The scheme is `http`; the authority is the `host` header, else `localhost`.
    ///
    /// # Errors
    ///
    /// `invalid_input` for a context that is not an object or has a field of the wrong type, an
    /// invalid method, header or `host`, or a `body_base64` that is not base64.
    pub(crate) fn from_context(context: &Value) -> Result<IncomingRequest> {
        let context = context
            .as_object()
            .ok_or_else(|| Error::invalid_input("the request context must be a JSON object"))?;
        let text = |key: &str| -> Result<Option<&str>> {
            match context.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::invalid_input(format!(
                    "request context field `{key}` must be a string"
                ))),
            }
        };

        let method = text("method")?.unwrap_or("GET");
        let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| Error::invalid_input(format!("invalid method `{method}`")))?;

        let target = request_target(context, text("path")?.unwrap_or("/"))?;
        let path_and_query = &target[url::Position::BeforePath..];

        let mut headers = request_headers(context.get("headers"))?;
        let authority = match headers.get(HOST) {
            Some(host) => host
                .to_str()
                .ok()
                .and_then(|h| http::uri::Authority::try_from(h).ok())
                .ok_or_else(|| Error::invalid_input("header `host` is not a valid host"))?,
            None => http::uri::Authority::from_static("localhost"),
        };
        let uri = http::Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| Error::invalid_input(format!("invalid request path or query: {e}")))?;

        let body = capsa_wire::bytes::decode(context, "body")
            .map_err(|e| Error::invalid_input(e.to_string()))?
            .map(Bytes::from)
            .unwrap_or_default();
        if !body.is_empty() {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Ok(IncomingRequest {
            method,
            uri,
            headers,
            body,
        })
    }

    fn to_http(&self) -> http::Request<Full<Bytes>> {
        let mut request = http::Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// The request target: `path`, then `query` re-encoded (an object, or a raw query string).
fn request_target(context: &serde_json::Map<String, Value>, path: &str) -> Result<url::Url> {
    // The `url` crate percent-encodes what a path or query may not hold as it is.
    let mut target = url::Url::parse("http://localhost/")
        .map_err(|e| Error::internal(format!("base URL: {e}")))?;
    target.set_path(path);
    // The gateway passes the query as it arrived (`raw_query`): components that parse it themselves
    // see what the client sent, in its order and encoding.
    let query = match context.get("raw_query") {
        None | Some(Value::Null) => context.get("query"),
        raw @ Some(Value::String(_)) => raw,
        Some(_) => {
            return Err(Error::invalid_input(
                "request context field `raw_query` must be a string",
            ));
        }
    };
    match query {
        None | Some(Value::Null) => {}
        Some(Value::String(raw)) => target.set_query(Some(raw.trim_start_matches('?'))),
        Some(Value::Object(params)) => {
            let mut pairs = target.query_pairs_mut();
            for (key, value) in params {
                let values = match value {
                    Value::Array(values) => values.as_slice(),
                    one => std::slice::from_ref(one),
                };
                for value in values {
                    match value {
                        Value::Null => {}
                        Value::String(s) => {
                            pairs.append_pair(key, s);
                        }
                        Value::Number(_) | Value::Bool(_) => {
                            pairs.append_pair(key, &value.to_string());
                        }
                        _ => {
                            return Err(Error::invalid_input(format!(
                                "query parameter `{key}` must be a string"
                            )));
                        }
                    }
                }
            }
        }
        Some(_) => {
            return Err(Error::invalid_input(
                "request context field `query` must be an object",
            ));
        }
    }
    // No query is no `?`: `GET /info` reaches the component as `/info`, not `/info?`.
    if target.query() == Some("") {
        target.set_query(None);
    }
    Ok(target)
}

/// The `headers` of a request context (a value may be an array for a repeated header), without the
/// body's framing headers, which are the host's to set.
fn request_headers(headers_field: Option<&Value>) -> Result<http::HeaderMap> {
    let mut headers = http::HeaderMap::new();
    match headers_field {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| Error::invalid_input(format!("invalid header name `{name}`")))?;
                // The body is given whole: its framing headers are the host's to set.
                if header == CONTENT_LENGTH || header == TRANSFER_ENCODING {
                    continue;
                }
                let values = match value {
                    Value::Array(values) => values.as_slice(),
                    one => std::slice::from_ref(one),
                };
                for value in values {
                    let value = value
                        .as_str()
                        .and_then(|v| HeaderValue::from_str(v).ok())
                        .ok_or_else(|| {
                            Error::invalid_input(format!(
                                "header `{name}` must be a string without line breaks"
                            ))
                        })?;
                    headers.append(header.clone(), value);
                }
            }
        }
        Some(_) => {
            return Err(Error::invalid_input(
                "request context field `headers` must be an object",
            ));
        }
    }
    Ok(headers)
}

/// Instantiates the component in `store` and calls its handler with `request`. The result is the
/// response as JSON: `{"status", "headers", "body" | "body_base64"}`.
pub(crate) async fn serve(
    store: &mut Store<SandboxState>,
    pre: &ProxyPre<SandboxState>,
    request: &IncomingRequest,
    max_body_bytes: u64,
    instantiate_us: &mut u64,
) -> std::result::Result<Value, Failed> {
    let began = Instant::now();
    let proxy = pre
        .instantiate_async(&mut *store)
        .await
        .map_err(Failed::Instantiate)?;
    *instantiate_us = micros(began.elapsed());

    let (sender, mut receiver) = tokio::sync::oneshot::channel();
    let (incoming, outparam) = {
        let mut http = store.data_mut().http();
        let incoming = http
            .new_incoming_request(Scheme::Http, request.to_http())
            .map_err(Failed::Run)?;
        let outparam = http.new_response_outparam(sender).map_err(Failed::Run)?;
        (incoming, outparam)
    };
    let handler = proxy.wasi_http_incoming_handler();
    let mut guest = pin!(handler.call_handle(&mut *store, incoming, outparam));
    // `Some` once the handler returned.
    let mut returned: Option<wasmtime::Result<()>> = None;
    let response = await_head(&mut guest, &mut receiver, &mut returned).await?;
    let (parts, mut body) = response.into_parts();
    let collected = collect_body(&mut guest, &mut body, &mut returned, max_body_bytes).await?;
    // The call ends when the handler returns, as every other call does.
    if returned.is_none() {
        guest.await.map_err(Failed::Run)?;
    }
    // Each field the component set is kept (two `set-cookie` are two), as `wasmtime serve` sends them.
    let headers = capsa_wire::bytes::header_fields(
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    );
    Ok(crate::capability::http_response_json(
        parts.status.as_u16(),
        headers,
        collected,
    ))
}

/// The response head, which the guest sets with `response-outparam.set`, usually before it returns.
/// Without one, the guest's trap (or limit) is the reason if it had one.
async fn await_head<G, T, E>(
    guest: &mut Pin<&mut G>,
    receiver: &mut tokio::sync::oneshot::Receiver<Result<T, E>>,
    returned: &mut Option<wasmtime::Result<()>>,
) -> std::result::Result<T, Failed>
where
    G: Future<Output = wasmtime::Result<()>>,
    E: std::fmt::Debug,
{
    let answer = tokio::select! {
        biased;
        answer = &mut *receiver => answer.ok(),
        done = guest.as_mut() => {
            *returned = Some(done);
            receiver.try_recv().ok()
        }
    };
    if let Some(Ok(response)) = answer {
        return Ok(response);
    }
    let done = match returned.take() {
        Some(done) => done,
        None => guest.as_mut().await,
    };
    done.map_err(Failed::Run)?;
    let message = match answer {
        Some(Err(code)) => format!("the component answered with the error `{code:?}`"),
        _ => {
            "the component returned without setting a response (`response-outparam.set`)".to_owned()
        }
    };
    Err(Failed::Run(wasmtime::Error::msg(message)))
}

/// The response body as the guest writes it, up to `max_body_bytes`. The guest runs while the body
/// is read; once it has returned, everything it wrote is queued, and a body it never finished ends
/// nowhere.
async fn collect_body<G, B>(
    guest: &mut Pin<&mut G>,
    body: &mut B,
    returned: &mut Option<wasmtime::Result<()>>,
    max_body_bytes: u64,
) -> std::result::Result<Vec<u8>, Failed>
where
    G: Future<Output = wasmtime::Result<()>>,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut collected: Vec<u8> = Vec::new();
    loop {
        let frame = if returned.is_none() {
            tokio::select! {
                biased;
                done = guest.as_mut() => {
                    done.map_err(Failed::Run)?;
                    *returned = Some(Ok(()));
                    continue;
                }
                frame = body.frame() => frame,
            }
        } else {
            // Unconstrained: tokio's cooperative budget would otherwise make a ready channel look
            // pending now and then.
            match now_or_never(tokio::task::unconstrained(body.frame())).await {
                Some(frame) => frame,
                None => {
                    return Err(Failed::Run(wasmtime::Error::msg(
                        "the component returned without finishing its response body",
                    )));
                }
            }
        };
        match frame {
            None => return Ok(collected),
            Some(Ok(frame)) => {
                // Trailers have no place in a handler response; they are dropped.
                if let Ok(data) = frame.into_data() {
                    if collected.len() as u64 + data.len() as u64 > max_body_bytes {
                        return Err(Failed::Run(wasmtime::Error::new(LimitExceeded::new(
                            ErrorCode::OutputLimitExceeded,
                            format!(
                                "the response body is larger than the {} output limit",
                                crate::limits::ByteSize(max_body_bytes)
                            ),
                        ))));
                    }
                    collected.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                return Err(Failed::Run(wasmtime::Error::msg(format!(
                    "the component aborted its response body: {e}"
                ))));
            }
        }
    }
}

/// The output of `future` if it is ready at once.
async fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_becomes_a_request() {
        let request = IncomingRequest::from_context(&json!({
            "method": "post",
            "path": "/users/a b",
            "query": {"name": "ada lovelace", "n": 2, "tag": ["x", "y&z"]},
            "headers": {"Host": "example.com:8080", "x-one": ["1", "2"], "content-length": "999"},
            "body_base64": "AP8=",
        }))
        .unwrap();
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(
            request.uri.to_string(),
            "http://example.com:8080/users/a%20b?n=2&name=ada+lovelace&tag=x&tag=y%26z"
        );
        assert_eq!(request.headers.get_all("x-one").iter().count(), 2);
        assert_eq!(request.headers["content-length"], "2");
        assert_eq!(&request.body[..], [0x00, 0xff]);
    }

    #[test]
    fn the_query_reaches_the_component_as_the_client_sent_it() {
        let target = |context: Value| {
            IncomingRequest::from_context(&context)
                .unwrap()
                .uri
                .path_and_query()
                .unwrap()
                .to_string()
        };
        // No query is no `?` (the gateway always sends a `query` object, empty without one).
        assert_eq!(target(json!({"path": "/info", "query": {}})), "/info");
        assert_eq!(target(json!({"path": "/info", "query": ""})), "/info");
        // The raw query wins over the parsed one: order, repeats, bare flags and encoding are kept.
        let raw = "b=2&a=1&a=3&flag&sp=a%20b";
        assert_eq!(
            target(json!({"path": "/q", "query": {"a": "3", "b": "2"}, "raw_query": raw})),
            format!("/q?{raw}")
        );
        assert!(IncomingRequest::from_context(&json!({"raw_query": 1})).is_err());
    }

    #[test]
    fn context_defaults_and_refusals() {
        let request = IncomingRequest::from_context(&json!({})).unwrap();
        assert_eq!(request.method, http::Method::GET);
        assert_eq!(request.uri.to_string(), "http://localhost/");
        assert!(request.body.is_empty());
        let path = IncomingRequest::from_context(&json!({"path": "/a?b#c"})).unwrap();
        assert_eq!(path.uri.path(), "/a%3Fb%23c");
        for bad in [
            json!([]),
            json!({"method": "GE T"}),
            json!({"method": 1}),
            json!({"headers": {"bad name": "x"}}),
            json!({"headers": {"x": "a\nb"}}),
            json!({"headers": {"host": "a b"}}),
            json!({"query": 3}),
            json!({"query": {"a": {"b": 1}}}),
            json!({"body": "a", "body_base64": "YQ=="}),
            json!({"body_base64": "!"}),
        ] {
            let err = IncomingRequest::from_context(&bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad}");
        }
    }
}
