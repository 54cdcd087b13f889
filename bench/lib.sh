# Helpers shared by the benchmark scripts; source it from bench/*.sh after
# `cd` to the repository root. Sets CLIENT and SERVER (taskset prefixes that
# keep wrk and the servers on separate cores, unless PIN=0 or one core).

if [ "${PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  CLIENT=(taskset -c 0); SERVER=(taskset -c 1-$(($(nproc) - 1)))
else
  CLIENT=(); SERVER=()
fi

ensure_wrk() {
  command -v wrk >/dev/null && return
  echo "installing wrk..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start CMD... : runs CMD (stderr to $STDERR, default /dev/null), waits for
# its http:// line, sets $URL.
start() {
  local fifo; fifo=$(mktemp -u); mkfifo "$fifo"
  "$@" >"$fifo" 2>"${STDERR:-/dev/null}" &
  pids+=($!)
  exec 3<"$fifo"; rm "$fifo"
  read -r URL <&3
  # Keep draining stdout (access log) so the server never blocks on it.
  cat <&3 >/dev/null &
  pids+=($!)
}

# measure URL : prints "rps p50_ms p99_ms" (a 2 s warm-up first)
measure() {
  "${CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d2s "$1" >/dev/null
  "${CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}

# median_of FIELD RUNS... : the median of column FIELD over the runs
median_of() { local f=$1; shift; printf '%s\n' "$@" | awk -v f="$f" '{ print $f }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
