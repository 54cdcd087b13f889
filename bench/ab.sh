#!/usr/bin/env bash
# Two builds of wasm-gateway against each other, in one run: the `hello`
# example served by binary A and by binary B (access log off unless ACCESS_LOG=on), measured in
# alternating rounds so that the drifts of a shared machine hit both alike.
# For before/after figures of a change (docs/BENCHMARKS.md).
#
#   bench/ab.sh A_BINARY B_BINARY [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]   (PIN=0 to not pin cores)
#
# ACCESS_LOG=on keeps the access log on (stdout to a pipe) in both.
#
# Build the two binaries first, e.g. from two worktrees:
#   git worktree add /tmp/before REV && (cd /tmp/before && cargo build --release -p wasm-gateway)
# Prints a Markdown table with the median of each figure and B's
# requests/s as a percentage of A's.
set -euo pipefail
cd "$(dirname "$0")/.."

A=${1:?usage: bench/ab.sh A_BINARY B_BINARY [DURATION] [CONNECTIONS] [ROUNDS]}
B=${2:?usage: bench/ab.sh A_BINARY B_BINARY [DURATION] [CONNECTIONS] [ROUNDS]}
DURATION=${3:-10}
CONNECTIONS=${4:-32}
ROUNDS=${5:-5}
source bench/lib.sh
ensure_wrk
cargo xtask build-examples >/dev/null

ACCESS_LOG=${ACCESS_LOG:-off}
RUST_LOG=wasm_gateway::access=$([ "$ACCESS_LOG" = on ] && echo info || echo off)
export RUST_LOG
start "${SERVER[@]}" "$A" serve target/examples/hello.wasm --listen 127.0.0.1:0
A_URL=$URL
start "${SERVER[@]}" "$B" serve target/examples/hello.wasm --listen 127.0.0.1:0
B_URL=$URL
a_runs=(); b_runs=()
for ((round = 1; round <= ROUNDS; round++)); do
  a_runs+=("$(measure "$A_URL/")")
  b_runs+=("$(measure "$B_URL/")")
  echo "round $round: A ${a_runs[-1]} | B ${b_runs[-1]} (rps p50 p99)" >&2
done
a_rps=$(median_of 1 "${a_runs[@]}"); a_p50=$(median_of 2 "${a_runs[@]}"); a_p99=$(median_of 3 "${a_runs[@]}")
b_rps=$(median_of 1 "${b_runs[@]}"); b_p50=$(median_of 2 "${b_runs[@]}"); b_p99=$(median_of 3 "${b_runs[@]}")
ratio=$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { printf "%.1f", 100 * b / a }')
echo "| build | requests/s | p50 latency | p99 latency |"
echo "|---|---:|---:|---:|"
echo "| A: $A | $a_rps | ${a_p50} ms | ${a_p99} ms |"
echo "| B: $B | $b_rps | ${b_p50} ms | ${b_p99} ms |"
echo
echo "B reaches **${ratio}%** of A's requests/s (access log $ACCESS_LOG; medians of $ROUNDS alternating rounds of wrk -t1 -c$CONNECTIONS -d${DURATION}s; $(nproc) cores, ${CLIENT[*]:-unpinned} for wrk, ${SERVER[*]:-unpinned} for the servers; $(date -u +%F))."
