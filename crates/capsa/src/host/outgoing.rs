//! `wasi:http/outgoing-handler` for `wasi:http` components: the call's HTTP grant, or nothing.
//!
//! wasmtime-wasi-http hands every outgoing request of a component to [`WasiHttpHooks::send_request`].
//! capsa's implementation never opens a connection of its own: a request goes out only through the
//! call's [`HttpGrant`](crate::capability::http::HttpGrant), with the allowlist, the resolve-once address vetting, the
//! grant's size and time caps, and the call's host-call caps, exactly like `http.fetch`. Redirects are
//! not followed: the component sees them and may request the new location, which is checked again.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::HostCalls;
use crate::capability::HostError;
use crate::error::ErrorCode;

/// The name outgoing requests are counted under: an HTTP fetch, capped like `http.fetch`.
const CALL_NAME: &str = "http.fetch";

/// What `send_request` returns: the response, and a future that reports errors of the connection
/// after the response (none here: the body is read whole before the response is handed over).
type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for HostCalls {
    fn set_host_header(&mut self) -> bool {
        // The client sets `host` from the URL it connects to; a guest's own is never sent.
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        // Counted like a host call: the method, URL and headers are what leaves the sandbox (the body
        // is capped by the grant's `max_request_bytes`).
        let head = request.method().as_str().len()
            + request.uri().to_string().len()
            + request
                .headers()
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len())
                .sum::<usize>();
        if let Err(limit) = self.count(CALL_NAME, head as u64) {
            // The guest cannot be stopped from here: its next epoch check (or the end of the call)
            // raises the limit.
            self.tripped.get_or_insert(limit);
            return refused(HttpError::ConnectionLimitReached);
        }
        let url = match url::Url::parse(&request.uri().to_string()) {
            Ok(url) => url,
            Err(_) => return refused(HttpError::HttpRequestUriInvalid),
        };
        let Some(grant) = self.grants().http.clone() else {
            let host = url.host_str().unwrap_or("?");
            let denied = HostError::denied(format!(
                "outbound HTTP is not granted (request to `{host}`)"
            ));
            self.record_failure(CALL_NAME, &denied);
            return refused(HttpError::HttpRequestDenied);
        };
        // Refuse what the allowlist refuses before anything runs, so the refusal is on the receipt's
        // record; the addresses a name resolves to are vetted when it is sent.
        if let Err(denied) = grant
            .allow_list()
            .check_url(request.method().as_str(), &url)
        {
            self.record_failure(CALL_NAME, &HostError::denied(denied.0));
            return refused(HttpError::HttpRequestDenied);
        }
        let max_body = grant.caps().max_request_bytes;
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = match Limited::new(body, max_body).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    return Err(match e.downcast::<HttpError>() {
                        Ok(e) => *e,
                        Err(_) => HttpError::HttpRequestBodySize(None),
                    });
                }
            };
            let headers = parts
                .headers
                .iter()
                .filter(|(name, _)| !FRAMING_HEADERS.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            let body = (!body.is_empty()).then(|| body.to_vec());
            let fetched = grant
                .send_once(parts.method, url, headers, body)
                .await
                .map_err(http_error)?;
            let mut response = http::Response::new(
                Full::new(Bytes::from(fetched.body))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            *response.status_mut() = fetched.status;
            *response.headers_mut() = fetched.headers;
            // The body was read whole: framing headers of the wire no longer describe it.
            for name in FRAMING_HEADERS {
                response.headers_mut().remove(name);
            }
            let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// Headers the client derives from the URL and the body; a guest's are dropped.
const FRAMING_HEADERS: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

fn refused(error: HttpError) -> Box<dyn Future<Output = SendResult> + Send> {
    Box::new(std::future::ready(Err(error)))
}

/// The `wasi:http` error code for a failed fetch. The message is lost on the way to the guest, which
/// sees only the code; refusals are on the receipt's record when the allowlist refused up front.
fn http_error(e: HostError) -> HttpError {
    match e.code {
        ErrorCode::CapabilityDenied => HttpError::HttpRequestDenied,
        ErrorCode::Timeout => HttpError::ConnectionTimeout,
        ErrorCode::PayloadTooLarge => HttpError::HttpResponseBodySize(None),
        _ => HttpError::InternalError(Some(e.message)),
    }
}
