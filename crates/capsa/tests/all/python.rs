//! What only Python has: the promised standard library, `repr` results, tracebacks of async and
//! chained exceptions, `sys.exit`, files, the modules a sandbox cannot offer, the `wit_world` host
//! interface, Python's own recursion limit, and sessions. What every script language shares
//! (results, exceptions, the guest API, limits, hostile scripts) is in scripts.rs, run for Python
//! as `scripts::<case>::python`.

use capsa::{Call, DirGrant, ErrorCode, Grants, Language, Limits, Receipt};
use serde_json::{Value, json};

use crate::scripts::PYTHON;
use crate::{assert_code, engine, exception, host_functions, quick};

fn py(code: &str) -> Receipt {
    PYTHON.run(code)
}

fn py_with(code: &str, limits: Limits, f: impl FnOnce(Call) -> Call) -> Receipt {
    PYTHON.run_with(code, limits, f)
}

fn handle(code: &str, request: Value) -> Receipt {
    PYTHON.handle(code, &request)
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
fn what_the_promised_modules_import_lazily_is_there() {
    let receipt = py(r#"
import ast, email, email.message, io, pathlib, pickle, sys, unittest, xml.etree.ElementTree as ET
sys.set_int_max_str_digits(0)
m = email.message_from_string("Subject: hi\n\nbody")
e = email.message.EmailMessage()
e["To"] = "a@b"
e.set_content("x")
class T(unittest.TestCase):
    def test_one(self):
        self.assertEqual(1 + 1, 2)
ran = unittest.TextTestRunner(stream=io.StringIO()).run(
    unittest.defaultTestLoader.loadTestsFromTestCase(T))
[m["subject"], m.as_string(), e.as_string().splitlines()[0], ast.unparse(ast.parse("x=1+2")),
 pathlib.Path("/a b").as_uri(), str(pathlib.Path.from_uri("file:///a%20b")),
 len(str(10**300000 // 7**50000)), len(str(10**20000)), pickle.loads(pickle.dumps({"a": [1, 2]})),
 ET.fromstring("<a><b>t</b></a>").find("b").text, ran.testsRun, ran.wasSuccessful()]
"#);
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!([
            "hi", "Subject: hi\n\nbody", "To: a@b", "x = 1 + 2", "file:///a%20b", "/a b", 257746,
            20001, {"a": [1, 2]}, "t", 1, true
        ]))
    );
}

#[test]
fn values_json_cannot_hold_become_their_repr() {
    assert_eq!(py("object").result, Some(json!("<class 'object'>")));
    assert_eq!(py("float('nan')").result, Some(json!("nan")));
    // Keys JSON would merge: its repr, with nothing lost.
    assert_eq!(
        py("{1: 'a', '1': 'b'}").result,
        Some(json!("{1: 'a', '1': 'b'}"))
    );
}

#[test]
fn async_and_chained_exceptions_keep_the_users_lines() {
    // Raised in async code awaited at the top level: no frame of asyncio around the user's.
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
fn asyncio_event_loops_are_capsas_too() {
    // asyncio.EventLoop and the policy's loops reach host calls like the top level does.
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
fn sys_exit_ends_the_call_with_its_exit_code() {
    let receipt = py("import sys\nprint('bye')\nsys.exit(3)");
    assert_code(&receipt, ErrorCode::Exit);
    assert_eq!(receipt.exit_code, Some(3));
    assert_eq!(receipt.stdout_text(), "bye\n");
    let receipt = py("import sys\nsys.exit('fatal: no input')");
    assert_eq!(receipt.exit_code, Some(1));
    assert_eq!(receipt.stderr_text(), "fatal: no input\n");
    assert!(py("raise SystemExit(0)").is_ok());
    // A message that cannot be printed (stderr replaced) still ends the call with its code.
    let receipt = py("import sys\nsys.stderr = 1\nsys.exit('bye')");
    assert_code(&receipt, ErrorCode::Exit);
    assert_eq!(receipt.exit_code, Some(1));
}

#[test]
fn rewriting_the_runtime_cannot_forge_a_host_code() {
    // The runtime is Python too: a claimed limit or host failure counts only when the host saw it
    // happen.
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
    // Nor can it make the host report `internal` by answering with something that is not an answer.
    for answer in [
        "not json",
        "[1, 2]",
        "{\"ok\": \"yes\"}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]",
    ] {
        let receipt = py(&format!(
            "import sys\nrt = sys.modules['capsa_runtime']\nrt._utf8 = lambda text: {answer:?}\n1"
        ));
        assert_code(&receipt, ErrorCode::GuestException);
        assert!(
            receipt
                .error
                .as_ref()
                .unwrap()
                .message
                .contains(if answer.starts_with("[[") {
                    "more than 100 levels"
                } else {
                    "returned no answer"
                }),
            "{receipt:?}"
        );
    }
}

#[test]
fn files_are_only_what_was_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the host").unwrap();
    let grants = Grants::new().dir(DirGrant::new(dir.path(), "/data"));
    let receipt = py_with(
        "import os\nopen('/data/out.txt', 'w').write('from python')\n[open('/data/in.txt').read(), sorted(os.listdir('/data'))]",
        quick(),
        |c| c.grants(grants),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(
        receipt.result,
        Some(json!(["from the host", ["in.txt", "out.txt"]]))
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "from python"
    );

    // Nothing outside a mount: no /etc/passwd, no escape with `..`.
    let receipt = py("open('/etc/passwd').read()");
    assert_code(&receipt, ErrorCode::GuestException);
    assert_eq!(exception(&receipt).name, "FileNotFoundError");
    let receipt = py_with("open('/data/../../etc/passwd').read()", quick(), |c| {
        c.grants(Grants::new().dir(DirGrant::new(dir.path(), "/data").read_only()))
    });
    assert_code(&receipt, ErrorCode::GuestException);
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
fn handler_values_become_responses_the_python_way() {
    let request =
        json!({"method": "POST", "path": "/greet", "query": {"name": "ada"}, "body": "{\"n\": 2}"});
    // The request's body as `json()`, its keys as attributes; a header value made text, a body
    // that is not text made JSON.
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
        "def handler(request):\n    return b'\\x00\\x01'",
        request.clone(),
    );
    assert_eq!(
        receipt.result.as_ref().unwrap()["body_base64"],
        json!("AAE=")
    );
    let receipt = handle("def handler(request):\n    return [1, 2]", request);
    assert_eq!(receipt.result.as_ref().unwrap()["body"], json!("[1, 2]"));
}

// --- hostile programs: each ends with its code, and the next call succeeds ----------------------

#[test]
fn pythons_own_recursion_limit_is_a_stack_overflow_too() {
    // Under Python's own limit, a RecursionError is the same code, and its traceback shows only the
    // innermost frames.
    let receipt = py("def f(n):\n    return f(n + 1)\nf(0)");
    assert_code(&receipt, ErrorCode::StackOverflow);
    let stack = &exception(&receipt).stack;
    assert!(stack.contains("outer frames not shown"), "{stack}");
    assert!(stack.lines().count() < 100, "{stack}");
    PYTHON.assert_still_serves();
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
        PYTHON.assert_still_serves();
    }
    // Dropping an unknown handle is harmless.
    assert!(py("from wit_world.imports import host\nhost.call_drop(999)").is_ok());
}

#[test]
fn sizes_past_the_address_space_are_an_overflow_error() {
    // Sizes past the 32-bit guest's address space fail before allocating, as Python's
    // OverflowError: an exception of the program, not a limit.
    for code in ["bytearray(10**10)", "'x' * 10**10"] {
        let receipt = py(code);
        assert_code(&receipt, ErrorCode::GuestException);
        assert_eq!(exception(&receipt).name, "OverflowError");
        PYTHON.assert_still_serves();
    }
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

/// `__file__` is defined in a script, as under `python3 FILE`: the script's file name.
#[test]
fn a_script_knows_its_file() {
    let program = engine()
        .program(
            Language::Python,
            "tool.py",
            b"import os\n(__file__, os.path.basename(__file__))",
        )
        .unwrap();
    let receipt = program.run(Call::new().limits(quick())).unwrap();
    assert_eq!(
        receipt.result,
        Some(json!(["tool.py", "tool.py"])),
        "{receipt:?}"
    );
}
