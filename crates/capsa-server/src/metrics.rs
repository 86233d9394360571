//! Prometheus metrics, kept in memory and written in the text exposition format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use capsa::Receipt;

/// Seconds: from 50 µs (a fresh wasm sandbox) to 10 s (past the default deadline).
const TIME_BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 10.0,
];
/// Bytes: 64 KiB to 1 GiB.
const MEMORY_BUCKETS: [f64; 8] = [
    65536.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    134217728.0,
    268435456.0,
    1073741824.0,
];

#[derive(Clone)]
struct Histogram {
    buckets: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(buckets: &'static [f64]) -> Histogram {
        Histogram {
            buckets,
            counts: vec![0; buckets.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        for (bound, count) in self.buckets.iter().zip(&mut self.counts) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.buckets.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct PerFunction {
    calls: BTreeMap<&'static str, u64>,
    duration: Option<Histogram>,
    fuel: u64,
}

/// Every metric of the gateway.
#[derive(Default)]
pub struct Metrics {
    functions: Mutex<BTreeMap<String, PerFunction>>,
    instantiate: Mutex<Option<Histogram>>,
    memory: Mutex<Option<Histogram>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    active: AtomicI64,
    requests: AtomicU64,
}

/// Counts a running sandbox while alive.
pub struct Active<'a>(&'a AtomicI64);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Marks a sandbox as running until the guard drops.
    pub fn active(&self) -> Active<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        Active(&self.active)
    }

    /// Counts an HTTP request.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished call of `function`.
    pub fn call(&self, function: &str, receipt: &Receipt) {
        {
            let mut functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
            let record = |entry: &mut PerFunction| {
                *entry.calls.entry(receipt.outcome()).or_default() += 1;
                entry
                    .duration
                    .get_or_insert_with(|| Histogram::new(&TIME_BUCKETS))
                    .observe(receipt.stats.wall_us as f64 / 1e6);
                entry.fuel += receipt.stats.fuel_used.unwrap_or(0);
            };
            // The label is allocated once per function, not per call.
            match functions.get_mut(function) {
                Some(entry) => record(entry),
                None => record(functions.entry(function.to_owned()).or_default()),
            }
        }
        self.instantiate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| Histogram::new(&TIME_BUCKETS))
            .observe(receipt.stats.instantiate_us as f64 / 1e6);
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| Histogram::new(&MEMORY_BUCKETS))
            .observe(receipt.stats.memory_peak_bytes as f64);
    }

    /// Counts a request refused before it ran (`busy`, `payload_too_large`, `unauthorized`, …).
    pub fn rejected(&self, code: capsa::ErrorCode) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code.as_str())
            .or_default() += 1;
    }

    /// The exposition text. `queue_depth` is read at the time of the scrape.
    pub fn render(&self, queue_depth: usize) -> String {
        let mut out = String::new();
        let functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP capsa_calls_total Finished calls by function and outcome.\n# TYPE capsa_calls_total counter\n");
        for (function, f) in functions.iter() {
            for (outcome, n) in &f.calls {
                let _ = writeln!(
                    out,
                    "capsa_calls_total{{function=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(function)
                );
            }
        }
        out.push_str("# HELP capsa_call_duration_seconds Wall time of calls, instantiation included.\n# TYPE capsa_call_duration_seconds histogram\n");
        for (function, f) in functions.iter() {
            if let Some(h) = &f.duration {
                h.write(
                    &mut out,
                    "capsa_call_duration_seconds",
                    &format!("function=\"{}\"", escape(function)),
                );
            }
        }
        out.push_str("# HELP capsa_fuel_used_total Fuel consumed by calls with a CPU budget.\n# TYPE capsa_fuel_used_total counter\n");
        for (function, f) in functions.iter() {
            let _ = writeln!(
                out,
                "capsa_fuel_used_total{{function=\"{}\"}} {}",
                escape(function),
                f.fuel
            );
        }
        drop(functions);
        out.push_str("# HELP capsa_instantiate_seconds Time to instantiate a fresh sandbox.\n# TYPE capsa_instantiate_seconds histogram\n");
        if let Some(h) = &*self.instantiate.lock().unwrap_or_else(|p| p.into_inner()) {
            h.write(&mut out, "capsa_instantiate_seconds", "");
        }
        out.push_str("# HELP capsa_memory_peak_bytes Peak linear memory of calls.\n# TYPE capsa_memory_peak_bytes histogram\n");
        if let Some(h) = &*self.memory.lock().unwrap_or_else(|p| p.into_inner()) {
            h.write(&mut out, "capsa_memory_peak_bytes", "");
        }
        out.push_str("# HELP capsa_rejected_total Requests refused before running, by error code.\n# TYPE capsa_rejected_total counter\n");
        for (code, n) in self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "capsa_rejected_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP capsa_active_sandboxes Sandboxes running now.\n# TYPE capsa_active_sandboxes gauge\ncapsa_active_sandboxes {}",
            self.active.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP capsa_queue_depth Calls waiting for a free slot.\n# TYPE capsa_queue_depth gauge\ncapsa_queue_depth {queue_depth}"
        );
        let _ = writeln!(
            out,
            "# HELP capsa_http_requests_total HTTP requests received.\n# TYPE capsa_http_requests_total counter\ncapsa_http_requests_total {}",
            self.requests.load(Ordering::Relaxed)
        );
        out
    }
}

/// The metrics of live sessions: how many are live (read at the scrape) and their execs by outcome.
#[derive(Default)]
pub struct SessionMetrics {
    execs: Mutex<BTreeMap<&'static str, u64>>,
}

impl SessionMetrics {
    /// Counts a finished exec: its receipt's outcome, or the error code that refused it.
    pub fn exec(&self, outcome: &'static str) {
        *self
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    /// The exposition text, with `live` sessions.
    pub fn render(&self, live: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP capsa_sessions_live Live sessions.\n# TYPE capsa_sessions_live gauge\ncapsa_sessions_live {live}"
        );
        out.push_str("# HELP capsa_session_execs_total Session execs by outcome.\n# TYPE capsa_session_execs_total counter\n");
        for (outcome, n) in self.execs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "capsa_session_execs_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let metrics = Metrics::default();
        let mut receipt = Receipt::default();
        receipt.stats.wall_us = 1500;
        receipt.stats.fuel_used = Some(42);
        metrics.call("hello\"x", &receipt);
        metrics.rejected(capsa::ErrorCode::Busy);
        let _active = metrics.active();
        let text = metrics.render(3);
        for line in [
            "capsa_calls_total{function=\"hello\\\"x\",outcome=\"ok\"} 1",
            "capsa_call_duration_seconds_bucket{function=\"hello\\\"x\",le=\"0.0025\"} 1",
            "capsa_call_duration_seconds_bucket{function=\"hello\\\"x\",le=\"0.001\"} 0",
            "capsa_call_duration_seconds_count{function=\"hello\\\"x\"} 1",
            "capsa_fuel_used_total{function=\"hello\\\"x\"} 42",
            "capsa_instantiate_seconds_count 1",
            "capsa_memory_peak_bytes_count 1",
            "capsa_rejected_total{code=\"busy\"} 1",
            "capsa_active_sandboxes 1",
            "capsa_queue_depth 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }

    #[test]
    fn session_metrics() {
        let metrics = SessionMetrics::default();
        metrics.exec("ok");
        metrics.exec("ok");
        metrics.exec("timeout");
        let text = metrics.render(3);
        for line in [
            "capsa_sessions_live 3",
            "capsa_session_execs_total{outcome=\"ok\"} 2",
            "capsa_session_execs_total{outcome=\"timeout\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }
}
