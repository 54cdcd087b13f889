"""Run-time imports for a component built by `wasm-gateway python build`.

At run time the directories the build imported from (the standard library,
the application, its packages) do not exist in the sandbox, so a module
that was not imported before the snapshot could not be found. The build's
first stage (`wasm_gateway_stage`) compiled every module it could find into
a store; the entry module loads it into the snapshot with `install`, and
this finder serves from it: a lazy `import statistics` inside a view, or
Django importing its error handlers on the first 404, works as it does
under gunicorn, at the cost of decompressing and executing the module.

The store maps a dotted module name to `(is_package, path, code)`: `code`
is the zlib-compressed `marshal` of the module's code object, compiled by
this very CPython; `is_package` is None for a namespace package (a
directory of modules with no `__init__.py`). Paths are where the build
found the files, so `__file__` and `__path__` are what they were at build
time (and the application's own files are readable there at run time: the
host mounts them read-only).
"""

import marshal
import sys
import zlib
from importlib.machinery import ModuleSpec, PathFinder


class CodeStore:
    """A meta path finder and loader over the compiled modules of the build."""

    def __init__(self, modules):
        self._modules = modules

    def __len__(self):
        return len(self._modules)

    @property
    def size(self):
        """The compressed code held, in bytes."""
        return sum(len(entry[2]) for entry in self._modules.values())

    def find_spec(self, name, path=None, target=None):
        entry = self._modules.get(name)
        if entry is None:
            return None
        is_package, origin, _ = entry
        if is_package is None:
            spec = ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [origin]
            return spec
        spec = ModuleSpec(name, self, origin=origin, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [origin.rpartition("/")[0]]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__spec__.name), module.__dict__)

    def get_code(self, name):
        entry = self._modules.get(name)
        if entry is None or entry[0] is None:
            raise ImportError(f"no code for {name!r} in the code store", name=name)
        return marshal.loads(zlib.decompress(entry[2]))

    def is_package(self, name):
        entry = self._modules.get(name)
        if entry is None:
            raise ImportError(f"no module {name!r} in the code store", name=name)
        return bool(entry[0]) or entry[0] is None

    def get_filename(self, name):
        return self._modules[name][1]

    def get_source(self, name):
        # The application's sources are mounted where the build found them,
        # so linecache reads them by path; the rest has none to give.
        try:
            with open(self.get_filename(name), encoding="utf-8") as file:
                return file.read()
        except (OSError, UnicodeDecodeError, KeyError):
            return None

    def invalidate_caches(self):
        pass


def install(path):
    """Loads the store at `path`, keeps the modules not imported yet, and
    puts the finder just before the path finder: a module imported at run
    time is found without a look at directories that do not exist."""
    with open(path, "rb") as file:
        modules = marshal.load(file)
    for name in [name for name in modules if name in sys.modules]:
        del modules[name]
    store = CodeStore(modules)
    position = next((i for i, finder in enumerate(sys.meta_path) if finder is PathFinder),
                    len(sys.meta_path))
    sys.meta_path.insert(position, store)
    return store
