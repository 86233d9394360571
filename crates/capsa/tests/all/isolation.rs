//! Isolation regressions found from outside, by a hostile guest author (issue 12). Each test replays
//! an attack that worked before its fix.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use capsa::{ArtifactSource, Call, DirGrant, Engine, ErrorCode, Grants, Language};

use crate::{engine, probe, quick, run_probe};

fn grants(dirs: &[(&Path, &str, bool)]) -> Grants {
    dirs.iter().fold(Grants::new(), |g, (host, guest, ro)| {
        let dir = DirGrant::new(*host, *guest);
        g.dir(if *ro { dir.read_only() } else { dir })
    })
}

#[test]
fn a_guest_cannot_repoint_a_nested_grant_at_host_memory() {
    // The repro: /w grants W read-write and /sub grants W/sub. The guest replaces W/sub with a symlink
    // to /proc/self; the next call mounted /sub wherever it pointed and read the host's environ.
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("W");
    let sub = w.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let both = || grants(&[(&w, "/w", false), (&sub, "/sub", true)]);
    let receipt = run_probe(engine(), &["rm-r", "/w/sub"], quick(), |c| c.grants(both()));
    assert!(receipt.is_ok(), "{receipt:?}");
    // The escaping symlink itself is refused (EPERM), ...
    let up = "../../../../../../../../proc/self";
    let receipt = run_probe(engine(), &["symlink", up, "/w", "sub"], quick(), |c| {
        c.grants(grants(&[(&w, "/w", false)]))
    });
    assert!(receipt.stderr_text().contains("errno 63"), "{receipt:?}");
    assert!(std::fs::symlink_metadata(&sub).is_err(), "no link was made");
    // ... and so is an absolute one.
    let receipt = run_probe(
        engine(),
        &["symlink", "/proc/self", "/w", "sub"],
        quick(),
        |c| c.grants(grants(&[(&w, "/w", false)])),
    );
    assert!(receipt.stderr_text().contains("errno 63"), "{receipt:?}");
    // A symlink put there by anyone (here: the host, as a guest could before) is never followed when
    // the grant is opened: the next call is refused, it does not mount /proc/self.
    std::os::unix::fs::symlink(up, &sub).unwrap();
    let err = probe(engine())
        .run(Call::new().args(["read", "/sub/environ"]).grants(both()))
        .expect_err("a grant through a symlink is refused");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.message().contains("is a symbolic link"), "{err}");
}

#[test]
fn symlinks_that_stay_inside_the_mount_still_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("target.txt"), "inside").unwrap();
    let mount = || grants(&[(dir.path(), "/m", false)]);
    let receipt = run_probe(
        engine(),
        &["symlink", "target.txt", "/m", "link"],
        quick(),
        |c| c.grants(mount()),
    );
    assert!(receipt.is_ok(), "{receipt:?}");
    let receipt = run_probe(engine(), &["read", "/m/link"], quick(), |c| {
        c.grants(mount())
    });
    assert_eq!(receipt.stdout_text().trim(), "inside", "{receipt:?}");
}

#[test]
fn a_nested_grant_is_safe_by_the_handle_rule() {
    // Within one call both grants are handles opened at set-up: what the guest does to W/sub through
    // /w never changes what /sub is. Across calls, W/sub is opened again without following symlinks,
    // so at most it is another directory inside W, which the guest could write anyway.
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("W");
    std::fs::create_dir_all(w.join("sub")).unwrap();
    std::fs::write(w.join("sub/marker"), "original").unwrap();
    let both = || grants(&[(&w, "/w", false), (&w.join("sub"), "/sub", true)]);
    let receipt = run_probe(engine(), &["rm-r", "/w/sub"], quick(), |c| c.grants(both()));
    assert!(receipt.is_ok(), "{receipt:?}");
    std::fs::create_dir(w.join("sub")).unwrap();
    std::fs::write(w.join("sub/marker"), "replaced").unwrap();
    let receipt = run_probe(engine(), &["read", "/sub/marker"], quick(), |c| {
        c.grants(both())
    });
    assert_eq!(receipt.stdout_text().trim(), "replaced", "{receipt:?}");
}

#[test]
fn swapping_a_grant_with_a_symlink_to_the_cache_never_mounts_the_cache() {
    // The race: check_not_cache canonicalised the path, then the grant was opened by path again. A
    // swapper flipping the grant between a directory and a symlink to the cache won after ~20 s.
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    let engine = Engine::builder()
        .cache_dir(Some(cache.clone()))
        .build()
        .unwrap();
    let probe = probe(&engine);
    let grant = home.path().join("grant");
    let decoy = home.path().join("decoy");
    std::fs::create_dir_all(&decoy).unwrap();
    std::fs::write(decoy.join("decoy.txt"), "").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, grant, decoy) = (stop.clone(), grant.clone(), decoy.clone());
        let cache = engine.cache_dir().unwrap().to_path_buf();
        std::thread::spawn(move || {
            let tmp = grant.with_extension("tmp");
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(&tmp);
                let _ = std::os::unix::fs::symlink(&cache, &tmp);
                let _ = std::fs::rename(&tmp, &grant);
                let _ = std::fs::remove_file(&tmp);
                let _ = std::os::unix::fs::symlink(&decoy, &tmp);
                let _ = std::fs::remove_file(&grant);
                let _ = std::fs::rename(&decoy, &grant);
                let _ = std::fs::rename(&grant, &decoy);
            }
        })
    };
    let mut mounted = 0;
    for _ in 0..300 {
        let call = Call::new()
            .args(["ls", "/m"])
            .grants(Grants::new().dir(DirGrant::new(&grant, "/m")));
        match probe.run(call) {
            Ok(receipt) if receipt.is_ok() => {
                mounted += 1;
                assert!(
                    !receipt.stdout_text().contains(".cwasm"),
                    "the cache was mounted: {}",
                    receipt.stdout_text()
                );
            }
            Ok(_) => {}
            Err(e) => assert!(
                matches!(e.code(), ErrorCode::InvalidInput),
                "{}: {e}",
                e.code()
            ),
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    eprintln!("{mounted} of 300 calls mounted the decoy");
}

#[test]
fn a_forged_cache_entry_with_an_unkeyed_checksum_is_not_run() {
    // The attack: patch `mov eax, 42` in a cached artifact to 1337 and recompute its BLAKE3
    // checksum; the next call ran the patched code. Checksums are now keyed with a key outside the
    // cache.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wat = br#"(module (func (export "answer") (result i32) i32.const 42))"#;
    let build = || {
        Engine::builder()
            .cache_dir(Some(cache.clone()))
            .build()
            .unwrap()
    };
    let engine = build();
    let digest = engine.load(wat).unwrap().digest();
    let dir = engine.cache_dir().unwrap().to_path_buf();
    let artifact = dir.join(format!("{digest}.cwasm"));
    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == [0xb8, 42, 0, 0, 0])
        .expect("mov eax, 42 in the artifact");
    bytes[at + 1..at + 5].copy_from_slice(&1337u32.to_le_bytes());
    std::fs::write(&artifact, &bytes).unwrap();
    // Every unkeyed checksum a forger could compute: of the file alone, and of the old layout.
    let digest_bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    for format in ["", "capsa-cache-v1", "capsa-cache-v2"] {
        let mut hasher = blake3::Hasher::new();
        if !format.is_empty() {
            hasher.update(format.as_bytes()).update(&digest_bytes);
        }
        let sum = hasher.update(&bytes).finalize().to_hex();
        std::fs::write(dir.join(format!("{digest}.b3")), sum.as_bytes()).unwrap();
        let engine = build();
        let module = engine.load(wat).unwrap();
        assert_eq!(
            module.artifact_source(),
            ArtifactSource::Compiled,
            "recompiled, not loaded"
        );
        let receipt = module
            .run(Call::new().function("answer", capsa::FunctionArgs::Numbers(vec![])))
            .unwrap();
        assert_eq!(receipt.result, Some(serde_json::json!([42])), "{receipt:?}");
    }
}

#[test]
fn a_cache_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let engine = Engine::builder()
        .cache_dir(Some(cache.clone()))
        .build()
        .unwrap();
    assert!(engine.cache_dir().is_none(), "memory only");
    let module = engine
        .load(br#"(module (func (export "_start")))"#)
        .unwrap();
    assert!(module.run(Call::new()).unwrap().is_ok());
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        0,
        "nothing written"
    );
    // A key file someone else could read is refused the same way.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = dir.path().join("cache.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let engine = Engine::builder().cache_dir(Some(cache)).build().unwrap();
    assert!(engine.cache_dir().is_none(), "memory only");
}

#[test]
fn stdin_over_its_limit_is_refused_with_its_own_code() {
    let limits = capsa::Limits {
        max_stdin: capsa::ByteSize(4),
        ..quick()
    };
    let err = probe(engine())
        .run(
            Call::new()
                .args(["stdin"])
                .stdin("12345")
                .limits(limits.clone()),
        )
        .expect_err("over the cap");
    assert_eq!(err.code(), ErrorCode::InputLimitExceeded);
    let receipt = run_probe(engine(), &["stdin"], limits, |c| c.stdin("abcd"));
    assert_eq!(receipt.stdout_text(), "ABCD");
}

#[test]
fn streamed_stdin_is_capped_and_inside_the_deadline() {
    let limits = capsa::Limits {
        max_stdin: capsa::ByteSize::mib(1),
        ..quick()
    };
    // An endless stream ends at the cap.
    let endless = tokio::io::repeat(b'y');
    let receipt = run_probe(engine(), &["stdin"], limits.clone(), |c| {
        c.stdin_stream(endless)
    });
    crate::assert_code(&receipt, ErrorCode::InputLimitExceeded);
    // A stream that never ends nor sends ends at the deadline.
    let (_writer, silent) = tokio::io::duplex(64);
    let short = capsa::Limits {
        timeout: "300ms".parse().unwrap(),
        ..limits.clone()
    };
    let receipt = run_probe(engine(), &["stdin"], short, |c| c.stdin_stream(silent));
    crate::assert_code(&receipt, ErrorCode::Timeout);
    // Exactly the cap is fine, and a guest that never reads does not wait for its stdin.
    let exact: &'static [u8] = Box::leak(vec![b'a'; 1 << 20].into_boxed_slice());
    let receipt = run_probe(engine(), &["stdin"], limits.clone(), |c| {
        c.stdin_stream(exact)
    });
    assert!(receipt.is_ok(), "{:?}", receipt.error);
    assert_eq!(receipt.stdout.len(), 1 << 20);
    let (_writer, silent) = tokio::io::duplex(64);
    let receipt = run_probe(engine(), &["args"], limits, |c| c.stdin_stream(silent));
    assert!(receipt.is_ok(), "{receipt:?}");
}

#[test]
fn compilation_has_its_own_limits() {
    let limits = capsa::CompileLimits {
        max_functions: 1_000,
        max_nesting: 100,
        max_module_size: capsa::ByteSize(64 * 1024),
        ..capsa::CompileLimits::default()
    };
    let engine = Engine::builder()
        .cache_dir(None)
        .compile_limits(limits)
        .build()
        .unwrap();
    let functions = format!("(module {})", "(func)".repeat(1_001));
    let nested = format!(
        "(module (func {} {}))",
        "(block ".repeat(101),
        ")".repeat(101)
    );
    let data = format!(
        "(module (memory 1) (data (i32.const 0) \"{}\"))",
        "a".repeat(70_000)
    );
    for (what, wat) in [
        ("functions", functions),
        ("nesting", nested),
        ("size", data),
    ] {
        let err = engine.load(wat.as_bytes()).err().expect(what);
        assert_eq!(err.code(), ErrorCode::CompileLimitExceeded, "{what}: {err}");
    }
    // Source text over its cap: a script, and wat, refused before it is parsed.
    let tiny = Engine::builder()
        .cache_dir(None)
        .compile_limits(capsa::CompileLimits {
            max_script_size: capsa::ByteSize(8),
            ..capsa::CompileLimits::default()
        })
        .build()
        .unwrap();
    let err = tiny
        .script(Language::JavaScript, "a.js", "1 + 2 + 3 + 4")
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::CompileLimitExceeded);
    let err = tiny.load(b"(module (func))").err().unwrap();
    assert_eq!(err.code(), ErrorCode::CompileLimitExceeded);
    assert!(err.message().contains("source text"), "{err}");
}

#[test]
fn a_compile_past_its_deadline_ends_with_compile_limit_exceeded() {
    let engine = Engine::builder()
        .cache_dir(None)
        .compile_limits(capsa::CompileLimits {
            timeout: "1ms".parse().unwrap(),
            ..capsa::CompileLimits::default()
        })
        .build()
        .unwrap();
    // Big enough that cranelift takes well over a millisecond.
    let wat = format!(
        "(module {})",
        "(func (result i32) (i32.add (i32.const 1) (i32.const 2)))".repeat(20_000)
    );
    let err = engine.load(wat.as_bytes()).err().expect("too slow");
    assert_eq!(err.code(), ErrorCode::CompileLimitExceeded);
    assert!(err.message().contains("deadline"), "{err}");
}

#[test]
fn typescript_nested_without_brackets_strips_in_linear_time() {
    // `if(1) ` * N printed N² bytes of indentation: N=20,000 took 24 s and 2.7 GB of host memory.
    let source = "if(1) ".repeat(80_000) + "1;";
    let started = std::time::Instant::now();
    let script = engine().script(Language::TypeScript, "deep.ts", &source);
    // The guest's parser then overflows its own stack; what matters is the host's share.
    let code = script.as_ref().map(|s| s.code().len()).unwrap_or(0);
    assert!(code < 20 * source.len(), "{code} bytes of JavaScript");
    eprintln!("stripped in {:?}", started.elapsed());
}
