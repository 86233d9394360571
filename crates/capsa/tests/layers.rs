//! The library's layers point one way: a module imports its own layer and the layers below it, never
//! one above (the table in `src/lib.rs` and the README). This reads the source and fails on the first
//! import that runs back up, naming the file and line.

use std::path::Path;

/// The top-level modules of `src/`, bottom layer first.
const LAYERS: &[(&str, &[&str])] = &[
    ("vocabulary", &["error", "limits", "outcome", "receipt"]),
    (
        "artifacts and capture",
        &["cache", "compile", "files", "mount", "output"],
    ),
    ("policy", &["call", "capability"]),
    ("host", &["host"]),
    ("compile", &["engine", "module"]),
    ("run", &["sandbox"]),
    ("front ends", &["lang"]),
    ("fuzz entry points", &["fuzzing"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn sources(src: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
            out.push((module, path));
        }
    }
}

/// The modules a line names as `crate::<module>`, outside comments.
fn crate_paths(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // `capsa_wire::` and the like are other crates.
            !code[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, m)| {
            let rest = &code[at + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn imports_never_run_up_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut wrong = Vec::new();
    for (module, path) in &files {
        if module == "lib" {
            continue;
        }
        let Some(own) = layer_of(module) else {
            wrong.push(format!(
                "{}: module `{module}` is in no layer: add it to LAYERS (and to lib.rs's table)",
                path.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for target in crate_paths(line) {
                let at = format!("{}:{}", path.display(), n + 1);
                match layer_of(target) {
                    Some(layer) if layer <= own => {}
                    Some(layer) => wrong.push(format!(
                        "{at}: `{module}` ({}) imports `{target}` ({}), a layer above",
                        LAYERS[own].0, LAYERS[layer].0
                    )),
                    // `crate::Name` goes through lib.rs's re-exports and hides the layer.
                    None => wrong.push(format!(
                        "{at}: `crate::{target}` is not a module path; name the module it lives in"
                    )),
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_import_that_runs_up() {
    assert_eq!(
        crate_paths("use crate::sandbox::Sandbox; // crate::lang"),
        ["sandbox"]
    );
    assert_eq!(
        crate_paths("    capsa_wire::bytes::encode(); crate::error::Error::new()"),
        ["error"]
    );
    assert!(layer_of("lang") > layer_of("host"));
    assert_eq!(
        crate_paths("/// [`Engine`](crate::Engine)"),
        Vec::<&str>::new()
    );
}
