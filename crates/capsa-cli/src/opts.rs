//! Flags shared by the commands that run guests: engine settings, limits and grants.

use std::path::PathBuf;
use std::sync::Arc;

use capsa::http::{AllowList, HostPattern, HttpCaps, HttpGrant};
use capsa::kv::{KvBackend, KvGrant, MemoryKv};
use capsa_store::{RedisKv, SqliteKv};

use capsa::{
    ByteSize, Call, DirGrant, Engine, Error, ErrorCode, Grants, HumanDuration, LimitOverrides,
    Limits, Receipt,
};
use clap::Args;

/// Everything about running a guest that `run` and `call` share: limits, grants, cache, output mode.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Print the receipt as JSON on stdout instead of passing the guest's output through
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub grants: GrantArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl SandboxArgs {
    /// An engine configured for these limits.
    pub fn engine(&self) -> Result<Engine, Error> {
        self.limits.configure(self.cache.engine()).build()
    }

    /// The call every run starts from: the limits and grants of the flags.
    pub fn call(&self) -> Result<Call, Error> {
        Ok(Call::new()
            .limits(self.limits.limits())
            .grants(self.grants.grants()?))
    }

    /// Runs one call with this process's stdin, the limits and grants, and live output unless
    /// `--json`: `execute` runs it (e.g. `|call| module.run(call)`). Prints the receipt with `--json`,
    /// else calls `print_result`; returns the exit status.
    pub fn run(
        &self,
        execute: impl FnOnce(Call) -> Result<Receipt, Error>,
        print_result: impl FnOnce(&Receipt),
    ) -> Result<u8, Error> {
        let mut call = self.call()?;
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            call = call.stdin_stream(crate::stdin::ProcessStdin::default());
        }
        let mut writer = None;
        if !self.json {
            let (listener, thread) = crate::commands::passthrough();
            call = call.on_output(listener);
            writer = Some(thread);
        }
        let receipt = execute(call);
        // The call (and with it every sender of the output channel) is gone: flush what is left.
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let receipt = receipt?;
        if self.json {
            let json = serde_json::to_string_pretty(&receipt).map_err(|e| {
                Error::new(
                    ErrorCode::Internal,
                    format!("cannot print the receipt: {e}"),
                )
            })?;
            outln!("{json}");
        } else {
            print_result(&receipt);
        }
        Ok(crate::commands::exit_status(&receipt, !self.json))
    }
}

/// Where compiled artifacts are cached.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// Directory of the compiled-artifact cache [default: $XDG_CACHE_HOME/capsa or ~/.cache/capsa]
    #[arg(long, env = "CAPSA_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the on-disk cache (wins over `--cache-dir` and `CAPSA_CACHE_DIR`)
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    pub fn engine(&self) -> capsa::EngineBuilder {
        let builder = Engine::builder();
        if self.no_cache {
            builder.cache_dir(None)
        } else if let Some(dir) = &self.cache_dir {
            builder.cache_dir(Some(dir.clone()))
        } else {
            builder
        }
    }
}

/// Limits of one call. Every limit is on by default; the defaults are `Limits::default()`'s.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    #[command(flatten)]
    pub call: LimitOverrides,
    /// Wasm stack, e.g. `512KiB`
    #[arg(long, value_name = "SIZE", default_value_t = ByteSize(capsa::DEFAULT_MAX_WASM_STACK as u64))]
    pub stack: ByteSize,
    /// Wall-clock time compiling a module may take (the other compile limits are in `docs/limits.md`)
    #[arg(long, value_name = "DURATION", default_value_t = capsa::CompileLimits::default().timeout)]
    pub compile_timeout: HumanDuration,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        self.call.apply(&Limits::default())
    }

    /// The engine settings these limits need: fuel metering only when a budget is asked for, so
    /// ordinary runs keep full speed.
    pub fn configure(&self, builder: capsa::EngineBuilder) -> capsa::EngineBuilder {
        builder
            .cpu_budget(self.call.fuel.is_some())
            .max_wasm_stack(usize::try_from(self.stack.bytes()).unwrap_or(usize::MAX))
            .compile_limits(capsa::CompileLimits {
                timeout: self.compile_timeout,
                ..capsa::CompileLimits::default()
            })
    }
}

/// What the guest may reach. Nothing by default.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Grants")]
pub struct GrantArgs {
    /// Grant an environment variable: `K=V`, or `K` to pass the host's value of K
    #[arg(long = "env", value_name = "K[=V]")]
    pub env: Vec<String>,
    /// Mount a host directory: `HOST[:GUEST][:ro]`
    #[arg(long = "dir", value_name = "HOST[:GUEST][:ro]", value_parser = parse::<DirGrant>)]
    pub dirs: Vec<DirGrant>,
    /// Grant a key-value namespace: `NAMESPACE` (in memory), `sqlite:DIR[#NS]` (a store directory, as
    /// the gateway's `store`) or
    /// `redis://HOST:PORT[#NS]`
    #[arg(long = "kv", value_name = "STORE", value_parser = parse::<KvSpec>)]
    pub kv: Option<KvSpec>,
    /// Allow outbound HTTP to a host: `[SCHEME://]HOST[:PORT][;methods=GET,POST]`, `*.DOMAIN`, or an
    /// address range such as `127.0.0.1:8080` or `10.0.0.0/8` (needed for private addresses)
    #[arg(long = "allow-host", value_name = "PATTERN", value_parser = parse::<HostPattern>)]
    pub allow_hosts: Vec<HostPattern>,
}

/// Where `--kv` keeps its data. The namespace defaults to `default` for persistent stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvSpec {
    /// In this process's memory, gone when it exits.
    Memory(String),
    /// The SQLite KV of a store directory (`DIR/kv.db`, as the gateway's `store = "sqlite:DIR"`).
    Sqlite { dir: PathBuf, namespace: String },
    /// A Redis server.
    Redis { url: String, namespace: String },
}

impl std::str::FromStr for KvSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (store, namespace) = match s.rsplit_once('#') {
            Some((store, ns)) => (store, ns.to_owned()),
            None => (s, "default".to_owned()),
        };
        let spec = if let Some(dir) = store.strip_prefix("sqlite:") {
            if dir.is_empty() {
                return Err(Error::new(
                    ErrorCode::InvalidInput,
                    "`sqlite:` needs a store directory",
                ));
            }
            if [".db", ".sqlite", ".sqlite3"]
                .iter()
                .any(|ext| dir.ends_with(ext))
            {
                return Err(Error::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "`sqlite:{dir}` looks like a file: `sqlite:` names a store directory, \
                         whose KV is `DIR/{}` (as the gateway's `store`)",
                        capsa_store::KV_FILE
                    ),
                ));
            }
            KvSpec::Sqlite {
                dir: PathBuf::from(dir),
                namespace,
            }
        } else if store.starts_with("redis://") || store.starts_with("rediss://") {
            KvSpec::Redis {
                url: store.to_owned(),
                namespace,
            }
        } else if s.contains('#') || s.contains(':') {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "invalid KV store `{s}`: expected NAMESPACE, sqlite:DIR[#NS] or redis://HOST:PORT[#NS]"
                ),
            ));
        } else {
            KvSpec::Memory(s.to_owned())
        };
        Ok(spec)
    }
}

impl KvSpec {
    fn grant(&self) -> Result<KvGrant, Error> {
        let store_error =
            |e: capsa::kv::KvError| Error::new(ErrorCode::InvalidInput, e.to_string());
        let (backend, namespace): (Arc<dyn KvBackend>, &str) = match self {
            KvSpec::Memory(namespace) => (Arc::new(MemoryKv::new()), namespace),
            KvSpec::Sqlite { dir, namespace } => (
                Arc::new(SqliteKv::open_in(dir).map_err(store_error)?),
                namespace,
            ),
            KvSpec::Redis { url, namespace } => {
                (Arc::new(RedisKv::new(url).map_err(store_error)?), namespace)
            }
        };
        KvGrant::new(backend, namespace)
    }
}

impl GrantArgs {
    pub fn grants(&self) -> Result<Grants, Error> {
        let mut grants = Grants::new();
        for env in &self.env {
            grants = match env.split_once('=') {
                Some((key, value)) => grants.env(key, value),
                None => {
                    let value = std::env::var(env).map_err(|_| {
                        Error::new(
                            capsa::ErrorCode::InvalidInput,
                            format!("`--env {env}` asks for the host's `{env}`, which is not set"),
                        )
                    })?;
                    grants.env(env, value)
                }
            };
        }
        for dir in &self.dirs {
            grants = grants.dir(dir.clone());
        }
        if let Some(kv) = &self.kv {
            grants = grants.kv(kv.grant()?);
        }
        if !self.allow_hosts.is_empty() {
            let allow = AllowList::new(self.allow_hosts.iter().cloned());
            grants = grants.http(HttpGrant::new(allow, HttpCaps::default())?);
        }
        Ok(grants)
    }
}

fn parse<T: std::str::FromStr<Err = Error>>(s: &str) -> Result<T, String> {
    s.parse().map_err(|e: Error| e.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_specs_parse() {
        let parse = |s: &str| s.parse::<KvSpec>();
        assert_eq!(parse("cache").unwrap(), KvSpec::Memory("cache".into()));
        assert_eq!(
            parse("sqlite:/tmp/store#app").unwrap(),
            KvSpec::Sqlite {
                dir: "/tmp/store".into(),
                namespace: "app".into()
            }
        );
        assert_eq!(
            parse("sqlite:data").unwrap(),
            KvSpec::Sqlite {
                dir: "data".into(),
                namespace: "default".into()
            }
        );
        assert_eq!(
            parse("redis://127.0.0.1:6379#shared").unwrap(),
            KvSpec::Redis {
                url: "redis://127.0.0.1:6379".into(),
                namespace: "shared".into()
            }
        );
        for bad in ["sqlite:", "sqlite:kv.db", "postgres://x", "a#b", "mem:ns"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
