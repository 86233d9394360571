//! Support for the host-side tests and benchmarks: where the built test programs are, and real
//! servers they talk to.
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

/// A real `redis-server` on a free loopback port, without persistence, stopped when dropped.
///
/// `.ci/run` installs it from Debian's `redis-server` package.
pub struct RedisServer {
    child: std::process::Child,
    port: u16,
}

impl RedisServer {
    /// Starts the server and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed or does not start within five seconds.
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server; .ci/run does)");
        let server = RedisServer { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {port}");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
