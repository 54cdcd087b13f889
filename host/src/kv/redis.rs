//! The Redis backend: a store is a Redis server (and database) the operator
//! runs.
//!
//! An app's namespace in a store is the key prefix `wg:{APP}:STORE:`; the
//! hash tag `{APP}` keeps all of an app's keys in one cluster slot, so each
//! of the scripts below touches one slot. Under the prefix:
//!
//! - `v:KEY`: the value of `KEY`;
//! - `i`: a sorted set of the namespace's keys (all of score 0, so in byte
//!   order): `list-keys` pages through it with `ZRANGEBYLEX` from the last key
//!   of the previous page, touching only this namespace (a `SCAN` of the
//!   database would walk every tenant's keys for each page), and `kv-keys`
//!   is its `ZCARD`;
//! - `b`: the bytes of keys and values, for `kv-total-bytes`.
//!
//! Every write is one Lua script that checks the quota and writes the
//! value, the index and the usage together: Redis runs a script atomically.
//! Counters are decimal strings, which `INCRBY` increments in place.
//!
//! # Connections
//!
//! Each app gets one connection per Redis store it is granted (a
//! `ConnectionManager`, which reconnects by itself), made at its first call:
//! a tenant's slow or large calls queue on its own connection, not on the
//! others'. The connections live on a small runtime of their own
//! ([`io_runtime`]), so they outlive whichever runtime a guest runs on.
//!
//! # A server that is down
//!
//! The rule (`docs/configuration.md`): a store whose server does not answer
//! at start is not a load error. The gateway starts (one tenant's store
//! must not keep every tenant down), logs a warning naming the store, and
//! every call to the store fails with `other("the store is unavailable:
//! ...")` until the server answers; then calls work again, with no reload.
//! The same holds when the server goes away while serving. Each call is
//! bounded by the connect and response timeouts below and by the request's
//! deadline.

use crate::kv::sqlite::{batch_too_large, not_a_counter, overflow};
use crate::kv::{KvError, MAX_BATCH_BYTES, MAX_VALUE_SIZE, PAGE_KEYS, Quota, page};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, IntoConnectionInfo, Script, Value};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

/// Longest wait for a connection to a Redis server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a reply.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the check at start waits for the server.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Writes a value within the quota; for a compare-and-swap, only if the
/// value is still the one expected.
/// KEYS: index, usage, value. ARGV: key, value, max keys, max bytes, mode
/// (`set`, `absent`: only if the key does not exist, `equal`: only if its
/// value is ARGV[6]), expected value.
/// Returns {0}: written, {1}: the value changed, {2}: kv-keys, {3, bytes}:
/// kv-total-bytes.
static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local exists = redis.call('EXISTS', KEYS[3]) == 1
if ARGV[5] == 'absent' and exists then return {1} end
if ARGV[5] == 'equal' and (not exists or redis.call('GET', KEYS[3]) ~= ARGV[6]) then return {1} end
local delta
if exists then
  delta = string.len(ARGV[2]) - redis.call('STRLEN', KEYS[3])
else
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return {2} end
  delta = string.len(ARGV[1]) + string.len(ARGV[2])
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if delta > 0 and used + delta > tonumber(ARGV[4]) then return {3, used + delta} end
redis.call('SET', KEYS[3], ARGV[2])
if not exists then redis.call('ZADD', KEYS[1], 0, ARGV[1]) end
if delta ~= 0 then redis.call('INCRBY', KEYS[2], delta) end
return {0}
",
    )
});

/// Deletes a key. KEYS: index, usage, value. ARGV: key.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local size = redis.call('STRLEN', KEYS[3])
if redis.call('DEL', KEYS[3]) == 1 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DECRBY', KEYS[2], size + string.len(ARGV[1]))
end
return 0
",
    )
});

/// Adds to a counter within the quota. KEYS: index, usage, value. ARGV: key,
/// delta, max keys, max bytes. Returns {0, new value as text}, {2}:
/// kv-keys, {3, bytes}: kv-total-bytes, {4, message}: not a counter, or an
/// overflow. The value is read back as text: Lua's numbers are doubles.
static INCREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local exists = redis.call('EXISTS', KEYS[3]) == 1
local before = redis.call('STRLEN', KEYS[3])
if exists and before > 20 then return {4, 'not an integer'} end
local old = redis.call('GET', KEYS[3])
if not exists and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return {2} end
local result = redis.pcall('INCRBY', KEYS[3], ARGV[2])
if type(result) == 'table' and result.err then return {4, result.err} end
local after = redis.call('STRLEN', KEYS[3])
local delta
if exists then delta = after - before else delta = string.len(ARGV[1]) + after end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if delta > 0 and used + delta > tonumber(ARGV[4]) then
  if exists then redis.call('SET', KEYS[3], old) else redis.call('DEL', KEYS[3]) end
  return {3, used + delta}
end
if not exists then redis.call('ZADD', KEYS[1], 0, ARGV[1]) end
if delta ~= 0 then redis.call('INCRBY', KEYS[2], delta) end
return {0, redis.call('GET', KEYS[3])}
",
    )
});

/// Reads a value no larger than ARGV[1] bytes. KEYS: value. Returns the
/// value, nil, or the size of a larger one.
static GET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local size = redis.call('STRLEN', KEYS[1])
if size > tonumber(ARGV[1]) then return size end
return redis.call('GET', KEYS[1])
",
    )
});

/// Reads many values, together no larger than ARGV[1] bytes. KEYS: the
/// values. Returns the values, or their total size when larger.
static GET_MANY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local total = 0
for _, key in ipairs(KEYS) do total = total + redis.call('STRLEN', key) end
if total > tonumber(ARGV[1]) then return total end
return redis.call('MGET', unpack(KEYS))
",
    )
});

/// Checks a store's URL without connecting; the message says what is
/// wrong with it.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("rediss://") || url.starts_with("valkeys://") {
        return Err(format!(
            "url {:?}: TLS (rediss://) is not supported; reach the server over a private network or a local TLS tunnel, as redis://",
            redacted(url)
        ));
    }
    Client::open(url).map(drop).map_err(|err| {
        format!(
            "url {:?} is not a Redis URL ({err}); write it as redis://[:password@]host[:port][/db], e.g. \"redis://127.0.0.1:6379/0\"",
            redacted(url)
        )
    })
}

/// `url` as logs and errors show it: the server and database, never the
/// password.
pub fn redacted(url: &str) -> String {
    match url.into_connection_info() {
        Ok(info) => format!("{}/{}", info.addr(), info.redis_settings().db()),
        Err(_) => match url.split_once('@') {
            Some((_, server)) => format!("...@{server}"),
            None => url.to_owned(),
        },
    }
}

/// The runtime Redis connections live on: one per process, never stopped.
fn io_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kv-redis")
            .enable_all()
            .build()
            .expect("cannot start the Redis connections' runtime")
    })
}

/// A Redis store: where it is. Connections are per app ([`Namespace`]).
pub struct RedisStore {
    client: Client,
    /// The server and database, for messages.
    shown: String,
}

impl RedisStore {
    /// The store at `url`. Checks at once whether the server answers, and
    /// says so in the log when it does not, but serves anyway (see the
    /// module's doc).
    pub fn open(url: &str) -> Result<RedisStore, String> {
        check_url(url)?;
        let client = Client::open(url).map_err(|err| err.to_string())?;
        let shown = redacted(url);
        // The connection's own timeouts end with its set-up: the reply to
        // PING is waited for no longer either.
        let answer = client
            .get_connection_with_timeout(CHECK_TIMEOUT)
            .and_then(|mut conn| {
                conn.set_read_timeout(Some(CHECK_TIMEOUT))?;
                redis::cmd("PING").query::<String>(&mut conn)
            });
        if let Err(err) = answer {
            tracing::warn!(
                server = %shown,
                "the Redis server of a kv store does not answer ({err}); serving anyway: apps granted the store get an error from each call to it until the server answers"
            );
        }
        Ok(RedisStore { client, shown })
    }

    fn failed(&self, err: impl std::fmt::Display) -> KvError {
        KvError::Unavailable(format!("Redis {}: {err}", self.shown))
    }
}

/// One app's namespace in a Redis store, and its connection.
pub struct Namespace {
    store: Arc<RedisStore>,
    /// `wg:{APP}:STORE:`.
    prefix: String,
    connection: OnceLock<ConnectionManager>,
}

/// The keys a script touches for one key.
struct Keys {
    index: String,
    usage: String,
    value: String,
}

impl Namespace {
    /// `app`'s namespace in the store it knows as `name`.
    pub fn new(store: Arc<RedisStore>, app: &str, name: &str) -> Self {
        Namespace {
            store,
            prefix: format!("wg:{{{app}}}:{name}:"),
            connection: OnceLock::new(),
        }
    }

    fn value_key(&self, key: &str) -> String {
        format!("{}v:{key}", self.prefix)
    }

    fn keys(&self, key: &str) -> Keys {
        Keys {
            index: format!("{}i", self.prefix),
            usage: format!("{}b", self.prefix),
            value: self.value_key(key),
        }
    }

    /// The app's connection to the store, made at its first call (it
    /// connects, and reconnects, by itself).
    fn connection(&self) -> Result<ConnectionManager, KvError> {
        if let Some(conn) = self.connection.get() {
            return Ok(conn.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let _on = io_runtime().enter();
        let conn = ConnectionManager::new_lazy_with_config(self.store.client.clone(), config)
            .map_err(|err| self.store.failed(err))?;
        Ok(self.connection.get_or_init(|| conn).clone())
    }

    /// Runs `op` (a future using the app's connection) on the
    /// connections' runtime; dropping the call (the deadline) stops it.
    async fn run<T: Send + 'static>(
        &self,
        op: impl Future<Output = redis::RedisResult<Result<T, KvError>>> + Send + 'static,
    ) -> Result<T, KvError> {
        struct AbortOnDrop(tokio::task::AbortHandle);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let task = io_runtime().spawn(op);
        let _abort = AbortOnDrop(task.abort_handle());
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(err)) => Err(self.store.failed(err)),
            Err(err) => Err(self.store.failed(err)),
        }
    }

    /// Runs [`PUT`] for `key` (`mode` and `expected` as it takes them).
    fn put(
        &self,
        key: &str,
        value: &[u8],
        quota: &Quota,
        mode: &str,
        expected: &[u8],
    ) -> redis::ScriptInvocation<'static> {
        let keys = self.keys(key);
        let mut call = PUT.key(keys.index);
        call.key(keys.usage)
            .key(keys.value)
            .arg(key)
            .arg(value)
            .arg(quota.keys)
            .arg(quota.total_bytes)
            .arg(mode)
            .arg(expected);
        call
    }

    pub async fn get(&self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let mut conn = self.connection()?;
        let value_key = self.value_key(&key);
        self.run(async move {
            let reply: Value = GET
                .key(value_key)
                .arg(MAX_VALUE_SIZE)
                .invoke_async(&mut conn)
                .await?;
            Ok(value_of(reply))
        })
        .await
    }

    pub async fn exists(&self, key: String) -> Result<bool, KvError> {
        let mut conn = self.connection()?;
        let value_key = self.value_key(&key);
        self.run(async move { Ok(Ok(conn.exists(value_key).await?)) })
            .await
    }

    pub async fn list(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), KvError> {
        let mut conn = self.connection()?;
        let index = self.keys("").index;
        // From just after the cursor (`(` excludes it), one more than a
        // page: whether there is a next page.
        let from = match cursor {
            Some(after) => {
                let mut from = Vec::with_capacity(after.len() + 1);
                from.push(b'(');
                from.extend_from_slice(after.as_bytes());
                from
            }
            None => b"-".to_vec(),
        };
        self.run(async move {
            let keys: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(index)
                .arg(from)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(PAGE_KEYS + 1)
                .query_async(&mut conn)
                .await?;
            Ok(Ok(page(keys)))
        })
        .await
    }

    pub async fn set(&self, key: String, value: Vec<u8>, quota: Quota) -> Result<(), KvError> {
        let mut conn = self.connection()?;
        let call = self.put(&key, &value, &quota, "set", b"");
        self.run(async move {
            let reply: Value = call.invoke_async(&mut conn).await?;
            Ok(written(reply, &quota).map(drop))
        })
        .await
    }

    pub async fn delete(&self, key: String) -> Result<(), KvError> {
        let mut conn = self.connection()?;
        let keys = self.keys(&key);
        self.run(async move {
            let _: i64 = DELETE
                .key(keys.index)
                .key(keys.usage)
                .key(keys.value)
                .arg(key)
                .invoke_async(&mut conn)
                .await?;
            Ok(Ok(()))
        })
        .await
    }

    pub async fn increment(&self, key: String, delta: i64, quota: Quota) -> Result<i64, KvError> {
        let mut conn = self.connection()?;
        let keys = self.keys(&key);
        self.run(async move {
            let reply: Vec<Value> = INCREMENT
                .key(keys.index)
                .key(keys.usage)
                .key(keys.value)
                .arg(key)
                .arg(delta)
                .arg(quota.keys)
                .arg(quota.total_bytes)
                .invoke_async(&mut conn)
                .await?;
            Ok(match reply.as_slice() {
                [Value::Int(0), Value::BulkString(new)] => {
                    parse_counter_reply(new).ok_or_else(not_a_counter)
                }
                [Value::Int(4), message] if text(message).contains("overflow") => Err(overflow()),
                [Value::Int(4), _] => Err(not_a_counter()),
                _ => written(Value::Array(reply), &quota).map(|_| 0),
            })
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
        let mut conn = self.connection()?;
        let call = match &expected {
            None => self.put(&key, &value, &quota, "absent", b""),
            Some(expected) => self.put(&key, &value, &quota, "equal", expected),
        };
        self.run(async move {
            let reply: Value = call.invoke_async(&mut conn).await?;
            Ok(written(reply, &quota))
        })
        .await
    }

    pub async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connection()?;
        let mut call = GET_MANY.arg(MAX_BATCH_BYTES);
        for key in &keys {
            call.key(self.value_key(key));
        }
        self.run(async move {
            let reply: Value = call.invoke_async(&mut conn).await?;
            let Value::Array(values) = reply else {
                return Ok(Err(batch_too_large()));
            };
            Ok(Ok(keys
                .into_iter()
                .zip(values)
                .map(|(key, value)| match value {
                    Value::BulkString(value) => (key, Some(value)),
                    _ => (key, None),
                })
                .collect()))
        })
        .await
    }

    pub async fn set_many(
        &self,
        pairs: Vec<(String, Vec<u8>)>,
        quota: Quota,
    ) -> Result<(), KvError> {
        let mut conn = self.connection()?;
        let calls: Vec<_> = pairs
            .iter()
            .map(|(key, value)| self.put(key, value, &quota, "set", b""))
            .collect();
        self.run(async move {
            for call in calls {
                let reply: Value = call.invoke_async(&mut conn).await?;
                if let Err(err) = written(reply, &quota) {
                    return Ok(Err(err));
                }
            }
            Ok(Ok(()))
        })
        .await
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), KvError> {
        let mut conn = self.connection()?;
        let calls: Vec<_> = keys
            .iter()
            .map(|key| {
                let keys = self.keys(key);
                let mut call = DELETE.key(keys.index);
                call.key(keys.usage).key(keys.value).arg(key);
                call
            })
            .collect();
        self.run(async move {
            for call in calls {
                let _: i64 = call.invoke_async(&mut conn).await?;
            }
            Ok(Ok(()))
        })
        .await
    }
}

/// What [`GET`] returned.
fn value_of(reply: Value) -> Result<Option<Vec<u8>>, KvError> {
    match reply {
        Value::BulkString(value) => Ok(Some(value)),
        Value::Int(size) => Err(KvError::Invalid(format!(
            "the value is {size} bytes, more than the host reads ({MAX_VALUE_SIZE})"
        ))),
        _ => Ok(None),
    }
}

/// What [`PUT`] (or a quota refusal of [`INCREMENT`]) returned: whether it
/// wrote (`false`: the value had changed), or the quota it exceeded.
fn written(reply: Value, quota: &Quota) -> Result<bool, KvError> {
    use crate::kv::Exceeded;
    let Value::Array(reply) = reply else {
        return Err(KvError::Unavailable(format!(
            "unexpected reply from a script: {reply:?}"
        )));
    };
    match reply.as_slice() {
        [Value::Int(0), ..] => Ok(true),
        [Value::Int(1), ..] => Ok(false),
        [Value::Int(2), ..] => Err(KvError::Quota(Exceeded::Keys { max: quota.keys })),
        [Value::Int(3), Value::Int(bytes), ..] => Err(KvError::Quota(Exceeded::TotalBytes {
            bytes: *bytes as u64,
            max: quota.total_bytes,
        })),
        _ => Err(KvError::Unavailable(format!(
            "unexpected reply from a script: {reply:?}"
        ))),
    }
}

/// A counter as `GET` returns it after `INCRBY`.
fn parse_counter_reply(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The text of a status or bulk reply.
fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        other => format!("{other:?}"),
    }
}
