//! Embeds capsa's language runtimes, built by `make guests`, so the library and the `capsa` binary
//! carry them: the JavaScript runtime (`guests/js`, a wasm32-wasip1 module) and the Python runtime
//! (`guests/python`, a CPython component made by componentize-py). An environment variable may name
//! each file; by default they are looked up in the shared target directory.

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

/// Each runtime: the variable that may name its file, its path under the target directory, and the
/// variable the library reads it from (`<output>_SHA256` carries its SHA-256, computed here rather
/// than on every start of every process).
const RUNTIMES: [(&str, &str, &str); 2] = [
    (
        "CAPSA_JS_RUNTIME",
        "wasm32-wasip1/guest/capsa_js.wasm",
        "CAPSA_JS_RUNTIME_WASM",
    ),
    (
        "CAPSA_PYTHON_RUNTIME",
        "python/capsa_python.wasm",
        "CAPSA_PYTHON_RUNTIME_WASM",
    ),
];

fn main() {
    for (variable, relative, output) in RUNTIMES {
        println!("cargo:rerun-if-env-changed={variable}");
        let path = match std::env::var_os(variable) {
            Some(path) => PathBuf::from(path),
            None => find_in_target_dir(relative),
        };
        println!("cargo:rerun-if-changed={}", path.display());
        if !path.is_file() {
            panic!(
                "a capsa language runtime is not built: `{}` is missing. Run `make guests` first \
                 (or point {variable} at a built runtime).",
                path.display()
            );
        }
        println!("cargo:rustc-env={output}={}", path.display());
        let bytes = std::fs::read(&path).expect("read the runtime");
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("cargo:rustc-env={output}_SHA256={digest}");
    }
}

/// `<target>/<relative>` in the target directory this build runs in: `CARGO_TARGET_DIR`, else the
/// ancestor of `OUT_DIR` (`<target>/[<triple>/]<profile>/build/<pkg>/out`) that holds the file. When
/// none does, the path in the nearest `target`-looking place, for the error message.
fn find_in_target_dir(relative: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let mut dir = PathBuf::from(dir);
        if dir.is_relative() {
            let workspace =
                PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
            dir = workspace.join("../..").join(dir);
        }
        return dir.join(relative);
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // `cargo install --path crates/capsa-cli` builds in a temporary target directory: the runtimes
    // `make guests` built are then in the workspace's own `target/`.
    let workspace_target =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("../../target")
            .join(relative);
    let mut candidates = out
        .ancestors()
        .map(|dir| dir.join(relative))
        .chain([workspace_target]);
    candidates
        .find(|path| path.is_file())
        .unwrap_or_else(|| out.ancestors().nth(4).unwrap_or(&out).join(relative))
}
