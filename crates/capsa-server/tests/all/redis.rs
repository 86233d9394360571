//! Two gateways on one redis-server: functions, aliases and KV namespaces are shared.

use reqwest::StatusCode;
use serde_json::json;

use crate::{Gateway, TOKEN, client, deploy, example, json_of, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_share_one_redis() {
    let redis = capsa_test_programs::RedisServer::start();
    let store = format!("store = \"{}\"\n", redis.url());
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Gateway::start_in(a_dir.path(), &store).await;
    let b = Gateway::start_in(b_dir.path(), &store).await;
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
    wait_for(&b.url("/readyz"), StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(c.get(b.url("/healthz")).send().await.unwrap().status(), 200);
}
