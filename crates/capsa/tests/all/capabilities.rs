//! Deny by default: env, directories and host functions are reachable only when granted, and escape
//! attempts fail with a clear error.

use std::sync::Arc;

use capsa::{DirGrant, ErrorCode, Grants, HostError, HostFunctions};
use serde_json::json;

use crate::{assert_code, assert_still_serves, engine, quick, run_probe};

fn with(grants: Grants) -> impl FnOnce(capsa::Call) -> capsa::Call {
    move |c| c.grants(grants)
}

#[test]
fn granted_env_vars_are_visible_and_nothing_else() {
    // SAFETY: set before any thread of this test reads the environment; the name is unique to it.
    unsafe { std::env::set_var("CAPSA_TEST_HOST_SECRET", "hunter2") };
    let receipt = run_probe(
        engine(),
        &["env-all"],
        quick(),
        with(Grants::new().env("GREETING", "hi")),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text(), "GREETING=hi\n");

    let receipt = run_probe(engine(), &["env", "CAPSA_TEST_HOST_SECRET"], quick(), |c| c);
    assert_code(&receipt, ErrorCode::Exit);
    assert!(
        receipt.stderr_text().contains("not found"),
        "{}",
        receipt.stderr_text()
    );
}

#[test]
fn variables_and_arguments_with_a_nul_byte_are_refused_not_cut_short() {
    let module = crate::probe(engine());
    for grants in [
        Grants::new().env("A", "x\0y"),
        Grants::new().env("A\0B", "x"),
        Grants::new().env("A=B", "x"),
        Grants::new().env("", "x"),
    ] {
        let call = capsa::Call::new().args(["env-all"]).grants(grants);
        let err = module.run(call).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    }
    let err = module
        .run(capsa::Call::new().args(["args", "a\0b"]))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    // The same for scripts, which get variables the same way.
    let script = engine()
        .script(capsa::Language::JavaScript, "main.js", "env.A")
        .unwrap();
    let err = script
        .run(capsa::Call::new().grants(Grants::new().env("A", "x\0y")))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
}

#[test]
fn no_filesystem_without_a_grant() {
    for path in ["/etc/passwd", "../etc/passwd", ".", "/"] {
        let receipt = run_probe(engine(), &["read", path], quick(), |c| c);
        assert_code(&receipt, ErrorCode::Exit);
        assert!(!receipt.stdout_text().contains("root:"), "{path}");
    }
}

struct Mount {
    _root: tempfile::TempDir,
    inside: std::path::PathBuf,
}

/// `root/inside/data.txt` is mounted; `root/secret.txt` is outside the mount.
fn mount() -> Mount {
    let root = tempfile::tempdir().unwrap();
    let inside = root.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(inside.join("data.txt"), "inside data").unwrap();
    std::fs::write(root.path().join("secret.txt"), "top secret").unwrap();
    Mount {
        _root: root,
        inside,
    }
}

#[test]
fn a_granted_directory_can_be_read_and_written() {
    let m = mount();
    let grants = Grants::new().dir(DirGrant::new(&m.inside, "/data"));
    let receipt = run_probe(
        engine(),
        &["read", "/data/data.txt"],
        quick(),
        with(grants.clone()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text(), "inside data");

    let receipt = run_probe(
        engine(),
        &["write", "/data/new.txt", "hello"],
        quick(),
        with(grants),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        std::fs::read_to_string(m.inside.join("new.txt")).unwrap(),
        "hello"
    );
}

#[test]
fn dot_dot_and_absolute_paths_cannot_leave_the_mount() {
    let m = mount();
    let grants = Grants::new().dir(DirGrant::new(&m.inside, "/data"));
    let outside = m.inside.parent().unwrap().join("secret.txt");
    for path in [
        "/data/../secret.txt",
        "/data/./../secret.txt",
        "/data/../../../../etc/passwd",
        outside.to_str().unwrap(),
        "/etc/passwd",
    ] {
        let receipt = run_probe(engine(), &["read", path], quick(), with(grants.clone()));
        assert_code(&receipt, ErrorCode::Exit);
        let out = receipt.stdout_text();
        assert!(
            !out.contains("top secret") && !out.contains("root:"),
            "{path} leaked: {out}"
        );
    }
}

#[test]
fn a_symlink_planted_in_the_mount_cannot_lead_outside() {
    let m = mount();
    let outside = m.inside.parent().unwrap().join("secret.txt");
    std::os::unix::fs::symlink(&outside, m.inside.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc", m.inside.join("etc")).unwrap();
    let grants = Grants::new().dir(DirGrant::new(&m.inside, "/data"));
    for path in ["/data/link", "/data/etc/passwd"] {
        let receipt = run_probe(engine(), &["read", path], quick(), with(grants.clone()));
        assert_code(&receipt, ErrorCode::Exit);
        let out = receipt.stdout_text();
        assert!(
            !out.contains("top secret") && !out.contains("root:"),
            "{path} leaked: {out}"
        );
    }
}

#[test]
fn a_read_only_mount_refuses_writes() {
    let m = mount();
    let grants = Grants::new().dir(DirGrant::new(&m.inside, "/data").read_only());
    let receipt = run_probe(
        engine(),
        &["write", "/data/data.txt", "overwritten"],
        quick(),
        with(grants.clone()),
    );
    assert_code(&receipt, ErrorCode::Exit);
    assert_eq!(
        std::fs::read_to_string(m.inside.join("data.txt")).unwrap(),
        "inside data"
    );
    let receipt = run_probe(
        engine(),
        &["write", "/data/new.txt", "x"],
        quick(),
        with(grants.clone()),
    );
    assert_code(&receipt, ErrorCode::Exit);
    assert!(!m.inside.join("new.txt").exists());
    // Reading still works.
    let receipt = run_probe(engine(), &["read", "/data/data.txt"], quick(), with(grants));
    assert!(receipt.is_ok(), "{receipt:?}");
}

#[test]
fn mounting_a_missing_directory_is_invalid_input() {
    let err = crate::probe(engine())
        .run(capsa::Call::new().grants(Grants::new().dir(DirGrant::new("/no/such/dir", "/x"))))
        .expect_err("error");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.message().contains("/no/such/dir"), "{}", err.message());
}

fn math() -> HostFunctions {
    HostFunctions::new()
        .sync("add", |args| {
            let a = args["a"]
                .as_i64()
                .ok_or_else(|| HostError::invalid_input("`a` must be an integer"))?;
            let b = args["b"]
                .as_i64()
                .ok_or_else(|| HostError::invalid_input("`b` must be an integer"))?;
            Ok(json!(a + b))
        })
        .sync("fail", |_| Err(HostError::new("the database is down")))
        .sync("boom", |_| panic!("host function bug"))
        .asynchronous("upper", |args| async move {
            Ok(json!(args.as_str().unwrap_or_default().to_uppercase()))
        })
}

#[test]
fn granted_host_functions_are_called_with_json() {
    let grants = Grants::new().host_functions(math());
    let receipt = run_probe(
        engine(),
        &["call", "add", r#"{"a":2,"b":40}"#],
        quick(),
        with(grants.clone()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text().trim(), "42");
    assert_eq!(receipt.stats.host_calls, 1);
    // The name and the arguments: `add` and `{"a":2,"b":40}`.
    assert_eq!(receipt.stats.egress_bytes, 3 + 14);

    let receipt = run_probe(
        engine(),
        &["call", "upper", r#""shout""#],
        quick(),
        with(grants),
    );
    assert_eq!(receipt.stdout_text().trim(), r#""SHOUT""#);
}

#[test]
fn an_unknown_host_function_is_capability_denied() {
    let receipt = run_probe(
        engine(),
        &["call", "rm_rf", "{}"],
        quick(),
        with(Grants::new().host_functions(math())),
    );
    let message = assert_code(&receipt, ErrorCode::CapabilityDenied);
    assert!(message.contains("`rm_rf`"), "{message}");
    // The guest saw the error itself, with its code.
    assert!(
        receipt.stderr_text().contains("capability_denied"),
        "{}",
        receipt.stderr_text()
    );
    // And with no grants at all.
    let receipt = run_probe(engine(), &["call", "add", "{}"], quick(), |c| c);
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn host_function_failures_reach_the_guest_and_the_receipt() {
    let grants = Grants::new().host_functions(math());
    let receipt = run_probe(
        engine(),
        &["call", "fail", "{}"],
        quick(),
        with(grants.clone()),
    );
    let message = assert_code(&receipt, ErrorCode::HostError);
    assert!(message.contains("database is down"), "{message}");

    let receipt = run_probe(
        engine(),
        &["call", "add", r#"{"a":"x"}"#],
        quick(),
        with(grants.clone()),
    );
    assert_code(&receipt, ErrorCode::InvalidInput);

    let receipt = run_probe(engine(), &["call", "boom", "{}"], quick(), with(grants));
    let message = assert_code(&receipt, ErrorCode::HostError);
    assert!(message.contains("panicked"), "{message}");
    assert_still_serves(engine());
}

#[test]
fn async_host_calls_run_concurrently() {
    // Every call waits until all four have started: run one at a time, they would never finish.
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let functions = HostFunctions::new().asynchronous("meet", move |args| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            Ok(args)
        }
    });
    let receipt = run_probe(
        engine(),
        &["call-many", "meet", "4"],
        quick(),
        with(Grants::new().host_functions(functions)),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text().trim(), "[0,1,2,3]");
}

#[test]
fn guest_log_lines_land_in_the_receipt() {
    let receipt = run_probe(engine(), &["log", "hello from the guest"], quick(), |c| c);
    assert!(receipt.is_ok(), "{receipt:?}");
    let logs: Vec<(&str, &str)> = receipt
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(
        logs,
        [("info", "hello from the guest"), ("warn", "second line")]
    );
}

#[test]
fn arguments_and_stdin_reach_the_guest() {
    let receipt = run_probe(engine(), &["stdin"], quick(), |c| c.stdin("shout this"));
    assert_eq!(receipt.stdout_text(), "SHOUT THIS");
    let receipt = run_probe(engine(), &["args", "a b", "--c"], quick(), |c| c);
    assert_eq!(receipt.stdout_text().trim(), r#"["args","a b","--c"]"#);
}
