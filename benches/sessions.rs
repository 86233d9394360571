//! Session snapshots and forks against fresh sandboxes and session evaluations, side by side in one run
//! (`docs/sessions.md`, `docs/benchmarks.md`).
//!
//! - **fork + eval `1 + 2`**: `Engine::fork` of a snapshot of a session that defined a few functions,
//!   then its first evaluation (the restore, a fresh instance with the snapshot's changed pages
//!   written in, happens there), then the fork dropped: what an agent pays to try something from a
//!   saved state;
//! - **fork restore (instantiate_us)**: the p50 of that first receipt's `instantiate_us`, the restore
//!   alone;
//! - **fresh sandbox `1 + 2`**: `Script::run`, for comparison;
//! - **session eval `1 + 2`**: one more evaluation in a live session;
//! - **snapshot**, of that small session and of one holding a ~20 MB string;
//! - **fork + eval** of the 20 MB snapshot;
//! - **to_bytes / from_bytes** of the 20 MB snapshot (signing and checking);
//! - Python: a fresh sandbox and a session eval, for scale (Python sessions cannot snapshot yet).
//!
//! Run with `make bench-sessions` (or `cargo bench -p capsa --bench sessions`).

use std::time::Duration;

use capsa::{Call, Engine, Language, Snapshot, SnapshotKey};
use serde_json::json;

#[path = "support.rs"]
mod support;

use support::{Measured, measure};

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: then only check that it works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let engine = Engine::builder().cache_dir(None).build().expect("engine");
    let fast = if quick { (0, 1) } else { (500, 5_000) };
    let big = if quick { (0, 1) } else { (5, 50) };
    let slow = if quick { (0, 1) } else { (20, 200) };

    let mut base = engine.session(Language::JavaScript, Call::new()).unwrap();
    let setup = "globalThis.count = 0; function bump() { return ++count }\n\
                 const words = ['alpha', 'beta', 'gamma'].map(w => w.toUpperCase())";
    assert!(base.eval(setup).unwrap().is_ok());
    let small = base.snapshot().unwrap();

    let mut heavy = engine.session(Language::JavaScript, Call::new()).unwrap();
    let r = heavy
        .eval("globalThis.a = 'x'.repeat(20 << 20); a.length")
        .unwrap();
    assert_eq!(r.result, Some(json!(20 << 20)), "{r:?}");
    let large = heavy.snapshot().unwrap();

    let one_plus_two = engine
        .script(Language::JavaScript, "main.js", "1 + 2")
        .unwrap();
    let mut results = Vec::new();

    let group = "js 1 + 2";
    results.push(measure(group, "fresh sandbox", fast, || {
        let r = one_plus_two.run(Call::new()).unwrap();
        assert_eq!(r.result, Some(json!(3)), "{r:?}");
    }));
    let mut restores = Vec::new();
    results.push(measure(group, "fork + eval", fast, || {
        let mut fork = engine.fork(&small, Call::new()).unwrap();
        let r = fork.eval("1 + 2").unwrap();
        assert_eq!(r.result, Some(json!(3)), "{r:?}");
        restores.push(Duration::from_micros(r.stats.instantiate_us));
    }));
    results.push(quantiles(group, "fork restore (instantiate_us)", restores));
    results.push(measure(group, "session eval", fast, || {
        assert!(base.eval("1 + 2").unwrap().is_ok());
    }));
    results.push(measure(group, "snapshot (small session)", fast, || {
        let s = base.snapshot().unwrap();
        assert!(s.size_bytes() > 0);
    }));

    let group = "js 20 MB";
    let mut restores = Vec::new();
    results.push(measure(group, "snapshot", big, || {
        let s = heavy.snapshot().unwrap();
        assert!(s.size_bytes() > 20 << 20);
    }));
    results.push(measure(group, "fork + eval", big, || {
        let mut fork = engine.fork(&large, Call::new()).unwrap();
        let r = fork.eval("a.length").unwrap();
        assert_eq!(r.result, Some(json!(20 << 20)), "{r:?}");
        restores.push(Duration::from_micros(r.stats.instantiate_us));
    }));
    results.push(quantiles(group, "fork restore (instantiate_us)", restores));
    let key = SnapshotKey::new([9; 32]);
    let bytes = large.to_bytes(&key);
    results.push(measure(group, "to_bytes", big, || {
        assert_eq!(large.to_bytes(&key).len(), bytes.len());
    }));
    results.push(measure(group, "from_bytes", big, || {
        Snapshot::from_bytes(&engine, &bytes, &key).unwrap();
    }));

    let group = "py print";
    let hi = engine
        .script(Language::Python, "main.py", "print('hi')")
        .unwrap();
    results.push(measure(group, "fresh sandbox", slow, || {
        assert!(hi.run(Call::new()).unwrap().is_ok());
    }));
    let mut py = engine.session(Language::Python, Call::new()).unwrap();
    results.push(measure(group, "session eval", slow, || {
        assert!(py.eval("print('hi')").unwrap().is_ok());
    }));
    if quick {
        return;
    }
    println!(
        "small snapshot: {} bytes held, {} bytes of memory; 20 MB snapshot: {} held, {} as bytes",
        small.size_bytes(),
        small.memory_bytes(),
        large.size_bytes(),
        bytes.len()
    );
    let title = "Sessions: snapshot and fork against a fresh sandbox and a session eval";
    support::report("sessions", title, "group", "first", &results);
}

/// The quantiles of durations collected elsewhere (a receipt's own stats).
fn quantiles(group: &'static str, variant: &'static str, mut samples: Vec<Duration>) -> Measured {
    samples.sort_unstable();
    if samples.is_empty() {
        samples.push(Duration::ZERO);
    }
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Measured {
        group,
        variant,
        p50: pick(0.5),
        p99: pick(0.99),
        mean: samples.iter().sum::<Duration>() / samples.len() as u32,
    }
}
