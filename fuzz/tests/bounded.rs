//! Every fuzz target, bounded, in `make test`: its corpus (seeds and regressions), the known-nasty
//! inputs, then mutations for `CAPSA_FUZZ_SECONDS` (default 4) per target. `make fuzz` runs the
//! same targets coverage-guided, for longer.

use std::time::Duration;

fn budget() -> Duration {
    let seconds = std::env::var("CAPSA_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    Duration::from_secs_f64(seconds)
}

/// The mutator's seed: fixed, so a run is repeatable; `CAPSA_FUZZ_SEED` explores elsewhere.
fn seed() -> u64 {
    std::env::var("CAPSA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_ca95a)
}

/// Runs `target` and prints what it did.
fn fuzz(target: &str, max_len: usize, hang: Duration) {
    let summary = capsa_fuzz::run_bounded(target, budget(), seed(), max_len, hang);
    eprintln!("fuzz {target}: {summary:?}");
    assert!(summary.executions > 0);
}

/// A parser of text that should answer within this, however hostile the text.
const PARSER: Duration = Duration::from_secs(10);

/// A call, which a module's own deadline (500 ms) and fuel end.
const CALL: Duration = Duration::from_secs(20);

#[test]
fn config() {
    fuzz("config", 64 << 10, PARSER);
}

#[test]
fn names() {
    fuzz("names", 4 << 10, PARSER);
}

#[test]
fn allowlist() {
    fuzz("allowlist", 16 << 10, PARSER);
}

#[test]
fn request_context() {
    fuzz("request_context", 64 << 10, PARSER);
}

#[test]
fn handler_response() {
    fuzz("handler_response", 64 << 10, PARSER);
}

#[test]
fn handlers() {
    fuzz("handlers", 64 << 10, CALL);
}

#[test]
fn wire_bytes() {
    fuzz("wire_bytes", 64 << 10, PARSER);
}

#[test]
fn typescript() {
    fuzz("typescript", 64 << 10, PARSER);
}

#[test]
fn repl_scanner() {
    fuzz("repl_scanner", 64 << 10, PARSER);
}

#[test]
fn host_calls() {
    fuzz("host_calls", 16 << 10, CALL);
}

#[test]
fn load() {
    fuzz("load", 256 << 10, CALL);
}

#[test]
fn wasm_smith() {
    fuzz("wasm_smith", 16 << 10, CALL);
}
