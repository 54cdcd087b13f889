#!/usr/bin/env bash
# Hello-world load test: the sandboxed `hello` example (fresh instance per
# request) beside a plain hyper server, in one run, on loopback.
#
#   bench/run.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]     (PIN=0 to not pin cores)
#
# Installs wrk (Debian package) if missing, builds both servers in release
# mode, then runs ROUNDS rounds, each measuring plain hyper then wasm-gateway
# with the same wrk settings, so slow drifts of a shared machine hit both
# alike. Reports the median of each figure and the ratio of the medians, as a
# Markdown table (also written to bench/results/hello.md). Every loop is
# bounded by wrk's duration and ROUNDS; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10}
CONNECTIONS=${2:-32}
ROUNDS=${3:-3}
THREADS=1
source bench/lib.sh
ensure_wrk

cargo build --release --quiet -p wasm-gateway -p hyper-hello
cargo xtask build-examples >/dev/null

start "${SERVER[@]}" target/release/hyper-hello
HYPER=$URL
# Plain hyper logs nothing, so the like-for-like run has the access log off;
# a second instance with it on shows what the log line costs.
RUST_LOG=wasm_gateway::access=off start "${SERVER[@]}" target/release/wasm-gateway serve target/examples/hello.wasm --listen 127.0.0.1:0
WASM=$URL
start "${SERVER[@]}" target/release/wasm-gateway serve target/examples/hello.wasm --listen 127.0.0.1:0
WASM_LOG=$URL
hyper_runs=(); wasm_runs=(); log_runs=()
for ((round = 1; round <= ROUNDS; round++)); do
  hyper_runs+=("$(measure "$HYPER/")")
  wasm_runs+=("$(measure "$WASM/")")
  log_runs+=("$(measure "$WASM_LOG/")")
  echo "round $round: hyper ${hyper_runs[-1]} | wasm-gateway ${wasm_runs[-1]} | with access log ${log_runs[-1]} (rps p50 p99)" >&2
done
h_rps=$(median_of 1 "${hyper_runs[@]}"); h_p50=$(median_of 2 "${hyper_runs[@]}"); h_p99=$(median_of 3 "${hyper_runs[@]}")
w_rps=$(median_of 1 "${wasm_runs[@]}"); w_p50=$(median_of 2 "${wasm_runs[@]}"); w_p99=$(median_of 3 "${wasm_runs[@]}")
l_rps=$(median_of 1 "${log_runs[@]}"); l_p50=$(median_of 2 "${log_runs[@]}"); l_p99=$(median_of 3 "${log_runs[@]}")

# Where one request's time goes: a short, lighter run with phase timings on.
phases=$(mktemp)
STDERR=$phases RUST_LOG=wasm_gateway::timing=trace,wasm_gateway::access=off \
  start "${SERVER[@]}" target/release/wasm-gateway serve target/examples/hello.wasm --listen 127.0.0.1:0
"${CLIENT[@]}" wrk -t1 -c4 -d3s "$URL/" >/dev/null
median() { { grep -o "$1=[0-9]*" "$phases" || true; } | cut -d= -f2 | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "n/a") }'; }
p_inst=$(median instantiate_us); p_call=$(median call_us); p_body=$(median body_us); p_close=$(median close_us)
samples=$(grep -c instantiate_us "$phases" || true)
rm -f "$phases"

ratio=$(awk -v a="$w_rps" -v b="$h_rps" 'BEGIN { printf "%.1f", 100 * a / b }')
mkdir -p bench/results
{
  echo "| server | requests/s | p50 latency | p99 latency |"
  echo "|---|---:|---:|---:|"
  echo "| plain hyper (no sandbox) | $h_rps | ${h_p50} ms | ${h_p99} ms |"
  echo "| wasm-gateway, hello.wasm, fresh instance per request (access log off) | $w_rps | ${w_p50} ms | ${w_p99} ms |"
  echo "| the same with the access log on (stdout to a pipe) | $l_rps | ${l_p50} ms | ${l_p99} ms |"
  echo
  echo "wasm-gateway reaches **${ratio}%** of plain hyper's requests/s (medians of $ROUNDS alternating rounds of wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; $(nproc) cores, ${CLIENT[*]:-no pinning} for wrk, ${SERVER[*]:-no pinning} for the servers; $(date -u +%Y-%m-%d))."
  echo
  echo "Median time per phase inside one request (wrk -c4, $samples samples): instantiate ${p_inst} µs, call ${p_call} µs, body ${p_body} µs, close (drop the body resource) ${p_close} µs."
} | tee bench/results/hello.md
