//! Live sessions (SPEC §6) for clients over the network: the manager behind `/v1/sessions`, usable
//! without HTTP (the MCP server drives it in-process).
//!
//! - A session is a [`capsa::Session`] kept alive between execs, under a random, unguessable id, and
//!   owned by the token that made it: every operation names the owner (a hash of the token, see
//!   [`owner_key`]), and a session of another owner looks exactly like a missing one (`not_found`).
//! - One exec at a time per session: a second waits up to `[sessions] exec_wait` for the first, then
//!   is refused with `409 conflict`.
//! - A session lives for its idle TTL after its last use (`[sessions] ttl`, or the `ttl` it asked
//!   for, at most `max_ttl`); a background sweeper drops expired ones, and a lookup never finds one.
//! - Caps: live sessions in total (`max_sessions`) and per owner (`max_per_token`), and the sum of
//!   the live sessions' memory limits (`max_memory`): past any, creating is refused with `503 busy`.
//!   Counting the limits rather than measured peaks means admitted sessions can never together take
//!   more memory than the cap, whatever they do later.
//! - Limits default to the gateway's and may only be lowered; grants are those run-now allows.
//! - A snapshot is stored in the gateway's store as `Snapshot::to_bytes` under a random id, with its
//!   owner and the session's limits and grants, so any gateway sharing the store (and the snapshot
//!   key, [`snapshot_key`]) can fork it; a fork keeps those limits and grants unless it sets its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use capsa::{
    Call, Engine, ErrorCode, FileEntry, HumanDuration, Language, Limits, OutputListener, Receipt,
    Snapshot, SnapshotKey,
};
use capsa_store::{SnapshotId, SnapshotRecord, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::SessionsConfig;
use crate::error::ApiError;
use crate::function::{GrantSpec, LimitOverrides, Trust};
use crate::guests::Guests;
use crate::metrics::SessionMetrics;

/// The owner key of a bearer token: the hex SHA-256 of the token, so the token itself is never kept.
pub fn owner_key(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A fresh random id: `prefix` and 32 hex digits (128 bits from the OS).
pub(crate) fn random_id(prefix: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("no randomness from the OS: {e}")))?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// What a client asks for when it creates a session (`POST /v1/sessions`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// `js`, `ts` or `py` (also the other names [`Language`] parses).
    pub language: String,
    /// Limits below the gateway's.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// What the session may reach, as run-now allows it.
    #[serde(default)]
    pub grants: GrantSpec,
    /// The idle TTL, at most `[sessions] max_ttl`. By default `[sessions] ttl`.
    #[serde(default)]
    pub ttl: Option<HumanDuration>,
    /// A snapshot id to start from instead of a fresh sandbox.
    #[serde(default)]
    pub from: Option<String>,
}

/// What a client may set when it forks a snapshot (`POST /v1/snapshots/{snapshot}/fork`); what it
/// leaves out comes from the snapshot's session.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkSession {
    /// Limits below the gateway's, instead of the snapshot's session's.
    #[serde(default)]
    pub limits: Option<LimitOverrides>,
    /// Grants instead of the snapshot's session's.
    #[serde(default)]
    pub grants: Option<GrantSpec>,
    /// The idle TTL, at most `[sessions] max_ttl`. By default `[sessions] ttl`.
    #[serde(default)]
    pub ttl: Option<HumanDuration>,
}

/// A stored snapshot (`POST /v1/sessions/{id}/snapshot`).
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    /// Its id, for `fork` and `from`.
    pub snapshot: String,
    /// Its size in the store, in bytes.
    pub size_bytes: u64,
    /// The language of its session.
    pub language: String,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub created_at: u64,
}

/// What the store keeps beside a snapshot's bytes: what its session was made with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotMeta {
    language: String,
    limits: LimitOverrides,
    grants: GrantSpec,
}

/// What a session is and has done (`GET /v1/sessions/{id}`).
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// The session's id.
    pub id: String,
    /// Its language (`js`, `ts`, `py`).
    pub language: String,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// When it was last used.
    pub last_used_at: u64,
    /// When it expires unless used again.
    pub expires_at: u64,
    /// Its idle TTL, in milliseconds.
    pub ttl_ms: u64,
    /// Whether an exec is running now.
    pub busy: bool,
    /// The limits of each exec.
    pub limits: Limits,
    /// What it has done: evals, CPU, memory peak, host calls, resets.
    pub stats: capsa::SessionStats,
}

/// The live-session manager. Cloning it shares the sessions.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    guests: Arc<Guests>,
    engine: Engine,
    config: SessionsConfig,
    base_limits: Limits,
    key: SnapshotKey,
    store: Store,
    live: Mutex<HashMap<String, Arc<Live>>>,
    metrics: SessionMetrics,
}

/// One live session.
struct Live {
    id: String,
    owner: String,
    language: Language,
    limits: Limits,
    /// What it was made with, for its snapshots.
    spec: (LimitOverrides, GrantSpec),
    created_at: u64,
    ttl: Duration,
    /// The last use, on the monotonic clock and as wall time.
    used: Mutex<(Instant, u64)>,
    session: Arc<tokio::sync::Mutex<capsa::Session>>,
    /// Where the current exec's output goes, if anywhere: the session's one output listener
    /// forwards to it.
    output: Arc<Mutex<Option<OutputListener>>>,
    /// The stats as of the last exec, readable while one runs.
    stats: Mutex<capsa::SessionStats>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Live {
    fn busy(&self) -> bool {
        self.session.try_lock().is_err()
    }

    /// Expired: idle for its TTL, and not running an exec.
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(lock(&self.used).0) >= self.ttl && !self.busy()
    }

    fn touch(&self) {
        *lock(&self.used) = (Instant::now(), now_ms());
    }

    fn info(&self) -> SessionInfo {
        let (_, last_used_at) = *lock(&self.used);
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        SessionInfo {
            id: self.id.clone(),
            language: self.language.to_string(),
            created_at: self.created_at,
            last_used_at,
            expires_at: last_used_at.saturating_add(ttl_ms),
            ttl_ms,
            busy: self.busy(),
            limits: self.limits.clone(),
            stats: lock(&self.stats).clone(),
        }
    }
}

/// The error for a session that does not exist, has expired, or is another owner's.
fn no_session(id: &str) -> ApiError {
    ApiError::not_found(format!("no session `{}`", shown(id)))
}

/// An id as it goes into a message: short, one line.
pub(crate) fn shown(id: &str) -> String {
    id.chars().take(80).flat_map(char::escape_debug).collect()
}

impl Sessions {
    /// A manager of sessions on `engine`, with `config` (`[sessions]`), each exec's limits starting
    /// from `base_limits` (the gateway's), KV grants and snapshots in `store`, snapshots signed with
    /// `key`, execs run on `guests`. Starts the sweeper of expired sessions when called inside a tokio runtime; it ends when
    /// the last clone is dropped.
    pub fn new(
        engine: Engine,
        config: SessionsConfig,
        base_limits: Limits,
        key: SnapshotKey,
        store: Store,
        guests: Arc<Guests>,
    ) -> Sessions {
        let inner = Arc::new(Inner {
            guests,
            engine,
            config,
            base_limits,
            key,
            store,
            live: Mutex::new(HashMap::new()),
            metrics: SessionMetrics::default(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweeper(Arc::downgrade(&inner)));
        }
        Sessions { inner }
    }

    /// `[sessions]` as configured.
    pub fn config(&self) -> &SessionsConfig {
        &self.inner.config
    }

    fn enabled(&self) -> Result<(), ApiError> {
        if self.inner.config.enabled {
            Ok(())
        } else {
            Err(ApiError::not_found(
                "this gateway does not serve sessions (`[sessions] enabled = false`)",
            ))
        }
    }

    /// The live session `id` of `owner`, marked as used now when `touch` (an exec, a file, a
    /// snapshot; reading its stats is not a use).
    fn get(&self, owner: &str, id: &str, touch: bool) -> Result<Arc<Live>, ApiError> {
        self.enabled()?;
        let live = lock(&self.inner.live);
        match live.get(id) {
            Some(session) if session.owner == owner && !session.expired(Instant::now()) => {
                if touch {
                    session.touch();
                }
                Ok(session.clone())
            }
            _ => Err(no_session(id)),
        }
    }

    /// Creates a session for `owner`.
    ///
    /// # Errors
    ///
    /// `400 invalid_input` for a language without sessions (wasm), limits above the gateway's,
    /// grants the API may not give, or a `ttl` above `max_ttl`; `404` for an unknown `from`
    /// snapshot; `503 busy` past a cap on live sessions or their memory.
    pub async fn create(&self, owner: &str, req: CreateSession) -> Result<SessionInfo, ApiError> {
        self.enabled()?;
        let language: Language = req.language.parse()?;
        if let Some(from) = &req.from {
            let (snapshot, _) = self.load_snapshot(owner, from).await?;
            if snapshot.language() != language {
                return Err(ApiError::invalid_input(format!(
                    "snapshot `{}` is of a {} session, not {language}",
                    shown(from),
                    snapshot.language()
                )));
            }
            let spec = (req.limits, req.grants);
            return self
                .start(owner, Some(snapshot), language, spec, req.ttl)
                .await;
        }
        self.start(owner, None, language, (req.limits, req.grants), req.ttl)
            .await
    }

    /// Starts a session, fresh or forked from `snapshot`, and makes it live.
    async fn start(
        &self,
        owner: &str,
        snapshot: Option<Snapshot>,
        language: Language,
        spec: (LimitOverrides, GrantSpec),
        ttl: Option<HumanDuration>,
    ) -> Result<SessionInfo, ApiError> {
        let (limits, call, ttl) = self.prepare(&spec.0, &spec.1, ttl)?;
        let output: Arc<Mutex<Option<OutputListener>>> = Arc::default();
        let call = call.on_output(forward(&output));
        let engine = self.inner.engine.clone();
        // The first session of a language compiles its runtime, and a fork restores files: blocking
        // work, off the async workers.
        let session = tokio::task::spawn_blocking(move || match &snapshot {
            None => engine.session(language, call),
            Some(snapshot) => engine.fork(snapshot, call),
        })
        .await
        .map_err(|e| ApiError::internal(format!("starting the session failed: {e}")))?
        .map_err(|e| {
            // A snapshot that does not fit the limits asked for is the request's doing.
            let e = ApiError::from(e);
            if e.code == ErrorCode::MemoryLimitExceeded {
                e.with_status(axum::http::StatusCode::BAD_REQUEST)
            } else {
                e
            }
        })?;
        let now = now_ms();
        self.admit(Live {
            id: random_id("ses_")?,
            owner: owner.to_owned(),
            language,
            limits,
            spec,
            created_at: now,
            ttl,
            used: Mutex::new((Instant::now(), now)),
            stats: Mutex::new(session.stats().clone()),
            session: Arc::new(tokio::sync::Mutex::new(session)),
            output,
        })
    }

    /// Starts a new session from the snapshot `snapshot` of `owner`'s, with the snapshot's session's
    /// limits and grants unless `req` sets its own.
    ///
    /// # Errors
    ///
    /// `404` for no such snapshot of `owner`'s; `400 invalid_input` for bytes that fail their check
    /// (tampered, another key, another runtime build) and as [`Sessions::create`]; `503 busy` past a
    /// cap.
    pub async fn fork(
        &self,
        owner: &str,
        snapshot: &str,
        req: ForkSession,
    ) -> Result<SessionInfo, ApiError> {
        self.enabled()?;
        let (decoded, meta) = self.load_snapshot(owner, snapshot).await?;
        let spec = (
            req.limits.unwrap_or(meta.limits),
            req.grants.unwrap_or(meta.grants),
        );
        let language = decoded.language();
        self.start(owner, Some(decoded), language, spec, req.ttl)
            .await
    }

    /// The snapshot `id` of `owner`'s from the store, checked and decoded.
    async fn load_snapshot(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<(Snapshot, SnapshotMeta), ApiError> {
        let missing = || ApiError::not_found(format!("no snapshot `{}`", shown(id)));
        // An id that cannot be one names no snapshot.
        let parsed: SnapshotId = id.parse().map_err(|_| missing())?;
        let record = match self.inner.store.snapshots.get(&parsed).await? {
            Some(record) if record.owner == owner => record,
            _ => return Err(missing()),
        };
        let meta: SnapshotMeta = serde_json::from_value(record.metadata).map_err(|e| {
            ApiError::internal(format!(
                "stored snapshot `{id}` has unreadable metadata: {e}"
            ))
        })?;
        let engine = self.inner.engine.clone();
        let key = self.inner.key.clone();
        // Checking the MAC and decoding a large heap is CPU work: off the async workers.
        let decoded =
            tokio::task::spawn_blocking(move || Snapshot::from_bytes(&engine, &record.bytes, &key))
                .await
                .map_err(|e| ApiError::internal(format!("decoding the snapshot failed: {e}")))??;
        Ok((decoded, meta))
    }

    /// Takes a snapshot of the session and stores it.
    ///
    /// # Errors
    ///
    /// `404` for no such session of `owner`'s; `409 conflict` when an exec holds it past
    /// `exec_wait`, or its state was thrown away by a limit since its last reset; `400
    /// invalid_input` for a language that cannot snapshot yet (Python); `413 payload_too_large`
    /// past `[sessions] max_snapshot`; what the store says.
    pub async fn snapshot(&self, owner: &str, id: &str) -> Result<SnapshotInfo, ApiError> {
        let live = self.get(owner, id, true)?;
        let snapshot = {
            let mut session = self.lock_session(&live).await?;
            session.snapshot_async().await?
        };
        let key = self.inner.key.clone();
        let bytes = tokio::task::spawn_blocking(move || snapshot.to_bytes(&key))
            .await
            .map_err(|e| ApiError::internal(format!("encoding the snapshot failed: {e}")))?;
        let size = bytes.len() as u64;
        let cap = self.inner.config.max_snapshot;
        if size > cap.bytes() {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the snapshot is {size} bytes, over the gateway's {cap} (`[sessions] max_snapshot`)"
                ),
            ));
        }
        let meta = SnapshotMeta {
            language: live.language.to_string(),
            limits: live.spec.0.clone(),
            grants: live.spec.1.clone(),
        };
        let snapshot_id: SnapshotId = random_id("snap_")?
            .parse()
            .map_err(|e: capsa_store::NameError| ApiError::internal(e.to_string()))?;
        let record = SnapshotRecord {
            owner: owner.to_owned(),
            metadata: serde_json::to_value(&meta).map_err(|e| ApiError::internal(e.to_string()))?,
            bytes,
            created_at: 0,
        };
        let created_at = self
            .inner
            .store
            .snapshots
            .put(&snapshot_id, &record)
            .await?;
        Ok(SnapshotInfo {
            snapshot: snapshot_id.to_string(),
            size_bytes: size,
            language: meta.language,
            created_at,
        })
    }

    /// Deletes the snapshot `snapshot` of `owner`'s from the store.
    ///
    /// # Errors
    ///
    /// `404` for no such snapshot of `owner`'s.
    pub async fn delete_snapshot(&self, owner: &str, snapshot: &str) -> Result<(), ApiError> {
        self.enabled()?;
        let missing = || ApiError::not_found(format!("no snapshot `{}`", shown(snapshot)));
        let id: SnapshotId = snapshot.parse().map_err(|_| missing())?;
        if self.inner.store.snapshots.delete(&id, owner).await? {
            Ok(())
        } else {
            Err(missing())
        }
    }

    /// Writes `contents` to `path` under the session's `/work`, replacing what was there.
    ///
    /// # Errors
    ///
    /// `404` for no such session of `owner`'s; `400 invalid_input` for a bad path; `413
    /// files_limit_exceeded` past the session's `max_files`; `409` as [`Sessions::exec`].
    pub async fn write_file(
        &self,
        owner: &str,
        id: &str,
        path: &str,
        contents: &[u8],
    ) -> Result<(), ApiError> {
        let live = self.get(owner, id, true)?;
        let mut session = self.lock_session(&live).await?;
        Ok(session.write_file(path, contents)?)
    }

    /// The contents of `path` under the session's `/work`.
    ///
    /// # Errors
    ///
    /// `404` for no such session of `owner`'s or no such file; `400 invalid_input` for a bad path;
    /// `409` as [`Sessions::exec`].
    pub async fn read_file(&self, owner: &str, id: &str, path: &str) -> Result<Vec<u8>, ApiError> {
        let live = self.get(owner, id, true)?;
        let session = self.lock_session(&live).await?;
        Ok(session.read_file(path)?)
    }

    /// The files under the session's `/work`.
    ///
    /// # Errors
    ///
    /// `404` for no such session of `owner`'s; `409` as [`Sessions::exec`].
    pub async fn list_files(&self, owner: &str, id: &str) -> Result<Vec<FileEntry>, ApiError> {
        let live = self.get(owner, id, true)?;
        let session = self.lock_session(&live).await?;
        Ok(session.list_files()?)
    }

    /// The session itself, waiting up to `exec_wait` for the operation holding it.
    async fn lock_session(
        &self,
        live: &Live,
    ) -> Result<tokio::sync::OwnedMutexGuard<capsa::Session>, ApiError> {
        let wait = self.inner.config.exec_wait.0;
        tokio::time::timeout(wait, live.session.clone().lock_owned())
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "session `{}` is running another exec, still after {}",
                        shown(&live.id),
                        HumanDuration(wait)
                    ),
                )
            })
    }

    /// The limits, call (grants) and TTL of a new session, checked.
    fn prepare(
        &self,
        limits: &LimitOverrides,
        grants: &GrantSpec,
        ttl: Option<HumanDuration>,
    ) -> Result<(Limits, Call, Duration), ApiError> {
        let config = &self.inner.config;
        limits.check_within(&self.inner.base_limits)?;
        let limits = limits.apply(&self.inner.base_limits);
        let grants = grants.grants(Trust::Api, Some(&self.inner.store.kv))?;
        let ttl = match ttl {
            Some(ttl) if ttl.0.is_zero() => {
                return Err(ApiError::invalid_input("`ttl` must be above zero"));
            }
            Some(ttl) if ttl.0 > config.max_ttl.0 => {
                return Err(ApiError::invalid_input(format!(
                    "`ttl` = {ttl} is above the gateway's {}",
                    config.max_ttl
                )));
            }
            Some(ttl) => ttl.0,
            None => config.ttl.0,
        };
        let call = Call::new().limits(limits.clone()).grants(grants);
        Ok((limits, call, ttl))
    }

    /// Makes `session` live for `owner`, within the caps.
    fn admit(&self, live: Live) -> Result<SessionInfo, ApiError> {
        let config = &self.inner.config;
        let live = Arc::new(live);
        let owner = live.owner.as_str();
        let mut map = lock(&self.inner.live);
        // Expired sessions must not hold capacity a new one needs.
        let instant = Instant::now();
        map.retain(|_, s| !s.expired(instant));
        if map.len() >= config.max_sessions {
            return Err(busy(format!(
                "the gateway has {} live sessions, its cap (`[sessions] max_sessions`)",
                map.len()
            )));
        }
        let mine = map.values().filter(|s| s.owner == owner).count();
        if mine >= config.max_per_token {
            return Err(busy(format!(
                "this token has {mine} live sessions, its cap (`[sessions] max_per_token`); delete one or let it expire"
            )));
        }
        let reserved: u64 = map.values().map(|s| s.limits.memory.bytes()).sum();
        let wanted = live.limits.memory.bytes();
        if reserved.saturating_add(wanted) > config.max_memory.bytes() {
            return Err(busy(format!(
                "the live sessions' memory limits take {reserved} of the gateway's {} bytes (`[sessions] max_memory`), and this one needs {wanted}",
                config.max_memory.bytes()
            )));
        }
        map.insert(live.id.clone(), live.clone());
        drop(map);
        Ok(live.info())
    }

    /// Runs `code` in the session, its output also going to `on_output` as it is written.
    ///
    /// # Errors
    ///
    /// `404` for no such session of `owner`'s; `409 conflict` when another exec holds the session
    /// past `exec_wait`; `400 invalid_input` for TypeScript that does not parse. What the code does
    /// is in the receipt; an exec that hits a limit discards the session's state (the next one
    /// starts fresh, counted in `stats.resets`).
    pub async fn exec(
        &self,
        owner: &str,
        id: &str,
        code: &str,
        on_output: Option<OutputListener>,
    ) -> Result<Receipt, ApiError> {
        let live = self.get(owner, id, true)?;
        let mut session = self
            .lock_session(&live)
            .await
            .inspect_err(|e| self.inner.metrics.exec(e.code.as_str()))?;
        /// Detaches the exec's listener and marks the use however the exec ends (a client that
        /// goes away drops it half-way).
        struct Done<'a>(&'a Live);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                *lock(&self.0.output) = None;
                self.0.touch();
            }
        }
        *lock(&live.output) = on_output;
        let done = Done(&live);
        // On the guest runtime, not the one serving HTTP (`crate::guests`).
        let code = code.to_owned();
        let (result, stats) = self
            .inner
            .guests
            .run(async move {
                let result = session.eval_async(&code).await;
                (result, session.stats().clone())
            })
            .await?;
        *lock(&live.stats) = stats;
        drop(done);
        let outcome = match &result {
            Ok(receipt) => receipt.outcome(),
            Err(e) => e.code().as_str(),
        };
        self.inner.metrics.exec(outcome);
        Ok(result?)
    }

    /// What the session is and has done. Reading it does not keep the session alive.
    ///
    /// # Errors
    ///
    /// `404` for no such session of `owner`'s.
    pub async fn stats(&self, owner: &str, id: &str) -> Result<SessionInfo, ApiError> {
        Ok(self.get(owner, id, false)?.info())
    }

    /// Every live session of `owner`, oldest first.
    ///
    /// # Errors
    ///
    /// `404` when sessions are disabled.
    pub async fn list(&self, owner: &str) -> Result<Vec<SessionInfo>, ApiError> {
        self.enabled()?;
        let now = Instant::now();
        let mut mine: Vec<SessionInfo> = lock(&self.inner.live)
            .values()
            .filter(|s| s.owner == owner && !s.expired(now))
            .map(|s| s.info())
            .collect();
        mine.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(mine)
    }

    /// Ends the session (an exec running in it finishes first, unseen).
    ///
    /// # Errors
    ///
    /// `404` for no such session of `owner`'s.
    pub async fn delete(&self, owner: &str, id: &str) -> Result<(), ApiError> {
        self.enabled()?;
        let mut map = lock(&self.inner.live);
        match map.get(id) {
            Some(s) if s.owner == owner && !s.expired(Instant::now()) => {
                map.remove(id);
                Ok(())
            }
            _ => Err(no_session(id)),
        }
    }

    /// Live sessions now (expired ones dropped first).
    pub fn live(&self) -> usize {
        let now = Instant::now();
        let mut map = lock(&self.inner.live);
        map.retain(|_, s| !s.expired(now));
        map.len()
    }

    /// The sessions' part of `/metrics`.
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render(self.live())
    }
}

/// The file of the default snapshot key, in the data dir.
pub const SNAPSHOT_KEY_FILE: &str = "snapshot.key";

/// The key that signs this gateway's snapshots: `CAPSA_SNAPSHOT_KEY` (64 hex digits) if set, else
/// the file `[sessions] snapshot_key_file`, else `snapshot.key` in `data_dir`, made (mode 0600, 32
/// random bytes as hex) when missing. Gateways that share a store must share the key: a snapshot
/// signed with another is refused as `invalid_input`.
///
/// # Errors
///
/// `invalid_input` naming the variable or file that does not hold a key, or a file that cannot be
/// read or made.
pub fn snapshot_key(
    config: &SessionsConfig,
    data_dir: &std::path::Path,
) -> Result<SnapshotKey, ApiError> {
    if let Ok(text) = std::env::var("CAPSA_SNAPSHOT_KEY") {
        return parse_key(&text).ok_or_else(|| {
            ApiError::invalid_input("CAPSA_SNAPSHOT_KEY must be 64 hex digits (32 bytes)")
        });
    }
    let read = |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ApiError::invalid_input(format!("snapshot key file `{}`: {e}", path.display()))
        })?;
        parse_key(&text).ok_or_else(|| {
            ApiError::invalid_input(format!(
                "snapshot key file `{}` must hold 64 hex digits (32 bytes)",
                path.display()
            ))
        })
    };
    if let Some(path) = &config.snapshot_key_file {
        return read(path);
    }
    let path = data_dir.join(SNAPSHOT_KEY_FILE);
    if path.exists() {
        return read(&path);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("no randomness for a snapshot key: {e}")))?;
    let made = std::fs::create_dir_all(data_dir).and_then(|()| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(format!("{}\n", hex(&bytes)).as_bytes())?;
        file.sync_all()
    });
    match made {
        Ok(()) => Ok(SnapshotKey::new(bytes)),
        // Another process made it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(ApiError::invalid_input(format!(
            "cannot make the snapshot key file `{}`: {e}",
            path.display()
        ))),
    }
}

fn parse_key(text: &str) -> Option<SnapshotKey> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(SnapshotKey::new(bytes))
}

fn busy(message: String) -> ApiError {
    ApiError::busy(message)
}

/// The session's one output listener: it passes output on to whoever listens to the current exec.
fn forward(slot: &Arc<Mutex<Option<OutputListener>>>) -> OutputListener {
    let slot = slot.clone();
    Arc::new(move |stream, bytes: &[u8]| {
        if let Some(listener) = lock(&slot).as_ref() {
            listener(stream, bytes);
        }
    })
}

/// Drops expired sessions every second (a lookup never finds one in between), until the manager is
/// gone.
async fn sweeper(inner: Weak<Inner>) {
    const EVERY: Duration = Duration::from_secs(1);
    loop {
        tokio::time::sleep(EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let now = Instant::now();
        // Dropped outside the lock: a session's sandbox can take a while to free.
        let expired: Vec<Arc<Live>> = {
            let mut map = lock(&inner.live);
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, s)| s.expired(now))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        if !expired.is_empty() {
            tracing::debug!(expired = expired.len(), "sessions expired");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_owner_keys_hide_the_token() {
        let a = random_id("ses_").unwrap();
        let b = random_id("ses_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 32);
        assert!(a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        let key = owner_key("s3cret");
        assert_eq!(key.len(), 64);
        assert!(!key.contains("s3cret"));
        assert_eq!(key, owner_key("s3cret"));
        assert_ne!(key, owner_key("s3cret2"));
    }

    #[test]
    fn the_snapshot_key_file_is_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = SessionsConfig::default();
        snapshot_key(&config, &data).unwrap();
        let file = data.join(SNAPSHOT_KEY_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.trim().len(), 64);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The second start reads it back rather than making another.
        snapshot_key(&config, &data).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        for bad in ["", "abc", &"g".repeat(64), &"0".repeat(66)] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
        assert!(parse_key(&format!("{}\n", "a1".repeat(32))).is_some());
        let named = SessionsConfig {
            snapshot_key_file: Some(dir.path().join("missing")),
            ..SessionsConfig::default()
        };
        let err = snapshot_key(&named, &data).err().unwrap();
        assert!(err.message.contains("missing"), "{}", err.message);
    }
}
