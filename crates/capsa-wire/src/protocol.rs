//! The protocol between the host and a language runtime (`guests/js`, `guests/python`): one JSON
//! [`Request`] in through the runtime's [`RUN_EXPORT`], one JSON [`Answer`] back. Scripts and
//! sessions build the same requests; the JavaScript runtime (Rust, in this workspace) reads them with
//! these very types, and the Python runtime (`guests/python/capsa_runtime.py`) reads the same JSON.
//!
//! ```json
//! {"op": "eval", "code": "1 + 2", "file": "main.js", "module": false, "rejections": "warn", "memory_limit": 268435456}
//! {"ok": true, "result": 3}
//! {"ok": false, "code": "guest_exception", "error": {"name": "TypeError", "message": "…", "stack": "…"}}
//! ```

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// The export every request goes through: `run(request: string) -> string`.
pub const RUN_EXPORT: &str = "run";

/// One request to a runtime.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request<'a> {
    /// What to do.
    #[serde(flatten, borrow)]
    pub op: Op<'a>,
    /// The sandbox's memory limit in bytes, for the runtime's own heap limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
}

/// What a request asks the runtime to do.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op<'a> {
    /// Run a script or a session cell; the answer's result is its completion value.
    Eval(#[serde(borrow)] Source<'a>),
    /// Run a script, then call its handler with `request` (the request context, SPEC §2).
    Handler {
        /// The script.
        #[serde(flatten, borrow)]
        source: Source<'a>,
        /// The request context.
        #[serde(borrow)]
        request: Json<'a>,
    },
    /// Call the session's handler of `event` with `payload`.
    Dispatch {
        /// The event name.
        #[serde(borrow)]
        event: Cow<'a, str>,
        /// Its payload.
        #[serde(borrow)]
        payload: Json<'a>,
    },
    /// Compile a cell to bytecode (JavaScript); the answer carries it as `bytecode`.
    Compile(#[serde(borrow)] Source<'a>),
    /// Run bytecode an earlier `compile` of the same session returned.
    EvalCompiled {
        /// The bytecode, base64.
        #[serde(borrow)]
        bytecode: Cow<'a, str>,
    },
}

/// Source code and how to run it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Source<'a> {
    /// The code.
    #[serde(borrow)]
    pub code: Text<'a>,
    /// The file name stack traces show.
    #[serde(borrow)]
    pub file: Cow<'a, str>,
    /// Whether the code is an ES module.
    #[serde(default, skip_serializing_if = "is_false")]
    pub module: bool,
    /// What to do with unhandled promise rejections.
    #[serde(default, skip_serializing_if = "Rejections::is_warn")]
    pub rejections: Rejections,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a runtime does with promise rejections nobody handled by the end of a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejections {
    /// Report them on stderr.
    #[default]
    Warn,
    /// Fail the call with the first of them.
    Error,
}

impl Rejections {
    fn is_warn(&self) -> bool {
        *self == Rejections::Warn
    }
}

/// A string that may already be JSON-escaped: a script's source is escaped once when the script is
/// prepared, not on every call. Reads always give [`Text::Plain`].
#[derive(Debug)]
pub enum Text<'a> {
    /// The text itself.
    Plain(Cow<'a, str>),
    /// The text as a JSON string literal (quotes included).
    Escaped(&'a RawValue),
}

impl Text<'_> {
    /// The text (empty for an escaped one, which only the host writes).
    pub fn as_str(&self) -> &str {
        match self {
            Text::Plain(text) => text,
            Text::Escaped(_) => "",
        }
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Plain(text) => s.serialize_str(text),
            Text::Escaped(raw) => raw.serialize(s),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cow::<'a, str>::deserialize(d).map(Text::Plain)
    }
}

/// A JSON value, borrowed when the host writes it and owned when a runtime reads it.
pub type Json<'a> = Cow<'a, Value>;

/// How deep a script's result may nest (arrays and objects in one another). Deeper results end the
/// call with `guest_exception` and [`too_deep_message`], whichever runtime made them: the JSON
/// parsers on both sides stop at 128 levels, and a result must not depend on which one gave up.
pub const MAX_RESULT_DEPTH: usize = 100;

/// The message of a result nested deeper than [`MAX_RESULT_DEPTH`].
pub fn too_deep_message() -> String {
    format!(
        "the result nests arrays and objects more than {MAX_RESULT_DEPTH} levels deep, the most a result may"
    )
}

/// How deep arrays and objects nest in JSON text (0 for a scalar). Reads strings and escapes, so
/// brackets inside strings do not count; text that is not JSON gives a meaningless number.
pub fn json_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A runtime's answer to one request.
///
/// Read leniently: a runtime the script can rewrite (Python) may send anything, so a member of the
/// wrong type counts as absent rather than failing the whole answer; only `ok` must be a boolean.
#[derive(Debug, Default, Serialize)]
pub struct Answer {
    /// Whether the code ran to the end.
    pub ok: bool,
    /// The value, as JSON: the completion value of `eval`, the response of `handler`, what the
    /// handler of `dispatch` returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// `compile`'s bytecode, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytecode: Option<String>,
    /// When `ok` is false: the error code the runtime claims (`guest_exception`,
    /// `memory_limit_exceeded`, `exit`, a host call's code, …). The host decides whether it believes
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// When `ok` is false: what was thrown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Thrown>,
    /// The failure is a promise rejection nobody handled (`rejections: "error"`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub unhandled_rejection: bool,
    /// The exit status of `sys.exit(n)` / `process.exit(n)` (with code `exit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

/// An exception as a runtime reports it. Read leniently, as [`Answer`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Thrown {
    /// Its class: `TypeError`, `ZeroDivisionError`.
    pub name: String,
    /// Its message.
    pub message: String,
    /// The stack as the language prints it.
    pub stack: String,
    /// The host's error code, for an uncaught host-call error (`capability_denied`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The request's own source did not parse: nothing of it ran.
    #[serde(default, skip_serializing_if = "is_false")]
    pub syntax: bool,
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Thrown {
    /// An exception from what a runtime described: `name`, `message`, `stack` and `code` where they
    /// are strings; anything else is ignored.
    pub fn from_value(value: &Value) -> Thrown {
        Thrown {
            name: text(value, "name").unwrap_or_default(),
            message: text(value, "message").unwrap_or_default(),
            stack: text(value, "stack").unwrap_or_default(),
            code: text(value, "code"),
            syntax: value
                .get("syntax")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

impl<'de> Deserialize<'de> for Thrown {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|value| Thrown::from_value(&value))
    }
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(d)?;
        let ok = value
            .get("ok")
            .and_then(Value::as_bool)
            .ok_or_else(|| serde::de::Error::missing_field("ok"))?;
        Ok(Answer {
            ok,
            result: value.get_mut("result").map(Value::take),
            bytecode: text(&value, "bytecode"),
            code: text(&value, "code"),
            error: value
                .get("error")
                .filter(|e| e.is_object())
                .map(Thrown::from_value),
            unhandled_rejection: value
                .get("unhandled_rejection")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            exit_code: value.get("exit_code").and_then(Value::as_i64),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        assert_eq!(super::json_depth(b"1"), 0);
        assert_eq!(super::json_depth(br#"[1, {"a": [2]}]"#), 3);
        assert_eq!(super::json_depth(br#"["[[[", "\"{{"]"#), 1);
        assert_eq!(super::json_depth(b"[[],[[]]]"), 3);
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn requests_read_as_they_were_written() {
        let code = serde_json::to_string("1 + \"2\"").unwrap();
        let raw = RawValue::from_string(code).unwrap();
        let context = json!({"method": "GET"});
        let request = Request {
            op: Op::Handler {
                source: Source {
                    code: Text::Escaped(&raw),
                    file: "main.js".into(),
                    module: true,
                    rejections: Rejections::Error,
                },
                request: Cow::Borrowed(&context),
            },
            memory_limit: Some(1 << 20),
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"op": "handler", "code": "1 + \"2\"", "file": "main.js", "module": true,
                   "rejections": "error", "request": {"method": "GET"}, "memory_limit": 1048576})
        );
        let read: Request = serde_json::from_str(&text).unwrap();
        let Op::Handler { source, request } = read.op else {
            panic!("{read:?}")
        };
        assert_eq!(source.code.as_str(), "1 + \"2\"");
        assert_eq!(source.rejections, Rejections::Error);
        assert_eq!(*request, context);

        let plain: Request =
            serde_json::from_str(r#"{"op": "eval", "code": "x", "file": "a.py"}"#).unwrap();
        assert!(matches!(
            plain.op,
            Op::Eval(Source {
                module: false,
                rejections: Rejections::Warn,
                ..
            })
        ));
        assert!(serde_json::from_str::<Request>(r#"{"op": "fly"}"#).is_err());
    }

    #[test]
    fn answers_read_with_every_member_optional_but_ok() {
        let answer: Answer = serde_json::from_str(
            r#"{"ok": false, "code": "exit", "exit_code": 3, "error": {"name": "SystemExit", "message": "3", "extra": 1}}"#,
        )
        .unwrap();
        assert!(!answer.ok);
        assert_eq!(answer.exit_code, Some(3));
        assert_eq!(answer.error.unwrap().stack, "");
        assert!(serde_json::from_str::<Answer>(r#"{"result": 1}"#).is_err());
        // A rewritten runtime's nonsense counts as absent, not as a broken answer.
        let odd: Answer = serde_json::from_str(
            r#"{"ok": false, "code": 7, "error": {"name": ["x"], "message": "m", "code": {}}}"#,
        )
        .unwrap();
        assert_eq!(odd.code, None);
        assert_eq!(
            odd.error,
            Some(Thrown {
                message: "m".into(),
                ..Thrown::default()
            })
        );
    }
}
