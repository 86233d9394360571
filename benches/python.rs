//! Python in fresh sandboxes: capsa against the raw component floor and `python3 -c`, side by side in
//! one run.
//!
//! Programs: `print("hi")`; a handler call (`def handler(request)` building a JSON response); a
//! CPU-bound loop (a million additions). Variants:
//!
//! - **capsa**: `Script::run` / `Script::handle` with default limits, a fresh sandbox per call, from
//!   the pre-initialised CPython component;
//! - **session**: the same code evaluated again in one `Session`: what a REPL or an agent pays per cell;
//! - **raw component floor**: bare wasmtime (capsa's pool tuning, WASI 0.2, no deadline, no limits, no
//!   receipt) instantiating the same component and calling its `run` export with the same request;
//! - **python3 -c**: a whole native `python3 -c` process per call, as a user without capsa would run it.
//!
//! Run with `make bench-py` (or `cargo bench -p capsa --bench python`). Prints p50/p99/mean and the
//! ratio to capsa, and writes the same as JSON to `target/bench/python.json`.

use std::process::Command;

use capsa::{Call, Engine, Language};
use serde_json::json;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

const HELLO: &str = "print(\"hi\")";
const HANDLER: &str = "import json\n\ndef handler(request):\n    body = json.dumps({\"hello\": request[\"query\"][\"name\"], \"path\": request[\"path\"]})\n    return {\"status\": 200, \"headers\": {\"content-type\": \"application/json\"}, \"body\": body}";
const LOOP: &str = "total = 0\nfor i in range(1_000_000):\n    total += i\nprint(total)";

#[path = "support.rs"]
mod support;

use support::{measure, measure_after};

fn request() -> serde_json::Value {
    json!({"method": "GET", "path": "/hello", "query": {"name": "ada"}, "headers": {}, "body": ""})
}

struct FloorState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for FloorState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Bare wasmtime running the component's `run` export with one request, a fresh instance per call.
/// Without a request: only instantiate (and drop) the component.
fn floor(runtime: &[u8], request: Option<String>) -> impl FnMut() {
    let mut pool = PoolingAllocationConfig::new();
    pool.pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(2 << 20)
        .max_core_instances_per_component(32);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config.memory_init_cow(true);
    let engine = wasmtime::Engine::new(&config).expect("engine");
    let component = Component::new(&engine, runtime).expect("component");
    let mut linker: Linker<FloorState> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("link");
    // capsa's host calls trap here; the benchmarked programs make none. (Not
    // `define_unknown_imports_as_traps`: it would also shadow WASI imports of newer 0.2 versions.)
    let mut host = linker.instance("capsa:runtime/host@0.1.0").expect("host");
    for name in ["call-start", "call-wait", "wait-any", "call-drop", "log"] {
        host.func_new(name, |_, _, _, _| {
            Err(wasmtime::format_err!("no host calls in the floor"))
        })
        .expect("stub");
    }
    let pre = linker.instantiate_pre(&component).expect("pre");
    move || {
        let state = FloorState {
            ctx: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&engine, state);
        let instance = pre.instantiate(&mut store).expect("instantiate");
        let Some(request) = &request else {
            return;
        };
        let run = instance
            .get_typed_func::<(&str,), (String,)>(&mut store, "run")
            .expect("run");
        let (answer,) = run.call(&mut store, (request.as_str(),)).expect("run");
        assert!(answer.starts_with(r#"{"ok": true"#), "{answer}");
    }
}

fn python3(code: String) -> Option<impl FnMut()> {
    // The interpreter itself, not a launcher in front of it (pyenv's shim costs ~100 ms a run).
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let python = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    Some(move || {
        let out = Command::new(&python)
            .arg("-c")
            .arg(&code)
            .output()
            .expect("python3");
        assert!(out.status.success());
    })
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: then only check that it works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let engine = Engine::builder().cache_dir(None).build().expect("engine");
    let runtime = Language::Python
        .runtime_wasm()
        .expect("runtime")
        .expect("Python has a runtime");
    let fast = if quick { (0, 1) } else { (300, 3_000) };
    let slow = if quick { (0, 1) } else { (2, 15) };
    let process = if quick { (0, 1) } else { (5, 50) };

    let hello = engine.script(Language::Python, "main.py", HELLO).unwrap();
    let handler = engine.script(Language::Python, "main.py", HANDLER).unwrap();
    let cpu_loop = engine.script(Language::Python, "main.py", LOOP).unwrap();
    let eval_request = |code: &str| {
        json!({"op": "eval", "code": code, "file": "main.py", "memory_limit": 256u64 << 20})
            .to_string()
    };
    let mut handler_request =
        json!({"op": "handler", "code": HANDLER, "file": "main.py", "memory_limit": 256u64 << 20});
    handler_request["request"] = request();

    let mut session = engine.session(Language::Python, Call::new()).unwrap();
    let standby = support::standby_engine(Language::Python);
    let standby_hello = standby.script(Language::Python, "main.py", HELLO).unwrap();
    let standby_handler = standby
        .script(Language::Python, "main.py", HANDLER)
        .unwrap();
    // Each timed call finds the set full again, as a call does that arrives after the refill.
    let refilled = || support::wait_for_standby(&standby, 2);
    let mut results = Vec::new();

    let program = "print(\"hi\")";
    results.push(measure(program, "capsa fresh sandbox", fast, || {
        let r = hello.run(Call::new()).unwrap();
        assert_eq!(r.stdout, b"hi\n", "{r:?}");
    }));
    results.push(measure_after(
        program,
        "capsa fresh, standby",
        fast,
        refilled,
        || {
            let r = standby_hello.run(Call::new()).unwrap();
            assert!(r.stdout == b"hi\n" && r.stats.standby, "{r:?}");
        },
    ));
    results.push(measure(program, "capsa session cell", fast, || {
        assert!(session.eval(HELLO).unwrap().is_ok());
    }));
    results.push(measure(
        program,
        "raw component floor",
        fast,
        floor(&runtime, Some(eval_request(HELLO))),
    ));
    results.push(measure(
        program,
        "raw floor: instantiate",
        fast,
        floor(&runtime, None),
    ));
    if let Some(python) = python3(HELLO.into()) {
        results.push(measure(program, "python3 -c", process, python));
    }

    let program = "handler";
    results.extend(support::handler_fresh_and_standby(
        program,
        fast,
        &handler,
        (&standby, &standby_handler),
        &request(),
    ));
    if !quick {
        results.push(support::refill(program, Language::Python, 32));
    }
    results.push(measure(
        program,
        "raw component floor",
        fast,
        floor(&runtime, Some(handler_request.to_string())),
    ));
    let native_handler = format!(
        "{HANDLER}\nprint(json.dumps(handler(json.loads({:?}))))",
        request().to_string()
    );
    if let Some(python) = python3(native_handler) {
        results.push(measure(program, "python3 -c", process, python));
    }

    let program = "loop 1M";
    results.push(measure(program, "capsa fresh sandbox", slow, || {
        let r = cpu_loop.run(Call::new()).unwrap();
        assert_eq!(r.stdout, b"499999500000\n", "{r:?}");
    }));
    results.push(measure(
        program,
        "raw component floor",
        slow,
        floor(&runtime, Some(eval_request(LOOP))),
    ));
    if let Some(python) = python3(LOOP.into()) {
        results.push(measure(program, "python3 -c", slow, python));
    }
    if quick {
        return;
    }

    let title = "Python: fresh sandbox per call unless marked session";
    support::report("python", title, "program", "capsa", &results);
}
