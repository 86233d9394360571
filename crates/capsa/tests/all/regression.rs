//! Regression tests, each named for what it guards. Most come from a review of the first engine: every
//! one of them crashed the host, bypassed a limit or misreported a failure before its fix.

use capsa::{
    ArtifactSource, ByteSize, Call, DirGrant, Engine, ErrorCode, FunctionArgs, Grants, Limits,
};

use crate::{assert_code, assert_still_serves, engine, quick, run_wat};

#[test]
fn memory64_growth_near_2_pow_64_is_refused_not_an_overflow() {
    // The limiter added the guest's desired size to its running total: a 64-bit memory asking for
    // 2^48 pages overflowed (a panic in debug, a wrapped total and no limit in release).
    let wat = r#"(module (memory i64 1)
        (func (export "_start")
          (if (i64.ne (memory.grow (i64.const 0xffffffffffff)) (i64.const -1)) (then unreachable))
          (if (i64.eq (memory.grow (i64.const 15)) (i64.const -1)) (then unreachable))))"#;
    let receipt = run_wat(engine(), wat, quick());
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stats.memory_peak_bytes, 16 * 65536);
    assert_still_serves(engine());
}

#[test]
fn growth_refused_by_the_declared_maximum_is_not_counted() {
    // The limiter approves first and wasmtime checks the memory's own maximum after; the refused
    // growth used to stay in the total and the peak.
    let wat = r#"(module (memory 1 2)
        (func (export "_start")
          (if (i32.ne (memory.grow (i32.const 5)) (i32.const -1)) (then unreachable))
          (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))))"#;
    let receipt = run_wat(engine(), wat, quick());
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stats.memory_peak_bytes, 2 * 65536);
}

/// A module that calls `call_start` with a name of `len` bytes, `times` times, reading nothing back.
fn call_start_wat(len: u32, times: u32) -> String {
    format!(
        r#"(module
          (import "capsa" "call_start" (func $start (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 4)
          (data (i32.const 0) "echo")
          (data (i32.const 256) "null")
          (func (export "_start") (local $i i32)
            (loop $again
              (drop (call $start (i32.const 0) (i32.const {len}) (i32.const 256) (i32.const 4)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $again (i32.lt_u (local.get $i) (i32.const {times}))))))"#
    )
}

#[test]
fn a_huge_host_function_name_traps_instead_of_filling_host_memory() {
    let receipt = run_wat(engine(), &call_start_wat(200_000, 10), quick());
    let message = assert_code(&receipt, ErrorCode::Trap);
    assert!(message.contains("longer than 256 bytes"), "{message}");
}

#[test]
fn unread_host_calls_are_capped() {
    // Started and never read, results used to pile up until max_host_calls (10,000).
    let receipt = run_wat(engine(), &call_start_wat(4, 1000), quick());
    let message = assert_code(&receipt, ErrorCode::HostCallLimitExceeded);
    assert!(message.contains("not read"), "{message}");
    assert_eq!(receipt.stats.host_calls, 32);
}

#[test]
fn a_flood_of_empty_log_lines_hits_the_output_cap() {
    // Empty lines cost nothing against the cap and were kept without bound.
    let wat = r#"(module
        (import "capsa" "log" (func $log (param i32 i32 i32)))
        (memory (export "memory") 1)
        (func (export "_start") (loop $again (call $log (i32.const 2) (i32.const 0) (i32.const 0)) (br $again))))"#;
    let limits = Limits {
        max_output: ByteSize(64 * 1024),
        ..quick()
    };
    let receipt = run_wat(engine(), wat, limits);
    assert_code(&receipt, ErrorCode::OutputLimitExceeded);
    assert_eq!(receipt.logs.len(), 1024);
    assert!(receipt.truncated.logs);
}

#[test]
fn an_enormous_timeout_is_invalid_input_not_a_panic() {
    for timeout in ["10000000000000000000s", "192h"] {
        let limits = Limits {
            timeout: timeout.parse().unwrap(),
            ..Limits::default()
        };
        let err = crate::probe(engine())
            .run(Call::new().limits(limits))
            .expect_err("refused");
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{timeout}");
    }
    let limits: Limits = serde_json::from_str(r#"{"timeout": 18446744073709551615}"#).unwrap();
    let err = crate::probe(engine())
        .run(Call::new().limits(limits))
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[test]
fn a_mount_overlapping_the_artifact_cache_is_refused() {
    // A guest with write access to the cache could plant native code for the host to run.
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join(".cache/capsa");
    let engine = Engine::builder()
        .cache_dir(Some(cache.clone()))
        .build()
        .unwrap();
    let probe = engine.load(&capsa_test_programs::bytes("probe")).unwrap();
    for mount in [
        home.path().to_path_buf(),
        home.path().join(".cache"),
        cache.clone(),
        engine.cache_dir().unwrap().to_path_buf(),
    ] {
        let call = Call::new()
            .args(["ls", "/m"])
            .grants(Grants::new().dir(DirGrant::new(&mount, "/m")));
        let err = probe.run(call).expect_err("refused");
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{}", mount.display());
        assert!(
            err.message().contains("artifact cache"),
            "{}",
            err.message()
        );
    }
    // A sibling directory is fine.
    std::fs::create_dir(home.path().join("data")).unwrap();
    let call = Call::new()
        .args(["ls", "/m"])
        .grants(Grants::new().dir(DirGrant::new(home.path().join("data"), "/m")));
    assert!(probe.run(call).unwrap().is_ok());
}

#[test]
fn a_cache_entry_copied_under_another_modules_name_is_not_used() {
    // An intact artifact and its checksum, renamed to another module's digest, used to load and run
    // the other module's code.
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .cache_dir(Some(dir.path().join("cache")))
        .build()
        .unwrap();
    let a = br#"(module (func (export "_start") unreachable))"#;
    let b = br#"(module (func (export "_start")))"#;
    let digest_a = engine.load(a).unwrap().digest();
    let digest_b = engine.load(b).unwrap().digest();
    let cache = engine.cache_dir().unwrap();
    for ext in ["cwasm", "b3"] {
        std::fs::copy(
            cache.join(format!("{digest_a}.{ext}")),
            cache.join(format!("{digest_b}.{ext}")),
        )
        .unwrap();
    }
    let fresh = Engine::builder()
        .cache_dir(Some(dir.path().join("cache")))
        .build()
        .unwrap();
    let module = fresh.load(b).unwrap();
    assert_eq!(module.artifact_source(), ArtifactSource::Compiled);
    assert!(module.run(Call::new()).unwrap().is_ok(), "ran b, not a");
}

#[test]
fn string_abi_mistakes_of_the_module_are_invalid_module() {
    // An `alloc` handing out pointers outside memory, and a string result outside memory, used to be
    // reported as traps (and the result's length was allocated before the bounds check).
    let wat = r#"(module (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) i32.const -16)
        (func (export "bad_alloc") (param i32 i32))
        (func (export "bad_result") (result i64) i64.const 0xfff00000ffffffff))"#;
    let module = engine().load(wat.as_bytes()).unwrap();
    for func in ["bad_alloc", "bad_result"] {
        let args = if func == "bad_alloc" {
            vec!["x".to_owned()]
        } else {
            vec![]
        };
        let receipt = module
            .run(Call::new().function(func, FunctionArgs::Strings(args)))
            .unwrap();
        assert_code(&receipt, ErrorCode::InvalidModule);
    }
}

#[test]
fn the_first_cause_wins_between_a_host_failure_and_a_refused_growth() {
    // A refused memory growth used to win even when a host call had failed first.
    let wat = r#"(module
        (import "capsa" "call_start" (func $start (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "nope")
        (func (export "_start")
          (drop (call $start (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0)))
          (drop (memory.grow (i32.const 60000)))
          unreachable))"#;
    let receipt = run_wat(engine(), wat, quick());
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn unread_host_call_results_are_capped_in_bytes() {
    // Results wait on the host, outside the sandbox's memory limit, until the guest reads them: a
    // guest that waits on many large results and reads none used to hold gigabytes of host memory.
    let big =
        capsa::HostFunctions::new().sync("big", |_| Ok(serde_json::json!("x".repeat(3 << 20))));
    let wat = r#"(module
        (import "capsa" "call_start" (func $start (param i32 i32 i32 i32) (result i32)))
        (import "capsa" "call_wait" (func $wait (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "big")
        (data (i32.const 16) "null")
        (func (export "_start") (local $i i32)
          (loop $start_all
            (drop (call $start (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $start_all (i32.lt_u (local.get $i) (i32.const 30))))
          (local.set $i (i32.const 1))
          (loop $wait_all
            (drop (call $wait (local.get $i) (i32.const 64)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $wait_all (i32.le_u (local.get $i) (i32.const 30))))))"#;
    let receipt = engine()
        .load(wat.as_bytes())
        .unwrap()
        .run(
            Call::new()
                .limits(quick())
                .grants(Grants::new().host_functions(big)),
        )
        .unwrap();
    let message = assert_code(&receipt, ErrorCode::HostCallLimitExceeded);
    assert!(message.contains("not yet read"), "{message}");
}

#[test]
fn run_inside_an_async_runtime_is_invalid_input_not_a_panic() {
    // `block_on` inside a runtime panics in tokio; `Module::run` refuses instead and points to
    // `run_async`, which works there.
    let module = crate::probe(engine());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let err = module
            .run(Call::new().args(["args", "x"]))
            .expect_err("refused");
        assert_eq!(err.code(), ErrorCode::InvalidInput);
        assert!(err.message().contains("run_async"), "{}", err.message());
        let receipt = module
            .run_async(Call::new().args(["args", "x"]))
            .await
            .unwrap();
        assert!(receipt.is_ok(), "{receipt:?}");
    });
}

#[test]
fn the_instance_limit_is_enforced() {
    let limits = Limits {
        max_instances: 0,
        ..quick()
    };
    let receipt = run_wat(engine(), r#"(module (func (export "_start")))"#, limits);
    assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
    assert_still_serves(engine());
}
