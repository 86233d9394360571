//! End-to-end tests of the `capsa` binary: what a user types, what they see, how it exits.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A `capsa` invocation with its own empty cache directory.
struct Capsa {
    /// Holds the cache directory and, beside it, its key (`cache.key`).
    home: tempfile::TempDir,
}

impl Capsa {
    fn new() -> Self {
        Capsa {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// One cache for the script tests, so the JavaScript runtime is prepared once, not per test.
    fn scripts() -> &'static Self {
        static SHARED: std::sync::OnceLock<Capsa> = std::sync::OnceLock::new();
        SHARED.get_or_init(Capsa::new)
    }

    fn cache(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capsa"));
        cmd.args(args)
            .env("CAPSA_CACHE_DIR", self.cache())
            .env_remove("CAPSA_LOG")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn cache_files(&self, ext: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let Ok(dirs) = std::fs::read_dir(self.cache()) else {
            return found;
        };
        for dir in dirs {
            for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let path = file.unwrap().path();
                if path.extension().is_some_and(|e| e == ext) {
                    found.push(path);
                }
            }
        }
        found
    }
}

fn guest(name: &str) -> String {
    capsa_test_programs::path(name)
        .to_string_lossy()
        .into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn status(out: &Output) -> i32 {
    out.status.code().expect("exit status")
}

#[track_caller]
fn assert_error(out: &Output, code: &str, status_code: i32) {
    assert_eq!(status(out), status_code, "stderr: {}", stderr(out));
    let first = stderr(out);
    assert!(
        first
            .lines()
            .any(|l| l.starts_with(&format!("error[{code}]: "))),
        "no `error[{code}]` line in: {first}"
    );
}

fn receipt(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn run_passes_output_through_and_exits_with_the_guests_code() {
    let capsa = Capsa::new();
    let out = capsa.run(&["run", &guest("probe"), "--", "args", "x y"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "[\"args\",\"x y\"]\n");

    let out = capsa.run(&["run", &guest("probe"), "--", "exit", "7"]);
    assert_eq!(status(&out), 7);
    assert_eq!(
        stderr(&out),
        "",
        "a plain non-zero exit prints nothing of capsa's own"
    );

    // A status past WASI's 0..126 is still an exit (wasmtime-wasi made it a trap, with a backtrace).
    let out = capsa.run(&[
        "run",
        "-c",
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start") (call $exit (i32.const 200))))"#,
        "--json",
    ]);
    let r = receipt(&out);
    assert_eq!(r["outcome"], "exit", "{r}");
    assert_eq!(r["exit_code"], 200);
    // A status no process can exit with (256 would be 0, success) exits 1, as wasmtime does.
    let out = capsa.run(&[
        "run",
        "-c",
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start") (call $exit (i32.const 256))))"#,
    ]);
    assert_eq!(status(&out), 1, "{}", stderr(&out));
}

#[test]
fn run_wat_from_a_file_and_inline() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("trap.wat");
    std::fs::write(&wat, r#"(module (func (export "_start") unreachable))"#).unwrap();
    let out = capsa.run(&["run", wat.to_str().unwrap()]);
    assert_error(&out, "trap", 134);

    let out = capsa.run(&["run", "-c", r#"(module (func (export "_start")))"#]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
}

#[test]
fn the_error_line_starts_a_line_after_unterminated_guest_stderr() {
    let capsa = Capsa::new();
    // Writes "partial" to stderr with no newline, then traps.
    let wat = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "partial")
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 7))
            (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
            unreachable))"#;
    let out = capsa.run(&["run", "-c", wat]);
    assert_error(&out, "trap", 134);
    assert!(
        stderr(&out).starts_with("partial\nerror[trap]: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_contract_with_a_json_receipt() {
    let capsa = Capsa::new();
    let out = capsa.run_with_stdin(
        &["run", &guest("hello_handler"), "--json"],
        r#"{"method":"GET","path":"/hi","query":{"name":"ada"},"headers":{}}"#,
    );
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let r = receipt(&out);
    assert_eq!(r["outcome"], "ok");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["result"]["status"], 200);
    assert_eq!(r["result"]["body"], r#"{"hello":"ada"}"#);
    for stat in [
        "wall_us",
        "instantiate_us",
        "cpu_us",
        "memory_peak_bytes",
        "host_calls",
        "egress_bytes",
    ] {
        assert!(r["stats"][stat].is_u64(), "missing stats.{stat}: {r}");
    }
}

#[test]
fn stdin_reaches_the_guest() {
    let capsa = Capsa::new();
    let out = capsa.run_with_stdin(&["run", &guest("json_echo")], r#"{"a": [1, 2.5, "x"]}"#);
    assert_eq!(stdout(&out), r#"{"a":[1,2.5,"x"]}"#);
}

#[test]
fn limits_end_with_their_code_and_documented_status() {
    let capsa = Capsa::new();
    let probe = guest("probe");
    let cases: &[(&[&str], &str, i32)] = &[
        (&["--timeout", "200ms", "--", "spin"], "timeout", 124),
        (
            &["--fuel", "100000", "--", "spin"],
            "cpu_limit_exceeded",
            152,
        ),
        (
            &["--memory", "32MiB", "--", "alloc", "64"],
            "memory_limit_exceeded",
            137,
        ),
        (
            &["--stack", "256KiB", "--", "recurse", "1000000"],
            "stack_overflow",
            139,
        ),
        (
            &["--max-output", "1MiB", "--", "flood"],
            "output_limit_exceeded",
            153,
        ),
    ];
    for (flags, code, status_code) in cases {
        let mut args = vec!["run", probe.as_str()];
        args.extend_from_slice(flags);
        let out = capsa.run(&args);
        assert_error(&out, code, *status_code);

        args.insert(2, "--json");
        let out = capsa.run(&args);
        assert_eq!(status(&out), *status_code);
        let r = receipt(&out);
        assert_eq!(r["outcome"], *code);
        assert_eq!(r["error"]["code"], *code);
    }
}

#[test]
fn output_over_the_cap_is_kept_up_to_the_cap() {
    let capsa = Capsa::new();
    let out = capsa.run(&[
        "run",
        &guest("probe"),
        "--json",
        "--max-output",
        "1000",
        "--",
        "print",
        "5000",
    ]);
    let r = receipt(&out);
    assert_eq!(r["outcome"], "output_limit_exceeded");
    assert_eq!(r["stdout"].as_str().unwrap().len(), 1000);
    assert_eq!(r["truncated"]["stdout"], true);
}

#[test]
fn messages_say_what_happened_at_the_edges() {
    let capsa = Capsa::new();
    // No output allowed at all.
    let out = capsa.run(&[
        "run",
        &guest("probe"),
        "--max-output",
        "0",
        "--",
        "print",
        "5",
    ]);
    assert_error(&out, "output_limit_exceeded", 153);
    assert!(stderr(&out).contains("allows none"), "{}", stderr(&out));
    // Nothing to run: no `_start` and no function to name.
    let out = capsa.run(&["run", "-c", "(module (memory 1))"]);
    assert_error(&out, "invalid_input", 64);
    assert!(
        stderr(&out).contains("exports no function"),
        "{}",
        stderr(&out)
    );
    // An empty CAPSA_CACHE_DIR is no cache directory given, not a flag without its value.
    let home = tempfile::tempdir().unwrap();
    let out = capsa
        .command(&["run", "-c", "(module (func (export \"_start\")))"])
        .env("CAPSA_CACHE_DIR", "")
        .env("XDG_CACHE_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(status(&out), 0, "{}", stderr(&out));
}

#[test]
fn call_prints_numeric_results() {
    let capsa = Capsa::new();
    let exports = guest("exports");
    let out = capsa.run(&["call", &exports, "add", "2", "40"]);
    assert_eq!(
        (status(&out), stdout(&out)),
        (0, "42\n".to_owned()),
        "{}",
        stderr(&out)
    );
    let out = capsa.run(&["call", &exports, "add", "-5", "3"]);
    assert_eq!(stdout(&out), "-2\n");
    let out = capsa.run(&["call", &exports, "hypot", "3", "4"]);
    assert_eq!(stdout(&out), "5.0\n");
    let out = capsa.run(&["call", &exports, "divmod", "1", "0"]);
    assert_error(&out, "trap", 134);
}

#[test]
fn call_with_strings() {
    let capsa = Capsa::new();
    let exports = guest("exports");
    let out = capsa.run(&["call", &exports, "greet", "ada", "--string"]);
    assert_eq!(stdout(&out), "hello, ada!\n", "{}", stderr(&out));
    let out = capsa.run(&["call", &exports, "--string", "concat", "foo", "bar"]);
    assert_eq!(stdout(&out), "foobar\n", "{}", stderr(&out));
}

#[test]
fn call_errors_name_the_problem() {
    let capsa = Capsa::new();
    let exports = guest("exports");
    let out = capsa.run(&["call", &exports, "nope"]);
    assert_error(&out, "not_found", 66);
    assert!(
        stderr(&out).contains("greet"),
        "lists the exports: {}",
        stderr(&out)
    );
    let out = capsa.run(&["call", &exports, "add", "1", "x"]);
    assert_error(&out, "invalid_input", 64);
}

#[test]
fn compile_fills_the_cache_and_run_uses_it() {
    let capsa = Capsa::new();
    let probe = guest("probe");
    let out = capsa.run(&["compile", &probe]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("compiled"), "{}", stderr(&out));
    assert_eq!(capsa.cache_files("cwasm").len(), 1);

    let out = capsa.run(&["compile", &probe]);
    assert!(stderr(&out).contains("already cached"), "{}", stderr(&out));

    let out = capsa.run(&["run", &probe, "--", "args", "cached"]);
    assert_eq!(stdout(&out), "[\"args\",\"cached\"]\n");
    assert_eq!(capsa.cache_files("cwasm").len(), 1, "run reused the entry");
}

#[test]
fn a_corrupted_cache_file_is_recompiled_not_trusted() {
    let capsa = Capsa::new();
    let probe = guest("probe");
    assert_eq!(status(&capsa.run(&["compile", &probe])), 0);
    let artifact = capsa.cache_files("cwasm").pop().unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let n = bytes.len();
    for i in (n / 4..n / 2).step_by(97) {
        bytes[i] = 0xcc;
    }
    let tmp = artifact.with_extension("tmp");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::rename(&tmp, &artifact).unwrap();

    let out = capsa.run(&["run", &probe, "--", "args", "ok"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "[\"args\",\"ok\"]\n");
    assert!(
        stderr(&out).contains("recompiling"),
        "warns: {}",
        stderr(&out)
    );

    let out = capsa.run(&["compile", &probe]);
    assert!(
        stderr(&out).contains("already cached"),
        "replaced: {}",
        stderr(&out)
    );
}

#[test]
fn bad_files_are_refused_with_their_code() {
    let capsa = Capsa::new();
    let out = capsa.run(&["run", "/no/such/file.wasm"]);
    assert_error(&out, "not_found", 66);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0garbage").unwrap();
    let out = capsa.run(&["run", bad.to_str().unwrap()]);
    assert_error(&out, "invalid_module", 65);

    // A precompiled artifact handed in by a user is never deserialised.
    assert_eq!(status(&capsa.run(&["compile", &guest("probe")])), 0);
    let artifact = capsa.cache_files("cwasm").pop().unwrap();
    let copy = dir.path().join("sneaky.wasm");
    std::fs::copy(&artifact, &copy).unwrap();
    let out = capsa.run(&["run", copy.to_str().unwrap()]);
    assert_error(&out, "invalid_module", 65);
    assert!(stderr(&out).contains("precompiled"), "{}", stderr(&out));

    let out = capsa.run(&["run", "notes.txt"]);
    assert_error(&out, "invalid_input", 64);
    let out = capsa.run(&["run", "missing.js"]);
    assert_error(&out, "not_found", 66);
}

#[test]
fn a_module_no_sandbox_slot_can_hold_is_refused_at_load_and_never_cached() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let tables = dir.path().join("t.wat");
    std::fs::write(
        &tables,
        r#"(module (table 1 funcref) (table 1 externref) (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .unwrap();
    for _ in 0..2 {
        let out = capsa.run(&["run", tables.to_str().unwrap()]);
        assert_error(&out, "invalid_module", 65);
        assert!(stderr(&out).contains("2 tables"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("recompiling"), "{}", stderr(&out));
    }
    assert!(capsa.cache_files("cwasm").is_empty(), "nothing was cached");
}

#[test]
fn grants_from_flags() {
    let capsa = Capsa::new();
    let probe = guest("probe");
    let out = capsa.run(&["run", &probe, "--env", "GREETING=hi", "--", "env-all"]);
    assert_eq!(stdout(&out), "GREETING=hi\n");

    let out = capsa
        .command(&[
            "run",
            &probe,
            "--env",
            "CAPSA_E2E_VAR",
            "--",
            "env",
            "CAPSA_E2E_VAR",
        ])
        .env("CAPSA_E2E_VAR", "from-host")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "from-host\n", "{}", stderr(&out));

    let out = capsa
        .command(&["run", &probe, "--", "env", "CAPSA_E2E_VAR"])
        .env("CAPSA_E2E_VAR", "from-host")
        .output()
        .unwrap();
    assert_eq!(status(&out), 1, "an ungranted host variable is invisible");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "mounted").unwrap();
    let mount = format!("{}:/data:ro", dir.path().display());
    let out = capsa.run(&["run", &probe, "--dir", &mount, "--", "read", "/data/in.txt"]);
    assert_eq!(stdout(&out), "mounted");
    let out = capsa.run(&[
        "run",
        &probe,
        "--dir",
        &mount,
        "--",
        "write",
        "/data/in.txt",
        "x",
    ]);
    assert_eq!(status(&out), 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("in.txt")).unwrap(),
        "mounted"
    );

    let out = capsa.run(&["run", &probe, "--", "read", "/etc/passwd"]);
    assert_eq!(status(&out), 1);
    assert!(!stdout(&out).contains("root:"));
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let capsa = Capsa::new();
    let probe = guest("probe");
    for flags in [
        ["--memory", "12XB"],
        ["--timeout", "soon"],
        ["--dir", "a:b:c:d"],
    ] {
        let mut args = vec!["run", probe.as_str()];
        args.extend_from_slice(&flags);
        let out = capsa.run(&args);
        assert_eq!(status(&out), 2, "{flags:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(flags[1]),
            "names the value: {}",
            stderr(&out)
        );
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let capsa = Capsa::new();
    for cmd in ["run", "call", "compile", "repl"] {
        let out = capsa.run(&[cmd, "--help"]);
        assert_eq!(status(&out), 0);
        assert!(
            stdout(&out).contains("Example"),
            "`capsa {cmd} --help`: {}",
            stdout(&out)
        );
    }
}

#[test]
fn without_room_for_the_pooling_allocator_capsa_falls_back_and_still_runs() {
    let capsa = Capsa::new();
    // 3 GB of address space: far too little for the pool (terabytes) and for one default 4 GiB
    // memory reservation; the fallback reserves only what memories use.
    let script = format!(
        "ulimit -v 3000000 && exec '{}' run '{}' -- alloc 64",
        env!("CARGO_BIN_EXE_capsa"),
        guest("probe")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("CAPSA_CACHE_DIR", capsa.cache())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("allocated 64 MiB"),
        "{}",
        stdout(&out)
    );
    let warnings = stderr(&out);
    assert_eq!(
        warnings.matches("falling back to on-demand").count(),
        1,
        "{warnings}"
    );
}

#[test]
fn kv_is_denied_without_a_grant() {
    let capsa = Capsa::new();
    let out = capsa.run(&["run", &guest("probe"), "--", "kv-get", "k"]);
    assert_error(&out, "capability_denied", 77);
    assert!(stderr(&out).contains("kv.get"), "{}", stderr(&out));
}

#[test]
fn kv_in_memory_within_one_run() {
    let capsa = Capsa::new();
    let out = capsa.run(&["run", &guest("probe"), "--kv", "demo", "--", "kv-bytes"]);
    assert_eq!(
        (status(&out), stdout(&out)),
        (0, "true\n".to_owned()),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kv_in_sqlite_persists_across_runs() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}#app", dir.path().display());
    let probe = guest("probe");
    let run = |args: &[&str]| {
        let mut all = vec!["run", probe.as_str(), "--kv", store.as_str(), "--"];
        all.extend_from_slice(args);
        capsa.run(&all)
    };
    assert_eq!(stdout(&run(&["kv-set", "user:1", "ada"])), "set user:1\n");
    assert_eq!(stdout(&run(&["kv-set", "user:2", "grace"])), "set user:2\n");
    assert_eq!(stdout(&run(&["kv-get", "user:1"])), "ada\n");
    assert_eq!(
        stdout(&run(&["kv-list", "user:"])),
        "{\"cursor\":null,\"keys\":[\"user:1\",\"user:2\"]}\n"
    );
    assert_eq!(stdout(&run(&["kv-del", "user:1"])), "true\n");
    assert_eq!(stdout(&run(&["kv-get", "user:1"])), "(missing)\n");

    // The store directory holds the gateway's KV file.
    assert!(dir.path().join(capsa_store::KV_FILE).is_file());
    // Another namespace of the same store sees nothing.
    let other = format!("sqlite:{}#other", dir.path().display());
    let out = capsa.run(&["run", &probe, "--kv", &other, "--", "kv-get", "user:2"]);
    assert_eq!(stdout(&out), "(missing)\n");
}

#[test]
fn sqlite_names_a_store_directory_not_a_file() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let probe = guest("probe");
    let file = dir.path().join("notes");
    std::fs::write(&file, "not a store").unwrap();
    // A flag that cannot mean a directory is a usage error.
    let store = format!("sqlite:{}/kv.db", dir.path().display());
    let out = capsa.run(&["run", &probe, "--kv", &store, "--", "kv-get", "k"]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("looks like a file"),
        "{}",
        stderr(&out)
    );
    // A path that turns out to be a file is refused before the call.
    let store = format!("sqlite:{}", file.display());
    let out = capsa.run(&["run", &probe, "--kv", &store, "--", "kv-get", "k"]);
    assert_error(&out, "invalid_input", 64);
    assert!(stderr(&out).contains("is a file"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a store");
}

#[test]
fn an_acknowledged_sqlite_set_survives_kill_9() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store").display());
    let probe = guest("probe");
    let mut child = capsa
        .command(&[
            "run",
            &probe,
            "--kv",
            &store,
            "--timeout",
            "60s",
            "--",
            "kv-set-then-spin",
            "durable",
            "yes",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "acknowledged\n");
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no clean close
    child.wait().unwrap();

    let out = capsa.run(&["run", &probe, "--kv", &store, "--", "kv-get", "durable"]);
    assert_eq!(stdout(&out), "yes\n", "{}", stderr(&out));
}

#[test]
fn kv_in_redis_is_shared_between_processes() {
    let server = capsa_test_programs::RedisServer::start();
    let capsa = Capsa::new();
    let store = format!("{}#shared", server.url());
    let probe = guest("probe");
    let out = capsa.run(&[
        "run", &probe, "--kv", &store, "--", "kv-set", "greeting", "hello", "60000",
    ]);
    assert_eq!(stdout(&out), "set greeting\n", "{}", stderr(&out));
    let out = capsa.run(&["run", &probe, "--kv", &store, "--", "kv-get", "greeting"]);
    assert_eq!(stdout(&out), "hello\n", "{}", stderr(&out));
}

#[test]
fn kv_failures_have_their_codes() {
    let capsa = Capsa::new();
    let probe = guest("probe");
    // A key over the cap is invalid_input, reported as the cause of the guest's failure.
    let long_key = "k".repeat(600);
    let out = capsa.run(&[
        "run", &probe, "--kv", "demo", "--", "kv-set", &long_key, "v",
    ]);
    assert_error(&out, "invalid_input", 64);
    // A store that cannot be reached is a host_error, not a hang. (Port 1: a port freed by a
    // listener here could be taken by a test's redis-server meanwhile.)
    let store = "redis://127.0.0.1:1#x".to_owned();
    let out = capsa.run(&["run", &probe, "--kv", &store, "--", "kv-get", "k"]);
    assert_error(&out, "host_error", 69);
    // Bad specs are usage errors.
    let out = capsa.run(&["run", &probe, "--kv", "postgres://db", "--", "kv-get", "k"]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    let out = capsa.run(&["run", &probe, "--kv", "bad ns!", "--", "kv-get", "k"]);
    assert_error(&out, "invalid_input", 64);
}

#[test]
fn fetch_only_from_allowed_hosts() {
    let server = capsa_test_programs::HttpServer::start();
    let capsa = Capsa::new();
    let probe = guest("probe");
    let allow = format!("127.0.0.1:{}", server.port());
    let out = capsa.run(&[
        "run",
        &probe,
        "--allow-host",
        &allow,
        "--",
        "fetch",
        "GET",
        &server.url("/hello"),
    ]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let response: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(response["body"], "hello");

    // Without the grant, and to a redirect target outside it.
    let out = capsa.run(&["run", &probe, "--", "fetch", "GET", &server.url("/hello")]);
    assert_error(&out, "capability_denied", 77);
    let redirect = server.url("/redirect?to=http://169.254.169.254/");
    let out = capsa.run(&[
        "run",
        &probe,
        "--allow-host",
        &allow,
        "--",
        "fetch",
        "GET",
        &redirect,
    ]);
    assert_error(&out, "capability_denied", 77);
    assert!(stderr(&out).contains("169.254.169.254"), "{}", stderr(&out));

    // A pattern that is not one is a usage error naming it.
    let out = capsa.run(&[
        "run",
        &probe,
        "--allow-host",
        "http://x.com/path",
        "--",
        "args",
    ]);
    assert_eq!(status(&out), 2);
    assert!(stderr(&out).contains("x.com/path"), "{}", stderr(&out));
}

// --- JavaScript and TypeScript -------------------------------------------------------------------

#[test]
fn the_first_script_prepares_the_runtime_once() {
    let capsa = Capsa::new();
    let out = capsa.run(&["run", "-c", "1 + 2", "--lang", "js"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "3\n");
    assert!(
        stderr(&out).contains("preparing the JavaScript runtime"),
        "{}",
        stderr(&out)
    );
    let out = capsa.run(&["run", "-c", "1 + 2", "--lang", "js"]);
    assert_eq!(stderr(&out), "", "the second run finds it cached");
    let out = capsa.run(&["compile", "--runtimes"]);
    assert_eq!(status(&out), 0);
    assert!(stderr(&out).contains("already cached"), "{}", stderr(&out));
}

#[test]
fn quiet_prints_no_progress_but_still_the_result_and_errors() {
    let capsa = Capsa::new();
    let out = capsa.run(&["--quiet", "run", "-c", "1 + 2", "--lang", "js"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "3\n");
    assert_eq!(stderr(&out), "", "no word of the runtime being prepared");
    // After the subcommand too, and errors still print.
    let out = capsa.run(&["run", "-c", "throw new Error('no')", "--lang", "js", "-q"]);
    assert_eq!(status(&out), 71);
    assert!(
        stderr(&out).contains("error[guest_exception]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn scripts_print_their_output_then_their_value() {
    let capsa = Capsa::scripts();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.ts");
    std::fs::write(
        &file,
        "const xs: number[] = [1, 2, 3];\nconsole.log('doubling');\nxs.map((x) => x * 2)\n",
    )
    .unwrap();
    let out = capsa.run(&["run", file.to_str().unwrap()]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "doubling\n[2,4,6]\n");

    let out = capsa.run(&[
        "run",
        "-c",
        "console.error('e'); ({a: 1})",
        "--lang",
        "js",
        "--json",
    ]);
    let receipt = receipt(&out);
    assert_eq!(receipt["outcome"], "ok");
    assert_eq!(receipt["result"], serde_json::json!({"a": 1}));
    assert_eq!(receipt["stderr"], "e\n");
}

#[test]
fn an_uncaught_exception_exits_71_with_the_stack() {
    let capsa = Capsa::scripts();
    let out = capsa.run(&[
        "run",
        "-c",
        "function f() {\n  throw new RangeError('nope');\n}\nf();",
        "--lang",
        "js",
    ]);
    assert_error(&out, "guest_exception", 71);
    assert!(
        stderr(&out).contains("Uncaught RangeError: nope"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("at f (main.js:2"), "{}", stderr(&out));

    let out = capsa.run(&[
        "run",
        "-c",
        "Promise.reject(new Error('late')); 1",
        "--lang",
        "js",
        "--unhandled-rejections",
        "error",
    ]);
    assert_error(&out, "guest_exception", 71);

    let out = capsa.run(&["run", "-c", "let x: = 1", "--lang", "ts"]);
    assert_error(&out, "invalid_input", 64);
    assert!(stderr(&out).contains("main.ts:1:8"), "{}", stderr(&out));
}

#[test]
fn script_limits_end_with_their_codes() {
    let capsa = Capsa::scripts();
    let out = capsa.run(&[
        "run",
        "-c",
        "while (true) {}",
        "--lang",
        "js",
        "--timeout",
        "200ms",
    ]);
    assert_error(&out, "timeout", 124);
    let out = capsa.run(&[
        "run",
        "-c",
        "let s = 'x'; while (true) s += s;",
        "--lang",
        "js",
        "--memory",
        "64MiB",
    ]);
    assert_error(&out, "memory_limit_exceeded", 137);
    let out = capsa.run(&["run", "-c", "const f = () => f(); f()", "--lang", "js"]);
    assert_error(&out, "stack_overflow", 139);
    let out = capsa.run(&[
        "run",
        "-c",
        "let n = 0; while (true) n++",
        "--lang",
        "js",
        "--fuel",
        "1000000",
    ]);
    assert_error(&out, "cpu_limit_exceeded", 152);
}

#[test]
fn scripts_reach_only_granted_capabilities() {
    let capsa = Capsa::scripts();
    let code = "await kv.set('k', 'v'); await kv.get('k')";
    let out = capsa.run(&["run", "-c", code, "--lang", "js", "--kv", "notes"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "\"v\"\n");
    let out = capsa.run(&["run", "-c", code, "--lang", "js"]);
    assert_error(&out, "capability_denied", 77);
    let out = capsa.run(&[
        "run",
        "-c",
        "await fetch('http://127.0.0.1:1/')",
        "--lang",
        "js",
    ]);
    assert_error(&out, "capability_denied", 77);
}

#[test]
fn handler_mode_reads_the_request_from_stdin() {
    let capsa = Capsa::scripts();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.js");
    std::fs::write(&file, "export default {\n  async fetch(req) {\n    return Response.json({ hello: req.query.name }, { status: 201 });\n  }\n}\n").unwrap();
    let out = capsa.run_with_stdin(
        &["run", file.to_str().unwrap(), "--handler"],
        r#"{"method":"GET","path":"/","query":{"name":"ada"}}"#,
    );
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let response: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(response["status"], 201);
    assert_eq!(response["body"], r#"{"hello":"ada"}"#);

    let out = capsa.run_with_stdin(&["run", file.to_str().unwrap(), "--handler"], "not json");
    assert_error(&out, "invalid_input", 64);
}

#[test]
fn a_wasi_http_component_answers_with_handler() {
    let capsa = Capsa::new();
    let component = capsa_test_programs::http_component_path();
    let component = component.to_str().unwrap();
    let out = capsa.run_with_stdin(
        &["run", component, "--handler"],
        r#"{"method":"GET","path":"/hello","query":{"name":"ada"}}"#,
    );
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let response: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(response["status"], 200);
    assert_eq!(response["headers"]["content-type"], "application/json");
    assert_eq!(response["body"], r#"{"hello":"ada"}"#);

    // A limit ends it like any guest.
    let out = capsa.run_with_stdin(
        &["run", component, "--handler", "--timeout", "200ms"],
        r#"{"method":"GET","path":"/loop"}"#,
    );
    assert_error(&out, "timeout", 124);

    // Without `--handler` there is nothing to run.
    let out = capsa.run(&["run", component]);
    assert_error(&out, "invalid_input", 64);
    assert!(stderr(&out).contains("handler"), "{}", stderr(&out));
}

#[test]
fn the_repl_keeps_state_and_runs_commands() {
    let capsa = Capsa::scripts();
    let input = "let total = 0\nfunction add(n) {\n  total += n\n  return total\n}\nadd(40)\nadd(2)\nhost.on('hit', (p) => p.n * 2)\n.dispatch hit {\"n\": 21}\nthrow new Error('x')\ntotal\n.reset\ntypeof total\n.stats\n.load /no/such/file.js\n.dispatch hit {oops\n.frob\n.exit\n1 + 1\n";
    let out = capsa.run_with_stdin(&["repl"], input);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let lines: Vec<_> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        &lines[..5],
        ["40", "42", "42", "42", "(state reset)"],
        "{lines:?}"
    );
    assert_eq!(lines[5], "\"undefined\"");
    assert!(stdout(&out).contains("\"evals\""), "stats were printed");
    assert!(!stdout(&out).contains("\n2\n"), ".exit stops the session");
    assert!(
        stderr(&out).contains("error[guest_exception]: Uncaught Error: x"),
        "{}",
        stderr(&out)
    );
    for expected in [
        "error[not_found]: cannot read `/no/such/file.js`",
        "error[invalid_input]: the payload is not JSON",
        "unknown command `.frob`",
    ] {
        assert!(
            stderr(&out).contains(expected),
            "{expected}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn the_repl_speaks_json_lines() {
    let capsa = Capsa::scripts();
    let input = "{\"eval\": \"var n = 1\"}\n{\"compile\": \"n *= 3\"}\n{\"eval_compiled\": 1}\n{\"eval_compiled\": 1}\n{\"eval_compiled\": 9}\n{\"stats\": true}\nnope\n{\"eval\": 5}\n{\"frobnicate\": 1}\n";
    let out = capsa.run_with_stdin(&["repl", "--lang", "ts", "--json"], input);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let replies: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 9);
    assert_eq!(replies[1]["id"], 1);
    assert_eq!(replies[2]["result"], 3);
    assert_eq!(replies[3]["result"], 9);
    assert_eq!(replies[4]["outcome"], "not_found");
    assert_eq!(replies[5]["stats"]["evals"], 4);
    assert_eq!(replies[6]["outcome"], "invalid_input");
    assert_eq!(replies[7]["outcome"], "invalid_input");
    assert_eq!(replies[8]["outcome"], "invalid_input");
}

#[test]
fn the_repl_snapshots_and_forks_by_name() {
    let capsa = Capsa::scripts();
    let input = "let n = 1\n.snapshot one\nn = 2\n.snapshot two\n.fork one\nn\n.fork two\nn\nn = 5\n.fork two\nn\n.fork nope\n.snapshot\n.snapshot a b\n.snapshots\n";
    let out = capsa.run_with_stdin(&["repl"], input);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let lines: Vec<_> = stdout(&out).lines().map(str::to_owned).collect();
    assert!(lines[0].starts_with("(snapshot one: "), "{lines:?}");
    assert!(lines[2].starts_with("(snapshot two: "), "{lines:?}");
    // A fork goes back to the state of its snapshot, whatever the session did since, and a second fork
    // of the same snapshot does not see what the first one wrote. (An assignment shows its value.)
    let values: Vec<_> = lines
        .iter()
        .filter(|l| !l.starts_with('('))
        .map(String::as_str)
        .collect();
    assert_eq!(values[..5], ["2", "1", "2", "5", "2"], "{lines:?}");
    assert!(values[5].starts_with("one: "), "{lines:?}");
    assert!(values[6].starts_with("two: "), "{lines:?}");
    for expected in [
        "error[not_found]: no snapshot named `nope`",
        "error[invalid_input]: a snapshot name is one word",
    ] {
        assert!(
            stderr(&out).contains(expected),
            "{expected}: {}",
            stderr(&out)
        );
    }

    let input = "{\"eval\": \"var seen = []\"}\n{\"snapshot\": \"base\"}\n{\"eval\": \"seen.push(1); seen\"}\n{\"fork\": \"base\"}\n{\"eval\": \"seen.length\"}\n{\"fork\": 3}\n{\"fork\": \"other\"}\n";
    let out = capsa.run_with_stdin(&["repl", "--json"], input);
    let replies: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies[1]["outcome"], "ok", "{replies:?}");
    assert!(
        replies[1]["memory_bytes"].as_u64().unwrap() > 0,
        "{replies:?}"
    );
    assert_eq!(replies[2]["result"], serde_json::json!([1]));
    assert_eq!(replies[3]["outcome"], "ok");
    assert_eq!(
        replies[4]["result"], 0,
        "the fork is in the snapshot's state"
    );
    assert_eq!(replies[5]["outcome"], "invalid_input");
    assert_eq!(replies[6]["outcome"], "not_found");
}

// --- Python ----------------------------------------------------------------------------------------

/// One cache for the Python tests, so the runtime is compiled once, not per test.
fn python() -> &'static Capsa {
    static SHARED: std::sync::OnceLock<Capsa> = std::sync::OnceLock::new();
    SHARED.get_or_init(Capsa::new)
}

#[test]
fn python_programs_print_then_show_their_value() {
    let capsa = python();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.py");
    std::fs::write(
        &file,
        "import statistics\nprint('averaging')\nstatistics.mean([1, 2, 6])\n",
    )
    .unwrap();
    let out = capsa.run(&["run", file.to_str().unwrap()]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "averaging\n3\n");

    let out = capsa.run(&[
        "run",
        "-c",
        "import sys\nprint('e', file=sys.stderr)\n{'a': (1, 2)}",
        "--lang",
        "py",
        "--json",
    ]);
    let receipt = receipt(&out);
    assert_eq!(receipt["outcome"], "ok");
    assert_eq!(receipt["result"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(receipt["stderr"], "e\n");
    assert!(receipt["stats"]["instantiate_us"].as_u64().unwrap() > 0);
}

#[test]
fn a_python_exception_exits_71_with_the_traceback_and_sys_exit_keeps_its_code() {
    let capsa = python();
    let out = capsa.run(&[
        "run",
        "-c",
        "def f():\n    raise KeyError('nope')\n\nf()",
        "--lang",
        "py",
    ]);
    assert_error(&out, "guest_exception", 71);
    let err = stderr(&out);
    assert!(
        err.contains("error[guest_exception]: KeyError: 'nope'"),
        "{err}"
    );
    assert!(err.contains("File \"main.py\", line 2, in f"), "{err}");

    let out = capsa.run(&["run", "-c", "import sys\nsys.exit(7)", "--lang", "py"]);
    assert_eq!(status(&out), 7, "{}", stderr(&out));

    let out = capsa.run(&[
        "run",
        "-c",
        "while True:\n    pass",
        "--lang",
        "py",
        "--timeout",
        "300ms",
    ]);
    assert_error(&out, "timeout", 124);
}

#[test]
fn a_python_handler_answers_a_request_on_stdin() {
    let capsa = python();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/functions/hello.py"
    );
    let out = capsa.run_with_stdin(
        &["run", example, "--handler"],
        r#"{"method":"GET","path":"/","query":{"name":"ada"}}"#,
    );
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let response: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(response["status"], 200);
    assert_eq!(
        response["body"], r#"{"hello": "ada", "method": "GET"}"#,
        "{response}"
    );
}

#[test]
fn python_reaches_only_granted_capabilities() {
    let capsa = python();
    let code = "from capsa import kv\nkv.set('k', 'v')\nkv.get('k')";
    let out = capsa.run(&["run", "-c", code, "--lang", "py", "--kv", "notes"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "\"v\"\n");
    let out = capsa.run(&["run", "-c", code, "--lang", "py"]);
    assert_error(&out, "capability_denied", 77);
    let out = capsa.run(&["run", "-c", "open('/etc/passwd').read()", "--lang", "py"]);
    assert_error(&out, "guest_exception", 71);
}

#[test]
fn the_python_repl_reads_blocks_keeps_state_and_dispatches() {
    let capsa = python();
    let input = "import capsa\ntotal = 0\ndef add(n):\n    global total\n    total += n\n    return total\n\nadd(40)\nadd(2)\n@capsa.on('hit')\ndef hit(p):\n    return p['n'] * 2\n\n.dispatch hit {\"n\": 21}\nraise ValueError('x')\ntotal\n.reset\n'total' in globals()\n.exit\n";
    let out = capsa.run_with_stdin(&["repl", "--lang", "py"], input);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let lines: Vec<_> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        ["40", "42", "42", "42", "(state reset)", "false"],
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("error[guest_exception]: ValueError: x"),
        "{}",
        stderr(&out)
    );

    let input = "{\"eval\": \"n = 2\"}\n{\"eval\": \"n ** 10\"}\n{\"dispatch\": \"none\", \"payload\": 1}\n{\"compile\": \"n\"}\n";
    let out = capsa.run_with_stdin(&["repl", "--lang", "py", "--json"], input);
    let replies: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies[1]["result"], 1024, "{replies:?}");
    assert_eq!(replies[2]["outcome"], "guest_exception");
    assert_eq!(replies[3]["outcome"], "invalid_input");

    // Python sessions cannot be snapshotted yet (docs/sessions.md): a clear refusal, and the session
    // goes on.
    let out = capsa.run_with_stdin(&["repl", "--lang", "py"], "x = 7\n.snapshot a\nx\n");
    assert_eq!(stdout(&out).trim(), "7", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error[invalid_input]"),
        "{}",
        stderr(&out)
    );
}

// Isolation regressions found from outside (issue 12), replayed against the binary.

#[test]
fn a_guest_cannot_repoint_a_nested_grant_at_host_memory() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("W");
    std::fs::create_dir_all(w.join("sub")).unwrap();
    let outer = format!("{}:/w", w.display());
    let inner = format!("{}:/sub:ro", w.join("sub").display());
    let probe = guest("probe");
    let run = |args: &[&str]| {
        let mut all = vec![
            "run",
            probe.as_str(),
            "--dir",
            &outer,
            "--dir",
            &inner,
            "--",
        ];
        all.extend_from_slice(args);
        capsa.run(&all)
    };
    let out = run(&["rm-r", "/w/sub"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let out = capsa.run(&[
        "run",
        &probe,
        "--dir",
        &outer,
        "--",
        "symlink",
        "../../../../../../../proc/self",
        "/w",
        "sub",
    ]);
    assert_eq!(status(&out), 1);
    assert!(stderr(&out).contains("errno 63"), "{}", stderr(&out));
    // Put the symlink there as the host (what a guest could do before): the grant is refused.
    std::os::unix::fs::symlink("../../../../../../../proc/self", w.join("sub")).unwrap();
    let mut cmd = capsa.command(&[
        "run",
        &probe,
        "--dir",
        &outer,
        "--dir",
        &inner,
        "--",
        "read",
        "/sub/environ",
    ]);
    let out = cmd.env("HOST_SECRET", "hunter2").output().unwrap();
    assert_error(&out, "invalid_input", 64);
    assert!(
        stderr(&out).contains("is a symbolic link"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("hunter2"));
}

#[test]
fn a_patched_cache_artifact_with_a_recomputed_checksum_is_not_run() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("answer.wat");
    std::fs::write(
        &wat,
        r#"(module (func (export "answer") (result i32) i32.const 42))"#,
    )
    .unwrap();
    let wat = wat.to_string_lossy().into_owned();
    let out = capsa.run(&["call", &wat, "answer"]);
    assert_eq!(stdout(&out).trim(), "42", "{}", stderr(&out));
    let artifact = capsa.cache_files("cwasm").pop().expect("a cached artifact");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == [0xb8, 42, 0, 0, 0])
        .expect("mov eax, 42");
    bytes[at + 1..at + 5].copy_from_slice(&1337u32.to_le_bytes());
    std::fs::write(&artifact, &bytes).unwrap();
    let sum = blake3::hash(&bytes).to_hex();
    std::fs::write(artifact.with_extension("b3"), sum.as_bytes()).unwrap();
    let out = capsa.run(&["call", &wat, "answer"]);
    assert_eq!(stdout(&out).trim(), "42", "{}", stderr(&out));
}

/// Runs `capsa` with a stdin pipe that `feed` writes into (or that stays open and silent).
fn run_with_stdin_pipe(capsa: &Capsa, args: &[&str], feed: Option<Vec<u8>>) -> Output {
    let mut child = capsa
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || match feed {
        // Until capsa closes its end.
        Some(chunk) => while input.write_all(&chunk).is_ok() {},
        // Open, silent, until capsa is done.
        None => std::thread::sleep(std::time::Duration::from_secs(5)),
    });
    let out = child.wait_with_output().unwrap();
    drop(feeder);
    out
}

#[test]
fn stdin_streams_inside_the_deadline_and_is_capped() {
    let capsa = Capsa::new();
    let probe = guest("probe");
    let handler = ["run", "-c", "1", "--lang", "js", "--handler"];
    // The JavaScript runtime prepared first: on a busy machine its first preparation can outlast the
    // pipe's silence, and the handler would then see the end of its input, not its deadline.
    let warm = capsa.run(&["run", "-c", "1", "--lang", "js"]);
    assert_eq!(status(&warm), 0, "{}", stderr(&warm));
    // A guest that never reads stdin does not wait for a silent pipe.
    let nothing = [
        "run",
        "-c",
        "(module (func (export \"_start\")))",
        "--timeout",
        "2s",
    ];
    let out = run_with_stdin_pipe(&capsa, &nothing, None);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    // A guest reading a silent pipe ends at its deadline, and so does --handler.
    let deadline = ["--timeout", "300ms"];
    for args in [
        ["run", &probe]
            .iter()
            .chain(&deadline)
            .chain(&["--", "stdin"]),
        handler.iter().chain(&deadline).chain(&[]),
    ] {
        let out = run_with_stdin_pipe(&capsa, &args.copied().collect::<Vec<_>>(), None);
        assert_error(&out, "timeout", 124);
    }
    // An endless stdin ends at the cap, for a reader and for --handler.
    let cap = ["--max-stdin", "1MiB"];
    for args in [
        ["run", &probe].iter().chain(&cap).chain(&["--", "stdin"]),
        handler.iter().chain(&cap).chain(&[]),
    ] {
        let args: Vec<&str> = args.copied().collect();
        let out = run_with_stdin_pipe(&capsa, &args, Some(vec![b'y'; 1 << 16]));
        assert_error(&out, "input_limit_exceeded", 81);
    }
}

#[test]
fn compilation_past_its_limits_is_refused() {
    let capsa = Capsa::new();
    let dir = tempfile::tempdir().unwrap();
    let many = dir.path().join("many.wat");
    std::fs::write(&many, format!("(module {})", "(func)".repeat(50_001))).unwrap();
    // `--no-cache` even with CAPSA_CACHE_DIR set (as `Capsa` sets it).
    let out = capsa.run(&["run", &many.to_string_lossy(), "--no-cache"]);
    assert_error(&out, "compile_limit_exceeded", 82);
    assert!(capsa.cache_files("cwasm").is_empty());
    let slow = dir.path().join("slow.wat");
    let body = "(func (result i32) (i32.add (i32.const 1) (i32.const 2)))".repeat(20_000);
    std::fs::write(&slow, format!("(module {body})")).unwrap();
    let out = capsa.run(&["run", &slow.to_string_lossy(), "--compile-timeout", "1ms"]);
    assert_error(&out, "compile_limit_exceeded", 82);
}

#[test]
fn typescript_nested_without_brackets_does_not_blow_up_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.ts");
    std::fs::write(&file, "if(1) ".repeat(40_000) + "1;").unwrap();
    let out = Capsa::scripts().run(&["run", &file.to_string_lossy(), "--timeout", "2s"]);
    // The guest's own parser overflows its stack: a limit, after a linear strip on the host.
    assert_error(&out, "stack_overflow", 139);
}

#[test]
fn swapping_a_grant_with_a_symlink_to_the_cache_never_mounts_it() {
    // The race of issue 12: a grant flipped between a directory and a symlink to the artifact cache
    // while `capsa run` checked it by path and then opened it by path again.
    let capsa = Capsa::new();
    let probe = guest("probe");
    let out = capsa.run(&["run", &probe, "--", "args"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let cache = capsa.cache_files("cwasm")[0]
        .parent()
        .unwrap()
        .to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let grant = dir.path().join("grant");
    let decoy = dir.path().join("decoy");
    std::fs::create_dir(&decoy).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, grant, decoy) = (stop.clone(), grant.clone(), decoy.clone());
        std::thread::spawn(move || {
            let link = grant.with_extension("link");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_file(&link);
                let _ = std::os::unix::fs::symlink(&cache, &link);
                let _ = std::fs::rename(&link, &grant);
                let _ = std::fs::remove_file(&grant);
                let _ = std::fs::rename(&decoy, &grant);
                let _ = std::fs::rename(&grant, &decoy);
            }
        })
    };
    let mount = format!("{}:/m", grant.display());
    for _ in 0..40 {
        let out = capsa.run(&["run", &probe, "--dir", &mount, "--", "ls", "/m"]);
        assert!(
            !stdout(&out).contains(".cwasm"),
            "the cache was mounted: {}",
            stdout(&out)
        );
        assert!(
            matches!(status(&out), 0 | 1 | 64),
            "{}: {}",
            status(&out),
            stderr(&out)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
}

#[test]
fn version_completions_and_doctor_answer() {
    let capsa = Capsa::new();
    let out = capsa.run(&["--version"]);
    assert_eq!(status(&out), 0);
    assert_eq!(
        stdout(&out).trim(),
        format!("capsa {}", env!("CARGO_PKG_VERSION"))
    );
    let out = capsa.run(&["completions", "bash"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("complete -F _capsa"),
        "{}",
        stdout(&out)
    );
    let out = capsa.run(&["man"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with(".ie"), "{}", stdout(&out));
    let out = capsa.run(&["completions", "tcsh"]);
    assert_eq!(status(&out), 2, "an unknown shell is a usage error");
    let out = capsa.run(&["doctor"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let report = stdout(&out);
    for line in [
        "instance allocator: ",
        "artifact cache: ",
        "JavaScript runtime: ",
        "kernel: ",
    ] {
        assert!(report.contains(line), "no `{line}` in:\n{report}");
    }
    assert!(
        report.contains(&capsa.cache().display().to_string()),
        "{report}"
    );
}

#[test]
fn a_dash_reads_the_program_from_stdin() {
    let out = Capsa::scripts().run_with_stdin(&["run", "-", "--lang", "js"], "6 * 7");
    assert_eq!(stdout(&out).trim(), "42", "{}", stderr(&out));
    let wat = r#"(module (func (export "_start")))"#;
    let out = Capsa::new().run_with_stdin(&["run", "-"], wat);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let out = Capsa::new().run_with_stdin(&["run", "-", "--lang", "js", "--handler"], "1");
    assert_error(&out, "invalid_input", 64);
    let add = r#"(module (func (export "add") (param i32 i32) (result i32)
        local.get 0 local.get 1 i32.add))"#;
    let out = Capsa::new().run_with_stdin(&["call", "-", "add", "2", "40"], add);
    assert_eq!(stdout(&out).trim(), "42", "{}", stderr(&out));
    let out = Capsa::new().run_with_stdin(&["compile", "-"], add);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_reader_that_stops_early_ends_capsa_quietly() {
    // `capsa run … | head` panicked in println! on the closed pipe (exit 101 and a backtrace).
    let mut child = Capsa::scripts()
        .command(&["run", "-c", "'x'.repeat(4000000)", "--lang", "js"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(status(&out), 141, "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}
