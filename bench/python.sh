#!/usr/bin/env bash
# Flask under load: seed 000's `flaskapp` (GET /hello) served by gunicorn
# natively (`-w 2`, sync workers) and by wasm-gateway as a component, with
# reused instances and with a fresh instance per request, in one run; then
# the second start (compile cache warm) to the first response.
#
#   bench/python.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]     (PIN=0 to not pin cores)
#
# Makes its own virtualenv (target/bench-python-venv, from
# bench/python/requirements.txt), builds the app with `wasm-gateway python
# build`, alternates the servers for ROUNDS rounds and reports medians as a
# Markdown table (also bench/results/python.md). Loops are bounded by wrk's
# duration and ROUNDS; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${1:-10}
CONNECTIONS=${2:-16}
ROUNDS=${3:-3}
ensure_wrk

VENV=target/bench-python-venv
if ! cmp -s bench/python/requirements.txt "$VENV/requirements.txt" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/python/requirements.txt
  cp bench/python/requirements.txt "$VENV/requirements.txt"
fi
export PATH="$PWD/$VENV/bin:$PATH" VIRTUAL_ENV="$PWD/$VENV"

cargo build --release --quiet -p wasm-gateway
mkdir -p target/bench
WASM=target/bench/flaskapp.wasm
target/release/wasm-gateway python build flaskapp:app --app-dir examples/python/flaskapp \
  --warmup /hello -o "$WASM" >&2
export WASM_GATEWAY_CACHE_DIR=$PWD/target/bench/compile-cache
rm -rf "$WASM_GATEWAY_CACHE_DIR"

# gunicorn prints no address line: pick a free port, poll until it answers.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${SERVER[@]}" gunicorn -w 2 -k sync --chdir examples/python/flaskapp -b "127.0.0.1:$port" \
  --log-level warning flaskapp:app 2>/dev/null &
pids+=($!)
GUNICORN=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf -o /dev/null "$GUNICORN/hello" && break; sleep 0.1; done

# First start: compiles and fills the cache (the access log off, as gunicorn's).
RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" target/release/wasm-gateway serve "$WASM" \
  --listen 127.0.0.1:0 --instance-reuse 100000
REUSE=$URL
RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" target/release/wasm-gateway serve "$WASM" \
  --listen 127.0.0.1:0 --instance-reuse 0
FRESH=$URL

g_runs=(); r_runs=(); f_runs=()
for ((round = 1; round <= ROUNDS; round++)); do
  g_runs+=("$(measure "$GUNICORN/hello")")
  r_runs+=("$(measure "$REUSE/hello")")
  f_runs+=("$(measure "$FRESH/hello")")
  echo "round $round: gunicorn ${g_runs[-1]} | reuse ${r_runs[-1]} | fresh ${f_runs[-1]} (rps p50 p99)" >&2
done
cleanup; pids=()

# Where a fresh instance's time goes: a light run with phase timings on.
phases=$(mktemp)
STDERR=$phases RUST_LOG=wasm_gateway::timing=trace,wasm_gateway::access=off \
  start "${SERVER[@]}" target/release/wasm-gateway serve "$WASM" --listen 127.0.0.1:0 --instance-reuse 0
"${CLIENT[@]}" wrk -t1 -c2 -d3s "$URL/hello" >/dev/null
median() { { grep -o "$1=[0-9]*" "$phases" || true; } | cut -d= -f2 | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "n/a") }'; }
p_inst=$(median instantiate_us); p_call=$(median call_us); p_body=$(median body_us); p_close=$(median close_us)
cleanup; pids=()
rm -f "$phases"

# Second start (cache warm): process start to the first 200, best of 3.
startups=()
for _ in 1 2 3; do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  t0=$(date +%s%N)
  target/release/wasm-gateway serve "$WASM" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 2000); do curl -sf -o /dev/null "http://127.0.0.1:$port/hello" && break; sleep 0.005; done
  startups+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
startup=$(printf '%s\n' "${startups[@]}" | sort -n | head -1)

row() { echo "| $1 | $(median_of 1 "${@:2}") | $(median_of 2 "${@:2}") ms | $(median_of 3 "${@:2}") ms |"; }
g_rps=$(median_of 1 "${g_runs[@]}"); r_rps=$(median_of 1 "${r_runs[@]}")
ratio=$(awk -v a="$r_rps" -v b="$g_rps" 'BEGIN { printf "%.2f", a / b }')
mkdir -p bench/results
{
  echo "| server (Flask 3.1.3, GET /hello) | requests/s | p50 latency | p99 latency |"
  echo "|---|---:|---:|---:|"
  row "gunicorn 27.0.1 -w 2 (sync), native CPython $(python3 -c 'import sys; print(sys.version.split()[0])')" "${g_runs[@]}"
  row "wasm-gateway, instance reuse (CPython 3.14 in wasm)" "${r_runs[@]}"
  row "wasm-gateway, fresh instance per request" "${f_runs[@]}"
  echo
  echo "Reuse mode serves **${ratio}x** gunicorn's requests/s (medians of $ROUNDS alternating rounds of wrk -t1 -c$CONNECTIONS -d${DURATION}s; $(nproc) cores, ${CLIENT[*]:-no pinning} for wrk, ${SERVER[*]:-no pinning} for the servers; access logs off; $(date -u +%Y-%m-%d))."
  echo
  echo "Fresh instance, median per phase (wrk -c2): instantiate ${p_inst} µs, call ${p_call} µs, body ${p_body} µs, close ${p_close} µs."
  echo
  echo "Second start, compile cache warm, process start to first 200: **${startup} ms** (best of 3: ${startups[*]} ms)."
} | tee bench/results/python.md
