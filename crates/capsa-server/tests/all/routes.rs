//! Configured routes: a function file of every language behind a path pattern, methods, 404s, and
//! one log record per call.

use serde_json::json;

use crate::{Gateway, client, error_code, functions_dir, guest, json_of};

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
    let gw = Gateway::start_in(dir.path(), &config).await;
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
