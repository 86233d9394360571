//! The SQLite key-value backend.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capsa::kv::{KvBackend, KvError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// A key-value store in one SQLite file.
///
/// The database runs in WAL mode with `synchronous = FULL`: once `set` returns, the value is on disk.
/// Expired values are invisible at once and deleted by the next `set` in their namespace.
/// Operations run on tokio's blocking pool, one at a time per store.
pub struct SqliteKv {
    conn: Arc<Mutex<Connection>>,
}

/// The KV database's file in a store directory: what `sqlite:DIR` names for `capsa run --kv` and for
/// the gateway's `store` alike, so both reach the same data.
pub const KV_FILE: &str = "kv.db";

impl SqliteKv {
    /// Opens (creating both if needed) the KV database of the store directory `dir` (`sqlite:DIR`):
    /// `DIR/kv.db`.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] when `dir` is a file or cannot be created, or as [`SqliteKv::open`].
    pub fn open_in(dir: impl AsRef<Path>) -> Result<Self, KvError> {
        let dir = dir.as_ref();
        if dir.is_file() {
            return Err(KvError::Backend(format!(
                "`{}` is a file: `sqlite:` names a store directory (its KV is `DIR/{KV_FILE}`)",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| KvError::Backend(format!("store directory `{}`: {e}", dir.display())))?;
        SqliteKv::open(dir.join(KV_FILE))
    }

    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] when the file cannot be opened or is not a capsa KV database.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, KvError> {
        let path = path.as_ref();
        let fail =
            |e: rusqlite::Error| KvError::Backend(format!("sqlite `{}`: {e}", path.display()));
        let conn = Connection::open(path).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                 ns TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 expires_at INTEGER,
                 PRIMARY KEY (ns, key)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS kv_expiry ON kv (ns, expires_at) WHERE expires_at IS NOT NULL;",
        )
        .map_err(fail)?;
        Ok(SqliteKv {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, KvError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a panic mid-statement; SQLite rolled that transaction back.
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| KvError::Backend(format!("sqlite task failed: {e}")))?
        .map_err(|e| KvError::Backend(format!("sqlite: {e}")))
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

const LIVE: &str = "(expires_at IS NULL OR expires_at > :now)";

#[async_trait::async_trait]
impl KvBackend for SqliteKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let (ns, key) = (namespace.to_owned(), key.to_owned());
        self.blocking(move |conn| {
            conn.query_row(
                &format!("SELECT value FROM kv WHERE ns = :ns AND key = :key AND {LIVE}"),
                rusqlite::named_params! {":ns": ns, ":key": key, ":now": now_ms()},
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        max_entries: u64,
    ) -> Result<(), KvError> {
        let (ns, key, value) = (namespace.to_owned(), key.to_owned(), value.to_vec());
        let full = self
            .blocking(move |conn| {
                let now = now_ms();
                let expires_at = ttl.map(|ttl| now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)));
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // Expired rows go on every write, so the file never holds more than the live data
                // plus what expired since the namespace's last write.
                tx.execute(
                    "DELETE FROM kv WHERE ns = ?1 AND expires_at IS NOT NULL AND expires_at <= ?2",
                    params![ns, now],
                )?;
                let exists: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM kv WHERE ns = ?1 AND key = ?2",
                    params![ns, key],
                    |row| row.get(0),
                )?;
                let count: i64 =
                    tx.query_row("SELECT COUNT(*) FROM kv WHERE ns = ?1", params![ns], |row| row.get(0))?;
                if exists == 0 && count as u64 >= max_entries {
                    tx.commit()?;
                    return Ok(true);
                }
                tx.execute(
                    "INSERT OR REPLACE INTO kv (ns, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![ns, key, value, expires_at],
                )?;
                tx.commit()?;
                Ok(false)
            })
            .await?;
        if full {
            return Err(KvError::Full(max_entries));
        }
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        let (ns, key) = (namespace.to_owned(), key.to_owned());
        self.blocking(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existed: i64 = tx.query_row(
                &format!("SELECT COUNT(*) FROM kv WHERE ns = :ns AND key = :key AND {LIVE}"),
                rusqlite::named_params! {":ns": ns, ":key": key, ":now": now_ms()},
                |row| row.get(0),
            )?;
            tx.execute(
                "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
                params![ns, key],
            )?;
            tx.commit()?;
            Ok(existed > 0)
        })
        .await
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        let (ns, prefix, after) = (
            namespace.to_owned(),
            prefix.to_owned(),
            after.map(str::to_owned),
        );
        self.blocking(move |conn| {
            // Keys compare bytewise (BINARY collation on UTF-8), so the prefix range starts at the
            // prefix itself; the `substr` test ends it.
            let mut stmt = conn.prepare(&format!(
                "SELECT key FROM kv
                 WHERE ns = :ns AND key >= :prefix AND (:after IS NULL OR key > :after)
                   AND substr(CAST(key AS BLOB), 1, :len) = CAST(:prefix AS BLOB) AND {LIVE}
                 ORDER BY key LIMIT :limit"
            ))?;
            let rows = stmt.query_map(
                rusqlite::named_params! {
                    ":ns": ns,
                    ":prefix": prefix,
                    ":after": after,
                    ":len": prefix.len() as i64,
                    ":now": now_ms(),
                    ":limit": limit as i64,
                },
                |row| row.get(0),
            )?;
            rows.collect()
        })
        .await
    }
}
