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

/// What `wasmtime serve` does with a request and a response, capsa does too: the query arrives as
/// sent, repeated response headers stay apart, and the component's answer is its own even when the
/// client asks for events.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_gets_the_request_and_answers_as_under_wasmtime_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[route]]\npath = \"/headers\"\nfunction = \"{}\"\n",
        capsa_test_programs::http_component_path().display()
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let c = client();

    let body = |r: reqwest::Response| async move { r.text().await.unwrap() };
    let r = c.get(gw.url("/headers")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let repeated: Vec<_> = r.headers().get_all("x-repeated").iter().cloned().collect();
    assert_eq!(repeated, ["one", "two"]);
    let text = body(r).await;
    assert!(text.contains("target: /headers\n"), "{text}");

    let raw = "b=2&a=1&a=3&flag&sp=a%20b";
    let text = body(
        c.get(gw.url(&format!("/headers?{raw}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        text.contains(&format!("target: /headers?{raw}\n")),
        "{text}"
    );

    let r = c
        .get(gw.url("/headers"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(
        r.headers().get("content-type").map(|v| v.to_str().unwrap()),
        Some("text/event-stream"),
        "a component answers for itself"
    );
    assert!(body(r).await.contains("target: /headers\n"));
}

/// A handler response the host cannot send as written is a 502 that says why, in every language:
/// a status that is not a number, or `body` beside `body_base64`. (A plain object without a body
/// or headers is not a response: it is the JSON body of a 200.)
#[tokio::test(flavor = "multi_thread")]
async fn invalid_handler_responses_are_502_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    let c = client();
    for (name, language, code) in [
        (
            "js-status",
            "js",
            "function handler() { return { status: '200', body: 'x' } }",
        ),
        (
            "js-both",
            "js",
            "function handler() { return { status: 200, body: 'x', body_base64: 'eA==' } }",
        ),
        (
            "py-status",
            "py",
            "def handler(request):\n    return {'status': '200', 'body': 'x'}",
        ),
        (
            "py-both",
            "py",
            "def handler(request):\n    return {'status': 200, 'body': 'x', 'body_base64': 'eA=='}",
        ),
    ] {
        let r = crate::deploy(&gw, name, json!({"language": language, "code": code})).await;
        assert!(r.status().is_success(), "{name}: {}", r.status());
        let r = c.get(gw.url(&format!("/run/{name}"))).send().await.unwrap();
        assert_eq!(r.status(), 502, "{name}");
        assert_eq!(r.headers()["x-capsa-outcome"], "guest_exception", "{name}");
        let body: serde_json::Value = r.json().await.unwrap();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains("response is invalid"), "{name}: {message}");
    }
    let r = crate::deploy(
        &gw,
        "plain",
        json!({"language": "js", "code": "function handler() { return { status: 'ok' } }"}),
    )
    .await;
    assert!(r.status().is_success());
    let r = c.get(gw.url("/run/plain")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await, json!({"status": "ok"}));
}
