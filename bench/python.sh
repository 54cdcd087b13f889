#!/usr/bin/env bash
# Python under load: seed 000's Flask `flaskapp` (GET /hello) and the Django
# example's template view (GET /thanks/: a class-based view, template
# inheritance, the session read from its cookie), each served natively by
# gunicorn (`-w 2`, sync workers) and by wasm-gateway as a component in its
# default mode (instances reused, 1000 requests or 60 s each), in one run;
# then, for the record, a fresh instance per request (requests/s, CPU time
# and page faults per request); the build time and size of each component;
# and the second start (compile cache warm) to the first 200.
#
#   bench/python.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]     (PIN=0 to not pin cores)
#
# Makes its own virtualenv (target/bench-python-venv, from
# bench/python/requirements.txt) with the newest CPython 3.12+ it finds
# (PYTHON=... to choose; Django 6 needs 3.12), builds both apps with
# `wasm-gateway python build`, alternates the servers for ROUNDS rounds and
# reports medians as Markdown (also bench/results/python.md). Loops are
# bounded by wrk's duration and ROUNDS; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${1:-10}
CONNECTIONS=${2:-16}
ROUNDS=${3:-3}
ensure_wrk

# The first that runs (a pyenv shim exists whether or not it may run).
if [ -z "${PYTHON:-}" ]; then
  for candidate in python3.14 python3.13 python3.12 python3; do
    if "$candidate" -c 'import venv' 2>/dev/null; then PYTHON=$(command -v "$candidate"); break; fi
  done
fi
# By its real path: its scripts' #! lines stay right in any worktree that
# shares the target directory through a link.
VENV=$(realpath -m target/bench-python-venv)
stamp="$(cat bench/python/requirements.txt guest-sdk/python/requirements-build.txt) $PYTHON $VENV"
if [ "$(cat "$VENV/stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -r guest-sdk/python/requirements-build.txt -r bench/python/requirements.txt
  echo "$stamp" > "$VENV/stamp"
fi
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
native=$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')

cargo build --release --quiet -p wasm-gateway
mkdir -p target/bench
# build NAME TARGET APP_DIR REQUIREMENTS WARMUP: prints "seconds bytes"
build() {
  local t0; t0=$(date +%s%N)
  target/release/wasm-gateway python build "$2" --app-dir "$3" --requirements "$4" \
    --warmup "$5" -o "target/bench/$1.wasm" >&2
  echo "$(( ($(date +%s%N) - t0) / 1000000 )) $(stat -c %s "target/bench/$1.wasm")"
}
flask_build=$(build flaskapp flaskapp:app examples/python/flaskapp examples/python/requirements.txt /hello)
django_build=$(build django mysite.wsgi:application examples/python/django \
  examples/python/django/requirements.txt /thanks/)
export WASM_GATEWAY_CACHE_DIR=$PWD/target/bench/compile-cache
rm -rf "$WASM_GATEWAY_CACHE_DIR"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# gunicorn DIR TARGET PATH: sets $URL once it answers (it prints no address
# line of its own).
gunicorn_at() {
  local port; port=$(free_port)
  # -m: the venv may have moved (its scripts' #! lines name the old path).
  "${SERVER[@]}" "$VENV/bin/python" -m gunicorn -w 2 -k sync --chdir "$1" -b "127.0.0.1:$port" \
    --log-level warning "$2" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port$3" && break; sleep 0.1; done
  URL="http://127.0.0.1:$port"
}
gunicorn_at examples/python/flaskapp flaskapp:app /hello; G_FLASK=$URL
gunicorn_at examples/python/django mysite.wsgi:application /thanks/; G_DJANGO=$URL

# First starts compile and fill the cache (access logs off, as gunicorn's).
serve() {
  RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" target/release/wasm-gateway serve \
    "target/bench/$1.wasm" --listen 127.0.0.1:0 "${@:2}"
}
serve flaskapp; W_FLASK=$URL
serve django; W_DJANGO=$URL

gf=(); wf=(); gd=(); wd=()
for ((round = 1; round <= ROUNDS; round++)); do
  gf+=("$(measure "$G_FLASK/hello")")
  wf+=("$(measure "$W_FLASK/hello")")
  gd+=("$(measure "$G_DJANGO/thanks/")")
  wd+=("$(measure "$W_DJANGO/thanks/")")
  echo "round $round: flask gunicorn ${gf[-1]} | gateway ${wf[-1]}; django gunicorn ${gd[-1]} | gateway ${wd[-1]} (rps p50 p99)" >&2
done
cleanup; pids=()

# Fresh instances, for the record: requests/s, and the server's CPU time and
# page faults per request over one wrk run (-c2, light load).
# fresh NAME PATH: prints "rps cpu_us_per_request faults_per_request"
fresh() {
  serve "$1" --instance-reuse 0
  local pid=${pids[-2]} before after out requests
  "${CLIENT[@]}" wrk -t1 -c2 -d2s "$URL$2" >/dev/null
  # /proc/PID/stat fields 10 (minor faults), 12 (major), 14 and 15 (user
  # and system time, in clock ticks).
  before=$(awk '{ print $10 + $12, $14 + $15 }' "/proc/$pid/stat")
  out=$("${CLIENT[@]}" wrk -t1 -c2 -d"${DURATION}s" "$URL$2")
  after=$(awk '{ print $10 + $12, $14 + $15 }' "/proc/$pid/stat")
  requests=$(echo "$out" | awk '/requests in/ { print $1 }')
  echo "$out" | awk -v b="$before" -v a="$after" -v n="$requests" -v hz="$(getconf CLK_TCK)" '
    /Requests\/sec/ { rps = $2 }
    END { split(b, x, " "); split(a, y, " ");
          printf "%.0f %.0f %.0f\n", rps, (y[2] - x[2]) * 1e6 / hz / n, (y[1] - x[1]) / n }'
  cleanup; pids=()
}
fresh_flask=$(fresh flaskapp /hello)
fresh_django=$(fresh django /thanks/)

# Second start (cache warm): process start to the first 200, best of 3.
# startup NAME PATH: prints the best time in ms
startup() {
  local best=""
  for _ in 1 2 3; do
    local port t0 pid ms; port=$(free_port)
    t0=$(date +%s%N)
    target/release/wasm-gateway serve "target/bench/$1.wasm" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 4000); do curl -sf -o /dev/null "http://127.0.0.1:$port$2" && break; sleep 0.005; done
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}
start_flask=$(startup flaskapp /hello)
start_django=$(startup django /thanks/)

row() { echo "| $1 | $(median_of 1 "${@:2}") | $(median_of 2 "${@:2}") ms | $(median_of 3 "${@:2}") ms |"; }
ratio() { awk -v a="$(median_of 1 "${@:2}")" -v b="$1" 'BEGIN { printf "%.2f", a / b }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
s() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
set -- $flask_build; fb_ms=$1; fb_size=$2
set -- $django_build; db_ms=$1; db_size=$2
mkdir -p bench/results
{
  echo "| server | requests/s | p50 latency | p99 latency |"
  echo "|---|---:|---:|---:|"
  row "Flask 3.1.3 \`GET /hello\`: gunicorn 27.0.1 -w 2 (sync), native CPython $native" "${gf[@]}"
  row "Flask: wasm-gateway, default (instances reused), CPython 3.14 in wasm" "${wf[@]}"
  row "Django 6.1.3 \`GET /thanks/\`: gunicorn -w 2 (sync), native CPython $native" "${gd[@]}"
  row "Django: wasm-gateway, default (instances reused)" "${wd[@]}"
  echo
  echo "wasm-gateway serves **$(ratio "$(median_of 1 "${gf[@]}")" "${wf[@]}")x** gunicorn's requests/s on Flask and **$(ratio "$(median_of 1 "${gd[@]}")" "${wd[@]}")x** on Django (medians of $ROUNDS alternating rounds of wrk -t1 -c$CONNECTIONS -d${DURATION}s; $(nproc) cores, ${CLIENT[*]:-no pinning} for wrk, ${SERVER[*]:-no pinning} for the servers; access logs off; $(date -u +%Y-%m-%d))."
  echo
  echo "| fresh instance per request (wrk -c2) | requests/s | server CPU per request | page faults per request |"
  echo "|---|---:|---:|---:|"
  set -- $fresh_flask; echo "| Flask \`GET /hello\` | $1 | $2 µs | $3 |"
  set -- $fresh_django; echo "| Django \`GET /thanks/\` | $1 | $2 µs | $3 |"
  echo
  echo "| example | build time | component | second start to first 200 (cache warm, best of 3) |"
  echo "|---|---:|---:|---:|"
  echo "| Flask (\`flaskapp\`) | $(s "$fb_ms") | $(mb "$fb_size") | $start_flask ms |"
  echo "| Django (\`examples/python/django\`) | $(s "$db_ms") | $(mb "$db_size") | $start_django ms |"
} | tee bench/results/python.md
