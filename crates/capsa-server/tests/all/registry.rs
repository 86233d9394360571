//! The function registry over HTTP: deploy, invoke, versions, aliases, rollback, delete, and the
//! deployments it refuses.

use serde_json::json;

use crate::{Gateway, TOKEN, client, deploy, error_code, guest, json_of};

#[tokio::test(flavor = "multi_thread")]
async fn registry_deploy_invoke_version_alias_rollback_delete() {
    let dir = tempfile::tempdir().unwrap();
    // Configured routes may point at registry functions, resolved per call.
    let routes = "[[route]]\npath = \"/pinned\"\nfunction = \"greeter@stable\"\n\
                  [[route]]\npath = \"/newest\"\nfunction = \"greeter\"\n";
    let gw = Gateway::start_in(dir.path(), routes).await;
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
    let wasm = std::fs::read(guest("hello_handler")).unwrap();
    let b64 = capsa_wire::bytes::base64_encode(&wasm);
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
