//! Every limit from both sides: just over fails with its code, just under passes, and the engine
//! keeps serving.

use std::time::Duration;

use capsa::{ByteSize, Call, Engine, ErrorCode, Grants, HostFunctions, Limits};
use serde_json::json;

use crate::{assert_code, assert_still_serves, engine, fuel_engine, quick, run_probe, run_wat};

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = quick();
    f(&mut limits);
    limits
}

#[test]
fn infinite_loop_ends_at_the_deadline() {
    let receipt = run_wat(
        engine(),
        r#"(module (func (export "_start") (loop (br 0))))"#,
        limits(|l| l.timeout = "200ms".parse().unwrap()),
    );
    let message = assert_code(&receipt, ErrorCode::Timeout);
    assert!(message.contains("200ms"), "{message}");
    assert!(receipt.stats.wall_us >= 200_000, "{:?}", receipt.stats);
    assert_still_serves(engine());
}

#[test]
fn work_that_fits_the_deadline_finishes() {
    let receipt = run_probe(
        engine(),
        &["count", "1000"],
        limits(|l| l.timeout = "2s".parse().unwrap()),
        |c| c,
    );
    assert!(receipt.is_ok(), "{receipt:?}");
}

#[test]
fn a_guest_sleeping_in_wasi_ends_at_the_deadline() {
    let receipt = run_probe(
        engine(),
        &["sleep", "30000"],
        limits(|l| l.timeout = "300ms".parse().unwrap()),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert!(receipt.stats.wall_us < 5_000_000, "{:?}", receipt.stats);
    // Sleeping is not CPU time.
    assert!(receipt.stats.cpu_us < 200_000, "{:?}", receipt.stats);
    let receipt = run_probe(engine(), &["sleep", "10"], quick(), |c| c);
    assert!(receipt.is_ok(), "{receipt:?}");
}

#[test]
fn a_guest_blocked_in_a_slow_async_host_call_ends_at_the_deadline() {
    let functions = HostFunctions::new().asynchronous("slow", |_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(json!("late"))
    });
    let receipt = run_probe(
        engine(),
        &["call", "slow", "null"],
        limits(|l| l.timeout = "300ms".parse().unwrap()),
        |c| c.grants(Grants::new().host_functions(functions)),
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert!(receipt.stats.wall_us < 5_000_000, "{:?}", receipt.stats);
    assert_still_serves(engine());
}

#[test]
fn a_guest_blocked_in_a_slow_sync_host_call_ends_at_the_deadline() {
    let functions = HostFunctions::new().sync("slow", |_| {
        std::thread::sleep(Duration::from_secs(3));
        Ok(json!("late"))
    });
    let receipt = run_probe(
        engine(),
        &["call", "slow", "null"],
        limits(|l| l.timeout = "300ms".parse().unwrap()),
        |c| c.grants(Grants::new().host_functions(functions)),
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert!(receipt.stats.wall_us < 2_500_000, "{:?}", receipt.stats);
    assert_still_serves(engine());
}

#[test]
fn fuel_budget_is_exact_and_deterministic() {
    let engine = fuel_engine();
    let generous = run_probe(
        engine,
        &["count", "5000"],
        limits(|l| l.fuel = Some(100_000_000)),
        |c| c,
    );
    assert!(generous.is_ok(), "{generous:?}");
    let used = generous.stats.fuel_used.expect("fuel_used");
    assert!(used > 5000, "{used}");

    // Exactly the fuel it needs: passes, and uses the same amount again.
    let just_enough = run_probe(
        engine,
        &["count", "5000"],
        limits(|l| l.fuel = Some(used)),
        |c| c,
    );
    assert!(just_enough.is_ok(), "{just_enough:?}");
    assert_eq!(just_enough.stats.fuel_used, Some(used));

    // Fuel is checked at function entries and loop back-edges, so the boundary is exact to within the
    // last straight-line stretch of code; a tenth less is well past it.
    let short = run_probe(
        engine,
        &["count", "5000"],
        limits(|l| l.fuel = Some(used - used / 10)),
        |c| c,
    );
    assert_code(&short, ErrorCode::CpuLimitExceeded);
    assert_still_serves(engine);
}

#[test]
fn fuel_stops_an_infinite_loop() {
    let receipt = run_probe(
        fuel_engine(),
        &["spin"],
        limits(|l| l.fuel = Some(1_000_000)),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::CpuLimitExceeded);
}

#[test]
fn fuel_needs_an_engine_that_meters_it() {
    let err = crate::probe(engine())
        .run(Call::new().limits(limits(|l| l.fuel = Some(10))))
        .expect_err("error");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

/// Grows a 1-page memory by `grow` pages and traps if that fails.
const GROW: &str = r#"(module (memory 1)
    (func (export "_start")
      (if (i32.eq (memory.grow (i32.const GROW)) (i32.const -1)) (then unreachable))))"#;

#[test]
fn memory_limit_from_both_sides() {
    let module = GROW.replace("GROW", "63"); // 64 pages = 4 MiB in all
    let ok = run_wat(engine(), &module, limits(|l| l.memory = ByteSize::mib(4)));
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(ok.stats.memory_peak_bytes, 4 << 20);

    let over = run_wat(
        engine(),
        &module,
        limits(|l| l.memory = ByteSize((4 << 20) - 65536)),
    );
    let message = assert_code(&over, ErrorCode::MemoryLimitExceeded);
    assert!(message.contains("limit"), "{message}");
    assert_still_serves(engine());
}

#[test]
fn memory_grow_bomb_ends_with_memory_limit_exceeded() {
    let bomb = r#"(module (memory 1)
        (func (export "_start")
          (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
          unreachable))"#;
    let receipt = run_wat(engine(), bomb, limits(|l| l.memory = ByteSize::mib(64)));
    assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
    assert!(receipt.stats.memory_peak_bytes <= 64 << 20);
    assert_still_serves(engine());
}

#[test]
fn a_rust_guest_allocating_too_much_gets_memory_limit_exceeded() {
    let receipt = run_probe(
        engine(),
        &["alloc", "100"],
        limits(|l| l.memory = ByteSize::mib(64)),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
    let receipt = run_probe(
        engine(),
        &["alloc", "16"],
        limits(|l| l.memory = ByteSize::mib(64)),
        |c| c,
    );
    assert!(receipt.is_ok(), "{receipt:?}");
}

#[test]
fn initial_memory_over_the_limit_fails_at_instantiation() {
    let receipt = run_wat(
        engine(),
        r#"(module (memory 200) (func (export "_start")))"#,
        limits(|l| l.memory = ByteSize::mib(8)),
    );
    assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
}

#[test]
fn table_limit_from_both_sides() {
    let module = r#"(module (table 10 funcref)
        (func (export "_start")
          (if (i32.eq (table.grow (ref.null func) (i32.const 90)) (i32.const -1)) (then unreachable))))"#;
    let ok = run_wat(engine(), module, limits(|l| l.max_table_elements = 100));
    assert!(ok.is_ok(), "{ok:?}");
    let over = run_wat(engine(), module, limits(|l| l.max_table_elements = 99));
    assert_code(&over, ErrorCode::MemoryLimitExceeded);
}

#[test]
fn runaway_recursion_is_a_stack_overflow() {
    let receipt = run_probe(engine(), &["recurse", "1000000"], quick(), |c| c);
    let message = assert_code(&receipt, ErrorCode::StackOverflow);
    assert!(message.contains("1MiB"), "{message}");
    let receipt = run_probe(engine(), &["recurse", "200"], quick(), |c| c);
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_still_serves(engine());
}

#[test]
fn stack_limit_is_set_on_the_engine() {
    let small = Engine::builder()
        .cache_dir(None)
        .max_wasm_stack(128 * 1024)
        .build()
        .unwrap();
    // About 48 bytes a frame: 5,000 frames fit in 1 MiB but not in 128 KiB.
    let receipt = run_probe(&small, &["recurse", "5000"], quick(), |c| c);
    assert_code(&receipt, ErrorCode::StackOverflow);
    let receipt = run_probe(engine(), &["recurse", "5000"], quick(), |c| c);
    assert!(receipt.is_ok(), "{receipt:?}");
}

#[test]
fn output_limit_from_both_sides() {
    let cap = 10_000;
    let ok = run_probe(
        engine(),
        &["print", "10000"],
        limits(|l| l.max_output = ByteSize(cap)),
        |c| c,
    );
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(ok.stdout.len(), 10_000);
    assert!(!ok.truncated.stdout);

    let over = run_probe(
        engine(),
        &["print", "10001"],
        limits(|l| l.max_output = ByteSize(cap)),
        |c| c,
    );
    assert_code(&over, ErrorCode::OutputLimitExceeded);
    assert_eq!(over.stdout.len(), 10_000, "output is kept up to the cap");
    assert!(over.truncated.stdout);
}

#[test]
fn stdout_flood_ends_with_output_limit_exceeded() {
    let receipt = run_probe(
        engine(),
        &["flood"],
        limits(|l| l.max_output = ByteSize::mib(1)),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::OutputLimitExceeded);
    assert_eq!(receipt.stdout.len(), 1 << 20);
    assert!(receipt.truncated.stdout);
    assert_still_serves(engine());
}

fn echo_functions() -> HostFunctions {
    HostFunctions::new().asynchronous("echo", |args| async move { Ok(args) })
}

#[test]
fn host_call_limit_from_both_sides() {
    let grants = Grants::new().host_functions(echo_functions());
    let ok = run_probe(
        engine(),
        &["call-many", "echo", "5"],
        limits(|l| l.max_host_calls = 5),
        |c| c.grants(grants.clone()),
    );
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(ok.stats.host_calls, 5);

    let over = run_probe(
        engine(),
        &["call-many", "echo", "6"],
        limits(|l| l.max_host_calls = 5),
        |c| c.grants(grants.clone()),
    );
    assert_code(&over, ErrorCode::HostCallLimitExceeded);
    assert_still_serves(engine());
}

#[test]
fn host_call_spam_ends_with_host_call_limit_exceeded() {
    let grants = Grants::new().host_functions(echo_functions());
    let receipt = run_probe(
        engine(),
        &["call-loop", "echo"],
        limits(|l| l.max_host_calls = 1000),
        |c| c.grants(grants),
    );
    assert_code(&receipt, ErrorCode::HostCallLimitExceeded);
    assert_eq!(receipt.stats.host_calls, 1001);
}

#[test]
fn egress_limit_from_both_sides() {
    let grants = Grants::new().host_functions(echo_functions());
    // `call echo "xxxx"` sends the name (4 bytes) and the JSON string (6 bytes).
    let ok = run_probe(
        engine(),
        &["call", "echo", "\"xxxx\""],
        limits(|l| l.max_egress = ByteSize(10)),
        |c| c.grants(grants.clone()),
    );
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(ok.stats.egress_bytes, 10);
    let over = run_probe(
        engine(),
        &["call", "echo", "\"xxxxx\""],
        limits(|l| l.max_egress = ByteSize(10)),
        |c| c.grants(grants.clone()),
    );
    assert_code(&over, ErrorCode::HostCallLimitExceeded);
}

#[test]
fn non_zero_exit_is_reported_with_its_code() {
    let receipt = run_probe(engine(), &["exit", "7"], quick(), |c| c);
    assert_code(&receipt, ErrorCode::Exit);
    assert_eq!(receipt.exit_code, Some(7));
}

#[test]
fn a_trap_carries_a_backtrace() {
    let receipt = run_probe(engine(), &["panic"], quick(), |c| c);
    assert_code(&receipt, ErrorCode::Trap);
    let failure = receipt.error.unwrap();
    assert!(
        failure.message.contains("unreachable"),
        "{}",
        failure.message
    );
    assert!(failure.backtrace.unwrap().contains("probe"));
    assert!(String::from_utf8_lossy(&receipt.stderr).contains("on purpose"));
}

#[test]
fn many_limit_failures_in_a_row_do_not_poison_the_engine() {
    for _ in 0..20 {
        let receipt = run_probe(
            engine(),
            &["alloc", "100"],
            limits(|l| l.memory = ByteSize::mib(32)),
            |c| c,
        );
        assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
        let receipt = run_probe(engine(), &["recurse", "1000000"], quick(), |c| c);
        assert_code(&receipt, ErrorCode::StackOverflow);
    }
    assert_still_serves(engine());
}

#[test]
fn hostile_and_normal_calls_share_one_engine_concurrently() {
    let engine = engine();
    let hostile: [(&[&str], ErrorCode); 4] = [
        (&["spin"], ErrorCode::Timeout),
        (&["alloc", "100"], ErrorCode::MemoryLimitExceeded),
        (&["recurse", "1000000"], ErrorCode::StackOverflow),
        (&["flood"], ErrorCode::OutputLimitExceeded),
    ];
    let limits = limits(|l| {
        l.timeout = "300ms".parse().unwrap();
        l.memory = ByteSize::mib(32);
        l.max_output = ByteSize::mib(1);
    });
    std::thread::scope(|scope| {
        for worker in 0..6 {
            let limits = limits.clone();
            scope.spawn(move || {
                for round in 0..8 {
                    if (worker + round) % 2 == 0 {
                        let (args, code) = hostile[(worker + round) / 2 % hostile.len()];
                        let receipt = run_probe(engine, args, limits.clone(), |c| c);
                        assert_code(&receipt, code);
                    } else {
                        let tag = format!("{worker}-{round}");
                        let receipt = run_probe(engine, &["args", &tag], limits.clone(), |c| c);
                        assert!(receipt.is_ok(), "{receipt:?}");
                        assert_eq!(receipt.stdout_text().trim(), format!(r#"["args","{tag}"]"#));
                    }
                }
            });
        }
    });
    assert_still_serves(engine);
}
