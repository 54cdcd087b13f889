# Seed 003's Flask app, as it runs under any WSGI server:
#
#     wasm-gateway python build app:app --app-dir examples/python/flask-app \
#         --requirements examples/python/requirements.txt -o flask-app.wasm
#     wasm-gateway serve flask-app.wasm --instance-reuse 1000
from flask import Flask
from markupsafe import escape

app = Flask(__name__)


@app.route('/', methods=['GET', 'POST'])
def home():
    return '<h1>Home</h1>'


@app.route('/user/<name>')
def user(name):
    # The name comes from the URL: escape it before it goes into HTML (the
    # seed's '%s' % name would let a link inject script into the page).
    return '<h1>Hello, %s!</h1>' % escape(name)
