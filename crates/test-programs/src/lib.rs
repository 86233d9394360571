//! Where the built test programs are, for the host-side tests and benchmarks.
//!
//! The programs in `src/bin/` are built for `wasm32-wasip1` with the `guest` profile by `make guests`
//! (CI runs it before the tests); the tests load the `.wasm` files from the shared target directory.

use std::path::{Path, PathBuf};

/// The path of the built test program `name` (e.g. `"probe"`).
///
/// # Panics
///
/// When the program has not been built, with a message saying how to build it.
pub fn path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target
        .join("wasm32-wasip1/guest")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "test program `{}` is missing: run `make guests` first",
        path.display()
    );
    path
}

/// The bytes of the built test program `name`.
///
/// # Panics
///
/// As [`path`].
pub fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).expect("read test program")
}
