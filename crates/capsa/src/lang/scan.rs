//! A lexical scan of JavaScript and TypeScript source for bracket nesting: enough to bound how deep a
//! parser will recurse before it runs, and to tell whether interactive input is still open. It knows
//! strings, template literals with their `${…}` substitutions, and comments; it is not a tokenizer
//! (a regex literal is read as code).

/// What [`scan`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Nesting {
    /// The byte offset where `([{` nesting first went deeper than the limit; the scan stops there.
    pub(crate) too_deep_at: Option<usize>,
    /// The source ends inside a bracket, a template literal or a block comment. (An unclosed `'…'` or
    /// `"…"` does not count: it cannot continue on the next line.)
    pub(crate) open: bool,
}

/// Scans `source`, stopping when nesting exceeds `limit`.
pub(crate) fn scan(source: &str, limit: usize) -> Nesting {
    /// Where the scan is: template text, or the code of a `${…}` opened at a depth.
    enum Frame {
        Template,
        Substitution(usize),
    }
    let bytes = source.as_bytes();
    let mut frames: Vec<Frame> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let deeper = |depth: &mut usize, at: usize| {
        *depth += 1;
        (*depth > limit).then_some(at)
    };
    while i < bytes.len() {
        if let Some(Frame::Template) = frames.last() {
            match bytes[i] {
                b'\\' => i += 1,
                b'`' => {
                    frames.pop();
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    i += 1;
                    if let Some(at) = deeper(&mut depth, i) {
                        return Nesting {
                            too_deep_at: Some(at),
                            open: true,
                        };
                    }
                    frames.push(Frame::Substitution(depth));
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match bytes[i] {
            b'(' | b'[' | b'{' => {
                if let Some(at) = deeper(&mut depth, i) {
                    return Nesting {
                        too_deep_at: Some(at),
                        open: true,
                    };
                }
            }
            b'}' if matches!(frames.last(), Some(Frame::Substitution(d)) if *d == depth) => {
                frames.pop();
                depth -= 1;
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'`' => frames.push(Frame::Template),
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                if i + 1 >= bytes.len() {
                    return Nesting {
                        too_deep_at: None,
                        open: true,
                    };
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    Nesting {
        too_deep_at: None,
        open: depth > 0 || !frames.is_empty(),
    }
}

/// Whether JavaScript source is an ES module: a line starting with an `import` or `export`
/// declaration (`import(` is a dynamic import, fine in scripts).
pub(crate) fn looks_like_module(source: &str) -> bool {
    source.lines().any(|line| {
        let line = line.trim_start();
        ["import", "export"].iter().any(|keyword| {
            line.strip_prefix(keyword).is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_whitespace() || c == '{' || c == '*')
                    || (keyword == &"import" && rest.starts_with(['"', '\'']))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::scan;

    fn open(code: &str) -> bool {
        scan(code, usize::MAX).open
    }

    #[test]
    fn open_brackets_templates_and_comments_leave_the_input_open() {
        for code in [
            "function f() {",
            "[1,\n2",
            "`a\nb",
            "/* note",
            "f({a: '}'",
            "`${ f(",
            "`${`x${1",
        ] {
            assert!(open(code), "{code}");
        }
        for code in [
            "1 + 2",
            "f('{')",
            "// {",
            "`${x}`",
            "a /* } */ + b",
            "let s = \"(\"",
            "`${ {a: 1} }`",
            "'unclosed",
        ] {
            assert!(!open(code), "{code}");
        }
    }

    #[test]
    fn nesting_is_counted_in_code_and_substitutions_only() {
        assert_eq!(scan("((()))", 3).too_deep_at, None);
        assert_eq!(scan("(((())))", 3).too_deep_at, Some(3));
        assert_eq!(scan("`${(((1)))}`", 3).too_deep_at, Some(5));
        assert_eq!(
            scan("'((((' // ((((\n/* (((( */ `((((`", 3).too_deep_at,
            None
        );
    }
}

/// Whether interactive Python input needs more lines, as Python's own REPL decides: inside a bracket,
/// a triple-quoted string or after a trailing backslash; or a compound statement (a line ending in
/// `:`, or a decorator) not yet closed by an empty line.
pub(crate) fn python_open(source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut block = false;
    let mut i = 0;
    // The last significant byte of the current line, to spot a `:` or `\` at its end.
    let mut last = b'\n';
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' => {
                let triple = bytes.get(i..i + 3) == Some(&[b, b, b][..]);
                let quote_len = if triple { 3 } else { 1 };
                i += quote_len;
                loop {
                    match bytes.get(i) {
                        None => return triple,
                        Some(b'\\') => i += 2,
                        Some(b'\n') if !triple => break, // an unclosed '…': a syntax error, complete
                        Some(&c)
                            if c == b
                                && (!triple || bytes.get(i..i + 3) == Some(&[b, b, b][..])) =>
                        {
                            i += quote_len;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                last = b;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                if last == b':' && depth == 0 {
                    block = true;
                }
                if last == b'\\' {
                    last = b' ';
                    i += 1;
                    continue;
                }
            }
            _ => {}
        }
        if !b.is_ascii_whitespace() || b == b'\n' {
            last = b;
        }
        i += 1;
    }
    if depth > 0 || last == b'\\' {
        return true;
    }
    if last == b':' {
        return true;
    }
    // A decorator continues into the definition it decorates.
    if source.trim_start().starts_with('@') {
        block = true;
    }
    // A block ends with an empty (or blank) line.
    let last_line = source.rsplit('\n').next().unwrap_or("");
    block && !last_line.trim().is_empty()
}

#[cfg(test)]
mod python_tests {
    use super::python_open;

    #[test]
    fn python_input_continues_where_python_s_repl_would() {
        assert!(!python_open("1 + 2"));
        assert!(python_open("def f(x):"));
        assert!(python_open("def f(x):\n    return x"));
        assert!(!python_open("def f(x):\n    return x\n"));
        assert!(!python_open("def f(x):\n    return x\n   "));
        assert!(python_open("xs = [1,\n 2"));
        assert!(!python_open("xs = [1,\n 2]"));
        assert!(python_open("s = '''abc\n"));
        assert!(!python_open("s = '''abc\n'''"));
        assert!(python_open("x = 1 + \\"));
        assert!(!python_open("d = {'a': 1}  # a comment with ( and :"));
        assert!(!python_open("s = 'no (close'"));
        assert!(python_open("if x:  # comment"));
        assert!(python_open("@capsa.on('hit')"));
        assert!(python_open("@capsa.on('hit')\ndef hit(p):\n    return p"));
        assert!(!python_open(
            "@capsa.on('hit')\ndef hit(p):\n    return p\n"
        ));
    }
}
