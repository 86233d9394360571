//! `capsa serve`: the HTTP gateway (SPEC §8).

use std::net::SocketAddr;
use std::path::PathBuf;

use capsa::{Error, ErrorCode, Language};
use capsa_server::config::{Config, LogFormat};
use clap::Args;

/// Start the HTTP gateway: configured routes, the function registry, run-now, metrics.
///
/// Every call gets a fresh sandbox. Settings come from capsa.toml (see docs/gateway.md); flags
/// override it. Tokens come from `[auth] tokens` and CAPSA_TOKEN (comma-separated).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa serve --config examples/capsa.toml\n  CAPSA_TOKEN=s3cret capsa serve --listen 127.0.0.1:8080 --data ./capsa-data\n  capsa serve --store redis://127.0.0.1:6379 --plugins ./plugins"
)]
pub struct ServeArgs {
    /// The configuration file
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory: the SQLite store and the artifact cache [default: capsa-data]
    #[arg(long = "data", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Store: `sqlite:DIR` or `redis://HOST:PORT` [default: SQLite in the data directory]
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// A directory of .wasm plugins for `POST /execute/{plugin}`
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Export traces to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
}

impl ServeArgs {
    /// The configuration: the file, then the flags.
    pub fn config(&self) -> Result<Config, Error> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(to_error)?,
            None => Config::default(),
        };
        if self.listen.is_some() {
            config.listen = self.listen;
        }
        if let Some(data) = &self.data {
            config.data_dir = Some(data.clone());
        }
        if let Some(store) = &self.store {
            config.store = Some(store.clone());
        }
        if let Some(plugins) = &self.plugins {
            config.plugins = Some(plugins.clone());
        }
        if let Some(format) = self.log_format {
            config.log_format = Some(format);
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            config.telemetry.otlp_endpoint = Some(endpoint.clone());
        }
        Ok(config)
    }
}

fn to_error(e: capsa_server::ApiError) -> Error {
    Error::new(e.code, e.message)
}

pub fn run(config: Config) -> Result<u8, Error> {
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir).map_err(|e| {
        Error::new(
            ErrorCode::InvalidInput,
            format!(
                "cannot create the data directory `{}`: {e}",
                data_dir.display()
            ),
        )
    })?;
    // Compiled artifacts are cached per node, next to its data.
    let cache =
        std::env::var_os("CAPSA_CACHE_DIR").map_or_else(|| data_dir.join("cache"), PathBuf::from);
    let engine = config.engine_builder(cache).build()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("capsa-gateway")
        .build()
        .map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("cannot start the runtime: {e}"),
            )
        })?;
    // Starting compiles every route's file; on a first start that includes the language runtimes,
    // which takes a while: say so, and how long it took.
    let cold: Vec<&str> = [
        (Language::JavaScript, "JavaScript"),
        (Language::Python, "Python"),
    ]
    .into_iter()
    .filter(|(language, _)| !engine.runtime_ready(*language))
    .map(|(_, name)| name)
    .collect();
    let began = std::time::Instant::now();
    if !config.routes.is_empty() {
        let first = if cold.is_empty() {
            String::new()
        } else {
            format!(
                " (first start: preparing the {} runtime{}, up to a minute; cached afterwards)",
                cold.join(" and "),
                if cold.len() > 1 { "s" } else { "" }
            )
        };
        crate::progress::note(format_args!(
            "capsa: compiling {} routes{first}…",
            config.routes.len()
        ));
    }
    let served = runtime.block_on(async move {
        // Listen first: `/healthz` answers at once, and `/readyz` says what is still compiling.
        let listen = config.listen();
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            Error::new(
                ErrorCode::InvalidInput,
                format!("cannot listen on {listen}: {e}"),
            )
        })?;
        let listener = capsa_server::Listener::new(listener, &config.server);
        let local = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        eprintln!("capsa: gateway listening on http://{local}");
        let startup = std::sync::Arc::new(capsa_server::Startup::default());
        // SIGTERM while starting stops the start: nothing is in flight yet.
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        let starting = listener.while_starting(
            &startup,
            capsa_server::Gateway::start(&config, engine, &startup),
        );
        let gateway = tokio::select! {
            gateway = starting => gateway.map_err(to_error)?,
            () = &mut shutdown => {
                eprintln!("capsa: stopped while starting");
                return Ok(0);
            }
        };
        if !config.routes.is_empty() {
            crate::progress::note(format_args!(
                "capsa: {} routes ready in {:.1?}",
                config.routes.len(),
                began.elapsed()
            ));
        }
        for route in &gateway.routes {
            eprintln!("capsa:   route {} -> {}", route.path, describe(route));
        }
        if let Some(plugins) = &gateway.plugins {
            eprintln!(
                "capsa:   plugins {:?} at POST /execute/{{plugin}}",
                plugins.names()
            );
        }
        eprintln!("capsa: ready");
        capsa_server::serve_on(gateway, listener, shutdown)
            .await
            .map_err(|e| Error::new(ErrorCode::Internal, format!("the server failed: {e}")))?;
        Ok(0)
    });
    // Without waiting for a compile that a stop while starting left running.
    runtime.shutdown_background();
    served
}

fn describe(route: &capsa_server::Route) -> String {
    match &route.target {
        capsa_server::RouteTarget::File(f) => format!("{} file", f.program.language()),
        capsa_server::RouteTarget::Registry { reference, .. } => format!("registry {reference}"),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
