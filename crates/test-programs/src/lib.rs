//! Support for the host-side tests and benchmarks: where the built test programs are, and real
//! servers they talk to.
//!
//! The programs in `src/bin/` are built for `wasm32-wasip1` with the `guest` profile by `make guests`
//! (CI runs it before the tests), and so is the `wasi:http` component of `crates/test-http-component`
//! for `wasm32-wasip2`; the tests load the `.wasm` files from the shared target directory.

use std::path::{Path, PathBuf};

/// The path of the built test program `name` (e.g. `"probe"`).
///
/// # Panics
///
/// When the program has not been built, with a message saying how to build it.
pub fn path(name: &str) -> PathBuf {
    built("wasm32-wasip1", name)
}

/// The path of the built `wasi:http/proxy` test component (`crates/test-http-component`, built for
/// `wasm32-wasip2`).
///
/// # Panics
///
/// As [`path`].
pub fn http_component_path() -> PathBuf {
    built("wasm32-wasip2", "capsa_test_http_component")
}

/// The bytes of the built `wasi:http/proxy` test component.
///
/// # Panics
///
/// As [`path`].
pub fn http_component() -> Vec<u8> {
    std::fs::read(http_component_path()).expect("read the test component")
}

/// `target/<target>/guest/<name>.wasm` in the shared target directory.
fn built(target: &str, name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = dir.join(target).join("guest").join(format!("{name}.wasm"));
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

/// A small real HTTP/1.1 server on a free loopback port, for the outbound-HTTP tests. It serves until
/// the test process exits. Routes:
///
/// - `GET /hello` → 200 `hello`
/// - `/echo` → 200 with the request body, and its method and headers in `x-*` response headers
/// - `GET /redirect?to=URL` → 302 to `URL`
/// - `GET /endless` → 200 with a body that never ends
/// - `GET /hang` → reads the request and never answers
/// - anything else → 404
pub struct HttpServer {
    port: u16,
}

impl HttpServer {
    /// Starts the server in background threads.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start() -> HttpServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        HttpServer { port }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn serve(mut stream: std::net::TcpStream) {
    use std::io::{BufRead, BufReader, Read, Write};
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut length = 0usize;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push(format!("{}={}", name.to_ascii_lowercase(), value.trim()));
        }
    }
    let mut body = vec![0; length.min(16 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let respond = |stream: &mut std::net::TcpStream, status: &str, extra: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
            body.len()
        );
        let _ = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body));
    };
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    match (method.as_str(), path) {
        ("GET", "/hello") => respond(
            &mut stream,
            "200 OK",
            "content-type: text/plain\r\n",
            b"hello",
        ),
        (_, "/echo") => {
            let extra = format!("x-method: {method}\r\nx-headers: {}\r\n", headers.join(";"));
            respond(&mut stream, "200 OK", &extra, &body)
        }
        (_, "/redirect") => {
            let to = query.strip_prefix("to=").unwrap_or("/hello");
            respond(
                &mut stream,
                "302 Found",
                &format!("location: {to}\r\n"),
                b"",
            )
        }
        ("GET", "/endless") => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "z".repeat(16 * 1024));
            while stream.write_all(chunk.as_bytes()).is_ok() {}
        }
        ("GET", "/hang") => std::thread::sleep(std::time::Duration::from_secs(120)),
        _ => respond(&mut stream, "404 Not Found", "", b"not found"),
    }
}
