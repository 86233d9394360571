//! Fresh-sandbox call cost: capsa against the bare wasmtime floor, side by side in one run.
//!
//! Both run the same `json_echo` guest (a Rust WASI command: JSON on stdin, re-serialised on stdout)
//! with a new store and instance per call, from the same compiled code, with the pooling allocator and
//! copy-on-write memory images:
//!
//! - **floor**: wasmtime alone, synchronous, `InstancePre::instantiate` + `_start`, in-memory pipes. No
//!   deadline, no limiter, no output cap, no receipt: the least any embedder can do.
//! - **capsa**: `Module::run` with default limits (deadline, memory limit, output cap) and a receipt.
//!
//! Run with `cargo bench` (or `make bench`). Prints p50/p99/mean per variant and the ratio to the
//! floor, and writes the same as JSON to `target/bench/fresh_sandbox.json`.

use std::time::{Duration, Instant};

use capsa::{Call, Engine};
use wasmtime::{Config, InstanceAllocationStrategy, Linker, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

const INPUT: &str = r#"{"method":"POST","path":"/echo","query":{"n":"1"},"body":"hello, world"}"#;
const WARMUP: usize = 2_000;
const ITERATIONS: usize = 20_000;

struct Summary {
    name: &'static str,
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn measure(name: &'static str, mut f: impl FnMut()) -> Summary {
    for _ in 0..WARMUP {
        f();
    }
    let mut samples = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let began = Instant::now();
        f();
        samples.push(began.elapsed());
    }
    samples.sort_unstable();
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Summary {
        name,
        p50: pick(0.50),
        p99: pick(0.99),
        mean: samples.iter().sum::<Duration>() / samples.len() as u32,
    }
}

fn floor(wasm: &[u8]) -> impl FnMut() {
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(
        PoolingAllocationConfig::new(),
    ));
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
        assert_eq!(stdout.contents().len(), INPUT.len());
    }
}

fn capsa(wasm: &[u8]) -> impl FnMut() {
    let engine = Engine::builder().cache_dir(None).build().expect("engine");
    let module = engine.load(wasm).expect("module");
    let call = Call::new().stdin(INPUT);
    move || {
        let receipt = module.run(call.clone()).expect("run");
        assert!(receipt.is_ok());
        assert_eq!(receipt.stdout.len(), INPUT.len());
    }
}

fn main() {
    // `cargo test --benches` runs this binary with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let wasm = capsa_test_programs::bytes("json_echo");
    if quick {
        floor(&wasm)();
        capsa(&wasm)();
        return;
    }
    let floor = measure("wasmtime floor", floor(&wasm));
    let capsa = measure("capsa Module::run", capsa(&wasm));

    println!("fresh sandbox, json_echo guest, {ITERATIONS} calls each (after {WARMUP} warm-up)");
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>12}",
        "variant", "p50", "p99", "mean", "p50 vs floor"
    );
    let mut json = Vec::new();
    for s in [&floor, &capsa] {
        let ratio = s.p50.as_secs_f64() / floor.p50.as_secs_f64();
        println!(
            "{:<20} {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>11.2}x",
            s.name,
            s.p50.as_secs_f64() * 1e6,
            s.p99.as_secs_f64() * 1e6,
            s.mean.as_secs_f64() * 1e6,
            ratio
        );
        json.push(serde_json::json!({
            "variant": s.name,
            "p50_us": s.p50.as_secs_f64() * 1e6,
            "p99_us": s.p99.as_secs_f64() * 1e6,
            "mean_us": s.mean.as_secs_f64() * 1e6,
            "p50_ratio_to_floor": ratio,
        }));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(
            dir.join("fresh_sandbox.json"),
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        );
    }
}
