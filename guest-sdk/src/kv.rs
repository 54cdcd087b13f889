//! Key-value stores: data that outlives the request.
//!
//! Every request runs in a fresh instance, so an app keeps nothing in
//! memory from one request to the next. A key-value store is where it keeps
//! what must last: the operator grants the app a store, and the app opens it
//! by name. The host keeps each app's keys apart from every other app's,
//! even in a shared store, and holds them to the app's quota.
//!
//! ```toml
//! # gateway.toml: `default` is SQLite in the server's data directory
//! [apps.shop.grants]
//! kv = ["default"]
//! ```
//!
//! (or `wasm-gateway serve shop.wasm --kv default`). Keys are strings, values
//! bytes:
//!
//! ```no_run
//! use wasm_gateway_sdk::kv::Store;
//! use wasm_gateway_sdk::{Environ, Error, Response};
//!
//! fn handle(_env: Environ) -> Result<Response, Error> {
//!     let store = Store::open_default()?;
//!     let visits = store.increment("visits", 1)?;
//!     store.set("last-visit", "just now")?;
//!     let note = store.get_text("note")?.unwrap_or_default();
//!     Ok(Response::text(format!("visit {visits}; note: {note}")))
//! }
//! ```
//!
//! An app that opens a store it was not granted gets
//! [`KvError::AccessDenied`]; a write over the app's quota (key or value too
//! large, too many keys, too many bytes) gets [`KvError::Other`] with a
//! message naming the limit, and the server log says the same.
//!
//! This is the standard `wasi:keyvalue@0.2.0-draft2` interface (the one
//! Spin's SDK calls), so the same calls work on any host that serves it.
//! Only an app that calls this module imports it. Calls go to the host, so
//! they work only in a component.

use std::fmt;

mod bindings {
    wit_bindgen::generate!({
        world: "wasi:keyvalue/imports",
        path: "../wit",
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// How often [`Store::update`] retries when another request changed the
/// value in between.
const UPDATE_ATTEMPTS: usize = 100;

/// Why a key-value call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The host has no store by that name.
    NoSuchStore(String),
    /// The app was not granted the store (whether or not it exists).
    AccessDenied(String),
    /// Anything else: a write over the app's quota, a store that failed or
    /// could not be reached, a value that is not a counter... The message
    /// says which.
    Other(String),
}

impl KvError {
    fn from_wit(err: store::Error, store: &str) -> Self {
        match err {
            store::Error::NoSuchStore => KvError::NoSuchStore(store.to_owned()),
            store::Error::AccessDenied => KvError::AccessDenied(store.to_owned()),
            store::Error::Other(message) => KvError::Other(message),
        }
    }

    /// Whether the app may not open the store (it was not granted).
    pub fn is_denied(&self) -> bool {
        matches!(self, KvError::AccessDenied(_))
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NoSuchStore(name) => write!(f, "there is no key-value store {name:?}"),
            KvError::AccessDenied(name) => write!(
                f,
                "the app may not open the key-value store {name:?} (the operator grants it: kv = [{name:?}] in the app's [grants], or --kv {name})"
            ),
            KvError::Other(message) => write!(f, "key-value store: {message}"),
        }
    }
}

impl std::error::Error for KvError {}

/// A key and its value (`None`: the key does not exist), as
/// [`Store::get_many`] returns them.
pub type KeyValue = (String, Option<Vec<u8>>);

/// One page of [`Store::list_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys of this page (the host pages them in byte order).
    pub keys: Vec<String>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// An open key-value store.
pub struct Store {
    bucket: store::Bucket,
    name: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("name", &self.name).finish()
    }
}

impl Store {
    /// Opens the store the operator granted under `name`.
    pub fn open(name: &str) -> Result<Store, KvError> {
        let bucket = store::open(name).map_err(|err| KvError::from_wit(err, name))?;
        Ok(Store {
            bucket,
            name: name.to_owned(),
        })
    }

    /// Opens the store `default`.
    pub fn open_default() -> Result<Store, KvError> {
        Self::open("default")
    }

    /// The name it was opened by.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, err: store::Error) -> KvError {
        KvError::from_wit(err, &self.name)
    }

    /// The value of `key`, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket.get(key).map_err(|e| self.err(e))
    }

    /// The value of `key` as text; an error if it is not UTF-8.
    pub fn get_text(&self, key: &str) -> Result<Option<String>, KvError> {
        self.get(key)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| KvError::Other(format!("the value of {key:?} is not UTF-8 text")))
            })
            .transpose()
    }

    /// Sets `key` to `value`, creating it or replacing its value.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), KvError> {
        self.bucket
            .set(key, value.as_ref())
            .map_err(|e| self.err(e))
    }

    /// Deletes `key`; nothing happens when there is none.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket.delete(key).map_err(|e| self.err(e))
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.bucket.exists(key).map_err(|e| self.err(e))
    }

    /// One page of keys, from the start (`None`) or from a page's `cursor`.
    pub fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage, KvError> {
        let page = self.bucket.list_keys(cursor).map_err(|e| self.err(e))?;
        Ok(KeyPage {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    /// Every key, page by page as the iterator goes.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            store: self,
            page: Vec::new().into_iter(),
            cursor: None,
            done: false,
        }
    }

    /// Adds `delta` to the counter `key` (made with the value `delta` when
    /// missing) and returns the new value, atomically: two requests that
    /// increment at once both count. A counter is stored as decimal text,
    /// so [`Store::get_text`] reads it.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        atomics::increment(&self.bucket, key, delta).map_err(|e| self.err(e))
    }

    /// Sets `key` to `new` only if its value is still `expected` (`None`:
    /// only if the key does not exist); `Ok(false)` when it was not.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<bool, KvError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(|e| self.err(e))?;
        if cas.current().map_err(|e| self.err(e))?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new.as_ref()) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(err)) => Err(self.err(err)),
        }
    }

    /// Replaces the value of `key` with what `change` makes of it (`None`:
    /// the key does not exist), atomically: when another request changed
    /// it in between, `change` runs again on the new value (a few times at
    /// most). Returns the value written.
    pub fn update(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>, KvError> {
        let mut cas = atomics::Cas::new(&self.bucket, key).map_err(|e| self.err(e))?;
        for _ in 0..UPDATE_ATTEMPTS {
            let current = cas.current().map_err(|e| self.err(e))?;
            let new = change(current.as_deref());
            match atomics::swap(cas, &new) {
                Ok(()) => return Ok(new),
                Err(atomics::CasError::CasFailed(again)) => cas = again,
                Err(atomics::CasError::StoreError(err)) => return Err(self.err(err)),
            }
        }
        Err(KvError::Other(format!(
            "{key:?} kept changing: gave up after {UPDATE_ATTEMPTS} attempts"
        )))
    }

    /// The values of `keys` (`None` for a key that does not exist), in one
    /// call.
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<KeyValue>, KvError> {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        batch::get_many(&self.bucket, &keys).map_err(|e| self.err(e))
    }

    /// Sets every pair, in one call; not atomic (on an error, the pairs
    /// before it may be set).
    pub fn set_many(&self, pairs: &[(&str, &[u8])]) -> Result<(), KvError> {
        let pairs: Vec<(String, Vec<u8>)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect();
        batch::set_many(&self.bucket, &pairs).map_err(|e| self.err(e))
    }

    /// Deletes every key, in one call.
    pub fn delete_many(&self, keys: &[&str]) -> Result<(), KvError> {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        batch::delete_many(&self.bucket, &keys).map_err(|e| self.err(e))
    }
}

/// The keys of a store, fetched a page at a time ([`Store::keys`]).
pub struct Keys<'a> {
    store: &'a Store,
    page: std::vec::IntoIter<String>,
    cursor: Option<String>,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Result<String, KvError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(key) = self.page.next() {
                return Some(Ok(key));
            }
            if self.done {
                return None;
            }
            match self.store.list_keys(self.cursor.as_deref()) {
                Ok(page) => {
                    self.done = page.cursor.is_none();
                    self.cursor = page.cursor;
                    self.page = page.keys.into_iter();
                }
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
    }
}
