//! End-to-end tests of the gateway's features, in one binary so the suite links once: each test
//! runs a real gateway in-process (`capsa_server::serve` on a `127.0.0.1:0` listener, its own tokio
//! runtime, real SQLite or a real redis-server) and talks to it with a real HTTP client over
//! loopback. What is about the `capsa` binary itself (signals, `kill -9`, printed logs and traces,
//! the CLI clients, refused configs) is in crates/capsa-cli/tests/gateway.rs.

mod auth;
mod limits;
mod load;
mod mcp;
mod operations;
mod plugins;
mod redis;
mod registry;
mod regression;
mod routes;
mod run_now;
mod schemathesis;
mod sessions;
mod streaming;

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

/// The bearer token every test gateway accepts.
pub const TOKEN: &str = "test-token";

/// How long a test waits for something that should happen soon (a gateway's start compiles the
/// language runtimes on a cold cache, which takes a while on a busy 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// One artifact cache for every gateway of this test binary: the language runtimes compile once.
/// A subdirectory of a temporary directory, so the cache's key (beside it) is cleaned up with it.
pub fn cache_dir() -> &'static Path {
    static CACHE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &CACHE
        .get_or_init(|| {
            let home = tempfile::tempdir().unwrap();
            let cache = home.path().join("cache");
            (home, cache)
        })
        .1
}

pub fn functions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/functions")
}

/// The source of an example function.
pub fn example(name: &str) -> String {
    std::fs::read_to_string(functions_dir().join(name)).unwrap()
}

/// The path of a test guest (`make guests`).
pub fn guest(name: &str) -> String {
    capsa_test_programs::path(name).display().to_string()
}

/// A gateway running in this process, on its own runtime, as `capsa serve` runs one: its config
/// loaded from a capsa.toml in its directory, an engine with the binary's settings, a real listener.
/// Dropping it is a shutdown: the server stops accepting, drains, and its store is closed, so a new
/// gateway can open the same directory (a restart).
pub struct Gateway {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    logs: Arc<Mutex<String>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    /// Starts a gateway with `config` (a capsa.toml without `listen`/`data_dir`) in `dir`, with the
    /// shared artifact cache.
    pub async fn start_in(dir: &Path, config: &str) -> Gateway {
        Gateway::start_with_cache(dir, config, cache_dir()).await
    }

    /// [`Gateway::start_in`] with its own artifact cache.
    pub async fn start_with_cache(dir: &Path, config: &str, cache: &Path) -> Gateway {
        Gateway::try_start(dir, config, cache)
            .await
            .unwrap_or_else(|e| panic!("gateway did not start: {e}"))
    }

    /// Starts a gateway, or says why it did not (with what it logged).
    pub async fn try_start(dir: &Path, config: &str, cache: &Path) -> Result<Gateway, String> {
        let path = dir.join("capsa.toml");
        let text = format!("listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{config}");
        std::fs::write(&path, text).unwrap();
        let mut config = capsa_server::config::Config::load(&path).map_err(|e| e.message)?;
        // What CAPSA_TOKEN gives the binary; the environment is the whole test process's.
        config.auth.tokens.push(TOKEN.to_owned());

        let logs = Arc::new(Mutex::new(String::new()));
        let dispatch = log_capture(&logs);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let cache = cache.to_owned();
        let thread = std::thread::Builder::new()
            .name("test-gateway".into())
            .spawn(move || serve(config, cache, dispatch, ready_tx, shutdown_rx))
            .unwrap();
        let started = tokio::time::timeout(PATIENCE, ready_rx).await;
        let url = match started {
            Ok(Ok(Ok(url))) => url,
            Ok(Ok(Err(e))) => {
                let _ = thread.join();
                return Err(format!("{e}\n{}", logs.lock().unwrap()));
            }
            Ok(Err(_)) | Err(_) => {
                let _ = shutdown_tx.send(());
                return Err(format!(
                    "not listening within {PATIENCE:?}\n{}",
                    logs.lock().unwrap()
                ));
            }
        };
        let gateway = Gateway {
            url,
            logs,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        };
        // Listening is not yet answering: wait for the health endpoint.
        wait_for(&gateway.url("/healthz"), StatusCode::OK).await;
        Ok(gateway)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// What the gateway logged so far, in the binary's text format.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// One line of `/metrics`: `NAME VALUE`, for a metric without labels.
    pub async fn metric(&self, name: &str) -> String {
        let metrics = client()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find(|l| l.strip_prefix(name).is_some_and(|v| v.starts_with(' ')))
            .unwrap_or_else(|| panic!("no `{name}` in\n{metrics}"))
            .to_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The server drains and its runtime ends before the next gateway may open this one's
            // directory. Tests run on the multi-thread runtime, where a worker may block.
            let join = || {
                let _ = thread.join();
            };
            match tokio::runtime::Handle::try_current() {
                Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                    tokio::task::block_in_place(join)
                }
                _ => join(),
            }
        }
    }
}

/// The gateway's thread: what `capsa serve` does after parsing its flags.
fn serve(
    config: capsa_server::config::Config,
    cache: PathBuf,
    dispatch: tracing::Dispatch,
    ready: tokio::sync::oneshot::Sender<Result<String, String>>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let _log = tracing::dispatcher::set_default(&dispatch);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("test-gateway-worker")
        .on_thread_start(move || {
            // Every thread of this gateway logs into its capture, for the life of the thread.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .unwrap();
    runtime.block_on(async move {
        let engine = match config.engine_builder(cache).build() {
            Ok(engine) => engine,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        let gateway = match capsa_server::Gateway::new(&config, engine).await {
            Ok(gateway) => gateway,
            Err(e) => {
                let _ = ready.send(Err(format!("error[{}]: {}", e.code, e.message)));
                return;
            }
        };
        let listener = tokio::net::TcpListener::bind(config.listen())
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        if ready.send(Ok(url)).is_err() {
            return;
        }
        let stopped = async {
            let _ = shutdown.await;
        };
        capsa_server::serve(gateway, listener, stopped)
            .await
            .unwrap();
    });
    runtime.shutdown_timeout(Duration::from_secs(10));
}

/// A subscriber like the binary's text logs (`info`, no target, no colour), writing into `logs`.
fn log_capture(logs: &Arc<Mutex<String>>) -> tracing::Dispatch {
    struct Capture(Arc<Mutex<String>>);
    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(bytes));
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || Capture(logs.clone()))
        .finish();
    tracing::Dispatch::new(subscriber)
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub async fn error_code(response: reqwest::Response) -> String {
    json_of(response).await["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

pub async fn deploy(gw: &Gateway, name: &str, body: Value) -> reqwest::Response {
    client()
        .put(gw.url(&format!("/v1/functions/{name}")))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Polls `check` until it gives `Ok`, and returns that; after [`PATIENCE`], fails the test with
/// `what` and the last `Err` it gave. The one way these tests wait for something to happen.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        match check().await {
            Ok(done) => return done,
            Err(last) if Instant::now() > deadline => {
                panic!("{what}: still not after {PATIENCE:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits until a GET of `url` answers `expected`, and returns that response.
pub async fn wait_for(url: &str, expected: StatusCode) -> reqwest::Response {
    let c = client();
    wait_until(&format!("GET {url} answering {expected}"), || async {
        match c.get(url).send().await {
            Ok(r) if r.status() == expected => Ok(r),
            Ok(r) => Err(format!("{}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Writes `code` to `dir/name` and returns its path, for a route's `function`.
pub fn write_function(dir: &Path, name: &str, code: &str) -> String {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(code.as_bytes()))
        .unwrap();
    path.display().to_string()
}
