"""wasm-gateway's Python SDK: what an application running in wasm-gateway
can ask of its host beyond WSGI.

- `wasm_gateway.kv`: key-value stores the operator grants the app.

(Outbound HTTP is `wasm_gateway_wsgi.outbound`, and plain `urllib.request`.)
"""

# True while `python build` imports the app and runs its warm-up requests,
# where the host's services (key-value stores) are not there yet; the entry
# module sets it, and clears it before the snapshot.
_building = False
