//! The KV capability's own rules, whatever the backend: caps, the reserved prefix, the JSON shapes.

use std::sync::Arc;

use capsa::kv::{KvCaps, KvGrant, MemoryKv};
use capsa::{ErrorCode, Grants, HostFunctions};
use serde_json::json;

use crate::{assert_code, engine, quick, run_probe};

fn grant(store: &Arc<MemoryKv>, caps: KvCaps) -> Grants {
    Grants::new().kv(KvGrant::new(store.clone(), "test").unwrap().caps(caps))
}

#[test]
fn caps_refuse_and_write_nothing() {
    let store = Arc::new(MemoryKv::new());
    let caps = KvCaps {
        max_key_bytes: 8,
        max_value_bytes: 4,
        max_entries: 2,
        ..KvCaps::default()
    };
    let run = |args: &[&str]| run_probe(engine(), args, quick(), |c| c.grants(grant(&store, caps)));

    let long_key = run(&["kv-set", "123456789", "v"]);
    assert!(assert_code(&long_key, ErrorCode::InvalidInput).contains("key"));
    let big_value = run(&["kv-set", "k", "12345"]);
    assert!(assert_code(&big_value, ErrorCode::InvalidInput).contains("value"));
    assert_eq!(
        run(&["kv-list", ""]).stdout_text().trim(),
        r#"{"cursor":null,"keys":[]}"#
    );

    assert!(run(&["kv-set", "a", "1234"]).is_ok());
    assert!(run(&["kv-set", "b", "1"]).is_ok());
    let full = run(&["kv-set", "c", "1"]);
    assert!(assert_code(&full, ErrorCode::InvalidInput).contains("full"));
    assert!(
        run(&["kv-set", "a", "4321"]).is_ok(),
        "overwriting needs no room"
    );
    assert_eq!(run(&["kv-get", "a"]).stdout_text(), "4321\n");
}

#[test]
fn data_is_shared_by_calls_holding_the_same_store() {
    let store = Arc::new(MemoryKv::new());
    let caps = KvCaps::default();
    assert!(
        run_probe(engine(), &["kv-set", "k", "kept"], quick(), |c| c
            .grants(grant(&store, caps)))
        .is_ok()
    );
    let receipt = run_probe(engine(), &["kv-get", "k"], quick(), |c| {
        c.grants(grant(&store, caps))
    });
    assert_eq!(receipt.stdout_text(), "kept\n");
    // A fresh store is empty.
    let other = Arc::new(MemoryKv::new());
    let receipt = run_probe(engine(), &["kv-get", "k"], quick(), |c| {
        c.grants(grant(&other, caps))
    });
    assert_eq!(receipt.stdout_text(), "(missing)\n");
}

#[test]
fn kv_names_cannot_be_taken_by_host_functions() {
    let impostor = HostFunctions::new().sync("kv.get", |_| Ok(json!({"value": "impostor"})));
    let receipt = run_probe(engine(), &["kv-get", "k"], quick(), |c| {
        c.grants(Grants::new().host_functions(impostor))
    });
    assert_code(&receipt, ErrorCode::CapabilityDenied);
}

#[test]
fn host_calls_and_egress_count_kv_operations() {
    let store = Arc::new(MemoryKv::new());
    let receipt = run_probe(engine(), &["kv-bytes"], quick(), |c| {
        c.grants(grant(&store, KvCaps::default()))
    });
    assert_eq!(receipt.stdout_text(), "true\n");
    assert_eq!(receipt.stats.host_calls, 2);
    assert!(receipt.stats.egress_bytes > 256, "{:?}", receipt.stats);
}

#[test]
fn namespaces_are_validated() {
    let store: Arc<MemoryKv> = Arc::new(MemoryKv::new());
    for bad in ["", "a b", "../x", "ns/1", &"n".repeat(129)] {
        let err = KvGrant::new(store.clone(), bad).err().expect("refused");
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad}");
    }
    assert!(KvGrant::new(store, "app-1_v2.prod").is_ok());
}

#[test]
fn malformed_arguments_are_invalid_input() {
    let store = Arc::new(MemoryKv::new());
    let cases = [
        ("kv.get", r#"{"key": 7}"#),
        ("kv.get", r#"{}"#),
        ("kv.set", r#"{"key": "k"}"#),
        (
            "kv.set",
            r#"{"key": "k", "value": "v", "value_base64": "dg=="}"#,
        ),
        ("kv.set", r#"{"key": "k", "value_base64": "not base64!"}"#),
        ("kv.set", r#"{"key": "k", "value": "v", "ttl_ms": 0}"#),
        ("kv.set", r#"{"key": "k", "value": "v", "ttl_ms": -5}"#),
        (
            "kv.set",
            r#"{"key": "k", "value": "v", "ttl_ms": 400000000000}"#,
        ),
        ("kv.list", r#"{"limit": 0}"#),
        ("kv.list", r#"{"limit": 1001}"#),
        ("kv.list", r#"{"prefix": 3}"#),
    ];
    for (name, args) in cases {
        let receipt = run_probe(engine(), &["call", name, args], quick(), |c| {
            c.grants(grant(&store, KvCaps::default()))
        });
        assert_code(&receipt, ErrorCode::InvalidInput);
    }
    // Nothing was written by any of them.
    let receipt = run_probe(engine(), &["kv-list", ""], quick(), |c| {
        c.grants(grant(&store, KvCaps::default()))
    });
    assert_eq!(receipt.stdout_text().trim(), r#"{"cursor":null,"keys":[]}"#);
}
