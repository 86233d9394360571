//! Per-call limits and the human units they are written in (`128MiB`, `1500ms`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// The hard limits of one call (SPEC §3). Every limit is on by default.
///
/// Each limit, when hit, ends the call with its own [`ErrorCode`](crate::ErrorCode) in the receipt and
/// leaves the engine ready for the next call. The wasm stack limit is a property of the
/// [`Engine`](crate::Engine) (see [`EngineBuilder::max_wasm_stack`](crate::EngineBuilder::max_wasm_stack)),
/// because wasmtime fixes it per engine.
///
/// Limits deserialise from TOML/JSON with human units: `{ timeout = "2s", memory = "64MiB" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline, counted from the start of the call and holding inside host calls.
    /// By default 10 s. Error code: `timeout`.
    pub timeout: HumanDuration,
    /// Deterministic CPU budget in fuel units (about one per wasm instruction); `None` (the default)
    /// means no budget. Needs an engine built with
    /// [`EngineBuilder::cpu_budget`](crate::EngineBuilder::cpu_budget). Error code: `cpu_limit_exceeded`.
    pub fuel: Option<u64>,
    /// Linear memory per sandbox, summed over all of its memories. By default 256 MiB.
    /// Error code: `memory_limit_exceeded`.
    pub memory: ByteSize,
    /// Bytes of stdout, stderr and guest log lines together. Output beyond the cap is cut, the kept
    /// part is marked truncated and the call ends. By default 16 MiB. Error code: `output_limit_exceeded`.
    pub max_output: ByteSize,
    /// Host calls the guest may start. By default 10,000. Error code: `host_call_limit_exceeded`.
    pub max_host_calls: u64,
    /// Bytes the guest may send out through host calls (their arguments). By default 64 MiB.
    /// Error code: `host_call_limit_exceeded`.
    pub max_egress: ByteSize,
    /// Table elements per sandbox, summed over all tables. By default 100,000.
    /// Error code: `memory_limit_exceeded`.
    pub max_table_elements: u64,
    /// Wasm instances per sandbox (a core module is one). By default 16.
    /// Error code: `memory_limit_exceeded`.
    pub max_instances: u32,
    /// Bytes of stdin the guest may read. Streamed stdin is read as the guest asks for it, inside the
    /// deadline. By default 16 MiB. Error code: `input_limit_exceeded`.
    pub max_stdin: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: HumanDuration(Duration::from_secs(10)),
            fuel: None,
            memory: ByteSize::mib(256),
            max_output: ByteSize::mib(16),
            // Generous: a chatty guest makes hundreds of host calls; ten thousand is a runaway loop.
            max_host_calls: 10_000,
            max_egress: ByteSize::mib(64),
            // CPython needs about 6,000 elements; the rest is headroom for large guests.
            max_table_elements: 100_000,
            // A component (Python) has 14 core instances; a plain module has one.
            max_instances: 16,
            max_stdin: ByteSize::mib(16),
        }
    }
}

/// A number of bytes written the way people write them: `1048576`, `512KiB`, `128MiB`, `2GiB`
/// (also `KB`/`MB`/`GB` as powers of 1000 and a bare `K`/`M`/`G` as powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// The size for people, rounded to one decimal: `129.1MiB`. (`Display` stays exact so that it
    /// parses back.)
    pub(crate) fn approx(self) -> String {
        let n = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= size {
                let text = format!("{:.1}", n as f64 / size as f64);
                return format!("{}{unit}", text.trim_end_matches(".0"));
            }
        }
        format!("{n}B")
    }
}

impl FromStr for ByteSize {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit() && c != '_')
            .unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let bad = || Error::invalid_input(format!("invalid size `{s}`: expected e.g. `128MiB`"));
        let n: u64 = digits.replace('_', "").parse().map_err(|_| bad())?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(bad)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= size && n.is_multiple_of(size) {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}")
    }
}

/// A duration written the way people write them: `1500ms`, `2s`, `1m`, `250us` (a bare number is
/// seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let bad = || {
            Error::invalid_input(format!(
                "invalid duration `{s}`: expected e.g. `1500ms` or `2s`"
            ))
        };
        let n: f64 = num.parse().map_err(|_| bad())?;
        let secs_per_unit = match unit.trim() {
            "" | "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let secs = n * secs_per_unit;
        Duration::try_from_secs_f64(secs)
            .map(HumanDuration)
            .map_err(|_| bad())
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.as_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}us", d.as_micros())
        }
    }
}

macro_rules! human_serde {
    ($ty:ty, $expecting:literal, $raw:ident => $from_num:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    Num(u64),
                    Text(String),
                }
                match Raw::deserialize(d).map_err(|_| serde::de::Error::custom($expecting))? {
                    Raw::Num($raw) => Ok($from_num),
                    Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
                }
            }
        }
    };
}

human_serde!(ByteSize, "expected a size such as `128MiB` or a number of bytes", n => ByteSize(n));
human_serde!(HumanDuration, "expected a duration such as `1500ms` or a number of seconds", n => HumanDuration(Duration::from_secs(n)));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_human_units() {
        assert_eq!("128MiB".parse::<ByteSize>().unwrap(), ByteSize::mib(128));
        assert_eq!("512kib".parse::<ByteSize>().unwrap(), ByteSize(512 * 1024));
        assert_eq!("2G".parse::<ByteSize>().unwrap(), ByteSize(2 << 30));
        assert_eq!("1MB".parse::<ByteSize>().unwrap(), ByteSize(1_000_000));
        assert_eq!("4096".parse::<ByteSize>().unwrap(), ByteSize(4096));
        assert_eq!(ByteSize::mib(128).to_string(), "128MiB");
        assert_eq!(ByteSize(132160 * 1024).approx(), "129.1MiB");
        assert_eq!(ByteSize::mib(64).approx(), "64MiB");
        assert_eq!(ByteSize(100).approx(), "100B");
        for bad in ["", "MiB", "12XB", "-1", "99999999999999999999GiB", "1.5MiB"] {
            let err = bad.parse::<ByteSize>().unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn durations_parse_in_human_units() {
        let ms = |n| HumanDuration(Duration::from_millis(n));
        assert_eq!("1500ms".parse::<HumanDuration>().unwrap(), ms(1500));
        assert_eq!("2s".parse::<HumanDuration>().unwrap(), ms(2000));
        assert_eq!("0.5".parse::<HumanDuration>().unwrap(), ms(500));
        assert_eq!("1m".parse::<HumanDuration>().unwrap(), ms(60_000));
        assert_eq!(ms(1500).to_string(), "1500ms");
        for bad in ["", "s", "2 weeks", "-1s", "1e999s", "nan"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_deserialize_with_units_and_reject_unknown_keys() {
        let l: Limits =
            serde_json::from_str(r#"{"timeout":"250ms","memory":"64MiB","fuel":1000}"#).unwrap();
        assert_eq!(l.timeout.get(), Duration::from_millis(250));
        assert_eq!(l.memory, ByteSize::mib(64));
        assert_eq!(l.fuel, Some(1000));
        assert_eq!(l.max_output, Limits::default().max_output);
        let err = serde_json::from_str::<Limits>(r#"{"memroy":"1MiB"}"#).unwrap_err();
        assert!(err.to_string().contains("memroy"), "{err}");
    }
}
