//! The guest's key-value calls: `open` checks the grant, every other call
//! goes to the app's namespace in the store, held to its quota and the
//! request's deadline.
//!
//! A [`BucketHandle`] is only the index of a granted store; a
//! [`CasHandle`] holds the value its compare-and-swap compares with. Both
//! live in the instance's resource table, under its cap.

use crate::kv::bindings::{
    AtomicsHost, BatchHost, BucketHost, CasError, CasHost, Error, Imports, KeyResponse, StoreHost,
};
use crate::kv::{AppKv, Conn, KvError, MAX_BATCH_KEYS, MAX_CAS_BYTES, MAX_KEY_SIZE, Quota, within};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// The deadline of a call made outside a request (the runtime always sets
/// one for a request).
const NO_DEADLINE: Duration = Duration::from_secs(300);

/// An open bucket: which of the app's granted stores.
pub struct BucketHandle {
    store: usize,
}

/// A compare-and-swap in progress on one key.
pub struct CasHandle {
    store: usize,
    key: String,
    /// The value the swap compares with (`None`: the key did not exist).
    current: Option<Vec<u8>>,
}

/// The key-value state of one instance's store.
pub struct KvCtx {
    app: Arc<AppKv>,
    /// The deadline of the request the instance serves.
    deadline: Option<Instant>,
    /// Bytes of values its CAS handles hold.
    cas_bytes: usize,
}

impl KvCtx {
    /// The state of a new instance of the app whose access is `app`.
    pub fn new(app: Arc<AppKv>) -> Self {
        KvCtx {
            app,
            deadline: None,
            cas_bytes: 0,
        }
    }

    /// The deadline of the request the instance serves now: no call
    /// outlives it.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    fn deadline(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + NO_DEADLINE)
    }
}

/// What the generated bindings are implemented on: the instance's key-value
/// state and its resource table.
pub struct KvView<'a> {
    /// The instance's key-value state.
    pub ctx: &'a mut KvCtx,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

/// `HasData` for the key-value bindings.
struct Kv;

impl HasData for Kv {
    type Data<'a> = KvView<'a>;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` to `linker`.
/// Every app gets them; an app granted no store gets `access-denied` from
/// `open`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    Imports::add_to_linker::<T, Kv>(linker, get)
}

/// The error the guest gets.
fn to_wit(err: KvError) -> Error {
    match err {
        KvError::Denied => Error::AccessDenied,
        other => Error::Other(other.to_string()),
    }
}

/// A resource table that is full is the guest's doing: an error to it,
/// not a trap.
fn table_full(err: wasmtime::component::ResourceTableError) -> Error {
    Error::Other(format!(
        "cannot open another handle: {err} (the instance holds as many resources as it may; drop some first)"
    ))
}

/// Checks a key a read names: no longer than any key can be.
fn readable(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_SIZE {
        return Err(KvError::Invalid(format!(
            "the key is {} bytes, longer than any key can be ({MAX_KEY_SIZE})",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a batch's size.
fn batch(len: usize) -> Result<(), KvError> {
    if len > MAX_BATCH_KEYS {
        return Err(KvError::Invalid(format!(
            "a batch of {len} keys; at most {MAX_BATCH_KEYS} per call"
        )));
    }
    Ok(())
}

/// Calls `$method` on the app's store `$store`, whichever its backend.
macro_rules! on_store {
    ($app:expr, $store:expr, $method:ident($($arg:expr),*)) => {
        match &$app.stores[$store].conn {
            Conn::Sqlite(ns) => ns.$method($($arg),*).await,
            Conn::Redis(ns) => ns.$method($($arg),*).await,
        }
    };
}

impl AppKv {
    async fn get(
        &self,
        store: usize,
        key: String,
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, KvError> {
        readable(&key)?;
        within(deadline, async { on_store!(self, store, get(key)) }).await
    }

    async fn set(
        &self,
        store: usize,
        key: String,
        value: Vec<u8>,
        deadline: Instant,
    ) -> Result<(), KvError> {
        let quota = self.quota;
        quota.check_key(&key)?;
        quota.check_value(&value)?;
        within(deadline, async {
            on_store!(self, store, set(key, value, quota))
        })
        .await
    }

    async fn delete(&self, store: usize, key: String, deadline: Instant) -> Result<(), KvError> {
        readable(&key)?;
        within(deadline, async { on_store!(self, store, delete(key)) }).await
    }

    async fn exists(&self, store: usize, key: String, deadline: Instant) -> Result<bool, KvError> {
        readable(&key)?;
        within(deadline, async { on_store!(self, store, exists(key)) }).await
    }

    async fn list(
        &self,
        store: usize,
        cursor: Option<String>,
        deadline: Instant,
    ) -> Result<(Vec<String>, Option<String>), KvError> {
        if let Some(cursor) = &cursor {
            readable(cursor)?;
        }
        within(deadline, async { on_store!(self, store, list(cursor)) }).await
    }

    async fn increment(
        &self,
        store: usize,
        key: String,
        delta: i64,
        deadline: Instant,
    ) -> Result<i64, KvError> {
        let quota = self.quota;
        quota.check_key(&key)?;
        within(deadline, async {
            on_store!(self, store, increment(key, delta, quota))
        })
        .await
    }

    /// Sets `key` to `value` if its value is still `expected`; `false` when
    /// it changed.
    async fn swap(
        &self,
        store: usize,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        deadline: Instant,
    ) -> Result<bool, KvError> {
        let quota = self.quota;
        quota.check_key(&key)?;
        quota.check_value(&value)?;
        within(deadline, async {
            on_store!(self, store, swap(key, expected, value, quota))
        })
        .await
    }

    async fn get_many(
        &self,
        store: usize,
        keys: Vec<String>,
        deadline: Instant,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        batch(keys.len())?;
        keys.iter().try_for_each(|key| readable(key))?;
        within(deadline, async { on_store!(self, store, get_many(keys)) }).await
    }

    async fn set_many(
        &self,
        store: usize,
        pairs: Vec<(String, Vec<u8>)>,
        deadline: Instant,
    ) -> Result<(), KvError> {
        batch(pairs.len())?;
        let quota: Quota = self.quota;
        // Sizes are checked first: a batch with one key too large writes
        // nothing.
        for (key, value) in &pairs {
            quota.check_key(key)?;
            quota.check_value(value)?;
        }
        within(deadline, async {
            on_store!(self, store, set_many(pairs, quota))
        })
        .await
    }

    async fn delete_many(
        &self,
        store: usize,
        keys: Vec<String>,
        deadline: Instant,
    ) -> Result<(), KvError> {
        batch(keys.len())?;
        keys.iter().try_for_each(|key| readable(key))?;
        within(deadline, async {
            on_store!(self, store, delete_many(keys))
        })
        .await
    }
}

impl KvView<'_> {
    /// The store a bucket handle names.
    fn store(&self, bucket: &Resource<BucketHandle>) -> wasmtime::Result<usize> {
        Ok(self.table.get(bucket)?.store)
    }

    /// Runs `op` on the app's key-value access, counting and logging its
    /// result, and turns its error into the guest's.
    async fn call<T, F>(
        &mut self,
        store: usize,
        op: impl FnOnce(Arc<AppKv>, Instant) -> F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<T, KvError>>,
    {
        let app = self.ctx.app.clone();
        let result = op(app.clone(), self.ctx.deadline()).await;
        app.count(store, &result);
        result.map_err(to_wit)
    }

    /// A new CAS handle on `key`, holding its value now.
    async fn new_cas(&mut self, store: usize, key: String) -> Result<Resource<CasHandle>, Error> {
        let current = {
            let key = key.clone();
            self.call(store, |app, deadline| async move {
                app.get(store, key, deadline).await
            })
            .await?
        };
        let size = current.as_ref().map_or(0, Vec::len);
        if self.ctx.cas_bytes + size > MAX_CAS_BYTES {
            return Err(Error::Other(format!(
                "the instance's open compare-and-swap handles hold {} bytes of values; at most {MAX_CAS_BYTES}: drop some first",
                self.ctx.cas_bytes
            )));
        }
        let handle = self
            .table
            .push(CasHandle {
                store,
                key,
                current,
            })
            .map_err(table_full)?;
        self.ctx.cas_bytes += size;
        Ok(handle)
    }

    /// Takes a CAS handle out of the table, releasing what it held.
    fn take_cas(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<CasHandle> {
        let cas = self.table.delete(cas)?;
        self.ctx.cas_bytes -= cas.current.as_ref().map_or(0, Vec::len);
        Ok(cas)
    }
}

impl StoreHost for KvView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<BucketHandle>, Error>> {
        let app = self.ctx.app.clone();
        let Some(store) = app.find(&identifier) else {
            app.count::<()>(usize::MAX, &Err(KvError::Denied));
            return Ok(Err(Error::AccessDenied));
        };
        app.count(store, &Ok(()));
        Ok(self.table.push(BucketHandle { store }).map_err(table_full))
    }
}

impl BucketHost for KvView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.get(store, key, deadline).await
            })
            .await)
    }

    async fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.set(store, key, value, deadline).await
            })
            .await)
    }

    async fn delete(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.delete(store, key, deadline).await
            })
            .await)
    }

    async fn exists(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.exists(store, key, deadline).await
            })
            .await)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.list(store, cursor, deadline).await
            })
            .await
            .map(|(keys, cursor)| KeyResponse { keys, cursor }))
    }

    async fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl AtomicsHost for KvView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.increment(store, key, delta, deadline).await
            })
            .await)
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let CasHandle {
            store,
            key,
            current,
        } = self.take_cas(cas)?;
        let swapped = {
            let key = key.clone();
            self.call(store, |app, deadline| async move {
                app.swap(store, key, current, value, deadline).await
            })
            .await
        };
        Ok(match swapped {
            Ok(true) => Ok(()),
            Ok(false) => match self.new_cas(store, key).await {
                Ok(cas) => Err(CasError::CasFailed(cas)),
                Err(err) => Err(CasError::StoreError(err)),
            },
            Err(err) => Err(CasError::StoreError(err)),
        })
    }
}

impl CasHost for KvView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, Error>> {
        let store = self.store(&bucket)?;
        if let Err(err) = self.ctx.app.quota.check_key(&key) {
            return Ok(Err(to_wit(err)));
        }
        Ok(self.new_cas(store, key).await)
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.take_cas(cas)?;
        Ok(())
    }
}

impl BatchHost for KvView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.get_many(store, keys, deadline).await
            })
            .await)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.set_many(store, key_values, deadline).await
            })
            .await)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(&bucket)?;
        Ok(self
            .call(store, |app, deadline| async move {
                app.delete_many(store, keys, deadline).await
            })
            .await)
    }
}
