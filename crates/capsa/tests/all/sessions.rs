//! Sessions: state across evaluations, dispatch, reset, stats, bytecode, limits discarding state, and
//! many open at once. A limit discarding the state, for every language, is in scripts.rs.

use capsa::{Call, ErrorCode, Grants, HostFunctions, Language, Limits};
use serde_json::json;

use crate::{assert_code, engine, quick};

fn session(language: Language) -> capsa::Session {
    engine()
        .session(language, Call::new().limits(quick()))
        .expect("session")
}

#[test]
fn state_persists_between_evals() {
    let mut s = session(Language::JavaScript);
    assert!(
        s.eval("let count = 1; var seen = []; function bump(n) { count += n; return count }")
            .unwrap()
            .is_ok()
    );
    assert_eq!(s.eval("bump(41)").unwrap().result, Some(json!(42)));
    assert_eq!(
        s.eval("seen.push('a'); const later = await Promise.resolve(count); [later, seen]")
            .unwrap()
            .result,
        Some(json!([42, ["a"]]))
    );
    assert_eq!(s.eval("later + 1").unwrap().result, Some(json!(43)));
    assert_eq!(s.stats().evals, 4);
}

#[test]
fn an_exception_keeps_the_state_and_names_the_cell() {
    let mut s = session(Language::JavaScript);
    s.eval("const keep = 'kept'").unwrap();
    let receipt = s.eval("\nnull.x").unwrap();
    assert_code(&receipt, ErrorCode::GuestException);
    let stack = &receipt
        .error
        .as_ref()
        .unwrap()
        .exception
        .as_ref()
        .unwrap()
        .stack;
    assert!(stack.contains("cell2.js:2"), "{stack}");
    assert_eq!(s.eval("keep").unwrap().result, Some(json!("kept")));
    assert_eq!(s.stats().resets, 0);
}

#[test]
fn reset_starts_over() {
    let mut s = session(Language::JavaScript);
    s.eval("var a = 1").unwrap();
    s.reset();
    assert_eq!(s.eval("typeof a").unwrap().result, Some(json!("undefined")));
    assert_eq!(s.stats().resets, 1);
}

#[test]
fn dispatch_calls_handlers_registered_with_host_on() {
    let mut s = session(Language::JavaScript);
    s.eval("let total = 0;\nhost.on('add', async ({ n }) => { total += n; return total; });")
        .unwrap();
    assert_eq!(
        s.dispatch("add", &json!({"n": 2})).unwrap().result,
        Some(json!(2))
    );
    assert_eq!(
        s.dispatch("add", &json!({"n": 40})).unwrap().result,
        Some(json!(42))
    );
    let receipt = s.dispatch("nope", &json!(null)).unwrap();
    let message = assert_code(&receipt, ErrorCode::GuestException);
    assert!(message.contains("no handler for event `nope`"), "{message}");
}

#[test]
fn compiled_bytecode_runs_many_times() {
    let mut s = session(Language::JavaScript);
    s.eval("var n = 0").unwrap();
    let compiled = s.compile("n += 1; n * 10").unwrap();
    for expected in [10, 20, 30] {
        let receipt = s.eval_compiled(&compiled).unwrap();
        assert!(receipt.is_ok(), "{receipt:?}");
        assert_eq!(receipt.result, Some(json!(expected)));
    }
    // Bytecode made in one sandbox never goes into another session.
    let mut other = session(Language::JavaScript);
    let err = other.eval_compiled(&compiled).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);

    // A cell that awaits at top level compiles too, and so does one that uses `await` as a name.
    let awaiting = s.compile("n += await Promise.resolve(100); n").unwrap();
    assert_eq!(s.eval_compiled(&awaiting).unwrap().result, Some(json!(103)));
    let named = s.compile("var await = 1; n + await").unwrap();
    assert_eq!(s.eval_compiled(&named).unwrap().result, Some(json!(104)));

    let err = s.compile("let = ;").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("SyntaxError"), "{err}");
}

#[test]
fn typescript_sessions_strip_each_cell() {
    let mut s = session(Language::TypeScript);
    s.eval("interface P { x: number }\nconst p: P = { x: 20 };")
        .unwrap();
    assert_eq!(
        s.eval("(p.x as number) + 22").unwrap().result,
        Some(json!(42))
    );
    let err = s.eval("let x: = 1").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let err = s.eval("export const y: number = 1").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("import`/`export"), "{err}");
}

#[test]
fn sessions_reach_granted_host_functions_and_count_stats() {
    let grants = Grants::new().host_functions(
        HostFunctions::new().sync("twice", |v| Ok(json!(v.as_i64().unwrap_or(0) * 2))),
    );
    let mut s = engine()
        .session(
            Language::JavaScript,
            Call::new().limits(quick()).grants(grants),
        )
        .unwrap();
    assert_eq!(
        s.eval("host.call('twice', 21)").unwrap().result,
        Some(json!(42))
    );
    assert_eq!(
        s.eval("await host.rpc('twice', 2)").unwrap().result,
        Some(json!(4))
    );
    let stats = s.stats();
    assert_eq!(stats.host_calls, 2);
    assert!(stats.memory_peak_bytes > 0);
}

#[test]
fn wasm_has_no_sessions() {
    let Err(err) = engine().session(Language::Wasm, Call::new()) else {
        panic!("a wasm session opened");
    };
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[test]
fn an_out_of_memory_eval_discards_the_state() {
    let limits = Limits {
        memory: "64MiB".parse().unwrap(),
        ..quick()
    };
    let mut s = engine()
        .session(Language::JavaScript, Call::new().limits(limits))
        .unwrap();
    s.eval("var keep = 1").unwrap();
    let receipt = s
        .eval("const b = []; for (;;) b.push(new Array(1e5).fill(1))")
        .unwrap();
    assert_code(&receipt, ErrorCode::MemoryLimitExceeded);
    assert_eq!(s.stats().resets, 1);
    let receipt = s.eval("typeof keep").unwrap();
    assert_eq!(receipt.result, Some(json!("undefined")));
    assert_eq!(
        receipt.stderr_text(),
        "",
        "nothing of the failed eval is reported later"
    );
}

#[test]
fn host_calls_left_in_flight_do_not_leak_into_the_next_eval() {
    let kv = capsa::kv::KvGrant::new(std::sync::Arc::new(capsa::kv::MemoryKv::new()), "s").unwrap();
    let mut s = engine()
        .session(
            Language::JavaScript,
            Call::new().limits(quick()).grants(Grants::new().kv(kv)),
        )
        .unwrap();
    // Not awaited: the call still finishes (and its callback runs) before the eval returns.
    let receipt = s
        .eval("kv.set('a', '1').then(() => console.log('stored')); 1")
        .unwrap();
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.stdout_text(), "stored\n");
    // Left in flight by an eval that threw.
    let receipt = s.eval("kv.get('a'); throw new Error('x')").unwrap();
    assert_code(&receipt, ErrorCode::GuestException);
    let receipt = s.eval("await kv.get('a')").unwrap();
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!("1")));
    assert_eq!(s.stats().resets, 0);
}

#[test]
fn a_failed_eval_leaves_no_rejection_behind() {
    let mut s = session(Language::JavaScript);
    let receipt = s
        .eval("Promise.reject(new Error('from cell1')); throw 2")
        .unwrap();
    assert_code(&receipt, ErrorCode::GuestException);
    let receipt = s.eval("1 + 1").unwrap();
    assert_eq!(receipt.stderr_text(), "");
}

#[test]
fn a_cancelled_eval_discards_the_sandbox() {
    let mut s = session(Language::JavaScript);
    s.eval("var keep = 1").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let eval = s.eval_async("while (true) {}");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(100), eval)
                .await
                .is_err()
        );
    });
    drop(runtime);
    assert_eq!(
        s.eval("typeof keep").unwrap().result,
        Some(json!("undefined"))
    );
}

#[test]
fn five_hundred_python_sessions_stay_open_at_once() {
    // A CPython session holds 14 core instances and 2 tables: the pool used to run out of core
    // instances at about 70 live Python sessions (and of tables at 500), long before it ran out of
    // memories, and answered `busy`.
    let mut sessions: Vec<_> = (0..510).map(|_| session(Language::Python)).collect();
    for i in [0, 1, 255, 509] {
        let receipt = sessions[i].eval(&format!("n = {i}\nn * 2")).unwrap();
        assert_eq!(receipt.result, Some(json!(i * 2)), "{receipt:?}");
    }
    assert_eq!(sessions[255].eval("n").unwrap().result, Some(json!(255)));
}

#[test]
fn a_full_pool_answers_busy_and_a_closed_session_frees_its_slot() {
    // An engine of its own, so filling its pool cannot make the other tests busy.
    let engine = capsa::Engine::builder().cache_dir(None).build().unwrap();
    // Opening a session or its first evaluation, whichever takes the slot, is what gets refused.
    let open = || -> Result<capsa::Session, (ErrorCode, String)> {
        let mut s = engine
            .session(Language::JavaScript, Call::new().limits(quick()))
            .map_err(|e| (e.code(), e.to_string()))?;
        match s.eval("1").unwrap().error {
            None => Ok(s),
            Some(failure) => Err((failure.code, failure.message)),
        }
    };
    let mut sessions = Vec::new();
    let (code, message) = loop {
        match open() {
            Ok(s) => sessions.push(s),
            Err(refused) => break refused,
        }
        assert!(sessions.len() <= 1_000, "the pool holds 1,000 sandboxes");
    };
    assert_eq!(code, ErrorCode::Busy, "{message}");
    assert!(message.contains("no sandbox slot is free"), "{message}");
    assert!(
        sessions.len() >= 990,
        "only {} sessions fit",
        sessions.len()
    );
    // The live sessions are untouched, and closing one makes room for the next.
    assert_eq!(sessions[0].eval("2 + 2").unwrap().result, Some(json!(4)));
    sessions.pop();
    assert!(open().is_ok(), "a closed session's slot is free again");
}
