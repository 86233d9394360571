//! OpenTelemetry traces over OTLP/HTTP with JSON encoding: one span per call, batched and posted to
//! `{endpoint}/v1/traces` by a background task. A W3C `traceparent` header on the request makes the
//! call's span a child of the caller's. Export never slows or fails a call: a full buffer drops
//! spans, a failed post is logged and dropped.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capsa::Receipt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::function::Function;

/// Spans kept waiting for export at most.
const BUFFER: usize = 4096;
/// Spans per post at most.
const BATCH: usize = 256;

/// One finished call, ready to export.
pub struct Span(Value);

impl Span {
    /// The span of a finished call that started at `started`.
    pub fn of_call(
        function: &Function,
        receipt: &Receipt,
        started: SystemTime,
        trace_parent: Option<&str>,
    ) -> Span {
        let (trace_id, parent) = trace_parent
            .and_then(parse_trace_parent)
            .map_or_else(|| (random_hex(16), None), |(t, p)| (t, Some(p)));
        let start = nanos(started);
        let end = start + receipt.stats.wall_us * 1000;
        let stats = &receipt.stats;
        let mut attributes = vec![
            attr_str("capsa.function", &function.label),
            attr_str("capsa.outcome", receipt.outcome()),
            attr_int("capsa.wall_us", stats.wall_us),
            attr_int("capsa.instantiate_us", stats.instantiate_us),
            attr_int("capsa.memory_peak_bytes", stats.memory_peak_bytes),
            attr_int("capsa.host_calls", stats.host_calls),
        ];
        if let Some(version) = function.version {
            attributes.push(attr_int("capsa.version", version));
        }
        if let Some(fuel) = stats.fuel_used {
            attributes.push(attr_int("capsa.fuel_used", fuel));
        }
        let status = match &receipt.error {
            None => json!({"code": 1}),
            Some(failure) => json!({"code": 2, "message": failure.message}),
        };
        let mut span = json!({
            "traceId": trace_id,
            "spanId": random_hex(8),
            "name": format!("call {}", function.label),
            "kind": 2,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": end.to_string(),
            "attributes": attributes,
            "status": status,
        });
        if let Some(parent) = parent {
            span["parentSpanId"] = Value::from(parent);
        }
        Span(span)
    }
}

/// The exporter: a channel into a background task.
pub struct Telemetry {
    spans: mpsc::Sender<Span>,
}

impl Telemetry {
    /// Starts exporting to an OTLP/HTTP endpoint. Must be called inside a tokio runtime.
    pub fn start(endpoint: &str, service_name: &str) -> Telemetry {
        let (spans, rx) = mpsc::channel(BUFFER);
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        tokio::spawn(export(rx, url, service_name.to_owned()));
        Telemetry { spans }
    }

    /// Queues a span; drops it when the buffer is full.
    pub fn export(&self, span: Span) {
        let _ = self.spans.try_send(span);
    }
}

async fn export(mut rx: mpsc::Receiver<Span>, url: String, service: String) {
    // reqwest's TLS has no built-in crypto provider here: install ring's (a no-op when set).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the OTLP exporter");
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let spans: Vec<Value> = batch.drain(..).map(|s| s.0).collect();
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [attr_str("service.name", &service)]},
            "scopeSpans": [{"scope": {"name": "capsa", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}],
        }]});
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), %url, "OTLP export refused"),
            Err(e) => tracing::warn!(error = %e, %url, "OTLP export failed"),
        }
    }
}

/// `00-<32 hex trace id>-<16 hex span id>-<flags>` → (trace id, parent span id).
fn parse_trace_parent(header: &str) -> Option<(String, String)> {
    let mut parts = header.trim().split('-');
    let (version, trace, span, _flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    (version == "00" && hex(trace, 32) && hex(span, 16) && !zero(trace) && !zero(span))
        .then(|| (trace.to_ascii_lowercase(), span.to_ascii_lowercase()))
}

fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        // RandomState is seeded from the OS per instance.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(nanos(SystemTime::now()) as u128);
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(bytes * 2);
    out
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn attr_str(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn attr_int(key: &str, value: u64) -> Value {
    json!({"key": key, "value": {"intValue": value.to_string()}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_parents_parse() {
        let (trace, span) =
            parse_trace_parent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span, "00f067aa0ba902b7");
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-zzf067aa0ba902b7-01",
        ] {
            assert!(parse_trace_parent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ids_are_hex_of_the_right_length() {
        let a = random_hex(16);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(16));
    }
}
