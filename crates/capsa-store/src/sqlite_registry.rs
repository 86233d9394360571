//! The SQLite function registry.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::names::{AliasName, FunctionName, Selector};
use crate::registry::{
    FunctionInfo, NewVersion, Registry, StoreError, VersionInfo, digest, no_function, no_version,
    now_ms, stored_name, versions_exhausted,
};

/// The schema this code writes, kept in `PRAGMA user_version` so a later capsa can migrate it.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY NOT NULL,
    last_version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    language TEXT NOT NULL,
    size INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Last, so that reading the other columns never loads the code's overflow pages.
    code BLOB NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
) WITHOUT ROWID;
";

/// The columns [`RawVersion::from_row`] reads, in order.
const VERSION_COLUMNS: &str = "v.version, v.digest, v.language, v.size, v.metadata, v.created_at";

/// A function registry in one SQLite file.
///
/// Layout: a table of versions (code included), one of aliases, one with a row per existing function,
/// and one of per-name version counters that `delete` leaves alone, so numbers are never reused.
///
/// The database runs in WAL mode with `synchronous = FULL`: once `put` returns, the version is on
/// disk. Every write is one `IMMEDIATE` transaction, so several processes may share the file.
/// Operations run on tokio's blocking pool, one at a time per registry.
pub struct SqliteRegistry {
    conn: Arc<Mutex<Connection>>,
}

/// A failure inside a blocking operation: SQLite's, or the registry's own.
enum Failure {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

type Op<R> = Result<R, Failure>;

impl SqliteRegistry {
    /// Opens (creating if needed) the registry database at `path`. The directory must exist.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the file cannot be opened or created, is not a SQLite database,
    /// or holds a registry written by a newer capsa.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let fail =
            |e: rusqlite::Error| StoreError::Backend(format!("sqlite `{}`: {e}", path.display()));
        let mut conn = Connection::open(path).map_err(fail)?;
        // The first statement that reads the file: this is where a non-database is refused.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let schema: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(fail)?;
        if schema > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "sqlite `{}`: registry schema version {schema} is newer than this capsa reads \
                 ({SCHEMA_VERSION})",
                path.display()
            )));
        }
        tx.execute_batch(SCHEMA).map_err(fail)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(SqliteRegistry {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Op<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a panic mid-statement; SQLite rolled that transaction back.
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite task failed: {e}")))?
        .map_err(|e| match e {
            Failure::Sql(e) => StoreError::Backend(format!("sqlite: {e}")),
            Failure::Store(e) => e,
        })
    }
}

/// A version number as SQLite stores it; `None` for numbers beyond SQLite's integers, which no
/// version can have.
fn sql_version(version: u64) -> Option<i64> {
    i64::try_from(version).ok()
}

fn corrupt(what: &str) -> Failure {
    Failure::Store(StoreError::Backend(format!("corrupt registry: {what}")))
}

/// An integer column that must not be negative.
fn unsigned(value: i64, what: &str) -> Op<u64> {
    u64::try_from(value).map_err(|_| corrupt(&format!("negative {what} `{value}`")))
}

/// A row of [`VERSION_COLUMNS`], before its checks.
struct RawVersion {
    version: i64,
    digest: String,
    language: String,
    size: i64,
    metadata: String,
    created_at: i64,
}

impl RawVersion {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawVersion> {
        Ok(RawVersion {
            version: row.get(0)?,
            digest: row.get(1)?,
            language: row.get(2)?,
            size: row.get(3)?,
            metadata: row.get(4)?,
            created_at: row.get(5)?,
        })
    }

    fn into_info(self, name: &FunctionName) -> Op<VersionInfo> {
        let metadata = serde_json::from_str(&self.metadata)
            .map_err(|e| corrupt(&format!("metadata of `{name}` {}: {e}", self.version)))?;
        Ok(VersionInfo {
            name: name.clone(),
            version: unsigned(self.version, "version")?,
            digest: self.digest,
            language: self.language,
            size: unsigned(self.size, "size")?,
            metadata,
            created_at: unsigned(self.created_at, "time")?,
        })
    }
}

/// The functions named `only`, or all of them, sorted by name, read in one transaction.
fn functions(conn: &mut Connection, only: Option<&FunctionName>) -> Op<Vec<FunctionInfo>> {
    let tx = conn.transaction()?;
    let filter = if only.is_some() {
        "WHERE name = :name"
    } else {
        ""
    };
    let name = only.map(FunctionName::as_str);
    let params: &[(&str, &dyn rusqlite::ToSql)] = if only.is_some() {
        rusqlite::named_params! {":name": name}
    } else {
        &[]
    };
    let mut infos = Vec::new();
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT f.name, f.updated_at, MAX(v.version), COUNT(*)
             FROM (SELECT * FROM functions {filter}) f JOIN versions v ON v.name = f.name
             GROUP BY f.name ORDER BY f.name"
        ))?;
        let rows = stmt.query_map(params, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (name, updated_at, latest, versions) = row?;
            infos.push(FunctionInfo {
                name: stored_name(name)?,
                latest: unsigned(latest, "version")?,
                versions: unsigned(versions, "count")?,
                aliases: BTreeMap::new(),
                updated_at: unsigned(updated_at, "time")?,
            });
        }
        let mut stmt = tx.prepare(&format!(
            "SELECT name, alias, version FROM aliases {filter}"
        ))?;
        let rows = stmt.query_map(params, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (name, alias, version) = row?;
            // `infos` is sorted by name, in the byte order SQLite sorted it in.
            if let Ok(i) = infos.binary_search_by(|info| info.name.as_str().cmp(&name)) {
                infos[i]
                    .aliases
                    .insert(alias, unsigned(version, "version")?);
            }
        }
    }
    tx.commit()?;
    Ok(infos)
}

#[async_trait::async_trait]
impl Registry for SqliteRegistry {
    async fn put(&self, name: &FunctionName, new: NewVersion) -> Result<VersionInfo, StoreError> {
        let name = name.clone();
        self.blocking(move |conn| {
            let digest = digest(&new.code);
            let size = new.code.len() as u64;
            let created_at = now_ms();
            let metadata = new.metadata.to_string();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: Option<i64> = tx
                .query_row(
                    "INSERT INTO counters (name, last_version) VALUES (?1, 1)
                     ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1
                         WHERE last_version < 9223372036854775807
                     RETURNING last_version",
                    params![name.as_str()],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(version) = version else {
                return Err(versions_exhausted(&name).into());
            };
            tx.execute(
                "INSERT INTO versions
                     (name, version, digest, language, size, metadata, created_at, code)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    name.as_str(),
                    version,
                    digest,
                    new.language,
                    size as i64,
                    metadata,
                    created_at as i64,
                    new.code
                ],
            )?;
            touch(&tx, &name, created_at)?;
            tx.commit()?;
            Ok(VersionInfo {
                version: unsigned(version, "version")?,
                name,
                digest,
                language: new.language,
                size,
                metadata: new.metadata,
                created_at,
            })
        })
        .await
    }

    async fn list(&self) -> Result<Vec<FunctionInfo>, StoreError> {
        self.blocking(|conn| functions(conn, None)).await
    }

    async fn function(&self, name: &FunctionName) -> Result<Option<FunctionInfo>, StoreError> {
        let name = name.clone();
        self.blocking(move |conn| Ok(functions(conn, Some(&name))?.pop()))
            .await
    }

    async fn versions(&self, name: &FunctionName) -> Result<Vec<VersionInfo>, StoreError> {
        let name = name.clone();
        self.blocking(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {VERSION_COLUMNS} FROM versions v WHERE v.name = ?1 ORDER BY v.version"
            ))?;
            let rows = stmt
                .query_map(params![name.as_str()], RawVersion::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(|raw| raw.into_info(&name)).collect()
        })
        .await
    }

    async fn resolve(
        &self,
        name: &FunctionName,
        selector: &Selector,
    ) -> Result<Option<VersionInfo>, StoreError> {
        let (name, selector) = (name.clone(), selector.clone());
        self.blocking(move |conn| {
            let n = name.as_str();
            let raw = match &selector {
                Selector::Latest => conn
                    .query_row(
                        &format!(
                            "SELECT {VERSION_COLUMNS} FROM versions v WHERE v.name = ?1
                             ORDER BY v.version DESC LIMIT 1"
                        ),
                        params![n],
                        RawVersion::from_row,
                    )
                    .optional()?,
                Selector::Version(version) => match sql_version(*version) {
                    None => None,
                    Some(version) => conn
                        .query_row(
                            &format!(
                                "SELECT {VERSION_COLUMNS} FROM versions v
                                 WHERE v.name = ?1 AND v.version = ?2"
                            ),
                            params![n, version],
                            RawVersion::from_row,
                        )
                        .optional()?,
                },
                Selector::Alias(alias) => conn
                    .query_row(
                        &format!(
                            "SELECT {VERSION_COLUMNS} FROM aliases a
                             JOIN versions v ON v.name = a.name AND v.version = a.version
                             WHERE a.name = ?1 AND a.alias = ?2"
                        ),
                        params![n, alias.as_str()],
                        RawVersion::from_row,
                    )
                    .optional()?,
            };
            raw.map(|raw| raw.into_info(&name)).transpose()
        })
        .await
    }

    async fn code(&self, name: &FunctionName, version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.clone();
        let Some(version) = sql_version(version) else {
            return Ok(None);
        };
        self.blocking(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT code FROM versions WHERE name = ?1 AND version = ?2",
                    params![name.as_str(), version],
                    |row| row.get(0),
                )
                .optional()?)
        })
        .await
    }

    async fn set_alias(
        &self,
        name: &FunctionName,
        alias: &AliasName,
        version: u64,
    ) -> Result<(), StoreError> {
        let (name, alias) = (name.clone(), alias.clone());
        self.blocking(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !exists(&tx, &name)? {
                return Err(no_function(&name).into());
            }
            let found = match sql_version(version) {
                None => None,
                Some(v) => tx
                    .query_row(
                        "SELECT version FROM versions WHERE name = ?1 AND version = ?2",
                        params![name.as_str(), v],
                        |row| row.get::<_, i64>(0),
                    )
                    .optional()?,
            };
            let Some(v) = found else {
                return Err(no_version(&name, version).into());
            };
            tx.execute(
                "INSERT INTO aliases (name, alias, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                params![name.as_str(), alias.as_str(), v],
            )?;
            touch(&tx, &name, now_ms())?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn delete_alias(
        &self,
        name: &FunctionName,
        alias: &AliasName,
    ) -> Result<bool, StoreError> {
        let (name, alias) = (name.clone(), alias.clone());
        self.blocking(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let removed = tx.execute(
                "DELETE FROM aliases WHERE name = ?1 AND alias = ?2",
                params![name.as_str(), alias.as_str()],
            )? > 0;
            if removed {
                touch(&tx, &name, now_ms())?;
            }
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn delete(&self, name: &FunctionName) -> Result<bool, StoreError> {
        let name = name.clone();
        self.blocking(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = name.as_str();
            tx.execute("DELETE FROM aliases WHERE name = ?1", params![n])?;
            tx.execute("DELETE FROM versions WHERE name = ?1", params![n])?;
            let existed = tx.execute("DELETE FROM functions WHERE name = ?1", params![n])? > 0;
            tx.commit()?;
            Ok(existed)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}

fn exists(tx: &Transaction<'_>, name: &FunctionName) -> Op<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM functions WHERE name = ?1",
            params![name.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Records that `name` changed at `now` (creating its row on its first version).
fn touch(tx: &Transaction<'_>, name: &FunctionName, now: u64) -> Op<()> {
    tx.execute(
        "INSERT INTO functions (name, updated_at) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
        params![name.as_str(), now as i64],
    )?;
    Ok(())
}
