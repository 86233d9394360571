//! Hostile calls (endless loops, memory bombs, traps) mixed with good ones under load.

use reqwest::StatusCode;

use crate::{Gateway, client, functions_dir, json_of, wait_until};

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
    let gw = Gateway::start_in(dir.path(), &config).await;
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
async fn healthz_answers_while_guests_spin() {
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin.js");
    std::fs::write(&spin, "function handler() { for (;;) {} }").unwrap();
    // One guest thread for 16 spinning guests: the guest runtime is saturated, the HTTP one is not.
    let config = format!(
        "[limits]\ntimeout = \"3s\"\n[server]\nguest_threads = 1\nclient_timeout = \"30s\"\n\
         [[route]]\npath = \"/spin\"\nfunction = \"{}\"\n",
        spin.display()
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let c = client();
    let spinning: Vec<_> = (0..16)
        .map(|_| tokio::spawn(c.get(gw.url("/spin")).send()))
        .collect();
    wait_until("the guests spinning", || async {
        let active = gw.metric("capsa_active_sandboxes").await;
        if active == "capsa_active_sandboxes 16" {
            Ok(())
        } else {
            Err(active)
        }
    })
    .await;
    for _ in 0..10 {
        let r = c.get(gw.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(
        spinning.iter().any(|task| !task.is_finished()),
        "/healthz answered only after the guests ended"
    );
    for task in spinning {
        let r = task.await.unwrap().unwrap();
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    }
}

/// The pool holds as many Python sandboxes as the gateway admits: 128 slow calls at once, 64 to
/// each of two Python functions (a CPython sandbox is 14 core instances), are all served, none
/// refused as "no sandbox slot is free".
#[tokio::test(flavor = "multi_thread")]
async fn the_pool_holds_the_configured_concurrency_of_python_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let mut routes = String::new();
    for name in ["a", "b"] {
        let path = dir.path().join(format!("{name}.py"));
        std::fs::write(
            &path,
            "import time\n\ndef handler(request):\n    time.sleep(2)\n    return {'status': 200, 'body': 'slept'}\n",
        )
        .unwrap();
        routes.push_str(&format!(
            "[[route]]\npath = \"/{name}\"\nfunction = \"{}\"\n",
            path.display()
        ));
    }
    let config = format!(
        "[limits]\ntimeout = \"60s\"\n[server]\nconcurrency = 128\nfunction_concurrency = 64\nqueue_timeout = \"60s\"\nclient_timeout = \"60s\"\n{routes}"
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let c = client();
    let calls: Vec<_> = (0..128)
        .map(|i| {
            let url = gw.url(if i % 2 == 0 { "/a" } else { "/b" });
            let c = c.clone();
            tokio::spawn(async move {
                let r = c.get(url).send().await.unwrap();
                (r.status(), r.text().await.unwrap())
            })
        })
        .collect();
    let mut refused = Vec::new();
    for call in calls {
        let (status, body) = call.await.unwrap();
        if status != StatusCode::OK || body != "slept" {
            refused.push(format!("{status}: {body}"));
        }
    }
    assert!(
        refused.is_empty(),
        "{} of 128 not served: {:?}",
        refused.len(),
        refused.first()
    );
}
