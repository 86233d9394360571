//! A program whose source does not parse is told apart from one that raises a syntax error while it
//! runs, by a structured field (`Exception::syntax`), for JavaScript, TypeScript and Python alike.

use capsa::{Call, ErrorCode, Language, Receipt};

use crate::{engine, quick};

fn run(language: Language, code: &str) -> Receipt {
    let file = format!("main.{language}");
    let script = engine().script(language, &file, code).expect("script");
    script.run(Call::new().limits(quick())).expect("run")
}

#[track_caller]
fn syntax(receipt: &Receipt) -> (String, bool) {
    let failure = receipt
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("no error: {receipt:?}"));
    assert_eq!(failure.code, ErrorCode::GuestException, "{failure:?}");
    let exception = failure.exception.as_ref().expect("an exception");
    (exception.name.clone(), exception.syntax)
}

#[test]
fn source_that_does_not_parse_is_a_syntax_error() {
    for (language, code, name) in [
        (Language::JavaScript, "1 +", "SyntaxError"),
        (Language::JavaScript, "export const x = ;", "SyntaxError"),
        (Language::Python, "def f(:\n    pass", "SyntaxError"),
        (Language::Python, "if True:\npass", "IndentationError"),
        (Language::Python, "return 1", "SyntaxError"),
    ] {
        assert_eq!(
            syntax(&run(language, code)),
            (name.to_owned(), true),
            "{language}: {code}"
        );
    }
}

#[test]
fn a_syntax_error_raised_at_run_time_is_not_the_sources() {
    for (language, code) in [
        (Language::JavaScript, "JSON.parse('{nope')"),
        (Language::JavaScript, "new Function('1 +')"),
        (
            Language::TypeScript,
            "const x: number = JSON.parse('{') as number",
        ),
        (Language::Python, "raise SyntaxError('made up')"),
        (Language::Python, "compile('1 +', 'x', 'eval')"),
    ] {
        let (name, syntax) = syntax(&run(language, code));
        assert_eq!(name, "SyntaxError", "{language}: {code}");
        assert!(!syntax, "{language}: {code} ran, so its source parsed");
    }
}
