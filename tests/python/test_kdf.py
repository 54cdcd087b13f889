"""The adapter's password hashing (`wasm_gateway_wsgi.kdf`), run under the
machine's CPython, whose `hashlib` has OpenSSL's `pbkdf2_hmac` and
`scrypt`: the adapter must take the same arguments, raise the same
exceptions and give the same keys. A fake host stands in for
`wasm-gateway:python/kdf`; it derives with the machine's hashlib, so what
is checked here is the adapter (names, defaults, argument checks, errors,
the Python PBKDF2 of build time); the host's own derivations are checked in
Rust (host/kdf, host/src/runtime/kdf.rs) and both together end to end
(tests/e2e/python.rs).

Run by tests/e2e/python.rs (`python3 -m unittest discover -s tests/python`).
"""

import enum
import hashlib
import importlib.util
import sys
import types
import unittest
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Err(Exception):
    value: object


class Digest(enum.Enum):
    MD5 = 0
    SHA1 = 1
    SHA224 = 2
    SHA256 = 3
    SHA384 = 4
    SHA512 = 5
    SHA512_224 = 6
    SHA512_256 = 7
    SHA3_224 = 8
    SHA3_256 = 9
    SHA3_384 = 10
    SHA3_512 = 11


@dataclass
class KdfError_Invalid:
    value: str


@dataclass
class KdfError_MemoryLimit:
    pass


@dataclass
class KdfError_TooCostly:
    value: str


@dataclass
class KdfError_Deadline:
    pass


class FakeHost:
    """`wit_world.imports.kdf`: records calls, derives with the machine's
    hashlib (a ValueError becomes `invalid`), or fails as told."""

    Digest = Digest

    def __init__(self):
        self.calls = []
        self.fail = None

    def pbkdf2_hmac(self, digest, password, salt, iterations, dklen):
        assert isinstance(digest, Digest) and type(password) is bytes and type(salt) is bytes
        self.calls.append(("pbkdf2_hmac", digest, password, salt, iterations, dklen))
        return self._derive(lambda: hashlib.pbkdf2_hmac(digest.name.lower(), password, salt, iterations, dklen))

    def scrypt(self, password, salt, n, r, p, maxmem, dklen):
        assert type(password) is bytes and type(salt) is bytes
        assert all(0 <= v < 2**32 for v in (r, p, dklen)) and 0 <= n < 2**64 and 0 <= maxmem < 2**64
        self.calls.append(("scrypt", password, salt, n, r, p, maxmem, dklen))
        return self._derive(lambda: hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen))

    def _derive(self, derive):
        if self.fail is not None:
            raise Err(self.fail)
        try:
            return derive()
        except ValueError as error:
            raise Err(KdfError_Invalid(str(error))) from None


HOST = FakeHost()


def _load_adapter():
    """Loads kdf.py alone (not its package) against the fakes, leaving
    `sys.modules` as it was."""
    fakes = {
        "componentize_py_types": types.SimpleNamespace(Err=Err),
        "wit_world": types.SimpleNamespace(),
        "wit_world.imports": types.SimpleNamespace(kdf=HOST),
    }
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        path = ROOT / "guest-sdk" / "python" / "wasm_gateway_wsgi" / "kdf.py"
        spec = importlib.util.spec_from_file_location("wasm_gateway_kdf_under_test", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


kdf = _load_adapter()

# CPython's test_hashlib vectors, and a few more (empty and long inputs).
PBKDF2_VECTORS = [
    (b"password", b"salt", 1, None),
    (b"password", b"salt", 2, None),
    (b"password", b"salt", 4096, None),
    (b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 25),
    (b"pass\0word", b"sa\0lt", 4096, 16),
    (b"", b"", 3, 100),
    (b"p" * 200, b"salt", 2, 1),
]
HASHES = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha512_224", "sha512_256",
          "sha3_224", "sha3_256", "sha3_384", "sha3_512"]


class Adapter(unittest.TestCase):
    def setUp(self):
        HOST.calls.clear()
        HOST.fail = None
        kdf._building = False

    def tearDown(self):
        kdf._building = False

    def assert_same_error(self, call, message=True):
        """`call(f)` raises the same exception with `f` = CPython's hashlib
        function and with the adapter's (the same message too, unless it
        is OpenSSL's wording)."""
        with self.assertRaises(Exception) as theirs:
            call(hashlib)
        with self.assertRaises(Exception) as ours:
            call(kdf)
        # OpenSSL's errors are subclasses of the builtin ones.
        builtin = next(c for c in type(theirs.exception).__mro__ if c.__module__ == "builtins")
        self.assertIs(type(ours.exception), builtin, f"{ours.exception!r} for {theirs.exception!r}")
        if message:
            self.assertEqual(str(ours.exception), str(theirs.exception))

    def test_pbkdf2_keys_are_cpython_s_for_every_hash(self):
        for name in HASHES:
            for password, salt, iterations, dklen in PBKDF2_VECTORS:
                with self.subTest(name=name, iterations=iterations, dklen=dklen):
                    expected = hashlib.pbkdf2_hmac(name, password, salt, iterations, dklen)
                    self.assertEqual(kdf.pbkdf2_hmac(name, password, salt, iterations, dklen), expected)
        # dklen=None is the digest's size, sent to the host as a number.
        self.assertEqual(HOST.calls[0], ("pbkdf2_hmac", Digest.MD5, b"password", b"salt", 1, 16))
        self.assertIn(("pbkdf2_hmac", Digest.SHA512_224, b"password", b"salt", 1, 28), HOST.calls)

    def test_pbkdf2_takes_what_cpython_takes(self):
        expected = hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 10)
        for name in ("sha256", "SHA256", "Sha256"):
            self.assertEqual(kdf.pbkdf2_hmac(name, b"password", b"salt", 10), expected)
        for name in ("sha512-224", "SHA512_224", "SHA3-256"):
            self.assertEqual(kdf.pbkdf2_hmac(name, b"pw", b"s", 3), hashlib.pbkdf2_hmac(name, b"pw", b"s", 3))
        self.assertEqual(
            kdf.pbkdf2_hmac(hash_name="sha256", password=bytearray(b"password"),
                            salt=memoryview(b"salt"), iterations=10, dklen=None),
            expected,
        )
        self.assertEqual(kdf.pbkdf2_hmac("sha256", b"password", b"salt", True), hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1))

    def test_blake2_is_derived_in_python(self):
        for name in ("blake2b", "blake2s"):
            self.assertEqual(kdf.pbkdf2_hmac(name, b"password", b"salt", 50, 70),
                             hashlib.pbkdf2_hmac(name, b"password", b"salt", 50, 70))
        self.assertEqual(HOST.calls, [], "the host does not know blake2")

    def test_pbkdf2_refuses_what_cpython_refuses(self):
        calls = [
            lambda h: h.pbkdf2_hmac("sha256", "password", b"salt", 1),
            lambda h: h.pbkdf2_hmac("sha256", b"password", "salt", 1),
            lambda h: h.pbkdf2_hmac("sha256", b"password", None, 1),
            lambda h: h.pbkdf2_hmac(b"sha256", b"password", b"salt", 1),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 1.0),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", "1"),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 0),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", -5),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 2**31),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 2**63),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 1, 0),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 1, -1),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 1, 2**31),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 1, 2**64),
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 1, 1.5),
            # The iterations are checked before dklen is converted.
            lambda h: h.pbkdf2_hmac("sha256", b"password", b"salt", 0, "x"),
        ]
        for index, call in enumerate(calls):
            with self.subTest(index=index):
                self.assert_same_error(call)
        # OpenSSL words these its own way; CPython 3.14 without it says
        # "unsupported hash type NAME".
        for name in ("nope", "shake_128", ""):
            with self.subTest(name=name):
                self.assert_same_error(lambda h: h.pbkdf2_hmac(name, b"p", b"s", 1), message=False)
                with self.assertRaisesRegex(ValueError, f"^unsupported hash type {name}$"):
                    kdf.pbkdf2_hmac(name, b"p", b"s", 1)
        self.assertEqual(HOST.calls, [])

    def test_scrypt_keys_are_cpython_s(self):
        vectors = [
            (b"", b"", 16, 1, 1, 0, 64),
            (b"password", b"NaCl", 1024, 8, 16, 0, 64),
            (b"pleaseletmein", b"SodiumChloride", 16384, 8, 1, 0, 64),
            (b"secret", b"salt", 32768, 8, 1, 132 * 32768 * 8, 64),
            (b"x", b"y", 16, 1, 1, 0, 1),
            (b"x", b"y", 16, 1, 1, 0, 200),
        ]
        for password, salt, n, r, p, maxmem, dklen in vectors:
            with self.subTest(n=n, r=r, p=p, dklen=dklen):
                self.assertEqual(
                    kdf.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen),
                    hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen),
                )
        self.assertEqual(kdf.scrypt(memoryview(b"pw"), salt=bytearray(b"s"), n=16, r=1, p=1),
                         hashlib.scrypt(b"pw", salt=b"s", n=16, r=1, p=1))
        self.assertEqual(HOST.calls[0], ("scrypt", b"", b"", 16, 1, 1, 0, 64))

    def test_scrypt_refuses_what_cpython_refuses(self):
        ok = dict(salt=b"s", n=16, r=1, p=1)
        calls = [
            lambda h: h.scrypt("pw", **ok),
            lambda h: h.scrypt(b"pw", **{**ok, "salt": "s"}),
            lambda h: h.scrypt(b"pw", n=16, r=1, p=1),
            lambda h: h.scrypt(b"pw", salt=b"s", r=1, p=1),
            lambda h: h.scrypt(b"pw", salt=b"s", n=16, p=1),
            lambda h: h.scrypt(b"pw", salt=b"s", n=16, r=1),
            lambda h: h.scrypt(b"pw", **{**ok, "n": 16.0}),
            lambda h: h.scrypt(b"pw", **{**ok, "r": "1"}),
            lambda h: h.scrypt(b"pw", **{**ok, "n": -16}),
            lambda h: h.scrypt(b"pw", **{**ok, "n": 2**64}),
            lambda h: h.scrypt(b"pw", **{**ok, "r": -1}),
            lambda h: h.scrypt(b"pw", **{**ok, "p": 2**64}),
            lambda h: h.scrypt(b"pw", **{**ok, "n": 0}),
            lambda h: h.scrypt(b"pw", **{**ok, "n": 1}),
            lambda h: h.scrypt(b"pw", **{**ok, "n": 24}),
            lambda h: h.scrypt(b"pw", **{**ok, "maxmem": -1}),
            lambda h: h.scrypt(b"pw", **{**ok, "maxmem": 2**31}),
            lambda h: h.scrypt(b"pw", **{**ok, "maxmem": 2**63}),
            lambda h: h.scrypt(b"pw", **{**ok, "dklen": 0}),
            lambda h: h.scrypt(b"pw", **{**ok, "dklen": 2**31}),
            lambda h: h.scrypt(b"pw", **{**ok, "dklen": 1.0}),
            lambda h: h.scrypt(b"pw", **{**ok, "r": 0}),
            lambda h: h.scrypt(b"pw", **{**ok, "p": 0}),
            # The argument's type is checked before the salt is required.
            lambda h: h.scrypt(b"pw", n=1.5),
        ]
        for index, call in enumerate(calls):
            with self.subTest(index=index):
                self.assert_same_error(call)
        for call in [
            lambda h: h.scrypt(b"pw", b"s", 16, 1, 1),
            # OpenSSL: r·p of 2^30 or more.
            lambda h: h.scrypt(b"pw", **{**ok, "r": 2**32}),
            lambda h: h.scrypt(b"pw", **{**ok, "r": 2**15, "p": 2**15}),
            # OpenSSL: memory beyond maxmem (32 MiB when 0).
            lambda h: h.scrypt(b"pw", salt=b"s", n=2**20, r=8, p=1),
        ]:
            with self.subTest(call=call):
                self.assert_same_error(call, message=False)

    def test_host_refusals_become_cpython_s_exceptions(self):
        cases = [
            (KdfError_Invalid("n must be a power of 2."), ValueError, "^n must be a power of 2.$"),
            (KdfError_MemoryLimit(), ValueError, "^memory limit exceeded"),
            (KdfError_TooCostly("10 HMAC rounds"), ValueError, "10 HMAC rounds.*wasm-gateway's limit"),
            (KdfError_Deadline(), RuntimeError, "deadline"),
        ]
        for error, kind, pattern in cases:
            HOST.fail = error
            with self.subTest(error=error):
                with self.assertRaisesRegex(kind, pattern):
                    kdf.pbkdf2_hmac("sha256", b"pw", b"s", 1)
                with self.assertRaisesRegex(kind, pattern):
                    kdf.scrypt(b"pw", salt=b"s", n=16, r=1, p=1)

    def test_at_build_time_pbkdf2_is_python_s_and_scrypt_waits_for_the_host(self):
        kdf._building = True
        for name in HASHES:
            with self.subTest(name=name):
                self.assertEqual(kdf.pbkdf2_hmac(name, b"password", b"salt", 20, 33),
                                 hashlib.pbkdf2_hmac(name, b"password", b"salt", 20, 33))
        with self.assertRaisesRegex(RuntimeError, "only at run time"):
            kdf.scrypt(b"pw", salt=b"s", n=16, r=1, p=1)
        # Its argument checks are CPython's all the same.
        with self.assertRaisesRegex(ValueError, "n must be a power of 2"):
            kdf.scrypt(b"pw", salt=b"s", n=15, r=1, p=1)
        self.assertEqual(HOST.calls, [], "no host while building")
        kdf.built()
        self.assertFalse(kdf._building)
        kdf.pbkdf2_hmac("sha256", b"password", b"salt", 1)
        self.assertEqual(len(HOST.calls), 1)

    def test_install_adds_only_what_hashlib_lacks(self):
        fake = types.ModuleType("hashlib")
        fake.__all__ = ("md5", "new")
        real = kdf.hashlib
        try:
            kdf.hashlib = fake
            kdf.install()
            self.assertIs(fake.pbkdf2_hmac, kdf.pbkdf2_hmac)
            self.assertIs(fake.scrypt, kdf.scrypt)
            self.assertEqual(fake.__all__, ("md5", "new", "pbkdf2_hmac", "scrypt"))
            kdf.install()
            self.assertEqual(fake.__all__, ("md5", "new", "pbkdf2_hmac", "scrypt"))
            # A CPython with OpenSSL keeps its own.
            kdf.hashlib = real
            own = hashlib.pbkdf2_hmac
            kdf.install()
            self.assertIs(hashlib.pbkdf2_hmac, own)
        finally:
            kdf.hashlib = real


if __name__ == "__main__":
    unittest.main()
