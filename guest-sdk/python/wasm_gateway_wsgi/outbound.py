"""Outbound HTTP for Python apps: requests out of the sandbox through
`wasi:http/outgoing-handler`, under the operator's `outbound-http` grant.

Two ways in, over the same transport:

- `urllib.request` keeps working for plain HTTP and HTTPS: importing the
  adapter installs an opener whose http and https handlers send through
  wasi:http, so `urlopen(url)` and `urlopen(Request(url, data=...,
  method="POST"))` do what they do under CPython. 4xx and 5xx raise
  `urllib.error.HTTPError`, redirects are followed (each hop needs the
  grant), and a refused or failed call raises `urllib.error.URLError` whose
  `reason` is the `OutboundError` below.
- `request(method, url, headers=None, body=None, timeout=None)` returns a
  `Response` with `status`, `reason`, `headers`, `body` (bytes), `text()`
  and `json()`; it raises `OutboundError` (an `OSError`) only when no
  response came, never for a 4xx or 5xx.

A destination the app's grant does not allow fails with `OutboundDenied`,
whose message names the origin to add to the grant. Every failure carries
the wasi:http `error-code` case in `.code` (e.g. `"HTTP-request-denied"`,
`"connection-refused"`) and its payload, if any, in `.detail`.

What does not work: sockets (so `http.client`, `requests`, `httpx` and
`urllib3` do not, nor `urlopen(..., context=...)`, which builds an opener of
its own), proxies, `ftp:` and `file:` URLs. The host fixes the transport: TLS
verification, the connection cap and the timeouts (at most what is left of
the request's deadline).
"""

import http.client
import io
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus

from componentize_py_types import Err
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as wasi

__all__ = [
    "request",
    "Response",
    "OutboundError",
    "OutboundDenied",
    "OutboundTimeout",
    "WasiHTTPHandler",
    "WasiHTTPSHandler",
    "build_opener",
]

_CHUNK = 64 * 1024
# `blocking-write-and-flush` takes at most 4096 bytes a call.
_WRITE = 4096

# Fields the transport owns: wasi:http refuses them in a request (the host
# sets Host from the URL and frames the body itself), and urllib adds some of
# them on its own. They are left out, not refused.
_TRANSPORT_FIELDS = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
    "upgrade", "host", "http2-settings",
})

_METHODS = {
    "GET": wasi.Method_Get, "HEAD": wasi.Method_Head, "POST": wasi.Method_Post,
    "PUT": wasi.Method_Put, "DELETE": wasi.Method_Delete, "CONNECT": wasi.Method_Connect,
    "OPTIONS": wasi.Method_Options, "TRACE": wasi.Method_Trace, "PATCH": wasi.Method_Patch,
}

_TIMEOUT_CODES = frozenset({
    "DNS-timeout", "connection-timeout", "connection-read-timeout",
    "connection-write-timeout", "HTTP-response-timeout",
})

_ACRONYMS = {"http": "HTTP", "dns": "DNS", "ip": "IP", "tls": "TLS"}


class OutboundError(OSError):
    """An outbound request got no (complete) response. `code` is the
    wasi:http `error-code` case (`"connection-refused"`, ...) or None for
    an error of the adapter's own; `detail` its payload; `url` the URL."""

    def __init__(self, message, code=None, detail=None, url=None):
        super().__init__(message)
        self.code = code
        self.detail = detail
        self.url = url

    def __str__(self):
        return self.args[0] if self.args else ""


class OutboundDenied(OutboundError, PermissionError):
    """The app's `outbound-http` grant does not allow the destination
    (`HTTP-request-denied`). The message names the origin to add."""


class OutboundTimeout(OutboundError, TimeoutError):
    """A timeout: the app's own `timeout`, or what was left of the request's
    deadline."""


def code_name(error_code):
    """The WIT name of a wasi:http `error-code` value, e.g.
    `ErrorCode_HttpRequestDenied()` -> `"HTTP-request-denied"`."""
    name = type(error_code).__name__
    name = name.split("_", 1)[1] if "_" in name else name
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)
    return "-".join(_ACRONYMS.get(w.lower(), w.lower()) for w in words)


def split_url(url):
    """`(scheme, authority, path_with_query)` of an http or https URL: the
    fragment and any user info are dropped, an empty path is `/`."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(
            f"{url!r}: only http:// and https:// URLs can be fetched from a wasm-gateway app "
            f"(got {scheme + ':' if scheme else 'no scheme'})"
        )
    authority = parts.netloc.rpartition("@")[2]
    if not authority:
        raise ValueError(f"{url!r} names no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, authority, path


def origin(url):
    """`scheme://host[:port]` of `url`, as the `outbound-http` grant names
    destinations (the port only when the URL gives one)."""
    scheme, authority, _ = split_url(url)
    return f"{scheme}://{authority.lower()}"


def outbound_error(error_code, url):
    """The exception for a wasi:http `error-code` met while fetching `url`."""
    code = code_name(error_code)
    detail = getattr(error_code, "value", None)
    where = origin(url)
    if code == "HTTP-request-denied":
        return OutboundDenied(
            f"outbound request to {where} denied (HTTP-request-denied): the app's outbound-http grant "
            f"does not allow {where}; add the origin to the grant: `--outbound-http {where}`, "
            f"or `outbound-http = [\"{where}\"]` under [apps.NAME.grants]",
            code, detail, url,
        )
    if code == "destination-IP-prohibited":
        return OutboundDenied(
            f"outbound request to {where} denied (destination-IP-prohibited): it resolves to a "
            "loopback, private, link-local or otherwise internal address, which the gateway refuses "
            "unless the outbound-http grant names that IP or CIDR explicitly",
            code, detail, url,
        )
    text = f"outbound request to {where} failed: {code}"
    if detail is not None:
        text += f" ({detail})"
    kind = OutboundTimeout if code in _TIMEOUT_CODES else OutboundError
    return kind(text, code, detail, url)


def header_pairs(headers):
    """`headers` (a mapping, an `email.message.Message` or an iterable of
    pairs) as `(name, bytes)` pairs, without the fields the transport owns.
    `str` values are encoded as latin-1, as `http.client` does."""
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    pairs = []
    for name, value in items:
        if not isinstance(name, str):
            raise TypeError(f"header names must be str, got {name!r}")
        if name.lower() in _TRANSPORT_FIELDS:
            continue
        if isinstance(value, str):
            try:
                value = value.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"header {name!r}: value is not latin-1; encode it first") from None
        elif isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
        else:
            value = str(value).encode("latin-1")
        pairs.append((name, value))
    return pairs


def _chunks(body):
    """The request body as bytes pieces: bytes-like, `str` (UTF-8), a file
    (read in chunks) or an iterable of bytes."""
    if body is None:
        return
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        if body:
            yield bytes(body)
        return
    read = getattr(body, "read", None)
    if read is not None:
        while True:
            data = read(_CHUNK)
            if not data:
                return
            yield data.encode("utf-8") if isinstance(data, str) else bytes(data)
    for data in body:
        yield data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _body_length(body):
    if body is None:
        return 0
    if isinstance(body, str):
        return len(body.encode("utf-8"))
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    if isinstance(body, memoryview):
        return body.nbytes
    return None


def _drop(resource):
    if resource is not None:
        try:
            resource.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 - dropping must not mask the real error
            pass


# Exchanges not closed yet; the adapter closes them when the WSGI request
# that opened them ends, so an instance serving many requests keeps no
# connection a response object forgot.
_open = set()


class Exchange:
    """One request in flight and its response: status, header pairs and a
    body read from the host on demand. `close()` lets go of every wasi:http
    resource, children first."""

    def __init__(self, url, future, response, body, stream, status, headers):
        self.url = url
        self.status = status
        self.headers = headers
        self._future = future
        self._response = response
        self._body = body
        self._stream = stream
        _open.add(self)

    def read(self, size):
        """Up to `size` bytes (at least one unless the body ended)."""
        if self._stream is None:
            return b""
        try:
            return self._stream.blocking_read(size)
        except Err as err:
            if isinstance(err.value, streams.StreamError_Closed):
                self.close()
                return b""
            failure = err.value.value
            code = wasi.http_error_code(failure)
            _drop(failure)
            self.close()
            if code is None:
                raise OutboundError(f"reading the response of {self.url} failed", url=self.url) from None
            raise outbound_error(code, self.url) from None

    def read_all(self):
        parts = []
        while True:
            data = self.read(_CHUNK)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def close(self):
        stream, body, response, future = self._stream, self._body, self._response, self._future
        self._stream = self._body = self._response = self._future = None
        for resource in (stream, body, response, future):
            _drop(resource)
        _open.discard(self)


def close_outstanding():
    """Closes every exchange still open (the adapter calls it when a WSGI
    request ends)."""
    for exchange in list(_open):
        exchange.close()


def send(method, url, headers=None, body=None, timeout=None):
    """Sends one request through wasi:http and waits for the response's
    head; returns an open `Exchange`. Raises `OutboundError` (or a
    subclass) when no response came, `ValueError` for a request wasi:http
    cannot carry."""
    scheme, authority, path = split_url(url)
    method = method.upper()
    pairs = header_pairs(headers)
    if not any(name.lower() == "content-length" for name, _ in pairs):
        length = _body_length(body)
        if length or (length == 0 and method in ("POST", "PUT", "PATCH")):
            pairs.append(("content-length", str(length).encode()))

    fields = wasi.Fields()
    for name, value in pairs:
        try:
            fields.append(name, value)
        except Err as err:
            _drop(fields)
            kind = type(err.value).__name__.split("_", 1)[-1]
            raise ValueError(f"header {name!r} cannot be sent ({kind})") from None
    outgoing = wasi.OutgoingRequest(fields)
    try:
        method_class = _METHODS.get(method)
        outgoing.set_method(method_class() if method_class else wasi.Method_Other(method))
        outgoing.set_scheme(wasi.Scheme_Https() if scheme == "https" else wasi.Scheme_Http())
        outgoing.set_authority(authority)
        outgoing.set_path_with_query(path)
    except Err:
        _drop(outgoing)
        raise ValueError(f"{method} {url!r}: the method, host or path is not valid HTTP") from None

    options = None
    if timeout is not None:
        nanoseconds = max(0, int(timeout * 1_000_000_000))
        options = wasi.RequestOptions()
        for setter in (options.set_connect_timeout, options.set_first_byte_timeout,
                       options.set_between_bytes_timeout):
            try:
                setter(nanoseconds)
            except Err:
                pass  # the host does not take this one; its own bound holds

    outgoing_body = outgoing.body()
    try:
        future = outgoing_handler.handle(outgoing, options)
    except Err as err:
        _drop(outgoing_body)
        raise outbound_error(err.value, url) from None

    # The body goes out while the host sends the request. A write that fails
    # means the request failed: its response future says why.
    finished = False
    try:
        stream = outgoing_body.write()
        try:
            for data in _chunks(body):
                for start in range(0, len(data), _WRITE):
                    stream.blocking_write_and_flush(data[start:start + _WRITE])
        finally:
            _drop(stream)
        finished = True
        wasi.OutgoingBody.finish(outgoing_body, None)
    except Err:
        if not finished:
            _drop(outgoing_body)
    except BaseException:
        if not finished:
            _drop(outgoing_body)
        _drop(future)
        raise

    try:
        pollable = future.subscribe()
        try:
            pollable.block()
        finally:
            _drop(pollable)
        result = future.get()
    except BaseException:
        _drop(future)
        raise
    if result is None or isinstance(result, Err):
        _drop(future)
        raise OutboundError(f"no response from {url}", url=url)
    inner = result.value
    if isinstance(inner, Err):
        _drop(future)
        raise outbound_error(inner.value, url)
    response = inner.value
    status = response.status()
    fields = response.headers()
    try:
        header_list = fields.entries()
    finally:
        _drop(fields)
    try:
        incoming = response.consume()
        stream = incoming.stream()
    except Err:
        _drop(response)
        _drop(future)
        raise OutboundError(f"the response of {url} has no readable body", url=url) from None
    return Exchange(url, future, response, incoming, stream, status, header_list)


def message(pairs):
    """An `http.client.HTTPMessage` of `(name, bytes)` pairs, values decoded
    as latin-1, repeated fields kept."""
    headers = http.client.HTTPMessage()
    for name, value in pairs:
        headers[name] = value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else value
    return headers


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class Response:
    """A response to `request()`, its body read whole.

    `status` (int), `reason` (the standard phrase; wasi:http carries none),
    `headers` (an `http.client.HTTPMessage`: case-insensitive `get`,
    `get_all`), `body` (bytes), `url`; `text()`, `json()`, `ok`."""

    __slots__ = ("url", "status", "reason", "headers", "body")

    def __init__(self, url, status, headers, body):
        self.url = url
        self.status = status
        self.reason = _reason(status)
        self.headers = headers
        self.body = body

    @property
    def ok(self):
        """Whether the status is below 400."""
        return self.status < 400

    def text(self, encoding=None):
        """The body decoded with `encoding`, else the Content-Type's charset,
        else UTF-8 (undecodable bytes replaced)."""
        if encoding is None:
            encoding = self.headers.get_content_charset() or "utf-8"
        try:
            return self.body.decode(encoding, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} from {self.url}>"


def request(method, url, headers=None, body=None, timeout=None):
    """Sends `method url` with `headers` (a dict or pairs) and `body` (bytes,
    str as UTF-8, a file or an iterable of bytes), waits at most `timeout`
    seconds for each step (connect, first byte, between bytes; the host's
    deadline bounds it anyway), and returns the `Response`, its body read
    whole. Raises `OutboundDenied` when the grant does not allow the URL,
    `OutboundTimeout` on a timeout, `OutboundError` for any other failure;
    a 4xx or 5xx is a `Response` like any other."""
    exchange = send(method, url, headers, body, timeout)
    try:
        data = exchange.read_all()
    finally:
        exchange.close()
    return Response(url, exchange.status, message(exchange.headers), data)


class _RawBody(io.RawIOBase):
    """An exchange's body as a raw stream, for `io.BufferedReader`."""

    def __init__(self, exchange):
        self._exchange = exchange

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._exchange.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self):
        if not self.closed:
            self._exchange.close()
        super().close()


class WasiResponse(io.BufferedReader):
    """What `urlopen` returns: an `http.client.HTTPResponse` look-alike, the
    body read from the host as the app reads it. `status`, `code`, `reason`,
    `msg` (the reason, as urllib sets it), `headers` (an `HTTPMessage`),
    `url`, `getcode()`, `geturl()`, `info()`, `getheader(name,
    default=None)`, `getheaders()`, `read`, `readline`, iteration, and a
    context manager that closes it."""

    def __init__(self, exchange, url):
        super().__init__(_RawBody(exchange), _CHUNK)
        self.url = url
        self.status = self.code = exchange.status
        self.reason = self.msg = _reason(exchange.status)
        self.headers = message(exchange.headers)
        self.version = 11
        self.will_close = True

    def getcode(self):
        return self.status

    def geturl(self):
        return self.url

    def info(self):
        return self.headers

    def getheader(self, name, default=None):
        values = self.headers.get_all(name)
        if not values:
            return default
        return ", ".join(values)

    def getheaders(self):
        return list(self.headers.items())

    def __repr__(self):
        return f"<WasiResponse {self.status} from {self.url}>"


def _urllib_open(req):
    headers = dict(req.unredirected_hdrs)
    headers.update((k, v) for k, v in req.headers.items() if k not in headers)
    timeout = req.timeout
    if timeout is socket._GLOBAL_DEFAULT_TIMEOUT:
        timeout = None
    try:
        exchange = send(req.get_method(), req.full_url, headers, req.data, timeout)
    except OutboundError as err:
        raise urllib.error.URLError(err) from err
    return WasiResponse(exchange, req.full_url)


class WasiHTTPHandler(urllib.request.HTTPHandler):
    """urllib's handler for `http:` URLs, sent through wasi:http."""

    def http_open(self, req):
        return _urllib_open(req)


_HTTPS_BASE = getattr(urllib.request, "HTTPSHandler", urllib.request.AbstractHTTPHandler)


class WasiHTTPSHandler(_HTTPS_BASE):
    """urllib's handler for `https:` URLs, sent through wasi:http (the host
    does TLS; CPython's `ssl` is not needed)."""

    handler_order = 499

    def __init__(self, debuglevel=None):
        urllib.request.AbstractHTTPHandler.__init__(self, debuglevel)

    def https_open(self, req):
        return _urllib_open(req)

    https_request = urllib.request.AbstractHTTPHandler.do_request_


def build_opener(*handlers):
    """`urllib.request.build_opener` with the wasi:http handlers and no
    proxy handler, plus `handlers` (e.g. an `HTTPCookieProcessor`)."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), WasiHTTPHandler, WasiHTTPSHandler, *handlers
    )


urllib.request.install_opener(build_opener())
