#!/usr/bin/env bash
# Hello-world load test: the sandboxed `hello` example (fresh instance per
# request) beside a plain hyper server, in one run, on loopback.
#
#   bench/run.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Installs wrk (Debian package) if missing, builds both servers in release
# mode, runs wrk against each in turn with the same settings, and prints a
# Markdown table (also written to bench/results/hello.md). Every loop is
# bounded by wrk's duration; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10}
CONNECTIONS=${2:-32}
THREADS=1   # one wrk thread leaves the other core to the server under test

if ! command -v wrk >/dev/null; then
  echo "installing wrk..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi

cargo build --release --quiet -p wasm-gateway -p hyper-hello
cargo xtask build-examples >/dev/null

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start NAME CMD... : runs CMD, waits for its http:// line, sets $URL.
start() {
  local fifo; fifo=$(mktemp -u); mkfifo "$fifo"
  "$@" >"$fifo" 2>/dev/null &
  pids+=($!)
  exec 3<"$fifo"; rm "$fifo"
  read -r URL <&3
  # Keep draining stdout (access log) so the server never blocks on it.
  cat <&3 >/dev/null &
  pids+=($!)
}

# measure URL : prints "rps p50_ms p99_ms"
measure() {
  wrk -t1 -c"$CONNECTIONS" -d2s "$1" >/dev/null   # warm-up
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}

start target/release/hyper-hello
read -r h_rps h_p50 h_p99 < <(measure "$URL/")
start target/release/wasm-gateway serve target/examples/hello.wasm --listen 127.0.0.1:0
read -r w_rps w_p50 w_p99 < <(measure "$URL/")

ratio=$(awk -v a="$w_rps" -v b="$h_rps" 'BEGIN { printf "%.1f", 100 * a / b }')
mkdir -p bench/results
{
  echo "| server | requests/s | p50 latency | p99 latency |"
  echo "|---|---:|---:|---:|"
  echo "| plain hyper (no sandbox) | $h_rps | ${h_p50} ms | ${h_p99} ms |"
  echo "| wasm-gateway, hello.wasm, fresh instance per request | $w_rps | ${w_p50} ms | ${w_p99} ms |"
  echo
  echo "wasm-gateway reaches **${ratio}%** of plain hyper's requests/s (wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $(nproc) cores, $(date -u +%Y-%m-%d))."
} | tee bench/results/hello.md
