//! The `repl_scanner` fuzz target of `capsa_fuzz::targets`.

#![no_main]

include!("common.rs");
