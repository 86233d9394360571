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
