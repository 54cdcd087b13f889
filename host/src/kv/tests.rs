//! The parts of the key-value layer that need no Redis server: counters,
//! quotas, grants, and the SQLite backend itself. The behaviour tests that
//! run on both backends through a real guest are in `tests/e2e/kv.rs`.

use super::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn counters_parse_as_redis_incrby_takes_them() {
    for (text, value) in [
        ("0", Some(0)),
        ("1", Some(1)),
        ("-17", Some(-17)),
        ("9223372036854775807", Some(i64::MAX)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("9223372036854775808", None),
        ("007", None),
        ("-0", None),
        ("+1", None),
        (" 1", None),
        ("1 ", None),
        ("", None),
        ("-", None),
        ("1e3", None),
    ] {
        assert_eq!(parse_counter(text.as_bytes()), value, "{text:?}");
    }
}

#[test]
fn the_quota_charges_new_keys_and_growth_only() {
    let quota = Quota {
        key_size: 10,
        value_size: 100,
        keys: 2,
        total_bytes: 50,
    };
    let empty = Usage::default();
    let one = quota.charge(empty, 3, None, 7).unwrap();
    assert_eq!(one, Usage { keys: 1, bytes: 10 });
    // Overwriting changes the bytes by the value's growth only.
    let grown = quota.charge(one, 3, Some(7), 17).unwrap();
    assert_eq!(grown, Usage { keys: 1, bytes: 20 });
    let two = quota.charge(grown, 3, None, 0).unwrap();
    assert_eq!(two.keys, 2);
    assert_eq!(
        quota.charge(two, 1, None, 0),
        Err(Exceeded::Keys { max: 2 })
    );
    // An existing key may still be overwritten at the key limit.
    assert!(quota.charge(two, 3, Some(17), 17).is_ok());
    assert_eq!(
        quota.charge(two, 3, Some(17), 60),
        Err(Exceeded::TotalBytes { bytes: 66, max: 50 })
    );
    // Shrinking is allowed even over the limit (after it was lowered).
    let over = Usage { keys: 1, bytes: 80 };
    assert_eq!(
        quota.charge(over, 3, Some(77), 10),
        Ok(Usage { keys: 1, bytes: 13 })
    );
}

#[test]
fn quotas_beyond_the_host_s_bounds_are_refused_by_name() {
    let mut quota = Quota::default();
    assert!(quota.validate().is_ok());
    quota.value_size = MAX_VALUE_SIZE + 1;
    assert!(quota.validate().unwrap_err().contains("kv-value-size"));
    let quota = Quota {
        key_size: MAX_KEY_SIZE + 1,
        ..Quota::default()
    };
    assert!(quota.validate().unwrap_err().contains("kv-key-size"));
    let quota = Quota {
        keys: 0,
        ..Quota::default()
    };
    assert!(quota.validate().unwrap_err().contains("kv-keys is 0"));
}

#[test]
fn grants_name_declared_stores_or_the_default_one() {
    let mut declared = BTreeMap::new();
    declared.insert(
        "cache".to_owned(),
        StoreSpec::Redis {
            url: "redis://127.0.0.1:6379/0".into(),
        },
    );
    let catalog = Catalog::new(declared, Path::new("/srv/data"));
    let grants = catalog
        .grant(&["default".into(), "cache".into(), "default".into()])
        .unwrap();
    assert_eq!(grants.len(), 2, "a name granted twice is one grant");
    assert_eq!(
        grants[0].store,
        StoreSpec::Sqlite {
            path: "/srv/data/kv.db".into()
        }
    );
    assert!(matches!(grants[1].store, StoreSpec::Redis { .. }));
    let err = catalog.grant(&["sessions".into()]).unwrap_err();
    assert!(
        err.contains("kv store \"sessions\" is not declared") && err.contains("[kv.sessions]"),
        "{err}"
    );
}

#[test]
fn redis_urls_are_shown_without_their_password() {
    assert_eq!(
        redis::redacted("redis://:hunter2@10.1.2.3:6380/4"),
        "10.1.2.3:6380/4"
    );
    assert_eq!(redis::redacted("redis://127.0.0.1"), "127.0.0.1:6379/0");
    let err = redis::check_url("http://example.com").unwrap_err();
    assert!(err.contains("redis://"), "{err}");
    let err = redis::check_url("rediss://:pw@cache.example:6380").unwrap_err();
    assert!(err.contains("TLS") && !err.contains("pw"), "{err}");
    assert!(
        StoreSpec::redis("redis://u:secret@h:1/2")
            .unwrap()
            .describe()
            .ends_with("h:1/2")
    );
}

/// A SQLite store in a fresh folder, and two apps' namespaces in it.
fn sqlite_pair(dir: &Path) -> (sqlite::Namespace, sqlite::Namespace) {
    let store = Arc::new(sqlite::SqliteStore::open(&dir.join("kv.db")).unwrap());
    (
        sqlite::Namespace::new(store.clone(), "a", "default"),
        sqlite::Namespace::new(store, "b", "default"),
    )
}

#[test]
fn sqlite_keeps_each_app_in_its_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = sqlite_pair(dir.path());
    let quota = Quota::default();
    runtime().block_on(async {
        a.set("k".into(), b"from a".to_vec(), quota).await.unwrap();
        assert_eq!(
            a.get("k".into()).await.unwrap().as_deref(),
            Some(&b"from a"[..])
        );
        assert_eq!(b.get("k".into()).await.unwrap(), None);
        assert!(!b.exists("k".into()).await.unwrap());
        assert_eq!(b.list(None).await.unwrap(), (vec![], None));
        b.delete("k".into()).await.unwrap();
        assert!(a.exists("k".into()).await.unwrap());
        b.set("k".into(), b"from b".to_vec(), quota).await.unwrap();
        assert_eq!(
            a.get("k".into()).await.unwrap().as_deref(),
            Some(&b"from a"[..])
        );
    });
}

#[test]
fn sqlite_pages_keys_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = sqlite_pair(dir.path());
    runtime().block_on(async {
        let pairs: Vec<_> = (0..PAGE_KEYS + 5)
            .map(|i| (format!("key{i:05}"), vec![]))
            .collect();
        a.set_many(pairs, Quota::default()).await.unwrap();
        let (first, cursor) = a.list(None).await.unwrap();
        assert_eq!(first.len(), PAGE_KEYS);
        assert_eq!(first[0], "key00000");
        assert_eq!(cursor.as_deref(), Some("key00999"));
        let (rest, cursor) = a.list(cursor).await.unwrap();
        assert_eq!(
            rest,
            ["key01000", "key01001", "key01002", "key01003", "key01004"]
        );
        assert_eq!(cursor, None);
    });
}

#[test]
fn sqlite_quota_holds_under_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = sqlite_pair(dir.path());
    let a = Arc::new(a);
    let quota = Quota {
        keys: 10,
        ..Quota::default()
    };
    runtime().block_on(async {
        let writes: Vec<_> = (0..50)
            .map(|i| {
                let a = a.clone();
                tokio::spawn(async move { a.set(format!("k{i}"), vec![1; 10], quota).await })
            })
            .collect();
        let mut written = 0;
        for write in writes {
            match write.await.unwrap() {
                Ok(()) => written += 1,
                Err(KvError::Quota(Exceeded::Keys { max: 10 })) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(written, 10);
        let (keys, _) = a.list(None).await.unwrap();
        assert_eq!(keys.len(), 10);
        // Deleting one makes room for one.
        a.delete(keys[0].clone()).await.unwrap();
        a.set("another".into(), vec![], quota).await.unwrap();
        assert!(a.set("one more".into(), vec![], quota).await.is_err());
    });
}

#[test]
fn sqlite_counts_increments_and_swaps() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = sqlite_pair(dir.path());
    let quota = Quota::default();
    runtime().block_on(async {
        assert_eq!(a.increment("n".into(), 5, quota).await.unwrap(), 5);
        assert_eq!(a.increment("n".into(), -7, quota).await.unwrap(), -2);
        assert_eq!(
            a.get("n".into()).await.unwrap().as_deref(),
            Some(&b"-2"[..])
        );
        a.set("text".into(), b"hello".to_vec(), quota)
            .await
            .unwrap();
        assert!(matches!(
            a.increment("text".into(), 1, quota).await,
            Err(KvError::Invalid(m)) if m.contains("not an integer")
        ));
        a.set("max".into(), i64::MAX.to_string().into_bytes(), quota)
            .await
            .unwrap();
        assert!(matches!(
            a.increment("max".into(), 1, quota).await,
            Err(KvError::Invalid(m)) if m.contains("overflow")
        ));
        // A swap succeeds only against the value it expects.
        assert!(
            a.swap("s".into(), None, b"1".to_vec(), quota)
                .await
                .unwrap()
        );
        assert!(
            !a.swap("s".into(), None, b"2".to_vec(), quota)
                .await
                .unwrap()
        );
        assert!(
            !a.swap("s".into(), Some(b"0".to_vec()), b"2".to_vec(), quota)
                .await
                .unwrap()
        );
        assert!(
            a.swap("s".into(), Some(b"1".to_vec()), b"2".to_vec(), quota)
                .await
                .unwrap()
        );
        assert_eq!(a.get("s".into()).await.unwrap().as_deref(), Some(&b"2"[..]));
    });
}

#[test]
fn a_sqlite_file_that_cannot_be_used_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::default();
    let grant = |path: PathBuf| KvGrant {
        name: "default".into(),
        store: StoreSpec::Sqlite { path },
    };
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, vec![b'x'; 8192]).unwrap();
    let err = registry
        .open(&[grant(corrupt.clone())])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&corrupt.display().to_string()) && err.contains("not a database"),
        "{err}"
    );
    // A folder that is a file.
    let blocked = dir.path().join("file").join("kv.db");
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let err = registry
        .open(&[grant(blocked.clone())])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&dir.path().join("file").display().to_string()),
        "{err}"
    );
    assert!(err.starts_with("kv store `default`"), "{err}");
}

#[test]
fn one_sqlite_file_is_opened_once_while_it_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::default();
    let grants = [KvGrant {
        name: "default".into(),
        store: StoreSpec::Sqlite {
            path: dir.path().join("kv.db"),
        },
    }];
    let first = registry.open(&grants).unwrap();
    let second = registry.open(&grants).unwrap();
    assert!(Arc::ptr_eq(&first[0].1, &second[0].1));
}

/// Two stores on one file stand for two processes sharing it (the old and
/// the new server during a restart): each sees the other's writes in the
/// quota, since the usage row is read in the write's transaction.
#[test]
fn sqlite_quotas_hold_across_connections_to_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let one = Arc::new(sqlite::SqliteStore::open(&path).unwrap());
    let two = Arc::new(sqlite::SqliteStore::open(&path).unwrap());
    let a1 = sqlite::Namespace::new(one, "a", "default");
    let a2 = sqlite::Namespace::new(two, "a", "default");
    let quota = Quota {
        keys: 5,
        total_bytes: 100,
        ..Quota::default()
    };
    runtime().block_on(async {
        for i in 0..3 {
            a1.set(format!("k{i}"), vec![1; 10], quota).await.unwrap();
        }
        for i in 3..5 {
            a2.set(format!("k{i}"), vec![1; 10], quota).await.unwrap();
        }
        // Five keys in all: neither may add a sixth.
        assert!(matches!(
            a1.set("k5".into(), vec![], quota).await,
            Err(KvError::Quota(Exceeded::Keys { max: 5 }))
        ));
        assert!(matches!(
            a2.set("k5".into(), vec![], quota).await,
            Err(KvError::Quota(Exceeded::Keys { max: 5 }))
        ));
        // One deletes; the other may add one, and its bytes count.
        a2.delete("k0".into()).await.unwrap();
        a1.set("k5".into(), vec![1; 48], quota).await.unwrap();
        // 4 * (2 + 10) + (2 + 48) = 98 bytes: two more is too many.
        assert!(matches!(
            a2.set("k1".into(), vec![1; 13], quota).await,
            Err(KvError::Quota(Exceeded::TotalBytes {
                bytes: 101,
                max: 100
            }))
        ));
        a2.set("k1".into(), vec![1; 12], quota).await.unwrap();
    });
}
