# Seed 000's `flaskapp`, served the way the seed's hand-written server takes
# it: `python webserver2.py flaskapp:app` becomes
#
#     wasm-gateway python build flaskapp:app --app-dir examples/python/flaskapp --warmup /hello -o flaskapp.wasm
#     wasm-gateway serve flaskapp.wasm
from flask import Flask
from flask import Response

flask_app = Flask('flaskapp')


@flask_app.route('/hello')
def hello_world():
    return Response('Hello world from Flask!\n', mimetype='text/plain')


app = flask_app.wsgi_app
