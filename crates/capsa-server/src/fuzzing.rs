//! Entry points for the fuzz targets (`fuzz/`, `make fuzz`): the request → request-context
//! marshalling and the handler-answer → HTTP-response unmarshalling, as a call does them (the
//! targets run the contexts through real guests too: a JavaScript handler and a `wasi:http`
//! component). Not part of the API.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::{Map, Value};

/// An HTTP request made of `data` (method, target, headers and body, as far as each is a valid
/// HTTP item) as the request context a handler gets; checks that the context is JSON that reads back
/// the same.
///
/// # Panics
///
/// When the context does not survive a JSON round trip: a marshalling bug.
pub fn request_context(data: &[u8]) {
    let context = request(data);
    let text = serde_json::to_string(&context).expect("a context serialises");
    let back: Value = serde_json::from_str(&text).expect("a context reads back");
    assert_eq!(
        back, context,
        "the request context changed in a JSON round trip"
    );
}

/// The request context of the HTTP request made of `data`: its first line is the method, the
/// second the request target, the third the headers (`name:value`, separated by `\r`), the rest the
/// body. Items that are not valid HTTP fall back to `GET`, `/` and no header.
pub fn request(data: &[u8]) -> Value {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let method = parts
        .next()
        .and_then(|m| Method::from_bytes(m).ok())
        .unwrap_or(Method::GET);
    let uri: Uri = parts
        .next()
        .and_then(|u| Uri::try_from(u).ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for line in parts.next().unwrap_or_default().split(|&b| b == b'\r') {
        let mut field = line.splitn(2, |&b| b == b':');
        let (Some(name), Some(value)) = (field.next(), field.next()) else {
            continue;
        };
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let body = parts.next().unwrap_or_default();
    let mut route = Map::new();
    route.insert("rest".into(), Value::from(uri.path()));
    crate::context::request_context(&method, &uri, &headers, body, route, None)
}

/// A handler's answer (`data`, as the JSON its runtime returned) as the gateway's HTTP response.
pub fn handler_response(data: &[u8]) {
    let Ok(result) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut receipt = capsa::Receipt::default();
    receipt.result = Some(result);
    response(&receipt);
}

/// The gateway's HTTP response to a finished handler call.
pub fn response(receipt: &capsa::Receipt) {
    let _ = crate::context::response_of(receipt);
}
