//! Output streamed as server-sent events, by run-now and by invocations.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Gateway, TOKEN, client, deploy};

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
    let gw = Gateway::start_in(dir.path(), "").await;
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

/// A character written in two pieces arrives whole, and bytes that are not UTF-8 arrive as
/// `stdout_base64`: the stream carries exactly the bytes the receipt does.
#[tokio::test(flavor = "multi_thread")]
async fn streamed_output_keeps_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    // Writes "\xe2\x82", spins for a while (so that piece is due on its own), then "\xac!\n", then
    // the invalid "\xff".
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "\e2\82")
      (data (i32.const 24) "\ac!\n")
      (data (i32.const 32) "\ff")
      (func $out (param $ptr i32) (param $len i32)
        (i32.store (i32.const 0) (local.get $ptr))
        (i32.store (i32.const 4) (local.get $len))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
      (func (export "_start") (local $i i32)
        (call $out (i32.const 16) (i32.const 2))
        (loop $spin
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $spin (i32.lt_u (local.get $i) (i32.const 100000000))))
        (call $out (i32.const 24) (i32.const 3))
        (call $out (i32.const 32) (i32.const 1))))"#;
    let r = client()
        .post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .json(&json!({"language": "wasm", "code": wat}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = sse_events(r).await;
    let output: Vec<(&str, &str)> = events
        .iter()
        .filter(|(n, _)| n != "result")
        .map(|(n, d)| (n.as_str(), d.as_str()))
        .collect();
    let text: String = output
        .iter()
        .filter(|(n, _)| *n == "stdout")
        .map(|(_, d)| *d)
        .collect();
    assert_eq!(text, "€!\n", "{events:?}");
    assert_eq!(
        output.last(),
        Some(&("stdout_base64", "/w==")),
        "{events:?}"
    );
    let receipt: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(receipt["stdout_base64"], "4oKsIQr/");
}
