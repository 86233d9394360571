//! The Redis key-value backend.

use std::time::Duration;

use capsa::kv::{KvBackend, KvError};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

/// A key-value store on a Redis server, shared by every capsa process that uses it.
///
/// Layout, per namespace `ns` (the braces put all keys of a namespace in one Redis cluster slot):
/// - `capsa:kv:{ns}:v:<key>`: the value, with Redis's own expiry for TTLs;
/// - `capsa:kv:{ns}:keys`: a sorted set of the keys, for prefix listing in byte order;
/// - `capsa:kv:{ns}:exp`: the keys that have a TTL, scored by expiry time (ms, server clock).
///
/// `set` runs as one Lua script, so the entry cap holds across processes. It first drops the keys
/// whose time is up from the index, touching only those, so a full namespace costs little. A listing
/// drops index entries whose value is gone, re-checking inside a script so a key set again meanwhile
/// is kept.
pub struct RedisKv {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
}

/// Sets a value if the key exists or the namespace has room; 1 when stored, 0 when full.
const SET_SCRIPT: &str = r"
local vkey, index, expiry = KEYS[1], KEYS[2], KEYS[3]
local value, ttl, max, member = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, m in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now)) do
  redis.call('ZREM', index, m)
  redis.call('ZREM', expiry, m)
end
if redis.call('EXISTS', vkey) == 0 and redis.call('ZCARD', index) >= max then
  return 0
end
if ttl > 0 then
  redis.call('SET', vkey, value, 'PX', ttl)
  redis.call('ZADD', expiry, now + ttl, member)
else
  redis.call('SET', vkey, value)
  redis.call('ZREM', expiry, member)
end
redis.call('ZADD', index, 0, member)
return 1
";

/// Drops the listed keys from the index if their value is gone, checked here and now.
const PRUNE_SCRIPT: &str = r"
local index, expiry, vprefix = KEYS[1], KEYS[2], ARGV[1]
for i = 2, #ARGV do
  if redis.call('EXISTS', vprefix .. ARGV[i]) == 0 then
    redis.call('ZREM', index, ARGV[i])
    redis.call('ZREM', expiry, ARGV[i])
  end
end
return 0
";

impl RedisKv {
    /// A store on the server at `url` (`redis://HOST:PORT[/DB]`). The connection is made on first use,
    /// inside the caller's tokio runtime, and re-made after failures.
    ///
    /// # Errors
    ///
    /// [`KvError::Backend`] when the URL is malformed.
    pub fn new(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url)
            .map_err(|e| KvError::Backend(format!("redis url `{url}`: {e}")))?;
        Ok(RedisKv {
            client,
            conn: OnceCell::new(),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, KvError> {
        // Fail fast when the server is down: a guest waiting on the store still has its own deadline,
        // and an error it can handle is better than a hang until then.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        self.conn
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config))
            .await
            .cloned()
            .map_err(redis_error)
    }
}

fn redis_error(e: redis::RedisError) -> KvError {
    KvError::Backend(format!("redis: {e}"))
}

fn value_prefix(namespace: &str) -> String {
    format!("capsa:kv:{{{namespace}}}:v:")
}

fn index_key(namespace: &str) -> String {
    format!("capsa:kv:{{{namespace}}}:keys")
}

fn expiry_key(namespace: &str) -> String {
    format!("capsa:kv:{{{namespace}}}:exp")
}

#[async_trait::async_trait]
impl KvBackend for RedisKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut conn = self.conn().await?;
        conn.get(format!("{}{key}", value_prefix(namespace)))
            .await
            .map_err(redis_error)
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        max_entries: u64,
    ) -> Result<(), KvError> {
        let mut conn = self.conn().await?;
        let prefix = value_prefix(namespace);
        let ttl_ms = ttl.map_or(0, |ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let stored: i64 = redis::Script::new(SET_SCRIPT)
            .key(format!("{prefix}{key}"))
            .key(index_key(namespace))
            .key(expiry_key(namespace))
            .arg(value)
            .arg(ttl_ms)
            .arg(max_entries)
            .arg(key)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if stored == 0 {
            return Err(KvError::Full(max_entries));
        }
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        let mut conn = self.conn().await?;
        let (deleted, _, _): (i64, i64, i64) = redis::pipe()
            .atomic()
            .del(format!("{}{key}", value_prefix(namespace)))
            .zrem(index_key(namespace), key)
            .zrem(expiry_key(namespace), key)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(deleted > 0)
    }

    async fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let index = index_key(namespace);
        let values = value_prefix(namespace);
        // Lexicographic bounds: from the prefix (or just after the cursor) to the prefix followed by
        // 0xff, a byte no UTF-8 key contains.
        let mut min: Vec<u8> = match after {
            Some(after) if after >= prefix => [b"(", after.as_bytes()].concat(),
            _ => [b"[", prefix.as_bytes()].concat(),
        };
        let max: Vec<u8> = [b"[", prefix.as_bytes(), &[0xff]].concat();
        let mut live = Vec::with_capacity(limit);
        loop {
            let wanted = limit - live.len();
            let page: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(&index)
                .arg(&min)
                .arg(&max)
                .arg("LIMIT")
                .arg(0)
                .arg(wanted)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let mut exists = redis::pipe();
            for key in &page {
                exists.exists(format!("{values}{key}"));
            }
            let present: Vec<bool> = exists.query_async(&mut conn).await.map_err(redis_error)?;
            let fetched = page.len();
            let mut stale = Vec::new();
            for (key, present) in page.into_iter().zip(present) {
                if present {
                    live.push(key);
                } else {
                    stale.push(key);
                }
            }
            if !stale.is_empty() {
                let _: i64 = redis::Script::new(PRUNE_SCRIPT)
                    .key(&index)
                    .key(expiry_key(namespace))
                    .arg(&values)
                    .arg(stale)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(redis_error)?;
            }
            if live.len() >= limit || fetched < wanted {
                break;
            }
            min = [b"(", last.as_bytes()].concat();
        }
        Ok(live)
    }
}
