//! Key-value stores for guests: the standard `wasi:keyvalue@0.2.0-draft2`
//! interfaces (`store`, `atomics`, `batch`), over SQLite or Redis.
//!
//! - [`bindings`]: the host side of the WIT (`wit/deps/keyvalue.wit`),
//!   generated once.
//! - [`host`]: the guest's calls: `open` checks the grant, every call is
//!   held to the app's quota and the request's deadline, and answered by
//!   the store's backend.
//! - [`sqlite`]: the embedded backend (one file, WAL, one writer and a few
//!   readers, every call on the blocking pool).
//! - [`redis`]: the Redis backend (one reconnecting connection per app and
//!   store, Lua scripts that check the quota and write in one step).
//!
//! # Stores, grants and namespaces
//!
//! The operator declares stores (`[kv.NAME]` in a gateway file) and grants
//! them per app (`kv = ["NAME"]` in `[apps.NAME.grants]`, or `--kv NAME`).
//! The store `default`, when granted and not declared, is SQLite at
//! `<data-dir>/kv.db` ([`Catalog`]). An app that opens a store it was not
//! granted gets `access-denied`, whether or not the store exists (an app
//! learns nothing of the others' stores).
//!
//! Every key an app writes lives in a namespace of its own, made of the
//! app's name and the store's name, which the host adds: a guest names keys
//! only inside it, so two apps granted the same store never see each
//! other's keys. In SQLite the namespace is a column of the primary key; in
//! Redis, a key prefix `wg:{APP}:STORE:`, whose hash tag keeps an app's keys
//! in one cluster slot.
//!
//! # Bounds
//!
//! Whatever a guest asks, the host's memory and time stay bounded: keys and
//! values are capped by the app's quota ([`Quota`], at most
//! [`MAX_KEY_SIZE`] and [`MAX_VALUE_SIZE`]), a page of keys holds at most
//! [`PAGE_KEYS`], a batch at most [`MAX_BATCH_KEYS`] keys and
//! [`MAX_BATCH_BYTES`] of values, and every call ends with the request's
//! deadline. Buckets and compare-and-swap handles live in the instance's
//! resource table, under its cap; the values CAS handles hold are capped
//! per instance ([`MAX_CAS_BYTES`]).

pub mod bindings;
pub mod host;
pub mod redis;
pub mod sqlite;
#[cfg(test)]
mod tests;

use crate::stats::{KvResult, KvStats};
use crate::wsgi::app_log::LogBudget;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use tokio::time::Instant;

pub use host::{KvCtx, KvView, add_to_linker};

/// The largest `kv-key-size` an operator may set: a page of keys then stays
/// under [`PAGE_KEYS`] times this.
pub const MAX_KEY_SIZE: usize = 4 << 10;
/// The largest `kv-value-size` an operator may set, below what a guest may
/// hand the host in one call; also the largest value the host reads back.
pub const MAX_VALUE_SIZE: usize = 8 << 20;
/// Most keys in one page of `list-keys`.
pub const PAGE_KEYS: usize = 1000;
/// Most keys in one `get-many`, `set-many` or `delete-many`.
pub const MAX_BATCH_KEYS: usize = 1000;
/// Most bytes of values one `get-many` returns.
pub const MAX_BATCH_BYTES: usize = 16 << 20;
/// Most bytes of values the CAS handles of one instance hold at once.
pub const MAX_CAS_BYTES: usize = 32 << 20;

/// The name of the store an app gets by default.
pub const DEFAULT_STORE: &str = "default";
/// The default store's file in the data directory.
pub const DEFAULT_FILE: &str = "kv.db";

/// Where a store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StoreSpec {
    /// A SQLite database file (made if missing, with its folder).
    Sqlite {
        /// The file, absolute.
        path: PathBuf,
    },
    /// A Redis server.
    Redis {
        /// `redis://[user:password@]host[:port][/db]` (or `redis+unix://`).
        url: String,
    },
}

impl StoreSpec {
    /// A Redis store at `url`, checked (not connected to): the message
    /// says what is wrong with it.
    pub fn redis(url: &str) -> Result<StoreSpec, String> {
        redis::check_url(url)?;
        Ok(StoreSpec::Redis {
            url: url.to_owned(),
        })
    }

    /// How log lines and errors name it: the SQLite file, or the Redis
    /// server without its password.
    pub fn describe(&self) -> String {
        match self {
            StoreSpec::Sqlite { path } => format!("SQLite {}", path.display()),
            StoreSpec::Redis { url } => format!("Redis {}", redis::redacted(url)),
        }
    }
}

/// The stores a gateway declares, and where the default one lives: turns
/// the names in grants into stores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    declared: BTreeMap<String, StoreSpec>,
    data_dir: PathBuf,
}

impl Catalog {
    /// `declared` (`[kv.NAME]`), with the default store in `data_dir`.
    pub fn new(declared: BTreeMap<String, StoreSpec>, data_dir: &Path) -> Self {
        Catalog {
            declared,
            data_dir: std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned()),
        }
    }

    /// The grants of the stores `names`: each declared one, or `default`
    /// undeclared; any other name is an error saying how to declare it.
    pub fn grant(&self, names: &[String]) -> Result<Vec<KvGrant>, String> {
        let mut grants = Vec::with_capacity(names.len());
        for name in names {
            if grants.iter().any(|g: &KvGrant| g.name == *name) {
                continue;
            }
            let store = match self.declared.get(name) {
                Some(spec) => spec.clone(),
                None if name == DEFAULT_STORE => StoreSpec::Sqlite {
                    path: self.data_dir.join(DEFAULT_FILE),
                },
                None => {
                    return Err(format!(
                        "[grants] kv store {name:?} is not declared: add a [kv.{name}] table (type = \"sqlite\", path = \"data/{name}.db\"; or type = \"redis\", url = \"redis://127.0.0.1:6379/0\"), or grant \"default\", the SQLite store in the data directory"
                    ));
                }
            };
            grants.push(KvGrant {
                name: name.clone(),
                store,
            });
        }
        Ok(grants)
    }
}

/// One store granted to an app: the name it opens it by, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvGrant {
    /// The name the guest passes to `open`.
    pub name: String,
    /// The store.
    pub store: StoreSpec,
}

/// An app's key-value quota, per store it is granted (`[apps.NAME.limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// `kv-key-size`: the longest key, in bytes.
    pub key_size: usize,
    /// `kv-value-size`: the largest value, in bytes.
    pub value_size: usize,
    /// `kv-keys`: most keys in one store.
    pub keys: u64,
    /// `kv-total-bytes`: most bytes of keys and values in one store.
    pub total_bytes: u64,
}

impl Default for Quota {
    /// 512-byte keys, 1 MiB values, 100,000 keys and 64 MiB per store.
    fn default() -> Self {
        Quota {
            key_size: 512,
            value_size: 1 << 20,
            keys: 100_000,
            total_bytes: 64 << 20,
        }
    }
}

impl Quota {
    /// Checks the quota can work; the message names the limit.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("kv-key-size", self.key_size as u64),
            ("kv-value-size", self.value_size as u64),
            ("kv-keys", self.keys),
            ("kv-total-bytes", self.total_bytes),
        ] {
            if value == 0 {
                return Err(format!(
                    "{name} is 0: no key could be written; leave it out for the default"
                ));
            }
        }
        if self.key_size > MAX_KEY_SIZE {
            return Err(format!(
                "kv-key-size is {} bytes, over the most the host allows ({MAX_KEY_SIZE}); keep keys short and put data in values",
                self.key_size
            ));
        }
        if self.value_size > MAX_VALUE_SIZE {
            return Err(format!(
                "kv-value-size is {} bytes, over the most the host allows ({MAX_VALUE_SIZE}, 8MiB); split larger data over several keys",
                self.value_size
            ));
        }
        Ok(())
    }

    /// Checks a key's size.
    fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.len() > self.key_size {
            return Err(KvError::Quota(Exceeded::KeySize {
                size: key.len(),
                max: self.key_size,
            }));
        }
        Ok(())
    }

    /// Checks a value's size.
    fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        if value.len() > self.value_size {
            return Err(KvError::Quota(Exceeded::ValueSize {
                size: value.len(),
                max: self.value_size,
            }));
        }
        Ok(())
    }

    /// The usage of a store after writing a value of `new` bytes under a
    /// key of `key` bytes whose value had `old` bytes (`None`: a new key),
    /// or which quota that would exceed. A write that does not grow the
    /// store is allowed even over `kv-total-bytes` (after the operator
    /// lowered it), so an app can always shrink its data.
    pub fn charge(
        &self,
        usage: Usage,
        key: usize,
        old: Option<u64>,
        new: usize,
    ) -> Result<Usage, Exceeded> {
        let (keys, delta) = match old {
            Some(old) => (usage.keys, new as i64 - old as i64),
            None => (usage.keys + 1, (key + new) as i64),
        };
        if old.is_none() && keys > self.keys {
            return Err(Exceeded::Keys { max: self.keys });
        }
        let bytes = usage.bytes.saturating_add_signed(delta);
        if delta > 0 && bytes > self.total_bytes {
            return Err(Exceeded::TotalBytes {
                bytes,
                max: self.total_bytes,
            });
        }
        Ok(Usage { keys, bytes })
    }
}

/// What an app's namespace in one store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// A write the app's quota refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    /// `kv-key-size`.
    #[error("kv-key-size: the key is {size} bytes, over the app's limit of {max}")]
    KeySize { size: usize, max: usize },
    /// `kv-value-size`.
    #[error("kv-value-size: the value is {size} bytes, over the app's limit of {max}")]
    ValueSize { size: usize, max: usize },
    /// `kv-keys`.
    #[error("kv-keys: the store holds {max} keys of this app, its limit; delete some first")]
    Keys { max: u64 },
    /// `kv-total-bytes`.
    #[error(
        "kv-total-bytes: the write would bring this app's keys and values in the store to {bytes} bytes, over its limit of {max}"
    )]
    TotalBytes { bytes: u64, max: u64 },
}

impl Exceeded {
    /// The limit's name, as the metric labels it.
    pub fn limit(&self) -> &'static str {
        match self {
            Exceeded::KeySize { .. } => "kv-key-size",
            Exceeded::ValueSize { .. } => "kv-value-size",
            Exceeded::Keys { .. } => "kv-keys",
            Exceeded::TotalBytes { .. } => "kv-total-bytes",
        }
    }
}

/// Why a key-value call failed, as the host sees it; the guest gets
/// `access-denied` or `other(message)`.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The store was not granted.
    #[error("access denied")]
    Denied,
    /// The app's quota refused a write.
    #[error("{0}")]
    Quota(Exceeded),
    /// The guest asked for something the host does not do (a value that is
    /// not a number to increment, too large a batch); the message says what.
    #[error("{0}")]
    Invalid(String),
    /// The store failed or could not be reached.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The request's deadline passed first.
    #[error("the request's deadline passed")]
    Timeout,
}

impl KvError {
    /// How the call counts in the metrics.
    fn result(&self) -> KvResult {
        match self {
            KvError::Denied => KvResult::Denied,
            KvError::Quota(_) => KvResult::OverQuota,
            KvError::Invalid(_) => KvResult::Invalid,
            KvError::Unavailable(_) | KvError::Timeout => KvResult::Failed,
        }
    }
}

/// Runs `op` until `deadline` at most.
async fn within<T>(
    deadline: Instant,
    op: impl Future<Output = Result<T, KvError>>,
) -> Result<T, KvError> {
    tokio::time::timeout_at(deadline, op)
        .await
        .unwrap_or(Err(KvError::Timeout))
}

/// An open store, shared by every app granted it (and kept while one is).
pub enum Backend {
    /// A SQLite file.
    Sqlite(Arc<sqlite::SqliteStore>),
    /// A Redis server.
    Redis(Arc<redis::RedisStore>),
}

/// The stores open in this process, by where they are: every app granted
/// the same SQLite file writes through the same connection, however many
/// reloads happen. A store closes when no app holds it any more.
#[derive(Default)]
pub struct Registry {
    open: Mutex<HashMap<StoreSpec, Weak<Backend>>>,
}

/// A store that could not be opened, for the load error.
#[derive(Debug, thiserror::Error)]
#[error("kv store `{name}` ({store}): {reason}")]
pub struct OpenError {
    name: String,
    store: String,
    reason: String,
}

impl Registry {
    /// Opens (or finds open) the store of each grant. A SQLite file that
    /// cannot be opened or is not a database is an error naming it; a
    /// Redis server that does not answer is not (see [`redis`]).
    pub fn open(&self, grants: &[KvGrant]) -> Result<Vec<(String, Arc<Backend>)>, OpenError> {
        grants
            .iter()
            .map(|grant| {
                self.open_one(&grant.store)
                    .map(|backend| (grant.name.clone(), backend))
                    .map_err(|reason| OpenError {
                        name: grant.name.clone(),
                        store: grant.store.describe(),
                        reason,
                    })
            })
            .collect()
    }

    fn open_one(&self, spec: &StoreSpec) -> Result<Arc<Backend>, String> {
        // Held while opening: two apps granted the same new store in a
        // parallel load get the one connection.
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(backend) = open.get(spec).and_then(Weak::upgrade) {
            return Ok(backend);
        }
        let backend = Arc::new(match spec {
            StoreSpec::Sqlite { path } => {
                Backend::Sqlite(Arc::new(sqlite::SqliteStore::open(path)?))
            }
            StoreSpec::Redis { url } => Backend::Redis(Arc::new(redis::RedisStore::open(url)?)),
        });
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(spec.clone(), Arc::downgrade(&backend));
        Ok(backend)
    }
}

/// One app's key-value access, shared by its instances: the stores it was
/// granted (opened), its quota, its counters and its log budget.
pub struct AppKv {
    app: Arc<str>,
    stores: Vec<Binding>,
    quota: Quota,
    stats: Arc<KvStats>,
    log: Arc<LogBudget>,
}

/// A granted store as one app uses it.
struct Binding {
    /// The name the guest opens it by.
    name: String,
    conn: Conn,
}

/// An app's way to one store, in its namespace.
enum Conn {
    Sqlite(sqlite::Namespace),
    Redis(redis::Namespace),
}

impl AppKv {
    /// `app`'s access to `stores` (as [`Registry::open`] returned them).
    pub fn new(
        app: Arc<str>,
        stores: Vec<(String, Arc<Backend>)>,
        quota: Quota,
        stats: Arc<KvStats>,
        log: Arc<LogBudget>,
    ) -> Self {
        let stores = stores
            .into_iter()
            .map(|(name, backend)| {
                let conn = match &*backend {
                    Backend::Sqlite(store) => {
                        Conn::Sqlite(sqlite::Namespace::new(store.clone(), &app, &name))
                    }
                    Backend::Redis(store) => {
                        Conn::Redis(redis::Namespace::new(store.clone(), &app, &name))
                    }
                };
                Binding { name, conn }
            })
            .collect();
        AppKv {
            app,
            stores,
            quota,
            stats,
            log,
        }
    }

    /// The index of the granted store `name`.
    fn find(&self, name: &str) -> Option<usize> {
        self.stores.iter().position(|s| s.name == name)
    }

    /// Counts a call's result, and logs a refusal by the quota or a failed
    /// store (within the app's log budget).
    fn count<T>(&self, store: usize, result: &Result<T, KvError>) {
        let Err(err) = result else {
            self.stats.count(KvResult::Ok);
            return;
        };
        self.stats.count(err.result());
        let name = self.stores.get(store).map_or("", |s| s.name.as_str());
        match err {
            KvError::Quota(exceeded) => {
                self.stats.refused(exceeded.limit());
                if self.log.allow() {
                    tracing::warn!(
                        app = %self.app,
                        store = name,
                        limit = exceeded.limit(),
                        "kv write refused by the app's quota: {exceeded}"
                    );
                }
            }
            KvError::Unavailable(reason) => {
                if self.log.allow() {
                    tracing::warn!(app = %self.app, store = name, "kv store failed: {reason}");
                }
            }
            KvError::Timeout => {
                if self.log.allow() {
                    tracing::warn!(app = %self.app, store = name, "kv call cut by the request's deadline");
                }
            }
            KvError::Denied | KvError::Invalid(_) => {}
        }
    }
}

/// Parses a counter the way Redis's `INCRBY` does (so both backends take
/// the same values): an optional `-`, then digits without a leading zero
/// (or `0` alone), at most 20 bytes, within `i64`.
pub fn parse_counter(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if !matches!(digits.first(), Some(b'1'..=b'9')) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A page of `list-keys` from up to [`PAGE_KEYS`]` + 1` keys in order: the
/// first [`PAGE_KEYS`], and the cursor to the rest (the last key given)
/// when there is more.
fn page(mut keys: Vec<String>) -> (Vec<String>, Option<String>) {
    if keys.len() > PAGE_KEYS {
        keys.truncate(PAGE_KEYS);
        let cursor = keys.last().cloned();
        (keys, cursor)
    } else {
        (keys, None)
    }
}
