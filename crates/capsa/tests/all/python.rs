//! Python scripts: semantics, the promised standard library, the `capsa` module, errors, handlers,
//! sessions and hostile programs.

use std::sync::Arc;

use capsa::http::{AllowList, HostPattern, HttpCaps, HttpGrant};
use capsa::kv::{KvGrant, MemoryKv};
use capsa::{Call, DirGrant, ErrorCode, Grants, Language, Limits, Receipt};
use serde_json::{Value, json};

use crate::{assert_code, engine, fuel_engine, host_functions, quick};

fn py(code: &str) -> Receipt {
    py_with(code, quick(), |c| c)
}

fn py_with(code: &str, limits: Limits, f: impl FnOnce(Call) -> Call) -> Receipt {
    let script = engine()
        .script(Language::Python, "main.py", code)
        .expect("script");
    script.run(f(Call::new().limits(limits))).expect("run")
}

fn handle(code: &str, request: Value) -> Receipt {
    engine()
        .script(Language::Python, "main.py", code)
        .expect("script")
        .handle(&request, Call::new().limits(quick()))
        .expect("handle")
}

/// After a limit, the same engine still runs Python.
fn assert_py_still_serves() {
    let receipt = py("print('hi')\n1 + 2");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!(3)));
    assert_eq!(receipt.stdout_text(), "hi\n");
}

fn exception(receipt: &Receipt) -> &capsa::Exception {
    receipt
        .error
        .as_ref()
        .and_then(|e| e.exception.as_ref())
        .unwrap_or_else(|| panic!("no exception: {receipt:?}"))
}

/// Every program in tests/python/conformance ends with the value its `# expect:` line names, and
/// prints what its `# stdout:` line (if any) names.
#[test]
fn conformance_programs_give_their_expected_results() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("conformance dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    assert!(files.len() >= 60, "only {} programs", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let header = |prefix: &str| -> Option<Value> {
            source
                .lines()
                .take(2)
                .find_map(|l| l.strip_prefix(prefix))
                .map(|e| serde_json::from_str(e).expect("header is JSON"))
        };
        let expected = header("# expect: ")
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let receipt = engine()
            .script(Language::Python, &name, &source)
            .unwrap()
            .run(Call::new().limits(quick()))
            .unwrap();
        let result = receipt.result.clone().unwrap_or(Value::Null);
        let stdout_ok = header("# stdout: ")
            .is_none_or(|out| out.as_str() == Some(receipt.stdout_text().as_str()));
        if result != expected || !receipt.is_ok() || !stdout_ok {
            failures.push(format!(
                "{name}: expected {expected}, got {result} / {:?} / stdout {:?}",
                receipt.error,
                receipt.stdout_text()
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

/// Every module docs/python.md promises (the list the runtime's build imports) imports.
#[test]
fn the_promised_standard_library_imports() {
    let stdlib = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/python/stdlib.py"),
    )
    .unwrap();
    let list = stdlib
        .split("PROMISED = \"\"\"")
        .nth(1)
        .and_then(|rest| rest.split("\"\"\"").next())
        .expect("PROMISED list");
    let modules: Vec<&str> = list.split_whitespace().collect();
    assert!(modules.len() > 60, "{modules:?}");
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/python.md"),
    )
    .unwrap();
    let code: String = modules
        .iter()
        .map(|m| format!("import {m}\n"))
        .chain(["'imported'".to_owned()])
        .collect();
    let receipt = py(&code);
    assert_eq!(receipt.result, Some(json!("imported")), "{receipt:?}");
    for module in modules {
        assert!(
            docs.contains(&format!("`{module}`")),
            "docs/python.md does not list `{module}`"
        );
    }
}

#[test]
fn print_and_stderr_and_the_final_expression() {
    let receipt = py(
        "import sys\nprint('out', 1)\nprint('err', file=sys.stderr)\n{'a': [1, 2.5, None, True]}",
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text(), "out 1\n");
    assert_eq!(receipt.stderr_text(), "err\n");
    assert_eq!(receipt.result, Some(json!({"a": [1, 2.5, null, true]})));

    // Not JSON: its repr. None and statements: no result.
    assert_eq!(py("object").result, Some(json!("<class 'object'>")));
    assert_eq!(py("float('nan')").result, Some(json!("nan")));
    assert_eq!(py("None").result, None);
    assert_eq!(py("x = 1").result, None);
    // Keys JSON would merge: its repr, with nothing lost.
    assert_eq!(
        py("{1: 'a', '1': 'b'}").result,
        Some(json!("{1: 'a', '1': 'b'}"))
    );
    // Integers beyond 64 bits keep every digit.
    assert_eq!(py("2 ** 64").result, Some(json!("18446744073709551616")));
}

#[test]
fn an_exception_is_a_guest_exception_with_the_users_lines() {
    let receipt = py("def f(x):\n    return 1 / x\n\nf(0)");
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(message, "ZeroDivisionError: division by zero");
    let exc = exception(&receipt);
    assert_eq!(exc.name, "ZeroDivisionError");
    assert_eq!(exc.message, "division by zero");
    assert!(
        exc.stack
            .starts_with("Traceback (most recent call last):\n"),
        "{}",
        exc.stack
    );
    assert!(
        exc.stack.contains("File \"main.py\", line 4, in <module>"),
        "{}",
        exc.stack
    );
    assert!(
        exc.stack.contains("File \"main.py\", line 2, in f"),
        "{}",
        exc.stack
    );
    assert!(exc.stack.contains("return 1 / x"), "{}", exc.stack);
    // No frame of the runtime or of asyncio around the user's code.
    assert!(!exc.stack.contains("capsa_runtime"), "{}", exc.stack);
    assert!(!exc.stack.contains("asyncio"), "{}", exc.stack);

    // The same from async code awaited at the top level.
    let receipt = py(
        "import asyncio\nasync def g():\n    await asyncio.sleep(0)\n    raise KeyError('k')\nawait g()",
    );
    assert_code(&receipt, ErrorCode::GuestException);
    let stack = &exception(&receipt).stack;
    assert!(stack.contains("line 4, in g"), "{stack}");
    assert!(!stack.contains("asyncio/"), "{stack}");

    // Chained exceptions keep both tracebacks.
    let receipt =
        py("try:\n    {}['x']\nexcept KeyError as e:\n    raise ValueError('wrapped') from e");
    let stack = &exception(&receipt).stack;
    assert!(stack.contains("KeyError: 'x'"), "{stack}");
    assert!(stack.contains("direct cause"), "{stack}");
}

#[test]
fn strings_that_are_not_utf8_never_break_the_answer() {
    // Lone surrogates (os.listdir of non-UTF-8 names gives them) in the result, in an exception, in
    // a host call, in a log line, and a sys.exit whose message cannot be printed.
    assert_eq!(py("'a\\ud800b'").result, Some(json!("a?b")));
    assert_eq!(py("{'\\ud800': 1}").result, Some(json!({"?": 1})));
    let receipt = py("raise ValueError('bad \\udcff')");
    assert_eq!(
        assert_code(&receipt, ErrorCode::GuestException),
        "ValueError: bad ?"
    );
    let receipt =
        py("class X:\n    def __str__(self):\n        return '\\udcff'\nraise ValueError(X())");
    assert_code(&receipt, ErrorCode::GuestException);
    let receipt = py("import capsa\ncapsa.log('\\udcff')\ncapsa.call('f\\ud800', '\\ud800')");
    assert_code(&receipt, ErrorCode::CapabilityDenied);
    let receipt = py("import sys\nsys.stderr = 1\nsys.exit('bye')");
    assert_code(&receipt, ErrorCode::Exit);
    assert_eq!(receipt.exit_code, Some(1));
}

#[test]
fn output_written_before_a_limit_is_kept() {
    let receipt = py_with(
        "print('before the loop')\nwhile True:\n    pass",
        short(),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert_eq!(receipt.stdout_text(), "before the loop\n");
}

#[test]
fn top_level_await_runs_the_whole_cell_on_the_loop() {
    let receipt = py(
        "import asyncio\nasync def f():\n    await asyncio.sleep(0.01)\n    return 1\ntask = asyncio.create_task(f())\nawait task",
    );
    assert_eq!(receipt.result, Some(json!(1)), "{receipt:?}");
    // asyncio.EventLoop and the policy's loops are capsa's too.
    let receipt = py_with(
        "import asyncio, capsa\nasync def main():\n    return await capsa.rpc('add', {'a': 1, 'b': 2})\nasyncio.run(main(), loop_factory=asyncio.EventLoop)",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert_eq!(receipt.result, Some(json!(3)), "{receipt:?}");
}

#[test]
fn cancelled_host_calls_free_their_handles() {
    // 40 timed-out calls: more than the 32 that may be in flight at once.
    let receipt = py_with(
        "import asyncio, capsa\nasync def main():\n    n = 0\n    for i in range(40):\n        try:\n            await asyncio.wait_for(capsa.rpc('slow', i), 0.005)\n        except TimeoutError:\n            n += 1\n    return n\nasyncio.run(main())",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert_eq!(receipt.result, Some(json!(40)), "{receipt:?}");
}

#[test]
fn handler_responses_are_checked() {
    let request = json!({"method": "GET", "path": "/"});
    for code in [
        "def handler(r):\n    return {'status': True, 'body': ''}",
        "def handler(r):\n    return {'status': 42, 'body': ''}",
        "def handler(r):\n    return {'status': 200, 'headers': {'x': 'a\\r\\nSet-Cookie: y'}}",
    ] {
        let receipt = handle(code, request.clone());
        assert_code(&receipt, ErrorCode::GuestException);
        assert_eq!(exception(&receipt).name, "ValueError", "{code}");
    }
}

#[test]
fn a_syntax_error_names_its_line() {
    let receipt = py("x = 1\ny = (2 +\n");
    assert_code(&receipt, ErrorCode::GuestException);
    let exc = exception(&receipt);
    assert_eq!(exc.name, "SyntaxError");
    assert!(exc.stack.contains("main.py\", line 2"), "{}", exc.stack);
    // Only the location: no frame of the parser that found it.
    assert!(!exc.stack.contains("ast.py"), "{}", exc.stack);
}

#[test]
fn sys_exit_ends_the_call_with_its_exit_code() {
    let receipt = py("import sys\nprint('bye')\nsys.exit(3)");
    assert_code(&receipt, ErrorCode::Exit);
    assert_eq!(receipt.exit_code, Some(3));
    assert_eq!(receipt.stdout_text(), "bye\n");
    let receipt = py("import sys\nsys.exit('fatal: no input')");
    assert_eq!(receipt.exit_code, Some(1));
    assert_eq!(receipt.stderr_text(), "fatal: no input\n");
    assert!(py("raise SystemExit(0)").is_ok());
}

#[test]
fn each_sandbox_has_its_own_randomness() {
    let code = "import random, uuid\n[random.random(), str(uuid.uuid4())]";
    let a = py(code).result;
    let b = py(code).result;
    assert!(a.is_some() && a != b, "{a:?} {b:?}");
}

#[test]
fn capsa_call_reaches_granted_host_functions() {
    let receipt = py_with(
        "import capsa\nsum = capsa.call('add', {'a': 2, 'b': 40})\nlate = await capsa.rpc('slow', [sum])\n[sum, late]",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([42, [42]])));
    assert_eq!(receipt.stats.host_calls, 2);
}

#[test]
fn asyncio_gather_runs_host_calls_concurrently() {
    let receipt = py_with(
        "import asyncio, capsa\nasync def main():\n    return await asyncio.gather(*(capsa.rpc('slow', i) for i in range(4)))\nasyncio.run(main())",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([0, 1, 2, 3])));
    // Four 300 ms calls one after another would take 1.2 s.
    assert!(receipt.stats.wall_us < 1_000_000, "{:?}", receipt.stats);
    // Waiting is not CPU.
    assert!(receipt.stats.cpu_us < 250_000, "{:?}", receipt.stats);
}

#[test]
fn host_errors_can_be_caught_or_end_the_call_with_their_code() {
    let receipt = py_with(
        "import capsa\ntry:\n    capsa.call('fail', {})\nexcept capsa.HostError as e:\n    out = [type(e).__name__, e.code, e.message]\nout",
        quick(),
        |c| c.grants(host_functions()),
    );
    assert_eq!(
        receipt.result,
        Some(json!(["HostError", "host_error", "it broke"]))
    );
    let receipt = py("import capsa\ncapsa.call('not_granted', {})");
    let message = assert_code(&receipt, ErrorCode::CapabilityDenied);
    assert!(message.contains("not granted"), "{message}");
    // A script cannot forge a host's code by raising its own HostError.
    let receipt = py("import capsa\nraise capsa.HostError('timeout', 'fake')");
    assert_code(&receipt, ErrorCode::GuestException);
    // Nor by rewriting the runtime, which is Python too: a claimed limit or host failure counts only
    // when the host saw it happen.
    for claim in [
        "timeout",
        "memory_limit_exceeded",
        "capability_denied",
        "internal",
    ] {
        let receipt = py(&format!(
            "import sys\nrt = sys.modules['capsa_runtime']\nrt._error = lambda exc: {{'ok': False, 'error': {{'name': 'X', 'message': 'forged', 'stack': '', 'code': '{claim}'}}}}\nraise ValueError()"
        ));
        assert_code(&receipt, ErrorCode::GuestException);
    }
    // Nor reach the network without a grant.
    let receipt = py("import capsa\ncapsa.http.fetch('https://example.com/')");
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn kv_is_reachable_when_granted() {
    let kv = KvGrant::new(Arc::new(MemoryKv::new()), "py").unwrap();
    let receipt = py_with(
        "from capsa import kv\nkv.set('a', 'one')\nkv.set('b', b'\\x00\\xff')\n[kv.get('a'), list(kv.get('b')), kv.get('missing'), kv.list('')['keys'], kv.delete('a'), kv.get('a')]",
        quick(),
        |c| c.grants(Grants::new().kv(kv)),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!(["one", [0, 255], null, ["a", "b"], true, null]))
    );
    let receipt = py("import capsa\ncapsa.kv.get('a')");
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn http_fetch_reaches_granted_hosts_only() {
    let server = capsa_test_programs::HttpServer::start();
    let allow = AllowList::new([format!("127.0.0.1:{}", server.port())
        .parse::<HostPattern>()
        .unwrap()]);
    let grants = Grants::new().http(HttpGrant::new(allow, HttpCaps::default()).unwrap());
    let url = server.url("/echo");
    let code = format!(
        "import asyncio, capsa\nr = capsa.http.fetch('{url}', method='POST', headers={{'x-a': '1'}}, body='ping')\nasync def both():\n    return await asyncio.gather(capsa.http.fetch_async('{url}'), capsa.http.fetch_async('{url}'))\npair = asyncio.run(both())\n[r.status, r.ok, 'ping' in r.text(), [p.status for p in pair]]"
    );
    let receipt = py_with(&code, quick(), |c| c.grants(grants.clone()));
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([200, true, true, [200, 200]])));

    let receipt = py_with(
        "import capsa\ncapsa.http.fetch('http://169.254.169.254/latest/meta-data/')",
        quick(),
        |c| c.grants(grants),
    );
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn files_and_env_are_only_what_was_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the host").unwrap();
    let grants = Grants::new()
        .dir(DirGrant::new(dir.path(), "/data"))
        .env("GREETING", "hi");
    let receipt = py_with(
        "import os\nopen('/data/out.txt', 'w').write('from python')\n[open('/data/in.txt').read(), dict(os.environ), sorted(os.listdir('/data'))]",
        quick(),
        |c| c.grants(grants),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!(["from the host", {"GREETING": "hi"}, ["in.txt", "out.txt"]]))
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "from python"
    );

    // Nothing outside a mount: no /etc/passwd, no escape with `..`, no host environment.
    let receipt = py("open('/etc/passwd').read()");
    assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(exception(&receipt).name, "FileNotFoundError");
    let receipt = py_with("open('/data/../../etc/passwd').read()", quick(), |c| {
        c.grants(Grants::new().dir(DirGrant::new(dir.path(), "/data").read_only()))
    });
    assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(py("import os\ndict(os.environ)").result, Some(json!({})));
}

#[test]
fn modules_the_sandbox_cannot_offer_fail_clearly() {
    for (module, reason) in [
        ("socket", "no sockets"),
        ("subprocess", "cannot start processes"),
        ("ctypes", "cannot load native code"),
        ("numpy", "cannot install packages"),
    ] {
        let receipt = py(&format!("import {module}"));
        let message = assert_code(&receipt, ErrorCode::GuestException);
        assert!(message.starts_with("ModuleNotFoundError"), "{message}");
        assert!(message.contains(reason), "{module}: {message}");
    }
    // Optional imports inside the standard library still fall back quietly.
    assert!(py("import json, decimal\njson.dumps(decimal.Decimal('1.5'), default=str)").is_ok());
}

#[test]
fn handlers_get_the_request_and_return_responses() {
    let request =
        json!({"method": "POST", "path": "/greet", "query": {"name": "ada"}, "body": "{\"n\": 2}"});
    let receipt = handle(
        "def handler(request):\n    return {'status': 201, 'headers': {'x-n': request.json()['n']}, 'body': {'hello': request.query['name'], 'method': request.method}}",
        request.clone(),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(
            json!({"status": 201, "headers": {"x-n": "2"}, "body": "{\"hello\": \"ada\", \"method\": \"POST\"}"})
        )
    );

    let receipt = handle(
        "import asyncio\nasync def handler(request):\n    await asyncio.sleep(0)\n    return 'hi ' + request['path']",
        request.clone(),
    );
    assert_eq!(
        receipt.result,
        Some(
            json!({"status": 200, "headers": {"content-type": "text/plain; charset=utf-8"}, "body": "hi /greet"})
        )
    );
    let receipt = handle(
        "def handler(request):\n    return b'\\x00\\x01'",
        request.clone(),
    );
    assert_eq!(
        receipt.result.as_ref().unwrap()["body_base64"],
        json!("AAE=")
    );
    let receipt = handle("def handler(request):\n    return [1, 2]", request.clone());
    assert_eq!(receipt.result.as_ref().unwrap()["body"], json!("[1, 2]"));

    let receipt = handle("x = 1", request);
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("no handler"), "{message}");
}

// --- hostile programs: each ends with its code, and the next call succeeds ----------------------

fn short() -> Limits {
    Limits {
        timeout: "1s".parse().unwrap(),
        ..Limits::default()
    }
}

#[test]
fn an_endless_loop_that_catches_everything_ends_at_the_deadline() {
    let receipt = py_with(
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
        short(),
        |c| c,
    );
    assert_code(&receipt, ErrorCode::Timeout);
    assert_py_still_serves();
}

#[test]
fn unbounded_recursion_is_a_stack_overflow() {
    let receipt =
        py("import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)");
    assert_code(&receipt, ErrorCode::StackOverflow);
    assert_py_still_serves();
    // Under Python's own limit, a RecursionError is the same code, and its traceback shows only the
    // innermost frames.
    let receipt = py("def f(n):\n    return f(n + 1)\nf(0)");
    assert_code(&receipt, ErrorCode::StackOverflow);
    let stack = &exception(&receipt).stack;
    assert!(stack.contains("outer frames not shown"), "{stack}");
    assert!(stack.lines().count() < 100, "{stack}");
    assert_py_still_serves();
    // The limit a program may set is capped.
    assert_eq!(
        py("import sys\nsys.setrecursionlimit(10**9)\nsys.getrecursionlimit()").result,
        Some(json!(100_000))
    );
}

#[test]
fn misuse_of_the_host_interface_traps_the_guest_not_the_host() {
    // More handles than can be in flight, and a handle that was never started.
    for code in [
        "from wit_world.imports import host\nhost.wait_any([1] * 33, 0)",
        "from wit_world.imports import host\nhost.call_wait(999)",
    ] {
        let receipt = py(code);
        assert_code(&receipt, ErrorCode::Trap);
        assert_py_still_serves();
    }
    // Dropping an unknown handle is harmless.
    assert!(py("from wit_world.imports import host\nhost.call_drop(999)").is_ok());
}

#[test]
fn an_event_loop_with_nothing_to_wait_for_fails_instead_of_hanging() {
    let receipt = py("import asyncio\nawait asyncio.get_running_loop().create_future()");
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("nothing left to wait for"), "{message}");
}

#[test]
fn memory_bombs_end_at_the_memory_limit() {
    let limits = Limits {
        memory: "128MiB".parse().unwrap(),
        ..quick()
    };
    for code in [
        "x = bytearray(10**9)",
        "xs = []\nwhile True:\n    xs.append('x' * 100_000)",
        "try:\n    s = 'x' * (300 * 2**20)\nexcept MemoryError:\n    pass\ns2 = 'y' * (300 * 2**20)",
    ] {
        let receipt = py_with(code, limits.clone(), |c| c);
        assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
        assert!(
            receipt.stats.memory_peak_bytes <= 128 << 20,
            "{:?}",
            receipt.stats
        );
        assert_py_still_serves();
    }
    // Sizes past the 32-bit guest's address space fail before allocating, as Python's
    // OverflowError: an exception of the program, not a limit.
    for code in ["bytearray(10**10)", "'x' * 10**10"] {
        let receipt = py(code);
        assert_code(&receipt, ErrorCode::GuestException);
        assert_eq!(exception(&receipt).name, "OverflowError");
        assert_py_still_serves();
    }
}

#[test]
fn printing_100_mb_ends_at_the_output_cap() {
    let receipt = py(
        "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.write(chunk)",
    );
    assert_code(&receipt, ErrorCode::OutputLimitExceeded);
    assert!(receipt.truncated.stdout);
    assert_eq!(
        receipt.stdout.len() as u64,
        Limits::default().max_output.bytes()
    );
    assert_py_still_serves();
}

#[test]
fn a_cpu_budget_ends_a_busy_loop() {
    let script = fuel_engine()
        .script(
            Language::Python,
            "main.py",
            "n = 0\nwhile True:\n    n += 1",
        )
        .unwrap();
    let limits = Limits {
        fuel: Some(50_000_000),
        ..quick()
    };
    let receipt = script.run(Call::new().limits(limits)).unwrap();
    assert_code(&receipt, ErrorCode::CpuLimitExceeded);
    let receipt = fuel_engine()
        .script(Language::Python, "main.py", "sum(range(1000))")
        .unwrap()
        .run(Call::new().limits(quick()))
        .unwrap();
    assert_eq!(receipt.result, Some(json!(499500)));
}

#[test]
fn host_call_spam_hits_the_host_call_limit() {
    let limits = Limits {
        max_host_calls: 100,
        ..quick()
    };
    let receipt = py_with(
        "import capsa\nwhile True:\n    try:\n        capsa.call('add', {'a': 1, 'b': 2})\n    except BaseException:\n        pass",
        limits,
        |c| c.grants(host_functions()),
    );
    assert_code(&receipt, ErrorCode::HostCallLimitExceeded);
    assert_py_still_serves();
}

// --- sessions -------------------------------------------------------------------------------------

fn session() -> capsa::Session {
    engine()
        .session(Language::Python, Call::new().limits(quick()))
        .expect("session")
}

#[test]
fn a_python_session_keeps_state_and_dispatches_events() {
    let mut s = session();
    assert!(s.eval("import capsa\ncount = 0\n@capsa.on('tick')\ndef tick(payload):\n    global count\n    count += payload['n']\n    return count").unwrap().is_ok());
    assert_eq!(
        s.dispatch("tick", &json!({"n": 2})).unwrap().result,
        Some(json!(2))
    );
    assert_eq!(
        s.dispatch("tick", &json!({"n": 40})).unwrap().result,
        Some(json!(42))
    );
    assert_eq!(s.eval("count").unwrap().result, Some(json!(42)));
    let receipt = s.dispatch("nope", &json!(null)).unwrap();
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("@capsa.on(\"nope\")"), "{message}");

    // An exception keeps the state and names the cell.
    let receipt = s.eval("\n1 / 0").unwrap();
    assert!(exception(&receipt).stack.contains("cell"), "{receipt:?}");
    assert_eq!(s.eval("count + 1").unwrap().result, Some(json!(43)));
    // A task left running by one cell: its host call ended with that cell, so awaiting it later is
    // an error, not a dead handle.
    let mut s2 = engine()
        .session(
            Language::Python,
            Call::new().limits(quick()).grants(host_functions()),
        )
        .unwrap();
    s2.eval("import asyncio, capsa\nt = asyncio.create_task(capsa.rpc('slow', 1))\n_ = await asyncio.sleep(0)")
        .unwrap();
    let receipt = s2.eval("await t").unwrap();
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("abandoned"), "{message}");
    assert_eq!(s2.eval("1 + 1").unwrap().result, Some(json!(2)));
    // Async cells on the session's event loop.
    assert_eq!(
        s.eval("import asyncio\nawait asyncio.sleep(0, result=count)")
            .unwrap()
            .result,
        Some(json!(42))
    );

    s.reset();
    let receipt = s.eval("count").unwrap();
    assert_eq!(exception(&receipt).name, "NameError");
    assert_eq!(s.stats().resets, 1);
    assert!(s.stats().evals >= 8);

    let Err(err) = s.compile("1 + 2") else {
        panic!("Python sessions do not compile to bytecode")
    };
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[test]
fn a_session_cell_that_hits_a_limit_discards_the_state() {
    let mut s = engine()
        .session(Language::Python, Call::new().limits(short()))
        .unwrap();
    s.eval("kept = 1").unwrap();
    let receipt = s.eval("while True: pass").unwrap();
    assert_code(&receipt, ErrorCode::Timeout);
    let receipt = s.eval("kept").unwrap();
    assert_eq!(exception(&receipt).name, "NameError");
    assert_eq!(s.stats().resets, 1);
    assert_eq!(s.eval("1 + 1").unwrap().result, Some(json!(2)));
}
