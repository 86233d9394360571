//! Embedding capsa in a Rust program: build an engine once, load a module, run it with limits and
//! grants, read the receipt.
//!
//! ```sh
//! make guests                                   # builds the example guest used below
//! cargo run -p capsa --example embed
//! ```

use capsa::{ByteSize, Call, Engine, Grants, HostError, HostFunctions, Limits};
use serde_json::json;

fn main() -> Result<(), capsa::Error> {
    // One engine per process: it owns the compiled-artifact cache and the epoch ticker.
    let engine = Engine::new()?;

    // Any WASI command module works; this one is capsa's JSON-contract example handler.
    let handler = engine.load_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/wasm32-wasip1/guest/hello_handler.wasm"
    ))?;
    let limits = Limits {
        timeout: "2s".parse()?,
        memory: ByteSize::mib(64),
        ..Limits::default()
    };
    let receipt = handler.run(
        Call::new()
            .stdin(r#"{"method":"GET","path":"/","query":{"name":"ada"}}"#)
            .limits(limits.clone()),
    )?;
    println!("handler → {} {}", receipt.outcome(), json!(receipt.result));
    println!(
        "stats   → {}",
        serde_json::to_string(&receipt.stats).unwrap_or_default()
    );

    // A guest can only reach what the call grants: here one host function.
    let functions = HostFunctions::new().sync("double", |args| {
        let n = args
            .as_i64()
            .ok_or_else(|| HostError::invalid_input("expected an integer"))?;
        Ok(json!(n * 2))
    });
    let probe = engine.load_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/wasm32-wasip1/guest/probe.wasm"
    ))?;
    let receipt = probe.run(
        Call::new()
            .args(["call", "double", "21"])
            .limits(limits.clone())
            .grants(Grants::new().host_functions(functions)),
    )?;
    println!(
        "host call → {} {}",
        receipt.outcome(),
        receipt.stdout_text().trim()
    );

    // Limits end the call with a stable code, and the engine keeps serving.
    let receipt = probe.run(Call::new().args(["alloc", "128"]).limits(limits))?;
    println!(
        "memory bomb → {}: {}",
        receipt.outcome(),
        receipt.error.map(|e| e.message).unwrap_or_default()
    );
    Ok(())
}
