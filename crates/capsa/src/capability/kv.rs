//! The key-value capability: `kv.get`, `kv.set`, `kv.delete` and `kv.list` over a namespace of a
//! [`KvBackend`], with caps on key size, value size and entries.
//!
//! Backends implement [`KvBackend`]: [`MemoryKv`] here (shared by every call that holds the same
//! `Arc`), SQLite and Redis in the `capsa-store` crate. Every backend passes the same behaviour suite.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::capability::{HostError, HostFunctions};

/// A failure of a backend operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The namespace already holds `max_entries` live entries and the key is new; nothing was written.
    #[error("namespace is full: it holds the maximum of {0} entries")]
    Full(u64),
    /// The backend failed (I/O, connection, corruption). The message is for operators.
    #[error("{0}")]
    Backend(String),
}

/// Storage for the KV capability. Keys are UTF-8, values bytes; namespaces never see each other.
///
/// Implementations must make `set` atomic with its entry check, and must not report a `set` as done
/// before it is durable to the degree the backend promises (SQLite: on disk; Redis: acknowledged).
#[async_trait::async_trait]
pub trait KvBackend: Send + Sync + 'static {
    /// The value of `key`, or `None` when it is missing or expired.
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Stores `value` under `key`, expiring after `ttl` if given. A new key in a namespace that holds
    /// `max_entries` live entries fails with [`KvError::Full`] and writes nothing.
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        max_entries: u64,
    ) -> Result<(), KvError>;

    /// Removes `key`; `true` when it existed.
    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError>;

    /// Up to `limit` live keys starting with `prefix`, in byte order, strictly after `after` if given.
    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError>;
}

/// Caps of the KV capability. Going over one fails the operation with `invalid_input`; nothing is
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvCaps {
    /// Longest key in bytes. By default 512.
    pub max_key_bytes: usize,
    /// Largest value in bytes. By default 1 MiB.
    pub max_value_bytes: usize,
    /// Live entries per namespace. By default 10,000.
    pub max_entries: u64,
    /// Most keys `list` returns at once. By default 1,000 (the default page is 100).
    pub max_page: usize,
}

impl Default for KvCaps {
    fn default() -> Self {
        KvCaps {
            max_key_bytes: 512,
            max_value_bytes: 1 << 20,
            max_entries: 10_000,
            max_page: 1_000,
        }
    }
}

/// The longest TTL a value may have: ten years, far beyond any cache, inside every backend's range.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Keys `list` returns when the guest does not say.
const DEFAULT_PAGE: usize = 100;

/// A grant of one namespace of a KV backend to a call (`--kv` on the command line).
#[derive(Clone)]
pub struct KvGrant {
    backend: Arc<dyn KvBackend>,
    namespace: String,
    caps: KvCaps,
}

impl KvGrant {
    /// Grants `namespace` of `backend` with the default caps.
    ///
    /// # Errors
    ///
    /// `invalid_input` when the namespace is empty, longer than 128 bytes, or has characters other
    /// than ASCII letters, digits, `-`, `_` and `.`.
    pub fn new(backend: Arc<dyn KvBackend>, namespace: &str) -> crate::error::Result<Self> {
        let valid = !namespace.is_empty()
            && namespace.len() <= 128
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(crate::error::Error::invalid_input(format!(
                "invalid KV namespace `{namespace}`: use 1-128 of A-Z a-z 0-9 - _ ."
            )));
        }
        Ok(KvGrant {
            backend,
            namespace: namespace.to_owned(),
            caps: KvCaps::default(),
        })
    }

    /// Replaces the caps.
    pub fn caps(mut self, caps: KvCaps) -> Self {
        self.caps = caps;
        self
    }

    /// The granted namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The host functions `kv.get`, `kv.set`, `kv.delete` and `kv.list` over this grant.
    pub(crate) fn functions(&self) -> HostFunctions {
        let grant = Arc::new(self.clone());
        let op = |f: fn(Arc<KvGrant>, Value) -> HostFuture| {
            let grant = grant.clone();
            move |args: Value| f(grant.clone(), args)
        };
        HostFunctions::new()
            .asynchronous("kv.get", op(|g, a| Box::pin(async move { g.get(a).await })))
            .asynchronous("kv.set", op(|g, a| Box::pin(async move { g.set(a).await })))
            .asynchronous(
                "kv.delete",
                op(|g, a| Box::pin(async move { g.delete(a).await })),
            )
            .asynchronous(
                "kv.list",
                op(|g, a| Box::pin(async move { g.list(a).await })),
            )
    }

    fn key<'a>(&self, args: &'a Value) -> Result<&'a str, HostError> {
        let key = args
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| HostError::invalid_input("`key` must be a string"))?;
        if key.is_empty() || key.len() > self.caps.max_key_bytes {
            return Err(HostError::invalid_input(format!(
                "key must be 1 to {} bytes, got {}",
                self.caps.max_key_bytes,
                key.len()
            )));
        }
        Ok(key)
    }

    async fn get(&self, args: Value) -> crate::capability::HostResult {
        let key = self.key(&args)?;
        let value = self
            .backend
            .get(&self.namespace, key)
            .await
            .map_err(backend_error)?;
        Ok(value.map_or(Value::Null, |bytes| {
            let (key, value) = capsa_wire::bytes::encode("value", bytes);
            json!({ key: value })
        }))
    }

    async fn set(&self, args: Value) -> crate::capability::HostResult {
        let key = self.key(&args)?;
        let value = crate::capability::bytes_arg(&args, "value")?
            .ok_or_else(|| HostError::invalid_input("give `value` (a string) or `value_base64`"))?;
        if value.len() > self.caps.max_value_bytes {
            return Err(HostError::invalid_input(format!(
                "value is {} bytes; the limit is {}",
                value.len(),
                self.caps.max_value_bytes
            )));
        }
        let ttl = match args.get("ttl_ms") {
            None | Some(Value::Null) => None,
            Some(ttl) => {
                let ms = ttl.as_u64().filter(|ms| *ms > 0).ok_or_else(|| {
                    HostError::invalid_input("`ttl_ms` must be a positive integer")
                })?;
                let ttl = Duration::from_millis(ms);
                if ttl > MAX_TTL {
                    return Err(HostError::invalid_input(
                        "`ttl_ms` is longer than ten years",
                    ));
                }
                Some(ttl)
            }
        };
        self.backend
            .set(&self.namespace, key, &value, ttl, self.caps.max_entries)
            .await
            .map_err(|e| match e {
                KvError::Full(max) => HostError::invalid_input(format!(
                    "namespace `{}` is full: it holds the maximum of {max} entries",
                    self.namespace
                )),
                other => backend_error(other),
            })?;
        Ok(Value::Null)
    }

    async fn delete(&self, args: Value) -> crate::capability::HostResult {
        let key = self.key(&args)?;
        let deleted = self
            .backend
            .delete(&self.namespace, key)
            .await
            .map_err(backend_error)?;
        Ok(json!({ "deleted": deleted }))
    }

    async fn list(&self, args: Value) -> crate::capability::HostResult {
        let text = |name: &str| -> Result<Option<&str>, HostError> {
            match args.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(HostError::invalid_input(format!(
                    "`{name}` must be a string"
                ))),
            }
        };
        let prefix = text("prefix")?.unwrap_or("");
        let cursor = text("cursor")?;
        let limit = match args.get("limit") {
            None | Some(Value::Null) => DEFAULT_PAGE,
            Some(limit) => limit
                .as_u64()
                .filter(|n| (1..=self.caps.max_page as u64).contains(n))
                .ok_or_else(|| {
                    HostError::invalid_input(format!("`limit` must be 1 to {}", self.caps.max_page))
                })? as usize,
        };
        let keys = self
            .backend
            .list(&self.namespace, prefix, cursor, limit)
            .await
            .map_err(backend_error)?;
        // A full page may have more behind it: its last key is where the next page starts.
        let next = (keys.len() == limit)
            .then(|| keys.last().cloned())
            .flatten();
        Ok(json!({ "keys": keys, "cursor": next }))
    }
}

type HostFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::capability::HostResult> + Send>>;

fn backend_error(e: KvError) -> HostError {
    HostError::new(format!("key-value store: {e}"))
}

/// An in-memory [`KvBackend`]: every call that holds the same `MemoryKv` sees the same data, for as
/// long as the process lives.
#[derive(Default)]
pub struct MemoryKv {
    namespaces: Mutex<HashMap<String, BTreeMap<String, Entry>>>,
}

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        MemoryKv::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, BTreeMap<String, Entry>>) -> R) -> R {
        // A poisoned lock means a panic mid-operation elsewhere; every operation leaves the maps
        // consistent, so keep going.
        let mut guard = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[async_trait::async_trait]
impl KvBackend for MemoryKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let now = Instant::now();
        Ok(self.with(|ns| {
            ns.get(namespace)
                .and_then(|entries| entries.get(key))
                .filter(|e| e.live(now))
                .map(|e| e.value.clone())
        }))
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        max_entries: u64,
    ) -> Result<(), KvError> {
        let now = Instant::now();
        self.with(|ns| {
            let entries = ns.entry(namespace.to_owned()).or_default();
            let is_new = entries.get(key).is_none_or(|e| !e.live(now));
            if is_new && entries.len() as u64 >= max_entries {
                entries.retain(|_, e| e.live(now));
                if entries.len() as u64 >= max_entries {
                    return Err(KvError::Full(max_entries));
                }
            }
            entries.insert(
                key.to_owned(),
                Entry {
                    value: value.to_vec(),
                    expires: ttl.map(|ttl| now + ttl),
                },
            );
            Ok(())
        })
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        let now = Instant::now();
        Ok(self.with(|ns| {
            ns.get_mut(namespace)
                .and_then(|entries| entries.remove(key))
                .is_some_and(|e| e.live(now))
        }))
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        let now = Instant::now();
        Ok(self.with(|ns| {
            let Some(entries) = ns.get(namespace) else {
                return Vec::new();
            };
            let start = match after {
                Some(after) if after >= prefix => Bound::Excluded(after.to_owned()),
                _ => Bound::Included(prefix.to_owned()),
            };
            entries
                .range((start, Bound::Unbounded))
                .take_while(|(key, _)| key.starts_with(prefix))
                .filter(|(_, e)| e.live(now))
                .take(limit)
                .map(|(key, _)| key.clone())
                .collect()
        }))
    }
}
