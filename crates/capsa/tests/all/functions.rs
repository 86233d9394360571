//! Exported functions: numbers, strings, and the errors around them.

use capsa::{Call, ErrorCode, FunctionArgs, Module};
use serde_json::json;

use crate::{assert_code, engine};

fn exports() -> Module {
    engine()
        .load(&capsa_test_programs::bytes("exports"))
        .unwrap()
}

fn numbers(args: &[&str]) -> FunctionArgs {
    FunctionArgs::Numbers(args.iter().map(|s| s.to_string()).collect())
}

fn strings(args: &[&str]) -> FunctionArgs {
    FunctionArgs::Strings(args.iter().map(|s| s.to_string()).collect())
}

#[test]
fn numeric_functions() {
    let m = exports();
    let call = |f: &str, args: &[&str]| m.run(Call::new().function(f, numbers(args))).unwrap();
    assert_eq!(call("add", &["2", "40"]).result, Some(json!([42])));
    assert_eq!(call("add", &["-5", "3"]).result, Some(json!([-2])));
    assert_eq!(call("add", &["4294967295", "1"]).result, Some(json!([0])));
    assert_eq!(
        call("mul64", &["4294967296", "3"]).result,
        Some(json!([12884901888_i64]))
    );
    assert_eq!(call("hypot", &["3", "4"]).result, Some(json!([5.0])));
    assert_eq!(call("hypot", &["inf", "1"]).result, Some(json!(["inf"])));
}

#[test]
fn a_trapping_function_reports_trap() {
    let receipt = exports()
        .run(Call::new().function("divmod", numbers(&["1", "0"])))
        .unwrap();
    assert_code(&receipt, ErrorCode::Trap);
}

#[test]
fn string_functions() {
    let m = exports();
    let receipt = m
        .run(Call::new().function("greet", strings(&["ada"])))
        .unwrap();
    assert_eq!(receipt.result, Some(json!("hello, ada!")));
    let receipt = m
        .run(Call::new().function("concat", strings(&["héllo ", "wörld"])))
        .unwrap();
    assert_eq!(receipt.result, Some(json!("héllo wörld")));
    let receipt = m
        .run(Call::new().function("greet", strings(&[""])))
        .unwrap();
    assert_eq!(receipt.result, Some(json!("hello, !")));
}

#[test]
fn wrong_arguments_are_invalid_input() {
    let m = exports();
    let err =
        |f: &str, args: FunctionArgs| m.run(Call::new().function(f, args)).expect_err("error");
    assert_eq!(err("add", numbers(&["1"])).code(), ErrorCode::InvalidInput);
    assert_eq!(
        err("add", numbers(&["1", "x"])).code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        err("add", numbers(&["1", "99999999999"])).code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(err("add", strings(&["a"])).code(), ErrorCode::InvalidInput);
    assert_eq!(
        err("greet", strings(&["a", "b"])).code(),
        ErrorCode::InvalidInput
    );
    let missing = err("nope", numbers(&[]));
    assert_eq!(missing.code(), ErrorCode::NotFound);
    assert!(
        missing.message().contains("greet"),
        "lists the exports: {}",
        missing.message()
    );
}

#[test]
fn string_arguments_need_alloc() {
    let m = engine()
        .load(br#"(module (memory (export "memory") 1) (func (export "f") (param i32 i32)))"#)
        .unwrap();
    let err = m
        .run(Call::new().function("f", strings(&["x"])))
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.message().contains("alloc"));
}

#[test]
fn a_module_without_start_cannot_be_run_as_a_command() {
    let m = exports_without_start();
    let err = m.run(Call::new()).err().unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.message().contains("double"), "{}", err.message());
}

fn exports_without_start() -> Module {
    engine()
        .load(br#"(module (func (export "double") (param i64) (result i64) local.get 0 local.get 0 i64.add))"#)
        .unwrap()
}

#[test]
fn json_contract_result_is_stdout_parsed() {
    let handler = engine()
        .load(&capsa_test_programs::bytes("hello_handler"))
        .unwrap();
    let receipt = handler
        .run(Call::new().stdin(r#"{"method":"GET","path":"/","query":{"name":"ada"}}"#))
        .unwrap();
    assert!(receipt.is_ok(), "{receipt:?}");
    let result = receipt.result.unwrap();
    assert_eq!(result["status"], 200);
    assert_eq!(result["body"], r#"{"hello":"ada"}"#);
}
