//! The artifact cache and what capsa refuses to load.

use capsa::{ArtifactSource, Call, Engine, ErrorCode};

/// An engine caching in `dir/cache`, so the cache's key (beside it) stays inside `dir`.
fn engine_at(dir: &std::path::Path) -> Engine {
    Engine::builder()
        .cache_dir(Some(dir.join("cache")))
        .build()
        .unwrap()
}

fn entry(engine: &Engine, ext: &str) -> std::path::PathBuf {
    let dir = engine.cache_dir().unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .expect("cache entry")
}

const HELLO: &[u8] = br#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "cached\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 7))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

/// Replaces a cache file the way a crash or another writer would: a new file renamed over the old one.
/// (Rewriting a file in place that a running engine has mapped can fault that engine: see
/// docs/cache.md. capsa itself only ever renames complete files into place.)
fn replace(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("test-tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn compiled_once_then_loaded_from_memory_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path());
    assert_eq!(
        engine.load(HELLO).unwrap().artifact_source(),
        ArtifactSource::Compiled
    );
    assert_eq!(
        engine.load(HELLO).unwrap().artifact_source(),
        ArtifactSource::Memory
    );

    let fresh = engine_at(dir.path());
    let module = fresh.load(HELLO).unwrap();
    assert_eq!(module.artifact_source(), ArtifactSource::Disk);
    assert_eq!(module.run(Call::new()).unwrap().stdout_text(), "cached\n");
}

#[test]
fn concurrent_first_loads_of_one_module_compile_it_once() {
    // Big enough that its compilation takes a while, so that the loads overlap.
    let mut wat = String::from("(module (memory (export \"memory\") 1)");
    for i in 0..2_000 {
        wat.push_str(&format!(
            "(func (export \"f{i}\") (param i32) (result i32) local.get 0 i32.const {i} i32.mul i32.const 7 i32.add)"
        ));
    }
    wat.push(')');
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path());
    let loads = 8;
    let barrier = std::sync::Barrier::new(loads);
    let sources: Vec<ArtifactSource> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..loads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    engine.load(wat.as_bytes()).unwrap().artifact_source()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let compiled = sources
        .iter()
        .filter(|s| **s == ArtifactSource::Compiled)
        .count();
    assert_eq!(compiled, 1, "{sources:?}");
    assert!(
        sources
            .iter()
            .all(|s| matches!(s, ArtifactSource::Compiled | ArtifactSource::Memory)),
        "{sources:?}"
    );
}

#[test]
fn a_corrupted_entry_is_detected_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path());
    engine.load(HELLO).unwrap();
    let artifact = entry(&engine, "cwasm");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    replace(&artifact, &bytes);

    let fresh = engine_at(dir.path());
    let module = fresh.load(HELLO).unwrap();
    assert_eq!(module.artifact_source(), ArtifactSource::Compiled);
    assert_eq!(module.run(Call::new()).unwrap().stdout_text(), "cached\n");
    // The replacement is trusted again.
    assert_eq!(
        engine_at(dir.path()).load(HELLO).unwrap().artifact_source(),
        ArtifactSource::Disk
    );
}

#[test]
fn a_truncated_entry_or_a_missing_checksum_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path());
    engine.load(HELLO).unwrap();
    let artifact = entry(&engine, "cwasm");
    let bytes = std::fs::read(&artifact).unwrap();
    replace(&artifact, &bytes[..bytes.len() / 3]);
    assert_eq!(
        engine_at(dir.path()).load(HELLO).unwrap().artifact_source(),
        ArtifactSource::Compiled
    );

    std::fs::remove_file(entry(&engine, "b3")).unwrap();
    let module = engine_at(dir.path()).load(HELLO).unwrap();
    assert_eq!(module.artifact_source(), ArtifactSource::Compiled);
    assert!(module.run(Call::new()).unwrap().is_ok());
}

#[test]
fn engines_with_different_settings_use_different_cache_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let plain = engine_at(dir.path());
    let fuel = Engine::builder()
        .cache_dir(Some(dir.path().join("cache")))
        .cpu_budget(true)
        .build()
        .unwrap();
    assert_ne!(plain.cache_dir(), fuel.cache_dir());
}

#[test]
fn a_precompiled_artifact_from_the_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path());
    engine.load(HELLO).unwrap();
    let artifact = std::fs::read(entry(&engine, "cwasm")).unwrap();
    let err = engine.load(&artifact).err().expect("refused");
    assert_eq!(err.code(), ErrorCode::InvalidModule);
    assert!(err.message().contains("precompiled"), "{}", err.message());
}

#[test]
fn invalid_modules_are_invalid_module() {
    let engine = crate::engine();
    let cases: &[(&[u8], &str)] = &[
        (b"\0asm\x01\0\0\0\xff\xff", "parse"),
        (b"(module (func (export \"_start\") (i32.add)))", "type"),
        (b"(module (func", "expected"),
        (b"\xde\xad\xbe\xef\xff", "not a WebAssembly module"),
        (b"(module (import \"env\" \"missing\" (func)))", "missing"),
        (b"\0asm\x0d\0\x01\0", "component"),
    ];
    for (bytes, needle) in cases {
        let err = engine.load(bytes).err().expect("refused");
        assert_eq!(err.code(), ErrorCode::InvalidModule, "{}", err.message());
        assert!(
            err.message().contains(needle),
            "`{needle}` not in: {}",
            err.message()
        );
    }
}

#[test]
fn the_on_demand_allocator_runs_the_same_guests() {
    let engine = Engine::builder()
        .cache_dir(None)
        .pooling(false)
        .build()
        .unwrap();
    assert!(!engine.is_pooling());
    let receipt = crate::run_probe(&engine, &["args", "x"], crate::quick(), |c| c);
    assert!(receipt.is_ok(), "{receipt:?}");
    let receipt = crate::run_probe(&engine, &["recurse", "1000000"], crate::quick(), |c| c);
    crate::assert_code(&receipt, ErrorCode::StackOverflow);
}
