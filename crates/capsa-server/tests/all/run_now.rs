//! `POST /v1/run`: code run at once, answered with its receipt.

use serde_json::{Value, json};

use crate::{Gateway, TOKEN, client, error_code, json_of};

#[tokio::test(flavor = "multi_thread")]
async fn run_now_answers_with_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[limits]\ntimeout = \"3s\"\n").await;
    let c = client();
    let run = |body: Value| {
        c.post(gw.url("/v1/run"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let r = run(json!({"language": "js", "code": "console.log('hi'); [1, 2].map(x => x * 2)"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let receipt = json_of(r).await;
    assert_eq!(receipt["outcome"], "ok");
    assert_eq!(receipt["result"], json!([2, 4]));
    assert_eq!(receipt["stdout"], "hi\n");
    assert!(receipt["stats"]["wall_us"].as_u64().unwrap() > 0);

    let r = run(json!({"language": "py", "code": "import sys\nprint(sys.stdin.read().upper())\n6 * 7", "stdin": "abc"})).await.unwrap();
    let receipt = json_of(r).await;
    assert_eq!(receipt["outcome"], "ok", "{receipt}");
    assert_eq!(receipt["result"], 42);

    let r = run(json!({"language": "wasm", "code": "(module (func (export \"_start\") (loop (br 0))))", "limits": {"timeout": "200ms"}})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-capsa-outcome"], "timeout");
    let receipt = json_of(r).await;
    assert_eq!(receipt["error"]["code"], "timeout");

    let r = run(json!({"language": "ts", "code": "function handler(r: any) { return {status: 201, body: r.method} }", "request": {"method": "PUT", "path": "/"}})).await.unwrap();
    let receipt = json_of(r).await;
    assert_eq!(receipt["result"]["status"], 201, "{receipt}");
    assert_eq!(receipt["result"]["body"], "PUT");

    let r = run(json!({"language": "js", "code": "1", "limits": {"timeout": "1h"}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        json_of(r).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout")
    );
    let r = c
        .post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "invalid_input");
}
