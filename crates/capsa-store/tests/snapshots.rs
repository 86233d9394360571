//! One behaviour suite for every snapshot store: SQLite and a real redis-server.

use std::sync::Arc;

use capsa_store::{
    RedisRegistry, RedisSnapshots, SnapshotId, SnapshotRecord, SnapshotStore, SqliteSnapshots,
    Store, StoreError,
};
use capsa_test_programs::RedisServer;
use serde_json::json;

fn id(s: &str) -> SnapshotId {
    s.parse().unwrap()
}

fn record(owner: &str, bytes: &[u8]) -> SnapshotRecord {
    SnapshotRecord {
        owner: owner.into(),
        metadata: json!({"language": "py", "limits": {"memory": "64MiB"}}),
        bytes: bytes.to_vec(),
        created_at: 0,
    }
}

async fn behaviour_suite(store: Arc<dyn SnapshotStore>) {
    // Every byte value, and a blob bigger than one SQLite page or Redis buffer.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    assert_eq!(store.get(&id("snap_a")).await.unwrap(), None);
    let created = store
        .put(&id("snap_a"), &record("alice", &bytes))
        .await
        .unwrap();
    assert!(created > 0);
    let got = store.get(&id("snap_a")).await.unwrap().unwrap();
    assert_eq!(got.owner, "alice");
    assert_eq!(got.bytes, bytes);
    assert_eq!(got.metadata["limits"]["memory"], "64MiB");
    assert_eq!(got.created_at, created);

    // An id is never overwritten.
    let taken = store.put(&id("snap_a"), &record("bob", b"x")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(
        store.get(&id("snap_a")).await.unwrap().unwrap().owner,
        "alice"
    );

    // Only the owner deletes.
    assert!(!store.delete(&id("snap_a"), "bob").await.unwrap());
    assert!(store.get(&id("snap_a")).await.unwrap().is_some());
    assert!(store.delete(&id("snap_a"), "alice").await.unwrap());
    assert!(!store.delete(&id("snap_a"), "alice").await.unwrap());
    assert_eq!(store.get(&id("snap_a")).await.unwrap(), None);

    store
        .put(&id("snap_empty"), &record("alice", b""))
        .await
        .unwrap();
    assert_eq!(
        store.get(&id("snap_empty")).await.unwrap().unwrap().bytes,
        b""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshots.db");
    behaviour_suite(Arc::new(SqliteSnapshots::open(&path).unwrap())).await;
    // A reopened file has what was stored.
    let again = SqliteSnapshots::open(&path).unwrap();
    assert!(again.get(&id("snap_empty")).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend() {
    let server = RedisServer::start();
    let registry = RedisRegistry::connect(&server.url()).await.unwrap();
    behaviour_suite(Arc::new(RedisSnapshots::new(&registry))).await;
    // Another client, as another gateway would be, sees the same snapshots.
    let other = Store::open(&server.url()).await.unwrap();
    assert!(
        other
            .snapshots
            .get(&id("snap_empty"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_opens_snapshots_in_the_sqlite_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite:{}", dir.path().display()))
        .await
        .unwrap();
    store
        .snapshots
        .put(&id("snap_1"), &record("o", b"abc"))
        .await
        .unwrap();
    assert!(dir.path().join(capsa_store::SNAPSHOTS_FILE).exists());
}

#[test]
fn snapshot_ids_are_checked() {
    for good in ["snap_0123456789abcdef", "a", &"x".repeat(64)] {
        good.parse::<SnapshotId>().unwrap();
    }
    for bad in ["", "../x", "Snap", "a b", "a:b", &"x".repeat(65), "snap\n"] {
        let err = bad.parse::<SnapshotId>().unwrap_err();
        assert!(err.to_string().contains("snapshot id"), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}
