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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use capsa::{Call, Engine, ErrorCode, HumanDuration, Language, Limits, OutputListener, Receipt};
use capsa_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::SessionsConfig;
use crate::error::ApiError;
use crate::function::{GrantSpec, LimitOverrides, Trust};
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
    engine: Engine,
    config: SessionsConfig,
    base_limits: Limits,
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
    created_at: u64,
    ttl: Duration,
    /// The last use, on the monotonic clock and as wall time.
    used: Mutex<(Instant, u64)>,
    session: tokio::sync::Mutex<capsa::Session>,
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
    /// from `base_limits` (the gateway's), KV grants and snapshots in `store`. Starts the sweeper of
    /// expired sessions when called inside a tokio runtime; it ends when the last clone is dropped.
    pub fn new(
        engine: Engine,
        config: SessionsConfig,
        base_limits: Limits,
        store: Store,
    ) -> Sessions {
        let inner = Arc::new(Inner {
            engine,
            config,
            base_limits,
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
            return Err(ApiError::invalid_input(format!(
                "`from` = `{}`: this gateway cannot start a session from a snapshot yet",
                shown(from)
            )));
        }
        let (limits, call, ttl) = self.prepare(&req.limits, &req.grants, req.ttl)?;
        let output: Arc<Mutex<Option<OutputListener>>> = Arc::default();
        let session = self
            .inner
            .engine
            .session(language, call.on_output(forward(&output)))?;
        self.admit(owner, language, limits, ttl, session, output)
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
    fn admit(
        &self,
        owner: &str,
        language: Language,
        limits: Limits,
        ttl: Duration,
        session: capsa::Session,
        output: Arc<Mutex<Option<OutputListener>>>,
    ) -> Result<SessionInfo, ApiError> {
        let config = &self.inner.config;
        let id = random_id("ses_")?;
        let now = now_ms();
        let live = Arc::new(Live {
            id: id.clone(),
            owner: owner.to_owned(),
            language,
            limits,
            created_at: now,
            ttl,
            used: Mutex::new((Instant::now(), now)),
            stats: Mutex::new(session.stats().clone()),
            session: tokio::sync::Mutex::new(session),
            output,
        });
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
        map.insert(id, live.clone());
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
        let wait = self.inner.config.exec_wait.0;
        let Ok(mut session) = tokio::time::timeout(wait, live.session.lock()).await else {
            self.inner.metrics.exec(ErrorCode::Conflict.as_str());
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "session `{}` is running another exec, still after {}",
                    shown(id),
                    HumanDuration(wait)
                ),
            ));
        };
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
        let result = session.eval_async(code).await;
        *lock(&live.stats) = session.stats().clone();
        drop(done);
        drop(session);
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
}
