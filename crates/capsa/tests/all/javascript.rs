//! JavaScript and TypeScript scripts: semantics, the guest API, errors, limits and hostile scripts.

use capsa::{Call, ErrorCode, Language, Limits, Receipt};
use serde_json::{Value, json};

use crate::{assert_code, engine, quick};

pub fn js(code: &str) -> Receipt {
    js_with(code, quick(), |c| c)
}

pub fn js_with(code: &str, limits: Limits, f: impl FnOnce(Call) -> Call) -> Receipt {
    let script = engine()
        .script(Language::JavaScript, "main.js", code)
        .expect("script");
    script.run(f(Call::new().limits(limits))).expect("run")
}

#[test]
fn the_last_expression_is_the_result() {
    let receipt = js("const xs = [1, 2, 3];\nxs.map(x => x * 2)");
    assert!(receipt.is_ok(), "{receipt:?}");
    assert_eq!(receipt.result, Some(json!([2, 4, 6])));
    assert_eq!(js("1 + 2").result, Some(json!(3)));
}
