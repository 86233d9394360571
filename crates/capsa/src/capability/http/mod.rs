//! Outbound HTTP, granted per host: the allowlist and the SSRF rules every request and every
//! resolved address must pass.
//!
//! This part decides *whether* a request may go out; it sees untrusted input (guest URLs) and is
//! tested against a table of hostile spellings. The `http.fetch` host function that uses it comes
//! next (issue #3).

mod address;
mod allowlist;

pub use address::{AddressClass, classify};
pub use allowlist::{AllowList, Denied, HostPattern, Target};
