//! The gateway's shared state and the one path every call takes: admission, a fresh sandbox, metrics,
//! the call's log record and its trace span.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use capsa::{Call, Engine, ErrorCode, FunctionArgs, Language, Limits, OutputListener, Receipt};
use capsa_store::{FunctionName, FunctionRef, Selector, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admission::{Admission, Ticket};
use crate::auth::Auth;
use crate::config::{Config, ServerConfig};
use crate::error::ApiError;
use crate::function::{Function, GrantSpec, LimitOverrides, Programs, Trust};
use crate::guests::Guests;
use crate::metrics::Metrics;
use crate::plugins::Plugins;
use crate::routes::Pattern;
use crate::sessions::Sessions;
use crate::startup::Startup;
use crate::telemetry::{Span, Telemetry};

/// What a deployment stores besides its code: the function's limits and grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metadata {
    /// Limits below the gateway's.
    pub limits: LimitOverrides,
    /// What the function may reach.
    pub grants: GrantSpec,
}

/// A configured route.
pub struct Route {
    /// The path pattern.
    pub pattern: Pattern,
    /// The pattern as written, for logs and metrics.
    pub path: String,
    /// Allowed methods, upper case; empty means all.
    pub methods: Vec<String>,
    /// What the route calls.
    pub target: RouteTarget,
}

/// What a route calls.
pub enum RouteTarget {
    /// A file, compiled at start.
    File(Arc<Function>),
    /// A registry function, resolved per call; the route's limits apply over the function's, and the
    /// route's grants replace the function's when it sets any.
    Registry {
        /// `name[@version|@alias]`.
        reference: FunctionRef,
        /// The route's limits (boxed: the enum stays small).
        limits: Box<LimitOverrides>,
        /// The route's grants (already checked, its env included), if it sets any.
        grants: Option<Box<capsa::Grants>>,
        /// The route's env (expanded), laid over the function's own grants when the route sets none.
        env: Vec<(String, String)>,
        /// The last function this route composed, and the registry function it came from: reused
        /// while the reference keeps selecting that version.
        last: Mutex<Option<(Arc<Function>, Arc<Function>)>>,
    },
}

/// What a call gets as input.
pub enum Input {
    /// A handler call with the request context (SPEC §2).
    Handler(Value),
    /// A run of `_start` with these bytes on stdin.
    Stdin(Bytes),
    /// An exported function called with one string (plugins).
    Export {
        /// The export.
        name: String,
        /// Its argument.
        arg: String,
    },
}

/// Everything the request handlers share.
pub struct Gateway {
    /// The engine every sandbox comes from.
    pub engine: Engine,
    /// Registry and KV.
    pub store: Store,
    /// Compiled programs by digest.
    pub programs: Programs,
    registry_functions: Mutex<HashMap<(FunctionName, u64), Arc<Function>>>,
    /// Configured routes, in order.
    pub routes: Vec<Route>,
    /// The plugins directory.
    pub plugins: Option<Plugins>,
    /// Concurrency limits.
    pub admission: Admission,
    /// Metrics.
    pub metrics: Metrics,
    /// Bearer tokens.
    pub auth: Auth,
    /// Connection and admission settings.
    pub server: ServerConfig,
    /// The limits every call starts from (gateway defaults and `[limits]`).
    pub base_limits: Limits,
    /// Span export, when configured.
    pub telemetry: Option<Telemetry>,
    /// Live sessions.
    pub sessions: Sessions,
    /// The runtime guests run on (`[server] guest_threads`), apart from the one serving HTTP.
    pub guests: Arc<Guests>,
}

impl Gateway {
    /// Opens the store, compiles the routes' files and the plugins, and makes the gateway's state.
    ///
    /// # Errors
    ///
    /// Anything that would make the gateway serve wrongly: a bad route, a function file that does
    /// not load, an unreachable store, a token-less non-loopback address.
    pub async fn new(config: &Config, engine: Engine) -> Result<Arc<Gateway>, ApiError> {
        Gateway::start(config, engine, &Startup::default()).await
    }

    /// [`Gateway::new`], telling `startup` what is compiled as it goes (for `/readyz` while the
    /// gateway starts, see [`crate::Listener::while_starting`], and the log).
    ///
    /// # Errors
    ///
    /// As [`Gateway::new`].
    pub async fn start(
        config: &Config,
        engine: Engine,
        startup: &Startup,
    ) -> Result<Arc<Gateway>, ApiError> {
        for route in &config.routes {
            startup.expect(format!("route {}", route.path));
        }
        if config.plugins.is_some() {
            startup.expect("plugins");
        }
        let auth = Auth::from_config(&config.auth)?;
        let listen = config.listen();
        if !listen.ip().is_loopback() && !auth.has_tokens() {
            return Err(ApiError::invalid_input(format!(
                "refusing to listen on {listen} without auth tokens: set CAPSA_TOKEN or [auth] tokens, or listen on 127.0.0.1"
            )));
        }
        if auth.protects_invoke() && !auth.has_tokens() {
            return Err(ApiError::invalid_input(
                "[auth] protect_invoke needs tokens: set CAPSA_TOKEN or [auth] tokens",
            ));
        }
        let data_dir = config.data_dir();
        let store_url = config
            .store
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.display()));
        let store = Store::open(&store_url).await?;
        let base_limits = config.base_limits();
        let server = config.server.clone();
        let key = crate::sessions::snapshot_key(&config.sessions, &data_dir)?;
        if config.sessions.snapshot_key_file.is_none()
            && std::env::var_os("CAPSA_SNAPSHOT_KEY").is_none()
            && store_url.starts_with("redis")
        {
            tracing::warn!(
                "snapshots are signed with this node's own key: set CAPSA_SNAPSHOT_KEY or [sessions] snapshot_key_file on every node sharing the store, or a fork on another node is refused"
            );
        }
        let guests = Arc::new(Guests::new(server.guest_threads)?);
        let sessions = Sessions::new(
            engine.clone(),
            config.sessions.clone(),
            base_limits.clone(),
            key,
            store.clone(),
            guests.clone(),
        );
        let mut gateway = Gateway {
            sessions,
            guests,
            engine,
            store,
            programs: Programs::default(),
            registry_functions: Mutex::new(HashMap::new()),
            routes: Vec::new(),
            plugins: None,
            admission: Admission::new(
                server.concurrency,
                server.function_concurrency,
                server.queue,
                server.queue_timeout.0,
            ),
            metrics: Metrics::default(),
            auth,
            server,
            base_limits,
            telemetry: config.telemetry.otlp_endpoint.as_ref().map(|endpoint| {
                Telemetry::start(
                    endpoint,
                    config.telemetry.service_name.as_deref().unwrap_or("capsa"),
                )
            }),
        };
        for route in &config.routes {
            let began = Instant::now();
            let target = gateway.route_target(route).await?;
            startup.finished(&format!("route {}", route.path), began);
            gateway.routes.push(Route {
                pattern: Pattern::parse(&route.path).map_err(ApiError::invalid_input)?,
                path: route.path.clone(),
                methods: route.methods.iter().map(|m| m.to_uppercase()).collect(),
                target,
            });
        }
        if let Some(dir) = &config.plugins {
            let began = Instant::now();
            gateway.plugins = Some(Plugins::open(dir.clone(), &gateway).await?);
            startup.finished("plugins", began);
        }
        // Standby instances of the compiled language runtimes, made on the guest runtime where the
        // calls that take them run, so that even the first calls find one.
        let engine = gateway.engine.clone();
        let warmed = gateway
            .guests
            .run(async move {
                for language in [Language::JavaScript, Language::Python] {
                    if let Err(e) = engine.warm_standby(language) {
                        tracing::warn!("no standby instances of the {language} runtime: {e}");
                    }
                }
            })
            .await;
        if let Err(e) = warmed {
            tracing::warn!("no standby instances: {}", e.message);
        }
        Ok(Arc::new(gateway))
    }

    async fn route_target(
        &self,
        route: &crate::config::RouteConfig,
    ) -> Result<RouteTarget, ApiError> {
        // A route's own grants replace a registry function's; its env is laid over either.
        let has_grants = route.grants != GrantSpec::default();
        let mut spec = route.grants.clone();
        spec.env.extend(route.env.clone());
        let grants = spec
            .grants(Trust::Config, Some(&self.store.kv))
            .map_err(|e| {
                ApiError::invalid_input(format!("route `{}`: {}", route.path, e.message))
            })?;
        if crate::function::is_file_reference(&route.function) {
            let path = std::path::Path::new(&route.function);
            let language = Language::from_path(path).ok_or_else(|| {
                ApiError::invalid_input(format!(
                    "route `{}`: cannot tell the language of `{}` (use .wasm, .wat, .js, .mjs, .ts or .py)",
                    route.path, route.function
                ))
            })?;
            let code = std::fs::read(path).map_err(|e| {
                ApiError::invalid_input(format!(
                    "route `{}`: cannot read `{}`: {e}",
                    route.path, route.function
                ))
            })?;
            let file = path.file_name().map_or_else(
                || route.function.clone(),
                |f| f.to_string_lossy().into_owned(),
            );
            let limits = route.limits.apply(&self.base_limits);
            let program = async {
                let program = self
                    .programs
                    .get(&self.engine, language, &file, code.into())
                    .await?;
                crate::function::check_servable(&program)?;
                crate::function::check_loads(&program, &limits).await?;
                Ok::<_, ApiError>(program)
            }
            .await
            .map_err(|e| ApiError::new(e.code, format!("route `{}`: {}", route.path, e.message)))?;
            Ok(RouteTarget::File(Arc::new(Function {
                label: route.path.clone(),
                version: None,
                program,
                limits,
                grants,
            })))
        } else {
            let reference: FunctionRef =
                route
                    .function
                    .parse()
                    .map_err(|e: capsa_store::NameError| {
                        ApiError::invalid_input(format!("route `{}`: {e}", route.path))
                    })?;
            Ok(RouteTarget::Registry {
                reference,
                limits: Box::new(route.limits.clone()),
                grants: has_grants.then(|| Box::new(grants)),
                env: route
                    .env
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), crate::config::expand_env(v)?)))
                    .collect::<Result<_, ApiError>>()?,
                last: Mutex::new(None),
            })
        }
    }

    /// The function a registry reference selects now.
    ///
    /// # Errors
    ///
    /// `404 not_found` for a missing function, version or alias; what compiling or the store says.
    pub async fn registry_function(
        &self,
        reference: &FunctionRef,
    ) -> Result<Arc<Function>, ApiError> {
        let registry = &self.store.registry;
        let info = registry
            .resolve(&reference.name, &reference.selector)
            .await?
            .ok_or_else(|| match &reference.selector {
                Selector::Latest => {
                    ApiError::not_found(format!("no function `{}`", reference.name))
                }
                selector => ApiError::not_found(format!(
                    "function `{}` has no version or alias `{selector}`",
                    reference.name
                )),
            })?;
        let key = (info.name.clone(), info.version);
        if let Some(function) = self.lock_registry().get(&key) {
            return Ok(function.clone());
        }
        let code = registry
            .code(&info.name, info.version)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no function `{}`", info.name)))?;
        let metadata: Metadata = serde_json::from_value(info.metadata.clone()).map_err(|e| {
            ApiError::internal(format!(
                "stored metadata of `{}` is unreadable: {e}",
                info.name
            ))
        })?;
        let language: Language = info.language.parse()?;
        let program = self
            .programs
            .get(&self.engine, language, info.name.as_str(), code.into())
            .await?;
        let function = Arc::new(Function {
            label: info.name.to_string(),
            version: Some(info.version),
            program,
            limits: metadata.limits.apply(&self.base_limits),
            grants: metadata.grants.grants(Trust::Api, Some(&self.store.kv))?,
        });
        let mut cache = self.lock_registry();
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(key, function.clone());
        Ok(function)
    }

    fn lock_registry(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(FunctionName, u64), Arc<Function>>> {
        self.registry_functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The function a route calls now.
    ///
    /// # Errors
    ///
    /// As [`Gateway::registry_function`].
    pub async fn route_function(&self, route: &Route) -> Result<Arc<Function>, ApiError> {
        match &route.target {
            RouteTarget::File(function) => Ok(function.clone()),
            RouteTarget::Registry {
                reference,
                limits,
                grants,
                env,
                last,
            } => {
                let function = self.registry_function(reference).await?;
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((base, composed)) = &*last
                    && Arc::ptr_eq(base, &function)
                {
                    return Ok(composed.clone());
                }
                let composed = Arc::new(Function {
                    label: function.label.clone(),
                    version: function.version,
                    program: function.program.clone(),
                    limits: limits.apply(&function.limits),
                    grants: grants.as_deref().cloned().unwrap_or_else(|| {
                        env.iter()
                            .fold(function.grants.clone(), |g, (k, v)| g.env(k, v))
                    }),
                });
                *last = Some((function, composed.clone()));
                Ok(composed)
            }
        }
    }

    /// Waits for a slot to run `function` in (SPEC §8 Backpressure).
    ///
    /// # Errors
    ///
    /// `503 busy` when the function's or the gateway's queue is full or the wait times out.
    pub async fn admit(&self, function: &Function) -> Result<Ticket, ApiError> {
        self.admission
            .admit(&function.label)
            .await
            .inspect_err(|_| {
                self.metrics.rejected(ErrorCode::Busy);
            })
    }

    /// Runs one admitted call of `function` in a fresh sandbox, and records its metrics, its log
    /// record and its trace span. `listener` sees the output as it is written.
    ///
    /// # Errors
    ///
    /// Problems of the request's making (`invalid_input`). Everything the guest does is in the
    /// receipt.
    pub async fn run(
        &self,
        _ticket: Ticket,
        function: &Function,
        input: Input,
        listener: Option<OutputListener>,
        trace_parent: Option<&str>,
    ) -> Result<Receipt, ApiError> {
        let _active = self.metrics.active();
        let mut call = Call::new()
            .limits(function.limits.clone())
            .grants(function.grants.clone());
        if let Some(listener) = listener {
            call = call.on_output(listener);
        }
        let started = SystemTime::now();
        // On the guest runtime, not the one serving HTTP (`crate::guests`).
        let program = function.program.clone();
        let receipt = self
            .guests
            .run(async move {
                match input {
                    Input::Handler(context) => program.handle_async(&context, call).await,
                    Input::Stdin(stdin) => program.run_async(call.stdin(stdin)).await,
                    Input::Export { name, arg } => {
                        program
                            .run_async(call.function(name, FunctionArgs::Strings(vec![arg])))
                            .await
                    }
                }
            })
            .await??;
        self.metrics.call(&function.label, &receipt);
        log_call(function, &receipt);
        if let Some(telemetry) = &self.telemetry {
            telemetry.export(Span::of_call(function, &receipt, started, trace_parent));
        }
        Ok(receipt)
    }

    /// How long shutdown waits for in-flight calls.
    pub fn shutdown_grace(&self) -> Duration {
        self.server.shutdown_grace.0
    }
}

/// Guest stderr kept in a call's log record.
const LOGGED_STDERR: usize = 2048;

/// The call's one log record (SPEC §8 Observability).
fn log_call(function: &Function, receipt: &Receipt) {
    let stats = &receipt.stats;
    let stderr = bounded(&receipt.stderr, LOGGED_STDERR);
    let message = receipt.error.as_ref().map(|e| e.message.as_str());
    tracing::info!(
        target: "capsa::call",
        function = %function.label,
        version = function.version,
        outcome = receipt.outcome(),
        error = message,
        wall_us = stats.wall_us,
        instantiate_us = stats.instantiate_us,
        cpu_us = stats.cpu_us,
        fuel_used = stats.fuel_used,
        memory_peak_bytes = stats.memory_peak_bytes,
        host_calls = stats.host_calls,
        egress_bytes = stats.egress_bytes,
        stderr = stderr.as_deref(),
        "call"
    );
}

/// The first `max` bytes of `bytes` as text, marked when cut; `None` when empty.
fn bounded(bytes: &[u8], max: usize) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let cut = &bytes[..bytes.len().min(max)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > max {
        text.push_str(&format!("… [{} more bytes]", bytes.len() - max));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_in_logs_is_bounded() {
        assert_eq!(bounded(b"", 4), None);
        assert_eq!(bounded(b"abc", 4).as_deref(), Some("abc"));
        assert_eq!(
            bounded(b"abcdefgh", 4).as_deref(),
            Some("abcd… [4 more bytes]")
        );
    }
}
