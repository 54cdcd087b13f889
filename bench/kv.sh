#!/usr/bin/env bash
# What a key-value round trip costs a request: a counter (one atomic
# increment per request, the `kv` fixture's `op=incr`) on SQLite and on
# Redis, beside the hello example and the same fixture opening the store
# without a call to it (`op=open`: the same guest and routing, no store I/O),
# all with a fresh instance per request, measured in rotating rounds in one
# run, at each load of LOADS (connections; default "1 32").
#
#   bench/kv.sh [DURATION_SECONDS] [ROUNDS]   (PIN=0 to not pin cores; LOADS="1 32")
#
# Builds in $CARGO_TARGET_DIR (default target/); WASM_GATEWAY_BIN=PATH
# serves with that binary instead of building the release one.
#
# The "added" column is the time per request a row costs beyond `op=open`
# (1/rps minus open's 1/rps): at one connection, that is the latency the
# store's round trip adds (the goal: under 50 µs on SQLite).
#
# SQLite is a fresh file in a temporary data directory; Redis is Debian's
# redis-server (installed with apt-get when missing), started here on a free
# loopback port without persistence. Writes a Markdown table to
# bench/results/kv.md and stdout. Every loop is bounded by wrk's duration and
# ROUNDS; the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${1:-10}
ROUNDS=${2:-3}
LOADS=${LOADS:-"1 32"}

ensure_wrk
if ! command -v redis-server >/dev/null && [ ! -x /usr/bin/redis-server ]; then
  echo "installing redis-server..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null; fi
fi
REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)

TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
BIN=${WASM_GATEWAY_BIN:-$TARGET/release/wasm-gateway}
[ -n "${WASM_GATEWAY_BIN:-}" ] || cargo build --release --quiet -p wasm-gateway
cargo xtask build-examples >/dev/null
cargo build --quiet --profile guest --target wasm32-wasip2 -p wasm-gateway-fixtures --example kv
KV=$TARGET/wasm32-wasip2/guest/examples/kv.wasm
HELLO=$TARGET/examples/hello.wasm

work=$(mktemp -d)
cleanup_work() { cleanup; rm -rf "$work"; }
trap cleanup_work EXIT

# free_port : a port nothing listens on now
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

redis_port=$(free_port)
"${SERVER[@]}" "$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 100); do
  [ "$(printf 'PING\r\n' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port; cat >&3; head -c 7 <&3" 2>/dev/null)" = $'+PONG\r' ] && break
  sleep 0.1
done

cat >"$work/gateway.toml" <<EOF
[server]
data-dir = "data"

[kv.redis]
type = "redis"
url = "redis://127.0.0.1:$redis_port/0"

[apps.hello]
wasm = "$HELLO"
routes = ["/hello"]

[apps.counter]
wasm = "$KV"
routes = ["/counter"]
[apps.counter.grants]
kv = ["default", "redis"]
EOF

# The access log is off: what is measured is serving.
RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" "$BIN" \
  serve "$work/gateway.toml" --listen 127.0.0.1:0
GATEWAY=$URL

# wait_for URL : until URL answers 200 (10 s at most)
wait_for() {
  for _ in $(seq 100); do
    curl -fs "$1" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "$1 does not answer" >&2; exit 1
}

names=(hello open sqlite redis)
declare -A url=(
  [hello]=$GATEWAY/hello/
  [open]="$GATEWAY/counter?op=open&store=default"
  [sqlite]="$GATEWAY/counter?op=incr&store=default&key=hits"
  [redis]="$GATEWAY/counter?op=incr&store=redis&key=hits"
)
for name in "${names[@]}"; do wait_for "${url[$name]}"; done

mkdir -p bench/results
{
  for CONNECTIONS in $LOADS; do
    declare -A runs=()
    for ((round = 1; round <= ROUNDS; round++)); do
      # Each round starts with another row: no one always runs first.
      line="$CONNECTIONS connections, round $round:"
      for ((i = 0; i < ${#names[@]}; i++)); do
        name=${names[$(((i + round - 1) % ${#names[@]}))]}
        result=$(measure "${url[$name]}")
        runs[$name]+="$result"$'\n'
        line+=" $name $result |"
      done
      echo "$line (rps p50 p99)" >&2
    done
    echo "$CONNECTIONS connections:"
    echo
    echo "| app | requests/s | p50 latency | p99 latency | added per request vs open |"
    echo "|---|---:|---:|---:|---:|"
    mapfile -t o < <(printf '%s' "${runs[open]}")
    base=$(median_of 1 "${o[@]}")
    for name in "${names[@]}"; do
      mapfile -t r < <(printf '%s' "${runs[$name]}")
      rps=$(median_of 1 "${r[@]}"); p50=$(median_of 2 "${r[@]}"); p99=$(median_of 3 "${r[@]}")
      case $name in
        hello) what="hello example (no store)" ;;
        open) what="kv fixture, op=open (no store call)" ;;
        sqlite) what="kv fixture, op=incr on SQLite (default)" ;;
        redis) what="kv fixture, op=incr on Redis" ;;
      esac
      added=$(awk -v r="$rps" -v b="$base" -v c="$CONNECTIONS" 'BEGIN { printf "%.1f µs", (c / r - c / b) * 1e6 }')
      echo "| $what | $rps | ${p50} ms | ${p99} ms | $added |"
    done
    echo
    unset runs
  done
  echo "Medians of $ROUNDS rotating rounds of wrk -t1 -d${DURATION}s per load; a fresh instance per request; $(nproc) cores, ${CLIENT[*]:-no pinning} for wrk, ${SERVER[*]:-no pinning} for the servers (wasm-gateway and redis-server); $(date -u +%Y-%m-%d)."
} | tee bench/results/kv.md
