//! One function per parser that sees untrusted input. Each takes arbitrary bytes, does with them
//! what capsa does with a user's or a guest's input, and panics only on a bug: a panic inside capsa,
//! a broken round trip, or a call that ends as `internal` (which docs/errors.md calls a capsa bug).

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use capsa::http::{AllowList, HostPattern, HttpCaps, HttpGrant, classify};
use capsa::kv::{KvGrant, MemoryKv};
use capsa::{
    ByteSize, Call, Engine, ErrorCode, Grants, HostError, HostFunctions, HumanDuration, Limits,
};
use capsa_store::{AliasName, FunctionName, FunctionRef, Selector};
use capsa_wire::bytes;
use serde_json::{Map, Value};

/// `capsa.toml`: parsing and checking, then what the gateway derives from it at start.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = capsa_server::config::Config::parse(&text) {
        let _ = config.base_limits();
        let _ = config.listen();
        for route in &config.routes {
            for value in route.env.values() {
                let _ = capsa_server::config::expand_env(value);
            }
        }
    }
}

/// Function, alias and selector names and `name[@version|@alias]` references, one per line; what
/// parses must show as itself and parse again to the same.
///
/// # Panics
///
/// On a name that does not round-trip.
pub fn names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        if let Ok(name) = FunctionName::from_str(line) {
            assert_eq!(name.as_str(), line);
        }
        if let Ok(alias) = AliasName::from_str(line) {
            assert_eq!(alias.as_str(), line);
        }
        if let Ok(selector) = Selector::from_str(line) {
            assert_eq!(Selector::from_str(&selector.to_string()), Ok(selector));
        }
        if let Ok(reference) = FunctionRef::from_str(line) {
            assert_eq!(FunctionRef::from_str(&reference.to_string()), Ok(reference));
        }
    }
}

/// Host patterns (lines up to the first empty one), a method, then URLs: each URL through the
/// allow-list, and what it allows through the address vetting of a few addresses of every class.
pub fn allowlist(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut patterns = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if let Ok(pattern) = HostPattern::from_str(line) {
            let _ = pattern.is_address_range();
            patterns.push(pattern);
        }
    }
    let list = AllowList::new(patterns);
    let method = lines.next().unwrap_or("GET");
    let mut addresses: Vec<IpAddr> = [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "93.184.216.34",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "fd00::1",
        "2001:db8::1",
        "64:ff9b::a9fe:a9fe",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    if let Some(four) = data.first_chunk::<4>() {
        addresses.push(IpAddr::from(*four));
    }
    if let Some(sixteen) = data.last_chunk::<16>() {
        addresses.push(IpAddr::from(*sixteen));
    }
    for url in lines {
        if let Ok(target) = list.check(method, url) {
            for &ip in &addresses {
                let _ = list.check_resolved(&target, method, ip);
            }
        }
        if let Ok(ip) = url.parse::<IpAddr>() {
            let _ = classify(ip);
            let _ = list.check_address(url, ip);
        }
    }
    for ip in addresses {
        let _ = classify(ip);
    }
}

/// An HTTP request as the request context a handler gets (`capsa_server::fuzzing`).
pub fn request_context(data: &[u8]) {
    capsa_server::fuzzing::request_context(data);
}

/// A handler's answer as the gateway's HTTP response (`capsa_server::fuzzing`).
pub fn handler_response(data: &[u8]) {
    capsa_server::fuzzing::handler_response(data);
}

/// An HTTP request through a real handler and back: the request context (as
/// [`request_context`]) into a JavaScript handler that echoes it in its answer (the JSON contract),
/// and into the `wasi:http` test component (the request as wasi:http types); each answer as the
/// gateway's HTTP response.
///
/// # Panics
///
/// When a call ends as `internal`.
pub fn handlers(data: &[u8]) {
    static ECHO: OnceLock<capsa::Program> = OnceLock::new();
    static COMPONENT: OnceLock<capsa::Module> = OnceLock::new();
    let echo = ECHO.get_or_init(|| {
        runtime_engine()
            .program(
                capsa::Language::JavaScript,
                "echo.js",
                b"function handler(r) { return {status: 200, headers: r.headers, body: JSON.stringify(r)} }",
            )
            .expect("the echo handler compiles")
    });
    let component = COMPONENT.get_or_init(|| {
        engine()
            .load_file(capsa_test_programs::http_component_path())
            .expect("the wasi:http test component loads (make guests)")
    });
    let context = capsa_server::fuzzing::request(data);
    for result in [
        echo.handle(&context, Call::new().limits(brief_limits())),
        component.handle(&context, Call::new().limits(brief_limits())),
    ] {
        if let Ok(receipt) = &result {
            capsa_server::fuzzing::response(receipt);
        }
        check_not_internal(result);
    }
}

/// The byte codec of the wire formats: decoding what a guest or a client sends, and the round trip
/// of what capsa encodes.
///
/// # Panics
///
/// On bytes that do not come back the same.
pub fn wire_bytes(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let _ = bytes::decode_value(&value, "body");
        if let Value::Object(object) = &value {
            let _ = bytes::decode(object, "body");
        }
    }
    let _ = bytes::base64_decode(&String::from_utf8_lossy(data));
    assert_eq!(
        bytes::base64_decode(&bytes::base64_encode(data)).as_deref(),
        Some(data)
    );
    let mut object = Map::new();
    bytes::insert(&mut object, "body", data.to_vec());
    assert_eq!(
        bytes::decode(&object, "body").ok().flatten().as_deref(),
        Some(data)
    );
    let lines = data.split(|&b| b == b'\n').filter_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        Some((
            std::str::from_utf8(&line[..colon]).ok()?,
            &line[colon + 1..],
        ))
    });
    let _ = bytes::join_headers(lines.clone());
    let _ = bytes::header_fields(lines);
}

/// The TypeScript front end and the module detection of scripts.
pub fn typescript(data: &[u8]) {
    capsa::fuzzing::typescript(&String::from_utf8_lossy(data));
}

/// The REPL's incomplete-entry scanners and the nesting check of scripts.
pub fn repl_scanner(data: &[u8]) {
    capsa::fuzzing::repl_scanner(&String::from_utf8_lossy(data));
}

/// The host-call ABI as a guest drives it: `data` is the stdin of the `host_calls` test program,
/// which turns each record into a `call_start` with exactly its bytes, against KV, HTTP (loopback
/// port 1 only, which refuses at once) and two custom host functions.
///
/// # Panics
///
/// When the call ends as `internal`.
pub fn host_calls(data: &[u8]) {
    static MODULE: OnceLock<capsa::Module> = OnceLock::new();
    let module = MODULE.get_or_init(|| {
        engine()
            .load_file(capsa_test_programs::path("host_calls"))
            .expect("the host_calls test program loads (make guests)")
    });
    let functions = HostFunctions::new()
        .sync("echo", Ok)
        .sync("fail", |_| Err(HostError::new("failed on purpose")))
        .asynchronous("later", |args| async move { Ok(args) });
    let allow = AllowList::new(["127.0.0.1:1".parse::<HostPattern>().unwrap()]);
    let grants = Grants::new()
        .host_functions(functions)
        .kv(KvGrant::new(Arc::new(MemoryKv::new()), "fuzz").unwrap())
        .http(HttpGrant::new(allow, HttpCaps::default()).unwrap());
    let call = Call::new()
        .stdin(data.to_vec())
        .grants(grants)
        .limits(brief_limits());
    check_not_internal(module.run(call));
}

/// Module loading (`Engine::load`) on arbitrary bytes, binary or text; what loads is run briefly.
pub fn load(data: &[u8]) {
    if let Ok(module) = engine().load(data) {
        check_not_internal(module.run(Call::new().limits(brief_limits())));
    }
}

/// Module loading of valid modules made by wasm-smith from `data`; what loads is run briefly.
pub fn wasm_smith(data: &[u8]) {
    let mut unstructured = arbitrary::Unstructured::new(data);
    let config = wasm_smith::Config {
        max_memories: 3,
        max_tables: 3,
        max_memory32_bytes: 1 << 30,
        export_everything: true,
        ..wasm_smith::Config::default()
    };
    let Ok(module) = wasm_smith::Module::new(config, &mut unstructured) else {
        return;
    };
    if let Ok(module) = engine().load(&module.to_bytes()) {
        check_not_internal(module.run(Call::new().limits(brief_limits())));
    }
}

/// A fuzz target: arbitrary bytes in, a panic on a bug.
pub type Target = fn(&[u8]);

/// Every target, by name (the name of its corpus directory and of its libFuzzer binary).
pub const ALL: &[(&str, Target)] = &[
    ("config", config),
    ("names", names),
    ("allowlist", allowlist),
    ("request_context", request_context),
    ("handler_response", handler_response),
    ("handlers", handlers),
    ("wire_bytes", wire_bytes),
    ("typescript", typescript),
    ("repl_scanner", repl_scanner),
    ("host_calls", host_calls),
    ("load", load),
    ("wasm_smith", wasm_smith),
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Target> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, run)| *run)
}

/// One engine for every call of the targets, without a disk cache.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::builder()
            .cache_dir(None)
            .cpu_budget(true)
            .build()
            .expect("an engine")
    })
}

/// An engine with a disk cache (`target/fuzz-cache`), for the targets that run the language
/// runtimes: they compile once, not in every run. (The others would fill a cache with every
/// module they make up.)
fn runtime_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::builder()
            .cache_dir(Some(crate::target_dir().join("fuzz-cache")))
            .cpu_budget(true)
            .build()
            .expect("an engine")
    })
}

/// Small enough that a hostile module ends quickly.
fn brief_limits() -> Limits {
    Limits {
        timeout: HumanDuration(Duration::from_millis(500)),
        fuel: Some(50_000_000),
        memory: ByteSize::mib(64),
        max_output: ByteSize(64 << 10),
        max_host_calls: 64,
        ..Limits::default()
    }
}

/// A call may end any way but `internal`, and must end.
fn check_not_internal(result: capsa::Result<capsa::Receipt>) {
    let code = match result {
        Ok(receipt) => receipt.error.map(|f| f.code),
        Err(e) => Some(e.code()),
    };
    assert_ne!(
        code,
        Some(ErrorCode::Internal),
        "a call ended as `internal`"
    );
}
