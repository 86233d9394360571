//! JavaScript and TypeScript scripts: semantics, the guest API, errors, limits and hostile scripts.

use std::sync::Arc;

use capsa::http::{AllowList, HostPattern, HttpCaps, HttpGrant};
use capsa::kv::{KvGrant, MemoryKv};
use capsa::{Call, ErrorCode, Grants, Language, Limits, Receipt, Rejections};
use serde_json::{Value, json};

use crate::{assert_code, engine, fuel_engine, host_functions, quick};

pub fn js(code: &str) -> Receipt {
    js_with(code, quick(), |c| c)
}

pub fn js_with(code: &str, limits: Limits, f: impl FnOnce(Call) -> Call) -> Receipt {
    let script = engine()
        .script(Language::JavaScript, "main.js", code)
        .expect("script");
    script.run(f(Call::new().limits(limits))).expect("run")
}

fn handle(code: &str, request: Value) -> Receipt {
    let script = engine()
        .script(Language::JavaScript, "main.js", code)
        .expect("script");
    script
        .handle(&request, Call::new().limits(quick()))
        .expect("handle")
}

/// After a limit, the same engine still runs scripts.
fn assert_js_still_serves() {
    let receipt = js("1 + 2");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!(3)));
}

fn exception(receipt: &Receipt) -> &capsa::Exception {
    receipt
        .error
        .as_ref()
        .and_then(|f| f.exception.as_ref())
        .unwrap_or_else(|| panic!("no exception in {receipt:?}"))
}

#[test]
fn the_last_expression_is_the_result() {
    let receipt = js("const xs = [1, 2, 3];\nxs.map(x => x * 2)");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([2, 4, 6])));
    assert_eq!(receipt.exit_code, Some(0));
    assert_eq!(js("1 + 2").result, Some(json!(3)));
    assert_eq!(js("let x = 1").result, None, "a declaration has no value");
    assert_eq!(
        js("10n ** 20n").result,
        Some(json!("100000000000000000000"))
    );
    assert_eq!(js("(() => {})").result, None, "functions are not JSON");
}

/// Every script in tests/js/conformance ends with the value its `// expect:` line names.
#[test]
fn conformance_scripts_give_their_expected_results() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("conformance dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 60,
        "only {} conformance scripts",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let expected: Value = source
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
            .map(|e| serde_json::from_str(e).expect("expect line is JSON"))
            .unwrap_or_else(|| panic!("{} has no `// expect:` line", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let receipt = engine()
            .script(Language::JavaScript, &name, &source)
            .unwrap()
            .run(Call::new().limits(quick()))
            .unwrap();
        if receipt.result.as_ref() != Some(&expected) || !receipt.is_ok() {
            failures.push(format!(
                "{name}: expected {expected}, got {:?} / {:?}",
                receipt.result, receipt.error
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn console_writes_stdout_and_stderr() {
    let receipt = js(
        r#"console.log("hi", 1, {a: [1, "x"]}, null); console.error("oops"); console.warn(new Map([[1, 2]]))"#,
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text(), "hi 1 { a: [ 1, \"x\" ] } null\n");
    assert_eq!(receipt.stderr_text(), "oops\nMap(1) { 1 => 2 }\n");
}

#[test]
fn an_uncaught_exception_is_a_guest_exception_with_the_source_line() {
    let receipt = js(
        "function f() {\n  return g();\n}\nfunction g() {\n  throw new TypeError('boom');\n}\nf();\n",
    );
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(message, "Uncaught TypeError: boom");
    let e = exception(&receipt);
    assert_eq!(e.name, "TypeError");
    assert_eq!(e.message, "boom");
    assert!(e.stack.contains("at g (main.js:5"), "{}", e.stack);
    assert!(e.stack.contains("at f (main.js:2"), "{}", e.stack);
    assert!(
        !e.stack.contains("capsa:"),
        "runtime frames are hidden: {}",
        e.stack
    );

    let receipt = js("throw 'just a string'");
    assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(exception(&receipt).message, "just a string");

    let receipt = js("let x = ;");
    assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(exception(&receipt).name, "SyntaxError");
    assert!(
        exception(&receipt).stack.contains("main.js:1"),
        "{:?}",
        exception(&receipt)
    );
}

#[test]
fn top_level_await_and_promises_are_drained() {
    let receipt = js(
        "const v = await Promise.resolve(41);\nlet later = 0;\nPromise.resolve().then(() => later = 1);\nawait null;\n[v + 1, later]",
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([42, 1])));

    let receipt = js("await new Promise(() => {})");
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("never settle"), "{message}");
}

#[test]
fn unhandled_rejections_warn_or_fail() {
    let code = "Promise.reject(new Error('lost')); 7";
    let receipt = js(code);
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!(7)));
    assert!(
        receipt
            .stderr_text()
            .contains("Uncaught (in promise) Error: lost"),
        "{}",
        receipt.stderr_text()
    );

    let script = engine()
        .script(Language::JavaScript, "main.js", code)
        .unwrap()
        .rejections(Rejections::Error);
    let receipt = script.run(Call::new().limits(quick())).unwrap();
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(message, "Uncaught (in promise) Error: lost");

    // A rejection handled later in the same call is not reported.
    let receipt = js("const p = Promise.reject(new Error('x')); await null; p.catch(() => {}); 1");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stderr_text(), "");
}

#[test]
fn every_sandbox_gets_fresh_randomness() {
    let a = js("[Math.random(), crypto.randomUUID()]").result.unwrap();
    let b = js("[Math.random(), crypto.randomUUID()]").result.unwrap();
    assert_ne!(a, b, "the snapshot must not fix the random sequence");
    let uuid = a[1].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4");
}

#[test]
fn scripts_see_only_granted_environment_variables() {
    let receipt = js_with("[env.GREETING, env.HOME, Object.keys(env)]", quick(), |c| {
        c.grants(Grants::new().env("GREETING", "hi"))
    });
    assert_eq!(receipt.result, Some(json!(["hi", null, ["GREETING"]])));
    assert_eq!(js("Object.keys(env)").result, Some(json!([])));

    let script = engine()
        .script(
            Language::JavaScript,
            "main.js",
            "export default { fetch(req, env) { return env.TOKEN } }",
        )
        .unwrap();
    let call = Call::new()
        .limits(quick())
        .grants(Grants::new().env("TOKEN", "s3cret"));
    let receipt = script
        .handle(&json!({"method": "GET", "path": "/"}), call)
        .unwrap();
    assert_eq!(receipt.result.unwrap()["body"], "s3cret");
}

#[test]
fn headers_and_responses_behave_like_the_web_ones() {
    let receipt = js(
        "const h = new Headers({ b: '2', A: '1' });\nh.append('a', '3');\nconst seen = [];\nh.forEach((v, k) => seen.push(`${k}=${v}`));\nlet bad;\ntry { new Response('', { status: 'abc' }) } catch (e) { bad = e.name }\nconst r = new Response('hi', { status: 201, headers: h });\n[seen, bad, r.ok, r.status, await r.text(), [...r.headers.keys()]]",
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!([
            ["a=1, 3", "b=2"],
            "RangeError",
            true,
            201,
            "hi",
            ["a", "b"]
        ]))
    );
}

#[test]
fn state_does_not_leak_between_calls() {
    assert!(js("globalThis.leak = 1; leak").is_ok());
    assert_eq!(js("typeof leak").result, Some(json!("undefined")));
}

#[test]
fn host_call_and_rpc_reach_host_functions() {
    let receipt = js_with(
        "const sum = host.call('add', {a: 2, b: 40});\nconst echoed = await host.rpc('slow', [sum]);\necho = echoed;\n[sum, echoed]",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([42, [42]])));
    assert_eq!(receipt.stats.host_calls, 2);
}

#[test]
fn rpcs_in_flight_run_concurrently() {
    let receipt = js_with(
        "await Promise.all([1, 2, 3, 4].map(i => host.rpc('slow', i)))",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([1, 2, 3, 4])));
    // Four 300 ms calls one after another would take 1.2 s.
    assert!(receipt.stats.wall_us < 1_000_000, "{:?}", receipt.stats);
    // Waiting is not CPU.
    assert!(receipt.stats.cpu_us < 250_000, "{:?}", receipt.stats);
}

#[test]
fn host_errors_can_be_caught_or_end_the_call_with_their_code() {
    let receipt = js_with(
        "let out;\ntry { host.call('fail', {}) } catch (e) { out = [e.name, e.code, e.message] }\nout",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert_eq!(
        receipt.result,
        Some(json!(["HostError", "host_error", "it broke"]))
    );

    let receipt = js("host.call('not_granted', {})");
    let message = assert_code(&receipt, ErrorCode::CapabilityDenied);
    assert!(message.contains("HostError"), "{message}");
    let receipt = js("await host.rpc('not_granted', {})");
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn kv_is_reachable_when_granted() {
    let kv = KvGrant::new(Arc::new(MemoryKv::new()), "js").unwrap();
    let grants = Grants::new().kv(kv);
    let receipt = js_with(
        "await kv.set('a', 'one');\nawait kv.set('b', new Uint8Array([0, 255]));\nconst b = await kv.get('b');\n[await kv.get('a'), Array.from(b), await kv.get('missing'), (await kv.list('')).keys, await kv.delete('a'), await kv.get('a')]",
        quick(),
        |c| c.grants(grants.clone()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!(["one", [0, 255], null, ["a", "b"], true, null]))
    );

    let receipt = js("await kv.get('a')");
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn fetch_reaches_granted_hosts_only() {
    let server = capsa_test_programs::HttpServer::start();
    let allow = AllowList::new([format!("127.0.0.1:{}", server.port())
        .parse::<HostPattern>()
        .unwrap()]);
    let grants = Grants::new().http(HttpGrant::new(allow, HttpCaps::default()).unwrap());
    let code = format!(
        "const r = await fetch('{}', {{method: 'POST', body: 'ping', headers: {{'x-a': '1'}}}});\n[r.status, r.ok, r.headers.get('content-type') !== null, await r.text()]",
        server.url("/echo")
    );
    let receipt = js_with(&code, quick(), |c| c.grants(grants.clone()));
    assert!(receipt.is_ok(), "{receipt:?}");
    let result = receipt.result.unwrap();
    assert_eq!(result[0], json!(200));
    assert_eq!(result[1], json!(true));
    assert!(result[3].as_str().unwrap().contains("ping"), "{result}");

    let receipt = js("await fetch('http://169.254.169.254/latest/meta-data/')");
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn handlers_get_the_request_and_return_a_response() {
    let request = json!({"method": "POST", "path": "/hi", "query": {"name": "ada"}, "headers": {}, "body": "{\"n\": 2}"});
    let receipt = handle(
        "function handler(req) {\n  return { status: 201, headers: { 'x-n': '1' }, body: `hello ${req.query.name}` };\n}",
        request.clone(),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!({"status": 201, "headers": {"x-n": "1"}, "body": "hello ada"}))
    );

    let receipt = handle(
        "export default {\n  async fetch(request) {\n    const body = await request.json();\n    return Response.json({ doubled: body.n * 2 }, { status: 202 });\n  }\n}",
        request.clone(),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(
            json!({"status": 202, "headers": {"content-type": "application/json"}, "body": "{\"doubled\":4}"})
        )
    );

    let receipt = handle(
        "async function handler(req) { return { path: req.path }; }",
        request.clone(),
    );
    assert_eq!(
        receipt.result,
        Some(
            json!({"status": 200, "headers": {"content-type": "application/json"}, "body": "{\"path\":\"/hi\"}"})
        )
    );

    let receipt = handle("const x = 1;", request);
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("no handler"), "{message}");
}

#[test]
fn typescript_runs_with_types_stripped_and_stacks_in_ts_lines() {
    let source = "interface P { x: number }\n\nenum Mode { A = 1, B }\n\nfunction f(p: P): number {\n  return p.x * Mode.B;\n}\n\nf({ x: 21 } as P)\n";
    let script = engine()
        .script(Language::TypeScript, "main.ts", source)
        .unwrap();
    let receipt = script.run(Call::new().limits(quick())).unwrap();
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!(42)));

    let source = "type T = { a: number };\n\ninterface U {\n  b: string;\n}\nfunction boom(t: T): never {\n  throw new RangeError(`bad ${t.a}`);\n}\nboom({ a: 1 });\n";
    let script = engine()
        .script(Language::TypeScript, "main.ts", source)
        .unwrap();
    let receipt = script.run(Call::new().limits(quick())).unwrap();
    assert_code(&receipt, ErrorCode::GuestException);
    let e = exception(&receipt);
    assert_eq!(e.name, "RangeError");
    assert!(e.stack.contains("at boom (main.ts:7:"), "{}", e.stack);

    let Err(err) = engine().script(
        Language::TypeScript,
        "bad.ts",
        "const a = 1;\nlet b: = 2;\n",
    ) else {
        panic!("a syntax error was accepted");
    };
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("bad.ts:2:8"), "{err}");
}

// --- hostile scripts: each ends with its code, and the next call succeeds ---------------------------

#[test]
fn an_infinite_loop_inside_try_catch_times_out() {
    let limits = Limits {
        timeout: "300ms".parse().unwrap(),
        ..quick()
    };
    let receipt = js_with(
        "try { while (true) {} } catch (e) {} finally { while (true) {} }",
        limits,
        |c| c,
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert_js_still_serves();
}

#[test]
fn an_endless_microtask_loop_times_out() {
    let limits = Limits {
        timeout: "300ms".parse().unwrap(),
        ..quick()
    };
    let receipt = js_with(
        "function spin() { return Promise.resolve().then(spin); }\nawait spin();",
        limits,
        |c| c,
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert_js_still_serves();
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let receipt = js("function f(n) { return f(n + 1) + 1; }\ntry { f(0) } catch (e) { 'caught' }");
    assert_code(&receipt, ErrorCode::StackOverflow);
    assert_js_still_serves();
}

#[test]
fn nested_proxies_end_cleanly() {
    // QuickJS-ng walks proxy chains for `Array.isArray` without recursing: a plain answer.
    let receipt =
        js("let p = [];\nfor (let i = 0; i < 131072; i++) p = new Proxy(p, {});\nArray.isArray(p)");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!(true)));
    // A property read recurses through every trap.
    let receipt = js("let p = {};\nfor (let i = 0; i < 131072; i++) p = new Proxy(p, {});\np.x");
    assert_code(&receipt, ErrorCode::StackOverflow);
    assert_js_still_serves();
}

#[test]
fn a_huge_string_hits_the_memory_limit() {
    let limits = Limits {
        memory: "64MiB".parse().unwrap(),
        ..quick()
    };
    let receipt = js_with(
        "let s = 'x';\nwhile (s.length < 2 ** 30) s += s;\ns.length",
        limits.clone(),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
    let receipt = js_with(
        "const a = [];\nwhile (true) a.push({ x: a.length });",
        limits,
        |c| c,
    );
    assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
    assert_js_still_serves();
}

#[test]
fn rpc_spam_hits_the_host_call_limit() {
    let receipt = js_with(
        "const all = [];\nfor (let i = 0; i < 100000; i++) all.push(host.rpc('slow', i));\nawait Promise.all(all);",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert_code(&receipt, ErrorCode::HostCallLimitExceeded);
    assert_js_still_serves();
}

#[test]
fn console_flood_hits_the_output_limit() {
    let limits = Limits {
        max_output: "64KiB".parse().unwrap(),
        ..quick()
    };
    let receipt = js_with("while (true) console.log('x'.repeat(1000));", limits, |c| c);
    assert_code(&receipt, ErrorCode::OutputLimitExceeded);
    assert!(receipt.truncated.stdout);
    assert_js_still_serves();
}

#[test]
fn a_cpu_budget_counts_javascript_execution() {
    let script = fuel_engine()
        .script(
            Language::JavaScript,
            "main.js",
            "let n = 0; while (true) n++;",
        )
        .unwrap();
    let limits = Limits {
        fuel: Some(50_000_000),
        ..quick()
    };
    let receipt = script.run(Call::new().limits(limits)).unwrap();
    assert_code(&receipt, ErrorCode::CpuLimitExceeded);

    let script = fuel_engine()
        .script(Language::JavaScript, "main.js", "1 + 2")
        .unwrap();
    let receipt = script
        .run(Call::new().limits(Limits {
            fuel: Some(50_000_000),
            ..quick()
        }))
        .unwrap();
    assert!(receipt.is_ok(), "{receipt:?}");
    assert!(receipt.stats.fuel_used.unwrap() > 0);
}

#[test]
fn bad_programs_are_refused_before_they_run() {
    let Err(err) = engine().program(Language::JavaScript, "bin.js", &[0xff, 0xfe, 0x00]) else {
        panic!("a script that is not UTF-8 was accepted");
    };
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let Err(err) = engine().script(Language::Wasm, "main.wasm", "(module)") else {
        panic!("wasm was accepted as a script");
    };
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(matches!(
        engine()
            .program(Language::Wasm, "m.wat", b"(module)")
            .unwrap(),
        capsa::Program::Wasm(_)
    ));
}

#[test]
fn languages_are_named_by_extension_and_flag() {
    use std::path::Path;
    assert_eq!(
        Language::from_path(Path::new("a.mjs")),
        Some(Language::JavaScript)
    );
    assert_eq!(
        Language::from_path(Path::new("a.mts")),
        Some(Language::TypeScript)
    );
    assert_eq!(
        Language::from_path(Path::new("a.wat")),
        Some(Language::Wasm)
    );
    assert_eq!(Language::from_path(Path::new("a.txt")), None);
    assert_eq!(
        "TypeScript".parse::<Language>().unwrap(),
        Language::TypeScript
    );
    assert_eq!("python".parse::<Language>().unwrap(), Language::Python);
    assert_eq!(
        Language::from_path(Path::new("a.py")),
        Some(Language::Python)
    );
    assert_eq!(
        "ruby".parse::<Language>().unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    assert!(Language::Wasm.runtime_wasm().unwrap().is_none());
}

#[test]
fn guest_api_misuse_throws_catchable_errors() {
    let kv = KvGrant::new(Arc::new(MemoryKv::new()), "misuse").unwrap();
    let receipt = js_with(
        "const names = [];\nfor (const f of [\n  () => kv.set('k', { not: 'text' }),\n  () => crypto.getRandomValues(new Uint8Array(65537)),\n  () => crypto.getRandomValues(new Float64Array(2)),\n  () => host.on('x', 42),\n]) { try { await f() } catch (e) { names.push(e.name) } }\nnames",
        quick(),
        |c| c.grants(Grants::new().kv(kv)),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!(["TypeError", "RangeError", "TypeError", "TypeError"]))
    );
}

#[test]
fn a_script_cannot_forge_a_host_error_code() {
    let receipt = js("throw new HostError('busy', 'forged')");
    assert_code(&receipt, ErrorCode::GuestException);
}
