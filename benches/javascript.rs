//! JavaScript in fresh sandboxes: capsa against the raw wasm floor and `node -e`, side by side in one run.
//!
//! Scripts: `1 + 2`; a handler call (`handler(request)` building a JSON response); a CPU-bound sieve of
//! Eratosthenes to 100,000. Variants:
//!
//! - **capsa**: `Script::run` / `Script::handle` with default limits, a fresh sandbox per call, from
//!   the pre-initialised runtime;
//! - **session**: the same code evaluated again in one `Session` (`eval`), and as bytecode compiled once
//!   (`eval_compiled`): what a REPL or an agent pays per step;
//! - **raw wasm floor**: bare wasmtime (capsa's pool tuning, no deadline, no limits, no receipt)
//!   instantiating the same pre-initialised runtime and calling its `run` export with the same request;
//! - **node -e**: a whole `node -e` process per call, as a user without capsa would run a snippet.
//!
//! Run with `make bench-js` (or `cargo bench -p capsa --bench javascript`). Prints p50/p99/mean and the
//! ratio to capsa, and writes the same as JSON to `target/bench/javascript.json`.

use std::process::Command;

use capsa::{Call, Engine, Language};
use serde_json::json;
use wasmtime::{Config, InstanceAllocationStrategy, Linker, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

const SIEVE: &str = "function sieve(n) {\n  const composite = new Uint8Array(n + 1);\n  let count = 0;\n  for (let i = 2; i <= n; i++) {\n    if (!composite[i]) {\n      count++;\n      for (let j = i * i; j <= n; j += i) composite[j] = 1;\n    }\n  }\n  return count;\n}\nsieve(100000)";
const HANDLER: &str = "function handler(request) {\n  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hello: request.query.name, path: request.path }) };\n}";

#[path = "support.rs"]
mod support;

use support::{measure, measure_after};

fn request() -> serde_json::Value {
    json!({"method": "GET", "path": "/hello", "query": {"name": "ada"}, "headers": {}, "body": ""})
}

/// Bare wasmtime running the runtime's `run` export with one request, fresh instance per call. With
/// `epochs`, the guest's code has the epoch checks capsa's deadlines need (but no deadline is armed).
fn floor(runtime: &[u8], request: String, epochs: bool) -> impl FnMut() {
    let mut pool = PoolingAllocationConfig::new();
    pool.pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(2 << 20);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config.memory_init_cow(true).epoch_interruption(epochs);
    let engine = wasmtime::Engine::new(&config).expect("engine");
    let module = wasmtime::Module::new(&engine, runtime).expect("module");
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| s).expect("link");
    linker
        .define_unknown_imports_as_traps(&module)
        .expect("capsa imports");
    let pre = linker.instantiate_pre(&module).expect("pre");
    move || {
        let mut store = Store::new(&engine, WasiCtxBuilder::new().build_p1());
        store.set_epoch_deadline(u64::MAX);
        let instance = pre.instantiate(&mut store).expect("instantiate");
        let memory = instance.get_memory(&mut store, "memory").expect("memory");
        let alloc = instance
            .get_typed_func::<u32, u32>(&mut store, "alloc")
            .expect("alloc");
        let run = instance
            .get_typed_func::<(u32, u32), u64>(&mut store, "run")
            .expect("run");
        let ptr = alloc.call(&mut store, request.len() as u32).expect("alloc");
        memory
            .write(&mut store, ptr as usize, request.as_bytes())
            .expect("write");
        let packed = run
            .call(&mut store, (ptr, request.len() as u32))
            .expect("run");
        let (at, len) = ((packed >> 32) as usize, packed as u32 as usize);
        let answer = &memory.data(&store)[at..at + len];
        assert!(
            answer.starts_with(br#"{"ok":true"#),
            "{}",
            String::from_utf8_lossy(answer)
        );
    }
}

fn node(code: String) -> Option<impl FnMut()> {
    Command::new("node").arg("--version").output().ok()?;
    Some(move || {
        let out = Command::new("node")
            .arg("-e")
            .arg(&code)
            .output()
            .expect("node");
        assert!(out.status.success());
    })
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: then only check that it works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let engine = Engine::builder().cache_dir(None).build().expect("engine");
    let runtime = Language::JavaScript
        .runtime_wasm()
        .expect("runtime")
        .expect("JavaScript has a runtime");
    let fast = if quick { (0, 1) } else { (1_000, 10_000) };
    let slow = if quick { (0, 1) } else { (3, 30) };
    let process = if quick { (0, 1) } else { (2, 20) };

    let one_plus_two = engine
        .script(Language::JavaScript, "main.js", "1 + 2")
        .unwrap();
    let handler = engine
        .script(Language::JavaScript, "main.js", HANDLER)
        .unwrap();
    let sieve = engine
        .script(Language::JavaScript, "main.js", SIEVE)
        .unwrap();
    let eval_request = |code: &str| {
        json!({"op": "eval", "code": code, "file": "main.js", "memory_limit": 256u64 << 20})
            .to_string()
    };
    let mut handler_request =
        json!({"op": "handler", "code": HANDLER, "file": "main.js", "memory_limit": 256u64 << 20});
    handler_request["request"] = request();

    let mut session = engine.session(Language::JavaScript, Call::new()).unwrap();
    let compiled = session.compile("1 + 2").unwrap();
    let standby = support::standby_engine(Language::JavaScript);
    let standby_one_plus_two = standby
        .script(Language::JavaScript, "main.js", "1 + 2")
        .unwrap();
    let standby_handler = standby
        .script(Language::JavaScript, "main.js", HANDLER)
        .unwrap();
    // Each timed call finds the set full again, as a call does that arrives after the refill.
    let refilled = || support::wait_for_standby(&standby, 2);
    let mut results = Vec::new();

    let script = "1 + 2";
    results.push(measure(script, "capsa fresh sandbox", fast, || {
        let r = one_plus_two.run(Call::new()).unwrap();
        assert_eq!(r.result, Some(json!(3)), "{r:?}");
    }));
    results.push(measure_after(
        script,
        "capsa fresh, standby",
        fast,
        refilled,
        || {
            let r = standby_one_plus_two.run(Call::new()).unwrap();
            assert!(r.stats.standby, "{r:?}");
        },
    ));
    results.push(measure(script, "capsa session eval", fast, || {
        assert!(session.eval("1 + 2").unwrap().is_ok());
    }));
    results.push(measure(script, "capsa session bytecode", fast, || {
        assert!(session.eval_compiled(&compiled).unwrap().is_ok());
    }));
    results.push(measure(
        script,
        "raw wasm floor",
        fast,
        floor(&runtime, eval_request("1 + 2"), false),
    ));
    results.push(measure(
        script,
        "raw floor + epoch checks",
        fast,
        floor(&runtime, eval_request("1 + 2"), true),
    ));
    if let Some(node) = node("console.log(1 + 2)".into()) {
        results.push(measure(script, "node -e", process, node));
    }

    let script = "handler";
    results.extend(support::handler_fresh_and_standby(
        script,
        fast,
        &handler,
        (&standby, &standby_handler),
        &request(),
    ));
    if !quick {
        results.push(support::refill(script, Language::JavaScript, 64));
    }
    results.push(measure(
        script,
        "raw wasm floor",
        fast,
        floor(&runtime, handler_request.to_string(), false),
    ));
    let node_handler = format!(
        "{HANDLER}\nconsole.log(JSON.stringify(handler({})))",
        request()
    );
    if let Some(node) = node(node_handler) {
        results.push(measure(script, "node -e", process, node));
    }

    let script = "sieve 100k";
    results.push(measure(script, "capsa fresh sandbox", slow, || {
        let r = sieve.run(Call::new()).unwrap();
        assert_eq!(r.result, Some(json!(9592)), "{r:?}");
    }));
    results.push(measure(
        script,
        "raw wasm floor",
        slow,
        floor(&runtime, eval_request(SIEVE), false),
    ));
    results.push(measure(
        script,
        "raw floor + epoch checks",
        slow,
        floor(&runtime, eval_request(SIEVE), true),
    ));
    if let Some(node) = node(format!("{SIEVE}\nconsole.log(sieve(100000))")) {
        results.push(measure(script, "node -e", process, node));
    }
    if quick {
        return;
    }

    let title = "JavaScript: fresh sandbox per call unless marked session";
    support::report("javascript", title, "script", "capsa", &results);
}
