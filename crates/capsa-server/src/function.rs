//! A function the gateway can call: a compiled program with its limits and grants, whether it came
//! from a route's file, the registry, a plugin or a run-now request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use capsa::http::{AllowList, HostPattern, HttpCaps, HttpGrant};
use capsa::kv::{KvBackend, KvGrant};
use capsa::{DirGrant, Engine, Grants, Language, Limits, Program};
use serde::{Deserialize, Serialize};

use crate::config::expand_env;
use crate::error::ApiError;

/// Limits a route, a deployment or a run-now request sets; the rest come from the gateway's. The
/// library's one limits schema.
pub use capsa::LimitOverrides;

/// Grants as configured (`[route.grants]`) or deployed (`"grants": {…}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrantSpec {
    /// Environment variables.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Outbound HTTP allow-list (`api.example.com`, `*.example.com`, `https://h:8443;methods=GET`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_hosts: Vec<String>,
    /// A key-value namespace in the gateway's store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv: Option<String>,
    /// Host directories, `HOST[:GUEST][:ro]` (configuration only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
}

/// Who wrote a grant: the operator (capsa.toml) or an API client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `capsa.toml`: `${env.NAME}` references expand, directories may be mounted.
    Config,
    /// A deployment or run-now request: values are literal, and neither host directories nor address
    /// ranges (the gateway's own network) can be granted.
    Api,
}

impl GrantSpec {
    /// Checks the spec as [`GrantSpec::grants`] would, without building anything.
    ///
    /// # Errors
    ///
    /// As [`GrantSpec::grants`].
    pub fn check(&self, trust: Trust) -> Result<(), ApiError> {
        self.grants(trust, None).map(drop)
    }

    /// The grants of this spec. `kv` is the gateway's KV backend (None only for checking).
    ///
    /// # Errors
    ///
    /// `invalid_input` for a bad pattern, namespace, directory or env reference, or a directory
    /// asked for through the API.
    pub fn grants(
        &self,
        trust: Trust,
        kv: Option<&Arc<dyn KvBackend>>,
    ) -> Result<Grants, ApiError> {
        let mut grants = Grants::new();
        for (key, value) in &self.env {
            if key.is_empty() || key.contains(['=', '\0']) {
                return Err(ApiError::invalid_input(format!(
                    "`{key}` is not an environment variable name"
                )));
            }
            let value = match trust {
                Trust::Config => expand_env(value)?,
                Trust::Api => value.clone(),
            };
            grants = grants.env(key, value);
        }
        if !self.allow_hosts.is_empty() {
            let patterns = self
                .allow_hosts
                .iter()
                .map(|p| p.parse::<HostPattern>())
                .collect::<Result<Vec<_>, _>>()?;
            // An address range is how the allow-list reaches loopback, private and metadata
            // addresses: the gateway's own network. Only the operator may grant that.
            if trust == Trust::Api
                && let Some(range) = patterns.iter().position(HostPattern::is_address_range)
            {
                return Err(ApiError::invalid_input(format!(
                    "allowed host `{}` is an address range, which can only be granted in capsa.toml; grant host names through the API",
                    self.allow_hosts[range]
                )));
            }
            grants = grants.http(HttpGrant::new(
                AllowList::new(patterns),
                HttpCaps::default(),
            )?);
        }
        if let Some(namespace) = &self.kv {
            match kv {
                Some(backend) => grants = grants.kv(KvGrant::new(backend.clone(), namespace)?),
                None => {
                    KvGrant::new(Arc::new(capsa::kv::MemoryKv::new()), namespace)?;
                }
            }
        }
        for dir in &self.dirs {
            if trust == Trust::Api {
                return Err(ApiError::invalid_input(
                    "directories can only be granted in capsa.toml, not through the API",
                ));
            }
            grants = grants.dir(dir.parse::<DirGrant>()?);
        }
        Ok(grants)
    }
}

/// Whether a route's `function` names a file rather than a registry entry. Registry names have
/// neither `/` nor `.`.
pub fn is_file_reference(function: &str) -> bool {
    function.contains(['/', '.'])
}

/// A function ready to call.
pub struct Function {
    /// What metrics and logs call it: the registry name, the route path, or `plugin:NAME`.
    pub label: String,
    /// The registry version, for registry functions.
    pub version: Option<u64>,
    /// The compiled program.
    pub program: Program,
    /// Limits of each call.
    pub limits: Limits,
    /// Grants of each call.
    pub grants: Grants,
}

/// Compiled programs by language and code digest, so a function deployed twice, or a version
/// called a million times, compiles once per node. Concurrent first calls of one program share its
/// compilation (single flight): the first compiles, the others wait for it; if it fails, the next
/// caller tries again.
#[derive(Default)]
pub struct Programs {
    map: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Program>>>>,
}

/// Programs kept at most; past it the map starts over (the on-disk artifact cache keeps the rest).
const MAX_PROGRAMS: usize = 512;

impl Programs {
    /// The program for `code` in `language`, compiling it (on the blocking pool) if new.
    ///
    /// # Errors
    ///
    /// `invalid_module`/`invalid_input` when the code does not load, as [`Engine::program`].
    pub async fn get(
        &self,
        engine: &Engine,
        language: Language,
        file: &str,
        code: Arc<[u8]>,
    ) -> Result<Program, ApiError> {
        let key = format!("{language}:{}", capsa_store::digest(&code));
        self.get_or_compile(key, || Programs::compile(engine, language, file, code))
            .await
    }

    /// The program under `key`, or what `compile` makes of it (once, however many wait for it).
    async fn get_or_compile<F>(
        &self,
        key: String,
        compile: impl FnOnce() -> F,
    ) -> Result<Program, ApiError>
    where
        F: Future<Output = Result<Program, ApiError>>,
    {
        let cell = {
            let mut map = self.lock();
            if map.len() >= MAX_PROGRAMS && !map.contains_key(&key) {
                map.clear();
            }
            map.entry(key).or_default().clone()
        };
        cell.get_or_try_init(compile).await.cloned()
    }

    /// Compiles `code` without keeping the program here (run-now: one-off code must not evict the
    /// functions that serve traffic).
    ///
    /// # Errors
    ///
    /// As [`Programs::get`].
    pub async fn compile(
        engine: &Engine,
        language: Language,
        file: &str,
        code: Arc<[u8]>,
    ) -> Result<Program, ApiError> {
        let engine = engine.clone();
        let file = file.to_owned();
        tokio::task::spawn_blocking(move || engine.program(language, &file, &code))
            .await
            .map_err(|e| ApiError::internal(format!("compiling failed: {e}")))?
            .map_err(ApiError::from)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::OnceCell<Program>>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Loads a script once in a sandbox with no grants and the function's limits, so that a syntax error
/// is refused at deploy (or at start, for a route's file) instead of failing every call. Only a
/// syntax error counts: anything else the top level does without its grants is the call's business.
/// A wasm program is checked by compiling it; this does nothing for it.
///
/// # Errors
///
/// `invalid_input` with the error's message and position.
pub async fn check_loads(program: &Program, limits: &Limits) -> Result<(), ApiError> {
    let Program::Script(script) = program else {
        return Ok(());
    };
    let receipt = script
        .run_async(capsa::Call::new().limits(limits.clone()))
        .await?;
    match receipt.error.as_ref().and_then(|f| f.exception.as_ref()) {
        Some(exception) if exception.syntax => {
            let at = exception
                .stack
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            Err(ApiError::invalid_input(format!(
                "{}: {} {}",
                exception.name,
                exception.message,
                at.trim()
            )))
        }
        _ => Ok(()),
    }
}

/// A wasm function must be callable as a handler: a WASI command or a wasi:http component.
///
/// # Errors
///
/// `invalid_module` saying what a handler module must export.
pub fn check_servable(program: &Program) -> Result<(), ApiError> {
    if let Program::Wasm(module) = program
        && !module.is_command()
        && !module.is_http_proxy()
    {
        return Err(ApiError::new(
            capsa::ErrorCode::InvalidModule,
            "a wasm function must be a WASI command (exporting `_start`) or a wasi:http/proxy component",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_first_calls_of_a_program_compile_it_once() {
        let engine = Engine::builder().cache_dir(None).build().unwrap();
        let wasm = Program::Wasm(engine.load(b"(module)").unwrap());
        let programs = Arc::new(Programs::default());
        let compiles = Arc::new(AtomicUsize::new(0));
        let calls = (0..8).map(|_| {
            let (programs, compiles, wasm) = (programs.clone(), compiles.clone(), wasm.clone());
            tokio::spawn(async move {
                programs
                    .get_or_compile("wasm:x".into(), || async move {
                        compiles.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok(wasm)
                    })
                    .await
            })
        });
        for call in calls.collect::<Vec<_>>() {
            assert!(call.await.unwrap().is_ok());
        }
        assert_eq!(compiles.load(Ordering::SeqCst), 1);

        // A failed compile is not kept: the next caller compiles again.
        let failed = programs
            .get_or_compile("wasm:y".into(), || async {
                Err(ApiError::invalid_input("no"))
            })
            .await;
        assert!(failed.is_err());
        let again = programs
            .get_or_compile("wasm:y".into(), || async { Ok(wasm) })
            .await;
        assert!(again.is_ok());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_source_that_does_not_parse_is_refused_at_load() {
        let engine = Engine::builder().cache_dir(None).build().unwrap();
        let limits = Limits::default();
        for (language, code) in [
            (Language::JavaScript, "JSON.parse('{nope')"),
            (Language::Python, "raise SyntaxError('its own')"),
        ] {
            let program = engine.program(language, "main", code.as_bytes()).unwrap();
            check_loads(&program, &limits)
                .await
                .unwrap_or_else(|e| panic!("{language}: {code} parses, but: {e:?}"));
        }
        for (language, code) in [(Language::JavaScript, "1 +"), (Language::Python, "def f(:")] {
            let program = engine.program(language, "main", code.as_bytes()).unwrap();
            let err = check_loads(&program, &limits).await.unwrap_err();
            assert!(
                format!("{err:?}").contains("SyntaxError"),
                "{language}: {err:?}"
            );
        }
    }

    #[test]
    fn api_grants_are_literal_and_have_no_dirs() {
        let spec = GrantSpec {
            env: BTreeMap::from([("K".into(), "${env.HOME}".into())]),
            ..GrantSpec::default()
        };
        spec.check(Trust::Api).unwrap();
        let dirs = GrantSpec {
            dirs: vec!["/tmp".into()],
            ..GrantSpec::default()
        };
        assert!(dirs.check(Trust::Api).is_err());
        dirs.check(Trust::Config).unwrap();
        let bad_host = GrantSpec {
            allow_hosts: vec!["http://".into()],
            ..GrantSpec::default()
        };
        assert!(bad_host.check(Trust::Api).is_err());
        for range in [
            "127.0.0.1",
            "169.254.169.254",
            "10.0.0.0/8",
            "http://[::1]:8080",
        ] {
            let spec = GrantSpec {
                allow_hosts: vec!["api.example.com".into(), range.into()],
                ..GrantSpec::default()
            };
            let err = spec.check(Trust::Api).unwrap_err();
            assert!(err.message.contains(range), "{}", err.message);
            spec.check(Trust::Config).unwrap();
        }
        let bad_env = GrantSpec {
            env: BTreeMap::from([("A=B".into(), "x".into())]),
            ..GrantSpec::default()
        };
        assert!(bad_env.check(Trust::Api).is_err());
    }

    #[test]
    fn file_references() {
        assert!(is_file_reference("hello.js"));
        assert!(is_file_reference("functions/hello"));
        assert!(!is_file_reference("hello"));
        assert!(!is_file_reference("hello@2"));
    }
}
