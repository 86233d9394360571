//! Sessions over HTTP (`/v1/sessions…`): state kept between execs, SSE, ownership, TTL and the caps.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Gateway, TOKEN, client, error_code, json_of, wait_until};

/// A second token the test gateways accept, for ownership checks.
const OTHER: &str = "other-token";

/// A session's first of a language compiles that language's runtime, which on a cold cache on a busy
/// 2-core machine takes longer than [`client`]'s timeout: creates wait as long as a gateway's start.
async fn create(gw: &Gateway, token: &str, body: Value) -> reqwest::Response {
    reqwest::Client::builder()
        .timeout(crate::PATIENCE)
        .build()
        .unwrap()
        .post(gw.url("/v1/sessions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn created(gw: &Gateway, body: Value) -> String {
    let r = create(gw, TOKEN, body).await;
    let status = r.status();
    let info = json_of(r).await;
    assert_eq!(status, 201, "{info}");
    info["id"].as_str().unwrap().to_owned()
}

async fn exec(gw: &Gateway, token: &str, id: &str, code: &str) -> reqwest::Response {
    client()
        .post(gw.url(&format!("/v1/sessions/{id}/exec")))
        .bearer_auth(token)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

async fn receipt(gw: &Gateway, id: &str, code: &str) -> Value {
    let r = exec(gw, TOKEN, id, code).await;
    assert_eq!(r.status(), 200);
    json_of(r).await
}

async fn get(gw: &Gateway, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_keeps_state_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[limits]\ntimeout = \"3s\"\n").await;
    let c = client();
    let r = create(&gw, TOKEN, json!({"language": "js", "ttl": "5m"})).await;
    assert_eq!(r.status(), 201);
    let info = json_of(r).await;
    let id = info["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ses_") && id.len() == 36, "{id}");
    assert_eq!(info["language"], "js");
    assert_eq!(info["ttl_ms"], 300_000);
    assert_eq!(info["limits"]["timeout"], "3s");

    let first = receipt(&gw, &id, "let count = 40; console.log('set'); count").await;
    assert_eq!(first["outcome"], "ok", "{first}");
    assert_eq!(first["stdout"], "set\n");
    let second = receipt(&gw, &id, "count += 2").await;
    assert_eq!(second["result"], 42, "{second}");

    // The same receipt as a stream: output events, then the result.
    let r = c
        .post(gw.url(&format!("/v1/sessions/{id}/exec")))
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .json(&json!({"code": "console.log('a'); console.error('b'); count"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let stdout = text.find("event: stdout\ndata: \"a\\n\"").expect(&text);
    let stderr = text.find("event: stderr\ndata: \"b\\n\"").expect(&text);
    let result = text.find("event: result\n").expect(&text);
    assert!(stdout < result && stderr < result, "{text}");
    assert!(text.contains("\"result\":42"), "{text}");

    // Stats, and the list of the token's sessions.
    let stats = json_of(get(&gw, TOKEN, &format!("/v1/sessions/{id}")).await).await;
    assert_eq!(stats["stats"]["evals"], 3, "{stats}");
    assert!(stats["stats"]["memory_peak_bytes"].as_u64().unwrap() > 0);
    assert!(stats["expires_at"].as_u64() > stats["created_at"].as_u64());
    assert_eq!(stats["busy"], false);
    let py = created(&gw, json!({"language": "py"})).await;
    let r = receipt(&gw, &py, "import math\nx = math.factorial(5)").await;
    assert_eq!(r["outcome"], "ok", "{r}");
    assert_eq!(receipt(&gw, &py, "x + 1").await["result"], 121);
    let list = json_of(get(&gw, TOKEN, "/v1/sessions").await).await;
    let ids: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), py.as_str()]);

    // A TypeScript cell that does not parse is the request's fault; a script's exception is the
    // receipt's and keeps the state.
    let ts = created(&gw, json!({"language": "ts"})).await;
    let r = exec(&gw, TOKEN, &ts, "let x: number = ;").await;
    assert_eq!(r.status(), 400);
    let r = receipt(&gw, &id, "throw new Error('boom')").await;
    assert_eq!(r["error"]["code"], "guest_exception");
    assert_eq!(receipt(&gw, &id, "count").await["result"], 42);

    let metrics = c
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("capsa_sessions_live 3"), "{metrics}");
    assert!(
        metrics.contains("capsa_session_execs_total{outcome=\"ok\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("capsa_session_execs_total{outcome=\"guest_exception\"} 1"),
        "{metrics}"
    );

    let r = c
        .delete(gw.url(&format!("/v1/sessions/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = exec(&gw, TOKEN, &id, "count").await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "not_found");
    assert_eq!(
        gw.metric("capsa_sessions_live").await,
        "capsa_sessions_live 2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_discards_the_state_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    let id = created(
        &gw,
        json!({"language": "js", "limits": {"timeout": "300ms"}}),
    )
    .await;
    receipt(&gw, &id, "globalThis.kept = 1").await;
    let r = exec(&gw, TOKEN, &id, "while (true) {}").await;
    assert_eq!(r.headers()["x-capsa-outcome"], "timeout");
    assert_eq!(json_of(r).await["error"]["code"], "timeout");
    assert_eq!(
        receipt(&gw, &id, "typeof kept").await["result"],
        "undefined"
    );
    let stats = json_of(get(&gw, TOKEN, &format!("/v1/sessions/{id}")).await).await;
    assert_eq!(stats["stats"]["resets"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_belongs_to_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), &format!("[auth]\ntokens = [\"{OTHER}\"]\n")).await;
    let c = client();
    let id = created(&gw, json!({"language": "js"})).await;
    receipt(&gw, &id, "let secret = 'mine'").await;
    // Another token finds nothing: not its session, not in its list, not deletable.
    let r = exec(&gw, OTHER, &id, "secret").await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "not_found");
    assert_eq!(
        get(&gw, OTHER, &format!("/v1/sessions/{id}"))
            .await
            .status(),
        404
    );
    let list = json_of(get(&gw, OTHER, "/v1/sessions").await).await;
    assert_eq!(list["sessions"], json!([]));
    let r = c
        .delete(gw.url(&format!("/v1/sessions/{id}")))
        .bearer_auth(OTHER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(receipt(&gw, &id, "secret").await["result"], "mine");
    // No token, a wrong one: 401.
    let r = c.get(gw.url("/v1/sessions")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(get(&gw, "wrong", "/v1/sessions").await.status(), 401);
    assert_eq!(get(&gw, TOKEN, "/v1/sessions/ses_nope").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[sessions]\nttl = \"30s\"\nmax_ttl = \"1m\"\n").await;
    for (body, needle) in [
        (json!({"language": "wasm"}), "sessions run JavaScript"),
        (json!({"language": "cobol"}), "cobol"),
        (json!({"language": "js", "ttl": "2m"}), "ttl"),
        (json!({"language": "js", "ttl": "0s"}), "ttl"),
        (
            json!({"language": "js", "limits": {"memory": "1GiB"}}),
            "memory",
        ),
        (
            json!({"language": "js", "grants": {"dirs": ["/tmp"]}}),
            "directories",
        ),
        (json!({"language": "js", "colour": "red"}), "colour"),
    ] {
        let r = create(&gw, TOKEN, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let error = json_of(r).await;
        assert_eq!(error["error"]["code"], "invalid_input", "{body}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let id = created(&gw, json!({"language": "js"})).await;
    let r = client()
        .post(gw.url(&format!("/v1/sessions/{id}/exec")))
        .bearer_auth(TOKEN)
        .json(&json!({"source": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_expires() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[sessions]\nttl = \"300ms\"\n").await;
    let short = created(&gw, json!({"language": "js"})).await;
    let long = created(&gw, json!({"language": "js", "ttl": "10m"})).await;
    receipt(&gw, &short, "1").await;
    wait_until("the idle session to expire", || async {
        match get(&gw, TOKEN, &format!("/v1/sessions/{short}"))
            .await
            .status()
        {
            StatusCode::NOT_FOUND => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    assert_eq!(exec(&gw, TOKEN, &short, "1").await.status(), 404);
    // The sweeper drops it from the gauge; the one with a longer TTL lives on.
    wait_until("the sweeper", || async {
        match gw.metric("capsa_sessions_live").await.as_str() {
            "capsa_sessions_live 1" => Ok(()),
            other => Err(other.to_owned()),
        }
    })
    .await;
    assert_eq!(receipt(&gw, &long, "2").await["result"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_on_live_sessions_answer_busy() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[auth]\ntokens = [\"{OTHER}\"]\n[sessions]\nmax_per_token = 2\nmax_sessions = 3\n"
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let busy = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        json_of(r).await["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = created(&gw, json!({"language": "js"})).await;
    created(&gw, json!({"language": "js"})).await;
    let message = busy(create(&gw, TOKEN, json!({"language": "js"})).await).await;
    assert!(message.contains("max_per_token"), "{message}");
    // Another token still has room, up to the gateway's cap.
    let r = create(&gw, OTHER, json!({"language": "js"})).await;
    assert_eq!(r.status(), 201);
    let message = busy(create(&gw, OTHER, json!({"language": "js"})).await).await;
    assert!(message.contains("max_sessions"), "{message}");
    // Deleting one makes room again.
    let r = client()
        .delete(gw.url(&format!("/v1/sessions/{first}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        create(&gw, TOKEN, json!({"language": "js"})).await.status(),
        201
    );
    let rejected = gw.metric("capsa_rejected_total{code=\"busy\"}").await;
    assert_eq!(rejected, "capsa_rejected_total{code=\"busy\"} 2");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_memory_cap_answers_busy() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[sessions]\nmax_memory = \"100MiB\"\n").await;
    // The gateway's 128 MiB default does not fit at all; 64 MiB fits once; 32 MiB after it.
    let r = create(&gw, TOKEN, json!({"language": "js"})).await;
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    let r = create(&gw, TOKEN, json!({"language": "js"})).await;
    assert!(
        json_of(r).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_memory")
    );
    created(
        &gw,
        json!({"language": "js", "limits": {"memory": "64MiB"}}),
    )
    .await;
    let r = create(
        &gw,
        TOKEN,
        json!({"language": "js", "limits": {"memory": "64MiB"}}),
    )
    .await;
    assert_eq!(r.status(), 503);
    assert_eq!(error_code(r).await, "busy");
    created(
        &gw,
        json!({"language": "js", "limits": {"memory": "32MiB"}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_exec_at_a_time_then_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[sessions]\nexec_wait = \"100ms\"\n").await;
    let id = created(&gw, json!({"language": "js", "limits": {"timeout": "2s"}})).await;
    let looping = {
        let url = gw.url(&format!("/v1/sessions/{id}/exec"));
        tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(TOKEN)
                .json(&json!({"code": "while (true) {}"}))
                .send()
                .await
                .unwrap()
        })
    };
    wait_until("the first exec to run", || async {
        let info = json_of(get(&gw, TOKEN, &format!("/v1/sessions/{id}")).await).await;
        if info["busy"] == true {
            Ok(())
        } else {
            Err(info.to_string())
        }
    })
    .await;
    let r = exec(&gw, TOKEN, &id, "1").await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "conflict");
    let first = looping.await.unwrap();
    assert_eq!(first.headers()["x-capsa-outcome"], "timeout");
    assert_eq!(receipt(&gw, &id, "1 + 1").await["result"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[sessions]\nenabled = false\n").await;
    let r = create(&gw, TOKEN, json!({"language": "js"})).await;
    assert_eq!(r.status(), 404);
    assert!(
        json_of(r).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("enabled = false")
    );
}

async fn snapshot(gw: &Gateway, token: &str, id: &str) -> reqwest::Response {
    client()
        .post(gw.url(&format!("/v1/sessions/{id}/snapshot")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn fork(gw: &Gateway, token: &str, snapshot: &str, body: Option<Value>) -> reqwest::Response {
    let request = client()
        .post(gw.url(&format!("/v1/snapshots/{snapshot}/fork")))
        .bearer_auth(token);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn files_snapshot_and_fork() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), &format!("[auth]\ntokens = [\"{OTHER}\"]\n")).await;
    let c = client();
    let id = created(
        &gw,
        json!({"language": "js", "limits": {"memory": "64MiB"}}),
    )
    .await;
    let file = |path: &str| gw.url(&format!("/v1/sessions/{id}/files/{path}"));

    // Files in, seen by the guest, listed, and read back.
    let r = c
        .put(file("data/in.txt"))
        .bearer_auth(TOKEN)
        .body(&b"hello\x00bytes"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let list = json_of(get(&gw, TOKEN, &format!("/v1/sessions/{id}/files")).await).await;
    assert_eq!(list["files"], json!([{"path": "data/in.txt", "size": 11}]));
    let r = get(&gw, TOKEN, &format!("/v1/sessions/{id}/files/data/in.txt")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(&r.bytes().await.unwrap()[..], b"hello\x00bytes");
    let r = get(&gw, TOKEN, &format!("/v1/sessions/{id}/files/nope.txt")).await;
    assert_eq!(r.status(), 404);
    let r = c
        .put(file("..%2Fescape"))
        .bearer_auth(TOKEN)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    // Another token sees no files.
    let r = get(&gw, OTHER, &format!("/v1/sessions/{id}/files/data/in.txt")).await;
    assert_eq!(r.status(), 404);

    // A snapshot, then two forks that diverge and never see each other's writes.
    receipt(&gw, &id, "globalThis.n = 1").await;
    let r = snapshot(&gw, TOKEN, &id).await;
    assert_eq!(r.status(), 201);
    let snap = json_of(r).await;
    let snap_id = snap["snapshot"].as_str().unwrap().to_owned();
    assert!(snap_id.starts_with("snap_"), "{snap}");
    assert!(snap["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(snap["language"], "js");
    receipt(&gw, &id, "n = 100").await;

    let r = fork(&gw, TOKEN, &snap_id, None).await;
    assert_eq!(r.status(), 201);
    let a = json_of(r).await;
    // The fork keeps the snapshot's session's limits.
    assert_eq!(a["limits"]["memory"], "64MiB", "{a}");
    let a = a["id"].as_str().unwrap().to_owned();
    let b = json_of(fork(&gw, TOKEN, &snap_id, Some(json!({"ttl": "1m"}))).await).await;
    assert_eq!(b["ttl_ms"], 60_000);
    let b = b["id"].as_str().unwrap().to_owned();
    assert_eq!(receipt(&gw, &a, "n += 1").await["result"], 2);
    assert_eq!(receipt(&gw, &b, "n += 10").await["result"], 11);
    assert_eq!(receipt(&gw, &a, "n").await["result"], 2);
    assert_eq!(receipt(&gw, &id, "n").await["result"], 100);
    // The snapshot's files came along.
    let r = get(&gw, TOKEN, &format!("/v1/sessions/{b}/files/data/in.txt")).await;
    assert_eq!(&r.bytes().await.unwrap()[..], b"hello\x00bytes");
    // `from` at create is a fork too; of the wrong language it is refused.
    let from = created(&gw, json!({"language": "js", "from": snap_id})).await;
    assert_eq!(receipt(&gw, &from, "n").await["result"], 1);
    let r = create(&gw, TOKEN, json!({"language": "py", "from": snap_id})).await;
    assert_eq!(r.status(), 400);
    // A fork may lower its limits, but not below what the snapshot holds.
    let r = fork(
        &gw,
        TOKEN,
        &snap_id,
        Some(json!({"limits": {"memory": "1MiB"}})),
    )
    .await;
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());

    // Another token cannot fork or delete the snapshot; its owner can.
    assert_eq!(fork(&gw, OTHER, &snap_id, None).await.status(), 404);
    let delete = |token: &'static str| {
        c.delete(gw.url(&format!("/v1/snapshots/{snap_id}")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(delete(OTHER).await.unwrap().status(), 404);
    assert_eq!(delete(TOKEN).await.unwrap().status(), 204);
    assert_eq!(delete(TOKEN).await.unwrap().status(), 404);
    assert_eq!(fork(&gw, TOKEN, &snap_id, None).await.status(), 404);
    assert_eq!(fork(&gw, TOKEN, "NOT-an-id!", None).await.status(), 404);

    // A session that hit a limit cannot be snapshotted until reset; Python cannot snapshot yet.
    let limited = created(
        &gw,
        json!({"language": "js", "limits": {"timeout": "200ms"}}),
    )
    .await;
    exec(&gw, TOKEN, &limited, "while (true) {}").await;
    let r = snapshot(&gw, TOKEN, &limited).await;
    assert_eq!(r.status(), 409);
    assert_eq!(error_code(r).await, "conflict");
    let py = created(&gw, json!({"language": "py"})).await;
    let r = snapshot(&gw, TOKEN, &py).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_signed_with_another_key_is_refused() {
    let redis = capsa_test_programs::RedisServer::start();
    let store = format!("store = \"{}\"\n", redis.url());
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // No shared key: each node made its own.
    let a = Gateway::start_in(a_dir.path(), &store).await;
    let b = Gateway::start_in(b_dir.path(), &store).await;
    let id = created(&a, json!({"language": "js"})).await;
    let snap = json_of(snapshot(&a, TOKEN, &id).await).await;
    let r = fork(&b, TOKEN, snap["snapshot"].as_str().unwrap(), None).await;
    assert_eq!(r.status(), 400);
    let error = json_of(r).await;
    assert_eq!(error["error"]["code"], "invalid_input", "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[sessions]\nmax_snapshot = \"1KiB\"\n").await;
    let id = created(&gw, json!({"language": "js"})).await;
    receipt(&gw, &id, "1").await;
    let r = snapshot(&gw, TOKEN, &id).await;
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "payload_too_large");
}
