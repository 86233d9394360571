//! Embeds capsa's JavaScript runtime (`guests/js`, built for wasm32-wasip1 by `make guests`) so the
//! library and the `capsa` binary carry it. `CAPSA_JS_RUNTIME` may name the file; by default it is
//! looked up in the shared target directory.

use std::path::PathBuf;

const RUNTIME: &str = "wasm32-wasip1/guest/capsa_js.wasm";

fn main() {
    println!("cargo:rerun-if-env-changed=CAPSA_JS_RUNTIME");
    let path = match std::env::var_os("CAPSA_JS_RUNTIME") {
        Some(path) => PathBuf::from(path),
        None => find_in_target_dir(),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    if !path.is_file() {
        panic!(
            "capsa's JavaScript runtime is not built: `{}` is missing. Run `make guests` first \
             (or point CAPSA_JS_RUNTIME at a built capsa_js.wasm).",
            path.display()
        );
    }
    println!("cargo:rustc-env=CAPSA_JS_RUNTIME_WASM={}", path.display());
}

/// `<target>/wasm32-wasip1/guest/capsa_js.wasm` in the target directory this build runs in:
/// `CARGO_TARGET_DIR`, else the ancestor of `OUT_DIR` (`<target>/[<triple>/]<profile>/build/<pkg>/out`)
/// that holds the runtime. When none does, the path in the nearest `target`-looking place, for the
/// error message.
fn find_in_target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let mut dir = PathBuf::from(dir);
        if dir.is_relative() {
            let workspace =
                PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
            dir = workspace.join("../..").join(dir);
        }
        return dir.join(RUNTIME);
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut candidates = out.ancestors().map(|dir| dir.join(RUNTIME));
    candidates
        .find(|path| path.is_file())
        .unwrap_or_else(|| out.ancestors().nth(4).unwrap_or(&out).join(RUNTIME))
}
