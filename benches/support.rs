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
    (mut warmup, mut iterations): (usize, usize),
    mut f: impl FnMut(),
) -> Measured {
    if let Ok(filter) = std::env::var("BENCH_FILTER")
        && !format!("{group}/{variant}").contains(&filter)
    {
        (warmup, iterations) = (0, 1);
    }
    for _ in 0..warmup {
        f();
    }
    let mut samples = Vec::with_capacity(iterations.max(1));
    for _ in 0..iterations.max(1) {
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
