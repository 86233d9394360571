//! Outbound HTTP, granted per host: the allowlist and the SSRF rules every request and every
//! resolved address must pass.
//!
//! [`AllowList`] decides *whether* a request may go out; it sees untrusted input (guest URLs) and is
//! tested against a table of hostile spellings. [`HttpGrant`] is the `http.fetch` host function that
//! uses it: names are resolved once and only vetted addresses are connected to, every redirect is
//! checked again, and bodies, fetch counts and times are capped. `outgoing` is the same grant behind
//! `wasi:http/outgoing-handler`, for `wasi:http` components.

mod address;
mod allowlist;
mod fetch;

pub use address::{AddressClass, classify};
pub use allowlist::{AllowList, Denied, HostPattern, Target};
pub use fetch::{HttpCaps, HttpGrant};
