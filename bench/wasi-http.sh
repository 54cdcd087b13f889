#!/usr/bin/env bash
# The same standard wasi:http hello component (the `proxy_hello` fixture)
# served by wasm-gateway and by `wasmtime serve` 48 (a fresh instance per
# request in both), with the WSGI hello example and the wasi:http hello
# with opt-in instance reuse beside them, measured in rotating rounds in
# one run.
#
#   bench/wasi-http.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]   (PIN=0 to not pin cores)
#
# `wasmtime serve` comes from crates.io (wasmtime-cli 48.0.8), installed once
# into a cache this script manages: $WASMTIME_BENCH_CACHE, default
# target/bench-tools. The first install compiles wasmtime from source:
# about 35 minutes on a busy 2-core machine; later runs reuse it.
#
# Writes a Markdown table to bench/results/wasi-http.md and stdout. Every loop
# is bounded by wrk's duration and ROUNDS; the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${1:-10}
CONNECTIONS=${2:-32}
ROUNDS=${3:-3}
WASMTIME_VERSION=48.0.8
CACHE=${WASMTIME_BENCH_CACHE:-target/bench-tools}
WASMTIME="$CACHE/wasmtime-$WASMTIME_VERSION/bin/wasmtime"

ensure_wrk
if [ ! -x "$WASMTIME" ]; then
  echo "installing wasmtime-cli $WASMTIME_VERSION into $CACHE (a first build takes half an hour on 2 cores)..." >&2
  cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked \
    --root "$CACHE/wasmtime-$WASMTIME_VERSION" --target-dir "$CACHE/build" >&2
fi
"$WASMTIME" --version | grep -q "$WASMTIME_VERSION" || { echo "$WASMTIME is not $WASMTIME_VERSION" >&2; exit 1; }

cargo build --release --quiet -p wasm-gateway
cargo xtask build-examples >/dev/null
cargo build --quiet --profile guest --target wasm32-wasip2 -p wasm-gateway-fixtures --example proxy_hello
PROXY=target/wasm32-wasip2/guest/examples/proxy_hello.wasm
WSGI=target/examples/hello.wasm

# free_port : a port nothing listens on now
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for URL EXPECTED : until URL answers with EXPECTED (10 s at most)
wait_for() {
  for _ in $(seq 100); do
    [ "$(curl -s "$1" 2>/dev/null)" = "$2" ] && return
    sleep 0.1
  done
  echo "$1 does not answer \"$2\"" >&2; exit 1
}

hello_proxy="Hello from a wasi:http component"
# The access logs are off on both sides: what is measured is serving.
RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" target/release/wasm-gateway \
  serve "$PROXY" --listen 127.0.0.1:0
GATEWAY_PROXY=$URL
wait_for "$GATEWAY_PROXY/" "$hello_proxy"
# The same, with opt-in instance reuse (weaker isolation between one
# request and the next of the same app; docs/security.md).
RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" target/release/wasm-gateway \
  serve "$PROXY" --listen 127.0.0.1:0 --instance-reuse 1000
GATEWAY_REUSE=$URL
wait_for "$GATEWAY_REUSE/" "$hello_proxy"
RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" target/release/wasm-gateway \
  serve "$WSGI" --listen 127.0.0.1:0
GATEWAY_WSGI=$URL
wait_for "$GATEWAY_WSGI/" "Hello, world!"
port=$(free_port)
# -Scli: the fixture imports wasi:cli/environment and stdio, as every Rust
# component does; `wasmtime serve` links them only with it.
"${SERVER[@]}" "$WASMTIME" serve -Scli --addr "127.0.0.1:$port" "$PROXY" >/dev/null 2>&1 &
pids+=($!)
WASMTIME_URL="http://127.0.0.1:$port"
wait_for "$WASMTIME_URL/" "$hello_proxy"

names=(gateway-proxy wasmtime-serve gateway-wsgi gateway-reuse)
declare -A url=([gateway-proxy]=$GATEWAY_PROXY/ [wasmtime-serve]=$WASMTIME_URL/ [gateway-wsgi]=$GATEWAY_WSGI/ [gateway-reuse]=$GATEWAY_REUSE/)
declare -A runs
for ((round = 1; round <= ROUNDS; round++)); do
  # Each round starts with another server: no one always runs first.
  line="round $round:"
  for ((i = 0; i < ${#names[@]}; i++)); do
    name=${names[$(((i + round - 1) % ${#names[@]}))]}
    result=$(measure "${url[$name]}")
    runs[$name]+="$result"$'\n'
    line+=" $name $result |"
  done
  echo "$line (rps p50 p99)" >&2
done

mkdir -p bench/results
{
  echo "| server | component | requests/s | p50 latency | p99 latency | vs wasmtime serve |"
  echo "|---|---|---:|---:|---:|---:|"
  mapfile -t w < <(printf '%s' "${runs[wasmtime-serve]}")
  base=$(median_of 1 "${w[@]}")
  for name in gateway-proxy wasmtime-serve gateway-wsgi gateway-reuse; do
    mapfile -t r < <(printf '%s' "${runs[$name]}")
    rps=$(median_of 1 "${r[@]}"); p50=$(median_of 2 "${r[@]}"); p99=$(median_of 3 "${r[@]}")
    case $name in
      gateway-proxy) what="wasm-gateway | proxy_hello (wasi:http)" ;;
      wasmtime-serve) what="wasmtime serve $WASMTIME_VERSION | proxy_hello (wasi:http)" ;;
      gateway-wsgi) what="wasm-gateway | hello example (WSGI)" ;;
      gateway-reuse) what="wasm-gateway, --instance-reuse 1000 | proxy_hello (wasi:http)" ;;
    esac
    ratio=$(awk -v r="$rps" -v b="$base" 'BEGIN { printf "%.2fx", r / b }')
    echo "| $what | $rps | ${p50} ms | ${p99} ms | $ratio |"
  done
  echo
  echo "Medians of $ROUNDS rotating rounds of wrk -t1 -c$CONNECTIONS -d${DURATION}s; $(nproc) cores, ${CLIENT[*]:-no pinning} for wrk, ${SERVER[*]:-no pinning} for the servers; $(date -u +%Y-%m-%d)."
} | tee bench/results/wasi-http.md
