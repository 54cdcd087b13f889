//! The embedded backend: one SQLite file per store, compiled in (rusqlite's
//! bundled SQLite), nothing to install or run.
//!
//! - WAL journal and `synchronous = NORMAL`: a write is in the log when its
//!   call returns, so it survives the process crashing (a power cut may lose
//!   the last ones; `docs/configuration.md` says so).
//! - One writer connection and [`READERS`] reader connections: readers never
//!   wait for the writer, writers wait for each other (SQLite has one writer
//!   at a time anyway). Waiting for a connection is async; the SQL runs on
//!   the blocking pool, never on a thread that serves requests.
//! - Every write is one `BEGIN IMMEDIATE` transaction that reads the
//!   namespace's usage row, checks the quota, writes the value and the new
//!   usage: two concurrent writes cannot both pass the quota.
//!
//! Schema (version 1, in `PRAGMA user_version`):
//!
//! ```sql
//! kv       (ns TEXT, key TEXT, value BLOB, PRIMARY KEY (ns, key))
//! kv_usage (ns TEXT PRIMARY KEY, keys INTEGER, bytes INTEGER)
//! ```
//!
//! `ns` is `APP/STORE`: app and store names are letters, digits, `-` and
//! `_`, so no two namespaces share a spelling.

use crate::kv::{
    KvError, MAX_BATCH_BYTES, MAX_VALUE_SIZE, PAGE_KEYS, Quota, Usage, page, parse_counter,
};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Reader connections per store.
const READERS: usize = 4;
/// How long a connection waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The schema this host writes.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE TABLE IF NOT EXISTS kv_usage (
    ns TEXT PRIMARY KEY,
    keys INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
";

/// An open SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    /// The one connection that writes; a write holds `write_gate`'s permit
    /// first, so the lock is never contended.
    writer: Mutex<Connection>,
    write_gate: Arc<Semaphore>,
    /// Connections that only read, one per permit of `read_gate`.
    readers: Mutex<Vec<Connection>>,
    read_gate: Arc<Semaphore>,
}

/// Opens a connection to `path` (read-write, made if missing).
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens the store at `path`: makes its folder and the file if missing,
    /// switches it to WAL and makes the tables. The error says what failed
    /// (a folder that cannot be made, a file that is not a database).
    pub fn open(path: &Path) -> Result<SqliteStore, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot make its folder {}: {e}", dir.display()))?;
        }
        let fail = |e: rusqlite::Error| format!("cannot open it: {e}");
        let mut writer = connect(path).map_err(fail)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!(
                "cannot switch it to write-ahead logging (the journal stays {mode:?}); put it on a local filesystem"
            ));
        }
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        let version: i64 = writer
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(format!(
                "its schema is version {version}, written by a newer wasm-gateway (this one knows {SCHEMA_VERSION})"
            ));
        }
        let tx = writer.transaction().map_err(fail)?;
        tx.execute_batch(SCHEMA).map_err(fail)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = connect(path)?;
                conn.pragma_update(None, "query_only", true)?;
                Ok(conn)
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(fail)?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            write_gate: Arc::new(Semaphore::new(1)),
            readers: Mutex::new(readers),
            read_gate: Arc::new(Semaphore::new(READERS)),
        })
    }

    /// A failure of this store, for the guest and the log.
    fn failed(&self, err: impl std::fmt::Display) -> KvError {
        KvError::Unavailable(format!("SQLite {}: {err}", self.path.display()))
    }
}

/// One app's namespace in a SQLite store.
pub struct Namespace {
    store: Arc<SqliteStore>,
    ns: Arc<str>,
}

/// The usage row of `ns`.
fn usage(tx: &Transaction<'_>, ns: &str) -> rusqlite::Result<Usage> {
    Ok(tx
        .prepare_cached("SELECT keys, bytes FROM kv_usage WHERE ns = ?1")?
        .query_row([ns], |row| {
            Ok(Usage {
                keys: row.get::<_, i64>(0)? as u64,
                bytes: row.get::<_, i64>(1)? as u64,
            })
        })
        .optional()?
        .unwrap_or_default())
}

fn save_usage(tx: &Transaction<'_>, ns: &str, usage: Usage) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO kv_usage (ns, keys, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (ns) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes",
    )?
    .execute(params![ns, usage.keys as i64, usage.bytes as i64])?;
    Ok(())
}

/// Writes `value` under `key` within the quota; the outer error is the
/// database's, the inner the quota's.
fn put(
    tx: &Transaction<'_>,
    ns: &str,
    key: &str,
    value: &[u8],
    quota: &Quota,
) -> rusqlite::Result<Result<(), KvError>> {
    let old: Option<i64> = tx
        .prepare_cached("SELECT length(value) FROM kv WHERE ns = ?1 AND key = ?2")?
        .query_row(params![ns, key], |row| row.get(0))
        .optional()?;
    let usage = match quota.charge(
        usage(tx, ns)?,
        key.len(),
        old.map(|n| n as u64),
        value.len(),
    ) {
        Ok(usage) => usage,
        Err(exceeded) => return Ok(Err(KvError::Quota(exceeded))),
    };
    tx.prepare_cached(
        "INSERT INTO kv (ns, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![ns, key, value])?;
    save_usage(tx, ns, usage)?;
    Ok(Ok(()))
}

/// Deletes `key`, if it is there.
fn remove(tx: &Transaction<'_>, ns: &str, key: &str) -> rusqlite::Result<()> {
    let removed: Option<i64> = tx
        .prepare_cached("DELETE FROM kv WHERE ns = ?1 AND key = ?2 RETURNING length(value)")?
        .query_row(params![ns, key], |row| row.get(0))
        .optional()?;
    if let Some(size) = removed {
        let before = usage(tx, ns)?;
        save_usage(
            tx,
            ns,
            Usage {
                keys: before.keys.saturating_sub(1),
                bytes: before.bytes.saturating_sub(key.len() as u64 + size as u64),
            },
        )?;
    }
    Ok(())
}

/// The value of `key`, if it is no larger than the host reads.
fn read_value(
    conn: &Connection,
    ns: &str,
    key: &str,
) -> rusqlite::Result<Result<Option<Vec<u8>>, KvError>> {
    let row: Option<(i64, Option<Vec<u8>>)> = conn
        .prepare_cached(
            "SELECT length(value), CASE WHEN length(value) <= ?3 THEN value END
             FROM kv WHERE ns = ?1 AND key = ?2",
        )?
        .query_row(params![ns, key, MAX_VALUE_SIZE as i64], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    Ok(match row {
        None => Ok(None),
        Some((_, Some(value))) => Ok(Some(value)),
        Some((size, None)) => Err(too_large(size as u64)),
    })
}

/// A stored value larger than the host reads (written by another program).
fn too_large(size: u64) -> KvError {
    KvError::Invalid(format!(
        "the value is {size} bytes, more than the host reads ({MAX_VALUE_SIZE})"
    ))
}

impl Namespace {
    /// `app`'s namespace in the store it knows as `name`.
    pub fn new(store: Arc<SqliteStore>, app: &str, name: &str) -> Self {
        Namespace {
            store,
            ns: format!("{app}/{name}").into(),
        }
    }

    /// Runs `op` on a reader connection, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection, &str) -> rusqlite::Result<Result<T, KvError>> + Send + 'static,
    ) -> Result<T, KvError> {
        let permit = self
            .store
            .read_gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| self.store.failed(e))?;
        let store = self.store.clone();
        let ns = self.ns.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = store
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            // A reader lost to a panic is opened again.
            let conn = match conn {
                Some(conn) => conn,
                None => connect(&store.path)?,
            };
            let result = op(&conn, &ns);
            store
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
            result
        });
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(err)) => Err(self.store.failed(err)),
            Err(err) => Err(self.store.failed(err)),
        }
    }

    /// Runs `op` in a write transaction, on the blocking pool. The
    /// transaction commits when `op` returns `Ok` (whatever the inner
    /// result: a batch keeps what it wrote before a refusal), and rolls
    /// back on a database error.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Transaction<'_>, &str) -> rusqlite::Result<Result<T, KvError>> + Send + 'static,
    ) -> Result<T, KvError> {
        let permit = self
            .store
            .write_gate
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| self.store.failed(e))?;
        let store = self.store.clone();
        let ns = self.ns.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = store.writer.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = op(&tx, &ns)?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(result)
        });
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(err)) => Err(self.store.failed(err)),
            Err(err) => Err(self.store.failed(err)),
        }
    }

    pub async fn get(&self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.read(move |conn, ns| read_value(conn, ns, &key)).await
    }

    pub async fn exists(&self, key: String) -> Result<bool, KvError> {
        self.read(move |conn, ns| {
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM kv WHERE ns = ?1 AND key = ?2)")?
                .query_row(params![ns, key], |row| row.get(0))
                .map(Ok)
        })
        .await
    }

    pub async fn list(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), KvError> {
        self.read(move |conn, ns| {
            // One more than a page: whether there is a next page.
            let limit = PAGE_KEYS as i64 + 1;
            let keys = match &cursor {
                Some(after) => conn
                    .prepare_cached(
                        "SELECT key FROM kv WHERE ns = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
                    )?
                    .query_map(params![ns, after, limit], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
                None => conn
                    .prepare_cached("SELECT key FROM kv WHERE ns = ?1 ORDER BY key LIMIT ?2")?
                    .query_map(params![ns, limit], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
            };
            Ok(Ok(page(keys)))
        })
        .await
    }

    pub async fn set(&self, key: String, value: Vec<u8>, quota: Quota) -> Result<(), KvError> {
        self.write(move |tx, ns| put(tx, ns, &key, &value, &quota))
            .await
    }

    pub async fn delete(&self, key: String) -> Result<(), KvError> {
        self.write(move |tx, ns| remove(tx, ns, &key).map(Ok)).await
    }

    pub async fn increment(&self, key: String, delta: i64, quota: Quota) -> Result<i64, KvError> {
        self.write(move |tx, ns| {
            let old: Option<Option<Vec<u8>>> = tx
                .prepare_cached(
                    "SELECT CASE WHEN length(value) <= 20 THEN value END FROM kv WHERE ns = ?1 AND key = ?2",
                )?
                .query_row(params![ns, key], |row| row.get(0))
                .optional()?;
            let old = match old {
                None => 0,
                Some(bytes) => match bytes.as_deref().and_then(parse_counter) {
                    Some(n) => n,
                    None => return Ok(Err(not_a_counter())),
                },
            };
            let Some(new) = old.checked_add(delta) else {
                return Ok(Err(overflow()));
            };
            Ok(put(tx, ns, &key, new.to_string().as_bytes(), &quota)?.map(|()| new))
        })
        .await
    }

    pub async fn swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        quota: Quota,
    ) -> Result<bool, KvError> {
        self.write(move |tx, ns| {
            // The comparison runs in SQLite: the stored value is not copied.
            let same: Option<bool> = tx
                .prepare_cached("SELECT value = ?3 FROM kv WHERE ns = ?1 AND key = ?2")?
                .query_row(
                    params![ns, key, expected.as_deref().unwrap_or_default()],
                    |row| row.get(0),
                )
                .optional()?;
            let unchanged = match (&expected, same) {
                (None, None) => true,
                (Some(_), Some(same)) => same,
                _ => false,
            };
            if !unchanged {
                return Ok(Ok(false));
            }
            Ok(put(tx, ns, &key, &value, &quota)?.map(|()| true))
        })
        .await
    }

    pub async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        self.read(move |conn, ns| {
            let mut total = 0;
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                let value = match read_value(conn, ns, &key)? {
                    Ok(value) => value,
                    Err(err) => return Ok(Err(err)),
                };
                total += value.as_ref().map_or(0, Vec::len);
                if total > MAX_BATCH_BYTES {
                    return Ok(Err(batch_too_large()));
                }
                values.push((key, value));
            }
            Ok(Ok(values))
        })
        .await
    }

    pub async fn set_many(
        &self,
        pairs: Vec<(String, Vec<u8>)>,
        quota: Quota,
    ) -> Result<(), KvError> {
        self.write(move |tx, ns| {
            for (key, value) in &pairs {
                if let Err(err) = put(tx, ns, key, value, &quota)? {
                    return Ok(Err(err));
                }
            }
            Ok(Ok(()))
        })
        .await
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), KvError> {
        self.write(move |tx, ns| {
            for key in &keys {
                remove(tx, ns, key)?;
            }
            Ok(Ok(()))
        })
        .await
    }
}

/// Incrementing a value that is not a counter.
pub fn not_a_counter() -> KvError {
    KvError::Invalid(
        "cannot increment the key: its value is not an integer (decimal digits, as increment writes them)".into(),
    )
}

/// An increment past the range of a 64-bit integer.
pub fn overflow() -> KvError {
    KvError::Invalid("cannot increment the key: the result would overflow a 64-bit integer".into())
}

/// A `get-many` whose values are more than the host returns at once.
pub fn batch_too_large() -> KvError {
    KvError::Invalid(format!(
        "the values of the batch are more than {MAX_BATCH_BYTES} bytes; ask for fewer keys at once"
    ))
}
