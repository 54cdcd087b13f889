"""The Python side of wasm-gateway: runs a PEP 3333 (WSGI) application as a
component of the `wasm-gateway:wsgi/app` world.

`wasm-gateway python build MODULE:CALLABLE` generates a small entry module
that imports the application, hands it to `serve()` and exposes the
`Application` class componentize-py looks for. Everything the application
sees is plain WSGI:

- `environ` is a real `dict` of native strings (bytes from the wire decoded
  as latin-1, so nothing is lost), with every `wsgi.*` key;
- `wsgi.input` streams the request body from the host on demand;
- `wsgi.errors` goes to the server's log, tagged with the app and request;
- `start_response(status, headers, exc_info=None)` validates its input and
  returns the legacy `write()` callable;
- the returned iterable is pulled chunk by chunk as the host sends the
  body, and its `close()` runs when the host drops the body.

An exception the application lets through is never a trap (which would cost
the instance): it is logged with its traceback to `wsgi.errors` and handed
to the host as an application error, which answers 500 if no header was
sent yet and aborts the response otherwise.

Outbound HTTP: `wasm_gateway_wsgi.outbound` sends requests through
`wasi:http/outgoing-handler` under the app's `outbound-http` grant, and
importing this package installs a `urllib.request` opener that uses it, so
`urlopen` works for plain http and https.

Password hashing: `wasm_gateway_wsgi.kdf` gives `hashlib` the
`pbkdf2_hmac` and `scrypt` CPython has only with OpenSSL, derived by the
host; the entry module installs them before it imports the application.

This module is imported at build time, where the host's functions do not
exist yet; it touches them only while a request is being served.
"""

import sys
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import server
# The world also imports wasi:http's `types`, so componentize-py names ours
# after its package.
from wit_world.imports import wasm_gateway_wsgi_types as types

__all__ = ["serve", "environ_for", "warm_up", "Application", "InputStream", "ErrorStream"]

# The application served by this component, set once by `serve()`.
_app = None

_CHUNK = 64 * 1024
# `read_line` with no size still asks the host for a bounded piece at a time:
# a line is assembled here, so one huge line cannot make the host allocate it
# whole in one call.
_LINE_PIECE = 64 * 1024


def serve(app):
    """Makes `app` (a WSGI callable) the application this component serves."""
    global _app
    if not callable(app):
        raise TypeError(f"the WSGI application must be callable, got {type(app).__name__}")
    _app = app


class InputError(OSError):
    """Reading `wsgi.input` failed: the client went away, the body broke its
    framing, was too large or too slow. The host has already chosen the
    answer (400, 408 or 413 if no header was sent); the application should
    stop."""


_INPUT_ERRORS = {
    "InputError_Disconnected": "the client closed the connection before the request body was complete",
    "InputError_TooLarge": "the request body exceeds the server's size limit",
    "InputError_TimedOut": "the client sent no request body data for too long",
    "InputError_Malformed": "the request body's framing is broken",
}


def _input_error(err):
    name = type(err.value).__name__
    return InputError(_INPUT_ERRORS.get(name, f"reading the request body failed ({name})"))


class InputStream:
    """`wsgi.input`: the request body, read from the host as the application
    asks for it. `read(n)` returns `n` bytes unless the body ends first, like
    a buffered file; reading past the end returns `b""`."""

    __slots__ = ("_buffer", "_eof")

    def __init__(self):
        self._buffer = b""
        self._eof = False

    def _fetch(self, size, line):
        if self._eof:
            return b""
        try:
            data = server.read_line(size) if line else server.read(size)
        except Err as err:
            raise _input_error(err) from None
        if not data:
            self._eof = True
        return data

    def read(self, size=-1):
        if size is None or size < 0:
            parts = [self._buffer]
            self._buffer = b""
            while True:
                data = self._fetch(_CHUNK, False)
                if not data:
                    return b"".join(parts)
                parts.append(data)
        if len(self._buffer) >= size:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        parts = [self._buffer]
        have = len(self._buffer)
        self._buffer = b""
        while have < size:
            data = self._fetch(size - have, False)
            if not data:
                break
            parts.append(data)
            have += len(data)
        return b"".join(parts)

    def readline(self, size=-1):
        limit = None if size is None or size < 0 else size
        if self._buffer:
            end = self._buffer.find(b"\n")
            cut = end + 1 if end >= 0 else len(self._buffer)
            if limit is not None:
                cut = min(cut, limit)
            line, self._buffer = self._buffer[:cut], self._buffer[cut:]
            if line.endswith(b"\n") or (limit is not None and len(line) >= limit):
                return line
            parts, have = [line], len(line)
        else:
            parts, have = [], 0
        while limit is None or have < limit:
            want = _LINE_PIECE if limit is None else min(_LINE_PIECE, limit - have)
            data = self._fetch(want, True)
            if not data:
                break
            parts.append(data)
            have += len(data)
            if data.endswith(b"\n"):
                break
        return b"".join(parts)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class ErrorStream:
    """`wsgi.errors`: text written here reaches the server's log, a line at a
    time, tagged with the application and the request. A line still open
    when the request ends is logged then."""

    __slots__ = ("_pending",)

    def __init__(self):
        self._pending = ""

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, got {type(text).__name__}")
        text = self._pending + text
        end = text.rfind("\n")
        if end < 0:
            self._pending = text
            return
        self._pending = text[end + 1:]
        server.log(text[:end])

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._pending:
            pending, self._pending = self._pending, ""
            server.log(pending)


def _native(data):
    # PEP 3333 "native strings": bytes from the wire as latin-1, losslessly.
    return data.decode("latin-1")


def _http_key(name):
    # Same rules as the Rust SDK: no HTTP_* variable for Content-Type and
    # Content-Length (they have CGI names), nor for names with `_`, which would
    # collide with their `-` spelling (a header smuggling vector).
    if "_" in name or name in ("content-type", "content-length"):
        return None
    return "HTTP_" + name.upper().replace("-", "_")


def environ_for(record, wsgi_input, wsgi_errors):
    """The PEP 3333 environ dict for the host's environ record."""
    environ = {
        "REQUEST_METHOD": record.request_method,
        "SCRIPT_NAME": _native(record.script_name),
        "PATH_INFO": _native(record.path_info),
        "QUERY_STRING": _native(record.query_string),
        "REQUEST_URI": _native(record.request_uri),
        "SERVER_NAME": record.server_name,
        "SERVER_PORT": str(record.server_port),
        "SERVER_PROTOCOL": record.server_protocol,
        "SERVER_SOFTWARE": "wasm-gateway",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REMOTE_ADDR": record.remote_addr,
        "REMOTE_PORT": str(record.remote_port),
    }
    if record.content_type is not None:
        environ["CONTENT_TYPE"] = _native(record.content_type)
    if record.content_length is not None:
        environ["CONTENT_LENGTH"] = str(record.content_length)
    for header in record.headers:
        key = _http_key(header.name)
        if key is None:
            continue
        value = _native(header.value)
        if key in environ:
            separator = "; " if key == "HTTP_COOKIE" else ", "
            environ[key] = environ[key] + separator + value
        else:
            environ[key] = value
    for name, value in record.extra:
        environ[name] = value
    environ["wsgi.version"] = (1, 0)
    environ["wsgi.url_scheme"] = record.url_scheme
    environ["wsgi.input"] = wsgi_input
    environ["wsgi.errors"] = wsgi_errors
    environ["wsgi.multithread"] = record.multithread
    environ["wsgi.multiprocess"] = record.multiprocess
    environ["wsgi.run_once"] = record.run_once
    environ["wsgi.input_terminated"] = record.input_terminated
    return environ


class WSGIError(ValueError):
    """The host refused a `start_response` call (a bad status line or header,
    a second call without `exc_info`). The message says which value."""


_START_ERRORS = {
    "StartResponseError_InvalidStatus": "invalid status line",
    "StartResponseError_InvalidHeader": "invalid header",
    "StartResponseError_HopByHopHeader": "hop-by-hop header (PEP 3333 reserves it to the server)",
}


class _Request:
    """One request's `start_response`, `write` and error stream."""

    __slots__ = ("errors", "started")

    def __init__(self, errors):
        self.errors = errors
        self.started = False

    def start_response(self, status, headers, exc_info=None):
        if not isinstance(status, str):
            raise TypeError(f"status must be a str such as '200 OK', got {type(status).__name__}")
        if not isinstance(headers, list):
            raise TypeError(f"response headers must be a list of (name, value) tuples, got {type(headers).__name__}")
        wit_headers = []
        for header in headers:
            if not (isinstance(header, tuple) and len(header) == 2):
                raise TypeError(f"each response header must be a (name, value) tuple, got {header!r}")
            name, value = header
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"header names and values must be str, got {header!r}")
            try:
                raw = value.encode("latin-1")
            except UnicodeEncodeError:
                raise WSGIError(f"header {name!r}: value is not latin-1 (PEP 3333); encode it, e.g. RFC 8187") from None
            wit_headers.append(types.Header(name, raw))
        description = None
        if exc_info is not None:
            description = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        elif self.started:
            raise WSGIError("start_response was already called; a second call needs exc_info")
        try:
            server.start_response(status, wit_headers, description)
        except Err as err:
            kind = type(err.value).__name__
            if kind == "StartResponseError_HeadersSent":
                # PEP 3333: the headers are gone, so the error must propagate.
                raise exc_info[1].with_traceback(exc_info[2])
            if kind == "StartResponseError_AlreadyStarted":
                raise WSGIError("start_response was already called; a second call needs exc_info") from None
            detail = getattr(err.value, "value", "")
            raise WSGIError(f"{_START_ERRORS.get(kind, kind)}: {detail}") from None
        finally:
            exc_info = None  # PEP 3333: no reference cycle through the traceback
        self.started = True
        return _write


def _write(data):
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"write() takes bytes, got {type(data).__name__}; encode it first (PEP 3333)")
    try:
        server.write(bytes(data))
    except Err as err:
        if type(err.value).__name__ == "WriteError_NotStarted":
            raise WSGIError("write() was called before start_response") from None
        raise OSError("the client went away") from None


def _failure(errors, where):
    """Logs the exception being handled with its traceback to `wsgi.errors`
    and returns the host's application error for it."""
    kind, value, tb = sys.exc_info()
    try:
        errors.write(f"wasm-gateway: the application raised an exception {where}:\n")
        errors.write("".join(traceback.format_exception(kind, value, tb)))
        errors.flush()
    except BaseException:
        pass
    summary = "".join(traceback.format_exception_only(kind, value)).strip()
    return Err(types.AppError(f"Python exception {where}: {summary}"))


class _Body:
    """The response body resource: pulls the application's iterable.

    WSGI's `close()` runs when the body ends or when producing it fails. Not
    at the drop itself: componentize-py 0.25 never releases an exported
    resource (its destructor is a no-op and it keeps a reference), so this
    object outlives the drop. (A body dropped early belongs to an instance
    the host discards: one whose client left, or whose response failed.)
    `close()` also lets go of everything it holds, leaving an empty shell
    behind."""

    def __init__(self, result, errors):
        self._result = result
        self._errors = errors
        self._closed = False
        self._iter = None

    def next(self):
        if self._closed:
            return None
        try:
            if self._iter is None:
                self._iter = iter(self._result)
            for chunk in self._iter:
                if chunk.__class__ is not bytes:
                    if isinstance(chunk, (bytes, bytearray, memoryview)):
                        chunk = bytes(chunk)
                    else:
                        raise TypeError(
                            f"the response body must yield bytes, got {type(chunk).__name__}; "
                            "encode it first (PEP 3333)"
                        )
                if chunk:
                    return chunk
        except BaseException:
            error = _failure(self._errors, "while producing the response body")
            self.close()
            raise error from None
        self.close()
        return None

    def close(self):
        if self._closed:
            return
        self._closed = True
        close = getattr(self._result, "close", None)
        try:
            if close is not None:
                close()
        except BaseException:
            _failure(self._errors, "in close()")
        finally:
            # Outbound responses the app left open end with its request.
            outbound.close_outstanding()
            self._errors.flush()
            self._result = self._iter = self._errors = None

    # Should a later componentize-py release dropped resources, the drop
    # itself closes the body.
    def __del__(self):
        self.close()


class Application(exports.Application):
    """The component's export: one WSGI call per request."""

    def call(self, record):
        errors = ErrorStream()
        request = _Request(errors)
        environ = environ_for(record, InputStream(), errors)
        try:
            result = _app(environ, request.start_response)
        except BaseException:
            outbound.close_outstanding()
            raise _failure(errors, "before returning its response") from None
        if isinstance(result, (str, bytes)):
            # Iterating a str or bytes would send it a character at a time.
            outbound.close_outstanding()
            errors.flush()
            raise Err(types.AppError(
                f"the application returned a {type(result).__name__}, not an iterable of bytes; "
                "wrap it in a list (PEP 3333)"
            ))
        return _Body(result, errors)


class _LocalRecord:
    """A request as the build sees it: enough of the environ record to run a
    warm-up request through the application with no host around."""

    def __init__(self, path, method="GET"):
        path, _, query = path.partition("?")
        self.request_method = method
        self.script_name = b""
        self.path_info = path.encode("latin-1")
        self.query_string = query.encode("latin-1")
        self.request_uri = (path + ("?" + query if query else "")).encode("latin-1")
        self.content_type = None
        self.content_length = None
        self.server_name = "localhost"
        self.server_port = 8000
        self.server_protocol = "HTTP/1.1"
        self.remote_addr = "127.0.0.1"
        self.remote_port = 40000
        self.url_scheme = "http"
        self.headers = [types.Header("host", b"localhost:8000"), types.Header("user-agent", b"wasm-gateway-warmup")]
        self.extra = []
        self.multithread = False
        self.multiprocess = True
        self.run_once = False
        self.input_terminated = True


class _LocalErrors:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.append(text)

    def writelines(self, lines):
        self.lines.extend(lines)

    def flush(self):
        pass


class _EmptyInput:
    def read(self, size=-1):
        return b""

    def readline(self, size=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def __iter__(self):
        return iter(())


def warm_up(paths):
    """Runs a GET request for each path through the application, at build
    time, so that every module and codec it touches lazily is imported
    into the snapshot. Returns `(path, status)` pairs; raises if the
    application fails on one, with its traceback."""
    results = []
    for path in paths:
        status = []

        def start_response(line, headers, exc_info=None):
            status[:] = [line]
            return lambda data: None

        errors = _LocalErrors()
        environ = environ_for(_LocalRecord(path), _EmptyInput(), errors)
        result = _app(environ, start_response)
        try:
            for _ in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        results.append((path, status[0] if status else "(no start_response)"))
    return results


# Last: installs the urllib opener (and needs nothing above).
from . import outbound  # noqa: E402
