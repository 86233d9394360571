//! What the benchmarks share: timing a closure and summarising the samples.

use std::time::{Duration, Instant};

/// p50, p99 and mean of one variant.
pub struct Timing {
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

/// Runs `f` `warmup` times untimed, then `iterations` times timed.
pub fn time(warmup: usize, iterations: usize, mut f: impl FnMut()) -> Timing {
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
    Timing {
        p50: pick(0.50),
        p99: pick(0.99),
        mean: samples.iter().sum::<Duration>() / samples.len() as u32,
    }
}

/// Microseconds, for printing.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
