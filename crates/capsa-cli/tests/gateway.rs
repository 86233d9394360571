//! End-to-end tests of `capsa serve`: the real binary, a real HTTP client over loopback, real
//! SQLite and a real redis-server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "test-token";

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
}

impl Gateway {
    /// Starts a gateway with `config` (a capsa.toml without `listen`/`data_dir`) in `dir`.
    fn start_in(dir: &Path, config: &str, env: &[(&str, &str)]) -> Gateway {
        Gateway::try_start_in(dir, config, env)
            .unwrap_or_else(|logs| panic!("gateway did not start:\n{logs}"))
    }

    fn try_start_in(dir: &Path, config: &str, env: &[(&str, &str)]) -> Result<Gateway, String> {
        let path = dir.join("capsa.toml");
        let config = format!("listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{config}");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_capsa"));
        command
            .args(["serve", "--config"])
            .arg(&path)
            .env("CAPSA_CACHE_DIR", cache_dir())
            .env("CAPSA_TOKEN", TOKEN)
            .env_remove("CAPSA_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
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
            });
        }
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => Ok(Gateway {
                child,
                url,
                logs,
                dir: dir.to_owned(),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(logs.lock().unwrap().clone())
            }
        }
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

async fn error_code(response: reqwest::Response) -> String {
    json_of(response).await["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
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

fn example(name: &str) -> String {
    std::fs::read_to_string(functions_dir().join(name)).unwrap()
}

fn guest(name: &str) -> String {
    capsa_test_programs::path(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_serve_every_language() {
    let dir = tempfile::tempdir().unwrap();
    let f = functions_dir();
    let config = format!(
        r#"
[[route]]
path = "/js/{{who}}"
function = "{js}"
[[route]]
path = "/ts"
function = "{ts}"
methods = ["GET"]
[[route]]
path = "/py"
function = "{py}"
limits = {{ memory = "128MiB" }}
[[route]]
path = "/wasm/*"
function = "{wasm}"
[[route]]
path = "/hello"
function = "{component}"
"#,
        js = f.join("hello.js").display(),
        ts = f.join("hello.ts").display(),
        py = f.join("hello.py").display(),
        wasm = guest("hello_handler"),
        component = capsa_test_programs::http_component_path().display(),
    );
    let gw = Gateway::start_in(dir.path(), &config, &[]);
    let c = client();

    let r = c.get(gw.url("/js/x?name=ada")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-capsa-outcome"], "ok");
    assert!(r.headers().contains_key("x-capsa-wall-us"));
    assert_eq!(r.headers()["x-capsa-function"], "/js/{who}");
    assert_eq!(json_of(r).await, json!({"hello": "ada", "method": "GET"}));

    let r = c.get(gw.url("/ts?name=ada")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["hello"], "ada");
    let r = c.post(gw.url("/ts")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    assert_eq!(error_code(r).await, "invalid_input");
    let r = c.head(gw.url("/ts")).send().await.unwrap();
    assert_eq!(r.status(), 200, "HEAD goes wherever GET does");

    let r = c.get(gw.url("/py?name=ada")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await, json!({"hello": "ada", "method": "GET"}));

    let r = c.get(gw.url("/wasm/a/b?name=ada")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(json_of(r).await, json!({"hello": "ada"}));

    // A wasi:http component sees the request's own path.
    let r = c.get(gw.url("/hello?name=ada")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await, json!({"hello": "ada"}));

    let r = c.get(gw.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "not_found");

    // One log record per call, with the function and the outcome.
    let logs = gw.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("function=/js/{who}") && l.contains("outcome=\"ok\"")),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_deploy_invoke_version_alias_rollback_delete() {
    let dir = tempfile::tempdir().unwrap();
    // Configured routes may point at registry functions, resolved per call.
    let routes = "[[route]]\npath = \"/pinned\"\nfunction = \"greeter@stable\"\n\
                  [[route]]\npath = \"/newest\"\nfunction = \"greeter\"\n";
    let gw = Gateway::start_in(dir.path(), routes, &[]);
    let c = client();
    let r = c.get(gw.url("/newest")).send().await.unwrap();
    assert_eq!(r.status(), 404, "nothing deployed yet");
    assert_eq!(error_code(r).await, "not_found");
    let v1 =
        "function handler(req) { return { v: 1, rest: req.route.rest, q: req.query.q ?? null }; }";
    let v2 = "function handler(req) { return { v: 2 }; }";

    let r = deploy(&gw, "greeter", json!({"language": "js", "code": v1})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/v1/functions/greeter");
    let body = json_of(r).await;
    assert_eq!(body["name"], "greeter");
    assert_eq!(body["version"], 1);
    assert!(body["digest"].as_str().unwrap().starts_with("sha256:"));

    let r = c.get(gw.url("/run/greeter/a/b?q=z")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-capsa-version"], "1");
    assert_eq!(json_of(r).await, json!({"v": 1, "rest": "a/b", "q": "z"}));

    assert_eq!(
        deploy(&gw, "greeter", json!({"language": "js", "code": v2}))
            .await
            .status(),
        201
    );
    let r = c.post(gw.url("/run/greeter")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 2);
    let r = c.get(gw.url("/run/greeter@1")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 1);

    // Roll back: `stable` points at 1.
    let r = c
        .put(gw.url("/v1/functions/greeter/aliases/stable"))
        .bearer_auth(TOKEN)
        .json(&json!({"version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(gw.url("/run/greeter@stable")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 1);
    let r = c.get(gw.url("/pinned")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 1);
    let r = c.get(gw.url("/newest")).send().await.unwrap();
    assert_eq!(r.headers()["x-capsa-version"], "2");
    assert_eq!(json_of(r).await["v"], 2);
    for bad_alias in ["latest", "1x", "Stable"] {
        let r = c
            .put(gw.url(&format!("/v1/functions/greeter/aliases/{bad_alias}")))
            .bearer_auth(TOKEN)
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad_alias}");
    }
    let r = c
        .put(gw.url("/v1/functions/greeter/aliases/stable"))
        .bearer_auth(TOKEN)
        .json(&json!({"version": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A bad deployment stores nothing and the previous version keeps serving.
    for (bad, code) in [
        (
            json!({"language": "wasm", "code": "(module (func"}),
            "invalid_module",
        ),
        (
            json!({"language": "wasm", "code": "(module)"}),
            "invalid_module",
        ),
        (
            json!({"language": "ts", "code": "let x: = 1"}),
            "invalid_input",
        ),
        (json!({"language": "cobol", "code": "x"}), "invalid_input"),
        (json!({"language": "js"}), "invalid_input"),
        (
            json!({"language": "js", "code": "1", "extra": 1}),
            "invalid_input",
        ),
        (
            json!({"language": "js", "code": "1", "stdin": "x"}),
            "invalid_input",
        ),
        (
            json!({"language": "js", "code": "function handler( { return 1 }"}),
            "invalid_input",
        ),
        (
            json!({"language": "py", "code": "def handler(request):\nreturn 1\n"}),
            "invalid_input",
        ),
        (
            json!({"language": "js", "code": "1", "grants": {"allow_hosts": ["169.254.169.254"]}}),
            "invalid_input",
        ),
        (
            json!({"language": "js", "code": "1", "limits": {"memory": "100GiB"}}),
            "invalid_input",
        ),
        (
            json!({"language": "js", "code": "1", "grants": {"dirs": ["/"]}}),
            "invalid_input",
        ),
    ] {
        let r = deploy(&gw, "greeter", bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(error_code(r).await, code, "{bad}");
    }
    for bad_name in ["Greeter", "a..b", "x%2F..%2Fy", "-x"] {
        let r = deploy(&gw, bad_name, json!({"language": "js", "code": "1"})).await;
        assert_eq!(r.status(), 400, "{bad_name}");
    }

    let r = c
        .get(gw.url("/v1/functions/greeter/versions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let versions = json_of(r).await;
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        2,
        "{versions}"
    );
    let r = c
        .get(gw.url("/v1/functions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let list = json_of(r).await;
    assert_eq!(list["functions"][0]["name"], "greeter");
    assert_eq!(list["functions"][0]["latest"], 2);
    assert_eq!(list["functions"][0]["aliases"]["stable"], 1);
    let r = c
        .get(gw.url("/v1/functions/greeter"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["versions"], 2);
    let r = c.get(gw.url("/run/greeter")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 2);

    // A wasm deployment is compiled at deploy time (binary through base64).
    use base64::Engine as _;
    let wasm = std::fs::read(guest("hello_handler")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(wasm);
    let r = deploy(
        &gw,
        "wasm-hello",
        json!({"language": "wasm", "code_base64": b64}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = c
        .get(gw.url("/run/wasm-hello?name=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await, json!({"hello": "x"}));

    let r = c
        .delete(gw.url("/v1/functions/greeter"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c.get(gw.url("/run/greeter")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "not_found");
    let r = c
        .delete(gw.url("/v1/functions/greeter"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Numbers are never reused.
    let r = deploy(&gw, "greeter", json!({"language": "js", "code": v2})).await;
    assert_eq!(json_of(r).await["version"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_is_required_where_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "", &[]);
    let c = client();
    for (method, path) in [
        ("GET", "/v1/functions"),
        ("PUT", "/v1/functions/x"),
        ("DELETE", "/v1/functions/x"),
        ("GET", "/v1/functions/x/versions"),
        ("PUT", "/v1/functions/x/aliases/a"),
        ("POST", "/v1/run"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = c
            .request(method.clone(), gw.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = c
            .request(method.clone(), gw.url(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
        assert_eq!(error_code(r).await, "unauthorized");
    }
    // Invoking is public by default.
    assert_eq!(
        deploy(
            &gw,
            "open",
            json!({"language": "js", "code": "function handler() { return 'hi' }"})
        )
        .await
        .status(),
        201
    );
    let r = c.get(gw.url("/run/open")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hi");
    drop(gw);

    let protected = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(protected.path(), "[auth]\nprotect_invoke = true\n", &[]);
    let r = c.get(gw.url("/run/open")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(gw.url("/run/open"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "authorised, and there is no such function here"
    );
    drop(gw);

    // A non-loopback address without tokens refuses to start.
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

#[tokio::test(flavor = "multi_thread")]
async fn run_now_answers_with_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[limits]\ntimeout = \"3s\"\n", &[]);
    let c = client();
    let run = |body: Value| {
        c.post(gw.url("/v1/run"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let r = run(json!({"language": "js", "code": "console.log('hi'); [1, 2].map(x => x * 2)"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let receipt = json_of(r).await;
    assert_eq!(receipt["outcome"], "ok");
    assert_eq!(receipt["result"], json!([2, 4]));
    assert_eq!(receipt["stdout"], "hi\n");
    assert!(receipt["stats"]["wall_us"].as_u64().unwrap() > 0);

    let r = run(json!({"language": "py", "code": "import sys\nprint(sys.stdin.read().upper())\n6 * 7", "stdin": "abc"})).await.unwrap();
    let receipt = json_of(r).await;
    assert_eq!(receipt["outcome"], "ok", "{receipt}");
    assert_eq!(receipt["result"], 42);

    let r = run(json!({"language": "wasm", "code": "(module (func (export \"_start\") (loop (br 0))))", "limits": {"timeout": "200ms"}})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-capsa-outcome"], "timeout");
    let receipt = json_of(r).await;
    assert_eq!(receipt["error"]["code"], "timeout");

    let r = run(json!({"language": "ts", "code": "function handler(r: any) { return {status: 201, body: r.method} }", "request": {"method": "PUT", "path": "/"}})).await.unwrap();
    let receipt = json_of(r).await;
    assert_eq!(receipt["result"]["status"], 201, "{receipt}");
    assert_eq!(receipt["result"]["body"], "PUT");

    let r = run(json!({"language": "js", "code": "1", "limits": {"timeout": "1h"}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        json_of(r).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout")
    );
    let r = c
        .post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "invalid_input");
}

/// Reads a whole SSE stream into (event, data) pairs.
async fn sse_events(response: reqwest::Response) -> Vec<(String, String)> {
    let text = response.text().await.unwrap();
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = String::new();
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.to_owned());
            }
        }
        if !name.is_empty() {
            let mut data = data.join("\n");
            // Output chunks are JSON strings; the result is the receipt object.
            if name != "result" {
                data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
            }
            out.push((name, data));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn output_streams_as_server_sent_events() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "", &[]);
    let c = client();
    let code = "const pause = ms => { const end = Date.now() + ms; while (Date.now() < end) {} }; for (let i = 0; i < 3; i++) { console.log('line ' + i); console.error('err ' + i); pause(100); } 'done'";
    let started = Instant::now();
    let r = c
        .post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .json(&json!({"language": "js", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Headers arrive while the guest still runs: the events are live.
    let headers_at = started.elapsed();
    let events = sse_events(r).await;
    let ended_at = started.elapsed();
    assert!(
        ended_at > headers_at + Duration::from_millis(150),
        "{headers_at:?} {ended_at:?}"
    );
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "stdout", "stderr", "stdout", "stderr", "stdout", "stderr", "result"
        ],
        "{events:?}"
    );
    assert_eq!(events[0].1, "line 0\n");
    assert_eq!(events[3].1, "err 1\n");
    let receipt: Value = serde_json::from_str(&events[6].1).unwrap();
    assert_eq!(receipt["result"], "done");

    // Invoke streams too.
    assert_eq!(
        deploy(&gw, "chatty", json!({"language": "js", "code": "function handler() { console.log('working\\r\\n\\rdone'); return 'ok' }"})).await.status(),
        201
    );
    let r = c
        .get(gw.url("/run/chatty"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let events = sse_events(r).await;
    // Carriage returns and line breaks arrive exactly as written.
    assert_eq!(
        events[0],
        ("stdout".to_owned(), "working\r\n\rdone\n".to_owned())
    );
    let receipt: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(receipt["result"]["body"], "ok");
}

/// Sends raw bytes and returns the status line.
fn raw_status(url: &str, request: &[u8]) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn backpressure_body_and_header_limits() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[server]
max_body = "1KiB"
max_header_bytes = "8KiB"
max_headers = 20
concurrency = 1
function_concurrency = 1
queue = 1
queue_timeout = "200ms"
client_timeout = "1s"
[[route]]
path = "/echo"
function = "{js}"
[[route]]
path = "/slow"
function = "{slow}"
"#,
        js = functions_dir().join("hello.js").display(),
        slow = {
            let p = dir.path().join("slow.js");
            std::fs::write(&p, "function handler() { const end = Date.now() + 3000; while (Date.now() < end) {} return 'slow' }").unwrap();
            p.display().to_string()
        },
    );
    let gw = Gateway::start_in(dir.path(), &config, &[]);
    let c = client();

    let r = c
        .post(gw.url("/echo"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "payload_too_large");
    // Without a Content-Length (chunked) too.
    let mut chunked =
        String::from("POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n");
    for _ in 0..4 {
        chunked.push_str(&format!("200\r\n{}\r\n", "y".repeat(512)));
    }
    chunked.push_str("0\r\n\r\n");
    assert!(raw_status(&gw.url, chunked.as_bytes()).contains("413"));
    let r = c
        .post(gw.url("/echo"))
        .body(vec![b'x'; 512])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let big = format!(
        "GET /echo HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    assert!(
        raw_status(&gw.url, big.as_bytes()).contains("431"),
        "header bytes"
    );
    let mut many = String::from("GET /echo HTTP/1.1\r\nhost: x\r\n");
    for i in 0..40 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert!(
        raw_status(&gw.url, many.as_bytes()).contains("431"),
        "header count"
    );

    // A client that never finishes its headers is cut off.
    let started = Instant::now();
    let status = raw_status(&gw.url, b"GET /echo HTTP/1.1\r\nhost: x\r\n");
    assert!(started.elapsed() < Duration::from_secs(10), "{status}");
    // A client that never finishes its body gets 408 after the client timeout (1 s here).
    let started = Instant::now();
    let status = raw_status(
        &gw.url,
        b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 100\r\n\r\nonly ten b",
    );
    assert!(status.contains("408"), "{status}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // One runs, one queues (and times out), the third is refused at once.
    let slow = |c: reqwest::Client, url: String| {
        tokio::spawn(async move { c.get(url).send().await.unwrap() })
    };
    let first = slow(c.clone(), gw.url("/slow"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = slow(c.clone(), gw.url("/slow"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = c.get(gw.url("/slow")).send().await.unwrap();
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "1");
    assert_eq!(error_code(third).await, "busy");
    let second = second.await.unwrap();
    assert_eq!(second.status(), 503);
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "slow");
    let metrics = c
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("capsa_rejected_total{code=\"busy\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("capsa_rejected_total{code=\"payload_too_large\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_disconnect_cancels_its_guest() {
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin.js");
    std::fs::write(&spin, "function handler() { while (true) {} }").unwrap();
    let config = format!(
        "[limits]\ntimeout = \"5s\"\n[[route]]\npath = \"/spin\"\nfunction = \"{}\"\n",
        spin.display()
    );
    let gw = Gateway::start_in(dir.path(), &config, &[]);
    let c = client();
    for stream in [false, true] {
        let mut request = c.get(gw.url("/spin")).timeout(Duration::from_millis(400));
        if stream {
            request = request.header("accept", "text/event-stream");
        }
        let started = Instant::now();
        let result = request.send().await;
        if stream {
            // The headers come at once; then the body read times out.
            let _ = result.unwrap().text().await;
        } else {
            assert!(result.is_err());
        }
        let active = loop {
            let metrics = c
                .get(gw.url("/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let active = metrics
                .lines()
                .find(|l| l.starts_with("capsa_active_sandboxes "))
                .unwrap()
                .to_owned();
            if active.ends_with(" 0") || started.elapsed() > Duration::from_secs(4) {
                break active;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            active, "capsa_active_sandboxes 0",
            "stream={stream}: the guest kept running"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "stream={stream}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_deploy_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let code = |v: u32| json!({"language": "js", "code": format!("function handler() {{ return {{ v: {v} }} }}")});
    let gw = Gateway::start_in(dir.path(), "", &[]);
    for v in 1..=2 {
        assert_eq!(deploy(&gw, "durable", code(v)).await.status(), 201);
    }
    gw.kill9();
    let gw = Gateway::start_in(dir.path(), "", &[]);
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
    let gw = Gateway::start_in(dir.path(), "", &[]);
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
    let gw = Gateway::start_in(dir.path(), "", &[]);
    let r = c.get(gw.url("/run/durable")).send().await.unwrap();
    assert_eq!(json_of(r).await["v"], 3);
    assert!(gw.dir.join("data/registry.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_share_one_redis() {
    let redis = capsa_test_programs::RedisServer::start();
    let store = format!("store = \"{}\"\n", redis.url());
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Gateway::start_in(a_dir.path(), &store, &[]);
    let b = Gateway::start_in(b_dir.path(), &store, &[]);
    let c = client();
    let counter = example("counter.js");
    let r = deploy(
        &a,
        "counter",
        json!({"language": "js", "code": counter, "grants": {"kv": "shared"}}),
    )
    .await;
    assert_eq!(r.status(), 201);
    // Deployed on A, served by B; the KV namespace is shared too.
    let mut seen = Vec::new();
    for gw in [&b, &a, &b, &a] {
        let r = c.post(gw.url("/run/counter")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        seen.push(r.text().await.unwrap());
    }
    assert_eq!(
        seen,
        [
            "call number 1\n",
            "call number 2\n",
            "call number 3\n",
            "call number 4\n"
        ]
    );
    // A new version on B, an alias on A: each sees the other's.
    assert_eq!(
        json_of(
            deploy(
                &b,
                "counter",
                json!({"language": "js", "code": "function handler() { return 'v2' }"})
            )
            .await
        )
        .await["version"],
        2
    );
    let r = c.post(a.url("/run/counter")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "v2");
    let r = c
        .put(a.url("/v1/functions/counter/aliases/stable"))
        .bearer_auth(TOKEN)
        .json(&json!({"version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.post(b.url("/run/counter@stable")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "call number 5\n");
    let ready = c.get(b.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(redis);
    // Without its store, a gateway is not ready (and says so), but stays up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = c.get(b.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(c.get(b.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_calls_under_load_do_not_hurt_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, code: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, code).unwrap();
        p.display().to_string()
    };
    let config = format!(
        r#"
[limits]
timeout = "2s"
memory = "32MiB"
[server]
queue_timeout = "20s"
client_timeout = "30s"
[[route]]
path = "/loop"
function = "{}"
[[route]]
path = "/bomb"
function = "{}"
limits = {{ timeout = "20s" }}
[[route]]
path = "/pybomb"
function = "{}"
limits = {{ memory = "64MiB", timeout = "20s" }}
[[route]]
path = "/good"
function = "{}"
[[route]]
path = "/trap"
function = "{}"
"#,
        write("loop.js", "function handler() { for (;;) {} }"),
        write(
            "bomb.js",
            "function handler() { const a = []; for (;;) a.push(new Array(1e6).fill(1)); }"
        ),
        write(
            "bomb.py",
            "def handler(request):\n    xs = []\n    while True:\n        xs.append(bytearray(10**6))\n"
        ),
        functions_dir().join("hello.js").display(),
        write(
            "trap.wat",
            "(module (func (export \"_start\") unreachable))"
        ),
    );
    let gw = Gateway::start_in(dir.path(), &config, &[]);
    let c = client();
    let mut tasks = Vec::new();
    for i in 0..48 {
        let path = ["/loop", "/bomb", "/good", "/pybomb", "/good", "/trap"][i % 6];
        let (c, url) = (c.clone(), gw.url(path));
        tasks.push(tokio::spawn(async move {
            let r = match c.get(url).send().await {
                Ok(r) => r,
                Err(e) => return (path, StatusCode::IM_A_TEAPOT, Some(format!("{e:?}"))),
            };
            let status = r.status();
            let outcome = r
                .headers()
                .get("x-capsa-outcome")
                .map(|v| v.to_str().unwrap().to_owned());
            (path, status, outcome)
        }));
    }
    for task in tasks {
        let (path, status, outcome) = task.await.unwrap();
        let expected = match path {
            "/loop" => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            "/bomb" | "/pybomb" => (StatusCode::INTERNAL_SERVER_ERROR, "memory_limit_exceeded"),
            "/trap" => (StatusCode::INTERNAL_SERVER_ERROR, "trap"),
            _ => (StatusCode::OK, "ok"),
        };
        assert_eq!(
            (status, outcome.as_deref()),
            (expected.0, Some(expected.1)),
            "{path}"
        );
    }
    let r = c.get(gw.url("/good?name=after")).send().await.unwrap();
    assert_eq!(json_of(r).await["hello"], "after");
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "", &[]);
    let c = client();
    // The gateway's own endpoints answer a wrong method with the error body too.
    let r = c.get(gw.url("/v1/run")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(error_code(r).await, "invalid_input");
    let r = c.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(json_of(r).await, json!({"status": "ok"}));
    let r = c.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(json_of(r).await, json!({"status": "ready"}));
    c.post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .json(&json!({"language": "wat", "code": "x"}))
        .send()
        .await
        .unwrap();
    c.post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .json(&json!({"language": "js", "code": "1 + 1"}))
        .send()
        .await
        .unwrap();
    let r = c.get(gw.url("/metrics")).send().await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = r.text().await.unwrap();
    for family in [
        "capsa_calls_total{function=\"run-now\",outcome=\"ok\"} 1",
        "capsa_call_duration_seconds_count{function=\"run-now\"} 1",
        "capsa_instantiate_seconds_count 1",
        "capsa_memory_peak_bytes_count 1",
        "capsa_active_sandboxes 0",
        "capsa_queue_depth 0",
    ] {
        assert!(metrics.lines().any(|l| l == family), "{family}:\n{metrics}");
    }
    let r = c.get(gw.url("/openapi.json")).send().await.unwrap();
    let doc = json_of(r).await;
    assert_eq!(doc["openapi"], "3.0.3");
    for path in [
        "/v1/functions",
        "/v1/functions/{name}",
        "/v1/functions/{name}/versions",
        "/v1/functions/{name}/aliases/{alias}",
        "/v1/run",
        "/run/{target}",
        "/execute/{plugin}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_are_compiled_at_start_and_picked_up_live() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(guest("exports"), plugins.join("exports.wasm")).unwrap();
    std::fs::write(plugins.join("broken.wasm"), b"not wasm").unwrap();
    let gw = Gateway::start_in(
        dir.path(),
        &format!("plugins = \"{}\"\n", plugins.display()),
        &[],
    );
    let c = client();
    let r = c
        .post(gw.url("/execute/exports?func=greet"))
        .body("ada")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello, ada!");
    let r = c
        .post(gw.url("/execute/exports?func=greet"))
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a string export takes UTF-8");
    let r = c
        .post(gw.url("/execute/exports?func=nope"))
        .body("ada")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c.post(gw.url("/execute/broken")).send().await.unwrap();
    assert_eq!(
        r.status(),
        404,
        "a plugin that does not compile is not served"
    );

    // A new file is served without a restart; a removed one is gone.
    std::fs::copy(guest("exports"), plugins.join("greeter.wasm")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .post(gw.url("/execute/greeter?func=greet"))
            .body("bob")
            .send()
            .await
            .unwrap();
        if r.status() == 200 || Instant::now() > deadline {
            assert_eq!(r.status(), 200);
            assert_eq!(r.text().await.unwrap(), "hello, bob!");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A broken replacement leaves the version that compiled serving, and a broken file is reported
    // once, not at every look at the directory.
    std::fs::write(plugins.join("greeter.wasm"), b"garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = c
        .post(gw.url("/execute/greeter?func=greet"))
        .body("bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let logs = gw.logs();
    let reports = |plugin: &str| {
        logs.lines()
            .filter(|l| l.contains("plugin does not compile") && l.contains(plugin))
            .count()
    };
    assert_eq!((reports("broken"), reports("greeter")), (1, 1), "{logs}");
    std::fs::remove_file(plugins.join("exports.wasm")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .post(gw.url("/execute/exports?func=greet"))
            .body("x")
            .send()
            .await
            .unwrap();
        if r.status() == 404 || Instant::now() > deadline {
            assert_eq!(r.status(), 404);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let mut gw = Gateway::start_in(dir.path(), &config, &[]);
    let c = client();
    let call = {
        let (c, url) = (c.clone(), gw.url("/slow"));
        tokio::spawn(async move { c.get(url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    let gw = Gateway::start_in(dir.path(), &config, &[]);
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while !received.lock().unwrap().contains("resourceSpans") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = received.lock().unwrap().clone();
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
    let gw = Gateway::start_in(dir.path(), "", &[]);
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

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_errors() {
    let st = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/schemathesis-venv/bin/st");
    assert!(
        st.exists(),
        "schemathesis is missing: `make schemathesis` installs it (`make test` does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "", &[]);
    // Something to find behind /run/… and the registry reads.
    let r = deploy(
        &gw,
        "hello",
        json!({"language": "js", "code": example("hello.js")}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let out = tokio::process::Command::new(st)
        .args([
            "run",
            &gw.url("/openapi.json"),
            "--checks",
            "not_a_server_error",
        ])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "--max-examples",
            "25",
            "--request-timeout",
            "30",
            "--seed",
            "1",
        ])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", gw.logs());
    assert!(report.contains("passed"), "{report}");
}

/// The attack of issue 12 over HTTP: a public route granting `shared:/shared` and another granting
/// `shared/pub:/pub:ro` let an unauthenticated client read the gateway's own environ (and its token)
/// through a symlink the first route's guest planted.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_route_cannot_repoint_another_routes_grant() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(shared.join("pub")).unwrap();
    std::fs::write(shared.join("pub/hello.txt"), "public").unwrap();
    let attack = dir.path().join("attack.py");
    std::fs::write(
        &attack,
        r#"import os, shutil
def handler(request):
    shutil.rmtree("/shared/pub", ignore_errors=True)
    tried = []
    for target in ["../../../../../../../../proc/self", "/proc/self", "."]:
        try:
            os.symlink(target, "/shared/pub")
            tried.append("made " + target)
            break
        except OSError as e:
            tried.append("refused " + target)
    return {"status": 200, "body": ", ".join(tried)}
"#,
    )
    .unwrap();
    let read = dir.path().join("read.py");
    std::fs::write(
        &read,
        r#"def handler(request):
    name = request.query.get("file", "hello.txt")
    try:
        with open("/pub/" + name, "rb") as f:
            return {"status": 200, "body": f.read().decode("latin-1")}
    except OSError as e:
        return {"status": 404, "body": str(e)}
"#,
    )
    .unwrap();
    let config = format!(
        r#"
[[route]]
path = "/attack"
function = "{attack}"
grants = {{ dirs = ["{shared}:/shared"] }}
[[route]]
path = "/pub"
function = "{read}"
grants = {{ dirs = ["{public}:/pub:ro"] }}
"#,
        attack = attack.display(),
        read = read.display(),
        shared = shared.display(),
        public = shared.join("pub").display(),
    );
    let gw = Gateway::start_in(dir.path(), &config, &[]);
    let c = client();
    let r = c.get(gw.url("/pub")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "public");

    let r = c.get(gw.url("/attack")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let tried = r.text().await.unwrap();
    assert_eq!(
        tried, "refused ../../../../../../../../proc/self, refused /proc/self, made .",
        "only the symlink that stays inside the mount is made"
    );
    // The grant now goes through a symlink (to `.`, inside `shared`): it is refused, never followed.
    for file in ["environ", "hello.txt"] {
        let r = c
            .get(gw.url(&format!("/pub?file={file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{file}");
        let body = r.text().await.unwrap();
        assert!(body.contains("is a symbolic link"), "{body}");
        assert!(!body.contains(TOKEN), "{body}");
    }
}

/// Compile limits, linear TypeScript stripping and the stdin cap hold for deploys and run-now too.
#[tokio::test(flavor = "multi_thread")]
async fn deploys_and_run_now_keep_the_compile_and_stdin_limits() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[compile]\nmax_functions = 1000\n", &[]);
    let c = client();
    // Empty functions past the cap (a million of them took cranelift minutes): refused before
    // compiling, at the default cap and at the one capsa.toml sets.
    for n in [50_001, 1_001] {
        let many = format!("(module {})", "(func)".repeat(n));
        let r = deploy(&gw, "many", json!({"language": "wasm", "code": many})).await;
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, "compile_limit_exceeded");
    }
    let fine = format!(
        "(module (func (export \"_start\")) {})",
        "(func)".repeat(999)
    );
    let r = deploy(&gw, "fine", json!({"language": "wasm", "code": fine})).await;
    let status = r.status();
    assert!(status.is_success(), "{status}: {}", r.text().await.unwrap());
    // TypeScript nested 40,000 deep without brackets: stripped in linear time, and the deploy answers.
    let started = Instant::now();
    let deep = "if(1) ".repeat(40_000) + "1;";
    let r = deploy(&gw, "deep", json!({"language": "ts", "code": deep})).await;
    let status = r.status();
    assert!(status.is_success() || status == 400, "{status}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // stdin over the call's cap is its own error.
    let r = c
        .post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .json(&json!({"language": "py", "code": "1", "stdin": "12345", "limits": {"max_stdin": "4B"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "input_limit_exceeded");
}

/// A cached artifact patched in the gateway's cache, with its checksum recomputed (issue 12), is not
/// run after a restart: checksums are keyed with a key outside the cache.
#[tokio::test(flavor = "multi_thread")]
async fn a_patched_artifact_in_the_gateways_cache_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wat = dir.path().join("answer.wat");
    std::fs::write(
        &wat,
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "answer=42")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 9))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    )
    .unwrap();
    let config = format!(
        "[[route]]\npath = \"/answer\"\nfunction = \"{}\"\n",
        wat.display()
    );
    let env = [("CAPSA_CACHE_DIR", cache.to_str().unwrap())];
    let answer = |gw: Gateway| async move {
        let r = client().get(gw.url("/answer")).send().await.unwrap();
        r.text().await.unwrap()
    };
    assert_eq!(
        answer(Gateway::start_in(dir.path(), &config, &env)).await,
        "answer=42"
    );
    let artifact = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| d.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap())
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a cached artifact");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"answer=42")
        .expect("the data segment in the artifact");
    bytes[at + 7..at + 9].copy_from_slice(b"13");
    std::fs::write(&artifact, &bytes).unwrap();
    let sum = blake3::hash(&bytes).to_hex();
    std::fs::write(artifact.with_extension("b3"), sum.as_bytes()).unwrap();
    assert_eq!(
        answer(Gateway::start_in(dir.path(), &config, &env)).await,
        "answer=42"
    );
}
