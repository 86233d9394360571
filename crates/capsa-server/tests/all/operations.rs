//! The operations endpoints: health, readiness, metrics, the OpenAPI document.

use serde_json::json;

use crate::{Gateway, TOKEN, client, error_code, json_of};

#[tokio::test(flavor = "multi_thread")]
async fn operations_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
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
        "/v1/sessions",
        "/v1/sessions/{id}",
        "/v1/sessions/{id}/exec",
        "/v1/sessions/{id}/files",
        "/v1/sessions/{id}/files/{path}",
        "/v1/sessions/{id}/snapshot",
        "/v1/snapshots/{snapshot}/fork",
        "/v1/snapshots/{snapshot}",
        "/run/{target}",
        "/execute/{plugin}",
        "/mcp",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}
