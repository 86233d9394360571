//! End-to-end tests of the `capsa serve` binary itself: what only the process shows (durability
//! across `kill -9`, a graceful shutdown on SIGTERM, the logs and traces it prints, the CLI clients
//! against it, configs it refuses with its exit status). The gateway's features are tested in-process
//! in crates/capsa-server/tests/all.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "test-token";

/// How long a test waits for something that should happen soon (a first start compiles the language
/// runtimes, which takes a while on a busy 2-core machine).
const PATIENCE: Duration = Duration::from_secs(120);

/// Polls `check` until it gives `Ok`, and returns that; after [`PATIENCE`], fails the test with
/// `what` and the last `Err` it gave. The one way these tests wait for something to happen.
async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
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

/// One artifact cache for every gateway of this test binary: the language runtimes compile once.
/// A subdirectory of a temporary directory, so the cache's key (beside it) is cleaned up with it.
fn cache_dir() -> &'static Path {
    static CACHE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &CACHE
        .get_or_init(|| {
            let home = tempfile::tempdir().unwrap();
            let cache = home.path().join("cache");
            (home, cache)
        })
        .1
}

fn functions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/functions")
}

/// A running `capsa serve`.
struct Gateway {
    child: Child,
    url: String,
    logs: Arc<Mutex<String>>,
    dir: PathBuf,
    /// The thread reading its stderr into `logs`.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    /// Starts a gateway with `config` (a capsa.toml without `listen`/`data_dir`) in `dir`, and
    /// waits until it is ready.
    fn start_in(dir: &Path, config: &str) -> Gateway {
        let mut gateway = Gateway::listening_in(dir, config, cache_dir());
        gateway.wait_ready();
        gateway
    }

    /// Starts a gateway with the artifact cache `cache`, and returns once it listens: it binds (and
    /// prints its listening line) before it compiles its routes.
    fn listening_in(dir: &Path, config: &str, cache: &Path) -> Gateway {
        let path = dir.join("capsa.toml");
        let config = format!("listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{config}");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_capsa"));
        command
            .args(["serve", "--config"])
            .arg(&path)
            .env("CAPSA_CACHE_DIR", cache)
            .env("CAPSA_TOKEN", TOKEN)
            .env_remove("CAPSA_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = {
            let logs = logs.clone();
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("capsa: gateway listening on ")
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(url.to_owned());
                    }
                    let mut logs = logs.lock().unwrap();
                    logs.push_str(&line);
                    logs.push('\n');
                }
            })
        };
        // A process that ends before it listens closes its stderr, and so the channel, at once.
        let url = rx.recv_timeout(PATIENCE).ok();
        let mut gateway = Gateway {
            child,
            url: url.clone().unwrap_or_default(),
            logs,
            dir: dir.to_owned(),
            reader: Some(reader),
        };
        if url.is_none() {
            gateway.fail("did not listen");
        }
        gateway
    }

    /// Polls `/readyz` until it says ready (`200`); fails the test if the process ends first, or
    /// after [`PATIENCE`].
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        while readyz_status(&self.url) != Some(200) {
            if Instant::now() > deadline || self.child.try_wait().unwrap().is_some() {
                self.fail("did not get ready");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ends the process and fails the test with everything it logged.
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its stderr is closed now: the reader has every line.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        panic!("gateway {what}:\n{}", self.logs.lock().unwrap());
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to flush anything.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// One line of `/metrics`: `NAME VALUE`, for a metric without labels.
    async fn metric(&self, name: &str) -> String {
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

    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET /readyz` at `url` (`http://HOST:PORT`), or `None` when nothing answers.
fn readyz_status(url: &str) -> Option<u16> {
    let address = url.strip_prefix("http://")?;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn deploy(gw: &Gateway, name: &str, body: Value) -> reqwest::Response {
    client()
        .put(gw.url(&format!("/v1/functions/{name}")))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_deploy_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let code = |v: u32| json!({"language": "js", "code": format!("function handler() {{ return {{ v: {v} }} }}")});
    let gw = Gateway::start_in(dir.path(), "");
    for v in 1..=2 {
        assert_eq!(deploy(&gw, "durable", code(v)).await.status(), 201);
    }
    gw.kill9();
    let gw = Gateway::start_in(dir.path(), "");
    let c = client();
    let r = c.get(gw.url("/run/durable")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 2);
    let r = c.get(gw.url("/run/durable@1")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 1);
    assert_eq!(
        json_of(deploy(&gw, "durable", code(3)).await).await["version"],
        3
    );
    // Killed right after the acknowledgement.
    gw.kill9();
    let gw = Gateway::start_in(dir.path(), "");
    let r = c.get(gw.url("/run/durable")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 3);
    // A failed deploy leaves the previous version serving.
    let r = deploy(
        &gw,
        "durable",
        json!({"language": "wasm", "code": "(module"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    gw.kill9();
    let gw = Gateway::start_in(dir.path(), "");
    let r = c.get(gw.url("/run/durable")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 3);
    assert!(gw.dir.join("data/registry.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_drains_in_flight_calls() {
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.js");
    std::fs::write(&slow, "function handler() { const end = Date.now() + 800; while (Date.now() < end) {} return 'finished' }").unwrap();
    let config = format!(
        "[[route]]\npath = \"/slow\"\nfunction = \"{}\"\n",
        slow.display()
    );
    let mut gw = Gateway::start_in(dir.path(), &config);
    let c = client();
    let call = {
        let (c, url) = (c.clone(), gw.url("/slow"));
        tokio::spawn(async move { c.get(url).send().await })
    };
    // Terminated while the call runs.
    wait_until("the call running", || async {
        let active = gw.metric("capsa_active_sandboxes").await;
        if active.ends_with(" 1") {
            Ok(())
        } else {
            Err(active)
        }
    })
    .await;
    gw.terminate();
    let r = call.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "finished");
    let status = gw.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(gw.logs().contains("drained"), "{}", gw.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_and_otlp_traces() {
    // A real HTTP server stands in for the collector: it records what it is sent.
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let received = Arc::new(Mutex::new(String::new()));
    {
        let received = received.clone();
        std::thread::spawn(move || {
            for stream in collector.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    received.lock().unwrap().push_str(&line);
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                received
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&body));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "log_format = \"json\"\n[telemetry]\notlp_endpoint = \"{endpoint}\"\nservice_name = \"capsa-test\"\n[[route]]\npath = \"/hello\"\nfunction = \"{}\"\n",
        functions_dir().join("hello.js").display()
    );
    let gw = Gateway::start_in(dir.path(), &config);
    let r = client()
        .get(gw.url("/hello"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = wait_until("the span exported", || async {
        let sent = received.lock().unwrap().clone();
        if sent.contains("resourceSpans") {
            Ok(sent)
        } else {
            Err(sent)
        }
    })
    .await;
    assert!(sent.starts_with("POST /v1/traces"), "{sent}");
    assert!(
        sent.contains("\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\""),
        "{sent}"
    );
    assert!(
        sent.contains("\"parentSpanId\":\"00f067aa0ba902b7\""),
        "{sent}"
    );
    assert!(
        sent.contains("capsa-test") && sent.contains("call /hello"),
        "{sent}"
    );
    let record = gw
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["function"] == "/hello")
        .unwrap_or_else(|| panic!("no JSON call record:\n{}", gw.logs()));
    assert_eq!(record["fields"]["outcome"], "ok");
    assert!(record["fields"]["wall_us"].as_u64().is_some());
}

/// Runs the `capsa` CLI against a gateway.
fn cli(gw: &Gateway, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_capsa"))
        .args(args)
        .env("CAPSA_SERVER", &gw.url)
        .env("CAPSA_TOKEN", TOKEN)
        .env_remove("CAPSA_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_clients_deploy_list_alias_invoke_remove() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "");
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let hello = functions_dir().join("hello.py");
    let out = cli(
        &gw,
        &[
            "deploy",
            "hello",
            hello.to_str().unwrap(),
            "--timeout",
            "3s",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out).starts_with("deployed hello version 1 (sha256:"),
        "{}",
        text(&out)
    );
    let v2 = dir.path().join("v2.js");
    std::fs::write(&v2, "function handler(r) { console.log('v2 running'); return {status: 200, body: 'v2 ' + r.method} }").unwrap();
    let out = cli(
        &gw,
        &[
            "deploy",
            "hello",
            v2.to_str().unwrap(),
            "--env",
            "MODE=test",
        ],
    );
    assert!(text(&out).contains("version 2"), "{out:?}");

    let out = cli(&gw, &["functions", "ls"]);
    assert!(
        text(&out)
            .lines()
            .any(|l| l.starts_with("hello") && l.contains(" 2 ")),
        "{}",
        text(&out)
    );
    let out = cli(&gw, &["functions", "versions", "hello"]);
    assert!(
        text(&out).contains("py") && text(&out).contains("js"),
        "{}",
        text(&out)
    );
    let out = cli(&gw, &["functions", "alias", "hello", "stable", "1"]);
    assert!(out.status.success(), "{out:?}");

    let out = cli(&gw, &["invoke", "hello@stable", "--path", "?name=ada"]);
    assert_eq!(
        serde_json::from_str::<Value>(&text(&out)).unwrap(),
        json!({"hello": "ada", "method": "GET"})
    );
    let out = cli(&gw, &["invoke", "hello", "--data", "{\"x\":1}"]);
    assert_eq!(text(&out), "v2 POST\n");
    let out = cli(&gw, &["invoke", "hello", "--stream"]);
    assert_eq!(text(&out), "v2 running\nv2 GET\n", "{out:?}");
    assert!(out.status.success());

    let out = cli(&gw, &["invoke", "missing"]);
    assert_eq!(out.status.code(), Some(66));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error[not_found]"),
        "{out:?}"
    );
    let out = cli(&gw, &["functions", "rm", "hello"]);
    assert!(out.status.success());
    let out = cli(&gw, &["functions", "versions", "hello"]);
    assert_eq!(out.status.code(), Some(66));
    let out = Command::new(env!("CARGO_BIN_EXE_capsa"))
        .args(["functions", "ls", "--server", &gw.url, "--token", "wrong"])
        .env_remove("CAPSA_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let out = cli(&gw, &["functions", "ls", "--server", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(69), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_session_clients_create_exec_files_snapshot_fork_remove() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "");
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{o:?}");
        text(&o).trim().to_owned()
    };
    // The gateway made its snapshot key, private to its user.
    let key = dir.path().join("data/snapshot.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let id = ok(cli(
        &gw,
        &["session", "create", "--lang", "js", "--ttl", "5m"],
    ));
    assert!(id.starts_with("ses_"), "{id}");
    let out = cli(
        &gw,
        &[
            "session",
            "exec",
            &id,
            "console.log('hi'); globalThis.n = 41",
        ],
    );
    assert_eq!(ok(out), "hi\n41");
    assert_eq!(ok(cli(&gw, &["session", "exec", &id, "n + 1"])), "42");
    let out = cli(
        &gw,
        &[
            "session",
            "exec",
            &id,
            "console.log('streamed'); n",
            "--stream",
        ],
    );
    assert_eq!(ok(out), "streamed\n41");
    let out = cli(&gw, &["session", "exec", &id, "throw new Error('boom')"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error[guest_exception]"),
        "{out:?}"
    );

    let local = dir.path().join("in.csv");
    std::fs::write(&local, "a,b\n1,2\n").unwrap();
    ok(cli(
        &gw,
        &[
            "session",
            "files",
            "put",
            &id,
            "data/in.csv",
            local.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        ok(cli(&gw, &["session", "files", "get", &id, "data/in.csv"])),
        "a,b\n1,2"
    );
    assert!(ok(cli(&gw, &["session", "files", "ls", &id])).ends_with("data/in.csv"));

    let snapshot = ok(cli(&gw, &["session", "snapshot", &id]));
    assert!(snapshot.starts_with("snap_"), "{snapshot}");
    let fork = ok(cli(&gw, &["session", "fork", &snapshot]));
    assert_eq!(ok(cli(&gw, &["session", "exec", &fork, "n += 100"])), "141");
    assert_eq!(ok(cli(&gw, &["session", "exec", &id, "n"])), "41");
    assert_eq!(
        ok(cli(&gw, &["session", "files", "get", &fork, "data/in.csv"])),
        "a,b\n1,2"
    );
    let listed = ok(cli(&gw, &["session", "ls"]));
    assert!(listed.contains(&id) && listed.contains(&fork), "{listed}");

    // Another token sees none of it.
    let r = client()
        .get(format!("{}/v1/sessions/{id}", gw.url))
        .bearer_auth("someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    ok(cli(&gw, &["session", "rm", &id]));
    let out = cli(&gw, &["session", "exec", &id, "n"]);
    assert_eq!(out.status.code(), Some(66), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[not_found]"));
    let r = client()
        .delete(format!("{}/v1/snapshots/{snapshot}", gw.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let out = cli(&gw, &["session", "fork", &snapshot]);
    assert_eq!(out.status.code(), Some(66), "{out:?}");
}

/// The process ends with the usage status, and says why (the refusal itself is tested in
/// crates/capsa-server/tests/all/auth.rs).
#[test]
fn a_non_loopback_address_without_tokens_is_refused() {
    let open = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_capsa"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(open.path())
        .env_remove("CAPSA_TOKEN")
        .env("CAPSA_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error[invalid_input]: refusing to listen on 0.0.0.0"),
        "{stderr}"
    );
}

#[test]
fn bad_configs_are_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.js"), "function handler( {").unwrap();
    for (config, needle) in [
        ("lisen = \"127.0.0.1:1\"", "unknown field `lisen`"),
        (
            "[[route]]\npath = \"/x\"\nfunction = \"missing.js\"",
            "cannot read",
        ),
        (
            "[[route]]\npath = \"/x\"\nfunction = \"x.cobol\"",
            "cannot tell the language",
        ),
        (
            "[[route]]\npath = \"/x\"\nfunction = \"broken.js\"",
            "route `/x`: SyntaxError",
        ),
        (
            "[auth]\nprotect_invoke = true",
            "protect_invoke needs tokens",
        ),
        (
            "[compile]\nmax_functoins = 1",
            "unknown field `max_functoins`",
        ),
        (
            "[[route]]\npath = \"/v1/x\"\nfunction = \"a\"",
            "belongs to the gateway",
        ),
        (
            "[[route]]\npath = \"/x\"\nfunction = \"a\"\nenv = { K = \"${env.CAPSA_SURELY_UNSET}\" }",
            "CAPSA_SURELY_UNSET",
        ),
    ] {
        let path = dir.path().join("capsa.toml");
        std::fs::write(&path, config).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_capsa"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("CAPSA_CACHE_DIR", cache_dir())
            .env_remove("CAPSA_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{config}: {stderr}");
        assert!(stderr.contains(needle), "{config}: {stderr}");
    }
}

/// The Python of the official MCP client's venv: `make test` says where it is (MCP_VENV); a plain
/// `cargo test` looks in target/.
fn mcp_python() -> PathBuf {
    let venv = std::env::var_os("MCP_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/mcp-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "the MCP client is missing at `{}`: `make mcp-client` installs it (`make test` does)",
        python.display()
    );
    python
}

/// Runs the MCP scenario (tests/mcp/drive.py) with `args`; fails with its report on any mismatch.
/// `env` reaches the server it spawns (stdio).
fn drive_mcp(args: &[&str], env: &[(&str, &Path)]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/drive.py");
    let mut command = Command::new(mcp_python());
    command.arg(script).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP scenario failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("mcp scenario passed"), "{stdout}\n{stderr}");
    stdout
}

#[test]
fn an_mcp_client_drives_capsa_mcp_over_stdio() {
    drive_mcp(
        &["stdio", env!("CARGO_BIN_EXE_capsa")],
        &[("CAPSA_CACHE_DIR", cache_dir())],
    );
}

#[test]
fn an_mcp_client_drives_the_gateways_mcp_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "");
    let url = gw.url("/mcp");
    let out = std::panic::catch_unwind(|| drive_mcp(&["http", &url, TOKEN], &[]));
    if let Err(panic) = out {
        eprintln!("gateway logs:\n{}", gw.logs());
        std::panic::resume_unwind(panic);
    }
}

/// A gateway in `dir` with one JavaScript route (`/hello`) and an empty artifact cache, returned
/// as soon as it listens: its start compiles the JavaScript runtime, which takes a while.
fn listening_with_a_cold_js_route(dir: &Path) -> Gateway {
    let config = format!(
        "[[route]]\npath = \"/hello\"\nfunction = \"{}\"\n",
        functions_dir().join("hello.js").display()
    );
    Gateway::listening_in(dir, &config, &dir.join("cache"))
}

/// The gateway listens before it compiles its routes: `/healthz` answers at once, and `/readyz`
/// and the routes answer `503` with what is still compiling until the routes are ready, however
/// long compiling takes.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_while_the_routes_compile_and_readyz_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = listening_with_a_cold_js_route(dir.path());
    let c = client();
    let health = c.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = c.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let progress = json_of(ready).await;
    assert_eq!(progress["status"], "starting", "{progress}");
    assert_eq!(progress["compiling"], json!(["route /hello"]), "{progress}");
    assert_eq!(progress["total"], 1, "{progress}");
    let early = c.get(gw.url("/hello")).send().await.unwrap();
    assert_eq!(early.status(), 503);
    assert_eq!(early.headers()["retry-after"], "1");
    let error = json_of(early).await;
    assert_eq!(error["error"]["code"], "busy", "{error}");
    gw.wait_ready();
    let hello = c.get(gw.url("/hello?name=ada")).send().await.unwrap();
    assert_eq!(hello.status(), 200);
    assert!(
        gw.logs().contains("compiled route /hello (1 of 1)"),
        "{}",
        gw.logs()
    );
}

/// SIGTERM while the gateway still compiles its routes stops it cleanly, at once.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_starting_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = listening_with_a_cold_js_route(dir.path());
    assert_eq!(readyz_status(&gw.url), Some(503));
    gw.terminate();
    let status = gw.child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", gw.logs());
    if let Some(reader) = gw.reader.take() {
        reader.join().unwrap();
    }
    assert!(
        gw.logs().contains("stopped while starting"),
        "{}",
        gw.logs()
    );
}
