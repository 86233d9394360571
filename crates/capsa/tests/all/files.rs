//! Session files (`docs/sessions.md`): the host writes, reads and lists them; Python scripts see them
//! at `/work`; paths cannot leave the directory; `max_files` caps them from both sides.

use capsa::{ByteSize, Call, DirGrant, ErrorCode, FileEntry, Grants, Language, Limits, Session};
use serde_json::json;

use crate::{assert_code, engine, quick};

fn session(language: Language, limits: Limits) -> Session {
    engine()
        .session(language, Call::new().limits(limits))
        .expect("session")
}

#[test]
fn files_round_trip_and_list_sorted() {
    let mut s = session(Language::JavaScript, quick());
    assert_eq!(s.list_files().unwrap(), vec![]);
    assert_eq!(
        s.read_file("a.txt").unwrap_err().code(),
        ErrorCode::NotFound
    );
    s.write_file("data/in.csv", b"a,b\n1,2\n").unwrap();
    s.write_file("/work/a.txt", b"").unwrap();
    s.write_file("./data//deep/x.bin", &[0, 255, 1]).unwrap();
    assert_eq!(s.read_file("/work/data/in.csv").unwrap(), b"a,b\n1,2\n");
    assert_eq!(s.read_file("data/deep/x.bin").unwrap(), [0, 255, 1]);
    s.write_file("a.txt", b"replaced").unwrap();
    let entry = |path: &str, size| FileEntry {
        path: path.into(),
        size,
    };
    assert_eq!(
        s.list_files().unwrap(),
        vec![
            entry("a.txt", 8),
            entry("data/deep/x.bin", 3),
            entry("data/in.csv", 8)
        ]
    );
    assert_eq!(
        serde_json::to_value(entry("a", 1)).unwrap(),
        json!({"path": "a", "size": 1})
    );
    assert_eq!(
        s.read_file("data").unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        s.write_file("data", b"x").unwrap_err().code(),
        ErrorCode::InvalidInput,
        "a directory is not replaced by a file"
    );
}

#[test]
fn paths_that_leave_work_are_refused() {
    let mut s = session(Language::Python, quick());
    for bad in [
        "../escape",
        "a/../../escape",
        "/etc/passwd",
        "/workdir/x",
        "/work",
        "",
        "a\0b",
        "..",
    ] {
        let e = s.write_file(bad, b"x").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidInput, "{bad:?}: {e}");
        assert_eq!(
            s.read_file(bad).unwrap_err().code(),
            ErrorCode::InvalidInput
        );
    }
    assert_eq!(s.list_files().unwrap(), vec![]);
}

#[test]
fn python_scripts_see_the_files_at_work() {
    let mut s = session(Language::Python, quick());
    s.write_file("in.txt", b"from the host").unwrap();
    let receipt = s
        .eval(
            "import os\n\
             text = open('/work/in.txt').read()\n\
             os.makedirs('/work/out', exist_ok=True)\n\
             with open('/work/out/result.txt', 'w') as f:\n    f.write(text.upper())\n\
             sorted(os.listdir('/work'))",
        )
        .unwrap();
    assert_eq!(
        receipt.result,
        Some(json!(["in.txt", "out"])),
        "{receipt:?}"
    );
    assert_eq!(s.read_file("out/result.txt").unwrap(), b"FROM THE HOST");
    // The files stay across a reset; the interpreter's state does not.
    s.reset();
    let receipt = s.eval("open('/work/out/result.txt').read()").unwrap();
    assert_eq!(receipt.result, Some(json!("FROM THE HOST")));
}

#[test]
fn the_host_never_follows_a_link_a_script_made() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host only").unwrap();
    let mut s = session(Language::Python, quick());
    let receipt = s
        .eval("import os\nos.symlink('in', '/work/link')\nos.mkdir('/work/in')\nopen('/work/in/f', 'w').write('x')\n1")
        .unwrap();
    assert!(receipt.is_ok(), "{:?}", receipt.error);
    for through in ["link/f", "link"] {
        let e = s.read_file(through).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidInput, "{through}: {e}");
        assert!(e.message().contains("symbolic link"), "{e}");
        assert_eq!(
            s.write_file(through, b"y").unwrap_err().code(),
            ErrorCode::InvalidInput
        );
    }
    // Links are not listed; the file behind it is, once, by its real path.
    assert_eq!(
        s.list_files().unwrap(),
        vec![FileEntry {
            path: "in/f".into(),
            size: 1
        }]
    );
    // A link out of the directory cannot even be made (the guard on `symlink`).
    let target = outside.path().join("secret");
    let receipt = s
        .eval(&format!(
            "import os\nos.symlink({:?}, '/work/out')",
            target.display().to_string()
        ))
        .unwrap();
    assert_code(&receipt, ErrorCode::GuestException);
}

#[test]
fn the_cap_refuses_a_host_write_before_it_is_made() {
    let limits = Limits {
        max_files: ByteSize(1000),
        ..quick()
    };
    let mut s = session(Language::JavaScript, limits);
    s.write_file("a", &[1; 600]).unwrap();
    // Just under the cap, then one byte over.
    s.write_file("b", &[2; 400]).unwrap();
    let e = s.write_file("c", &[3; 1]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::FilesLimitExceeded, "{e}");
    assert!(e.message().contains("max_files"), "{e}");
    assert_eq!(s.read_file("c").unwrap_err().code(), ErrorCode::NotFound);
    // Shrinking a file makes room again.
    s.write_file("a", &[1; 100]).unwrap();
    s.write_file("c", &[3; 500]).unwrap();
    assert!(s.eval("1 + 1").unwrap().is_ok(), "the session still serves");
}

#[test]
fn a_script_that_leaves_work_over_the_cap_ends_with_the_files_limit() {
    let limits = Limits {
        max_files: ByteSize(10_000),
        ..quick()
    };
    let mut s = session(Language::Python, limits);
    s.eval("kept = 1").unwrap();
    // Just under: fine.
    let under = s.eval("open('/work/a', 'wb').write(b'x' * 10000)").unwrap();
    assert!(under.is_ok(), "{:?}", under.error);
    let over = s.eval("open('/work/b', 'wb').write(b'y')").unwrap();
    let message = assert_code(&over, ErrorCode::FilesLimitExceeded);
    assert!(message.contains("max_files"), "{message}");
    assert_eq!(over.result, None);
    // The files stayed; host writes are refused, and every evaluation ends the same way, until a
    // script makes room.
    assert_eq!(s.read_file("b").unwrap(), b"y");
    assert_eq!(
        s.write_file("c", b"z").unwrap_err().code(),
        ErrorCode::FilesLimitExceeded
    );
    assert_code(&s.eval("1").unwrap(), ErrorCode::FilesLimitExceeded);
    let cleaned = s
        .eval("import os\nos.remove('/work/b')\n'kept' in globals()")
        .unwrap();
    assert_eq!(
        cleaned.result,
        Some(json!(false)),
        "the state went: {:?}",
        cleaned.error
    );
    s.write_file("a", b"small").unwrap();
    s.write_file("c", b"z").unwrap();
}

#[test]
fn the_files_dir_is_the_sessions_own_and_goes_with_it() {
    let base = tempfile::tempdir().unwrap();
    let engine = capsa::Engine::builder()
        .cache_dir(None)
        .session_dir(Some(base.path().to_path_buf()))
        .build()
        .unwrap();
    let mut a = engine
        .session(Language::JavaScript, Call::new().limits(quick()))
        .unwrap();
    let mut b = engine
        .session(Language::JavaScript, Call::new().limits(quick()))
        .unwrap();
    a.write_file("x", b"a").unwrap();
    b.write_file("x", b"b").unwrap();
    assert_eq!(a.read_file("x").unwrap(), b"a");
    assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 2);
    drop(a);
    drop(b);
    assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
}

#[test]
fn a_grant_at_work_is_refused_for_a_python_session() {
    let dir = tempfile::tempdir().unwrap();
    for guest in ["/work", "/work/", "/work/data"] {
        let call = Call::new().grants(Grants::new().dir(DirGrant::new(dir.path(), guest)));
        let e = engine().session(Language::Python, call).err().unwrap();
        assert_eq!(e.code(), ErrorCode::InvalidInput, "{guest}: {e}");
    }
    let call = Call::new().grants(Grants::new().dir(DirGrant::new(dir.path(), "/workshop")));
    assert!(engine().session(Language::Python, call).is_ok());
}
