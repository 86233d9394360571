//! Persistent stores for capsa: the function registry of a gateway, and the backends of the
//! key-value capability.
//!
//! # The function registry
//!
//! A [`Registry`] keeps functions: each a series of numbered, immutable versions (code, language,
//! opaque metadata and the code's SHA-256 digest), plus aliases such as `canary` that point at one of
//! them. Names are parsed once into [`FunctionName`] and [`AliasName`], which only hold characters
//! that are safe in paths, keys and URLs; a [`FunctionRef`] such as `hello@3` or `hello@canary`
//! selects a version with a [`Selector`].
//!
//! - [`SqliteRegistry`]: a SQLite file (WAL, `synchronous = FULL`): a version is on disk once `put`
//!   returns.
//! - [`RedisRegistry`]: a Redis server, so that several gateways share one registry.
//!
//! # Key-value backends
//!
//! Backends of [`capsa::kv::KvBackend`], the store behind the key-value capability:
//!
//! - [`SqliteKv`]: a SQLite file (WAL, `synchronous = FULL`): an acknowledged `set` survives `kill -9`
//!   and power loss. The embedded default for anything persistent.
//! - [`RedisKv`]: a Redis server, so that several capsa processes share one store.
//!
//! # Session snapshots
//!
//! A [`SnapshotStore`] keeps the gateway's session snapshots as opaque blobs with their owner, by
//! [`SnapshotId`]: [`SqliteSnapshots`] and [`RedisSnapshots`], so a snapshot taken on one gateway can
//! be forked on another that shares the Redis server.
//!
//! Every backend passes the same behaviour suite as its siblings (`tests/registry.rs`,
//! `tests/snapshots.rs`, `tests/kv.rs`). [`Store::open`] opens a registry, a KV backend and a
//! snapshot store together from one URL.
//!
//! # Example
//!
//! ```no_run
//! use capsa_store::{FunctionRef, NewVersion, Store};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open("sqlite:data").await?;
//! let hello: FunctionRef = "hello".parse()?;
//! let new = NewVersion {
//!     language: "js".into(),
//!     code: b"export default () => 'hi'".to_vec(),
//!     metadata: serde_json::json!({}),
//! };
//! let stored = store.registry.put(&hello.name, new).await?;
//! assert_eq!(stored.version, 1);
//! let latest = store.registry.resolve(&hello.name, &hello.selector).await?;
//! assert_eq!(latest.map(|v| v.digest), Some(stored.digest));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod names;
mod redis_kv;
mod redis_registry;
mod registry;
mod snapshots;
mod sqlite;
mod sqlite_registry;

use std::path::Path;
use std::sync::Arc;

pub use names::{AliasName, FunctionName, FunctionRef, NameError, Selector};
pub use redis_kv::RedisKv;
pub use redis_registry::RedisRegistry;
pub use registry::{FunctionInfo, NewVersion, Registry, StoreError, VersionInfo, digest};
pub use snapshots::{RedisSnapshots, SnapshotId, SnapshotRecord, SnapshotStore, SqliteSnapshots};
pub use sqlite::{KV_FILE, SqliteKv};
pub use sqlite_registry::SqliteRegistry;

/// The file of [`SqliteSnapshots`] in a store directory.
pub const SNAPSHOTS_FILE: &str = "snapshots.db";

/// The store a gateway uses: its function registry, the backend of its key-value capability and its
/// session snapshots, all on the same SQLite directory or Redis server. Cloning it shares them.
#[derive(Clone)]
pub struct Store {
    /// The function registry.
    pub registry: Arc<dyn Registry>,
    /// The key-value backend.
    pub kv: Arc<dyn capsa::kv::KvBackend>,
    /// Session snapshots.
    pub snapshots: Arc<dyn SnapshotStore>,
    description: String,
}

impl Store {
    /// Opens the store at `url`:
    ///
    /// - `sqlite:DIR` or a plain directory path: `DIR/registry.db` ([`SqliteRegistry`]),
    ///   `DIR/kv.db` ([`SqliteKv`]) and `DIR/snapshots.db` ([`SqliteSnapshots`]), creating the
    ///   directory if needed;
    /// - `redis://[:PASSWORD@]HOST:PORT[/DB]`: [`RedisRegistry`], [`RedisKv`] and [`RedisSnapshots`]
    ///   on that server, which must be reachable now. (`rediss://` is recognised, but this build has no TLS support and
    ///   refuses it.)
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the URL has another form, or the store cannot be opened or
    /// reached.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            let registry = RedisRegistry::connect(url).await?;
            let kv = RedisKv::new(url).map_err(|e| StoreError::Backend(e.to_string()))?;
            return Ok(Store {
                description: registry.address().to_owned(),
                snapshots: Arc::new(RedisSnapshots::new(&registry)),
                registry: Arc::new(registry),
                kv: Arc::new(kv),
            });
        }
        let dir = match url.strip_prefix("sqlite:") {
            Some(dir) => dir,
            None if !url.is_empty() && !url.contains("://") => url,
            None => {
                return Err(StoreError::Backend(format!(
                    "store url `{}`: use `sqlite:DIR`, a directory path, `redis://HOST:PORT` \
                     or `rediss://HOST:PORT`",
                    redis_registry::redact(url)
                )));
            }
        };
        if dir.is_empty() {
            return Err(StoreError::Backend(format!(
                "store url `{url}`: name a directory after `sqlite:`"
            )));
        }
        let dir = Path::new(dir).to_owned();
        // Creating directories and files, and SQLite's first fsyncs, are blocking I/O.
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| {
                StoreError::Backend(format!("store directory `{}`: {e}", dir.display()))
            })?;
            let registry = SqliteRegistry::open(dir.join("registry.db"))?;
            let kv = SqliteKv::open(dir.join(sqlite::KV_FILE))
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let snapshots = SqliteSnapshots::open(dir.join(SNAPSHOTS_FILE))?;
            let shown = std::fs::canonicalize(&dir).unwrap_or(dir);
            Ok(Store {
                snapshots: Arc::new(snapshots),
                registry: Arc::new(registry),
                kv: Arc::new(kv),
                description: format!("sqlite:{}", shown.display()),
            })
        })
        .await
        .map_err(|e| StoreError::Backend(format!("opening the store failed: {e}")))?
    }

    /// A short description for logs: `sqlite:/absolute/dir` or `redis://HOST:PORT`, never a password.
    pub fn describe(&self) -> &str {
        &self.description
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("at", &self.description)
            .finish_non_exhaustive()
    }
}
