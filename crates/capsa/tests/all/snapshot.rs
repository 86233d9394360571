//! Session snapshots and forks (`docs/sessions.md`): state carried into forks, forks independent of
//! each other and of their origin, snapshots refused when the state is not one to keep, bytes that
//! resume in another engine, and bytes refused when anything in them changed.

use capsa::{ByteSize, Call, Engine, ErrorCode, Language, Limits, Session, Snapshot, SnapshotKey};
use serde_json::json;

use crate::{assert_code, engine, host_functions, quick};

const fn assert_send<T: Send>() {}
const fn assert_send_sync<T: Send + Sync>() {}
// A session moves between threads (the gateway parks them); a snapshot is shared between them.
const _: () = assert_send::<Session>();
const _: () = assert_send_sync::<Snapshot>();

fn js() -> Session {
    engine()
        .session(Language::JavaScript, Call::new().limits(quick()))
        .expect("session")
}

fn fork(snapshot: &Snapshot) -> Session {
    engine()
        .fork(snapshot, Call::new().limits(quick()))
        .expect("fork")
}

fn result(session: &mut Session, code: &str) -> serde_json::Value {
    let receipt = session.eval(code).unwrap();
    assert!(receipt.is_ok(), "{code}: {:?}", receipt.error);
    receipt.result.unwrap_or(serde_json::Value::Null)
}

#[test]
fn a_fork_starts_where_the_snapshot_was_taken() {
    let mut s = js();
    result(
        &mut s,
        "globalThis.count = 41; function bump() { return ++count } const big = 'x'.repeat(100000)",
    );
    let snapshot = s.snapshot().unwrap();
    assert_eq!(snapshot.language(), Language::JavaScript);
    assert!(snapshot.memory_bytes() > 0);
    assert!(snapshot.size_bytes() > 100_000, "{snapshot:?}");
    let mut f = fork(&snapshot);
    assert_eq!(result(&mut f, "bump()"), json!(42));
    assert_eq!(result(&mut f, "big.length"), json!(100000));
    // The origin goes on unchanged, from its own state.
    assert_eq!(result(&mut s, "bump()"), json!(42));
    let first = f.eval("1").unwrap();
    assert!(first.is_ok());
}

#[test]
fn forks_diverge_and_never_see_each_others_writes() {
    let mut s = js();
    result(&mut s, "var log = ['base']");
    s.write_file("shared.txt", b"base").unwrap();
    let snapshot = s.snapshot().unwrap();
    let mut a = fork(&snapshot);
    let mut b = fork(&snapshot);
    result(&mut a, "log.push('a')");
    a.write_file("shared.txt", b"a").unwrap();
    a.write_file("only-a.txt", b"a").unwrap();
    result(&mut b, "log.push('b')");
    assert_eq!(result(&mut a, "log"), json!(["base", "a"]));
    assert_eq!(result(&mut b, "log"), json!(["base", "b"]));
    assert_eq!(result(&mut s, "log"), json!(["base"]));
    assert_eq!(b.read_file("shared.txt").unwrap(), b"base");
    assert_eq!(s.read_file("shared.txt").unwrap(), b"base");
    assert_eq!(
        b.read_file("only-a.txt").unwrap_err().code(),
        ErrorCode::NotFound
    );
    // A fork of a fork carries both generations.
    let mut aa = fork(&a.snapshot().unwrap());
    assert_eq!(result(&mut aa, "log"), json!(["base", "a"]));
    assert_eq!(aa.read_file("only-a.txt").unwrap(), b"a");
}

#[test]
fn a_snapshot_before_any_evaluation_forks_a_fresh_runtime() {
    let mut s = js();
    s.write_file("in.json", b"{}").unwrap();
    let snapshot = s.snapshot().unwrap();
    assert_eq!(snapshot.memory_bytes(), 0);
    let mut f = fork(&snapshot);
    assert_eq!(result(&mut f, "typeof count"), json!("undefined"));
    assert_eq!(f.read_file("in.json").unwrap(), b"{}");
    // A fork that has not run yet snapshots as its origin.
    let mut s = js();
    result(&mut s, "var kept = 7");
    let mut f = fork(&s.snapshot().unwrap());
    let mut g = fork(&f.snapshot().unwrap());
    assert_eq!(result(&mut g, "kept"), json!(7));
}

#[test]
fn typescript_sessions_snapshot_too() {
    let mut s = engine()
        .session(Language::TypeScript, Call::new().limits(quick()))
        .unwrap();
    result(
        &mut s,
        "const n: number = 2; function twice(x: number): number { return x * n }",
    );
    let snapshot = s.snapshot().unwrap();
    assert_eq!(snapshot.language(), Language::TypeScript);
    let mut f = fork(&snapshot);
    assert_eq!(f.language(), Language::TypeScript);
    assert_eq!(result(&mut f, "twice(21) as number"), json!(42));
}

#[test]
fn a_session_that_hit_a_limit_cannot_be_snapshotted_until_reset() {
    let mut s = engine()
        .session(
            Language::JavaScript,
            Call::new().limits(Limits {
                timeout: "200ms".parse().unwrap(),
                ..Limits::default()
            }),
        )
        .unwrap();
    result(&mut s, "var x = 1");
    assert_code(&s.eval("while (true) {}").unwrap(), ErrorCode::Timeout);
    let e = s.snapshot().unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict, "{e}");
    assert!(e.message().contains("`timeout`"), "{e}");
    // Still refused after a good evaluation: the state it runs in is not the one the caller built.
    result(&mut s, "1");
    assert_eq!(s.snapshot().unwrap_err().code(), ErrorCode::Conflict);
    s.reset();
    result(&mut s, "var y = 2");
    let mut f = fork(&s.snapshot().unwrap());
    assert_eq!(result(&mut f, "[typeof x, y]"), json!(["undefined", 2]));
}

#[test]
fn host_calls_work_on_both_sides_of_a_snapshot() {
    // The JavaScript runtime settles every host call before an evaluation ends, so none is in flight
    // between evaluations (a guest that leaves one is refused: `sandbox::snapshot`'s unit tests).
    let mut s = engine()
        .session(
            Language::JavaScript,
            Call::new().limits(quick()).grants(host_functions()),
        )
        .unwrap();
    result(&mut s, "globalThis.pending = host.rpc('slow', {a: 1}); 1");
    assert_eq!(result(&mut s, "await pending"), json!({"a": 1}));
    let snapshot = s.snapshot().unwrap();
    let mut f = engine()
        .fork(
            &snapshot,
            Call::new().limits(quick()).grants(host_functions()),
        )
        .unwrap();
    assert_eq!(result(&mut f, "host.call('add', {a: 2, b: 40})"), json!(42));
}

#[test]
fn a_snapshot_over_the_forks_limits_is_refused() {
    let mut s = js();
    result(&mut s, "globalThis.a = 'y'.repeat(20 << 20); a.length");
    s.write_file("data.bin", &[7; 4096]).unwrap();
    let snapshot = s.snapshot().unwrap();
    assert!(snapshot.memory_bytes() > 20 << 20, "{snapshot:?}");
    let small = Limits {
        memory: ByteSize::mib(16),
        ..quick()
    };
    let e = engine()
        .fork(&snapshot, Call::new().limits(small))
        .err()
        .unwrap();
    assert_eq!(e.code(), ErrorCode::MemoryLimitExceeded, "{e}");
    let few_files = Limits {
        max_files: ByteSize(4095),
        ..quick()
    };
    let e = engine()
        .fork(&snapshot, Call::new().limits(few_files))
        .err()
        .unwrap();
    assert_eq!(e.code(), ErrorCode::FilesLimitExceeded, "{e}");
    // Just enough of both: the fork runs, with its memory counted from the start.
    let enough = Limits {
        memory: ByteSize(snapshot.memory_bytes()),
        max_files: ByteSize(4096),
        ..quick()
    };
    let mut f = engine()
        .fork(&snapshot, Call::new().limits(enough))
        .unwrap();
    let receipt = f.eval("a.length").unwrap();
    assert_eq!(receipt.result, Some(json!(20 << 20)), "{:?}", receipt.error);
    assert!(receipt.stats.memory_peak_bytes >= snapshot.memory_bytes());
}

#[test]
fn snapshot_bytes_resume_in_another_engine() {
    let key = SnapshotKey::new([7; 32]);
    let mut s = js();
    result(&mut s, "var story = ['once']; story.push('upon')");
    s.write_file("notes/a.txt", b"a time").unwrap();
    let bytes = s.snapshot().unwrap().to_bytes(&key);
    let other = Engine::builder().cache_dir(None).build().unwrap();
    let snapshot = Snapshot::from_bytes(&other, &bytes, &key).unwrap();
    let mut f = other.fork(&snapshot, Call::new().limits(quick())).unwrap();
    assert_eq!(result(&mut f, "story.join(' ')"), json!("once upon"));
    assert_eq!(f.read_file("/work/notes/a.txt").unwrap(), b"a time");
    // The same bytes again: a snapshot is read, never consumed.
    assert_eq!(
        Snapshot::from_bytes(&other, &bytes, &key)
            .unwrap()
            .to_bytes(&key),
        bytes
    );
}

#[test]
fn changed_truncated_or_foreign_bytes_are_refused() {
    let key = SnapshotKey::new([1; 32]);
    let mut s = js();
    result(&mut s, "var secret = 'kept'");
    s.write_file("f", b"contents").unwrap();
    let bytes = s.snapshot().unwrap().to_bytes(&key);
    let refused = |bytes: &[u8], key: &SnapshotKey| -> String {
        let e = Snapshot::from_bytes(engine(), bytes, key).expect_err("refused");
        assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
        assert!(!e.message().contains('\n'), "{e}");
        e.message().to_owned()
    };
    // Every byte of the header and the tail, and a spread of the rest, flipped.
    let len = bytes.len();
    let positions = (0..len.min(512))
        .chain((len.saturating_sub(512)..len).rev())
        .chain((0..len).step_by(997));
    for at in positions {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        refused(&changed, &key);
    }
    for cut in [0, 1, 8, 12, 44, len / 2, len - 33, len - 1] {
        refused(&bytes[..cut], &key);
    }
    assert!(refused(&bytes, &SnapshotKey::new([2; 32])).contains("signature"));
    let mut longer = bytes.clone();
    longer.push(0);
    refused(&longer, &key);
    // Another format version is named as such.
    let mut v2 = bytes.clone();
    v2[8] = 2;
    assert!(
        refused(&v2, &key).contains("version 2"),
        "{}",
        refused(&v2, &key)
    );
    assert!(refused(b"not a snapshot at all", &key).contains("not capsa snapshot"));
    // The original still reads.
    Snapshot::from_bytes(engine(), &bytes, &key).unwrap();
}

#[test]
fn bytes_signed_by_a_forger_for_another_runtime_are_refused() {
    // A forger with the key could still not make another runtime build's state run: the digest is
    // checked after the signature.
    let key = SnapshotKey::new([3; 32]);
    let mut bytes = js().snapshot().unwrap().to_bytes(&key);
    bytes[12] ^= 0xff; // the runtime digest
    let body = bytes.len() - 32;
    let mac = blake3::keyed_hash(&[3; 32], &bytes[..body]);
    bytes[body..].copy_from_slice(mac.as_bytes());
    let e = Snapshot::from_bytes(engine(), &bytes, &key).err().unwrap();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    assert!(e.message().contains("another build"), "{e}");
}

#[test]
fn python_sessions_cannot_snapshot_yet() {
    let mut s = engine()
        .session(Language::Python, Call::new().limits(quick()))
        .unwrap();
    let e = s.snapshot().unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    assert!(
        e.message()
            .starts_with("snapshot/fork is not supported for Python sessions yet"),
        "{e}"
    );
}

#[test]
fn a_random_key_is_random_and_never_printed() {
    let a = SnapshotKey::random().unwrap();
    let bytes = js().snapshot().unwrap().to_bytes(&a);
    let b = SnapshotKey::random().unwrap();
    assert!(Snapshot::from_bytes(engine(), &bytes, &b).is_err());
    assert_eq!(format!("{a:?}"), "SnapshotKey(..)");
}
