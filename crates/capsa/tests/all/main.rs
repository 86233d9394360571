//! Integration tests of the `capsa` library, in one binary so the suite links once.

mod cache;
mod capabilities;
mod files;
mod functions;
mod http_allowlist;
mod http_component;
mod http_fetch;
mod isolation;
mod javascript;
mod kv;
mod limits;
mod python;
mod regression;
mod scripts;
mod sessions;
mod snapshot;
mod standby;
mod syntax;

use std::sync::OnceLock;

use capsa::{Call, Engine, Limits, Module, Receipt};

/// One shared engine (no disk cache) for tests that need nothing special.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::builder().cache_dir(None).build().expect("engine"))
}

/// One shared engine with fuel metering.
pub fn fuel_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::builder()
            .cache_dir(None)
            .cpu_budget(true)
            .build()
            .expect("engine")
    })
}

/// The `probe` test program on `engine`.
pub fn probe(engine: &Engine) -> Module {
    engine
        .load(&capsa_test_programs::bytes("probe"))
        .expect("load probe")
}

/// Runs `probe` with `args`, the given limits and the call tweaks in `f`.
pub fn run_probe(
    engine: &Engine,
    args: &[&str],
    limits: Limits,
    f: impl FnOnce(Call) -> Call,
) -> Receipt {
    let call = f(Call::new().args(args.iter().copied()).limits(limits));
    probe(engine).run(call).expect("run probe")
}

/// Runs a module given as WAT text (its `_start`) with `limits`.
pub fn run_wat(engine: &Engine, wat: &str, limits: Limits) -> Receipt {
    engine
        .load(wat.as_bytes())
        .expect("load")
        .run(Call::new().limits(limits))
        .expect("run")
}

/// Host functions for script tests: `add` ({a, b} → a + b), `fail` (always a `host_error`) and
/// `slow` (echoes its arguments after 300 ms, asynchronously).
pub fn host_functions() -> capsa::Grants {
    use serde_json::json;
    capsa::Grants::new().host_functions(
        capsa::HostFunctions::new()
            .sync("add", |args| {
                let a = args["a"].as_i64().unwrap_or(0);
                let b = args["b"].as_i64().unwrap_or(0);
                Ok(json!(a + b))
            })
            .sync("fail", |_| Err(capsa::HostError::new("it broke")))
            .asynchronous("slow", |args| async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                Ok(args)
            }),
    )
}

/// Limits with a short deadline, so a test that goes wrong fails fast.
pub fn quick() -> Limits {
    Limits {
        timeout: "5s".parse().unwrap(),
        ..Limits::default()
    }
}

/// A shorter deadline still, on the default limits, for tests that wait for it.
pub fn short() -> Limits {
    Limits {
        timeout: "1s".parse().unwrap(),
        ..Limits::default()
    }
}

/// The exception a script's failed receipt carries.
#[track_caller]
pub fn exception(receipt: &Receipt) -> &capsa::Exception {
    receipt
        .error
        .as_ref()
        .and_then(|e| e.exception.as_ref())
        .unwrap_or_else(|| panic!("no exception in {receipt:?}"))
}

/// After a limit was hit, the same engine must still serve a normal call.
pub fn assert_still_serves(engine: &Engine) {
    let receipt = run_probe(engine, &["args", "ok"], quick(), |c| c);
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text().trim(), r#"["args","ok"]"#);
}

/// Asserts the receipt failed with `code` and returns its message.
#[track_caller]
pub fn assert_code(receipt: &Receipt, code: capsa::ErrorCode) -> String {
    let failure = receipt.error.as_ref().unwrap_or_else(|| {
        panic!(
            "expected `{code}`, the call succeeded: {}",
            receipt.stdout_text()
        )
    });
    assert_eq!(
        failure.code,
        code,
        "{failure:?}\nstderr: {}",
        receipt.stderr_text()
    );
    failure.message.clone()
}
