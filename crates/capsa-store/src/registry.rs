//! The function registry: what it stores and the trait its backends implement.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::names::{AliasName, FunctionName, Selector};

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The function, version or alias does not exist, e.g. ``function `x` has no version `7` ``.
    #[error("{0}")]
    NotFound(String),
    /// The operation contradicts the registry's state. Of the built-in backends, only
    /// [`SqliteRegistry`](crate::SqliteRegistry) returns it, when a function has used up its version
    /// numbers (2⁶³−1 of them).
    #[error("{0}")]
    Conflict(String),
    /// The backend failed: I/O, connection, a corrupt or foreign database. The message is for
    /// operators and may name files and servers.
    #[error("{0}")]
    Backend(String),
}

/// What a deploy stores as a new version.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVersion {
    /// The language of `code` (e.g. `wasm`, `js`, `python`), as the gateway names it.
    pub language: String,
    /// The program: a wasm module or source text.
    pub code: Vec<u8>,
    /// Anything else the gateway keeps with the version (limits, grants). Opaque to the store, which
    /// gives it back unchanged.
    pub metadata: serde_json::Value,
}

/// One immutable version of a function.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VersionInfo {
    /// The function.
    pub name: FunctionName,
    /// Its version number, from 1.
    pub version: u64,
    /// `sha256:` and the 64 lowercase hex digits of the SHA-256 of the code.
    pub digest: String,
    /// As given in [`NewVersion::language`].
    pub language: String,
    /// Length of the code in bytes.
    pub size: u64,
    /// As given in [`NewVersion::metadata`].
    pub metadata: serde_json::Value,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub created_at: u64,
}

/// A function: its versions and aliases at a glance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FunctionInfo {
    /// The function.
    pub name: FunctionName,
    /// Its highest version number.
    pub latest: u64,
    /// How many versions it has (fewer than `latest` after a `delete` and new deploys).
    pub versions: u64,
    /// Its aliases and the version each points at, by alias name.
    pub aliases: BTreeMap<String, u64>,
    /// When a version was last stored or an alias last set or removed, in milliseconds since the Unix
    /// epoch.
    pub updated_at: u64,
}

/// A store of functions: each a series of numbered, immutable versions, plus aliases pointing at
/// some of them.
///
/// Implemented by [`SqliteRegistry`](crate::SqliteRegistry) and
/// [`RedisRegistry`](crate::RedisRegistry), which pass the same behaviour suite
/// (`tests/registry.rs`). Every method fails with [`StoreError::Backend`] when the backend does.
#[async_trait::async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Stores a new immutable version with the next version number of `name`: 1 for a new name, and
    /// numbers are never reused, not even after [`delete`](Registry::delete).
    ///
    /// Durable before it returns (SQLite: on disk with `synchronous = FULL`; Redis: acknowledged by
    /// the server). Atomic: concurrent puts get distinct numbers, and a failed put leaves no version
    /// behind.
    async fn put(&self, name: &FunctionName, new: NewVersion) -> Result<VersionInfo, StoreError>;

    /// Every function, sorted by name.
    async fn list(&self) -> Result<Vec<FunctionInfo>, StoreError>;

    /// The function `name`, or `None` when it does not exist.
    async fn function(&self, name: &FunctionName) -> Result<Option<FunctionInfo>, StoreError>;

    /// Every version of `name`, in ascending order; empty when there is no such function.
    async fn versions(&self, name: &FunctionName) -> Result<Vec<VersionInfo>, StoreError>;

    /// The version `selector` picks: [`Selector::Latest`] the highest, [`Selector::Alias`] its
    /// target, [`Selector::Version`] that one. `None` when the function, version or alias does not
    /// exist.
    async fn resolve(
        &self,
        name: &FunctionName,
        selector: &Selector,
    ) -> Result<Option<VersionInfo>, StoreError>;

    /// The code of a version, or `None` when it does not exist.
    async fn code(&self, name: &FunctionName, version: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Points `alias` at `version`, replacing where it pointed before.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the function or the version does not exist.
    async fn set_alias(
        &self,
        name: &FunctionName,
        alias: &AliasName,
        version: u64,
    ) -> Result<(), StoreError>;

    /// Removes an alias; `false` when it did not exist.
    async fn delete_alias(
        &self,
        name: &FunctionName,
        alias: &AliasName,
    ) -> Result<bool, StoreError>;

    /// Deletes every version and alias of `name`; `false` when it did not exist. Its version counter
    /// survives, so the next put continues the numbering.
    async fn delete(&self, name: &FunctionName) -> Result<bool, StoreError>;

    /// A cheap liveness check of the backend, for readiness probes: SQLite `SELECT 1`, Redis `PING`.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// `sha256:<hex>` of `code`: the digest of a registry version, and the key the gateway caches
/// compiled programs by.
pub fn digest(code: &[u8]) -> String {
    use std::fmt::Write;
    let hash = Sha256::digest(code);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn no_function(name: &FunctionName) -> StoreError {
    StoreError::NotFound(format!("no function `{name}`"))
}

pub(crate) fn no_version(name: &FunctionName, version: u64) -> StoreError {
    StoreError::NotFound(format!("function `{name}` has no version `{version}`"))
}

pub(crate) fn versions_exhausted(name: &FunctionName) -> StoreError {
    StoreError::Conflict(format!("function `{name}` has used up its version numbers"))
}

/// A name read back from a backend, which only ever stores valid ones: anything else is corruption.
pub(crate) fn stored_name(s: String) -> Result<FunctionName, StoreError> {
    FunctionName::try_from(s).map_err(|e| StoreError::Backend(format!("corrupt registry: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_is_prefixed_lowercase_hex_sha256() {
        assert_eq!(
            super::digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
