//! One guest, many behaviours, chosen by its first argument. Used by the tests to poke at every limit
//! and capability from inside a real Rust program.
//!
//! Prints what it found on stdout; on failure prints the error on stderr and exits with 1.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::{Value, json};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i)
        .map(String::as_str)
        .unwrap_or_else(|| fail(format!("missing argument {i}")))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match arg(&args, 1) {
        // Files.
        "read" => match std::fs::read_to_string(arg(&args, 2)) {
            Ok(text) => print!("{text}"),
            Err(e) => fail(format!("read {}: {e}", arg(&args, 2))),
        },
        "write" => match std::fs::write(arg(&args, 2), arg(&args, 3)) {
            Ok(()) => println!("wrote {}", arg(&args, 2)),
            Err(e) => fail(format!("write {}: {e}", arg(&args, 2))),
        },
        "rm-r" => match std::fs::remove_dir_all(arg(&args, 2)) {
            Ok(()) => println!("removed"),
            Err(e) => fail(e),
        },
        // `symlink TARGET DIR NAME`: DIR/NAME -> TARGET, made by the WASI call itself (std has no
        // stable wrapper), with DIR one of the guest's mounts.
        "symlink" => match symlink(arg(&args, 2), arg(&args, 3), arg(&args, 4)) {
            Ok(()) => println!("linked"),
            Err(errno) => fail(format!("symlink failed: errno {errno}")),
        },
        "ls" => match std::fs::read_dir(arg(&args, 2)) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                println!("{}", names.join("\n"));
            }
            Err(e) => fail(format!("ls {}: {e}", arg(&args, 2))),
        },
        // Environment.
        "env" => match std::env::var(arg(&args, 2)) {
            Ok(v) => println!("{v}"),
            Err(e) => fail(format!("env {}: {e}", arg(&args, 2))),
        },
        "env-all" => {
            for (k, v) in std::env::vars() {
                println!("{k}={v}");
            }
        }
        "args" => println!("{}", json!(&args[1..])),
        // Host calls.
        "call" => {
            let payload: Value = serde_json::from_str(arg(&args, 3)).unwrap_or_else(|e| fail(e));
            match capsa_guest::call(arg(&args, 2), &payload) {
                Ok(result) => println!("{result}"),
                Err(e) => fail(e),
            }
        }
        "call-many" => {
            // Start every call first, then wait: they run concurrently on the host.
            let n: usize = arg(&args, 3).parse().unwrap_or_else(|e| fail(e));
            let pending: Vec<_> = (0..n)
                .map(|i| capsa_guest::start(arg(&args, 2), &json!(i)))
                .collect();
            let results: Vec<Value> = pending
                .into_iter()
                .map(|p| p.wait().unwrap_or_else(|e| fail(e)))
                .collect();
            println!("{}", json!(results));
        }
        "call-loop" => loop {
            let _ = capsa_guest::call(arg(&args, 2), &json!(null));
        },
        // Key-value store.
        "kv-set" => {
            let ttl = args.get(4).map(|t| t.parse().unwrap_or_else(|e| fail(e)));
            capsa_guest::kv::set(arg(&args, 2), arg(&args, 3), ttl).unwrap_or_else(|e| fail(e));
            println!("set {}", arg(&args, 2));
        }
        "kv-get" => match capsa_guest::kv::get(arg(&args, 2)).unwrap_or_else(|e| fail(e)) {
            Some(value) => println!("{value}"),
            None => println!("(missing)"),
        },
        "kv-bytes" => {
            let bytes: Vec<u8> = (0..=255).collect();
            capsa_guest::kv::set_bytes("bytes", &bytes, None).unwrap_or_else(|e| fail(e));
            let back = capsa_guest::kv::get_bytes("bytes").unwrap_or_else(|e| fail(e));
            println!("{}", back.as_deref() == Some(&bytes[..]));
        }
        "kv-del" => println!(
            "{}",
            capsa_guest::kv::delete(arg(&args, 2)).unwrap_or_else(|e| fail(e))
        ),
        "kv-list" => {
            let (keys, cursor) =
                capsa_guest::kv::list(arg(&args, 2), None, None).unwrap_or_else(|e| fail(e));
            println!("{}", json!({"keys": keys, "cursor": cursor}));
        }
        "kv-set-then-spin" => {
            capsa_guest::kv::set(arg(&args, 2), arg(&args, 3), None).unwrap_or_else(|e| fail(e));
            println!("acknowledged");
            loop {
                std::hint::spin_loop();
            }
        }
        // Outbound HTTP: prints {"status", "body", "headers"} or fails with the error.
        "fetch" => {
            let body = args.get(4).map(|b| b.as_bytes());
            // `GET-AUTH` is a GET that also sends credentials.
            let (method, headers): (&str, &[(&str, &str)]) = match arg(&args, 2) {
                "GET-AUTH" => (
                    "GET",
                    &[("x-probe", "1"), ("authorization", "Bearer SECRET")],
                ),
                method => (method, &[("x-probe", "1")]),
            };
            match capsa_guest::http::fetch(method, arg(&args, 3), headers, body) {
                Ok(r) => println!(
                    "{}",
                    json!({"status": r.status, "body": r.text(), "headers": r.headers})
                ),
                Err(e) => fail(e),
            }
        }
        "log" => {
            capsa_guest::log(capsa_guest::Level::Info, arg(&args, 2));
            capsa_guest::log(capsa_guest::Level::Warn, "second line");
            println!("logged");
        }
        // Limits.
        "alloc" => {
            let mib: usize = arg(&args, 2).parse().unwrap_or_else(|e| fail(e));
            let buf = vec![1u8; mib << 20];
            println!(
                "allocated {} MiB, checksum {}",
                mib,
                buf.iter().map(|b| *b as u64).sum::<u64>()
            );
        }
        "recurse" => {
            fn deep(n: u64, pad: &mut [u8; 256]) -> u64 {
                pad[(n % 256) as usize] = n as u8;
                if n == 0 {
                    0
                } else {
                    deep(n - 1, pad) + pad[0] as u64
                }
            }
            let depth: u64 = arg(&args, 2).parse().unwrap_or_else(|e| fail(e));
            println!("{}", deep(depth, &mut [0; 256]));
        }
        "spin" => {
            let mut x: u64 = 0;
            loop {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                if x == 42 {
                    println!("{x}");
                }
            }
        }
        "count" => {
            let n: u64 = arg(&args, 2).parse().unwrap_or_else(|e| fail(e));
            let mut x: u64 = 0;
            for i in 0..n {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            println!("{x}");
        }
        "flood" => {
            let line = "x".repeat(1023);
            let mut out = std::io::stdout().lock();
            loop {
                if writeln!(out, "{line}").is_err() {
                    // Ignore the error and keep trying: the host must still stop us.
                    continue;
                }
            }
        }
        "print" => {
            let n: usize = arg(&args, 2).parse().unwrap_or_else(|e| fail(e));
            print!("{}", "y".repeat(n));
        }
        "sleep" => {
            let ms: u64 = arg(&args, 2).parse().unwrap_or_else(|e| fail(e));
            std::thread::sleep(Duration::from_millis(ms));
            println!("slept {ms} ms");
        }
        "exit" => std::process::exit(arg(&args, 2).parse().unwrap_or_else(|e| fail(e))),
        "panic" => panic!("the guest panicked on purpose"),
        "stdin" => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .unwrap_or_else(|e| fail(e));
            print!("{}", input.to_uppercase());
        }
        other => fail(format!("unknown probe `{other}`")),
    }
}

/// Creates `dir/name -> target` with WASI's `path_symlink`, where `dir` is a mount (a preopen).
fn symlink(target: &str, dir: &str, name: &str) -> Result<(), u16> {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        fn path_symlink(
            old: *const u8,
            old_len: usize,
            fd: i32,
            new: *const u8,
            new_len: usize,
        ) -> u16;
        fn fd_prestat_dir_name(fd: i32, path: *mut u8, len: usize) -> u16;
    }
    // Preopens are numbered from 3; find the one mounted at `dir`.
    for fd in 3..64 {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is valid for writes of its length.
        let len = dir.len().min(buf.len());
        if unsafe { fd_prestat_dir_name(fd, buf.as_mut_ptr(), len) } == 0
            && &buf[..len] == dir.as_bytes()
        {
            // SAFETY: both strings are valid for reads of their lengths.
            let errno = unsafe {
                path_symlink(target.as_ptr(), target.len(), fd, name.as_ptr(), name.len())
            };
            return if errno == 0 { Ok(()) } else { Err(errno) };
        }
    }
    Err(8) // badf: no such mount
}
