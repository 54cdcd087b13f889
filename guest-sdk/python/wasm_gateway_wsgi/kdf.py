"""Password hashing for Python apps: `hashlib.pbkdf2_hmac` and
`hashlib.scrypt`, derived by the host through `wasm-gateway:python/kdf`.

CPython provides both only through OpenSSL, which the component does not
have, so werkzeug's `generate_password_hash` and Django's default hasher
would fail. `install()` (called by the entry module before the application
is imported, since some code checks `hasattr(hashlib, "pbkdf2_hmac")` at
import) adds the two functions to `hashlib`, with CPython's signatures,
argument checks and exceptions, and its results:

- `pbkdf2_hmac(hash_name, password, salt, iterations, dklen=None)` with
  md5, sha1, sha224, sha256, sha384, sha512, sha512_224, sha512_256 and
  sha3_224/256/384/512 (any case; `-` for `_`), derived by the host;
  blake2b and blake2s are derived here, in Python, far slower;
- `scrypt(password, *, salt, n, r, p, maxmem=0, dklen=64)`, by the host.

The host refuses a derivation above its cost caps (`ValueError`, saying
so), and one still running at the request's deadline ends with a
`RuntimeError` (the request is over anyway). docs/python.md lists the caps.

At build time (the warm-up requests, the application's import) there is no
host yet: PBKDF2 is derived here in Python, and scrypt raises a
`RuntimeError` saying it works only at run time. `built()`, called by the
entry module just before the snapshot, switches to the host.
"""

import hashlib
import hmac
import operator

from componentize_py_types import Err
from wit_world.imports import kdf as _host

__all__ = ["install", "built", "pbkdf2_hmac", "scrypt"]

# True while the component is being built: the host's functions are stubs
# that trap then.
_building = True

_INT_MAX = 2**31 - 1
_ULONG_MAX = 2**64 - 1

# hashlib's names, as CPython (with OpenSSL) takes them: the digest the host
# derives with, and the output size (`dklen=None`).
_DIGESTS = {
    "md5": (_host.Digest.MD5, 16),
    "sha1": (_host.Digest.SHA1, 20),
    "sha224": (_host.Digest.SHA224, 28),
    "sha256": (_host.Digest.SHA256, 32),
    "sha384": (_host.Digest.SHA384, 48),
    "sha512": (_host.Digest.SHA512, 64),
    "sha512_224": (_host.Digest.SHA512_224, 28),
    "sha512_256": (_host.Digest.SHA512_256, 32),
    "sha3_224": (_host.Digest.SHA3_224, 28),
    "sha3_256": (_host.Digest.SHA3_256, 32),
    "sha3_384": (_host.Digest.SHA3_384, 48),
    "sha3_512": (_host.Digest.SHA3_512, 64),
}

# Hashes OpenSSL's PBKDF2 takes and the host does not: derived here, with
# the guest's own hashlib.
_IN_PYTHON = {"blake2b": 64, "blake2s": 32}


def install():
    """Adds `pbkdf2_hmac` and `scrypt` to `hashlib` where it lacks them (a
    CPython with OpenSSL keeps its own)."""
    for name, function in (("pbkdf2_hmac", pbkdf2_hmac), ("scrypt", scrypt)):
        if not hasattr(hashlib, name):
            setattr(hashlib, name, function)
            if name not in hashlib.__all__:
                hashlib.__all__ = (*hashlib.__all__, name)


def built():
    """The build is over (the snapshot comes next): derive on the host."""
    global _building
    _building = False


def _buffer(value):
    """The bytes of a bytes-like object, as CPython's `y*` takes it."""
    if isinstance(value, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    try:
        return memoryview(value).tobytes()
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'") from None


def _c_long(value):
    """An int as C `long` takes it: `__index__`, and 64 bits."""
    value = operator.index(value)
    if not -2**63 <= value < 2**63:
        raise OverflowError("Python int too large to convert to C long")
    return value


def _int_argument(value, name):
    """scrypt's `n`, `r` and `p` as its argument parser takes them: an
    `int`, or left out."""
    if value is not None and not isinstance(value, int):
        raise TypeError(f"scrypt() argument '{name}' must be int, not {type(value).__name__}")
    return value


def _unsigned(value, name):
    """An `int` argument as C `unsigned long` takes it, once required."""
    if value is None or not 0 <= value <= _ULONG_MAX:
        raise TypeError(f"{name} is required and must be an unsigned int")
    return value


def _refused(error, what):
    """The exception CPython raises for the host's `kdf-error`."""
    kind = type(error).__name__
    if kind == "KdfError_Invalid":
        return ValueError(error.value)
    if kind == "KdfError_MemoryLimit":
        return ValueError(
            "memory limit exceeded: scrypt needs 128*r*(n+2) + 128*r*p bytes, "
            "more than maxmem allows (32 MiB when it is 0)"
        )
    if kind == "KdfError_TooCostly":
        return ValueError(f"{what}: {error.value} (wasm-gateway's limit)")
    if kind == "KdfError_Deadline":
        return RuntimeError(f"{what}: the request's deadline passed while deriving the key")
    return RuntimeError(f"{what}: the host refused ({kind})")


def pbkdf2_hmac(hash_name, password, salt, iterations, dklen=None):
    """Password based key derivation function 2 (PKCS #5 v2.0) with HMAC as
    pseudorandom function."""
    if not isinstance(hash_name, str):
        raise TypeError(f"pbkdf2_hmac() argument 'hash_name' must be str, not {type(hash_name).__name__}")
    # In CPython's order: the arguments' types, then their values.
    password = _buffer(password)
    salt = _buffer(salt)
    iterations = _c_long(iterations)
    key = hash_name.lower().replace("-", "_")
    found = _DIGESTS.get(key)
    size = found[1] if found else _IN_PYTHON.get(key)
    if size is None:
        raise ValueError(f"unsupported hash type {hash_name}")
    if len(password) > _INT_MAX:
        raise OverflowError("password is too long.")
    if len(salt) > _INT_MAX:
        raise OverflowError("salt is too long.")
    if iterations < 1:
        raise ValueError("iteration value must be greater than 0.")
    if iterations > _INT_MAX:
        raise OverflowError("iteration value is too great.")
    dklen = size if dklen is None else _c_long(dklen)
    if dklen < 1:
        raise ValueError("key length must be greater than 0.")
    if dklen > _INT_MAX:
        raise OverflowError("key length is too great.")
    if found is None or _building:
        return _pbkdf2_in_python(key, password, salt, iterations, dklen)
    try:
        return _host.pbkdf2_hmac(found[0], password, salt, iterations, dklen)
    except Err as err:
        raise _refused(err.value, "pbkdf2_hmac") from None


def _pbkdf2_in_python(name, password, salt, iterations, dklen):
    """PBKDF2 (RFC 8018) with the guest's own `hmac`: for the hashes the
    host does not derive, and at build time."""
    try:
        prf = hmac.new(password, digestmod=name)
    except ValueError:
        raise RuntimeError(
            f"hashlib.pbkdf2_hmac with {name} works only at run time, not while the "
            "component is built (the warm-up requests, the app's import)"
        ) from None
    size = prf.digest_size
    blocks = []
    for number in range(1, -(-dklen // size) + 1):
        mac = prf.copy()
        mac.update(salt + number.to_bytes(4, "big"))
        u = mac.digest()
        block = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            mac = prf.copy()
            mac.update(u)
            u = mac.digest()
            block ^= int.from_bytes(u, "big")
        blocks.append(block.to_bytes(size, "big"))
    return b"".join(blocks)[:dklen]


def scrypt(password, *, salt=None, n=None, r=None, p=None, maxmem=0, dklen=64):
    """scrypt password-based key derivation function."""
    # In CPython's order: the arguments' types, then their values.
    password = _buffer(password)
    if salt is not None:
        salt = _buffer(salt)
    n = _int_argument(n, "n")
    r = _int_argument(r, "r")
    p = _int_argument(p, "p")
    maxmem = _c_long(maxmem)
    dklen = _c_long(dklen)
    if len(password) > _INT_MAX:
        raise OverflowError("password is too long.")
    if salt is None:
        raise TypeError("salt is required")
    if len(salt) > _INT_MAX:
        raise OverflowError("salt is too long.")
    n = _unsigned(n, "n")
    if n < 2 or n & (n - 1):
        raise ValueError("n must be a power of 2.")
    r = _unsigned(r, "r")
    p = _unsigned(p, "p")
    if maxmem < 0 or maxmem > _INT_MAX:
        raise ValueError(f"maxmem must be positive and smaller than {_INT_MAX}")
    if dklen < 1 or dklen > _INT_MAX:
        raise ValueError(f"dklen must be greater than 0 and smaller than {_INT_MAX}")
    if r > 0xFFFFFFFF or p > 0xFFFFFFFF:
        # OpenSSL refuses r·p of 2^30 or more.
        raise ValueError("Invalid parameter combination for n, r, p, maxmem.")
    if _building:
        raise RuntimeError(
            "hashlib.scrypt works only at run time, not while the component is built "
            "(the warm-up requests, the app's import): the host derives it"
        )
    try:
        return _host.scrypt(password, salt, n, r, p, maxmem, dklen)
    except Err as err:
        raise _refused(err.value, "scrypt") from None
