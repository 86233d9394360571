//! The handler contract over HTTP (SPEC §2, `docs/contract.md`): an HTTP request becomes the request
//! context; a receipt becomes the HTTP response. The response is checked here, on the host, whatever
//! the guest's runtime claims to have checked: a guest can rewrite its own runtime.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use capsa::{ErrorCode, Receipt};
use capsa_wire::bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Builds the request context of a call.
pub fn request_context(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    route: Map<String, Value>,
    client: Option<SocketAddr>,
) -> Value {
    let mut query = Map::new();
    if let Some(q) = uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            query.insert(k.into_owned(), Value::from(v.into_owned()));
        }
    }
    let names = bytes::join_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
    let mut context = Map::new();
    context.insert("method".into(), Value::from(method.as_str()));
    context.insert("path".into(), Value::from(uri.path()));
    context.insert("route".into(), Value::Object(route));
    context.insert("query".into(), Value::Object(query));
    if let Some(raw) = uri.query().filter(|q| !q.is_empty()) {
        context.insert("raw_query".into(), Value::from(raw));
    }
    context.insert("headers".into(), Value::Object(names));
    bytes::insert(&mut context, "body", body.to_vec());
    if let Some(client) = client {
        context.insert("client".into(), Value::from(client.to_string()));
    }
    Value::Object(context)
}

/// Headers a function may not set: the connection is the gateway's.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The HTTP response of a finished handler call, with the call's stats in `x-capsa-*` headers.
pub fn response_of(receipt: &Receipt) -> Response {
    let mut response = match &receipt.error {
        Some(failure) => ApiError::new(failure.code, failure.message.clone()).into_response(),
        None => handler_response(receipt).unwrap_or_else(|message| {
            ApiError::new(
                ErrorCode::GuestException,
                format!("the function's response is invalid: {message}"),
            )
            .with_status(StatusCode::BAD_GATEWAY)
            .into_response()
        }),
    };
    stats_headers(response.headers_mut(), receipt);
    response
}

/// `x-capsa-outcome` and the stats of SPEC §4.
pub fn stats_headers(headers: &mut HeaderMap, receipt: &Receipt) {
    let stats = &receipt.stats;
    // An error answer already says its own outcome (an invalid response of a call that ran); a
    // function cannot set it (its `x-capsa-*` headers are dropped).
    headers
        .entry("x-capsa-outcome")
        .or_insert(HeaderValue::from_static(receipt.outcome()));
    let mut put = |name: &'static str, value: u64| {
        headers.insert(name, HeaderValue::from(value));
    };
    put("x-capsa-wall-us", stats.wall_us);
    put("x-capsa-instantiate-us", stats.instantiate_us);
    put("x-capsa-cpu-us", stats.cpu_us);
    put("x-capsa-memory-peak-bytes", stats.memory_peak_bytes);
    put("x-capsa-host-calls", stats.host_calls);
    if let Some(fuel) = stats.fuel_used {
        put("x-capsa-fuel-used", fuel);
    }
    if let Some(waited) = stats.standby_wait_us {
        put("x-capsa-standby", u64::from(stats.standby));
        put("x-capsa-standby-wait-us", waited);
    }
}

/// The response a successful call asked for. A script's or component's result is a response object;
/// a wasm command's stdout is one when it parses as `{"status": …}`, and the body otherwise.
fn handler_response(receipt: &Receipt) -> Result<Response, String> {
    // An object with a numeric `status`, or with a `status` and a body or headers, is a response
    // (with a status that is not a number it is an invalid one, not the JSON body of a 200).
    if let Some(Value::Object(object)) = &receipt.result
        && (object.get("status").is_some_and(Value::is_number)
            || (object.contains_key("status")
                && ["body", "body_base64", "headers"]
                    .iter()
                    .any(|k| object.contains_key(*k))))
    {
        return build(object);
    }
    let content_type = match (&receipt.result, std::str::from_utf8(&receipt.stdout)) {
        (Some(_), _) => "application/json",
        (None, Ok(_)) => "text/plain; charset=utf-8",
        (None, Err(_)) => "application/octet-stream",
    };
    let mut response = Response::new(Body::from(receipt.stdout.clone()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

fn build(object: &Map<String, Value>) -> Result<Response, String> {
    let status = object
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| !s.is_informational())
        .ok_or_else(|| format!("status {} is not a final HTTP status", object["status"]))?;
    if object.get("body").is_some_and(|b| !b.is_null())
        && object.get("body_base64").is_some_and(|b| !b.is_null())
    {
        return Err("it has both `body` and `body_base64`".into());
    }
    let body = bytes::decode(object, "body")
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a header name"))?;
                // The connection is the gateway's, and so are its `x-capsa-*` headers.
                if HOP_BY_HOP.contains(&name.as_str()) || name.as_str().starts_with("x-capsa-") {
                    continue;
                }
                // An array is a repeated header, a field per value (two `set-cookie` stay two).
                let values = match value {
                    Value::Array(values) => values.as_slice(),
                    one => std::slice::from_ref(one),
                };
                for value in values {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(format!("header `{name}` is not a string")),
                    };
                    let value = HeaderValue::from_str(&text)
                        .map_err(|_| format!("header `{name}` has a byte a header cannot carry"))?;
                    response.headers_mut().append(name.clone(), value);
                }
            }
        }
        Some(_) => return Err("`headers` must be an object".into()),
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn receipt(result: Value) -> Receipt {
        let mut receipt = Receipt::default();
        receipt.result = Some(result);
        receipt
    }

    #[test]
    fn context_has_every_field() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let uri: Uri = "/u/42?a=1&b=x+y&a=3".parse().unwrap();
        let route = Map::from_iter([("id".to_owned(), json!("42"))]);
        let context = request_context(
            &Method::POST,
            &uri,
            &headers,
            b"hi",
            route,
            Some("127.0.0.1:9".parse().unwrap()),
        );
        assert_eq!(
            context,
            json!({"method": "POST", "path": "/u/42", "route": {"id": "42"},
                   "query": {"a": "3", "b": "x y"}, "raw_query": "a=1&b=x+y&a=3",
                   "headers": {"x-a": "1, 2"},
                   "body": "hi", "client": "127.0.0.1:9"})
        );
        let binary = request_context(&Method::GET, &uri, &headers, &[0xff], Map::new(), None);
        assert_eq!(binary["body_base64"], "/w==");
        assert!(binary.get("body").is_none());
    }

    #[test]
    fn responses_are_checked_on_the_host() {
        let ok = response_of(&receipt(
            json!({"status": 201, "headers": {"x-id": "7", "content-length": "99", "x-capsa-outcome": "forged"}, "body": "made"}),
        ));
        assert_eq!(ok.status(), 201);
        assert_eq!(ok.headers()["x-id"], "7");
        assert!(ok.headers().get("content-length").is_none());
        assert_eq!(ok.headers()["x-capsa-outcome"], "ok");
        let cookies = response_of(&receipt(
            json!({"status": 200, "headers": {"set-cookie": ["a=1", "b=2"]}}),
        ));
        let cookies: Vec<_> = cookies.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"], "a repeated header stays repeated");
        for bad in [
            json!({"status": 99}),
            json!({"status": 1000}),
            json!({"status": 101}),
            json!({"status": 200, "headers": {"x": "a\r\nb"}}),
            json!({"status": 200, "headers": {"bad name": "a"}}),
            json!({"status": 200, "headers": {"x": [["a"]]}}),
            json!({"status": 200, "headers": {"x": {"a": 1}}}),
            json!({"status": 200, "body": 5}),
            json!({"status": 200, "body_base64": "!!"}),
            json!({"status": "200", "body": "x"}),
            json!({"status": 200, "body": "x", "body_base64": "eA=="}),
        ] {
            let response = response_of(&receipt(bad.clone()));
            assert_eq!(response.status(), 502, "{bad}");
            assert_eq!(response.headers()["x-capsa-outcome"], "guest_exception");
        }
    }

    #[test]
    fn plain_stdout_is_the_body() {
        let mut r = Receipt::default();
        r.stdout = b"hello".to_vec();
        let response = response_of(&r);
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
    }
}
