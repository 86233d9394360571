//! `/mcp`: the MCP tools over streamable HTTP, spoken as plain JSON-RPC (the official client drives
//! the whole scenario in crates/capsa-cli/tests/gateway.rs): tokens, the tool list and its schemas,
//! arguments a tool does not take (protocol errors) and guest failures (tool results).

use serde_json::{Value, json};

use crate::{Gateway, TOKEN, client, error_code};

/// One JSON-RPC request to `/mcp` with the test token; the JSON-RPC response.
async fn rpc(gw: &Gateway, method: &str, params: Value) -> Value {
    let r = client()
        .post(gw.url("/mcp"))
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{method} {params}");
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn call(gw: &Gateway, tool: &str, arguments: Value) -> Value {
    rpc(
        gw,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await
}

/// A tool call that must succeed at the protocol level: its result.
async fn result(gw: &Gateway, tool: &str, arguments: Value) -> Value {
    let answer = call(gw, tool, arguments.clone()).await;
    assert!(
        answer.get("error").is_none(),
        "{tool} {arguments}: {answer}"
    );
    answer["result"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let c = client();
    let r = c.post(gw.url("/mcp")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = c
        .post(gw.url("/mcp"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "unauthorized");
    // The token is checked before the MCP service sees the request, whatever the method.
    let r = c.get(gw.url("/mcp")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Stateless: no server-sent stream to GET and no MCP session to DELETE.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = c
            .request(method.clone(), gw.url("/mcp"))
            .bearer_auth(TOKEN)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "POST");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_lists_its_tools_with_input_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    let listed = rpc(&gw, "tools/list", json!({})).await;
    let tools = listed["result"]["tools"].as_array().unwrap().clone();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "close_session",
            "create_session",
            "exec",
            "fork",
            "list_files",
            "read_file",
            "run_code",
            "snapshot",
            "write_file"
        ]
    );
    for tool in &tools {
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{tool}");
        assert!(schema["properties"].is_object(), "{tool}");
        assert!(!tool["description"].as_str().unwrap().is_empty(), "{tool}");
    }
    let run = tools.iter().find(|t| t["name"] == "run_code").unwrap();
    assert_eq!(run["inputSchema"]["required"], json!(["language", "code"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_a_tool_does_not_take_are_protocol_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    for (tool, arguments, named) in [
        (
            "run_code",
            json!({"language": "cobol", "code": "1"}),
            "cobol",
        ),
        ("run_code", json!({"language": "js"}), "code"),
        (
            "run_code",
            json!({"language": "js", "code": "1", "stdin": "x"}),
            "stdin",
        ),
        ("run_code", json!({"language": "js", "code": 1}), "string"),
        (
            "run_code",
            json!({"language": "js", "code": "1", "timeout": "soon"}),
            "timeout",
        ),
        // Above the gateway's own deadline (5 s by default).
        (
            "run_code",
            json!({"language": "js", "code": "1", "timeout": "1h"}),
            "timeout",
        ),
        (
            "run_code",
            json!({"language": "py", "code": "1", "files": [{"path": "a", "content": "x", "content_base64": "eA=="}]}),
            "content",
        ),
        (
            "run_code",
            json!({"language": "py", "code": "1", "files": [{"path": "a", "content_base64": "%%"}]}),
            "base64",
        ),
        ("exec", json!({"code": "1"}), "session"),
        (
            "create_session",
            json!({"language": "js", "memory": "lots"}),
            "memory",
        ),
        // Above the gateway's own memory limit.
        (
            "create_session",
            json!({"language": "js", "memory": "64GiB"}),
            "memory",
        ),
        (
            "write_file",
            json!({"session": "s", "path": "a"}),
            "content",
        ),
    ] {
        let answer = call(&gw, tool, arguments.clone()).await;
        let error = &answer["error"];
        assert_eq!(error["code"], -32602, "{tool} {arguments}: {answer}");
        assert_eq!(error["data"]["code"], "invalid_input", "{answer}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(named), "{tool} {arguments}: {message}");
    }
    let answer = call(&gw, "no_such_tool", json!({})).await;
    assert!(answer["error"]["code"].is_i64(), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_failures_are_tool_results_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    let thrown = result(
        &gw,
        "run_code",
        json!({"language": "js", "code": "throw new TypeError('boom')"}),
    )
    .await;
    assert_eq!(thrown["isError"], true, "{thrown}");
    let receipt = &thrown["structuredContent"];
    assert_eq!(receipt["outcome"], "guest_exception");
    assert_eq!(receipt["error"]["exception"]["name"], "TypeError");
    let text = thrown["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("error[guest_exception]:"), "{text}");

    // A limit: the deadline the call asked for.
    let looped = result(
        &gw,
        "run_code",
        json!({"language": "js", "code": "while (true) {}", "timeout": "100ms"}),
    )
    .await;
    assert_eq!(looped["isError"], true);
    assert_eq!(looped["structuredContent"]["outcome"], "timeout");

    // A session's limits are those it was opened with.
    let opened = result(
        &gw,
        "create_session",
        json!({"language": "js", "timeout": "100ms", "memory": "32MiB"}),
    )
    .await;
    assert_eq!(opened["isError"], false, "{opened}");
    let session = opened["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        opened["structuredContent"]["limits"]["memory"], "32MiB",
        "{opened}"
    );
    let looped = result(
        &gw,
        "exec",
        json!({"session": session, "code": "while (true) {}"}),
    )
    .await;
    assert_eq!(
        looped["structuredContent"]["outcome"], "timeout",
        "{looped}"
    );

    // Code that does not compile is the code's failure, not a bad argument.
    let broken = result(
        &gw,
        "run_code",
        json!({"language": "ts", "code": "let x: = 1"}),
    )
    .await;
    assert_eq!(broken["isError"], true, "{broken}");
    assert_eq!(
        broken["structuredContent"]["error"]["code"],
        "invalid_input"
    );

    // And the next call is served.
    let ok = result(
        &gw,
        "run_code",
        json!({"language": "py", "code": "print('hi')\n6 * 7"}),
    )
    .await;
    assert_eq!(ok["isError"], false, "{ok}");
    let receipt = &ok["structuredContent"];
    assert_eq!(receipt["outcome"], "ok");
    assert_eq!(receipt["result"], 42);
    assert_eq!(receipt["stdout"], "hi\n");
    assert_eq!(receipt["stderr"], "");
    let text = ok["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("result: 42") && text.contains("hi"), "{text}");
}
