//! What one connection and one call may take: body and header limits, client timeouts, admission
//! (backpressure), a client disconnect cancelling its guest, and the compile and stdin caps of
//! deploys and run-now.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::{Gateway, TOKEN, client, deploy, error_code, functions_dir, wait_until};

/// Sends raw bytes and returns the status line.
fn raw_status(url: &str, request: &[u8]) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn backpressure_body_and_header_limits() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[server]
max_body = "1KiB"
max_header_bytes = "8KiB"
max_headers = 20
concurrency = 1
function_concurrency = 1
queue = 1
queue_timeout = "200ms"
client_timeout = "1s"
[[route]]
path = "/echo"
function = "{js}"
[[route]]
path = "/slow"
function = "{slow}"
"#,
        js = functions_dir().join("hello.js").display(),
        slow = {
            let p = dir.path().join("slow.js");
            std::fs::write(&p, "function handler() { const end = Date.now() + 3000; while (Date.now() < end) {} return 'slow' }").unwrap();
            p.display().to_string()
        },
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let c = client();

    let r = c
        .post(gw.url("/echo"))
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "payload_too_large");
    // Without a Content-Length (chunked) too.
    let mut chunked =
        String::from("POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n");
    for _ in 0..4 {
        chunked.push_str(&format!("200\r\n{}\r\n", "y".repeat(512)));
    }
    chunked.push_str("0\r\n\r\n");
    assert!(raw_status(&gw.url, chunked.as_bytes()).contains("413"));
    let r = c
        .post(gw.url("/echo"))
        .body(vec![b'x'; 512])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let big = format!(
        "GET /echo HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    assert!(
        raw_status(&gw.url, big.as_bytes()).contains("431"),
        "header bytes"
    );
    let mut many = String::from("GET /echo HTTP/1.1\r\nhost: x\r\n");
    for i in 0..40 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert!(
        raw_status(&gw.url, many.as_bytes()).contains("431"),
        "header count"
    );

    // A client that never finishes its headers is cut off.
    let started = Instant::now();
    let status = raw_status(&gw.url, b"GET /echo HTTP/1.1\r\nhost: x\r\n");
    assert!(started.elapsed() < Duration::from_secs(10), "{status}");
    // A client that never finishes its body gets 408 after the client timeout (1 s here).
    let started = Instant::now();
    let status = raw_status(
        &gw.url,
        b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 100\r\n\r\nonly ten b",
    );
    assert!(status.contains("408"), "{status}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // One runs, one queues (and times out), the third is refused at once.
    let slow = |c: reqwest::Client, url: String| {
        tokio::spawn(async move { c.get(url).send().await.unwrap() })
    };
    let first = slow(c.clone(), gw.url("/slow"));
    wait_until("the first call running", || async {
        let active = gw.metric("capsa_active_sandboxes").await;
        if active.ends_with(" 1") {
            Ok(())
        } else {
            Err(active)
        }
    })
    .await;
    let second = slow(c.clone(), gw.url("/slow"));
    wait_until("the second call queued", || async {
        let queued = gw.metric("capsa_queue_depth").await;
        if queued.ends_with(" 1") {
            Ok(())
        } else {
            Err(queued)
        }
    })
    .await;
    let third = c.get(gw.url("/slow")).send().await.unwrap();
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "1");
    assert_eq!(error_code(third).await, "busy");
    let second = second.await.unwrap();
    assert_eq!(second.status(), 503);
    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "slow");
    let metrics = c
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("capsa_rejected_total{code=\"busy\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("capsa_rejected_total{code=\"payload_too_large\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_disconnect_cancels_its_guest() {
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin.js");
    std::fs::write(&spin, "function handler() { while (true) {} }").unwrap();
    let config = format!(
        "[limits]\ntimeout = \"5s\"\n[[route]]\npath = \"/spin\"\nfunction = \"{}\"\n",
        spin.display()
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let c = client();
    for stream in [false, true] {
        let mut request = c.get(gw.url("/spin")).timeout(Duration::from_millis(400));
        if stream {
            request = request.header("accept", "text/event-stream");
        }
        let started = Instant::now();
        let result = request.send().await;
        if stream {
            // The headers come at once; then the body read times out.
            let _ = result.unwrap().text().await;
        } else {
            assert!(result.is_err());
        }
        wait_until(&format!("stream={stream}: the guest stopped"), || async {
            let active = gw.metric("capsa_active_sandboxes").await;
            if active == "capsa_active_sandboxes 0" {
                Ok(())
            } else {
                Err(active)
            }
        })
        .await;
        // Stopped by the disconnect, long before the 5 s deadline would have stopped it.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "stream={stream}: {:?}",
            started.elapsed()
        );
    }
}

/// Compile limits, linear TypeScript stripping and the stdin cap hold for deploys and run-now too.
#[tokio::test(flavor = "multi_thread")]
async fn deploys_and_run_now_keep_the_compile_and_stdin_limits() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[compile]\nmax_functions = 1000\n").await;
    let c = client();
    // Empty functions past the cap (a million of them took cranelift minutes): refused before
    // compiling, at the default cap and at the one capsa.toml sets.
    for n in [50_001, 1_001] {
        let many = format!("(module {})", "(func)".repeat(n));
        let r = deploy(&gw, "many", json!({"language": "wasm", "code": many})).await;
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, "compile_limit_exceeded");
    }
    let fine = format!(
        "(module (func (export \"_start\")) {})",
        "(func)".repeat(999)
    );
    let r = deploy(&gw, "fine", json!({"language": "wasm", "code": fine})).await;
    let status = r.status();
    assert!(status.is_success(), "{status}: {}", r.text().await.unwrap());
    // TypeScript nested 40,000 deep without brackets: stripped in linear time, and the deploy answers.
    let started = Instant::now();
    let deep = "if(1) ".repeat(40_000) + "1;";
    let r = deploy(&gw, "deep", json!({"language": "ts", "code": deep})).await;
    let status = r.status();
    assert!(status.is_success() || status == 400, "{status}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // stdin over the call's cap is its own error.
    let r = c
        .post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .json(&json!({"language": "py", "code": "1", "stdin": "12345", "limits": {"max_stdin": "4B"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "input_limit_exceeded");
    // A NUL in a granted variable would reach the guest cut short: refused.
    let r = c
        .post(gw.url("/v1/run"))
        .bearer_auth(TOKEN)
        .json(&json!({"language": "js", "code": "env.A", "grants": {"env": {"A": "x\0y"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "invalid_input");
}

/// A client still sending a body the gateway refused early (`413` after the first MiB) can finish
/// sending it and then read the answer: the gateway closes lingering instead of resetting the
/// connection under the client's writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_sending_an_oversized_body_finishes_and_reads_the_413() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[route]]\npath = \"/hello\"\nfunction = \"{}\"\n",
        functions_dir().join("hello.js").display()
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let status = tokio::task::spawn_blocking(move || {
        let body = vec![b'x'; 8 << 20];
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let head = format!(
            "POST /hello HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // The gateway answers after the first MiB, and reads (and drops) the rest, so the whole
        // body goes out without a broken pipe.
        let wrote = stream.write_all(&body).map_err(|e| e.to_string());
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer).map_err(|e| e.to_string());
        (wrote, read, String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .unwrap();
    let (wrote, read, answer) = status;
    assert!(
        wrote.is_ok() && answer.starts_with("HTTP/1.1 413"),
        "write: {wrote:?}, read: {read:?}, answer: {:?}",
        answer.lines().next()
    );
}

/// Past `max_connections`, a new connection is answered `503 busy` and closed; the open ones are
/// served, and a freed slot takes a connection again.
#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_refused_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "[server]\nmax_connections = 2\n").await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let request = format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n");
        // Two keep-alive connections that hold their slots (each answered once).
        // (Retried while the harness's own connections are still closing.)
        let open = |n: usize| {
            let deadline = Instant::now() + crate::PATIENCE;
            loop {
                let mut stream = TcpStream::connect(&addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                stream.write_all(request.as_bytes()).unwrap();
                let mut answer = [0u8; 512];
                let got = stream.read(&mut answer).unwrap_or(0);
                let answer = String::from_utf8_lossy(&answer[..got]).into_owned();
                if answer.starts_with("HTTP/1.1 200") {
                    return stream;
                }
                assert!(Instant::now() < deadline, "connection {n}: {answer}");
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let first = open(1);
        let _second = open(2);
        let refused = raw_status(&format!("http://{addr}"), request.as_bytes());
        assert_eq!(refused, "HTTP/1.1 503 Service Unavailable");
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.contains("retry-after: 1"), "{answer}");
        assert!(
            answer.contains("\"code\":\"busy\"") && answer.contains("too many open connections"),
            "{answer}"
        );
        // A closed connection frees its slot (once the gateway has seen it close).
        drop(first);
        let deadline = Instant::now() + crate::PATIENCE;
        loop {
            let closing = request.replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n");
            let status = raw_status(&format!("http://{addr}"), closing.as_bytes());
            if status.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "no slot came free: {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
}

/// An event stream whose client stops reading is cut off after `write_timeout`: the client never
/// gets the `result` event, however long the call keeps going.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let flood = dir.path().join("flood.js");
    std::fs::write(
        &flood,
        "function handler() { const line = 'x'.repeat(16384); while (true) console.log(line) }",
    )
    .unwrap();
    let config = format!(
        "[limits]\ntimeout = \"60s\"\nmax_output = \"32MiB\"\n[server]\nwrite_timeout = \"1s\"\n[[route]]\npath = \"/flood\"\nfunction = \"{}\"\n",
        flood.display()
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let (read, answer) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let request =
            format!("GET /flood HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        // Read nothing for longer than the write timeout, with far more output waiting than the
        // sockets' buffers hold.
        std::thread::sleep(Duration::from_secs(4));
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        (read.map_err(|e| e.kind()), answer)
    })
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{:?}",
        answer.lines().next()
    );
    assert!(answer.contains("event: stdout"));
    assert!(
        !answer.contains("event: result"),
        "the stream was not cut off: {read:?}, {} bytes",
        answer.len()
    );
}
