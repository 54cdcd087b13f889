# Seed 004's class-based application and its IP-list middleware, both inside
# one component:
#
#     wasm-gateway python build classapp:application --app-dir examples/python/classapp -o classapp.wasm
#     wasm-gateway serve classapp.wasm
#
# The application is a class: calling it with (environ, start_response)
# builds an instance, and iterating the instance produces the body, so
# start_response runs on the first iteration, not in the call. A server must
# allow that (PEP 3333 lets the body's first chunk come before the headers
# are due).


class ApplicationClass(object):
    def __init__(self, environ, start_response):
        self.environ = environ
        self.start_response = start_response

    def __iter__(self):
        self.start_response('200 OK', [('Content-type', 'text/plain')])
        yield b"Hello world!\n"


class IPBlacklistMiddleware(object):
    """Lets only the listed client addresses through; the rest get 403.

    The seed reads the address from HTTP_HOST, which the client chooses; the
    client's address is REMOTE_ADDR. The list comes from the operator's
    environ variable ALLOWED_IPS (comma-separated) and defaults to
    127.0.0.1."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        allowed = environ.get('ALLOWED_IPS', '127.0.0.1').split(',')
        ip_addr = environ['REMOTE_ADDR']
        if ip_addr not in [a.strip() for a in allowed]:
            return forbidden(start_response)

        return self.app(environ, start_response)


def forbidden(start_response):
    start_response('403 Forbidden', [('Content-Type', 'text/plain')])
    return [b'Forbidden']


application = IPBlacklistMiddleware(ApplicationClass)
