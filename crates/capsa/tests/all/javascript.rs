//! What only JavaScript and TypeScript have: console formatting, promise rejections, the web's
//! `Headers` and `Response`, ES module handlers, TypeScript, proxies. What every script language
//! shares (results, exceptions, the guest API, limits, hostile scripts) is in scripts.rs, run for
//! JavaScript as `scripts::<case>::javascript`.

use std::sync::Arc;

use capsa::kv::{KvGrant, MemoryKv};
use capsa::{Call, ErrorCode, Grants, Language, Limits, Receipt, Rejections};
use serde_json::json;

use crate::scripts::JAVASCRIPT;
use crate::{assert_code, engine, exception, quick};

pub fn js(code: &str) -> Receipt {
    JAVASCRIPT.run(code)
}

pub fn js_with(code: &str, limits: Limits, f: impl FnOnce(Call) -> Call) -> Receipt {
    JAVASCRIPT.run_with(code, limits, f)
}

#[test]
fn functions_are_not_json_and_give_no_result() {
    assert_eq!(js("(() => {})").result, None, "functions are not JSON");
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
fn a_thrown_value_that_is_not_an_error_is_the_exceptions_message() {
    let receipt = js("throw 'just a string'");
    assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(exception(&receipt).message, "just a string");
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
fn a_final_promise_or_thenable_is_awaited() {
    for (code, want) in [
        ("(async () => 42)()", json!(42)),
        ("Promise.resolve({ a: [1, 2] })", json!({"a": [1, 2]})),
        ("Promise.resolve().then(() => 'later')", json!("later")),
        (
            "({ then(resolve) { resolve(Promise.resolve(7)) } })",
            json!(7),
        ),
        // What a promise settles to is not awaited twice: only the last value is adopted.
        ("Promise.resolve([Promise.resolve(1)])", json!([{}])),
    ] {
        let receipt = js(code);
        assert!(receipt.is_ok(), "{code}: {receipt:?}");
        assert_eq!(receipt.result, Some(want), "{code}");
    }

    let receipt = js("(async () => { throw new RangeError('no luck') })()");
    assert_code(&receipt, ErrorCode::GuestException);
    let thrown = exception(&receipt);
    assert_eq!(
        (thrown.name.as_str(), thrown.message.as_str()),
        ("RangeError", "no luck")
    );
    assert_eq!(
        receipt.stderr_text(),
        "",
        "a rejection that is the outcome is not reported twice"
    );

    let receipt = js("({ then() { throw new TypeError('bad then') } })");
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("bad then"), "{message}");

    let receipt = js("new Promise(() => {})");
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("can never settle"), "{message}");

    // An object with a `then` that is not a function is a plain value.
    assert_eq!(js("({ then: 1 })").result, Some(json!({"then": 1})));
}

#[test]
fn the_web_platform_apis_scripts_reach_for_behave_as_on_the_web() {
    let receipt = js(r#"
        const u = new URL("/a/b?x=1#f", "https://user:pw@example.com:8443/base");
        u.searchParams.append("z", "a b&c");
        const p = new URLSearchParams("a=1&b=2&a=3&sp=a+b%20c&flag");
        p.sort();
        const caught = (f) => { try { f() } catch (e) { return e.name } };
        const d = new TextDecoder();
        [
          btoa("hi\u00ff"), atob(" aGk= "), caught(() => btoa("€")), caught(() => atob("a")),
          [...new TextEncoder().encode("€\ud800")],
          new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0xe2, 0x82, 0xac])),
          d.decode(new Uint8Array([0xe2, 0x82]), { stream: true }) + d.decode(new Uint8Array([0xac])),
          caught(() => new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff]))),
          caught(() => new TextDecoder("latin1")),
          [u.href, u.origin, u.host, u.pathname, u.search, u.hash],
          new URL("http://bücher.example/").hostname, URL.canParse("no scheme"), caught(() => new URL("x")),
          [p.getAll("a"), p.get("sp"), String(p)],
          String(new URLSearchParams({ y: "ä" })),
          Math.random.name,
        ]
    "#);
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result.unwrap(),
        json!([
            "aGn/",
            "hi",
            "InvalidCharacterError",
            "InvalidCharacterError",
            [0xe2, 0x82, 0xac, 0xef, 0xbf, 0xbd],
            "h€",
            "€",
            "TypeError",
            "RangeError",
            [
                "https://user:pw@example.com:8443/a/b?x=1&z=a+b%26c#f",
                "https://example.com:8443",
                "example.com:8443",
                "/a/b",
                "?x=1&z=a+b%26c",
                "#f"
            ],
            "xn--bcher-kva.example",
            false,
            "TypeError",
            [["1", "3"], "a b c", "a=1&a=3&b=2&flag=&sp=a+b+c"],
            "y=%C3%A4",
            "random",
        ])
    );
}

#[test]
fn await_is_a_name_in_scripts_that_never_await() {
    // test262: in a classic script `await` is an ordinary identifier; only top-level `await`
    // expressions make a script async.
    assert_eq!(js("var await = 3; await + 1").result, Some(json!(4)));
    assert_eq!(
        js("function await(x) { return x * 2 }\nawait(21)").result,
        Some(json!(42))
    );
    assert_eq!(
        js("const v = await Promise.resolve(5); v + 1").result,
        Some(json!(6))
    );
    // Jobs and fire-and-forget callbacks still run in a script that never awaits.
    let receipt = js("Promise.resolve().then(() => console.log('job')); 1");
    assert_eq!(
        (receipt.stdout_text(), receipt.result),
        ("job\n".into(), Some(json!(1)))
    );
    // A syntax error is reported once, with its position, whichever way the script was read.
    let receipt = js("let x = ;");
    assert_code(&receipt, ErrorCode::GuestException);
    assert!(exception(&receipt).syntax, "{receipt:?}");
}

#[test]
fn a_comment_that_mentions_import_leaves_a_script_sloppy() {
    // Octane's code-load.js: a line starting with `import ` inside a comment made it a strict module.
    let receipt = js("/*\nimport the rest later\n*/\nsloppy = 5;\nsloppy");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!(5)));
}

#[test]
fn handlers_get_the_granted_environment_as_their_second_argument() {
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
fn an_es_module_handler_answers_with_a_response() {
    let request = json!({"method": "POST", "path": "/hi", "query": {"name": "ada"}, "headers": {}, "body": "{\"n\": 2}"});
    let receipt = JAVASCRIPT.handle(
        "export default {\n  async fetch(request) {\n    const body = await request.json();\n    return Response.json({ doubled: body.n * 2 }, { status: 202 });\n  }\n}",
        &request,
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(
            json!({"status": 202, "headers": {"content-type": "application/json"}, "body": "{\"doubled\":4}"})
        )
    );
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
fn nested_proxies_end_cleanly() {
    // QuickJS-ng walks proxy chains for `Array.isArray` without recursing: a plain answer.
    let receipt =
        js("let p = [];\nfor (let i = 0; i < 131072; i++) p = new Proxy(p, {});\nArray.isArray(p)");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!(true)));
    // A property read recurses through every trap.
    let receipt = js("let p = {};\nfor (let i = 0; i < 131072; i++) p = new Proxy(p, {});\np.x");
    assert_code(&receipt, ErrorCode::StackOverflow);
    JAVASCRIPT.assert_still_serves();
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
