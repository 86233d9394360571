//! The Redis function registry.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script, Value};

use crate::names::{AliasName, FunctionName, Selector};
use crate::registry::{
    FunctionInfo, NewVersion, Registry, StoreError, VersionInfo, digest, no_function, no_version,
    stored_name,
};

/// A function registry on a Redis server, shared by every capsa process that uses it.
///
/// Layout, under the prefix `capsa:registry:` (`<n>` is a decimal version number):
/// - `names`: a set of the functions that exist;
/// - `fn:<name>:counter`: the last version number handed out; never deleted, so numbers are never
///   reused;
/// - `fn:<name>:versions`: a hash `<n>` → JSON of the version's digest, language, size and metadata.
///   The function exists while this hash does;
/// - `fn:<name>:created`: a hash `<n>` → creation time (ms, server clock);
/// - `fn:<name>:code`: a hash `<n>` → the code;
/// - `fn:<name>:aliases`: a hash alias → `<n>`;
/// - `fn:<name>:updated`: the time of the last change (ms, server clock).
///
/// Every write (`put`, `set_alias`, `delete_alias`, `delete`) is one Lua script, so it is atomic with
/// respect to every other client; reads of several keys are one script or one `MULTI` transaction.
/// A write returns once the server has acknowledged it; how durable that is depends on the server's
/// persistence settings (`appendonly yes` with `appendfsync always` for the SQLite backend's
/// guarantee). Redis Cluster is not supported.
pub struct RedisRegistry {
    conn: ConnectionManager,
    address: String,
}

const PREFIX: &str = "capsa:registry:";

/// The current time in ms by the server's clock, as a Lua expression.
macro_rules! lua_now {
    () => {
        "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    };
}

/// Stores a version under the next number; returns `{version, created_at}`. The version's entry in
/// `versions`, which makes it visible, is written after its code.
static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        "local names, counter, versions, created, code, updated = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]\n",
        lua_now!(),
        r"
local v = redis.call('INCR', counter)
redis.call('HSET', code, v, ARGV[3])
redis.call('HSET', created, v, now)
redis.call('HSET', versions, v, ARGV[2])
redis.call('SADD', names, ARGV[1])
redis.call('SET', updated, now)
return {v, now}
"
    ))
});

/// The version a selector picks, as `{version, info, created_at}`, or nil. ARGV: `latest`, or
/// `version <n>`, or `alias <alias>`.
static RESOLVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local versions, created, aliases, counter = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local v
if ARGV[1] == 'latest' then
  -- The newest version has the counter's number, unless a put failed half-way after counting.
  v = redis.call('GET', counter)
  if not v or redis.call('HEXISTS', versions, v) == 0 then
    v = nil
    for _, field in ipairs(redis.call('HKEYS', versions)) do
      local n = tonumber(field)
      if n and (v == nil or n > tonumber(v)) then v = field end
    end
    if v == nil then return false end
  end
elseif ARGV[1] == 'alias' then
  v = redis.call('HGET', aliases, ARGV[2])
  if not v then return false end
else
  v = ARGV[2]
end
local info = redis.call('HGET', versions, v)
if not info then return false end
return {v, info, redis.call('HGET', created, v)}
",
    )
});

/// Points an alias at an existing version: 2 when set, 1 when the version is missing, 0 when the
/// function is.
static SET_ALIAS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"
local versions, aliases, updated = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', versions) == 0 then return 0 end
if redis.call('HEXISTS', versions, ARGV[2]) == 0 then return 1 end
redis.call('HSET', aliases, ARGV[1], ARGV[2])
",
        lua_now!(),
        "redis.call('SET', updated, now)\nreturn 2\n"
    ))
});

/// Removes an alias; 1 when it existed.
static DELETE_ALIAS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"
local aliases, updated = KEYS[1], KEYS[2]
if redis.call('HDEL', aliases, ARGV[1]) == 0 then return 0 end
",
        lua_now!(),
        "redis.call('SET', updated, now)\nreturn 1\n"
    ))
});

/// Removes a function but not its counter; 1 when it existed.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local names, versions = KEYS[1], KEYS[2]
local existed = redis.call('EXISTS', versions)
redis.call('DEL', versions, KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('SREM', names, ARGV[1])
return existed
",
    )
});

fn names_key() -> String {
    format!("{PREFIX}names")
}

/// The key of one of `name`'s structures (`counter`, `versions`, …).
fn key(name: &FunctionName, what: &str) -> String {
    format!("{PREFIX}fn:{name}:{what}")
}

fn redis_error(e: redis::RedisError) -> StoreError {
    StoreError::Backend(format!("redis: {e}"))
}

fn parse<T: redis::FromRedisValue>(value: Value) -> Result<T, StoreError> {
    redis::from_redis_value(value).map_err(|e| StoreError::Backend(format!("redis: {e}")))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Backend(format!("corrupt registry: {what}"))
}

fn parse_version(name: &FunctionName, field: &str) -> Result<u64, StoreError> {
    field
        .parse()
        .map_err(|_| corrupt(format!("version `{field}` of `{name}`")))
}

/// What `fn:<name>:versions` holds for each version.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredVersion {
    digest: String,
    language: String,
    size: u64,
    metadata: serde_json::Value,
}

impl StoredVersion {
    fn into_info(self, name: &FunctionName, version: u64, created_at: u64) -> VersionInfo {
        VersionInfo {
            name: name.clone(),
            version,
            digest: self.digest,
            language: self.language,
            size: self.size,
            metadata: self.metadata,
            created_at,
        }
    }
}

fn stored_version(name: &FunctionName, json: &str) -> Result<StoredVersion, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt(format!("a version of `{name}`: {e}")))
}

/// A function from its version numbers, aliases and change time; `None` when it has no versions.
fn function_info(
    name: FunctionName,
    fields: Vec<String>,
    aliases: HashMap<String, String>,
    updated: Option<u64>,
) -> Result<Option<FunctionInfo>, StoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let mut latest = 0;
    for field in &fields {
        latest = latest.max(parse_version(&name, field)?);
    }
    let aliases = aliases
        .into_iter()
        .map(|(alias, v)| Ok((alias, parse_version(&name, &v)?)))
        .collect::<Result<BTreeMap<_, _>, StoreError>>()?;
    Ok(Some(FunctionInfo {
        name,
        latest,
        versions: fields.len() as u64,
        aliases,
        // Written by every change; only a script that failed half-way could leave it missing.
        updated_at: updated.unwrap_or(0),
    }))
}

impl RedisRegistry {
    /// Connects to the server at `url` (`redis://[:PASSWORD@]HOST:PORT[/DB]`). The connection is
    /// re-made after failures; each attempt waits at most 2 s to connect and 5 s for a reply.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Backend(format!("redis url `{}`: {e}", redact(url))))?;
        let address = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) => format!("redis://{}:{port}", bracket(host)),
            redis::ConnectionAddr::TcpTls { host, port, .. } => {
                format!("rediss://{}:{port}", bracket(host))
            }
            redis::ConnectionAddr::Unix(path) => format!("redis+unix://{}", path.display()),
            other => format!("redis {other:?}"),
        };
        // Fail fast when the server is down: a deploy or an invocation waiting on the registry is
        // better answered with an error than held until some deadline.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| StoreError::Backend(format!("redis `{address}`: {e}")))?;
        Ok(RedisRegistry { conn, address })
    }

    /// The connection, for the other stores on the same server.
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `redis://HOST:PORT`, without credentials or database, for logs.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    async fn function_infos(
        &self,
        names: Vec<FunctionName>,
    ) -> Result<Vec<FunctionInfo>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for name in &names {
            pipe.hkeys(key(name, "versions"))
                .hgetall(key(name, "aliases"))
                .get(key(name, "updated"));
        }
        let replies: Vec<Value> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        if replies.len() != names.len() * 3 {
            return Err(StoreError::Backend(format!(
                "redis: {} replies to {} commands",
                replies.len(),
                names.len() * 3
            )));
        }
        let mut replies = replies.into_iter();
        let mut infos = Vec::with_capacity(names.len());
        for name in names {
            let (Some(fields), Some(aliases), Some(updated)) =
                (replies.next(), replies.next(), replies.next())
            else {
                break;
            };
            // A function deleted since its name was read has no versions and is skipped.
            if let Some(info) =
                function_info(name, parse(fields)?, parse(aliases)?, parse(updated)?)?
            {
                infos.push(info);
            }
        }
        Ok(infos)
    }
}

/// `url` without its password, for messages: `redis://user:secret@host/` → `redis://***@host/`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// A host as it goes before `:PORT`: IPv6 addresses in brackets.
fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[async_trait::async_trait]
impl Registry for RedisRegistry {
    async fn put(&self, name: &FunctionName, new: NewVersion) -> Result<VersionInfo, StoreError> {
        // Hashing megabytes is CPU work: keep it off the async workers.
        let (code, digest) = tokio::task::spawn_blocking(move || {
            let digest = digest(&new.code);
            (new.code, digest)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("hashing task failed: {e}")))?;
        let stored = StoredVersion {
            digest,
            language: new.language,
            size: code.len() as u64,
            metadata: new.metadata,
        };
        let json = serde_json::to_string(&stored)
            .map_err(|e| StoreError::Backend(format!("encoding version metadata: {e}")))?;
        let (version, created_at): (u64, u64) = PUT
            .key(names_key())
            .key(key(name, "counter"))
            .key(key(name, "versions"))
            .key(key(name, "created"))
            .key(key(name, "code"))
            .key(key(name, "updated"))
            .arg(name.as_str())
            .arg(json)
            .arg(code)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(stored.into_info(name, version, created_at))
    }

    async fn list(&self) -> Result<Vec<FunctionInfo>, StoreError> {
        let names: Vec<String> = self
            .conn
            .clone()
            .smembers(names_key())
            .await
            .map_err(redis_error)?;
        let mut names = names
            .into_iter()
            .map(stored_name)
            .collect::<Result<Vec<_>, _>>()?;
        names.sort();
        self.function_infos(names).await
    }

    async fn function(&self, name: &FunctionName) -> Result<Option<FunctionInfo>, StoreError> {
        Ok(self.function_infos(vec![name.clone()]).await?.pop())
    }

    async fn versions(&self, name: &FunctionName) -> Result<Vec<VersionInfo>, StoreError> {
        let (infos, created): (HashMap<String, String>, HashMap<String, u64>) = redis::pipe()
            .atomic()
            .hgetall(key(name, "versions"))
            .hgetall(key(name, "created"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let mut versions = infos
            .into_iter()
            .map(|(field, json)| {
                let version = parse_version(name, &field)?;
                let created_at = created.get(&field).copied().unwrap_or(0);
                Ok(stored_version(name, &json)?.into_info(name, version, created_at))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    async fn resolve(
        &self,
        name: &FunctionName,
        selector: &Selector,
    ) -> Result<Option<VersionInfo>, StoreError> {
        let mut invocation = RESOLVE.prepare_invoke();
        invocation
            .key(key(name, "versions"))
            .key(key(name, "created"))
            .key(key(name, "aliases"))
            .key(key(name, "counter"));
        match selector {
            Selector::Latest => invocation.arg("latest"),
            Selector::Version(version) => invocation.arg("version").arg(version.to_string()),
            Selector::Alias(alias) => invocation.arg("alias").arg(alias.as_str()),
        };
        let found: Option<(String, String, Option<u64>)> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let Some((field, json, created_at)) = found else {
            return Ok(None);
        };
        let version = parse_version(name, &field)?;
        Ok(Some(stored_version(name, &json)?.into_info(
            name,
            version,
            created_at.unwrap_or(0),
        )))
    }

    async fn code(&self, name: &FunctionName, version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .clone()
            .hget(key(name, "code"), version.to_string())
            .await
            .map_err(redis_error)
    }

    async fn set_alias(
        &self,
        name: &FunctionName,
        alias: &AliasName,
        version: u64,
    ) -> Result<(), StoreError> {
        let outcome: i64 = SET_ALIAS
            .key(key(name, "versions"))
            .key(key(name, "aliases"))
            .key(key(name, "updated"))
            .arg(alias.as_str())
            .arg(version.to_string())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        match outcome {
            0 => Err(no_function(name)),
            1 => Err(no_version(name, version)),
            _ => Ok(()),
        }
    }

    async fn delete_alias(
        &self,
        name: &FunctionName,
        alias: &AliasName,
    ) -> Result<bool, StoreError> {
        let removed: i64 = DELETE_ALIAS
            .key(key(name, "aliases"))
            .key(key(name, "updated"))
            .arg(alias.as_str())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(removed == 1)
    }

    async fn delete(&self, name: &FunctionName) -> Result<bool, StoreError> {
        let existed: i64 = DELETE
            .key(names_key())
            .key(key(name, "versions"))
            .key(key(name, "created"))
            .key(key(name, "code"))
            .key(key(name, "aliases"))
            .key(key(name, "updated"))
            .arg(name.as_str())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(existed == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}
