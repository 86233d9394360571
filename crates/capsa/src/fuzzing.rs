//! Entry points for the fuzz targets (`fuzz/`, `make fuzz`): the parsers inside capsa that see
//! untrusted text, reachable without a sandbox. Not part of the API; each does what a call does
//! with its input and throws the answer away: only a panic, a hang or a crash matters.

use crate::lang::{scan, typescript};

/// The TypeScript front end (type stripping, with its nesting and size caps) on `source`, then
/// the module detection of the stripped JavaScript, as a script's load does.
pub fn typescript(source: &str) {
    if let Ok(stripped) = typescript::strip(source, "fuzz.ts") {
        let _ = typescript::javascript_is_module(&stripped.code, "fuzz.js");
        let _ = stripped
            .source_map
            .rewrite_stack("at f (fuzz.ts:1:1)\n at g (fuzz.ts:99999:5)");
    }
    let _ = typescript::javascript_is_module(source, "fuzz.js");
}

/// The REPL's scanners: whether `input` is an incomplete JavaScript or Python entry, and the
/// nesting check scripts get before they are parsed.
pub fn repl_scanner(input: &str) {
    let _ = scan::scan(input, usize::MAX).open;
    let _ = scan::scan(input, typescript::MAX_NESTING);
    let _ = scan::python_open(input);
    let _ = scan::looks_like_module(input);
}
