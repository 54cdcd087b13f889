"""The first stage of `wasm-gateway python build`: compiles every module the
component could import at run time into a code store, with the component's
own CPython (its bytecode format is the one that will load it).

componentize-py runs this module in a build of its own, with the same
search path as the real build (`/python` the standard library, `/world` and
`/bundled` componentize-py's, `/1` the application, `/2` its packages), and
never writes a component: the module ends the run on purpose once the store
is written. The real build's entry module then loads the store and installs
it as an import hook (`wasm_gateway_codestore`), so a module first imported
at run time, when none of these directories exist, is found there.

Compiling here, and not in the entry module, keeps the compiler's garbage out
of the snapshot: a run that compiles hundreds of modules leaves tens of
megabytes of dirty heap behind, which the snapshot would carry.

Writes `wasm_gateway_code.bin` (the store, see `wasm_gateway_codestore`) and
`wasm_gateway_stage.json` (what went in) beside this file.
"""

import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import marshal  # noqa: E402
import os  # noqa: E402
import zlib  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))

# Directories never walked: test suites, GUI toolkits and installers of the
# standard library (they cannot run in the sandbox and are large), caches,
# and anything whose name cannot be imported (`*.dist-info`, `bin`).
_PRUNE = {"__pycache__", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip",
          "venv", "site-packages", "lib2to3", "pydoc_data"}


# What of the build's own directory (this module's) goes into the store: the
# adapter and the SDK, which an app may import lazily (`wasm_gateway.kv`).
# The rest there is the build's (the app's copy, the packages, the WIT) or
# never imported again.
_OURS = {"wasm_gateway", "wasm_gateway_wsgi", "wasm_gateway_codestore"}


def _roots():
    """The search path entries to walk, in the order the interpreter
    searches them: the first module of a name wins, as at run time."""
    roots = []
    for entry in sys.path:
        if not os.path.isdir(entry) or entry in roots:
            continue
        roots.append(entry)
    return roots


def _modules(root):
    """(name, path, is_package) for every module under `root`, and the
    namespace packages (directories of modules with no `__init__.py`) of a
    root that is not the standard library."""
    stdlib = os.path.isfile(os.path.join(root, "os.py"))
    for directory, dirs, files in os.walk(root):
        rel = os.path.relpath(directory, root)
        parts = [] if rel == "." else rel.split(os.sep)
        dirs[:] = sorted(d for d in dirs if d not in _PRUNE and d.isidentifier())
        if parts and "__init__.py" not in files:
            has_code = any(f.endswith(".py") for f in files) or any(
                os.path.isfile(os.path.join(directory, d, "__init__.py")) for d in dirs)
            if stdlib or not has_code:
                dirs[:] = []
                continue
            yield ".".join(parts), directory, None
        for file in sorted(files):
            stem, ext = os.path.splitext(file)
            if ext != ".py" or not stem.isidentifier():
                continue
            path = os.path.join(directory, file)
            if stem == "__init__":
                if parts:
                    yield ".".join(parts), path, True
            else:
                yield ".".join(parts + [stem]), path, False


def _stage():
    store = {}
    roots = {}
    skipped = []
    for root in _roots():
        count = size = 0
        for name, path, is_package in _modules(root):
            if name in store or (root == _HERE and name.partition(".")[0] not in _OURS):
                continue
            if is_package is None:
                # A namespace package: no code, its directory to search.
                store[name] = (None, path, b"")
                continue
            try:
                with open(path, "rb") as file:
                    source = file.read()
                code = compile(source, path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError, OSError) as error:
                skipped.append(f"{name} ({type(error).__name__})")
                continue
            blob = zlib.compress(marshal.dumps(code), 6)
            store[name] = (is_package, path, blob)
            count += 1
            size += len(blob)
        roots[root] = {"modules": count, "bytes": size}
    with open(os.path.join(_HERE, "wasm_gateway_code.bin"), "wb") as file:
        marshal.dump(store, file)
    with open(os.path.join(_HERE, "wasm_gateway_stage.json"), "w") as file:
        json.dump({"roots": roots, "modules": len(store), "skipped": skipped}, file)


_stage()
# Done: no component is wanted from this run.
raise SystemExit("wasm-gateway: code store staged")
