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

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_taken_on_one_node_forks_on_another() {
    let redis = capsa_test_programs::RedisServer::start();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("snapshot.key");
    std::fs::write(&key, format!("{}\n", "5e".repeat(32))).unwrap();
    let config = format!(
        "store = \"{}\"\n[sessions]\nsnapshot_key_file = \"{}\"\n",
        redis.url(),
        key.display()
    );
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Gateway::start_in(a_dir.path(), &config).await;
    let b = Gateway::start_in(b_dir.path(), &config).await;
    let c = client();
    let r = c
        .post(a.url("/v1/sessions"))
        .bearer_auth(TOKEN)
        .json(&json!({"language": "js"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = json_of(r).await["id"].as_str().unwrap().to_owned();
    let r = c
        .post(a.url(&format!("/v1/sessions/{id}/exec")))
        .bearer_auth(TOKEN)
        .json(&json!({"code": "globalThis.seen = ['a']"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["outcome"], "ok");
    let r = c
        .put(a.url(&format!("/v1/sessions/{id}/files/note.txt")))
        .bearer_auth(TOKEN)
        .body("from a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .post(a.url(&format!("/v1/sessions/{id}/snapshot")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let snapshot = json_of(r).await["snapshot"].as_str().unwrap().to_owned();

    // Node B has never seen the session: it forks from the shared store.
    let r = c
        .post(b.url(&format!("/v1/snapshots/{snapshot}/fork")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let forked = json_of(r).await["id"].as_str().unwrap().to_owned();
    let r = c
        .post(b.url(&format!("/v1/sessions/{forked}/exec")))
        .bearer_auth(TOKEN)
        .json(&json!({"code": "seen.push('b'); seen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["result"], json!(["a", "b"]));
    let r = c
        .get(b.url(&format!("/v1/sessions/{forked}/files/note.txt")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "from a");
    // The session itself lives on A only.
    let r = c
        .get(b.url(&format!("/v1/sessions/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
