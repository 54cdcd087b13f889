#!/usr/bin/env bash
# Fault suite under load: the healthy `hello` app serves wrk while misbehaving
# guests (loop forever, allocate until refused, overflow the stack, panic,
# misuse start_response, a 1 MiB header, a body that never ends, a socket
# it is not granted) are driven
# at the same time, all in one gateway (bench/faults/gateway.toml). The
# healthy app must see no error at all; its latency is reported beside a
# baseline without faults, with the server's memory (RSS).
#
#   bench/faults.sh            normal: baseline, then the same load with faults
#   bench/faults.sh long       then keep going, in rounds, until the healthy
#                              app has served LONG_REQUESTS (1,000,000)
#                              requests with faults; the server's RSS is
#                              sampled every second
#
# Settings (environment): DURATION (seconds per phase, 30), CONNECTIONS
# (healthy wrk connections, 32), FAULT_CONNECTIONS (connections per fault
# route, 2 = the fault apps' concurrency cap; more makes them shed 503s),
# WARMUP (seconds of healthy load with the faults before the starting RSS
# is taken, 30), LONG_REQUESTS (1000000), ROUND (long mode: seconds per
# round, 30), MAX_ROUNDS (long mode: give up after this many rounds, 200),
# FAULTS (the faults to drive, space-separated, default all: "spin hog
# recurse trap no_start_response restart bad_header big_header sandbox
# stream random_hog hostile_text"; one
# at a time shows what each costs the healthy app), PIN=0 to not pin cores.
#
# Writes a Markdown report to bench/results/faults.md (faults-long.md in long
# mode) and stdout. Exits 1 if the healthy app saw any error (a non-2xx
# status, or any socket error: connect, read, write, timeout) or logged a
# warning or error, if the server died, or if a fault answered something
# other than what it must (a shed 503, or a 504 at its deadline, excepted: a
# faulting app runs at low priority, see host/src/runtime/lanes.rs). Every loop is bounded (wrk
# durations, MAX_ROUNDS, a few-second wait for shutdown); every process
# started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-normal}
case $MODE in normal | long) ;; *) echo "usage: bench/faults.sh [normal|long]" >&2; exit 2 ;; esac
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-30}
CONNECTIONS=${CONNECTIONS:-32}
FAULT_CONNECTIONS=${FAULT_CONNECTIONS:-2}
LONG_REQUESTS=${LONG_REQUESTS:-1000000}
ROUND=${ROUND:-30}
MAX_ROUNDS=${MAX_ROUNDS:-200}
CONFIG=bench/faults/gateway.toml
# The faults (also their route names in $CONFIG).
read -r -a ALL <<<"${FAULTS:-spin hog recurse trap no_start_response restart bad_header big_header sandbox stream random_hog hostile_text}"
# Those driven through bench/faults/faults.lua, one wrk thread each; the
# stream fault is driven apart (see start_faults).
LUA_FAULTS=(); STREAM=0
for f in "${ALL[@]}"; do
  case $f in
    stream) STREAM=1 ;;
    spin | hog | recurse | trap | no_start_response | restart | bad_header | big_header | sandbox | random_hog | hostile_text) LUA_FAULTS+=("$f") ;;
    *) echo "bench/faults.sh: unknown fault $f" >&2; exit 2 ;;
  esac
done
# "Forever": 2^60 bytes. The stream app's 2 s deadline cuts it long before.
STREAM_BYTES=$((1 << 60))
# wrk counts a request still unanswered after --timeout as a timeout error
# and leaves its latency out of the histogram. The healthy app's requests
# take under a second even with every fault running (0.9 s at most in
# trials, when spinning guests hold the runtime), so 10 s counts only a
# request really stuck as an error, where wrk's 2 s default sits close
# enough to that tail to turn a slow answer into a false error. For the
# faults, 30 s is beyond the longest a fault may take (2 s deadline plus 2 s
# queue timeout), so their own latencies are measured, not counted as errors.
HEALTHY_TIMEOUT=10s
FAULT_TIMEOUT=30s

# Like bench/run.sh: on a machine with at least two cores, every wrk runs on
# core 0 and the server on the others, so load generators and server never
# compete for a core. With one core, or PIN=0, nothing is pinned.
if [ "${PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  CLIENT=(taskset -c 0); SERVER=(taskset -c 1-$(($(nproc) - 1)))
else
  CLIENT=(); SERVER=()
fi

if ! command -v wrk >/dev/null; then
  echo "installing wrk..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi

# The config names the components by paths below ../../target, so the build
# must land in the workspace's own target directory.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ "$(realpath -m "$CARGO_TARGET_DIR")" != "$(realpath -m target)" ]; then
  echo "bench/faults.sh: $CONFIG expects the build in ./target; unset CARGO_TARGET_DIR" >&2
  exit 2
fi
cargo build --release --quiet -p wasm-gateway
cargo xtask build-examples >/dev/null
cargo xtask build-fixtures >/dev/null
target/release/wasm-gateway check "$CONFIG" >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

log() { echo "$*" >&2; }
failures=()

# Start the gateway. Its stdout (the http:// line, then nothing: the access
# log is off, as in run.sh's like-for-like runs) is read here; its stderr
# goes through awk, which tallies the log events by level and app (a fault
# must log its ERROR; the healthy app must log nothing) instead of keeping
# gigabytes of trap backtraces on disk over a long run.
start_server() {
  mkfifo "$work/out" "$work/err"
  RUST_LOG=info,wasm_gateway::access=off "${SERVER[@]}" target/release/wasm-gateway \
    serve "$CONFIG" --listen 127.0.0.1:0 >"$work/out" 2>"$work/err" &
  SERVER_PID=$!
  pids+=("$SERVER_PID")
  # An event's first line starts with its timestamp and level, then the
  # request's span, `request{app=NAME request=N}:`; an event outside one
  # (the log budget's report) has `app=NAME` as a field on the same line or,
  # after a multi-line message, on the last one. Count each event once.
  awk '
    /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/ { level = $2; counted = 0 }
    !counted && match($0, /[{ ]app=[A-Za-z0-9_-]+/) {
      n[level " " substr($0, RSTART + 5, RLENGTH - 5)]++; counted = 1
    }
    END { for (k in n) print k, n[k] }' <"$work/err" >"$work/log-tally" &
  LOG_PID=$!
  pids+=("$LOG_PID")
  exec 3<"$work/out"
  # Compiling ten components takes a few seconds; a minute is plenty.
  if ! read -r -t 60 URL <&3; then
    log "bench/faults.sh: the server did not print its address"; exit 1
  fi
  rm "$work/out" "$work/err"
  cat <&3 >/dev/null &
  pids+=($!)
  # taskset execs the server, so the PID is the server's own: the one whose
  # memory is reported.
  if [ "$(cat "/proc/$SERVER_PID/comm")" != wasm-gateway ]; then
    log "bench/faults.sh: PID $SERVER_PID is $(cat "/proc/$SERVER_PID/comm"), not the server"; exit 1
  fi
}

# Stop the server (SIGTERM, then SIGKILL after 5 s) and let the log tally end.
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  wait "$LOG_PID" 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }

# sample_rss SECONDS OUT : appends the server's VmRSS (KiB) to OUT once a
# second, SECONDS - 1 times (so it ends with the round it samples). One
# sample is noisy: two hog instances hold up to 64 MiB while they run, and
# freed instance memory is returned to the kernel in batches
# (decommit_batch_size 32), so RSS swings by tens of MiB from second to
# second; medians over many samples show the trend.
sample_rss() {
  for ((k = 1; k < $1; k++)); do
    awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" >>"$2" 2>/dev/null || return 0
    sleep 1
  done
}

# median_tail FILE N : the median of the last N lines of FILE.
median_tail() { tail -n "$2" "$1" | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }
max_of() { sort -n "$@" | tail -1; }

server_alive() {
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    failures+=("the server died (PID $SERVER_PID)")
    return 1
  fi
}

# healthy SECONDS OUT : wrk on the healthy app, raw output to OUT.
healthy() {
  "${CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d"$1s" --timeout "$HEALTHY_TIMEOUT" --latency "$URL/" >"$2" 2>&1 || true
}

# parse_healthy OUT : prints "requests rps p50_ms p99_ms max_ms non2xx
# connect read write timeout" from wrk's output (absent counters are 0).
parse_healthy() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v
    }
    / requests in / { req = $1 }
    /^ +Latency +[0-9]/ { max = ms($4) }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(",", ""); c = $4; r = $6; w = $8; t = $10 }
    END { printf "%d %.0f %.3f %.3f %.3f %d %d %d %d %d\n", req, rps, p50, p99, max, non2xx, c, r, w, t }' "$1"
}

# start_faults SECONDS OUT_PREFIX : drives every fault for SECONDS in the
# background; sets FAULT_PIDS. One wrk thread per fault route (faults.lua
# checks each response). The stream fault gets a plain wrk of its own:
# wrk hands response() the whole body, and this body never ends.
start_faults() {
  FAULT_PIDS=()
  if ((${#LUA_FAULTS[@]} > 0)); then
    "${CLIENT[@]}" wrk -t"${#LUA_FAULTS[@]}" -c$((${#LUA_FAULTS[@]} * FAULT_CONNECTIONS)) -d"$1s" \
      --timeout "$FAULT_TIMEOUT" -s bench/faults/faults.lua "$URL" -- "${LUA_FAULTS[@]}" >"$2.faults" 2>&1 &
    FAULT_PIDS+=($!)
  fi
  if ((STREAM)); then
    "${CLIENT[@]}" wrk -t1 -c"$FAULT_CONNECTIONS" -d"$1s" --timeout "$FAULT_TIMEOUT" \
      "$URL/stream?bytes=$STREAM_BYTES" >"$2.stream" 2>&1 &
    FAULT_PIDS+=($!)
  fi
  pids+=("${FAULT_PIDS[@]}")
}

wait_faults() {
  for p in "${FAULT_PIDS[@]}"; do wait "$p" || true; done
}

# with_faults SECONDS OUT_PREFIX : one round of healthy load with every fault
# driven beside it; sets FIGURES to the healthy figures (see parse_healthy).
# (Not printed for a $(...): the wrk PIDs must reach cleanup in this shell.)
with_faults() {
  start_faults "$1" "$2"
  : >"$2.rss"
  sample_rss "$1" "$2.rss" &
  local sampler=$!
  pids+=("$sampler")
  healthy "$1" "$2.healthy"
  wait_faults
  wait "$sampler" || true
  FIGURES=$(parse_healthy "$2.healthy")
}

start_server
log "server PID $SERVER_PID on $URL (client: ${CLIENT[*]:-unpinned}, server: ${SERVER[*]:-unpinned})"

# Phase 1: the healthy app alone, after a short warm-up.
healthy 2 "$work/warm"
healthy "$DURATION" "$work/baseline"
read -r b_req b_rps b_p50 b_p99 b_max b_non b_c b_r b_w b_t < <(parse_healthy "$work/baseline")
log "baseline: $b_req requests, $b_rps/s, p50 ${b_p50} ms, p99 ${b_p99} ms"
# wrk prints no summary when it cannot run at all (e.g. "unable to connect").
((b_req > 0)) || failures+=("baseline: the healthy app served no request; wrk: $(tail -1 "$work/baseline")")

# Warm-up with the faults too, so that one-time growth is in the starting
# RSS, not counted as growth: runtime threads, allocator arenas, and above
# all the instance pool's slots, each of which keeps up to 2 MiB of linear
# memory resident once used (linear_memory_keep_resident); slots are
# reached gradually as apps alternate in them, which took about 45 s of
# this load in trials.
with_faults "$WARMUP" "$work/warm"
# The starting RSS: the median of the warm-up's last 10 one-second samples,
# beside the single sample taken right after it.
rss_start=$(median_tail "$work/warm.rss" 10)
rss_series=("$(rss_kib)")
log "RSS after warm-up: ${rss_series[0]} KiB (median of its last 10 s: $rss_start KiB)"

# Phase 2: the same healthy load with every fault driven at once; in long
# mode, rounds of it until the healthy app has served LONG_REQUESTS.
# One "requests rps p50 p99 max non2xx connect read write timeout rss
# rss_median rss_max" per round (RSS in KiB: after the round, the median
# and the largest of its one-second samples).
rounds=()
total=0
if [ "$MODE" = normal ]; then
  target=0; round_seconds=$DURATION; max_rounds=1
else
  target=$LONG_REQUESTS; round_seconds=$ROUND; max_rounds=$MAX_ROUNDS
fi
for ((i = 1; i <= max_rounds; i++)); do
  with_faults "$round_seconds" "$work/round$i"
  figures=$FIGURES
  [ "${figures%% *}" != 0 ] || failures+=("round $i: the healthy app served no request; wrk: $(tail -1 "$work/round$i.healthy")")
  server_alive || break
  rss=$(rss_kib)
  rss_series+=("$rss")
  rounds+=("$figures $rss $(median_tail "$work/round$i.rss" 1000000) $(max_of "$work/round$i.rss")")
  total=$((total + ${figures%% *}))
  log "round $i: $figures (requests rps p50 p99 max non2xx connect read write timeout), total $total, RSS $rss KiB (median over the round $(median_tail "$work/round$i.rss" 1000000))"
  ((total >= target)) && break
done
if ((total < target)); then
  failures+=("long mode stopped after $max_rounds rounds with $total of $target healthy requests (raise MAX_ROUNDS)")
fi
# The final RSS, measured like the starting one: the median of the last
# round's last 10 samples.
rss_end=0
((${#rounds[@]} == 0)) || rss_end=$(median_tail "$work/round${#rounds[@]}.rss" 10)
stop_server

# Sums over the rounds of phase 2.
# Over several rounds: requests/s over the whole time, the median p50 and
# the worst p99 and max of the rounds (sorted by p50 for the median).
read -r p_req p_rps p_p50 p_p99 p_max p_non p_c p_r p_w p_t <<<"$(printf '%s\n' "${rounds[@]}" | sort -g -k3,3 | awk -v secs="$round_seconds" '
  { req += $1; p50[NR] = $3; if ($4 > worst) worst = $4; if ($5 > max) max = $5
    non += $6; c += $7; r += $8; w += $9; t += $10 }
  END {
    printf "%d %.0f %.3f %.3f %.3f %d %d %d %d %d\n", req, req / (NR * secs), p50[int((NR + 1) / 2)], worst, max, non, c, r, w, t }')"

# The healthy app's own log events (a failed request logs at WARN or ERROR).
healthy_logged=$(awk '$2 == "hello" && ($1 == "WARN" || $1 == "ERROR") { n += $3 } END { print n + 0 }' "$work/log-tally")
if ((healthy_logged > 0)); then
  failures+=("the healthy app logged $healthy_logged warnings or errors")
fi
healthy_errors=$((b_non + b_c + b_r + b_w + b_t + p_non + p_c + p_r + p_w + p_t))
if ((healthy_errors > 0)); then
  failures+=("the healthy app saw $healthy_errors errors (baseline: non-2xx $b_non, connect $b_c, read $b_r, write $b_w, timeout $b_t; with faults: non-2xx $p_non, connect $p_c, read $p_r, write $p_w, timeout $p_t)")
fi

# Fault tallies summed over the rounds (not the warm-up): "name sent expected
# shed late unexpected unfinished statuses". A fault not driven has no files
# (hence the "|| true": the glob stays unexpanded and cat fails).
fault_rows=$({ cat "$work"/round*.faults 2>/dev/null || true; } | awk '
  $1 == "fault" {
    name = $2; order[name] = order[name] ? order[name] : ++names
    sent[name] += $4; ok[name] += $6; shed[name] += $8; late[name] += $10; bad[name] += $12; open[name] += $14
    for (i = 15; i <= NF; i++) { split($i, kv, "="); other[name, kv[1]] += kv[2]; codes[kv[1]] = 1 }
  }
  END {
    for (name in order) {
      s = ""; for (code in codes) if ((name, code) in other) s = s code "=" other[name, code] " "
      printf "%d %s %d %d %d %d %d %d %s\n", order[name], name, sent[name], ok[name], shed[name], late[name], bad[name], open[name], (s == "" ? "-" : s)
    }
  }' | sort -n | cut -d' ' -f2-)
# The stream fault: responses completed (must be 0: the deadline cuts every
# one), read errors (each a body cut at the deadline), bytes received.
read -r s_done s_cut s_bytes <<<"$({ cat "$work"/round*.stream 2>/dev/null || true; } | awk '
  function bytes(v) {
    if (v ~ /GB$/) return v * 2^30; if (v ~ /MB$/) return v * 2^20; if (v ~ /KB$/) return v * 2^10
    if (v ~ /B$/) return v + 0; return v }
  / requests in / { done += $1; b = $5; sub(",", "", b); total += bytes(b) }
  /Socket errors:/ { gsub(",", ""); cut += $6 }
  END { printf "%d %d %.1f\n", done, cut, total / 2^30 }')"
if ! awk '$6 > 0 { exit 1 }' <<<"$fault_rows"; then
  failures+=("a fault gave a response other than its expected one (see the fault table)")
fi
if ((s_done > 0)); then
  failures+=("$s_done never-ending stream(s) completed: the deadline did not cut them")
fi
if ((${#LUA_FAULTS[@]} > 0)) && [ -z "$fault_rows" ]; then
  failures+=("no fault tallies (faults.lua output missing)")
fi

expected_of() {
  case $1 in
    spin) echo "504, at the 1 s deadline" ;;
    hog) echo "500 (memory limit 32 MiB: trap)" ;;
    recurse) echo "500 (stack overflow: trap)" ;;
    trap) echo "500 (panic: trap)" ;;
    no_start_response) echo "500 (contract broken)" ;;
    restart) echo "200, second call refused" ;;
    bad_header) echo "200, CRLF/hop-by-hop/bad status/bad name refused" ;;
    big_header) echo "200, 1 MiB header refused" ;;
    sandbox) echo "500 (socket not granted: trapping stub)" ;;
    random_hog) echo "504, at the 1 s deadline (1 MiB random per call, in a loop)" ;;
    hostile_text) echo "200, 300 refusals (60 KiB names) logged within the app's budget" ;;
    *) echo "?" ;;
  esac
}

report=bench/results/faults.md
[ "$MODE" = long ] && report=bench/results/faults-long.md
rss_max=$(max_of "$work"/warm.rss "$work"/round*.rss)
rss_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
round_word=$([ "$MODE" = long ] && echo "${#rounds[@]} rounds of ${round_seconds} s" || echo "${round_seconds} s")
mkdir -p bench/results
{
  echo "## Healthy app (hello on /) under fault load"
  echo
  echo "| phase | healthy requests | requests/s | p50 | p99 | max | non-2xx | socket errors (connect/read/write/timeout) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  echo "| baseline: hello alone, ${DURATION} s | $b_req | $b_rps | ${b_p50} ms | ${b_p99} ms | ${b_max} ms | $b_non | $b_c/$b_r/$b_w/$b_t |"
  echo "| with the faults driven at once, $round_word | $p_req | $p_rps | ${p_p50} ms$([ "${#rounds[@]}" -gt 1 ] && echo " (median round)") | ${p_p99} ms$([ "${#rounds[@]}" -gt 1 ] && echo " (worst round)") | ${p_max} ms | $p_non | $p_c/$p_r/$p_w/$p_t |"
  echo
  echo "With the faults, the healthy app keeps $(awk -v a="$p_rps" -v b="$b_rps" 'BEGIN { printf "%.0f%%", b ? 100 * a / b : 0 }') of its baseline requests/s."
  echo
  echo "Faults: ${ALL[*]}. wrk -t1 -c$CONNECTIONS --timeout $HEALTHY_TIMEOUT on the healthy app; faults: one wrk thread and $FAULT_CONNECTIONS connection(s) per fault route, plus $FAULT_CONNECTIONS connection(s) on the never-ending stream; $(nproc) cores, ${CLIENT[*]:-no pinning} for every wrk, ${SERVER[*]:-no pinning} for the server; $(date -u +%Y-%m-%d)."
  echo
  echo "## Faults (phase 2)"
  echo
  echo "| fault | must answer | sent | as expected | shed (503) | late (504) | unexpected | unfinished at the end | other statuses |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
  if [ -n "$fault_rows" ]; then
    while read -r name sent ok shed late bad open other; do
      echo "| $name | $(expected_of "$name") | $sent | $ok | $shed | $late | $bad | $open | $other |"
    done <<<"$fault_rows"
  fi
  if ((STREAM)); then
    echo "| stream (2^60 bytes) | 200 head, body cut at the 2 s deadline | $((s_done + s_cut)) | $s_cut cut | - | - | $s_done completed | - | ${s_bytes} GiB received |"
  fi
  echo
  echo "\"Unfinished\": requests in flight when wrk stopped (at most $FAULT_CONNECTIONS per fault per round). Server log events over its whole life (baseline and warm-up included), by app and level: $(sort -k2,2 -k1,1 "$work/log-tally" | awk '{ printf "%s%s %s %s", sep, $2, $1, $3; sep = ", " }')."
  echo
  echo "## Server memory (VmRSS of the wasm-gateway process)"
  echo
  echo "| start (after warm-up) | end | max | growth (end - start) |"
  echo "|---:|---:|---:|---:|"
  echo "| $(rss_mib "$rss_start") MiB | $(rss_mib "$rss_end") MiB | $(rss_mib "$rss_max") MiB | $(awk -v a="$rss_start" -v b="$rss_end" 'BEGIN { printf "%+.1f MiB", (b - a) / 1024 }') |"
  echo
  echo "Start and end: medians of the last 10 one-second samples of the $WARMUP s warm-up (the same load) and of the last round; max: the largest of all one-second samples. Single samples (MiB; right after the warm-up, then after each round): $(for k in "${rss_series[@]}"; do printf '%s ' "$(rss_mib "$k")"; done)"
  if [ "$MODE" = long ]; then
    echo
    echo "### Rounds"
    echo
    echo "| round | healthy requests | requests/s | p50 | p99 | max | errors | RSS median | RSS max |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    i=0
    for r in "${rounds[@]}"; do
      i=$((i + 1))
      read -r q s p5 p9 mx n c rd w t _ km kx <<<"$r"
      echo "| $i | $q | $s | ${p5} ms | ${p9} ms | ${mx} ms | $((n + c + rd + w + t)) | $(rss_mib "$km") MiB | $(rss_mib "$kx") MiB |"
    done
    echo
    echo "Long run: $p_req healthy requests (target $target) with the faults running."
  fi
  echo
  if ((${#failures[@]} == 0)); then
    echo "**PASS**: the healthy app answered all $((b_req + p_req)) requests with 2xx, no socket error; every fault gave its expected answer (or a 504 at its deadline)."
  else
    for f in "${failures[@]}"; do echo "**FAIL**: $f"; done
  fi
} | tee "$report"

((${#failures[@]} == 0))
