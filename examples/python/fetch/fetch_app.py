"""Calling out over HTTP from a WSGI app: plain `urllib.request`, and the
adapter's `wasm_gateway_wsgi.outbound` module.

The upstream is given per request (`?url=...`) to keep the example short;
that is only safe because the gateway sends nothing the app's
`outbound-http` grant does not allow. A real app names its upstreams itself.

    wasm-gateway python build fetch_app:application --app-dir examples/python/fetch -o fetch.wasm
    wasm-gateway serve fetch.wasm --outbound-http http://127.0.0.1:8081
    curl 'http://127.0.0.1:8000/get?url=http://127.0.0.1:8081/'
    curl -d 'some data' 'http://127.0.0.1:8000/post?url=http://127.0.0.1:8081/echo'
    curl 'http://127.0.0.1:8000/outbound?url=http://127.0.0.1:8081/'

Paths:
- `GET /get?url=U`: `urlopen(U)`; answers the upstream's body, its status in
  `X-Upstream-Status`.
- `POST /post?url=U`: `urlopen(Request(U, data=BODY, method="POST"))` with the
  request's body and content type; answers as `/get`.
- `GET /outbound?url=U`: `wasm_gateway_wsgi.outbound.request("GET", U)`;
  answers a JSON summary (status, content type, body length, body text).

A 4xx or 5xx from the upstream (`urllib.error.HTTPError`) is relayed with
its status; a request that got no response (`URLError`: refused by the
grant, unreachable, timed out) answers 502 with the reason.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

from wasm_gateway_wsgi import outbound


def _answer(start_response, status, body, headers=()):
    start_response(status, [('Content-Type', 'text/plain; charset=utf-8'), *headers])
    return [body]


def _relay(start_response, response):
    body = response.read()
    content_type = response.headers.get('Content-Type', 'application/octet-stream')
    start_response(f'{response.status} {response.reason or "Upstream Status"}', [
        ('Content-Type', content_type),
        ('X-Upstream-Status', str(response.status)),
    ])
    return [body]


def application(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    query = urllib.parse.parse_qs(environ.get('QUERY_STRING', ''))
    url = query.get('url', [''])[0]
    if not url:
        return _answer(start_response, '400 Bad Request', b'give the upstream as ?url=http://...\n')

    try:
        if path == '/get':
            with urllib.request.urlopen(url, timeout=10) as response:
                return _relay(start_response, response)

        if path == '/post':
            length = int(environ.get('CONTENT_LENGTH') or 0)
            data = environ['wsgi.input'].read(length)
            request = urllib.request.Request(url, data=data, method='POST', headers={
                'Content-Type': environ.get('CONTENT_TYPE') or 'application/octet-stream',
            })
            with urllib.request.urlopen(request, timeout=10) as response:
                return _relay(start_response, response)

        if path == '/outbound':
            response = outbound.request('GET', url, headers={'Accept': 'text/plain'}, timeout=10)
            summary = {
                'status': response.status,
                'content_type': response.headers.get('Content-Type'),
                'length': len(response.body),
                'text': response.text(),
            }
            start_response('200 OK', [('Content-Type', 'application/json')])
            return [json.dumps(summary).encode()]

    except urllib.error.HTTPError as error:
        # The upstream answered 4xx or 5xx: relay it.
        body = error.read()
        return _answer(start_response, f'{error.code} {error.reason or "Upstream Status"}', body,
                       [('X-Upstream-Status', str(error.code))])
    except urllib.error.URLError as error:
        # No response: the grant refused it, or the upstream is unreachable.
        return _answer(start_response, '502 Bad Gateway', f'upstream failed: {error.reason}\n'.encode())
    except outbound.OutboundError as error:
        return _answer(start_response, '502 Bad Gateway',
                       f'upstream failed ({error.code}): {error}\n'.encode())

    return _answer(start_response, '404 Not Found', b'try /get, /post or /outbound\n')
