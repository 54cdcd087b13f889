"""Key-value stores: data that outlives the request, and the instance.

An instance keeps nothing for sure from one request to the next (a fresh
one per request, or one reused for a while), and the sandbox grants no
writable files. A key-value store is where an app keeps what must last: the
operator grants the app a store by name, and the host keeps each app's keys
apart from every other app's, even in a shared store, within the app's
quota.

    # gateway.toml: `default` is SQLite in the server's data directory
    [apps.shop.grants]
    kv = ["default"]

(or `wasm-gateway serve shop.wasm --kv default`). Keys are strings, values
bytes (a `str` value is stored as UTF-8):

    from wasm_gateway import kv

    store = kv.open()                     # the store named "default"
    visits = store.increment("visits")    # atomic: concurrent requests all count
    store.set("greeting", "hello")
    store.get_text("greeting")            # "hello"; None for a missing key
    for key in store.keys(): ...          # every key, page by page

An app that opens a store it was not granted gets `AccessDenied` (also a
`PermissionError`); a write over the app's quota (a key or value too large,
too many keys or bytes) raises `KvError` whose message names the limit.

These are the standard `wasi:keyvalue@0.2.0-draft2` interfaces (the ones
Spin's key-value API uses), which the host serves from SQLite or Redis.
"""

import wasm_gateway
from componentize_py_types import Err
from wit_world.imports import atomics, batch, store as _store

__all__ = ["open", "Store", "KvError", "AccessDenied", "NoSuchStore"]

# How often `Store.update` retries when another request changed the value in
# between.
_UPDATE_ATTEMPTS = 100


class KvError(Exception):
    """A key-value call failed: `code` is the `wasi:keyvalue` error case
    (`no-such-store`, `access-denied` or `other`)."""

    def __init__(self, message, code="other", store=None):
        super().__init__(message)
        self.code = code
        self.store = store


class AccessDenied(KvError, PermissionError):
    """The app may not use this store: the operator did not grant it."""


class NoSuchStore(KvError, LookupError):
    """The host has no store by this name."""


def _error(value, name):
    if isinstance(value, _store.Error_AccessDenied):
        return AccessDenied(
            f"the app is not granted the key-value store {name!r}: the operator grants it"
            f" with `kv = [{name!r}]` under [apps.NAME.grants] (or --kv {name})",
            "access-denied", name)
    if isinstance(value, _store.Error_NoSuchStore):
        return NoSuchStore(f"no key-value store named {name!r}", "no-such-store", name)
    return KvError(f"key-value store {name!r}: {getattr(value, 'value', value)}", "other", name)


def _bytes(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def open(name="default"):
    """Opens the store `name` (`default` unless said otherwise)."""
    if wasm_gateway._building:
        raise KvError(
            f"key-value store {name!r} opened while the app is built (importing it, or a"
            " --warmup request): stores exist only when the app is served; open them in"
            " requests, and choose --warmup paths that do not use them", "building", name)
    try:
        return Store(name, _store.open(name))
    except Err as err:
        raise _error(err.value, name) from None


class Store:
    """An open key-value store. Use `open(name)` to get one; `close()` (or a
    `with` block) gives its handle back to the host at once, otherwise it
    goes with the request's instance."""

    def __init__(self, name, bucket):
        self.name = name
        self._bucket = bucket

    def __repr__(self):
        return f"<wasm_gateway.kv.Store {self.name!r}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        bucket, self._bucket = self._bucket, None
        if bucket is not None:
            bucket.__exit__(None, None, None)

    def _call(self, fn, *args):
        if self._bucket is None:
            raise KvError(f"key-value store {self.name!r} is closed", "other", self.name)
        try:
            return fn(*args)
        except Err as err:
            raise _error(err.value, self.name) from None

    def get(self, key):
        """The value of `key` as bytes, or None if there is none."""
        return self._call(lambda: self._bucket.get(key))

    def get_text(self, key, encoding="utf-8"):
        """The value of `key` decoded (UTF-8 by default), or None."""
        value = self.get(key)
        return None if value is None else value.decode(encoding)

    def set(self, key, value):
        """Sets `key` to `value` (bytes, or a str stored as UTF-8)."""
        data = _bytes(value)
        self._call(lambda: self._bucket.set(key, data))

    def delete(self, key):
        """Deletes `key`; nothing happens if it does not exist."""
        self._call(lambda: self._bucket.delete(key))

    def exists(self, key):
        """Whether `key` has a value."""
        return self._call(lambda: self._bucket.exists(key))

    def __contains__(self, key):
        return self.exists(key)

    def list_keys(self, cursor=None):
        """One page of keys: `(keys, cursor)`, `cursor` None on the last
        page, else what to pass for the next."""
        page = self._call(lambda: self._bucket.list_keys(cursor))
        return list(page.keys), page.cursor

    def keys(self):
        """Every key, fetched a page at a time."""
        cursor = None
        while True:
            keys, cursor = self.list_keys(cursor)
            yield from keys
            if cursor is None:
                return

    def increment(self, key, delta=1):
        """Adds `delta` to the counter at `key` (0 when missing) and returns
        the new value, atomically. Counters are stored as decimal text, so
        `get_text` reads them."""
        return self._call(lambda: atomics.increment(self._bucket, key, int(delta)))

    def compare_and_swap(self, key, expected, new):
        """Sets `key` to `new` only if its value is still `expected` (None:
        only if the key does not exist). Returns whether it did."""
        expected = None if expected is None else _bytes(expected)
        data = _bytes(new)
        cas = self._call(lambda: atomics.Cas.new(self._bucket, key))
        if self._call(cas.current) != expected:
            cas.__exit__(None, None, None)
            return False
        try:
            atomics.swap(cas, data)
        except Err as err:
            if isinstance(err.value, atomics.CasError_CasFailed):
                err.value.value.__exit__(None, None, None)
                return False
            raise _error(err.value.value, self.name) from None
        return True

    def update(self, key, change):
        """Replaces the value of `key` with `change(current)` (current is
        bytes, or None when the key does not exist), atomically: when another
        request changed it in between, `change` runs again on the new value.
        Returns the value written."""
        cas = self._call(lambda: atomics.Cas.new(self._bucket, key))
        for _ in range(_UPDATE_ATTEMPTS):
            new = _bytes(change(self._call(cas.current)))
            try:
                atomics.swap(cas, new)
                return new
            except Err as err:
                if isinstance(err.value, atomics.CasError_CasFailed):
                    cas = err.value.value
                    continue
                raise _error(err.value.value, self.name) from None
        cas.__exit__(None, None, None)
        raise KvError(f"{key!r} kept changing: gave up after {_UPDATE_ATTEMPTS} attempts",
                      "other", self.name)

    def get_many(self, keys):
        """The values of `keys` in one call, as a dict (None for a key that
        does not exist)."""
        keys = list(keys)
        return dict(self._call(lambda: batch.get_many(self._bucket, keys)))

    def set_many(self, items):
        """Sets many keys in one call, from a dict or (key, value) pairs."""
        pairs = items.items() if hasattr(items, "items") else items
        data = [(key, _bytes(value)) for key, value in pairs]
        self._call(lambda: batch.set_many(self._bucket, data))

    def delete_many(self, keys):
        """Deletes many keys in one call."""
        keys = list(keys)
        self._call(lambda: batch.delete_many(self._bucket, keys))
