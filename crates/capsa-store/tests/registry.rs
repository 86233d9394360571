//! One behaviour suite for every function registry backend: SQLite and a real redis-server. Then
//! what is particular to each backend, [`Store::open`], and the name parsers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capsa_store::{
    AliasName, FunctionName, FunctionRef, NameError, NewVersion, RedisRegistry, Registry, Selector,
    SqliteRegistry, Store, StoreError,
};
use capsa_test_programs::RedisServer;
use serde_json::json;

fn name(s: &str) -> FunctionName {
    s.parse().unwrap()
}

fn alias(s: &str) -> AliasName {
    s.parse().unwrap()
}

fn new(code: &[u8]) -> NewVersion {
    NewVersion {
        language: "wasm".into(),
        code: code.to_vec(),
        metadata: json!({"limits": {"timeout": "1s"}, "grants": ["kv"], "big": u64::MAX}),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs every behaviour check against `registry`, each on function names no other check uses.
async fn behaviour_suite(registry: Arc<dyn Registry>) {
    registry.ping().await.unwrap();
    numbering_and_digests(&*registry).await;
    versions_are_immutable(&*registry).await;
    listing(&*registry).await;
    resolving(&*registry).await;
    aliases(&*registry).await;
    delete_never_reuses_numbers(&*registry).await;
    concurrent_puts_get_distinct_numbers(registry.clone()).await;
}

async fn numbering_and_digests(registry: &dyn Registry) {
    let f = name("numbering");
    let before = now_ms();
    let v1 = registry.put(&f, new(b"")).await.unwrap();
    let v2 = registry.put(&f, new(b"abc")).await.unwrap();
    let v3 = registry.put(&f, new(b"abc")).await.unwrap();
    let after = now_ms();
    assert_eq!([v1.version, v2.version, v3.version], [1, 2, 3]);
    assert_eq!(
        v1.digest,
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        v2.digest,
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(v3.digest, v2.digest, "same code, same digest");
    assert_eq!((v1.size, v2.size), (0, 3));
    assert_eq!(v2.name, f);
    assert_eq!(v2.language, "wasm");
    assert_eq!(
        v2.metadata,
        new(b"").metadata,
        "metadata comes back unchanged"
    );
    // Redis stamps versions with its own clock; on this machine that is the same clock.
    assert!(
        (before.saturating_sub(1000)..=after + 1000).contains(&v1.created_at),
        "created_at {} outside {before}..={after}",
        v1.created_at
    );
    // What `put` returned is what the store gives back.
    for stored in [&v1, &v2, &v3] {
        let read = registry
            .resolve(&f, &Selector::Version(stored.version))
            .await
            .unwrap();
        assert_eq!(read.as_ref(), Some(stored));
    }
    assert_eq!(registry.code(&f, 1).await.unwrap(), Some(Vec::new()));
}

async fn versions_are_immutable(registry: &dyn Registry) {
    let f = name("immutable");
    let first: Vec<u8> = (0..=255).collect();
    let v1 = registry.put(&f, new(&first)).await.unwrap();
    let v2 = registry.put(&f, new(b"second")).await.unwrap();
    assert_eq!(registry.code(&f, 1).await.unwrap(), Some(first));
    assert_eq!(
        registry.code(&f, 2).await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
    let versions = registry.versions(&f).await.unwrap();
    assert_eq!(versions, [v1, v2]);
}

async fn listing(registry: &dyn Registry) {
    for f in ["list-b", "list-a", "list-c", "list-c"] {
        registry.put(&name(f), new(f.as_bytes())).await.unwrap();
    }
    registry
        .set_alias(&name("list-c"), &alias("prod"), 1)
        .await
        .unwrap();

    let all = registry.list().await.unwrap();
    let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    let ours: Vec<_> = all
        .iter()
        .filter(|f| f.name.as_str().starts_with("list-"))
        .collect();
    assert_eq!(
        ours.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["list-a", "list-b", "list-c"]
    );
    let c = ours[2];
    assert_eq!((c.latest, c.versions), (2, 2));
    assert_eq!(c.aliases, BTreeMap::from([("prod".to_owned(), 1)]));
    let newest = registry.versions(&c.name).await.unwrap()[1].created_at;
    assert!(c.updated_at >= newest);
    assert_eq!(ours[0].aliases, BTreeMap::new());

    assert_eq!(
        registry.function(&name("list-c")).await.unwrap().as_ref(),
        Some(c)
    );
    assert_eq!(registry.function(&name("list-none")).await.unwrap(), None);

    let versions = registry.versions(&name("list-c")).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        registry
            .versions(&name("list-none"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn resolving(registry: &dyn Registry) {
    let f = name("resolve");
    for code in ["one", "two", "three"] {
        registry.put(&f, new(code.as_bytes())).await.unwrap();
    }
    registry.set_alias(&f, &alias("stable"), 2).await.unwrap();
    let version = |selector: Selector| {
        let f = f.clone();
        async move {
            registry
                .resolve(&f, &selector)
                .await
                .unwrap()
                .map(|v| v.version)
        }
    };
    assert_eq!(version(Selector::Latest).await, Some(3));
    assert_eq!(version(Selector::Version(1)).await, Some(1));
    assert_eq!(version(Selector::Alias(alias("stable"))).await, Some(2));
    assert_eq!(version(Selector::Version(4)).await, None);
    assert_eq!(version(Selector::Version(u64::MAX)).await, None);
    assert_eq!(version(Selector::Alias(alias("nope"))).await, None);
    let missing = name("resolve-none");
    for selector in [
        Selector::Latest,
        Selector::Version(1),
        Selector::Alias(alias("stable")),
    ] {
        assert_eq!(registry.resolve(&missing, &selector).await.unwrap(), None);
    }
    assert_eq!(registry.code(&missing, 1).await.unwrap(), None);
    assert_eq!(registry.code(&f, 99).await.unwrap(), None);
    assert_eq!(registry.code(&f, u64::MAX).await.unwrap(), None);
}

async fn aliases(registry: &dyn Registry) {
    let f = name("alias");
    let canary = alias("canary");
    registry.put(&f, new(b"v1")).await.unwrap();
    registry.put(&f, new(b"v2")).await.unwrap();
    registry.set_alias(&f, &canary, 2).await.unwrap();
    let by_alias = Selector::Alias(canary.clone());
    let (f_ref, by_alias) = (&f, &by_alias);
    let resolved = move || async move {
        registry
            .resolve(f_ref, by_alias)
            .await
            .unwrap()
            .map(|v| v.version)
    };
    assert_eq!(resolved().await, Some(2));

    // Rollback: point the alias back.
    registry.set_alias(&f, &canary, 1).await.unwrap();
    assert_eq!(resolved().await, Some(1));
    let info = registry.function(&f).await.unwrap().unwrap();
    assert_eq!(info.aliases, BTreeMap::from([("canary".to_owned(), 1)]));

    assert_eq!(
        registry.set_alias(&f, &canary, 3).await,
        Err(StoreError::NotFound(
            "function `alias` has no version `3`".into()
        ))
    );
    assert!(matches!(
        registry.set_alias(&f, &canary, u64::MAX).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        registry.set_alias(&name("alias-none"), &canary, 1).await,
        Err(StoreError::NotFound("no function `alias-none`".into()))
    );
    assert_eq!(resolved().await, Some(1), "a failed set changes nothing");
    assert_eq!(registry.function(&name("alias-none")).await.unwrap(), None);

    assert!(registry.delete_alias(&f, &canary).await.unwrap());
    assert!(!registry.delete_alias(&f, &canary).await.unwrap());
    assert_eq!(resolved().await, None);
    assert!(
        !registry
            .delete_alias(&name("alias-none"), &canary)
            .await
            .unwrap()
    );
    assert_eq!(registry.function(&name("alias-none")).await.unwrap(), None);
}

async fn delete_never_reuses_numbers(registry: &dyn Registry) {
    let f = name("reuse");
    registry.put(&f, new(b"1")).await.unwrap();
    registry.put(&f, new(b"2")).await.unwrap();
    registry.set_alias(&f, &alias("prod"), 2).await.unwrap();

    assert!(registry.delete(&f).await.unwrap());
    assert!(!registry.delete(&f).await.unwrap());
    assert_eq!(registry.function(&f).await.unwrap(), None);
    assert!(registry.versions(&f).await.unwrap().is_empty());
    assert_eq!(registry.resolve(&f, &Selector::Latest).await.unwrap(), None);
    assert_eq!(registry.code(&f, 1).await.unwrap(), None);
    assert!(registry.list().await.unwrap().iter().all(|i| i.name != f));
    assert!(!registry.delete(&name("reuse-none")).await.unwrap());

    let again = registry.put(&f, new(b"3")).await.unwrap();
    assert_eq!(again.version, 3, "numbers continue after a delete");
    let info = registry.function(&f).await.unwrap().unwrap();
    assert_eq!((info.latest, info.versions), (3, 1));
    assert!(
        info.aliases.is_empty(),
        "the old alias went with the delete"
    );
    assert!(matches!(
        registry.set_alias(&f, &alias("prod"), 1).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn concurrent_puts_get_distinct_numbers(registry: Arc<dyn Registry>) {
    let f = name("race");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (registry, f) = (registry.clone(), f.clone());
            tokio::spawn(async move {
                let code = format!("code {i}").into_bytes();
                (registry.put(&f, new(&code)).await.unwrap(), code)
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        let (info, code) = task.await.unwrap();
        assert_eq!(
            registry.code(&f, info.version).await.unwrap(),
            Some(code),
            "each put's number holds its own code"
        );
        numbers.push(info.version);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<_>>());
    assert_eq!(registry.versions(&f).await.unwrap().len(), 20);
}

// --- SQLite ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    behaviour_suite(Arc::new(SqliteRegistry::open(&path).unwrap())).await;

    // Everything is in the file: a new handle sees it.
    let reopened = SqliteRegistry::open(&path).unwrap();
    assert_eq!(reopened.versions(&name("race")).await.unwrap().len(), 20);
    assert_eq!(
        reopened
            .code(&name("immutable"), 2)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(
        reopened
            .put(&name("reuse"), new(b"4"))
            .await
            .unwrap()
            .version,
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_handles_on_one_file_share_the_numbering() {
    // As two gateway processes on one directory would.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let a: Arc<dyn Registry> = Arc::new(SqliteRegistry::open(&path).unwrap());
    let b: Arc<dyn Registry> = Arc::new(SqliteRegistry::open(&path).unwrap());
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let registry = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { registry.put(&name("shared"), new(b"x")).await })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap().unwrap().version);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<_>>());
}

/// Set in the child process of `sqlite_put_survives_kill_9` to the database it writes.
const CHILD_DB: &str = "CAPSA_STORE_TEST_CHILD_DB";
const CHILD_READY: &str = "capsa-store-test: 3 versions stored";

/// Does nothing in a normal run. As the child process of `sqlite_put_survives_kill_9`, stores three
/// versions, says so, and waits to be killed.
#[tokio::test]
async fn sqlite_put_survives_kill_9_child() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let registry = SqliteRegistry::open(&path).unwrap();
    for i in 1..=3 {
        registry
            .put(&name("durable"), new(format!("v{i}").as_bytes()))
            .await
            .unwrap();
    }
    let mut stdout = std::io::stdout();
    // On a line of its own: libtest has just printed the test's name without a newline.
    writeln!(stdout, "\n{CHILD_READY}").unwrap();
    stdout.flush().unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
}

#[test]
fn sqlite_put_survives_kill_9() {
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let mut child = Killed(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sqlite_put_survives_kill_9_child"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_DB, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == CHILD_READY);
    assert!(ready, "the child process ended without storing");
    // SIGKILL: no destructor, no checkpoint, no clean close of the database.
    drop(child);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = SqliteRegistry::open(&path).unwrap();
    let versions = runtime
        .block_on(registry.versions(&name("durable")))
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let code = runtime
        .block_on(registry.code(&name("durable"), 3))
        .unwrap();
    assert_eq!(code.as_deref(), Some(&b"v3"[..]));
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
    match SqliteRegistry::open(&path) {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("not a database"), "{message}");
            assert!(message.contains("not.db"), "{message}");
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened a file that is not a database"),
    }
}

#[test]
fn sqlite_refuses_a_registry_from_a_newer_capsa() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 2)
        .unwrap();
    assert!(matches!(
        SqliteRegistry::open(&path),
        Err(StoreError::Backend(message)) if message.contains("newer")
    ));
}

// --- Redis ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend() {
    let server = RedisServer::start();
    behaviour_suite(Arc::new(
        RedisRegistry::connect(&server.url()).await.unwrap(),
    ))
    .await;

    // A second client, as another gateway would be, shares the registry.
    let other = RedisRegistry::connect(&server.url()).await.unwrap();
    assert_eq!(other.versions(&name("race")).await.unwrap().len(), 20);
    assert_eq!(
        other.put(&name("reuse"), new(b"4")).await.unwrap().version,
        4
    );

    // A put that failed after taking its number (say, the server ran out of memory storing the
    // code) leaves a gap: `latest` is still the newest stored version.
    let redis = redis::Client::open(server.url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let _: u64 = redis::cmd("INCR")
        .arg("capsa:registry:fn:resolve:counter")
        .query_async(&mut conn)
        .await
        .unwrap();
    let latest = other.resolve(&name("resolve"), &Selector::Latest).await;
    assert_eq!(latest.unwrap().map(|v| v.version), Some(3));
    assert_eq!(
        other
            .put(&name("resolve"), new(b"5"))
            .await
            .unwrap()
            .version,
        5
    );
}

#[tokio::test]
async fn redis_unreachable_is_a_backend_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    assert!(matches!(
        RedisRegistry::connect(&url).await,
        Err(StoreError::Backend(_))
    ));
    assert!(matches!(
        RedisRegistry::connect("not a url").await,
        Err(StoreError::Backend(_))
    ));
}

// --- Store::open ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_opens_a_sqlite_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for (url, sub) in [
        (format!("sqlite:{}", root.join("a/b").display()), "a/b"),
        (root.join("plain").display().to_string(), "plain"),
    ] {
        let store = Store::open(&url).await.unwrap();
        assert_eq!(
            store.describe(),
            format!("sqlite:{}", root.join(sub).display())
        );
        assert!(root.join(sub).join("registry.db").exists());
        assert!(root.join(sub).join("kv.db").exists());
        store.registry.ping().await.unwrap();
        store.registry.put(&name("f"), new(b"x")).await.unwrap();
        store.kv.set("ns", "k", b"v", None, 10).await.unwrap();
        assert_eq!(
            store.kv.get("ns", "k").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_opens_redis_and_describes_it_without_the_password() {
    let server = RedisServer::start();
    let url = server.url();
    let plain = Store::open(&url).await.unwrap();
    let port = url
        .trim_start_matches("redis://127.0.0.1:")
        .trim_end_matches('/');
    assert_eq!(plain.describe(), format!("redis://127.0.0.1:{port}"));
    plain.registry.put(&name("f"), new(b"x")).await.unwrap();
    plain.kv.set("ns", "k", b"v", None, 10).await.unwrap();

    let redis = redis::Client::open(url.as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("hunter2")
        .query_async(&mut conn)
        .await
        .unwrap();
    let secret = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let store = Store::open(&secret).await.unwrap();
    assert_eq!(store.describe(), format!("redis://127.0.0.1:{port}"));
    assert_eq!(
        store
            .registry
            .resolve(&name("f"), &Selector::Latest)
            .await
            .unwrap()
            .map(|v| v.version),
        Some(1)
    );
    assert_eq!(
        store.kv.get("ns", "k").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[tokio::test]
async fn store_refuses_other_urls() {
    for url in [
        "",
        "sqlite:",
        "postgres://db/x",
        "mysql://user:hunter2@db/x",
    ] {
        match Store::open(url).await {
            Err(StoreError::Backend(message)) => {
                assert!(!message.contains("hunter2"), "{message}");
                assert!(message.contains("store url"), "{message}");
            }
            Err(other) => panic!("{url}: {other:?}"),
            Ok(_) => panic!("{url}: opened"),
        }
    }
}

// --- Names ---

fn long(n: usize) -> String {
    "a".repeat(n)
}

#[test]
fn function_names() {
    let valid = [
        "a",
        "0",
        "hello",
        "hello-world",
        "a_b",
        "9lives",
        "a-",
        "x_",
    ];
    for s in valid.iter().copied().map(str::to_owned).chain([long(64)]) {
        let parsed: FunctionName = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(parsed.as_str(), s);
        assert_eq!(parsed.to_string(), s);
        assert_eq!(FunctionName::try_from(s.clone()), Ok(parsed));
    }
    let invalid = [
        "", "../x", "..", ".", "a/b", "a b", "A", "Hello", "-a", "_a", "a.b", "a@b", "a:b", "a\n",
        "héllo", "日本", "a\u{0}", "ａ",
    ];
    for s in invalid.iter().copied().map(str::to_owned).chain([long(65)]) {
        let err = s.parse::<FunctionName>().unwrap_err();
        assert!(err.0.starts_with("invalid function name `"), "{err}");
        assert!(!err.0.contains('\n'), "one line: {err}");
    }
    assert_eq!(
        "../x".parse::<FunctionName>().unwrap_err(),
        NameError(
            "invalid function name `../x`: use 1-64 lowercase letters, digits, '-' or '_', \
             starting with a letter or digit"
                .into()
        )
    );
    let huge = "../".repeat(10_000);
    assert!(huge.parse::<FunctionName>().unwrap_err().0.len() < 400);
}

#[test]
fn alias_names() {
    let valid = ["canary", "a", "prod-2", "v1", "latest-ish", "z_"];
    for s in valid.iter().copied().map(str::to_owned).chain([long(64)]) {
        let parsed: AliasName = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(parsed.as_str(), s);
    }
    let invalid = [
        "", "3", "1a", "0canary", "-x", "_x", "A", "Canary", "a b", "../x", "é", "a/b",
    ];
    for s in invalid.iter().copied().map(str::to_owned).chain([long(65)]) {
        let err = s.parse::<AliasName>().unwrap_err();
        assert!(err.0.starts_with("invalid alias `"), "{err}");
    }
    assert_eq!(
        "latest".parse::<AliasName>().unwrap_err(),
        NameError("invalid alias `latest`: it is reserved for the newest version".into())
    );
}

#[test]
fn selectors() {
    let valid = [
        ("latest", Selector::Latest),
        ("1", Selector::Version(1)),
        ("42", Selector::Version(42)),
        ("18446744073709551615", Selector::Version(u64::MAX)),
        ("canary", Selector::Alias(alias("canary"))),
        ("v2", Selector::Alias(alias("v2"))),
    ];
    for (s, selector) in valid {
        assert_eq!(s.parse::<Selector>(), Ok(selector.clone()), "{s}");
        assert_eq!(selector.to_string(), s);
    }
    let invalid = [
        ("0", "invalid version `0`: versions start at 1"),
        ("00", "invalid version `00`: versions start at 1"),
        (
            "007",
            "invalid version `007`: write it without leading zeros",
        ),
        (
            "18446744073709551616",
            "invalid version `18446744073709551616`: the largest is 18446744073709551615",
        ),
        (
            "",
            "invalid alias ``: use 1-64 lowercase letters, digits, '-' or '_', starting with a letter",
        ),
    ];
    for (s, message) in invalid {
        assert_eq!(s.parse::<Selector>(), Err(NameError(message.into())), "{s}");
    }
    for s in [
        "-1", "+1", "1.0", "1e3", "Latest", "LATEST", "３", "a b", "1a",
    ] {
        assert!(s.parse::<Selector>().is_err(), "{s}");
    }
}

#[test]
fn function_refs() {
    let valid = [
        ("hello", "hello", Selector::Latest, "hello"),
        ("hello@latest", "hello", Selector::Latest, "hello"),
        ("hello@3", "hello", Selector::Version(3), "hello@3"),
        (
            "hello@canary",
            "hello",
            Selector::Alias(alias("canary")),
            "hello@canary",
        ),
        ("9@9", "9", Selector::Version(9), "9@9"),
    ];
    for (s, function, selector, shown) in valid {
        let parsed: FunctionRef = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            parsed,
            FunctionRef {
                name: name(function),
                selector
            }
        );
        assert_eq!(parsed.to_string(), shown);
        assert_eq!(
            shown.parse::<FunctionRef>(),
            Ok(parsed),
            "display round-trips"
        );
    }
    let invalid = [
        ("", "invalid function name ``"),
        ("@3", "invalid function name ``"),
        ("hello@", "invalid reference `hello@`"),
        ("hello@0", "invalid version `0`"),
        ("hello@18446744073709551616", "invalid version"),
        ("hello@3@4", "invalid alias `3@4`"),
        ("hello@latest@x", "invalid alias `latest@x`"),
        ("Hello@3", "invalid function name `Hello`"),
        ("../x@1", "invalid function name `../x`"),
        ("hello@Canary", "invalid alias `Canary`"),
        ("héllo@1", "invalid function name `héllo`"),
    ];
    for (s, start) in invalid {
        let err = s.parse::<FunctionRef>().unwrap_err();
        assert!(err.0.starts_with(start), "{s}: {err}");
    }
}

#[test]
fn names_are_serde_strings_validated_on_the_way_in() {
    assert_eq!(serde_json::to_string(&name("hello")).unwrap(), r#""hello""#);
    assert_eq!(
        serde_json::from_str::<FunctionName>(r#""hello""#).unwrap(),
        name("hello")
    );
    let err = serde_json::from_str::<FunctionName>(r#""../x""#).unwrap_err();
    assert!(
        err.to_string().contains("invalid function name `../x`"),
        "{err}"
    );
    assert!(serde_json::from_str::<AliasName>(r#""latest""#).is_err());
    assert!(serde_json::from_str::<FunctionName>("7").is_err());
    assert_eq!(
        serde_json::from_str::<AliasName>(r#""canary""#).unwrap(),
        alias("canary")
    );
}

#[test]
fn version_info_serializes_the_name_as_a_string() {
    let info = capsa_store::VersionInfo {
        name: name("hello"),
        version: 2,
        digest: "sha256:00".into(),
        language: "js".into(),
        size: 5,
        metadata: json!({"a": 1}),
        created_at: 7,
    };
    assert_eq!(
        serde_json::to_value(&info).unwrap(),
        json!({"name": "hello", "version": 2, "digest": "sha256:00", "language": "js",
               "size": 5, "metadata": {"a": 1}, "created_at": 7})
    );
}
