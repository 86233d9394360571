//! Standby instances: a call that takes one sees nothing of any earlier call, gets its own data
//! (arguments, environment, stdin, grants, limits), and the set is capped and refilled.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use capsa::{
    ByteSize, Call, DirGrant, Engine, ErrorCode, FunctionArgs, Grants, Language, Limits, Receipt,
    StandbyLimits,
};
use serde_json::json;

/// One engine keeping two standby instances per hot module.
fn standby_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::builder()
            .cache_dir(None)
            .standby(StandbyLimits::DEFAULT_ON)
            .build()
            .expect("engine")
    })
}

/// Calls `call` until a call runs in a standby instance (the set refills in the background), and
/// returns that call's receipt.
fn in_standby(mut call: impl FnMut() -> Receipt) -> Receipt {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let receipt = call();
        if receipt.stats.standby {
            return receipt;
        }
        assert!(
            Instant::now() < deadline,
            "no call ran in a standby instance: {receipt:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `engine` holds `count` standby instances.
fn held(engine: &Engine, count: usize) -> (usize, u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = engine.standby_held();
        if held.0 == count || Instant::now() > deadline {
            return held;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes a secret into its memory, a global and a table, after reporting what it found there.
const SECRETS: &str = r#"(module
    (memory (export "memory") 1)
    (global $g (mut i32) (i32.const 0))
    (table $t 1 funcref)
    (func $f)
    (elem declare func $f)
    (func (export "peek_and_poke") (result i32 i32 i32)
        (i32.load (i32.const 64))
        (global.get $g)
        (ref.is_null (table.get $t (i32.const 0)))
        (i32.store (i32.const 64) (i32.const 0x5ec12e7))
        (global.set $g (i32.const 42))
        (table.set $t (i32.const 0) (ref.func $f))))"#;

#[test]
fn a_standby_wasm_instance_sees_nothing_of_an_earlier_call() {
    let module = standby_engine().load(SECRETS.as_bytes()).unwrap();
    let peek = || {
        module
            .run(Call::new().function("peek_and_poke", FunctionArgs::Numbers(Vec::new())))
            .unwrap()
    };
    let first = peek();
    assert!(!first.stats.standby, "a module is hot from its second call");
    let receipt = in_standby(peek);
    assert!(receipt.is_ok(), "{receipt:?}");
    // Memory 0, global 0, table slot still null: as in a fresh instance.
    assert_eq!(receipt.result, Some(json!([0, 0, 1])));
    assert_eq!(receipt.stats.instantiate_us, 0);
    assert!(receipt.stats.standby_wait_us.is_some());
}

#[test]
fn a_standby_javascript_instance_sees_nothing_of_an_earlier_call() {
    let script = standby_engine()
        .script(
            Language::JavaScript,
            "main.js",
            "const seen = globalThis.secret ?? 'nothing'; globalThis.secret = 'hunter2'; seen",
        )
        .unwrap();
    let receipt = in_standby(|| script.run(Call::new()).unwrap());
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!("nothing")));
}

#[test]
fn a_standby_python_instance_sees_nothing_of_an_earlier_call() {
    let script = standby_engine()
        .script(
            Language::Python,
            "main.py",
            "import sys\nseen = getattr(sys, 'secret', 'nothing')\nsys.secret = 'hunter2'\nseen",
        )
        .unwrap();
    let receipt = in_standby(|| script.run(Call::new()).unwrap());
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!("nothing")));
}

#[test]
fn a_standby_call_gets_its_own_arguments_environment_stdin_and_grants() {
    let engine = standby_engine();
    let probe = crate::probe(engine);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note"), "from the host").unwrap();
    let run = |args: &[&str], f: &dyn Fn(Call) -> Call| {
        in_standby(|| {
            probe
                .run(f(Call::new().args(args.iter().copied())))
                .unwrap()
        })
    };
    let receipt = run(&["args", "x", "y"], &|c| c);
    assert_eq!(receipt.stdout, b"[\"args\",\"x\",\"y\"]\n");
    let receipt = run(&["env", "WHO"], &|c| {
        c.grants(Grants::new().env("WHO", "ada"))
    });
    assert_eq!(receipt.stdout, b"ada\n");
    let receipt = run(&["stdin"], &|c| c.stdin("shout"));
    assert_eq!(receipt.stdout, b"SHOUT");
    let grant = DirGrant::new(dir.path(), "/data").read_only();
    let receipt = run(&["read", "/data/note"], &|c| {
        c.grants(Grants::new().dir(grant.clone()))
    });
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout, b"from the host");
    // Without the grant, the same standby-served module reaches no file.
    let receipt = run(&["read", "/data/note"], &|c| c);
    assert!(!receipt.is_ok(), "{receipt:?}");
}

#[test]
fn the_set_refills_after_each_call_without_waiting_for_more_traffic() {
    // Its own engine: the count it waits for is the engine's.
    let engine = Engine::builder()
        .cache_dir(None)
        .standby(StandbyLimits::DEFAULT_ON)
        .build()
        .unwrap();
    let module = engine
        .load(br#"(module (func (export "_start")))"#)
        .unwrap();
    module.run(Call::new()).unwrap();
    module.run(Call::new()).unwrap();
    // Calls in quick succession, each followed by no other: the set is full again after each one
    // (a refill that raced with a call used to leave it short until the next call came).
    for _ in 0..20 {
        assert_eq!(held(&engine, 2).0, 2);
        let receipt = module.run(Call::new()).unwrap();
        assert!(receipt.is_ok() && receipt.stats.standby, "{receipt:?}");
    }
}

#[test]
fn a_call_hitting_its_limits_leaves_the_standby_set_untouched() {
    let script = standby_engine()
        .script(
            Language::JavaScript,
            "main.js",
            "const seen = globalThis.mark ?? 0; globalThis.mark = 1; seen",
        )
        .unwrap();
    let bomb = standby_engine()
        .script(
            Language::JavaScript,
            "main.js",
            "globalThis.mark = 2; for (;;) {}",
        )
        .unwrap();
    let short = Limits {
        timeout: capsa::HumanDuration(Duration::from_millis(50)),
        ..Limits::default()
    };
    let timed_out = in_standby(|| bomb.run(Call::new().limits(short.clone())).unwrap());
    assert_eq!(timed_out.error.unwrap().code, ErrorCode::Timeout);
    let after = in_standby(|| script.run(Call::new()).unwrap());
    assert_eq!(after.result, Some(json!(0)), "{after:?}");
}

#[test]
fn a_call_with_tighter_limits_than_a_standby_instance_instantiates_fresh() {
    let engine = standby_engine();
    let script = engine.script(Language::Python, "main.py", "1 + 1").unwrap();
    in_standby(|| script.run(Call::new()).unwrap());
    // CPython's memory alone is over 4 MiB: the standby instance does not fit, and the call meets
    // its limit exactly as a fresh one would.
    let tight = Limits {
        memory: ByteSize::mib(4),
        ..Limits::default()
    };
    let receipt = script.run(Call::new().limits(tight)).unwrap();
    assert!(!receipt.stats.standby, "{receipt:?}");
    assert_eq!(
        receipt.error.map(|e| e.code),
        Some(ErrorCode::MemoryLimitExceeded)
    );
}

#[test]
fn a_module_whose_instantiation_runs_code_never_gets_standby_instances() {
    // A start function runs at instantiation, so it cannot be made ahead: every call is fresh and
    // the start function runs in each, with the call's own output.
    let module = standby_engine()
        .load(
            br#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "started\n")
            (func $start
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 8))
                (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
            (start $start)
            (func (export "_start")))"#,
        )
        .unwrap();
    for _ in 0..20 {
        let receipt = module.run(Call::new()).unwrap();
        assert!(receipt.is_ok(), "{receipt:?}");
        assert!(!receipt.stats.standby);
        assert_eq!(receipt.stdout, b"started\n");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_standby_budget_caps_count_and_memory_and_refills_after_a_burst() {
    // Room for one JavaScript instance's memory, not two.
    let one = {
        let probe = Engine::builder().cache_dir(None).build().unwrap();
        let receipt = probe
            .script(Language::JavaScript, "main.js", "1")
            .unwrap()
            .run(Call::new())
            .unwrap();
        receipt.stats.memory_peak_bytes
    };
    let engine = Engine::builder()
        .cache_dir(None)
        .standby(StandbyLimits {
            per_module: 4,
            max_memory: ByteSize(one + one / 2),
        })
        .build()
        .unwrap();
    let script = engine.script(Language::JavaScript, "main.js", "1").unwrap();
    // Filled on a runtime of the test's own, which must outlive the filling.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { engine.warm_standby(Language::JavaScript).unwrap() });
    assert_eq!(held(&engine, 1), (1, one));
    // A burst drains it; it is refilled to the cap, never past it.
    for _ in 0..10 {
        assert!(script.run(Call::new()).unwrap().is_ok());
    }
    assert_eq!(held(&engine, 1), (1, one));
    let off = Engine::builder().cache_dir(None).build().unwrap();
    let script = off.script(Language::JavaScript, "main.js", "1").unwrap();
    for _ in 0..3 {
        let receipt = script.run(Call::new()).unwrap();
        assert!(!receipt.stats.standby);
        assert_eq!(receipt.stats.standby_wait_us, None);
    }
    assert_eq!(off.standby_held(), (0, 0));
}

#[test]
fn a_standby_python_call_sees_its_own_environment() {
    // CPython's component runs its own start code when instantiated, ahead of the call: the
    // environment it reads is still the call's.
    let script = standby_engine()
        .script(
            Language::Python,
            "main.py",
            "import os\nos.environ.get('WHO')",
        )
        .unwrap();
    for who in ["ada", "grace"] {
        let receipt = in_standby(|| {
            script
                .run(Call::new().grants(Grants::new().env("WHO", who)))
                .unwrap()
        });
        assert_eq!(receipt.result, Some(json!(who)), "{receipt:?}");
    }
}
