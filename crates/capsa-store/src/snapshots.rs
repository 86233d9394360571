//! Stored session snapshots: opaque blobs (the gateway stores `capsa::Snapshot::to_bytes`, which
//! carries its own version and MAC) with their owner, so that any gateway sharing the store can fork
//! them.

use std::fmt;

use crate::registry::StoreError;

/// The id of a stored snapshot: 1 to 64 characters of `a-z`, `0-9`, `_` and `-`, safe in keys and
/// URLs. The gateway makes them random (`snap_` and 32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotId(String);

impl SnapshotId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SnapshotId {
    type Err = crate::NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SnapshotId::try_from(s.to_owned())
    }
}

impl TryFrom<String> for SnapshotId {
    type Error = crate::NameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let valid = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(SnapshotId(s))
        } else {
            Err(crate::NameError(format!(
                "`{}` is not a snapshot id: use 1-64 lowercase letters, digits, '-' or '_'",
                crate::names::shown(&s)
            )))
        }
    }
}

/// What the gateway stores for one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRecord {
    /// Who may fork and delete it (the gateway's owner key: a hash of the bearer token).
    pub owner: String,
    /// Anything else the gateway keeps with it (language, limits, grants). Opaque to the store.
    pub metadata: serde_json::Value,
    /// The snapshot's bytes.
    pub bytes: Vec<u8>,
    /// When it was stored, in milliseconds since the Unix epoch (set by [`SnapshotStore::put`]).
    pub created_at: u64,
}

/// A store of snapshot blobs by id.
///
/// Implemented by [`SqliteSnapshots`](crate::SqliteSnapshots) and
/// [`RedisSnapshots`](crate::RedisSnapshots), which pass the same behaviour suite
/// (`tests/snapshots.rs`). Every method fails with [`StoreError::Backend`] when the backend does.
#[async_trait::async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// Stores `record` under `id` and returns its creation time (`record.created_at` is ignored).
    /// Durable before it returns, as [`Registry::put`](crate::Registry::put).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when `id` is taken.
    async fn put(&self, id: &SnapshotId, record: &SnapshotRecord) -> Result<u64, StoreError>;

    /// The snapshot `id`, or `None`.
    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotRecord>, StoreError>;

    /// Deletes the snapshot `id` if `owner` owns it; `false` when there is no such snapshot of
    /// `owner`'s (another owner's is left alone, and looks missing).
    async fn delete(&self, id: &SnapshotId, owner: &str) -> Result<bool, StoreError>;
}

/// Snapshots in one SQLite file (WAL, `synchronous = FULL`), next to the registry.
pub struct SqliteSnapshots {
    conn: std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>,
}

const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Last, so that reading the other columns never loads the blob's overflow pages.
    bytes BLOB NOT NULL
) WITHOUT ROWID;
";

impl SqliteSnapshots {
    /// Opens (creating if needed) the snapshot database at `path`. The directory must exist.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the file cannot be opened or created, or is not a SQLite
    /// database.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let fail =
            |e: rusqlite::Error| StoreError::Backend(format!("sqlite `{}`: {e}", path.display()));
        let conn = rusqlite::Connection::open(path).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        conn.execute_batch(SQLITE_SCHEMA).map_err(fail)?;
        Ok(SqliteSnapshots {
            conn: std::sync::Arc::new(std::sync::Mutex::new(conn)),
        })
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite task failed: {e}")))?
    }
}

fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt snapshot store: {what}"))
}

fn taken(id: &SnapshotId) -> StoreError {
    StoreError::Conflict(format!("snapshot `{id}` already exists"))
}

#[async_trait::async_trait]
impl SnapshotStore for SqliteSnapshots {
    async fn put(&self, id: &SnapshotId, record: &SnapshotRecord) -> Result<u64, StoreError> {
        let id = id.clone();
        let owner = record.owner.clone();
        let metadata = record.metadata.to_string();
        let bytes = record.bytes.clone();
        let now = crate::registry::now_ms();
        self.blocking(move |conn| {
            let inserted = conn
                .execute(
                    "INSERT OR IGNORE INTO snapshots (id, owner, metadata, created_at, bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![id.as_str(), owner, metadata, now as i64, bytes],
                )
                .map_err(sql)?;
            if inserted == 0 {
                return Err(taken(&id));
            }
            Ok(now)
        })
        .await
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotRecord>, StoreError> {
        use rusqlite::OptionalExtension as _;
        let id = id.clone();
        self.blocking(move |conn| {
            let row = conn
                .query_row(
                    "SELECT owner, metadata, created_at, bytes FROM snapshots WHERE id = ?1",
                    [id.as_str()],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, Vec<u8>>(3)?,
                        ))
                    },
                )
                .optional()
                .map_err(sql)?;
            let Some((owner, metadata, created_at, bytes)) = row else {
                return Ok(None);
            };
            Ok(Some(SnapshotRecord {
                owner,
                metadata: serde_json::from_str(&metadata)
                    .map_err(|e| corrupt(format_args!("metadata of `{id}`: {e}")))?,
                bytes,
                created_at: u64::try_from(created_at)
                    .map_err(|_| corrupt(format_args!("time of `{id}`")))?,
            }))
        })
        .await
    }

    async fn delete(&self, id: &SnapshotId, owner: &str) -> Result<bool, StoreError> {
        let id = id.clone();
        let owner = owner.to_owned();
        self.blocking(move |conn| {
            let deleted = conn
                .execute(
                    "DELETE FROM snapshots WHERE id = ?1 AND owner = ?2",
                    rusqlite::params![id.as_str(), owner],
                )
                .map_err(sql)?;
            Ok(deleted > 0)
        })
        .await
    }
}

/// Snapshots on a Redis server, shared by every gateway that uses it: a hash
/// `capsa:snapshot:<id>` with the fields `owner`, `metadata`, `created` (ms, server clock) and
/// `bytes`. A put and a delete are each one Lua script, so they are atomic; how durable a put is
/// depends on the server's persistence settings, as for the registry.
pub struct RedisSnapshots {
    conn: redis::aio::ConnectionManager,
}

static REDIS_PUT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'metadata', ARGV[2], 'created', now, 'bytes', ARGV[3])
return now
",
    )
});

static REDIS_DELETE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
",
    )
});

fn redis_key(id: &SnapshotId) -> String {
    format!("capsa:snapshot:{id}")
}

fn redis_error(e: redis::RedisError) -> StoreError {
    StoreError::Backend(format!("redis: {e}"))
}

impl RedisSnapshots {
    /// Snapshots on the server of `registry`, over its connection.
    pub fn new(registry: &crate::RedisRegistry) -> RedisSnapshots {
        RedisSnapshots {
            conn: registry.connection(),
        }
    }
}

#[async_trait::async_trait]
impl SnapshotStore for RedisSnapshots {
    async fn put(&self, id: &SnapshotId, record: &SnapshotRecord) -> Result<u64, StoreError> {
        let now: i64 = REDIS_PUT
            .key(redis_key(id))
            .arg(&record.owner)
            .arg(record.metadata.to_string())
            .arg(&record.bytes[..])
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        u64::try_from(now).map_err(|_| taken(id))
    }

    async fn get(&self, id: &SnapshotId) -> Result<Option<SnapshotRecord>, StoreError> {
        let (owner, metadata, created, bytes): (
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<Vec<u8>>,
        ) = redis::cmd("HMGET")
            .arg(redis_key(id))
            .arg(&["owner", "metadata", "created", "bytes"])
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        match (owner, metadata, created, bytes) {
            (None, None, None, None) => Ok(None),
            (Some(owner), Some(metadata), Some(created_at), Some(bytes)) => {
                Ok(Some(SnapshotRecord {
                    owner,
                    metadata: serde_json::from_str(&metadata)
                        .map_err(|e| corrupt(format_args!("metadata of `{id}`: {e}")))?,
                    bytes,
                    created_at,
                }))
            }
            _ => Err(corrupt(format_args!("`{id}` lacks a field"))),
        }
    }

    async fn delete(&self, id: &SnapshotId, owner: &str) -> Result<bool, StoreError> {
        let deleted: i64 = REDIS_DELETE
            .key(redis_key(id))
            .arg(owner)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(deleted > 0)
    }
}
