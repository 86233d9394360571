//! What the benchmarks share: timing a variant, and printing and saving the table.

use std::time::{Duration, Instant};

/// One variant's timings.
pub struct Measured {
    /// The guest or script the variant ran.
    pub group: &'static str,
    pub variant: &'static str,
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

/// Runs `f` `warmup` times untimed, then `iterations` times timed. With `$BENCH_FILTER` set, only
/// variants whose `group/variant` contains it get their iterations (the others run once), e.g. to
/// profile one of them.
pub fn measure(
    group: &'static str,
    variant: &'static str,
    runs: (usize, usize),
    f: impl FnMut(),
) -> Measured {
    measure_after(group, variant, runs, || {}, f)
}

/// As [`measure`], with `before` run untimed ahead of every call of `f` (e.g. waiting for the
/// standby set to be refilled).
pub fn measure_after(
    group: &'static str,
    variant: &'static str,
    (mut warmup, mut iterations): (usize, usize),
    mut before: impl FnMut(),
    mut f: impl FnMut(),
) -> Measured {
    if let Ok(filter) = std::env::var("BENCH_FILTER")
        && !format!("{group}/{variant}").contains(&filter)
    {
        (warmup, iterations) = (0, 1);
    }
    for _ in 0..warmup {
        before();
        f();
    }
    let mut samples = Vec::with_capacity(iterations.max(1));
    for _ in 0..iterations.max(1) {
        before();
        let began = Instant::now();
        f();
        samples.push(began.elapsed());
    }
    samples.sort_unstable();
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Measured {
        group,
        variant,
        p50: pick(0.50),
        p99: pick(0.99),
        mean: samples.iter().sum::<Duration>() / samples.len() as u32,
    }
}

/// Prints the table (the p50 of each variant against the first of its group) and writes it as
/// JSON to `target/bench/{name}.json`. `group` and `base` name the first column and the baseline.
pub fn report(name: &str, title: &str, group: &str, base: &str, results: &[Measured]) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("{title}");
    println!(
        "{:<11} {:<24} {:>10} {:>10} {:>10} {:>14}",
        group,
        "variant",
        "p50",
        "p99",
        "mean",
        format!("p50 vs {base}")
    );
    let mut json = Vec::new();
    for runs in results.chunk_by(|a, b| a.group == b.group) {
        let baseline = runs[0].p50.as_secs_f64();
        for m in runs {
            let ratio = m.p50.as_secs_f64() / baseline;
            println!(
                "{:<11} {:<24} {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>13.2}x",
                m.group,
                m.variant,
                us(m.p50),
                us(m.p99),
                us(m.mean),
                ratio
            );
            json.push(serde_json::json!({
                group: m.group,
                "variant": m.variant,
                "p50_us": us(m.p50),
                "p99_us": us(m.p99),
                "mean_us": us(m.mean),
                format!("p50_ratio_to_{}", base.replace(' ', "_")): ratio,
            }));
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        );
    }
}

/// An engine that keeps standby instances (two per hot module, as the gateway does), with the set
/// of `language`'s runtime filled (wasm: filled from a module's second call on).
#[allow(dead_code)] // not every benchmark has a standby variant
pub fn standby_engine(language: capsa::Language) -> capsa::Engine {
    let engine = capsa::Engine::builder()
        .cache_dir(None)
        .standby(capsa::StandbyLimits::DEFAULT_ON)
        .build()
        .expect("engine");
    if language != capsa::Language::Wasm {
        engine.script(language, "main", "1").expect("script");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async { engine.warm_standby(language).expect("warm") });
        wait_for_standby(&engine, 2);
    }
    engine
}

/// Waits until `engine` holds `count` standby instances (its background refill has caught up).
#[allow(dead_code)]
pub fn wait_for_standby(engine: &capsa::Engine, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.standby_held().0 < count {
        assert!(
            Instant::now() < deadline,
            "the standby set was not refilled"
        );
        std::thread::yield_now();
    }
}

/// A handler called in a fresh sandbox and, side by side, the same handler on `standby`'s engine,
/// each standby call made after the refill caught up (so it finds an instance, and says so).
#[allow(dead_code)] // not every benchmark has handlers
pub fn handler_fresh_and_standby(
    group: &'static str,
    runs: (usize, usize),
    fresh: &capsa::Script,
    (standby_engine, standby): (&capsa::Engine, &capsa::Script),
    context: &serde_json::Value,
) -> [Measured; 2] {
    [
        measure(group, "capsa fresh sandbox", runs, || {
            let r = fresh.handle(context, capsa::Call::new()).unwrap();
            assert!(r.is_ok(), "{r:?}");
        }),
        measure_after(
            group,
            "capsa fresh, standby",
            runs,
            || wait_for_standby(standby_engine, 2),
            || {
                let r = standby.handle(context, capsa::Call::new()).unwrap();
                assert!(r.is_ok() && r.stats.standby, "{r:?}");
            },
        ),
    ]
}

/// The refill rate, as the time per instance: `count` standby instances of `language`'s runtime
/// made by one background task (one core) into an empty set, the total divided by `count` (so
/// 1 s / p50 is the instances per second one core sustains when the set is drained).
#[allow(dead_code)]
pub fn refill(group: &'static str, language: capsa::Language, count: usize) -> Measured {
    let engine = capsa::Engine::builder()
        .cache_dir(None)
        .standby(capsa::StandbyLimits {
            per_module: count,
            max_memory: capsa::ByteSize::mib(8 << 10),
        })
        .build()
        .expect("engine");
    // The runtime compiled first (preparing a script does), so only the filling is timed.
    engine.script(language, "main", "1").expect("script");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime");
    let began = Instant::now();
    runtime.block_on(async { engine.warm_standby(language).expect("warm") });
    wait_for_standby(&engine, count);
    let each = began.elapsed() / count as u32;
    Measured {
        group,
        variant: "standby refill, each",
        p50: each,
        p99: each,
        mean: each,
    }
}
