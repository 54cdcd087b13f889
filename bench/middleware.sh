#!/usr/bin/env bash
# Per-layer cost of middleware: the `hello` example with 0, 1 and 3
# pass-through layers in front of it (the `ip-blocklist` example with an
# empty list: it parses its environ, calls `next` and returns the response
# untouched), all behind one gateway, measured in alternating rounds.
#
#   bench/middleware.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]   (PIN=0 to not pin cores)
#
# Writes a Markdown table to bench/results/middleware.md and stdout. Every
# loop is bounded by wrk's duration and ROUNDS; the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10}
CONNECTIONS=${2:-32}
ROUNDS=${3:-3}
# wrk on core 0 and the server on the others, as in bench/run.sh.
if [ "${PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  CLIENT=(taskset -c 0); SERVER=(taskset -c 1-$(($(nproc) - 1)))
else
  CLIENT=(); SERVER=()
fi
command -v wrk >/dev/null || { echo "wrk is missing: bench/run.sh installs it (apt-get install wrk)" >&2; exit 2; }

cargo build --release --quiet -p wasm-gateway
cargo xtask build-examples >/dev/null

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

root=$(pwd)
{
  for n in 1 2 3; do
    printf '[middleware.pass%s]\nwasm = "%s/target/examples/ip-blocklist.wasm"\nenv = { BLOCKLIST = "" }\n\n' "$n" "$root"
  done
  printf '[apps.zero]\nwasm = "%s/target/examples/hello.wasm"\nroutes = ["/0"]\n\n' "$root"
  printf '[apps.one]\nwasm = "%s/target/examples/hello.wasm"\nroutes = ["/1"]\nmiddleware = ["pass1"]\n\n' "$root"
  printf '[apps.three]\nwasm = "%s/target/examples/hello.wasm"\nroutes = ["/3"]\nmiddleware = ["pass1", "pass2", "pass3"]\n' "$root"
} >"$work/gateway.toml"

# The access log is off, as in the like-for-like hello run.
RUST_LOG=wasm_gateway::access=off "${SERVER[@]}" target/release/wasm-gateway \
  serve "$work/gateway.toml" --listen 127.0.0.1:0 >"$work/out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do [ -s "$work/out" ] && break; sleep 0.1; done
URL=$(head -1 "$work/out")
[ -n "$URL" ] || { echo "the server did not start" >&2; exit 1; }
for layers in 0 1 3; do
  [ "$(curl -s "$URL/$layers")" = "Hello, world!" ] || { echo "/$layers does not answer" >&2; exit 1; }
done

# measure URL : prints "rps p50_ms p99_ms"
measure() {
  "${CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d2s "$1" >/dev/null   # warm-up
  "${CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx/ { bad = $NF }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { if (bad) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 } printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}
median_of() { local f=$1; shift; printf '%s\n' "$@" | awk -v f="$f" '{ print $f }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A runs
for ((round = 1; round <= ROUNDS; round++)); do
  line="round $round:"
  for layers in 0 1 3; do
    result=$(measure "$URL/$layers")
    runs[$layers]+="$result"$'\n'
    line+=" $layers layers $result |"
  done
  echo "$line (rps p50 p99)" >&2
done

mkdir -p bench/results
{
  echo "| middleware layers in front of hello | requests/s | p50 latency | p99 latency | CPU time per request vs 0 layers |"
  echo "|---|---:|---:|---:|---:|"
  base=""
  for layers in 0 1 3; do
    mapfile -t r < <(printf '%s' "${runs[$layers]}")
    rps=$(median_of 1 "${r[@]}"); p50=$(median_of 2 "${r[@]}"); p99=$(median_of 3 "${r[@]}")
    [ -z "$base" ] && base=$rps
    # With the server's core saturated, 1/rps is its CPU time per request.
    extra=$(awk -v r="$rps" -v b="$base" 'BEGIN { printf "+%.0f µs", 1e6 / r - 1e6 / b }')
    echo "| $layers | $rps | ${p50} ms | ${p99} ms | $extra |"
  done
  echo
  echo "Medians of $ROUNDS alternating rounds of wrk -t1 -c$CONNECTIONS -d${DURATION}s; $(nproc) cores, ${CLIENT[*]:-no pinning} for wrk, ${SERVER[*]:-no pinning} for the server; $(date -u +%Y-%m-%d). Each pass-through layer is the ip-blocklist example with an empty list, in its own instance."
} | tee bench/results/middleware.md
