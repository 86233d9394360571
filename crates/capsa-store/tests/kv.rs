//! One behaviour suite for every key-value backend: in-memory, SQLite and a real redis-server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use capsa::kv::{KvBackend, KvError, MemoryKv};
use capsa_store::{RedisKv, SqliteKv};
use capsa_test_programs::RedisServer;

/// Runs every behaviour check against `backend`, in namespaces no other test uses.
async fn behaviour_suite(backend: Arc<dyn KvBackend>) {
    basic_operations(&*backend).await;
    binary_values(&*backend).await;
    namespaces_are_isolated(&*backend).await;
    ttl_expires(&*backend).await;
    listing(&*backend).await;
    entry_cap(&*backend).await;
    entry_cap_is_atomic(backend.clone()).await;
    a_full_namespace_of_expired_keys_takes_new_ones(&*backend).await;
}

async fn basic_operations(kv: &dyn KvBackend) {
    let ns = "basic";
    assert_eq!(kv.get(ns, "k").await.unwrap(), None);
    kv.set(ns, "k", b"one", None, 100).await.unwrap();
    assert_eq!(kv.get(ns, "k").await.unwrap().as_deref(), Some(&b"one"[..]));
    kv.set(ns, "k", b"two", None, 100).await.unwrap();
    assert_eq!(kv.get(ns, "k").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert!(kv.delete(ns, "k").await.unwrap());
    assert!(!kv.delete(ns, "k").await.unwrap());
    assert_eq!(kv.get(ns, "k").await.unwrap(), None);
}

async fn binary_values(kv: &dyn KvBackend) {
    let value: Vec<u8> = (0..=255).collect();
    kv.set("binary", "bytes", &value, None, 100).await.unwrap();
    assert_eq!(kv.get("binary", "bytes").await.unwrap(), Some(value));
    kv.set("binary", "empty", b"", None, 100).await.unwrap();
    assert_eq!(kv.get("binary", "empty").await.unwrap(), Some(Vec::new()));
}

async fn namespaces_are_isolated(kv: &dyn KvBackend) {
    kv.set("ns-a", "shared", b"a", None, 100).await.unwrap();
    kv.set("ns-b", "shared", b"b", None, 100).await.unwrap();
    assert_eq!(
        kv.get("ns-a", "shared").await.unwrap().as_deref(),
        Some(&b"a"[..])
    );
    assert_eq!(
        kv.get("ns-b", "shared").await.unwrap().as_deref(),
        Some(&b"b"[..])
    );
    assert_eq!(kv.list("ns-a", "", None, 10).await.unwrap(), ["shared"]);
    kv.delete("ns-a", "shared").await.unwrap();
    assert_eq!(
        kv.get("ns-b", "shared").await.unwrap().as_deref(),
        Some(&b"b"[..])
    );
}

async fn ttl_expires(kv: &dyn KvBackend) {
    let ns = "ttl";
    kv.set(ns, "short", b"x", Some(Duration::from_millis(80)), 100)
        .await
        .unwrap();
    kv.set(ns, "long", b"y", Some(Duration::from_secs(600)), 100)
        .await
        .unwrap();
    assert!(kv.get(ns, "short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(kv.get(ns, "short").await.unwrap(), None);
    assert!(kv.get(ns, "long").await.unwrap().is_some());
    assert_eq!(kv.list(ns, "", None, 10).await.unwrap(), ["long"]);
    assert!(
        !kv.delete(ns, "short").await.unwrap(),
        "an expired key is already gone"
    );
    // Setting again without a TTL makes it permanent.
    kv.set(ns, "short", b"z", None, 100).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(kv.get(ns, "short").await.unwrap().is_some());
}

async fn listing(kv: &dyn KvBackend) {
    let ns = "list";
    for key in ["a1", "a2", "a3", "b1", "aé", "a", "ab/c"] {
        kv.set(ns, key, key.as_bytes(), None, 100).await.unwrap();
    }
    assert_eq!(kv.list(ns, "a", None, 2).await.unwrap(), ["a", "a1"]);
    assert_eq!(kv.list(ns, "a", Some("a1"), 2).await.unwrap(), ["a2", "a3"]);
    assert_eq!(
        kv.list(ns, "a", Some("a3"), 10).await.unwrap(),
        ["ab/c", "aé"]
    );
    assert_eq!(
        kv.list(ns, "a", Some("aé"), 10).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        kv.list(ns, "", None, 100).await.unwrap(),
        ["a", "a1", "a2", "a3", "ab/c", "aé", "b1"]
    );
    assert_eq!(kv.list(ns, "b", None, 100).await.unwrap(), ["b1"]);
    assert_eq!(
        kv.list(ns, "z", None, 100).await.unwrap(),
        Vec::<String>::new()
    );
    // A cursor before the prefix starts at the prefix.
    assert_eq!(kv.list(ns, "b", Some("a"), 100).await.unwrap(), ["b1"]);
}

async fn entry_cap(kv: &dyn KvBackend) {
    let ns = "cap";
    for key in ["k1", "k2", "k3"] {
        kv.set(ns, key, b"v", None, 3).await.unwrap();
    }
    assert_eq!(kv.set(ns, "k4", b"v", None, 3).await, Err(KvError::Full(3)));
    assert_eq!(kv.get(ns, "k4").await.unwrap(), None, "nothing written");
    kv.set(ns, "k2", b"overwrite", None, 3)
        .await
        .expect("existing keys can be overwritten");
    assert!(kv.delete(ns, "k1").await.unwrap());
    kv.set(ns, "k4", b"v", None, 3).await.unwrap();

    // Expired entries do not count.
    let ns = "cap-ttl";
    kv.set(ns, "gone", b"v", Some(Duration::from_millis(50)), 2)
        .await
        .unwrap();
    kv.set(ns, "stays", b"v", None, 2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    kv.set(ns, "new", b"v", None, 2).await.unwrap();
    assert_eq!(kv.list(ns, "", None, 10).await.unwrap(), ["new", "stays"]);
}

async fn entry_cap_is_atomic(kv: Arc<dyn KvBackend>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move { kv.set("race", &format!("key{i:02}"), b"v", None, 10).await })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => stored += 1,
            Err(KvError::Full(10)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(stored, 10);
    assert_eq!(kv.list("race", "", None, 100).await.unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend() {
    behaviour_suite(Arc::new(MemoryKv::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    behaviour_suite(Arc::new(SqliteKv::open(&path).unwrap())).await;

    // Everything is on disk: a new connection sees it.
    let reopened = SqliteKv::open(&path).unwrap();
    assert_eq!(reopened.get("basic", "k").await.unwrap(), None);
    assert_eq!(reopened.list("list", "b", None, 10).await.unwrap(), ["b1"]);
}

#[tokio::test]
async fn sqlite_deletes_expired_rows_on_the_next_write() {
    // Expired rows used to stay in the file until the namespace filled up.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let kv = SqliteKv::open(&path).unwrap();
    for i in 0..20 {
        kv.set(
            "ns",
            &format!("old{i}"),
            &[7; 1000],
            Some(Duration::from_millis(30)),
            100,
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    kv.set("ns", "new", b"v", None, 100).await.unwrap();
    let rows: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM kv", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

async fn a_full_namespace_of_expired_keys_takes_new_ones(kv: &dyn KvBackend) {
    for i in 0..3 {
        kv.set(
            "refill",
            &format!("old{i}"),
            b"v",
            Some(Duration::from_millis(30)),
            3,
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    for i in 0..3 {
        kv.set("refill", &format!("new{i}"), b"v", None, 3)
            .await
            .unwrap();
    }
    assert_eq!(
        kv.list("refill", "", None, 10).await.unwrap(),
        ["new0", "new1", "new2"]
    );
}

#[test]
fn sqlite_refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.db");
    std::fs::write(
        &path,
        b"this is not sqlite, just some text that is long enough to have a header",
    )
    .unwrap();
    assert!(matches!(SqliteKv::open(&path), Err(KvError::Backend(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend() {
    let server = RedisServer::start();
    behaviour_suite(Arc::new(RedisKv::new(&server.url()).unwrap())).await;

    // A second client (as another capsa process would be) shares the data.
    let other = RedisKv::new(&server.url()).unwrap();
    assert_eq!(other.list("list", "b", None, 10).await.unwrap(), ["b1"]);
    other
        .set("shared", "from-other", b"hi", None, 10)
        .await
        .unwrap();
    let first = RedisKv::new(&server.url()).unwrap();
    assert_eq!(
        first.get("shared", "from-other").await.unwrap().as_deref(),
        Some(&b"hi"[..])
    );
}

#[tokio::test]
async fn redis_unreachable_is_a_backend_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kv = RedisKv::new(&format!("redis://127.0.0.1:{port}/")).unwrap();
    assert!(matches!(kv.get("ns", "k").await, Err(KvError::Backend(_))));
    assert!(matches!(
        RedisKv::new("not a url"),
        Err(KvError::Backend(_))
    ));
}
