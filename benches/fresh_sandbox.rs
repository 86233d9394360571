//! Fresh-sandbox call cost: capsa against the bare wasmtime floor, side by side in one run.
//!
//! Every variant runs the same guest with a new store and instance per call, with the pooling
//! allocator and copy-on-write memory images. Guests: `json_echo` (a Rust WASI command: JSON on stdin,
//! re-serialised on stdout) and `empty` (a `_start` that returns at once: the fixed cost of a sandbox).
//!
//! - **floor (default pool)**: wasmtime alone with its default pooling settings, synchronous,
//!   `InstancePre::instantiate` + `_start`, in-memory pipes. No deadline, no limiter, no output cap, no
//!   receipt: what a straightforward embedding gets.
//! - **floor (capsa's pool)**: the same, with the pool tuning capsa uses (dirty-page scanning, pages
//!   kept resident), so the difference to capsa is capsa's own layer.
//! - **capsa**: `Module::run` with default limits (deadline, memory limit, output cap) and a receipt.
//!
//! Run with `cargo bench` (or `make bench`). Prints p50/p99/mean per variant and the ratio to the
//! floor, and writes the same as JSON to `target/bench/fresh_sandbox.json`.

use capsa::{Call, Engine};
use wasmtime::{Config, InstanceAllocationStrategy, Linker, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

const INPUT: &str = r#"{"method":"POST","path":"/echo","query":{"n":"1"},"body":"hello, world"}"#;
const WARMUP: usize = 2_000;
const ITERATIONS: usize = 20_000;

#[path = "support.rs"]
mod support;

use support::{measure, measure_after};

fn floor(wasm: &[u8], tuned: bool) -> impl FnMut() {
    let mut pool = PoolingAllocationConfig::new();
    if tuned {
        // As `capsa::Engine` does where the kernel supports PAGEMAP_SCAN.
        pool.pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(2 << 20);
    }
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config.memory_init_cow(true);
    let engine = wasmtime::Engine::new(&config).expect("engine");
    let module = wasmtime::Module::new(&engine, wasm).expect("module");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s).expect("link");
    let pre = linker.instantiate_pre(&module).expect("pre");
    move || {
        let stdout = MemoryOutputPipe::new(1 << 20);
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(INPUT))
            .stdout(stdout.clone())
            .build_p1();
        let mut store = Store::new(&engine, wasi);
        let instance = pre.instantiate(&mut store).expect("instantiate");
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .expect("_start");
        start.call(&mut store, ()).expect("run");
        std::hint::black_box(stdout.contents());
    }
}

fn capsa(wasm: &[u8]) -> impl FnMut() {
    let engine = Engine::builder().cache_dir(None).build().expect("engine");
    let module = engine.load(wasm).expect("module");
    let call = Call::new().stdin(INPUT);
    move || {
        let receipt = module.run(call.clone()).expect("run");
        assert!(receipt.is_ok());
        std::hint::black_box(receipt);
    }
}

/// `capsa` on an engine keeping standby instances: each timed call first waits (untimed) until the
/// module's set is full again. The module is hot from its second call.
fn capsa_standby(wasm: &[u8]) -> (impl FnMut(), impl FnMut()) {
    let engine = support::standby_engine(capsa::Language::Wasm);
    let module = engine.load(wasm).expect("module");
    let call = Call::new().stdin(INPUT);
    for _ in 0..2 {
        module.run(call.clone()).expect("run");
    }
    let wait = {
        let engine = engine.clone();
        move || support::wait_for_standby(&engine, 2)
    };
    let run = move || {
        let receipt = module.run(call.clone()).expect("run");
        assert!(receipt.is_ok() && receipt.stats.standby, "{receipt:?}");
        std::hint::black_box(receipt);
    };
    (wait, run)
}

/// `capsa` with one directory grant and a disk cache: each call opens the grant without following
/// symlinks and checks it against the cache by identity (`capability::mount`).
fn capsa_with_grant(wasm: &[u8]) -> impl FnMut() {
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(home.path().join("data")).expect("data dir");
    let engine = Engine::builder()
        .cache_dir(Some(home.path().join("cache")))
        .build()
        .expect("engine");
    let module = engine.load(wasm).expect("module");
    let grant = capsa::DirGrant::new(home.path().join("data"), "/data").read_only();
    let call = Call::new()
        .stdin(INPUT)
        .grants(capsa::Grants::new().dir(grant));
    move || {
        let _home = &home;
        let receipt = module.run(call.clone()).expect("run");
        assert!(receipt.is_ok());
        std::hint::black_box(receipt);
    }
}

const EMPTY: &str = r#"(module (func (export "_start")))"#;

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: then only check that it works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let json_echo = capsa_test_programs::bytes("json_echo");
    let guests: [(&str, &[u8]); 2] = [("json_echo", &json_echo), ("empty", EMPTY.as_bytes())];
    if quick {
        for (_, wasm) in guests {
            floor(wasm, true)();
            capsa(wasm)();
            capsa_with_grant(wasm)();
            let (mut wait, mut run) = capsa_standby(wasm);
            wait();
            run();
        }
        return;
    }

    let mut results = Vec::new();
    for (guest, wasm) in guests {
        let runs = (WARMUP, ITERATIONS);
        results.push(measure(
            guest,
            "floor (default pool)",
            runs,
            floor(wasm, false),
        ));
        results.push(measure(
            guest,
            "floor (capsa's pool)",
            runs,
            floor(wasm, true),
        ));
        results.push(measure(guest, "capsa Module::run", runs, capsa(wasm)));
        let (wait, run) = capsa_standby(wasm);
        results.push(measure_after(guest, "capsa, standby", runs, wait, run));
        results.push(measure(
            guest,
            "capsa, one dir grant",
            runs,
            capsa_with_grant(wasm),
        ));
    }
    let title =
        format!("fresh sandbox per call, {ITERATIONS} calls per variant (after {WARMUP} warm-up)");
    support::report("fresh_sandbox", &title, "guest", "default floor", &results);
}
