//! Embeds capsa's JavaScript runtime (`guests/js`, built for wasm32-wasip1 by `make guests`) so the
//! library and the `capsa` binary carry it. `CAPSA_JS_RUNTIME` may name the file; by default it is
//! looked up in the shared target directory.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=CAPSA_JS_RUNTIME");
    let path = match std::env::var_os("CAPSA_JS_RUNTIME") {
        Some(path) => PathBuf::from(path),
        None => target_dir().join("wasm32-wasip1/guest/capsa_js.wasm"),
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

/// The target directory: `CARGO_TARGET_DIR`, else the one `OUT_DIR` (`<target>/<profile>/build/<pkg>/out`,
/// or `<target>/<triple>/<profile>/…`) lives in.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            return dir;
        }
        let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
        return manifest.join("../..").join(dir);
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    out.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent()?.parent())
        .map(|dir| {
            // `<target>/<triple>/<profile>` when cross-compiling the host crate.
            if dir.join("CACHEDIR.TAG").is_file() {
                dir.to_path_buf()
            } else {
                dir.parent().unwrap_or(dir).to_path_buf()
            }
        })
        .expect("OUT_DIR lies inside the target directory")
}
