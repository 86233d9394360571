//! capsa's wire formats, in one place for every side that speaks them: the library, the gateway and
//! the guests (the guest SDK, `capsa-guest`, and the JavaScript runtime, `guests/js`).
//!
//! - [`bytes`]: how bytes travel in JSON, as `field` (text) or `field_base64`, with one rule;
//! - [`protocol`]: the request a host sends a language runtime's `run` export and the answer it
//!   gets back.
//!
//! The crate is plain data: serde and nothing else, so it builds for wasm32-wasip1 as well.

#![deny(missing_docs)]

pub mod bytes;
pub mod protocol;
