"""The adapter's outbound HTTP (`wasm_gateway_wsgi.outbound` and the urllib
opener it installs), run under the machine's CPython against a fake
`wasi:http` written here: what urllib sends, what the app gets back, the
exceptions, and that every wasi:http resource is dropped, children first.

Run by tests/e2e/python.rs (`python3 -m unittest discover -s tests/python`);
the real host is exercised by the e2e test of examples/python/fetch.
"""

import json
import sys
import types
import unittest
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# --- componentize_py_types ------------------------------------------------

@dataclass
class Ok:
    value: object


@dataclass(frozen=True)
class Err(Exception):
    value: object


@dataclass
class Some:
    value: object


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def _variant(name, payload=False):
    if payload:
        return dataclass(type(name, (), {"__annotations__": {"value": object}}))
    return dataclass(type(name, (), {}))


# --- the fake host ---------------------------------------------------------

class Host:
    """What the fake wasi:http saw and holds: live resources (in creation
    order), drops, and the upstream that answers."""

    def __init__(self):
        self.live = []
        self.dropped = []
        self.sent = []
        self.upstream = None  # (method, url, headers, body) -> (status, headers, body) | error code
        self.read_piece = 1000

    def made(self, resource):
        self.live.append(resource)

    def drop(self, resource):
        assert resource in self.live, f"{resource!r} dropped twice or never made"
        for child in resource.children:
            assert child not in self.live, f"{resource!r} dropped before its child {child!r}"
        self.live.remove(resource)
        self.dropped.append(type(resource).__name__)


HOST = Host()


class Resource:
    def __init__(self, parent=None):
        self.children = []
        if parent is not None:
            parent.children.append(self)
        HOST.made(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        HOST.drop(self)


FORBIDDEN = {"host", "connection", "transfer-encoding", "keep-alive", "upgrade", "te"}


class Fields(Resource):
    def __init__(self, entries=None, parent=None):
        super().__init__(parent)
        self._entries = list(entries or [])

    def append(self, name, value):
        if name.lower() in FORBIDDEN:
            raise Err(HeaderError_Forbidden())
        if not name or " " in name:
            raise Err(HeaderError_InvalidSyntax())
        assert isinstance(value, bytes)
        self._entries.append((name.lower(), value))

    def entries(self):
        return list(self._entries)


class OutputStream(Resource):
    def __init__(self, sink, parent):
        super().__init__(parent)
        self.sink = sink

    def blocking_write_and_flush(self, data):
        assert len(data) <= 4096, "blocking-write-and-flush takes at most 4096 bytes"
        self.sink.append(bytes(data))


class OutgoingBody(Resource):
    def __init__(self, request):
        super().__init__(request)
        self.request = request

    def write(self):
        return OutputStream(self.request.body_parts, self)

    @classmethod
    def finish(cls, this, trailers):
        this.request.finished = True
        HOST.drop(this)


class OutgoingRequest(Resource):
    def __init__(self, headers):
        super().__init__()
        self.fields = headers
        HOST.live.remove(headers)  # the request owns them now
        self.method = self.scheme = self.authority = self.path = None
        self.body_parts = []
        self.finished = False

    def set_method(self, method):
        self.method = method

    def set_scheme(self, scheme):
        self.scheme = scheme

    def set_authority(self, authority):
        self.authority = authority

    def set_path_with_query(self, path):
        self.path = path

    def body(self):
        return OutgoingBody(self)


class RequestOptions(Resource):
    def __init__(self):
        super().__init__()
        HOST.live.remove(self)  # handed to `handle`, which owns it
        self.timeouts = {}

    def set_connect_timeout(self, ns):
        self.timeouts["connect"] = ns

    def set_first_byte_timeout(self, ns):
        self.timeouts["first-byte"] = ns

    def set_between_bytes_timeout(self, ns):
        self.timeouts["between-bytes"] = ns


class Pollable(Resource):
    def block(self):
        pass


class InputStream(Resource):
    def __init__(self, data, parent, fail=None):
        super().__init__(parent)
        self.data = data
        self.fail = fail

    def blocking_read(self, size):
        if not self.data:
            if self.fail is not None:
                raise Err(StreamError_LastOperationFailed(IoError(self.fail)))
            raise Err(StreamError_Closed())
        piece = min(size, HOST.read_piece)
        out, self.data = self.data[:piece], self.data[piece:]
        return out


class IoError(Resource):
    def __init__(self, code):
        super().__init__()
        self.code = code


class IncomingBody(Resource):
    def __init__(self, data, parent, fail):
        super().__init__(parent)
        self.data = data
        self.fail = fail

    def stream(self):
        return InputStream(self.data, self, self.fail)


class IncomingResponse(Resource):
    def __init__(self, status, headers, body, fail=None):
        super().__init__()
        self._status = status
        self._headers = [(n.lower(), v.encode("latin-1")) for n, v in headers]
        self._body = body
        self._fail = fail

    def status(self):
        return self._status

    def headers(self):
        return Fields(self._headers, parent=self)

    def consume(self):
        return IncomingBody(self._body, self, self._fail)


class FutureIncomingResponse(Resource):
    def __init__(self, request, options):
        super().__init__()
        self.request = request
        self.options = options
        self.taken = False

    def subscribe(self):
        return Pollable(self)

    def get(self):
        if self.taken:
            return Err(None)
        self.taken = True
        request = self.request
        assert request.finished, "the body was not finished before the response was awaited"
        scheme = "https" if isinstance(request.scheme, Scheme_Https) else "http"
        method = request.method.value if isinstance(request.method, Method_Other) else \
            type(request.method).__name__.split("_")[1].upper()
        url = f"{scheme}://{request.authority}{request.path}"
        headers = request.fields.entries()
        body = b"".join(request.body_parts)
        HOST.sent.append({"method": method, "url": url, "headers": headers, "body": body,
                          "timeouts": self.options.timeouts if self.options else None})
        answer = HOST.upstream(method, url, dict(headers), body)
        if not isinstance(answer, tuple):
            return Ok(Err(answer))
        status, response_headers, response_body, *fail = answer
        return Ok(Ok(IncomingResponse(status, response_headers, response_body, *fail)))


def handle(request, options):
    HOST.live.remove(request)  # `handle` takes the request
    if request.authority == "refused-at-handle.example":
        raise Err(ErrorCode_HttpRequestDenied())
    return FutureIncomingResponse(request, options)


def http_error_code(error):
    return error.code


StreamError_Closed = _variant("StreamError_Closed")
StreamError_LastOperationFailed = _variant("StreamError_LastOperationFailed", True)
HeaderError_Forbidden = _variant("HeaderError_Forbidden")
HeaderError_InvalidSyntax = _variant("HeaderError_InvalidSyntax")
ErrorCode_HttpRequestDenied = _variant("ErrorCode_HttpRequestDenied")
ErrorCode_DestinationIpProhibited = _variant("ErrorCode_DestinationIpProhibited")
ErrorCode_ConnectionRefused = _variant("ErrorCode_ConnectionRefused")
ErrorCode_ConnectionTimeout = _variant("ErrorCode_ConnectionTimeout")
ErrorCode_DnsTimeout = _variant("ErrorCode_DnsTimeout")
ErrorCode_TlsCertificateError = _variant("ErrorCode_TlsCertificateError")
ErrorCode_HttpResponseIncomplete = _variant("ErrorCode_HttpResponseIncomplete")
ErrorCode_InternalError = _variant("ErrorCode_InternalError", True)
Scheme_Http = _variant("Scheme_Http")
Scheme_Https = _variant("Scheme_Https")
Method_Other = _variant("Method_Other", True)
_methods = {f"Method_{m}": _variant(f"Method_{m}") for m in
            ("Get", "Head", "Post", "Put", "Delete", "Connect", "Options", "Trace", "Patch")}


def _install_fakes():
    _module("componentize_py_types", Ok=Ok, Err=Err, Some=Some)
    _module("wit_world")
    exports = _module("wit_world.exports", Application=type("Application", (), {}))
    imports = _module("wit_world.imports")
    http_types = _module(
        "wit_world.imports.wasi_http_types",
        Fields=Fields, OutgoingRequest=OutgoingRequest, OutgoingBody=OutgoingBody,
        RequestOptions=RequestOptions, http_error_code=http_error_code,
        Scheme_Http=Scheme_Http, Scheme_Https=Scheme_Https, Method_Other=Method_Other,
        **_methods,
    )
    streams = _module("wit_world.imports.streams", StreamError_Closed=StreamError_Closed,
                      StreamError_LastOperationFailed=StreamError_LastOperationFailed)
    handler = _module("wit_world.imports.outgoing_handler", handle=handle)
    wsgi_types = _module("wit_world.imports.wasm_gateway_wsgi_types")
    server = _module("wit_world.imports.server")
    imports.__dict__.update(wasi_http_types=http_types, streams=streams, outgoing_handler=handler,
                            wasm_gateway_wsgi_types=wsgi_types, server=server)
    sys.modules["wit_world"].__dict__.update(exports=exports, imports=imports)


_install_fakes()
sys.path.insert(0, str(ROOT / "guest-sdk" / "python"))
import wasm_gateway_wsgi  # noqa: E402  (installs the opener)
from wasm_gateway_wsgi import outbound  # noqa: E402


def upstream(method, url, headers, body):
    """The fake upstream the tests talk to."""
    if "denied" in url:
        return ErrorCode_HttpRequestDenied()
    if "internal.example" in url:
        return ErrorCode_DestinationIpProhibited()
    if "refused" in url:
        return ErrorCode_ConnectionRefused()
    if "slow" in url:
        return ErrorCode_ConnectionTimeout()
    if url.endswith("/missing"):
        return 404, [("Content-Type", "text/plain")], b"no such thing"
    if url.endswith("/broken"):
        return 500, [("Content-Type", "text/plain")], b"upstream broke"
    if url.endswith("/moved"):
        return 302, [("Location", "/hello")], b""
    if url.endswith("/cut"):
        return 200, [], b"partial", ErrorCode_HttpResponseIncomplete()
    if url.endswith("/json"):
        return 200, [("Content-Type", "application/json; charset=utf-8")], b'{"a": [1, 2]}'
    return 200, [("Content-Type", "text/plain; charset=latin-1"), ("Set-Cookie", "a=1"),
                 ("Set-Cookie", "b=2")], b"hello from upstream: " + method.encode() + b" " + body


class OutboundTests(unittest.TestCase):
    def setUp(self):
        HOST.live.clear()
        HOST.dropped.clear()
        HOST.sent.clear()
        HOST.upstream = upstream
        HOST.read_piece = 1000

    def tearDown(self):
        self.assertEqual(HOST.live, [], "wasi:http resources left alive")

    def test_urlopen_get(self):
        with urllib.request.urlopen("http://127.0.0.1:8081/hello?x=1#frag") as response:
            self.assertEqual(response.status, 200)
            self.assertEqual(response.getcode(), 200)
            self.assertEqual(response.reason, "OK")
            self.assertEqual(response.geturl(), "http://127.0.0.1:8081/hello?x=1#frag")
            self.assertEqual(response.getheader("content-type"), "text/plain; charset=latin-1")
            self.assertEqual(response.getheader("Set-Cookie"), "a=1, b=2")
            self.assertEqual(response.getheader("X-None", "dflt"), "dflt")
            self.assertEqual(response.headers.get_all("set-cookie"), ["a=1", "b=2"])
            self.assertIn(("set-cookie", "b=2"), response.getheaders())
            self.assertEqual(response.read(5), b"hello")
            self.assertEqual(response.read(), b" from upstream: GET ")
        sent = HOST.sent[0]
        self.assertEqual(sent["method"], "GET")
        self.assertEqual(sent["url"], "http://127.0.0.1:8081/hello?x=1")
        names = [name for name, _ in sent["headers"]]
        self.assertIn("user-agent", names)
        self.assertNotIn("host", names)
        self.assertNotIn("connection", names)
        self.assertIsNone(sent["timeouts"])
        # Children before parents: stream, body, response, future.
        self.assertEqual(HOST.dropped[-4:], ["InputStream", "IncomingBody", "IncomingResponse",
                                             "FutureIncomingResponse"])

    def test_urlopen_post_and_timeout(self):
        request = urllib.request.Request("https://api.example.com/echo", data=b"x" * 10000,
                                         method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=2.5) as response:
            body = response.read()
        self.assertTrue(body.endswith(b"POST " + b"x" * 10000))
        sent = HOST.sent[0]
        self.assertEqual(sent["url"], "https://api.example.com/echo")
        headers = dict(sent["headers"])
        self.assertEqual(headers["content-length"], b"10000")
        self.assertEqual(headers["content-type"], b"text/plain")
        self.assertEqual(set(sent["timeouts"].values()), {2_500_000_000})

    def test_urlopen_form_data_gets_urllibs_content_type(self):
        urllib.request.urlopen("http://127.0.0.1:8081/", data=b"a=1").close()
        headers = dict(HOST.sent[0]["headers"])
        self.assertEqual(headers["content-type"], b"application/x-www-form-urlencoded")
        self.assertEqual(HOST.sent[0]["method"], "POST")

    def test_http_errors_raise_httperror(self):
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen("http://127.0.0.1:8081/missing")
        error = caught.exception
        self.assertEqual(error.code, 404)
        self.assertEqual(error.reason, "Not Found")
        self.assertEqual(error.headers["Content-Type"], "text/plain")
        self.assertEqual(error.read(), b"no such thing")
        error.close()

    def test_redirects_are_followed(self):
        with urllib.request.urlopen("http://127.0.0.1:8081/moved") as response:
            self.assertEqual(response.geturl(), "http://127.0.0.1:8081/hello")
            self.assertTrue(response.read().startswith(b"hello from upstream"))
        self.assertEqual([s["url"] for s in HOST.sent],
                         ["http://127.0.0.1:8081/moved", "http://127.0.0.1:8081/hello"])

    def test_denied_is_a_urlerror_naming_the_grant(self):
        with self.assertRaises(urllib.error.URLError) as caught:
            urllib.request.urlopen("http://denied.example:8081/x")
        reason = caught.exception.reason
        self.assertIsInstance(reason, outbound.OutboundDenied)
        self.assertIsInstance(reason, PermissionError)
        self.assertEqual(reason.code, "HTTP-request-denied")
        self.assertIn("denied", str(caught.exception))
        self.assertIn("--outbound-http http://denied.example:8081", str(reason))
        self.assertIn('outbound-http = ["http://denied.example:8081"]', str(reason))

    def test_denied_at_handle(self):
        with self.assertRaises(outbound.OutboundDenied):
            outbound.request("GET", "https://refused-at-handle.example/")

    def test_internal_addresses_say_so(self):
        with self.assertRaises(outbound.OutboundDenied) as caught:
            outbound.request("GET", "https://internal.example/")
        self.assertEqual(caught.exception.code, "destination-IP-prohibited")
        self.assertIn("IP or CIDR", str(caught.exception))

    def test_other_errors(self):
        with self.assertRaises(outbound.OutboundError) as caught:
            outbound.request("GET", "http://refused.example/")
        self.assertEqual(caught.exception.code, "connection-refused")
        self.assertNotIsInstance(caught.exception, outbound.OutboundDenied)
        with self.assertRaises(TimeoutError) as caught:
            outbound.request("GET", "http://slow.example/", timeout=1)
        self.assertIsInstance(caught.exception, outbound.OutboundTimeout)
        self.assertEqual(caught.exception.code, "connection-timeout")

    def test_a_broken_body_raises_with_its_code(self):
        with self.assertRaises(outbound.OutboundError) as caught:
            outbound.request("GET", "http://127.0.0.1:8081/cut")
        self.assertEqual(caught.exception.code, "HTTP-response-incomplete")

    def test_request_module(self):
        response = outbound.request("put", "http://127.0.0.1:8081/", headers=[("X-A", "1")],
                                    body="é")
        self.assertEqual(response.status, 200)
        self.assertTrue(response.ok)
        self.assertEqual(response.body, b"hello from upstream: PUT \xc3\xa9")
        self.assertEqual(response.text(), "hello from upstream: PUT Ã©")  # the charset says latin-1
        sent = dict(HOST.sent[0]["headers"])
        self.assertEqual(sent["x-a"], b"1")
        self.assertEqual(sent["content-length"], b"2")
        json_response = outbound.request("GET", "http://127.0.0.1:8081/json")
        self.assertEqual(json_response.json(), {"a": [1, 2]})
        self.assertEqual(json_response.text(), '{"a": [1, 2]}')
        broken = outbound.request("GET", "http://127.0.0.1:8081/broken")
        self.assertEqual((broken.status, broken.reason, broken.ok), (500, "Internal Server Error", False))

    def test_streamed_bodies(self):
        response = outbound.request("POST", "http://127.0.0.1:8081/", body=iter([b"a" * 5000, b"b"]))
        self.assertTrue(response.body.endswith(b"a" * 5000 + b"b"))
        self.assertNotIn("content-length", dict(HOST.sent[0]["headers"]))

    def test_unsupported_urls_and_headers(self):
        with self.assertRaises(ValueError):
            outbound.request("GET", "ftp://example.com/")
        with self.assertRaises(ValueError):
            outbound.request("GET", "http:///nohost")
        with self.assertRaises(ValueError):
            outbound.request("GET", "http://example.com/", headers={"bad name": "x"})
        # Fields the transport owns are left out, not refused.
        outbound.request("GET", "http://example.com/", headers={"Host": "other", "Connection": "x"})
        self.assertEqual(HOST.sent[0]["headers"], [])

    def test_unread_responses_close_when_the_request_ends(self):
        response = urllib.request.urlopen("http://127.0.0.1:8081/hello")
        self.assertEqual(response.read(3), b"hel")
        self.assertNotEqual(HOST.live, [])
        outbound.close_outstanding()
        self.assertEqual(HOST.live, [])
        response.close()

    def test_code_names(self):
        self.assertEqual(outbound.code_name(ErrorCode_HttpRequestDenied()), "HTTP-request-denied")
        self.assertEqual(outbound.code_name(ErrorCode_DestinationIpProhibited()), "destination-IP-prohibited")
        self.assertEqual(outbound.code_name(ErrorCode_DnsTimeout()), "DNS-timeout")
        self.assertEqual(outbound.code_name(ErrorCode_TlsCertificateError()), "TLS-certificate-error")
        self.assertEqual(outbound.code_name(ErrorCode_InternalError("x")), "internal-error")

    def test_origin(self):
        self.assertEqual(outbound.origin("HTTPS://User:pw@API.example.com/a?b"), "https://api.example.com")
        self.assertEqual(outbound.origin("http://[::1]:8080/"), "http://[::1]:8080")


class FetchExampleTests(unittest.TestCase):
    """examples/python/fetch/fetch_app.py under wsgiref's validator, against
    the fake upstream."""

    @classmethod
    def setUpClass(cls):
        import warnings
        from wsgiref import validate

        sys.path.insert(0, str(ROOT / "examples" / "python" / "fetch"))
        import fetch_app

        warnings.simplefilter("error", validate.WSGIWarning)
        cls.app = staticmethod(validate.validator(fetch_app.application))

    def setUp(self):
        HOST.live.clear()
        HOST.sent.clear()
        HOST.upstream = upstream

    def call(self, path, query, body=b"", method="GET"):
        import io
        from wsgiref.util import setup_testing_defaults

        environ = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": method,
                   "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": "text/x-ping", "SCRIPT_NAME": ""}
        setup_testing_defaults(environ)
        seen = {}

        def start_response(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, dict(headers)
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            result.close()
        outbound.close_outstanding()
        self.assertEqual(HOST.live, [])
        return seen["status"], seen["headers"], data

    def test_get_post_errors_and_the_module(self):
        status, headers, body = self.call("/get", "url=http://127.0.0.1:8081/hello")
        self.assertEqual((status, headers["X-Upstream-Status"]), ("200 OK", "200"))
        self.assertEqual(body, b"hello from upstream: GET ")
        status, _, body = self.call("/post", "url=http://127.0.0.1:8081/", b"ping", "POST")
        self.assertEqual((status, body), ("200 OK", b"hello from upstream: POST ping"))
        self.assertEqual(dict(HOST.sent[-1]["headers"])["content-type"], b"text/x-ping")
        status, _, body = self.call("/get", "url=http://127.0.0.1:8081/missing")
        self.assertEqual((status, body), ("404 Not Found", b"no such thing"))
        status, _, body = self.call("/get", "url=http://denied.example/")
        self.assertEqual(status, "502 Bad Gateway")
        self.assertIn(b"--outbound-http http://denied.example", body)
        status, _, body = self.call("/outbound", "url=http://127.0.0.1:8081/json")
        self.assertEqual(json.loads(body)["status"], 200)
        status, _, body = self.call("/outbound", "url=http://denied.example/")
        self.assertEqual(status, "502 Bad Gateway")
        self.assertIn(b"(HTTP-request-denied)", body)


if __name__ == "__main__":
    unittest.main()
