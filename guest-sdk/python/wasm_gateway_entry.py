"""The entry module of a component built by `wasm-gateway python build`.

componentize-py imports this module at build time and snapshots the
interpreter right after, so everything done here is done once, not per
request: `hashlib.pbkdf2_hmac` and `hashlib.scrypt` are installed (the
host derives them), the application is imported, the modules WSGI apps
tend to import lazily are imported too, warm-up requests run through the
application, and the objects that now exist are frozen out of the garbage
collector's sight. At run time the build's directories are gone: a module
imported later comes from the code store the build's first stage compiled
(`wasm_gateway_codestore`), installed here last. Importing ahead is still
the fast path: a module in the snapshot costs nothing per request.

The build writes `wasm_gateway_build.json` beside this file (what to import
and how) and reads back `wasm_gateway_report.json` (what was bundled, or why
it failed).
"""

import sys

# The build imports the application from its own directory, mounted
# writable: no `__pycache__` may be left behind in the user's tree (nor in
# the packages' directories). Set before anything else is imported.
sys.dont_write_bytecode = True

import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pkgutil  # noqa: E402
import traceback  # noqa: E402

import wasm_gateway_codestore  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(_HERE, "wasm_gateway_build.json")) as _file:
    _SETTINGS = json.load(_file)

# Modules of the standard library that web applications and their frameworks
# import lazily, often on the first request that needs them: codecs looked up
# by name (`str.encode("idna")`), email and cookie parsing, JSON, hashing,
# dates. Importing them here costs a few hundred kilobytes of snapshot; a
# missing one costs a failed request.
_STDLIB = [
    "encodings.ascii", "encodings.latin_1", "encodings.utf_8", "encodings.utf_8_sig",
    "encodings.utf_16", "encodings.utf_32", "encodings.idna", "encodings.punycode",
    "encodings.raw_unicode_escape", "encodings.unicode_escape", "encodings.cp1252",
    "encodings.base64_codec", "encodings.hex_codec", "encodings.charmap",
    "stringprep", "unicodedata", "codecs",
    "json", "json.decoder", "json.encoder", "json.scanner",
    "email", "email.parser", "email.feedparser", "email.message", "email.policy",
    "email.utils", "email.header", "email.charset", "email.encoders",
    "email.headerregistry", "email._header_value_parser", "email.mime.text",
    "email.mime.multipart", "email.mime.base",
    "http", "http.cookies", "http.client", "http.server",
    "urllib", "urllib.parse", "urllib.request", "urllib.error", "urllib.response",
    "html", "html.parser", "html.entities", "mimetypes", "quopri",
    "base64", "binascii", "hashlib", "hmac", "secrets", "uuid", "zlib", "gzip",
    "datetime", "time", "calendar", "locale", "decimal", "fractions", "numbers",
    "io", "tempfile", "shutil", "struct", "copy", "pprint", "string", "textwrap",
    "re", "fnmatch", "operator", "functools", "itertools", "collections",
    "collections.abc", "typing", "dataclasses", "enum", "contextlib", "contextvars",
    "ipaddress", "random", "bisect", "heapq", "weakref", "logging",
    "logging.handlers", "traceback", "warnings", "inspect", "ast", "dis",
    "wsgiref", "wsgiref.util", "wsgiref.headers", "wsgiref.validate",
    "importlib.metadata", "zoneinfo", "sqlite3",
]

# Submodules never imported when a package is walked: test suites and entry
# points that run something on import.
_SKIP_PARTS = {"__main__", "tests", "test", "conftest"}

_OURS = {"wasm_gateway_entry", "wasm_gateway_codestore", "wasm_gateway_wsgi", "wasm_gateway",
         "wit_world", "componentize_py_types", "componentize_py_runtime",
         "componentize_py_async_support", "poll_loop"}


def _report(data):
    with open(os.path.join(_HERE, "wasm_gateway_report.json"), "w") as file:
        json.dump(data, file)


def _fail(stage, **details):
    details["stage"] = stage
    details["traceback"] = traceback.format_exc()
    kind, value, _ = sys.exc_info()
    details["exception"] = "".join(traceback.format_exception_only(kind, value)).strip()
    if isinstance(value, ModuleNotFoundError):
        details["missing_module"] = value.name
    _report({"ok": False, "error": details})


def _resolve(module, path):
    target = module
    for attribute in path.split("."):
        target = getattr(target, attribute)
    return target


def _walk(package):
    """Imports every submodule of a third-party package, best effort:
    frameworks import some of theirs lazily. Returns those that failed."""
    failed = []
    path = getattr(package, "__path__", None)
    if path is None:
        return failed
    for info in pkgutil.walk_packages(path, package.__name__ + ".", onerror=lambda name: None):
        if _SKIP_PARTS.intersection(info.name.split(".")):
            continue
        if info.name in sys.modules:
            continue
        try:
            importlib.import_module(info.name)
        except BaseException as error:  # noqa: BLE001 - anything a module does on import
            failed.append(f"{info.name} ({type(error).__name__}: {error})")
    return failed


def _top_level(name):
    return name.partition(".")[0]


def _third_party():
    stdlib = sys.stdlib_module_names
    names = set()
    for name, module in list(sys.modules.items()):
        top = _top_level(name)
        if top in stdlib or top in _OURS or top.startswith("_") or module is None:
            continue
        names.add(top)
    return sorted(names)


def _version(name):
    try:
        from importlib import metadata
        for dist in metadata.packages_distributions().get(name, [name]):
            return metadata.version(dist)
    except Exception:  # noqa: BLE001 - metadata is a nicety in the report
        return None
    return None


def _build():
    module_name, _, callable_path = _SETTINGS["target"].partition(":")
    # `hashlib.pbkdf2_hmac` and `hashlib.scrypt` (the host's), before the
    # application looks for them: some code checks at import.
    from wasm_gateway_wsgi import kdf

    kdf.install()
    # The host's key-value stores are not there during the build.
    import wasm_gateway

    wasm_gateway._building = True
    try:
        module = importlib.import_module(module_name)
    except BaseException:
        _fail("import", module=module_name)
        raise
    try:
        app = _resolve(module, callable_path)
    except AttributeError:
        _fail("callable", module=module_name, callable=callable_path)
        raise

    import wasm_gateway_wsgi

    if _SETTINGS.get("validate"):
        import warnings
        from wsgiref import validate

        # Any complaint of the validator must fail the request, not scroll by.
        warnings.simplefilter("error", validate.WSGIWarning)
        app = validate.validator(app)
    try:
        wasm_gateway_wsgi.serve(app)
    except TypeError:
        _fail("callable", module=module_name, callable=callable_path)
        raise

    skipped = []
    for name in _STDLIB:
        try:
            importlib.import_module(name)
        except BaseException as error:  # noqa: BLE001
            skipped.append(f"{name} ({type(error).__name__})")
    if _SETTINGS.get("import_packages", False):
        for name in _third_party():
            skipped.extend(_walk(sys.modules[name]))

    try:
        warmed = wasm_gateway_wsgi.warm_up(_SETTINGS.get("warmup", []))
    except BaseException:
        _fail("warmup")
        raise

    store = wasm_gateway_codestore.install(os.path.join(_HERE, "wasm_gateway_code.bin"))
    packages = [{"name": name, "version": _version(name)} for name in _third_party()]
    stdlib = sorted({_top_level(n) for n in sys.modules if _top_level(n) in sys.stdlib_module_names})
    _report({
        "ok": True,
        "python": sys.version.split()[0],
        "modules": len(sys.modules),
        "code_store": len(store),
        "code_store_bytes": store.size,
        "packages": packages,
        "stdlib": stdlib,
        "skipped": skipped,
        "warmup": [{"path": path, "status": status} for path, status in warmed],
    })


_build()

# The snapshot comes next: from now on password hashing is the host's (at
# build time PBKDF2 was derived in Python, and scrypt refused).
from wasm_gateway_wsgi import kdf  # noqa: E402

kdf.built()
import wasm_gateway  # noqa: E402

wasm_gateway._building = False

# Everything imported so far lives as long as the instance: keep the cyclic
# collector from walking it (and touching its pages) on every collection.
gc.collect()
gc.freeze()

from wasm_gateway_wsgi import Application  # noqa: E402,F401 - the export componentize-py looks for
