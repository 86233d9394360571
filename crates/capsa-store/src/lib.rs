//! Persistent stores for capsa.
//!
//! So far: backends of the key-value capability ([`capsa::kv::KvBackend`]):
//!
//! - [`SqliteKv`]: a SQLite file (WAL, `synchronous = FULL`): an acknowledged `set` survives `kill -9`
//!   and power loss. The embedded default for anything persistent.
//! - [`RedisKv`]: a Redis server, so that several capsa processes share one store.
//!
//! Both pass the same behaviour suite as the in-memory backend (`tests/kv.rs`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use capsa::{Grants, kv::KvGrant};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(capsa_store::SqliteKv::open("data/kv.db")?);
//! let grants = Grants::new().kv(KvGrant::new(store, "my-app")?);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod redis_kv;
mod sqlite;

pub use redis_kv::RedisKv;
pub use sqlite::SqliteKv;
