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
    /// Bytes of a session's files: the regular files under its `/work` directory, written by the host
    /// ([`Session::write_file`](crate::Session::write_file)) or by the guest. A host write past it is
    /// refused before anything is written; an evaluation that leaves `/work` over it ends with this code
    /// and discards the session's state (the files stay as they are). By default 64 MiB. Error code:
    /// `files_limit_exceeded`.
    pub max_files: ByteSize,
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
            // Room for a data set an agent works on; a session's files live on the host's disk.
            max_files: ByteSize::mib(64),
        }
    }
}

/// The limits a caller sets over a base: a route, a deployment or a run-now request of the gateway
/// (serde, `{ timeout = "2s" }`), or the CLI's flags (with the `clap` feature, where each flag's
/// default is the field of [`Limits::default`]). One schema for every surface: an unset field keeps
/// the base's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(feature = "clap", command(next_help_heading = "Limits"))]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    /// Wall-clock deadline, e.g. `1500ms`, `2s`
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "DURATION", default_value = clap_default(|l| l.timeout.to_string())))]
    pub timeout: Option<HumanDuration>,
    /// Deterministic CPU budget in fuel units (about one per wasm instruction) [default: off]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub fuel: Option<u64>,
    /// Linear memory of the sandbox, e.g. `64MiB`
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIZE", default_value = clap_default(|l| l.memory.to_string())))]
    pub memory: Option<ByteSize>,
    /// Bytes of stdout + stderr + log lines
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIZE", default_value = clap_default(|l| l.max_output.to_string())))]
    pub max_output: Option<ByteSize>,
    /// Host calls the guest may make
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value = clap_default(|l| l.max_host_calls.to_string())))]
    pub max_host_calls: Option<u64>,
    /// Bytes the guest may send through host calls
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIZE", default_value = clap_default(|l| l.max_egress.to_string())))]
    pub max_egress: Option<ByteSize>,
    /// Bytes of stdin the guest may read
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIZE", default_value = clap_default(|l| l.max_stdin.to_string())))]
    pub max_stdin: Option<ByteSize>,
    /// Bytes of a session's files (its /work directory)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIZE", default_value = clap_default(|l| l.max_files.to_string())))]
    pub max_files: Option<ByteSize>,
}

/// A default of [`Limits::default`] as `--help` shows it (made once, when the CLI builds its parser).
#[cfg(feature = "clap")]
fn clap_default(field: fn(&Limits) -> String) -> &'static str {
    Box::leak(field(&Limits::default()).into_boxed_str())
}

impl LimitOverrides {
    /// `base` with these overrides.
    pub fn apply(&self, base: &Limits) -> Limits {
        Limits {
            timeout: self.timeout.unwrap_or(base.timeout),
            fuel: self.fuel.or(base.fuel),
            memory: self.memory.unwrap_or(base.memory),
            max_output: self.max_output.unwrap_or(base.max_output),
            max_host_calls: self.max_host_calls.unwrap_or(base.max_host_calls),
            max_egress: self.max_egress.unwrap_or(base.max_egress),
            max_stdin: self.max_stdin.unwrap_or(base.max_stdin),
            max_files: self.max_files.unwrap_or(base.max_files),
            ..base.clone()
        }
    }

    /// Checks that these overrides only lower `base`: what a caller sets cannot give it more than the
    /// operator configured.
    ///
    /// # Errors
    ///
    /// `invalid_input` naming the limit and the ceiling.
    pub fn check_within(&self, base: &Limits) -> Result<(), Error> {
        let over = |name: &str, asked: String, max: String| {
            Err(Error::invalid_input(format!(
                "limit `{name}` = {asked} is above the gateway's {max}"
            )))
        };
        if let Some(t) = self.timeout
            && t.0 > base.timeout.0
        {
            return over("timeout", t.to_string(), base.timeout.to_string());
        }
        if let (Some(f), Some(max)) = (self.fuel, base.fuel)
            && f > max
        {
            return over("fuel", f.to_string(), max.to_string());
        }
        for (name, asked, max) in [
            ("memory", self.memory, base.memory),
            ("max_output", self.max_output, base.max_output),
            ("max_egress", self.max_egress, base.max_egress),
            ("max_stdin", self.max_stdin, base.max_stdin),
            ("max_files", self.max_files, base.max_files),
        ] {
            if let Some(asked) = asked
                && asked.bytes() > max.bytes()
            {
                return over(name, asked.to_string(), max.to_string());
            }
        }
        if let Some(n) = self.max_host_calls
            && n > base.max_host_calls
        {
            return over(
                "max_host_calls",
                n.to_string(),
                base.max_host_calls.to_string(),
            );
        }
        Ok(())
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

    /// The defaults `docs/limits.md` states are the defaults.
    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let doc = include_str!("../../../docs/limits.md");
        let d = Limits::default();
        let expected = [
            ("`timeout`", d.timeout.to_string()),
            ("`memory`", d.memory.to_string()),
            ("`max_output`", d.max_output.to_string()),
            ("`max_host_calls`", d.max_host_calls.to_string()),
            ("`max_egress`", d.max_egress.to_string()),
            ("`max_table_elements`", d.max_table_elements.to_string()),
            ("`max_instances`", d.max_instances.to_string()),
            ("`max_stdin`", d.max_stdin.to_string()),
            ("`max_files`", d.max_files.to_string()),
        ];
        for (field, default) in expected {
            let row = doc
                .lines()
                .find(|l| l.split('|').nth(3).is_some_and(|c| c.trim() == field))
                .unwrap_or_else(|| panic!("docs/limits.md has no row for {field}"));
            let documented: String = row
                .split('|')
                .nth(4)
                .unwrap()
                .chars()
                .filter(|c| *c != ' ' && *c != ',')
                .collect();
            assert!(
                documented.starts_with(&default),
                "{field}: docs say {documented}, the default is {default}"
            );
        }
    }

    #[test]
    fn overrides_apply_and_only_lower() {
        let base = Limits {
            timeout: HumanDuration(Duration::from_secs(5)),
            memory: ByteSize::mib(128),
            ..Limits::default()
        };
        let lower = LimitOverrides {
            timeout: Some(HumanDuration(Duration::from_secs(1))),
            memory: Some(ByteSize::mib(16)),
            fuel: Some(1000),
            ..LimitOverrides::default()
        };
        let limits = lower.apply(&base);
        assert_eq!(limits.timeout.0, Duration::from_secs(1));
        assert_eq!(limits.memory, ByteSize::mib(16));
        assert_eq!(limits.fuel, Some(1000));
        assert_eq!(limits.max_output, base.max_output);
        lower.check_within(&base).unwrap();
        let higher = LimitOverrides {
            memory: Some(ByteSize::mib(512)),
            ..LimitOverrides::default()
        };
        let err = higher.check_within(&base).unwrap_err();
        assert!(err.to_string().contains("memory"), "{err}");
        let slower = LimitOverrides {
            timeout: Some(HumanDuration(Duration::from_secs(60))),
            ..LimitOverrides::default()
        };
        assert!(slower.check_within(&base).is_err());
    }

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
