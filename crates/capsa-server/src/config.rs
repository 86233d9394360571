//! `capsa.toml`: the gateway's configuration. Unknown keys are rejected with the key named, so a typo
//! never silently turns a setting off.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "capsa-data"
//!
//! [auth]
//! tokens = ["${env.CAPSA_ADMIN_TOKEN}"]
//!
//! [limits]
//! timeout = "2s"
//! memory = "64MiB"
//!
//! [[route]]
//! path = "/hello/{name}"
//! function = "functions/hello.js"
//! env = { GREETING = "hi", API_KEY = "${env.API_KEY}" }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use capsa::{ByteSize, HumanDuration, Limits};
use serde::Deserialize;

use crate::error::ApiError;
use crate::function::{GrantSpec, LimitOverrides};

/// The whole configuration file. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. By default `127.0.0.1:8080`.
    pub listen: Option<SocketAddr>,
    /// Where the SQLite store and the compiled-artifact cache live. By default `capsa-data`.
    pub data_dir: Option<PathBuf>,
    /// `sqlite:DIR` or `redis://HOST:PORT`. By default SQLite in the data dir.
    pub store: Option<String>,
    /// A directory of `.wasm` plugins served at `POST /execute/{plugin}`.
    pub plugins: Option<PathBuf>,
    /// `text` (default) or `json`.
    pub log_format: Option<LogFormat>,
    /// Bearer tokens.
    pub auth: AuthConfig,
    /// Per-call limits of every function unless a route or deployment lowers them.
    pub limits: LimitOverrides,
    /// Caps on compiling routes, deployments, run-now code and plugins (`capsa::CompileLimits`).
    pub compile: capsa::CompileLimits,
    /// Connection and admission limits.
    pub server: ServerConfig,
    /// OpenTelemetry export.
    pub telemetry: TelemetryConfig,
    /// Live sessions over HTTP (`/v1/sessions`).
    pub sessions: SessionsConfig,
    /// Routes to functions.
    #[serde(rename = "route")]
    pub routes: Vec<RouteConfig>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format `{other}`: expected text or json"
            )),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted bearer tokens; `${env.NAME}` references are expanded. `CAPSA_TOKEN` (comma-separated)
    /// adds more.
    pub tokens: Vec<String>,
    /// Require a token for routes and `/run/…` too (registry writes and run-now always need one).
    pub protect_invoke: bool,
}

/// `[server]`: what one connection and one request may take, and how many calls run at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest request body of an invocation. Larger → 413.
    pub max_body: ByteSize,
    /// Largest body of a deployment (`PUT /v1/functions/…`, `POST /v1/run`).
    pub max_deploy_body: ByteSize,
    /// Most bytes of request line and headers. More → 431.
    pub max_header_bytes: ByteSize,
    /// Most request headers. More → 431.
    pub max_headers: usize,
    /// Time a client has to send its request headers, and then its body.
    pub client_timeout: HumanDuration,
    /// Longest a response (or an event stream) may wait on a client that does not read; then the
    /// connection is closed and its call cancelled. By default 30 s.
    pub write_timeout: HumanDuration,
    /// Connections open at once; one more is answered `503 busy` and closed. By default 1024 (keep
    /// it below the process's file-descriptor limit).
    pub max_connections: usize,
    /// Calls running at once over the whole gateway.
    pub concurrency: usize,
    /// Calls of one function running at once.
    pub function_concurrency: usize,
    /// Calls that may wait for a free slot (per gate); more → 503 `busy`.
    pub queue: usize,
    /// How long a queued call waits before 503 `busy`.
    pub queue_timeout: HumanDuration,
    /// How long shutdown waits for in-flight calls.
    pub shutdown_grace: HumanDuration,
    /// Worker threads of the runtime guests run on, apart from the one serving HTTP (by default
    /// one per core).
    pub guest_threads: usize,
    /// Standby instances kept per language runtime (and per hot wasm function): made ahead of calls,
    /// each serving one call. 0 (the default) turns them off: measured in this build, a call in a
    /// standby instance is slower than a fresh one (docs/benchmarks.md).
    pub standby: usize,
    /// The most linear memory all standby instances may have together. By default 256 MiB.
    pub standby_memory: ByteSize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServerConfig {
            max_body: ByteSize::mib(1),
            max_deploy_body: ByteSize::mib(32),
            max_header_bytes: ByteSize(16 * 1024),
            max_headers: 100,
            client_timeout: HumanDuration(Duration::from_secs(10)),
            write_timeout: HumanDuration(Duration::from_secs(30)),
            max_connections: 1024,
            concurrency: 64 * cores,
            function_concurrency: 32 * cores,
            queue: 256,
            queue_timeout: HumanDuration(Duration::from_secs(1)),
            shutdown_grace: HumanDuration(Duration::from_secs(30)),
            guest_threads: cores,
            standby: 0,
            standby_memory: capsa::StandbyLimits::DEFAULT_ON.max_memory,
        }
    }
}

/// `[sessions]`: live sessions (`/v1/sessions`), their lifetimes and the caps on them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Whether the gateway serves sessions. By default `true`.
    pub enabled: bool,
    /// How long a session lives after its last use, unless it asks for less or more. By default
    /// 10 minutes.
    pub ttl: HumanDuration,
    /// The longest `ttl` a session may ask for. By default 1 hour.
    pub max_ttl: HumanDuration,
    /// Live sessions over the whole gateway. By default 1024.
    pub max_sessions: usize,
    /// Live sessions of one token. By default 64.
    pub max_per_token: usize,
    /// The sum of the live sessions' memory limits. By default 8 GiB: 64 sessions at the gateway's
    /// default 128 MiB (lower it to what the machine has; sessions that ask for less memory fit more).
    pub max_memory: ByteSize,
    /// How long an exec waits for the session's previous one before `409 conflict`. By default 1 s.
    pub exec_wait: HumanDuration,
    /// The largest snapshot stored. By default 256 MiB.
    pub max_snapshot: ByteSize,
    /// The file with the key that signs snapshots (64 hex digits). `CAPSA_SNAPSHOT_KEY` overrides
    /// it; by default `snapshot.key` in the data dir, created on first start. Gateways sharing a
    /// store must share the key.
    pub snapshot_key_file: Option<PathBuf>,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            enabled: true,
            ttl: HumanDuration(Duration::from_secs(600)),
            max_ttl: HumanDuration(Duration::from_secs(3600)),
            max_sessions: 1024,
            max_per_token: 64,
            max_memory: ByteSize(8 << 30),
            exec_wait: HumanDuration(Duration::from_secs(1)),
            max_snapshot: ByteSize::mib(256),
            snapshot_key_file: None,
        }
    }
}

/// `[telemetry]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// An OTLP/HTTP endpoint (`http://collector:4318`); spans are posted to `{endpoint}/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of exported spans. By default `capsa`.
    pub service_name: Option<String>,
}

/// One `[[route]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// `/exact`, `/users/{id}`, `/api/*` (the rest of the path is the `rest` route parameter).
    pub path: String,
    /// A file (`.wasm`, `.wat`, `.js`, `.mjs`, `.ts`, `.py`; relative to the config file) or a registry
    /// reference `name[@version|@alias]`.
    pub function: String,
    /// Methods the route answers; all when absent.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Limits of this route's calls.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Environment variables of the guest; values may reference `${env.NAME}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Other grants: `allow_hosts`, `kv`, `dirs`.
    #[serde(default)]
    pub grants: GrantSpec,
}

impl Config {
    /// The engine a gateway of this configuration runs on, caching artifacts in `cache`: it meters
    /// fuel (every function may get a CPU budget), with the configured compile limits and standby
    /// instances.
    pub fn engine_builder(&self, cache: std::path::PathBuf) -> capsa::EngineBuilder {
        capsa::Engine::builder()
            .cache_dir(Some(cache))
            .cpu_budget(true)
            .compile_limits(self.compile.clone())
            .standby(capsa::StandbyLimits {
                per_module: self.server.standby,
                max_memory: self.server.standby_memory,
            })
    }

    /// Reads and checks a configuration file. Relative paths in it are relative to its directory.
    ///
    /// # Errors
    ///
    /// `invalid_input` naming the file and the problem (a TOML error names the line and the key).
    pub fn load(path: &Path) -> Result<Config, ApiError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ApiError::invalid_input(format!("cannot read config `{}`: {e}", path.display()))
        })?;
        let mut config = Config::parse(&text)
            .map_err(|e| ApiError::invalid_input(format!("config `{}`: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.rebase(base);
        Ok(config)
    }

    /// Parses configuration text. `${env.NAME}` references are expanded later, where they are used.
    ///
    /// # Errors
    ///
    /// The TOML error, which names the unknown or malformed key and its line.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        for route in &self.routes {
            crate::routes::Pattern::parse(&route.path)?;
            for method in &route.methods {
                if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(format!(
                        "route `{}`: `{method}` is not an HTTP method",
                        route.path
                    ));
                }
            }
        }
        let server = &self.server;
        if server.guest_threads == 0 || server.guest_threads > 1024 {
            return Err("server.guest_threads must be between 1 and 1024".into());
        }
        if server.standby > 64 {
            return Err("server.standby must be at most 64 instances per module".into());
        }
        if server.max_connections == 0 {
            return Err("server.max_connections must be at least 1".into());
        }
        if server.write_timeout.0.is_zero() || server.client_timeout.0.is_zero() {
            return Err("server.write_timeout and server.client_timeout must be above zero".into());
        }
        if server.concurrency == 0 || server.function_concurrency == 0 {
            return Err(
                "server.concurrency and server.function_concurrency must be at least 1".into(),
            );
        }
        let sessions = &self.sessions;
        if sessions.ttl.0.is_zero() || sessions.ttl.0 > sessions.max_ttl.0 {
            return Err(format!(
                "sessions.ttl = {} must be above zero and at most sessions.max_ttl = {}",
                sessions.ttl, sessions.max_ttl
            ));
        }
        Ok(())
    }

    /// Makes file paths relative to `base`, the config file's directory.
    fn rebase(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(dir) = &mut self.data_dir {
            join(dir);
        }
        if let Some(dir) = &mut self.plugins {
            join(dir);
        }
        if let Some(file) = &mut self.sessions.snapshot_key_file {
            join(file);
        }
        for route in &mut self.routes {
            if crate::function::is_file_reference(&route.function) {
                let mut path = PathBuf::from(&route.function);
                join(&mut path);
                route.function = path.to_string_lossy().into_owned();
            }
            for dir in &mut route.grants.dirs {
                // `HOST[:GUEST][:ro]`: only the host part is a path of ours.
                if !dir.starts_with('/') {
                    *dir = base.join(&*dir).to_string_lossy().into_owned();
                }
            }
        }
    }

    /// The listen address, defaulting to loopback.
    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("capsa-data"))
    }

    /// The limits every gateway call starts from: SPEC §3's gateway defaults, then `[limits]`.
    pub fn base_limits(&self) -> Limits {
        let defaults = Limits {
            timeout: HumanDuration(Duration::from_secs(5)),
            memory: ByteSize::mib(128),
            max_output: ByteSize::mib(4),
            ..Limits::default()
        };
        self.limits.apply(&defaults)
    }
}

/// Expands `${env.NAME}` references from the process environment.
///
/// # Errors
///
/// `invalid_input` naming a variable that is not set, or a reference that is not closed.
pub fn expand_env(value: &str) -> Result<String, ApiError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${env.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after.find('}').ok_or_else(|| {
            ApiError::invalid_input(format!("unclosed `${{env.` reference in `{value}`"))
        })?;
        let name = &after[..end];
        let var = std::env::var(name).map_err(|_| {
            ApiError::invalid_input(format!(
                "`${{env.{name}}}` refers to the environment variable `{name}`, which is not set"
            ))
        })?;
        out.push_str(&var);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let config = Config::parse(
            r#"
            listen = "0.0.0.0:9000"
            data_dir = "data"
            store = "redis://127.0.0.1:6379"
            log_format = "json"
            [auth]
            tokens = ["a", "b"]
            protect_invoke = true
            [limits]
            timeout = "2s"
            memory = "64MiB"
            [server]
            max_body = "2MiB"
            concurrency = 8
            [sessions]
            ttl = "30s"
            max_ttl = "2m"
            max_sessions = 10
            max_per_token = 2
            max_memory = "1GiB"
            exec_wait = "100ms"
            max_snapshot = "16MiB"
            snapshot_key_file = "key"
            [[route]]
            path = "/users/{id}"
            function = "users.ts"
            methods = ["GET", "POST"]
            limits = { timeout = "1s" }
            env = { MODE = "prod" }
            grants = { allow_hosts = ["api.example.com"], kv = "users" }
            [[route]]
            path = "/api/*"
            function = "api@canary"
            "#,
        )
        .unwrap();
        assert_eq!(config.listen(), "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.log_format, Some(LogFormat::Json));
        assert_eq!(config.routes.len(), 2);
        assert_eq!(config.server.max_body, ByteSize::mib(2));
        let limits = config.base_limits();
        assert_eq!(limits.timeout.0, Duration::from_secs(2));
        assert_eq!(limits.memory, ByteSize::mib(64));
        assert_eq!(limits.max_output, ByteSize::mib(4));
        assert_eq!(config.sessions.ttl.0, Duration::from_secs(30));
        assert_eq!(config.sessions.max_per_token, 2);
        assert_eq!(config.sessions.max_memory, ByteSize::mib(1024));
        assert!(config.sessions.enabled);
    }

    #[test]
    fn unknown_keys_are_named() {
        for (text, key) in [
            ("lisen = \"x\"", "lisen"),
            ("[auth]\ntoken = []", "token"),
            ("[limits]\nmemroy = \"1MiB\"", "memroy"),
            ("[sessions]\nmax_session = 1", "max_session"),
            (
                "[[route]]\npath = \"/\"\nfunction = \"a\"\nenvs = {}",
                "envs",
            ),
            (
                "[[route]]\npath = \"/\"\nfunction = \"a\"\ngrants = { hosts = [] }",
                "hosts",
            ),
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(err.contains(&format!("`{key}`")), "{text}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn standby_is_off_by_default_and_can_be_turned_on() {
        let off = Config::parse("").unwrap();
        assert_eq!(off.server.standby, 0);
        assert_eq!(off.server.standby_memory, ByteSize::mib(256));
        let on = Config::parse("[server]\nstandby = 2").unwrap();
        assert_eq!(on.server.standby, 2);
        assert!(Config::parse("[server]\nstandby = 64").is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        for text in [
            "listen = \"nowhere\"",
            "[limits]\ntimeout = \"soon\"",
            "[[route]]\npath = \"no-slash\"\nfunction = \"a\"",
            "[[route]]\npath = \"/v1/functions\"\nfunction = \"a\"",
            "[[route]]\npath = \"/\"\nfunction = \"a\"\nmethods = [\"G T\"]",
            "[server]\nconcurrency = 0",
            "[server]\nguest_threads = 0",
            "[server]\nmax_connections = 0",
            "[server]\nwrite_timeout = \"0s\"",
            "[server]\nclient_timeout = \"0s\"",
            "[server]\nstandby = 65",
            "[server]\nstandby_memory = \"lots\"",
            "[sessions]\nttl = \"0s\"",
            "[sessions]\nttl = \"2h\"",
        ] {
            assert!(Config::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn env_references_expand() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("CAPSA_TEST_SECRET", "s3cret") };
        assert_eq!(
            expand_env("k=${env.CAPSA_TEST_SECRET};").unwrap(),
            "k=s3cret;"
        );
        assert_eq!(expand_env("plain").unwrap(), "plain");
        assert!(expand_env("${env.CAPSA_TEST_UNSET_VARIABLE}").is_err());
        assert!(expand_env("${env.OPEN").is_err());
    }
}
