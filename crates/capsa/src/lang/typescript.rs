//! TypeScript: types stripped on the host with oxc (parser, semantic analysis, transformer, codegen),
//! then run as JavaScript. No type checking. The generated code's source map turns stack-trace
//! positions back into positions of the TypeScript source.

use std::path::Path;
use std::sync::Arc;

use oxc_allocator::Allocator;
use oxc_ast::ast::Statement;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_diagnostics::OxcDiagnostic;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};

use crate::error::{Error, Result};
use crate::lang::scan::{looks_like_module, scan};

/// TypeScript with its types stripped.
pub(crate) struct Stripped {
    pub(crate) code: String,
    /// The source has `import`/`export` declarations.
    pub(crate) is_module: bool,
    pub(crate) source_map: SourceMap,
}

/// Maps positions in the generated JavaScript back to the TypeScript source.
#[derive(Clone)]
pub(crate) struct SourceMap {
    file: String,
    map: Arc<oxc_sourcemap::SourceMap<'static>>,
}

impl SourceMap {
    /// `stack` with every `FILE:LINE[:COL]` of the script rewritten to its TypeScript position.
    pub(crate) fn rewrite_stack(&self, stack: &str) -> String {
        let table = self.map.generate_lookup_table();
        // The TypeScript (line, column), 1-based, of a generated JavaScript (line, column), 1-based.
        let original = |line: u32, column: u32| {
            let token = self.map.lookup_token_approx(
                &table,
                line.checked_sub(1)?,
                column.saturating_sub(1),
            )?;
            Some((token.get_src_line() + 1, token.get_src_col() + 1))
        };
        let needle = format!("{}:", self.file);
        let mut out = String::with_capacity(stack.len());
        let mut rest = stack;
        while let Some(at) = rest.find(&needle) {
            let (before, after) = rest.split_at(at + needle.len());
            out.push_str(before);
            let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let line_len = digits(after);
            let line: Option<u32> = after[..line_len].parse().ok();
            let (column, consumed) = match after[line_len..].strip_prefix(':') {
                Some(tail) if digits(tail) > 0 => {
                    let n = digits(tail);
                    (tail[..n].parse().ok(), line_len + 1 + n)
                }
                _ => (None, line_len),
            };
            match line.and_then(|l| original(l, column.unwrap_or(1))) {
                Some((l, c)) if column.is_some() => out.push_str(&format!("{l}:{c}")),
                Some((l, _)) => out.push_str(&l.to_string()),
                None => out.push_str(&after[..consumed]),
            }
            rest = &after[consumed..];
        }
        out.push_str(rest);
        out
    }
}

/// The largest TypeScript source capsa strips.
pub(crate) const MAX_SOURCE_BYTES: usize = 1 << 20;

/// The deepest bracket nesting capsa strips. oxc's parser, transformer and code generator recurse
/// once per level, so unbounded nesting would overflow the host's stack.
pub(crate) const MAX_NESTING: usize = 512;

/// Strips the types from TypeScript `source`; `file` names it in errors and stack traces.
///
/// oxc recurses for nested syntax, and source comes from untrusted users: the work runs on its own
/// thread with a stack sized for the source (about 2 KiB per nesting level was measured, and every
/// level takes at least one byte of source), after a check that brackets nest at most
/// [`MAX_NESTING`] deep.
///
/// # Errors
///
/// `invalid_input` naming the first syntax error's TypeScript line and column, or a source over
/// 1 MiB or nested too deep.
pub(crate) fn strip(source: &str, file: &str) -> Result<Stripped> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Error::invalid_input(format!(
            "`{file}` is larger than the 1 MiB capsa strips TypeScript from"
        )));
    }
    if let Some(offset) = scan(source, MAX_NESTING).too_deep_at {
        let (line, column) = line_column(source, offset);
        return Err(Error::invalid_input(format!(
            "`{file}`:{line}:{column} nests brackets more than {MAX_NESTING} levels deep"
        )));
    }
    on_parser_stack(source, "capsa-typescript", || strip_here(source, file))?
}

/// Runs `work` (which parses `source` with oxc) on a thread with a stack sized for the source, as
/// [`strip`] explains.
fn on_parser_stack<T: Send>(
    source: &str,
    name: &str,
    work: impl FnOnce() -> T + Send,
) -> Result<T> {
    let stack = (16 << 20) + source.len() * 4096;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(stack)
            .spawn_scoped(scope, work)
            .map_err(|e| Error::internal(format!("cannot start the {name} parser thread: {e}")))?
            .join()
            .map_err(|_| Error::internal(format!("the {name} parser thread panicked")))
    })
}

/// Whether JavaScript source is an ES module. The extension decides where it says (`.mjs` is one,
/// `.cjs` is not); otherwise the source is one when it has `import`/`export` declarations, as oxc
/// parses it (so a comment or a string that mentions `import` does not count). Source that does not
/// parse, or nests too deep to parse here, is left to QuickJS with the lexical guess.
pub(crate) fn javascript_is_module(source: &str, file: &str) -> bool {
    match Path::new(file).extension().and_then(|e| e.to_str()) {
        Some("mjs") => return true,
        Some("cjs") => return false,
        _ => {}
    }
    let guess = looks_like_module(source);
    if !guess || source.len() > MAX_SOURCE_BYTES || scan(source, MAX_NESTING).too_deep_at.is_some()
    {
        return guess;
    }
    let parse = || {
        let allocator = Allocator::default();
        let parsed = Parser::new(&allocator, source, SourceType::unambiguous()).parse();
        if parsed.panicked || parsed.diagnostics.has_errors() {
            return None;
        }
        Some(
            parsed
                .program
                .body
                .iter()
                .any(Statement::is_module_declaration),
        )
    };
    on_parser_stack(source, "capsa-javascript", parse)
        .ok()
        .flatten()
        .unwrap_or(guess)
}

fn strip_here(source: &str, file: &str) -> Result<Stripped> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::ts()).parse();
    if parsed.panicked || parsed.diagnostics.has_errors() {
        return Err(syntax_error(source, file, parsed.diagnostics.errors()));
    }
    let mut program = parsed.program;
    // Before the transform, which removes type-only imports.
    let is_module = program.body.iter().any(Statement::is_module_declaration);

    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .with_enum_eval(true)
        .build(&program);
    if semantic.diagnostics.has_errors() {
        return Err(syntax_error(source, file, semantic.diagnostics.errors()));
    }
    let scoping = semantic.semantic.into_scoping();
    let path = Path::new(file);
    let transformed = Transformer::new(&allocator, path, &TransformOptions::default())
        .build_with_scoping(scoping, &mut program);
    if transformed.diagnostics.has_errors() {
        return Err(syntax_error(source, file, transformed.diagnostics.errors()));
    }
    let generated = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(path.to_path_buf()),
            // No indentation: it grows with nesting, so a statement nested n deep without brackets
            // (`if(1) if(1) …`) would print n² bytes. Errors point into the TypeScript source anyway.
            indent_width: 0,
            ..CodegenOptions::default()
        })
        .build(&program);
    let map = generated
        .map
        .ok_or_else(|| Error::internal("the TypeScript code generator made no source map"))?;
    Ok(Stripped {
        code: generated.code,
        is_module,
        source_map: SourceMap {
            file: file.to_owned(),
            map: Arc::new(map.into_owned()),
        },
    })
}

fn syntax_error<'a>(
    source: &str,
    file: &str,
    mut errors: impl Iterator<Item = &'a OxcDiagnostic>,
) -> Error {
    let Some(error) = errors.next() else {
        return Error::invalid_input(format!("`{file}` is not valid TypeScript"));
    };
    let offset = error
        .labels
        .iter()
        .find(|label| label.primary())
        .or_else(|| error.labels.last())
        .map_or(0, |label| label.offset() as usize);
    let (line, column) = line_column(source, offset);
    let help = error
        .help
        .as_ref()
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    Error::invalid_input(format!(
        "TypeScript syntax error at {file}:{line}:{column}: {}{help}",
        error.message
    ))
}

/// 1-based line and column (in UTF-16 units, as JavaScript counts) of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].encode_utf16().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_is_a_module_by_its_declarations_or_its_extension() {
        for (code, file, module) in [
            ("export default { fetch() {} }", "main.js", true),
            ("import { x } from 'y';\nx", "main.js", true),
            // A comment or a template that mentions `import` is not a declaration.
            (
                "/*\nimport all the things\n*/\nsloppy = 1",
                "main.js",
                false,
            ),
            ("const t = `\nexport default 1\n`; t", "main.js", false),
            ("import('x').catch(() => 1)", "main.js", false),
            ("1 + 1", "main.mjs", true),
            ("export default 1", "main.cjs", false),
        ] {
            assert_eq!(javascript_is_module(code, file), module, "{file}: {code}");
        }
    }

    const SOURCE: &str = "interface User { name: string }\n\
        enum Color { Red, Green }\n\
        function greet(user: User, color?: Color): string {\n\
        \x20 return `${user.name} ${color ?? Color.Red}`;\n\
        }\n\
        greet({ name: \"ada\" } as User)\n";

    #[test]
    fn strips_types_and_keeps_enums() {
        let stripped = strip(SOURCE, "main.ts").unwrap();
        assert!(!stripped.is_module);
        assert!(!stripped.code.contains("interface"));
        assert!(!stripped.code.contains(": string"));
        assert!(stripped.code.contains("Color"));
    }

    #[test]
    fn a_syntax_error_names_the_typescript_line_and_column() {
        let Err(err) = strip("const a = 1;\nconst b = 2;\nlet x: = 5;\n", "bad.ts") else {
            panic!("a syntax error passed");
        };
        assert_eq!(err.code(), crate::error::ErrorCode::InvalidInput);
        assert!(err.to_string().contains("bad.ts:3:8"), "{err}");
    }

    #[test]
    fn stack_positions_map_back_to_the_source() {
        let source = "type T = { a: number };\n\ninterface U {\n  b: string;\n}\nfunction boom(t: T): never {\n  throw new Error(String(t.a));\n}\n";
        let stripped = strip(source, "main.ts").unwrap();
        let js_line = stripped
            .code
            .lines()
            .position(|l| l.contains("throw"))
            .unwrap() as u32
            + 1;
        let stack = format!("    at boom (main.ts:{js_line}:3)\n    at <eval> (main.ts:{js_line})");
        let rewritten = stripped.source_map.rewrite_stack(&stack);
        assert!(rewritten.contains("at boom (main.ts:7:"), "{rewritten}");
        assert!(rewritten.contains("(main.ts:7)"), "{rewritten}");
    }

    #[test]
    fn modules_are_recognised() {
        assert!(
            strip("export default { fetch(r: unknown) { return 1 } }", "m.ts")
                .unwrap()
                .is_module
        );
        assert!(!strip("const x: number = 1; x", "s.ts").unwrap().is_module);
    }

    /// The declarations users import for the guest API are valid TypeScript.
    #[test]
    fn the_guest_api_declarations_parse() {
        let source = include_str!("../../../../guests/js/capsa.d.ts");
        let allocator = Allocator::default();
        let parsed = Parser::new(&allocator, source, SourceType::d_ts()).parse();
        let errors: Vec<_> = parsed
            .diagnostics
            .errors()
            .map(|e| e.message.to_string())
            .collect();
        assert!(!parsed.panicked && errors.is_empty(), "{errors:?}");
    }

    /// Hostile nesting ends in an error or a result, never in a host stack overflow.
    #[test]
    fn deep_nesting_cannot_overflow_the_host_stack() {
        let n = 200_000;
        for (kind, source) in [
            ("parens", format!("{}1{}", "(".repeat(n), ")".repeat(n))),
            (
                "objects",
                format!("({}1{})", "{a:".repeat(n), "}".repeat(n)),
            ),
            ("unary", format!("{}1", "!".repeat(n))),
            ("ternary", format!("{}0", "a ? b : ".repeat(n / 2))),
            ("arrows", format!("{}0", "() => ".repeat(n / 2))),
            (
                "types",
                format!(
                    "let x: {}number{};",
                    "Array<".repeat(n / 2),
                    ">".repeat(n / 2)
                ),
            ),
        ] {
            let outcome = strip(&source, "deep.ts");
            if let Err(err) = &outcome {
                assert_eq!(
                    err.code(),
                    crate::error::ErrorCode::InvalidInput,
                    "{kind}: {err}"
                );
            }
        }
        let Err(err) = strip(&"(".repeat(MAX_NESTING + 1), "deep.ts") else {
            panic!("nesting over the limit passed");
        };
        assert!(err.to_string().contains("deep.ts`:1:513"), "{err}");
        let Err(err) = strip(&" ".repeat(MAX_SOURCE_BYTES + 1), "big.ts") else {
            panic!("a source over the limit passed");
        };
        assert_eq!(err.code(), crate::error::ErrorCode::InvalidInput);
        // Nesting inside template substitutions counts.
        let templated = format!(
            "`${{{}1{}}}`",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        let Err(err) = strip(&templated, "deep.ts") else {
            panic!("nesting inside a template substitution passed");
        };
        assert!(err.to_string().contains("nests brackets"), "{err}");
        let nested = "`x${`y${[1, {b: `z${2}`}]}`}`;\n".repeat(100);
        assert!(
            strip(&nested, "ok.ts").is_ok(),
            "templates close their substitutions"
        );
        // Brackets inside strings and comments do not count.
        let quoted = format!(
            "const s = '{}'; // {}\n/* {} */ s.length",
            "(".repeat(1000),
            "[".repeat(1000),
            "{".repeat(1000)
        );
        assert!(strip(&quoted, "ok.ts").is_ok());
    }

    #[test]
    fn line_columns_count_utf16_units() {
        assert_eq!(line_column("a\n😀x", 6), (2, 3));
        assert_eq!(line_column("abc", 99), (1, 4));
    }
}
