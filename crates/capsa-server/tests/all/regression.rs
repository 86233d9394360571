//! Regression tests over HTTP, each named after what it guards (the findings of issue 12).

use crate::{Gateway, TOKEN, client};

/// The attack of issue 12 over HTTP: a public route granting `shared:/shared` and another granting
/// `shared/pub:/pub:ro` let an unauthenticated client read the gateway's own environ (and its token)
/// through a symlink the first route's guest planted.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_route_cannot_repoint_another_routes_grant() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(shared.join("pub")).unwrap();
    std::fs::write(shared.join("pub/hello.txt"), "public").unwrap();
    let attack = dir.path().join("attack.py");
    std::fs::write(
        &attack,
        r#"import os, shutil
def handler(request):
    shutil.rmtree("/shared/pub", ignore_errors=True)
    tried = []
    for target in ["../../../../../../../../proc/self", "/proc/self", "."]:
        try:
            os.symlink(target, "/shared/pub")
            tried.append("made " + target)
            break
        except OSError as e:
            tried.append("refused " + target)
    return {"status": 200, "body": ", ".join(tried)}
"#,
    )
    .unwrap();
    let read = dir.path().join("read.py");
    std::fs::write(
        &read,
        r#"def handler(request):
    name = request.query.get("file", "hello.txt")
    try:
        with open("/pub/" + name, "rb") as f:
            return {"status": 200, "body": f.read().decode("latin-1")}
    except OSError as e:
        return {"status": 404, "body": str(e)}
"#,
    )
    .unwrap();
    let config = format!(
        r#"
[[route]]
path = "/attack"
function = "{attack}"
grants = {{ dirs = ["{shared}:/shared"] }}
[[route]]
path = "/pub"
function = "{read}"
grants = {{ dirs = ["{public}:/pub:ro"] }}
"#,
        attack = attack.display(),
        read = read.display(),
        shared = shared.display(),
        public = shared.join("pub").display(),
    );
    let gw = Gateway::start_in(dir.path(), &config).await;
    let c = client();
    let r = c.get(gw.url("/pub")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "public");

    let r = c.get(gw.url("/attack")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let tried = r.text().await.unwrap();
    assert_eq!(
        tried, "refused ../../../../../../../../proc/self, refused /proc/self, made .",
        "only the symlink that stays inside the mount is made"
    );
    // The grant now goes through a symlink (to `.`, inside `shared`): it is refused, never followed.
    for file in ["environ", "hello.txt"] {
        let r = c
            .get(gw.url(&format!("/pub?file={file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{file}");
        let body = r.text().await.unwrap();
        assert!(body.contains("is a symbolic link"), "{body}");
        assert!(!body.contains(TOKEN), "{body}");
    }
}

/// A cached artifact patched in the gateway's cache, with its checksum recomputed (issue 12), is not
/// run after a restart: checksums are keyed with a key outside the cache.
#[tokio::test(flavor = "multi_thread")]
async fn a_patched_artifact_in_the_gateways_cache_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wat = dir.path().join("answer.wat");
    std::fs::write(
        &wat,
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "answer=42")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 9))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    )
    .unwrap();
    let config = format!(
        "[[route]]\npath = \"/answer\"\nfunction = \"{}\"\n",
        wat.display()
    );
    // One gateway's answer, then its shutdown: the next start is a restart on the same directory.
    let answer = |gw: Gateway| async move {
        let r = client().get(gw.url("/answer")).send().await.unwrap();
        let text = r.text().await.unwrap();
        drop(gw);
        text
    };
    assert_eq!(
        answer(Gateway::start_with_cache(dir.path(), &config, &cache).await).await,
        "answer=42"
    );
    let artifact = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| d.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap())
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a cached artifact");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"answer=42")
        .expect("the data segment in the artifact");
    bytes[at + 7..at + 9].copy_from_slice(b"13");
    std::fs::write(&artifact, &bytes).unwrap();
    let sum = blake3::hash(&bytes).to_hex();
    std::fs::write(artifact.with_extension("b3"), sum.as_bytes()).unwrap();
    assert_eq!(
        answer(Gateway::start_with_cache(dir.path(), &config, &cache).await).await,
        "answer=42"
    );
}
