# The smallest WSGI application (seeds 000 and 004): no framework, one
# function. In Python 3 a WSGI body is bytes (PEP 3333), hence b'...'.
#
#     wasm-gateway python build hello_wsgi:application --app-dir examples/python/bare -o bare.wasm
#     wasm-gateway serve bare.wasm


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'This is a python application!']
