//! Bearer tokens: where they are required, and a public or protected `/run/…`.

use serde_json::json;

use crate::{Gateway, TOKEN, cache_dir, client, deploy, error_code};

#[tokio::test(flavor = "multi_thread")]
async fn auth_is_required_where_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
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
    let gw = Gateway::start_in(protected.path(), "[auth]\nprotect_invoke = true\n").await;
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
}

/// A gateway on a non-loopback address without tokens refuses to start (the binary's exit status for
/// it is tested in crates/capsa-cli/tests/gateway.rs).
#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_address_without_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = capsa_server::config::Config::parse(&format!(
        "listen = \"0.0.0.0:0\"\ndata_dir = \"{}\"\n",
        dir.path().join("data").display()
    ))
    .unwrap();
    let engine = capsa::Engine::builder()
        .cache_dir(Some(cache_dir().to_owned()))
        .build()
        .unwrap();
    let Err(e) = capsa_server::Gateway::new(&config, engine).await else {
        panic!("a token-less gateway on 0.0.0.0 started");
    };
    assert_eq!(e.code, capsa::ErrorCode::InvalidInput);
    assert!(
        e.message.starts_with("refusing to listen on 0.0.0.0"),
        "{}",
        e.message
    );
}
