//! The `handler_response` fuzz target of `capsa_fuzz::targets`.

#![no_main]

include!("common.rs");
