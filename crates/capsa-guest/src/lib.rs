//! The guest SDK for Rust functions that run in capsa sandboxes (`wasm32-wasip1`).
//!
//! It wraps capsa's host-call ABI (`docs/abi.md`):
//!
//! - [`call`] calls a host function granted to this call, JSON in and out;
//!   [`start`] + [`Pending::wait`] run several at once;
//! - [`log`] writes a structured log line into the call's receipt;
//! - [`export_alloc!`] exports the `alloc`/`dealloc` pair the host uses to pass strings to exported
//!   functions, and [`read_str`] / [`return_string`] are the two halves of a string function.
//!
//! ```no_run
//! use serde_json::json;
//!
//! fn main() {
//!     match capsa_guest::call("add", &json!({"a": 2, "b": 40})) {
//!         Ok(sum) => println!("{sum}"),
//!         Err(err) => {
//!             eprintln!("{err}");
//!             std::process::exit(1);
//!         }
//!     }
//! }
//! ```
//!
//! Outside a capsa sandbox (a native build, e.g. for unit tests) every host call returns a
//! `capability_denied` error.

#![deny(missing_docs)]

use std::fmt;

use serde_json::Value;

/// An error a host call returned: a stable capsa error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// The error code, e.g. `capability_denied` or `host_error`.
    pub code: String,
    /// The message.
    pub message: String,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for HostError {}

/// Log levels for [`log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Level {
    /// Something failed.
    Error = 0,
    /// Something looks wrong.
    Warn = 1,
    /// Normal operation.
    Info = 2,
    /// Detail for debugging.
    Debug = 3,
    /// Even more detail.
    Trace = 4,
}

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "capsa")]
    unsafe extern "C" {
        pub fn call_start(
            name_ptr: *const u8,
            name_len: u32,
            args_ptr: *const u8,
            args_len: u32,
        ) -> u32;
        pub fn call_wait(handle: u32, len_out: *mut u32) -> u32;
        pub fn call_read(handle: u32, buf_ptr: *mut u8, buf_len: u32) -> u32;
        pub fn log(level: u32, ptr: *const u8, len: u32);
    }
}

/// A host call in flight. Start several with [`start`] and they run concurrently on the host.
#[derive(Debug)]
#[must_use = "a started host call does nothing useful unless waited for"]
pub struct Pending {
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    handle: u32,
}

/// Starts the host function `name` with raw JSON `args` and returns at once.
pub fn start_raw(name: &str, args: &[u8]) -> Pending {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: both slices are valid for reads of their lengths for the duration of the call.
        let handle = unsafe {
            sys::call_start(
                name.as_ptr(),
                name.len() as u32,
                args.as_ptr(),
                args.len() as u32,
            )
        };
        Pending { handle }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, args);
        Pending { handle: 0 }
    }
}

/// Starts the host function `name` with JSON `args` and returns at once.
pub fn start(name: &str, args: &Value) -> Pending {
    start_raw(name, args.to_string().as_bytes())
}

impl Pending {
    /// The host's handle of this call, for runtimes that keep calls in flight outside Rust (the
    /// JavaScript runtime's promises). Get the call back with [`Pending::from_handle`].
    pub fn into_handle(self) -> u32 {
        self.handle
    }

    /// The call behind a handle from [`Pending::into_handle`]. A handle that is not in flight makes
    /// the host trap the guest when it is waited for.
    pub fn from_handle(handle: u32) -> Pending {
        Pending { handle }
    }

    /// Waits for the raw JSON result.
    ///
    /// # Errors
    ///
    /// The host function's error, or `capability_denied` when `name` was not granted.
    pub fn wait_raw(self) -> Result<Vec<u8>, HostError> {
        #[cfg(target_arch = "wasm32")]
        {
            let mut len = 0u32;
            // SAFETY: `len` is a valid u32 to write; `buf` has room for `len` bytes.
            let (status, buf) = unsafe {
                let status = sys::call_wait(self.handle, &mut len);
                let mut buf = vec![0u8; len as usize];
                let n = sys::call_read(self.handle, buf.as_mut_ptr(), len);
                buf.truncate(n as usize);
                (status, buf)
            };
            if status == 0 {
                Ok(buf)
            } else {
                Err(parse_error(&buf))
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            Err(HostError {
                code: "capability_denied".into(),
                message: "not running in a capsa sandbox".into(),
            })
        }
    }

    /// Waits for the JSON result.
    ///
    /// # Errors
    ///
    /// As [`Pending::wait_raw`]; a result that is not JSON is a `host_error`.
    pub fn wait(self) -> Result<Value, HostError> {
        let bytes = self.wait_raw()?;
        serde_json::from_slice(&bytes).map_err(|e| HostError {
            code: "host_error".into(),
            message: format!("host returned invalid JSON: {e}"),
        })
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn parse_error(bytes: &[u8]) -> HostError {
    let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    HostError {
        code: text("code"),
        message: text("message"),
    }
}

/// Calls the host function `name` with JSON `args` and waits for its JSON result.
///
/// # Errors
///
/// The host function's error, or `capability_denied` when `name` was not granted.
pub fn call(name: &str, args: &Value) -> Result<Value, HostError> {
    start(name, args).wait()
}

/// Writes a structured log line into the call's receipt (it counts against the output cap).
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `message` is valid for reads of its length.
    unsafe {
        sys::log(level as u32, message.as_ptr(), message.len() as u32)
    };
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// The key-value store granted to this call (`--kv`): one namespace, chosen by the host.
///
/// ```no_run
/// use capsa_guest::kv;
///
/// kv::set("visits", "1", None)?;
/// let visits = kv::get("visits")?.unwrap_or_default();
/// let page = kv::list("user:", None, None)?;
/// # Ok::<(), capsa_guest::HostError>(())
/// ```
pub mod kv {
    use serde_json::{Value, json};

    use crate::{HostError, call};

    /// The value of `key` as text, or `None` when it is missing or expired. A value that is not UTF-8
    /// is an error here: read it with [`get_bytes`].
    ///
    /// # Errors
    ///
    /// `capability_denied` without a KV grant; `invalid_input` for a bad key; `host_error` when the
    /// store fails.
    pub fn get(key: &str) -> Result<Option<String>, HostError> {
        get_bytes(key)?
            .map(|bytes| {
                String::from_utf8(bytes).map_err(|_| HostError {
                    code: "invalid_input".into(),
                    message: format!("the value of `{key}` is not UTF-8 text: use get_bytes"),
                })
            })
            .transpose()
    }

    /// The value of `key` as bytes, or `None` when it is missing or expired.
    ///
    /// # Errors
    ///
    /// As [`get`].
    pub fn get_bytes(key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let value = call("kv.get", &json!({ "key": key }))?;
        capsa_wire::bytes::decode_value(&value, "value").map_err(|e| HostError {
            code: "host_error".into(),
            message: format!("the store's answer: {e}"),
        })
    }

    /// Stores `value` under `key`, expiring after `ttl_ms` milliseconds if given.
    ///
    /// # Errors
    ///
    /// As [`get`], and `invalid_input` when the value is too large or the namespace is full.
    pub fn set(key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), HostError> {
        call(
            "kv.set",
            &json!({ "key": key, "value": value, "ttl_ms": ttl_ms }),
        )
        .map(drop)
    }

    /// Stores bytes under `key` (see [`set`]).
    ///
    /// # Errors
    ///
    /// As [`set`].
    pub fn set_bytes(key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), HostError> {
        let mut args = json!({ "key": key, "ttl_ms": ttl_ms });
        if let Some(args) = args.as_object_mut() {
            capsa_wire::bytes::insert(args, "value", value.to_vec());
        }
        call("kv.set", &args).map(drop)
    }

    /// Deletes `key`; `true` when it existed.
    ///
    /// # Errors
    ///
    /// As [`get`].
    pub fn delete(key: &str) -> Result<bool, HostError> {
        let result = call("kv.delete", &json!({ "key": key }))?;
        Ok(result
            .get("deleted")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// A page of keys starting with `prefix`, in byte order: at most `limit` (default 100), after
    /// `cursor`. Returns the keys and the cursor of the next page (`None` at the end).
    ///
    /// # Errors
    ///
    /// As [`get`].
    pub fn list(
        prefix: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), HostError> {
        let result = call(
            "kv.list",
            &json!({ "prefix": prefix, "limit": limit, "cursor": cursor }),
        )?;
        let keys = result
            .get("keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let next = result
            .get("cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((keys, next))
    }
}

/// Outbound HTTP to the hosts granted to this call (`--allow-host`).
///
/// ```no_run
/// let response = capsa_guest::http::fetch("GET", "https://api.example.com/items", &[], None)?;
/// if response.status == 200 {
///     println!("{}", response.text());
/// }
/// # Ok::<(), capsa_guest::HostError>(())
/// ```
pub mod http {
    use std::collections::BTreeMap;

    use serde_json::{Map, Value, json};

    use crate::{HostError, call};

    /// A response: status, headers (names lowercase, repeated ones joined with `, `), body.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Response {
        /// The HTTP status.
        pub status: u16,
        /// The headers.
        pub headers: BTreeMap<String, String>,
        /// The body.
        pub body: Vec<u8>,
    }

    impl Response {
        /// The body as text (invalid UTF-8 replaced).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// The body parsed as JSON.
        ///
        /// # Errors
        ///
        /// When the body is not JSON.
        pub fn json(&self) -> Result<Value, serde_json::Error> {
            serde_json::from_slice(&self.body)
        }
    }

    /// Sends `method` to `url` with `headers` and an optional body, following redirects the grant
    /// allows.
    ///
    /// # Errors
    ///
    /// `capability_denied` (naming the host) for a host, address, port or method not granted;
    /// `payload_too_large` for a body over the caps; `timeout` for a slow server; `host_error` for
    /// network failures.
    pub fn fetch(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, HostError> {
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        let mut args = json!({ "method": method, "url": url, "headers": headers });
        if let (Some(body), Some(args)) = (body, args.as_object_mut()) {
            capsa_wire::bytes::insert(args, "body", body.to_vec());
        }
        let result = call("http.fetch", &args)?;
        let status = result.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
        let headers = result
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let body = capsa_wire::bytes::decode_value(&result, "body")
            .map_err(|e| HostError {
                code: "internal".into(),
                message: format!("the host's answer: {e}"),
            })?
            .unwrap_or_default();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Standard base64 with padding, the encoding of `*_base64` fields (`capsa_wire::bytes`).
pub use capsa_wire::bytes::{base64_decode, base64_encode};

/// Reads a string argument the host passed as `(ptr, len)`.
///
/// # Safety
///
/// `ptr` and `len` must be a pair the host passed to an exported function, pointing at memory the
/// host filled through `alloc`.
pub unsafe fn read_str(ptr: *const u8, len: u32) -> String {
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// Hands a string back to the host as an `i64` packed `ptr << 32 | len`. The host reads it and frees it
/// with `dealloc`, so the module must also use [`export_alloc!`].
pub fn return_string(s: String) -> i64 {
    let bytes = s.into_bytes().into_boxed_slice();
    let len = bytes.len() as u64;
    let ptr = Box::into_raw(bytes) as *mut u8 as usize as u64;
    ((ptr << 32) | (len & 0xffff_ffff)) as i64
}

/// Exports `alloc(len) -> ptr` and `dealloc(ptr, len)`, the allocator pair capsa uses to pass strings
/// into and out of exported functions. Invoke once in the module's crate.
#[macro_export]
macro_rules! export_alloc {
    () => {
        /// Allocates `len` bytes for the host to write a string argument into.
        #[unsafe(no_mangle)]
        pub extern "C" fn alloc(len: u32) -> *mut u8 {
            let mut buf = ::std::vec::Vec::<u8>::with_capacity(len as usize);
            let ptr = buf.as_mut_ptr();
            ::std::mem::forget(buf);
            ptr
        }

        /// Frees what `alloc` or `return_string` handed out.
        ///
        /// # Safety
        ///
        /// `ptr` and `len` must come from `alloc` or `return_string` of this module.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: u32) {
            // SAFETY: guaranteed by the caller; `alloc` reserved exactly `len` bytes of capacity and
            // `return_string` a boxed slice of `len` bytes.
            unsafe { drop(::std::vec::Vec::from_raw_parts(ptr, 0, len as usize)) };
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_are_parsed_from_their_json() {
        let err = parse_error(
            br#"{"code":"capability_denied","message":"host function `x` is not granted"}"#,
        );
        assert_eq!(err.code, "capability_denied");
        assert_eq!(
            err.to_string(),
            "capability_denied: host function `x` is not granted"
        );
        let garbage = parse_error(b"not json");
        assert_eq!((garbage.code.as_str(), garbage.message.as_str()), ("", ""));
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let encoded = base64_encode(&bytes);
            assert_eq!(encoded.len() % 4, 0);
            assert_eq!(base64_decode(&encoded), Some(bytes));
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_decode("not*base64"), None);
    }

    #[test]
    fn outside_a_sandbox_host_calls_are_denied() {
        let err = call("anything", &serde_json::json!({})).unwrap_err();
        assert_eq!(err.code, "capability_denied");
    }
}
