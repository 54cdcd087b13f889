"""A visit counter and a small notes app on a key-value store, as a bare
WSGI app (`notes_app:application`): the store survives every instance and
every restart, since the host keeps it (SQLite by default, or Redis).

    wasm-gateway serve notes.wasm --kv default

- `GET /` counts the visit (an atomic increment) and lists the notes;
- `POST /notes` with a form field `text` adds a note (303 back to `/`);
- `GET /notes/ID` shows one, `POST /notes/ID/delete` deletes it;
- `GET /stats` answers the counters as JSON (one batch read).

Served without the grant, every page says so (503); a note over the app's
quota is refused (413) with the host's reason.
"""

import html
import json
from urllib.parse import parse_qs

from wasm_gateway import kv

_MAX_FORM = 64 * 1024


def _respond(start_response, status, body, content_type="text/html; charset=utf-8",
             extra=()):
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(data))), *extra])
    return [data]


def _form(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(min(length, _MAX_FORM)) if length > 0 else b""
    return parse_qs(raw.decode("utf-8", "replace"))


def _page(store):
    visits = store.increment("visits")
    notes = sorted(key for key in store.keys() if key.startswith("note:"))
    items = "".join(
        f'<li><a href="/notes/{key[5:]}">{html.escape(store.get_text(key) or "")}</a></li>'
        for key in notes)
    return (f"<h1>Notes</h1><p>visit {visits}</p><ul>{items}</ul>"
            '<form method="post" action="/notes"><input name="text"><button>Add</button></form>')


def application(environ, start_response):
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO") or "/"
    try:
        with kv.open() as store:
            if path == "/" and method in ("GET", "HEAD"):
                return _respond(start_response, "200 OK", _page(store))
            if path == "/notes" and method == "POST":
                text = (_form(environ).get("text") or [""])[0].strip()
                if not text:
                    return _respond(start_response, "400 Bad Request", "a note needs text\n",
                                    "text/plain; charset=utf-8")
                number = store.increment("next-note")
                store.set(f"note:{number:06d}", text)
                return _respond(start_response, "303 See Other", "", "text/plain",
                                [("Location", f"/notes/{number:06d}")])
            if path == "/stats" and method in ("GET", "HEAD"):
                counters = store.get_many(["visits", "next-note"])
                body = json.dumps({k: int(v) if v else 0 for k, v in counters.items()})
                return _respond(start_response, "200 OK", body, "application/json")
            if path.startswith("/notes/"):
                number, _, action = path[len("/notes/"):].partition("/")
                key = f"note:{number}"
                if action == "delete" and method == "POST":
                    store.delete(key)
                    return _respond(start_response, "303 See Other", "", "text/plain",
                                    [("Location", "/")])
                text = store.get_text(key) if not action else None
                if text is None:
                    return _respond(start_response, "404 Not Found", "no such note\n",
                                    "text/plain; charset=utf-8")
                return _respond(start_response, "200 OK", text, "text/plain; charset=utf-8")
            return _respond(start_response, "404 Not Found", "not found\n",
                            "text/plain; charset=utf-8")
    except kv.AccessDenied as error:
        return _respond(start_response, "503 Service Unavailable", f"{error}\n",
                        "text/plain; charset=utf-8")
    except kv.KvError as error:
        # Over the app's quota (the message names the limit, `kv-...`), or
        # the store failed: say why.
        status = "413 Content Too Large" if "kv-" in str(error) else "503 Service Unavailable"
        return _respond(start_response, status, f"{error}\n", "text/plain; charset=utf-8")
