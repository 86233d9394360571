//! Bytes in JSON: the one rule for `field` / `field_base64`.
//!
//! **Encoding.** Bytes that are UTF-8 go as `field`, a JSON string (JSON escapes any control
//! characters, so nothing is lost); any other bytes go as `field_base64`, standard base64 with
//! padding. Receipts (`stdout`, `stderr`), request contexts and handler responses (`body`), host-call
//! answers (`http.fetch`'s `body`, `kv.get`'s `value`) all follow it.
//!
//! **Decoding.** A reader accepts either member: `field` as text, or `field_base64` (padding
//! optional). Both at once, or a member that is not a string, is an error; neither (or `null`) is
//! "no bytes given". `docs/contract.md` and `docs/http.md` state the same rule.

use std::fmt;

use serde_json::{Map, Value};

/// Why a `field` / `field_base64` pair could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The member name and JSON value `bytes` travel as under `field`.
pub fn encode(field: &str, bytes: Vec<u8>) -> (String, Value) {
    match String::from_utf8(bytes) {
        Ok(text) => (field.to_owned(), Value::String(text)),
        Err(e) => (
            format!("{field}_base64"),
            Value::String(base64_encode(e.as_bytes())),
        ),
    }
}

/// The member name and text `bytes` travel as under `field`, borrowing text that is UTF-8 (for
/// serializers that write members one by one).
pub fn encode_ref<'a>(field: &str, bytes: &'a [u8]) -> (String, std::borrow::Cow<'a, str>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (field.to_owned(), text.into()),
        Err(_) => (format!("{field}_base64"), base64_encode(bytes).into()),
    }
}

/// Puts `bytes` into `object` under `field` or `field_base64`.
pub fn insert(object: &mut Map<String, Value>, field: &str, bytes: Vec<u8>) {
    let (key, value) = encode(field, bytes);
    object.insert(key, value);
}

/// The bytes `object` holds under `field` or `field_base64`; `None` when it has neither (or nulls).
///
/// # Errors
///
/// Both members at once, a member that is not a string, or `field_base64` that is not base64.
pub fn decode(object: &Map<String, Value>, field: &str) -> Result<Option<Vec<u8>>, DecodeError> {
    let encoded_field = format!("{field}_base64");
    let text = object.get(field).filter(|v| !v.is_null());
    let encoded = object.get(&encoded_field).filter(|v| !v.is_null());
    match (text, encoded) {
        (None, None) => Ok(None),
        (Some(Value::String(text)), None) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(Value::String(encoded))) => base64_decode(encoded.trim())
            .map(Some)
            .ok_or_else(|| DecodeError(format!("`{encoded_field}` is not base64"))),
        _ => Err(DecodeError(format!(
            "give at most one of `{field}` and `{encoded_field}`, as a string"
        ))),
    }
}

/// As [`decode`], for a value that should be an object (anything else holds no bytes).
///
/// # Errors
///
/// As [`decode`].
pub fn decode_value(value: &Value, field: &str) -> Result<Option<Vec<u8>>, DecodeError> {
    match value.as_object() {
        Some(object) => decode(object, field),
        None => Ok(None),
    }
}

/// Header names and values as one JSON object, repeated headers joined with `, ` (RFC 9110 §5.3).
/// Values that are not UTF-8 are read lossily.
pub fn join_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Map<String, Value> {
    let mut joined = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value);
        match joined.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                joined.insert(name.to_owned(), Value::String(value.into_owned()));
            }
        }
    }
    joined
}

/// Header names and values as one JSON object, each field kept: a repeated header's value is the
/// array of its values, in order (two `set-cookie` fields stay two). Values that are not UTF-8 are
/// read lossily.
pub fn header_fields<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Map<String, Value> {
    let mut fields = Map::new();
    for (name, value) in headers {
        let value = Value::String(String::from_utf8_lossy(value).into_owned());
        match fields.get_mut(name) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                fields.insert(name.to_owned(), value);
            }
        }
    }
    fields
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64, padding optional; `None` when `text` is not base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    let unpadded = match text {
        [rest @ .., b'=', b'='] if text.len().is_multiple_of(4) => rest,
        [rest @ .., b'='] if text.len().is_multiple_of(4) => rest,
        _ => text,
    };
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let digit = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    for chunk in unpadded.chunks(4) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= digit(*b)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utf8_is_text_and_anything_else_is_base64() {
        assert_eq!(
            encode("body", b"hi\n".to_vec()),
            ("body".into(), json!("hi\n"))
        );
        // Control characters are text too: JSON escapes them.
        assert_eq!(encode("body", b"a\x01\x1b[0m".to_vec()).0, "body");
        assert_eq!(
            encode("body", vec![0xff, 0x00]),
            ("body_base64".into(), json!("/wA="))
        );
        assert_eq!(encode_ref("stdout", &[0xff]).0, "stdout_base64");
    }

    #[test]
    fn decoding_takes_either_member_and_refuses_both() {
        let object = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            decode(&object(json!({"body": "hi"})), "body"),
            Ok(Some(b"hi".to_vec()))
        );
        assert_eq!(
            decode(&object(json!({"body_base64": "/wA="})), "body"),
            Ok(Some(vec![0xff, 0]))
        );
        assert_eq!(
            decode(&object(json!({"body_base64": "/wA"})), "body"),
            Ok(Some(vec![0xff, 0]))
        );
        assert_eq!(decode(&object(json!({"body": null})), "body"), Ok(None));
        assert_eq!(decode(&object(json!({})), "body"), Ok(None));
        assert!(decode(&object(json!({"body": "a", "body_base64": "YQ=="})), "body").is_err());
        assert!(decode(&object(json!({"body": 1})), "body").is_err());
        let err = decode(&object(json!({"body_base64": "!!"})), "body").unwrap_err();
        assert_eq!(err.to_string(), "`body_base64` is not base64");
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let encoded = base64_encode(&bytes);
            assert_eq!(base64_decode(&encoded), Some(bytes.clone()), "{encoded}");
            assert_eq!(base64_decode(encoded.trim_end_matches('=')), Some(bytes));
        }
        for bad in ["a", "ab!c", "abcde", "a=bc"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn repeated_headers_are_joined() {
        let joined = join_headers([("a", &b"1"[..]), ("b", b"2"), ("a", b"3")]);
        assert_eq!(Value::Object(joined), json!({"a": "1, 3", "b": "2"}));
    }

    #[test]
    fn repeated_header_fields_are_kept_apart() {
        let fields = header_fields([("a", &b"1"[..]), ("b", b"2"), ("a", b"3"), ("a", b"4")]);
        assert_eq!(
            Value::Object(fields),
            json!({"a": ["1", "3", "4"], "b": "2"})
        );
    }
}
