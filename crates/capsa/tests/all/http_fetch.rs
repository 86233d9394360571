//! `http.fetch` against a real HTTP server on 127.0.0.1: what is granted works, everything else is
//! refused with its code, and no server can hold a call past its limits.

use std::sync::OnceLock;
use std::time::Duration;

use capsa::http::{AllowList, HostPattern, HttpCaps, HttpGrant};
use capsa::{ErrorCode, Grants, Limits};
use capsa_test_programs::HttpServer;
use serde_json::Value;

use crate::{assert_code, assert_still_serves, engine, quick, run_probe};

fn server() -> &'static HttpServer {
    static SERVER: OnceLock<HttpServer> = OnceLock::new();
    SERVER.get_or_init(HttpServer::start)
}

fn grant(entries: &[String], caps: HttpCaps) -> Grants {
    let allow = AllowList::new(entries.iter().map(|e| e.parse::<HostPattern>().unwrap()));
    Grants::new().http(HttpGrant::new(allow, caps).unwrap())
}

/// The test server's loopback address and port, granted.
fn loopback() -> Vec<String> {
    vec![format!("127.0.0.1:{}", server().port())]
}

fn fetch(grants: Grants, limits: Limits, args: &[&str]) -> capsa::Receipt {
    let mut all = vec!["fetch"];
    all.extend_from_slice(args);
    run_probe(engine(), &all, limits, |c| c.grants(grants))
}

fn json(receipt: &capsa::Receipt) -> Value {
    serde_json::from_str(receipt.stdout_text().trim())
        .unwrap_or_else(|e| panic!("{e}: {receipt:?}"))
}

#[test]
fn a_granted_host_is_fetched() {
    let receipt = fetch(
        grant(&loopback(), HttpCaps::default()),
        quick(),
        &["GET", &server().url("/hello")],
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    let response = json(&receipt);
    assert_eq!(response["status"], 200);
    assert_eq!(response["body"], "hello");
    assert_eq!(response["headers"]["content-type"], "text/plain");
    assert_eq!(receipt.stats.host_calls, 1);
}

#[test]
fn method_headers_and_body_reach_the_server() {
    let receipt = fetch(
        grant(&loopback(), HttpCaps::default()),
        quick(),
        &["POST", &server().url("/echo"), "payload"],
    );
    let response = json(&receipt);
    assert_eq!(response["body"], "payload");
    assert_eq!(response["headers"]["x-method"], "POST");
    assert!(
        response["headers"]["x-headers"]
            .as_str()
            .unwrap()
            .contains("x-probe=1")
    );
    assert!(receipt.stats.egress_bytes > 7, "the body is egress");
}

#[test]
fn a_host_not_granted_is_capability_denied() {
    let receipt = fetch(
        grant(&loopback(), HttpCaps::default()),
        quick(),
        &["GET", "http://evil.example/"],
    );
    let message = assert_code(&receipt, ErrorCode::CapabilityDenied);
    assert!(message.contains("evil.example"), "{message}");
    // No grant at all.
    let receipt = run_probe(
        engine(),
        &["fetch", "GET", &server().url("/hello")],
        quick(),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn redirects_are_checked_again() {
    let grants = grant(&loopback(), HttpCaps::default());
    // To an allowed place: followed.
    let to_hello = server().url(&format!("/redirect?to={}", server().url("/hello")));
    let receipt = fetch(grants.clone(), quick(), &["GET", &to_hello]);
    assert_eq!(json(&receipt)["body"], "hello");
    // To the cloud metadata address: refused, naming it.
    let to_metadata = server().url("/redirect?to=http://169.254.169.254/latest/meta-data/");
    let receipt = fetch(grants.clone(), quick(), &["GET", &to_metadata]);
    let message = assert_code(&receipt, ErrorCode::CapabilityDenied);
    assert!(message.contains("169.254.169.254"), "{message}");
    // To another port of the same host: not granted either.
    let to_other_port = server().url("/redirect?to=http://127.0.0.1:1/");
    let receipt = fetch(grants, quick(), &["GET", &to_other_port]);
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn a_granted_name_that_resolves_to_loopback_is_refused_unless_the_range_is_granted() {
    let port = server().port();
    let by_name = vec![format!("localhost:{port}")];
    let url = format!("http://localhost:{port}/hello");
    let receipt = fetch(
        grant(&by_name, HttpCaps::default()),
        quick(),
        &["GET", &url],
    );
    let message = assert_code(&receipt, ErrorCode::CapabilityDenied);
    assert!(message.contains("loopback"), "{message}");

    // The range must allow the request's port as well.
    let mut with_range = by_name.clone();
    with_range.push(format!("127.0.0.0/8:{port}"));
    with_range.push(format!("[::1]:{port}"));
    let receipt = fetch(
        grant(&with_range, HttpCaps::default()),
        quick(),
        &["GET", &url],
    );
    assert_eq!(json(&receipt)["body"], "hello", "{receipt:?}");
}

#[test]
fn an_endless_body_stops_at_the_response_cap() {
    let caps = HttpCaps {
        max_response_bytes: 256 * 1024,
        ..HttpCaps::default()
    };
    let receipt = fetch(
        grant(&loopback(), caps),
        quick(),
        &["GET", &server().url("/endless")],
    );
    assert_code(&receipt, ErrorCode::PayloadTooLarge);
    assert_still_serves(engine());
}

#[test]
fn a_server_that_never_answers_hits_the_fetch_timeout() {
    let caps = HttpCaps {
        total_timeout: Duration::from_millis(300),
        ..HttpCaps::default()
    };
    let receipt = fetch(
        grant(&loopback(), caps),
        quick(),
        &["GET", &server().url("/hang")],
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert!(receipt.stats.wall_us < 3_000_000, "{:?}", receipt.stats);
}

#[test]
fn a_server_that_never_answers_cannot_outlast_the_call_deadline() {
    let limits = Limits {
        timeout: "300ms".parse().unwrap(),
        ..Limits::default()
    };
    let receipt = fetch(
        grant(&loopback(), HttpCaps::default()),
        limits,
        &["GET", &server().url("/hang")],
    );
    let message = assert_code(&receipt, ErrorCode::Timeout);
    assert!(message.contains("300ms"), "the call's deadline: {message}");
    assert!(receipt.stats.wall_us < 3_000_000, "{:?}", receipt.stats);
}

#[test]
fn fetches_per_call_are_capped() {
    let caps = HttpCaps {
        max_fetches: 2,
        ..HttpCaps::default()
    };
    let grants = grant(&loopback(), caps);
    let ok = run_probe(engine(), &["call-many", "http.fetch", "2"], quick(), |c| {
        c.grants(grants.clone())
    });
    // The arguments are not fetch requests, so each call fails, but two are allowed to start.
    assert_code(&ok, ErrorCode::InvalidInput);
    let over = run_probe(engine(), &["call-many", "http.fetch", "3"], quick(), |c| {
        c.grants(grants.clone())
    });
    let message = assert_code(&over, ErrorCode::HostCallLimitExceeded);
    assert!(message.contains("2 fetches"), "{message}");
}

#[test]
fn a_request_body_over_the_cap_is_payload_too_large() {
    let caps = HttpCaps {
        max_request_bytes: 4,
        ..HttpCaps::default()
    };
    let receipt = fetch(
        grant(&loopback(), caps),
        quick(),
        &["POST", &server().url("/echo"), "12345"],
    );
    assert_code(&receipt, ErrorCode::PayloadTooLarge);
}

#[test]
fn methods_and_headers_are_checked() {
    let entries = vec![format!("127.0.0.1:{};methods=GET", server().port())];
    let receipt = fetch(
        grant(&entries, HttpCaps::default()),
        quick(),
        &["POST", &server().url("/echo"), "x"],
    );
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn a_granted_range_does_not_open_other_ports_through_a_name() {
    // An address range granted for one port used to let any name entry reach that address on any
    // port.
    let port = server().port();
    let entries = vec!["127.0.0.1:1".to_owned(), format!("localhost:{port}")];
    let url = format!("http://localhost:{port}/hello");
    let receipt = fetch(
        grant(&entries, HttpCaps::default()),
        quick(),
        &["GET", &url],
    );
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn a_redirect_loop_ends_with_host_error() {
    // The last redirect used to be returned as the response.
    let mut url = server().url("/hello");
    for _ in 0..7 {
        url = server().url(&format!("/redirect?to={url}"));
    }
    let receipt = fetch(
        grant(&loopback(), HttpCaps::default()),
        quick(),
        &["GET", &url],
    );
    let message = assert_code(&receipt, ErrorCode::HostError);
    assert!(message.contains("redirects"), "{message}");
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let other = HttpServer::start();
    let entries = vec![loopback()[0].clone(), format!("127.0.0.1:{}", other.port())];
    let grants = grant(&entries, HttpCaps::default());
    // Same origin: kept.
    let same = server().url(&format!("/redirect?to={}", server().url("/echo")));
    let receipt = fetch(grants.clone(), quick(), &["GET-AUTH", &same]);
    assert!(
        json(&receipt)["headers"]["x-headers"]
            .as_str()
            .unwrap()
            .contains("authorization=")
    );
    // Another origin: dropped.
    let cross = server().url(&format!("/redirect?to={}", other.url("/echo")));
    let receipt = fetch(grants, quick(), &["GET-AUTH", &cross]);
    let seen = json(&receipt)["headers"]["x-headers"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !seen.contains("authorization=") && seen.contains("x-probe=1"),
        "{seen}"
    );
}

#[test]
fn binary_bodies_arrive_intact() {
    let body = "bytes \u{1}\u{2}\u{7f} and text";
    let receipt = fetch(
        grant(&loopback(), HttpCaps::default()),
        quick(),
        &["POST", &server().url("/echo"), body],
    );
    assert_eq!(json(&receipt)["body"], body);
}

#[test]
fn malformed_requests_are_refused_before_anything_is_sent() {
    let grants = grant(&loopback(), HttpCaps::default());
    let url = server().url("/echo");
    let invalid = [
        format!(r#"{{"url": "{url}", "headers": {{"Host": "evil.example"}}}}"#),
        format!(r#"{{"url": "{url}", "headers": {{"content-length": "1"}}}}"#),
        format!(r#"{{"url": "{url}", "headers": {{"x-bad": 3}}}}"#),
        format!(r#"{{"url": "{url}", "headers": {{"x-bad": "line\r\nbreak"}}}}"#),
        format!(r#"{{"url": "{url}", "method": "G E T"}}"#),
        format!(r#"{{"url": "{url}", "body_base64": "not base64!"}}"#),
        format!(r#"{{"url": "{url}", "body": "a", "body_base64": "YQ=="}}"#),
        r#"{"method": "GET"}"#.to_owned(),
    ];
    for args in &invalid {
        let receipt = run_probe(engine(), &["call", "http.fetch", args], quick(), |c| {
            c.grants(grants.clone())
        });
        assert_code(&receipt, ErrorCode::InvalidInput);
    }
    let receipt = run_probe(
        engine(),
        &["call", "http.fetch", r#"{"url": "not a url"}"#],
        quick(),
        |c| c.grants(grants.clone()),
    );
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}
