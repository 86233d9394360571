//! schemathesis fuzzes the gateway through its own `/openapi.json` and finds no server error.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::{Gateway, TOKEN, deploy, example};

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_errors() {
    // `make test` says where its venv is (ST_VENV); a plain `cargo test` looks in target/.
    let venv = std::env::var_os("ST_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/schemathesis-venv"),
        PathBuf::from,
    );
    let st = venv.join("bin/st");
    assert!(
        st.exists(),
        "schemathesis is missing at `{}`: `make schemathesis` installs it (`make test` does)",
        st.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_in(dir.path(), "").await;
    // Something to find behind /run/… and the registry reads.
    let r = deploy(
        &gw,
        "hello",
        json!({"language": "js", "code": example("hello.js")}),
    )
    .await;
    assert_eq!(r.status(), 201);
    // The language runtimes compile before the fuzzing starts: on a cold cache on a busy 2-core
    // machine, Python's takes longer than schemathesis' request timeout, which would be reported as
    // a network error of whichever request (run-now, a session) came first.
    let patient = reqwest::Client::builder()
        .timeout(crate::PATIENCE)
        .build()
        .unwrap();
    for language in ["js", "py"] {
        let r = patient
            .post(gw.url("/v1/run"))
            .bearer_auth(TOKEN)
            .json(&json!({"language": language, "code": "1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{language}");
    }
    let out = tokio::process::Command::new(st)
        .args([
            "run",
            &gw.url("/openapi.json"),
            "--checks",
            "not_a_server_error",
        ])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "--max-examples",
            "25",
            "--request-timeout",
            "30",
            "--seed",
            "1",
        ])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", gw.logs());
    assert!(report.contains("passed"), "{report}");
}
