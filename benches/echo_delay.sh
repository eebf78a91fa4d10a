#!/usr/bin/env bash
# The /echo targets of docs/echo.md, measured on a release build over
# loopback. Not a test: it prints numbers to be recorded with the command.
#
#   benches/echo_delay.sh delay [CONNECTIONS] [DELAY]   # default 10000 1s
#   benches/echo_delay.sh size [ROUNDS]                 # /echo?size=1024 vs GET /, CPU per request
#   benches/echo_delay.sh status                        # status=503:10 over 100,000 requests
#   benches/echo_delay.sh body [MIB]                    # echo a 256 MiB POST body, server RSS
#
# delay: first CONNECTIONS connections each ask /echo?delay=DELAY once, all
# at once (benches/echo_delay.py): each answer's latency from its own send
# (target DELAY..DELAY+5%), the server's CPU while all wait, its RSS growth
# over idle. Then the same connections ask over and over for 6 s
# (reactord-load): latency percentiles and server CPU under that load. Needs `ulimit -n` above 2x
# CONNECTIONS (set here; run as root or with a high hard limit).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --offline --bins -q
BIN=target/release
# Each process needs a descriptor per connection (plus a few): raise the
# soft limit as far as the hard one allows.
ulimit -n "$(ulimit -Hn)"

LOG=$(mktemp)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -f "$LOG"
}
trap cleanup EXIT

# Start reactord with ARGS on a free port; sets SERVER_PID and ADDR.
start_server() {
  "$BIN/reactord" --listen 127.0.0.1:0 --max-connections 30000 "$@" 2>"$LOG" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    ADDR=$(grep -o 'listening on [0-9.:]*' "$LOG" | awk '{print $3}' || true)
    [ -n "$ADDR" ] && return
    sleep 0.05
  done
  echo "server did not start" >&2; cat "$LOG" >&2; exit 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
# utime+stime of the server, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
HZ=$(getconf CLK_TCK)

delay() {
  local conns=${1:-10000} delay=${2:-1s}
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((conns + 100)) ]; then
    echo "ulimit -n is $(ulimit -n): too low for $conns connections" >&2; exit 1
  fi
  start_server --max-echo-delay 10s
  local idle; idle=$(rss_kib)
  # One request per connection, all parked at once: latency of each, and
  # the server's CPU while they wait.
  local peak=$idle
  python3 benches/echo_delay.py "$ADDR" "$SERVER_PID" "$conns" "${delay%s}" &
  local once=$!
  while kill -0 "$once" 2>/dev/null; do
    local now; now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.1
  done
  wait "$once"
  echo "server RSS idle ${idle} KiB, peak ${peak} KiB with $conns waiting, growth $((peak - idle)) KiB"
  # Then sustained: every connection asks again as soon as it is answered.
  local cpu0; cpu0=$(cpu_ticks)
  local out; out=$(mktemp)
  "$BIN/reactord-load" --connections "$conns" --duration 6s --timeout 5s --json \
    "http://$ADDR/echo?delay=$delay" >"$out" &
  local load=$!
  peak=$idle
  while kill -0 "$load" 2>/dev/null; do
    local now; now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  wait "$load"
  local cpu1; cpu1=$(cpu_ticks)
  echo "sustained, reactord-load --connections $conns --duration 6s: $(cat "$out")"
  echo "server RSS idle ${idle} KiB, peak ${peak} KiB, growth $((peak - idle)) KiB"
  echo "server CPU over the run: $(awk -v t=$((cpu1 - cpu0)) -v hz="$HZ" 'BEGIN {printf "%.2f s", t / hz}')"
  rm -f "$out"
}

size() {
  # Rounds alternate between the two targets, so the machine's noise (other
  # jobs on the cores) falls on both; the medians are compared.
  local rounds=${1:-5}
  start_server
  local results; results=$(mktemp)
  for round in $(seq "$rounds"); do
    for target in "/" "/echo?size=1024"; do
      local cpu0; cpu0=$(cpu_ticks)
      local out; out=$("$BIN/reactord-load" --connections 64 --duration 5s --json "http://$ADDR$target")
      local cpu1; cpu1=$(cpu_ticks)
      local requests; requests=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
      awk -v t=$((cpu1 - cpu0)) -v hz="$HZ" -v n="$requests" -v target="$target" -v r="$round" \
        'BEGIN {printf "round %d %s: server CPU %.2f s for %d requests: %.3f us/request\n", r, target, t / hz, n, t / hz / n * 1e6}' |
        tee -a "$results"
    done
  done
  python3 - "$results" <<'PY'
import re, statistics, sys
per = {}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (\S+): .*: ([0-9.]+) us/request", line)
    per.setdefault(m.group(1), []).append(float(m.group(2)))
hello, echo = statistics.median(per["/"]), statistics.median(per["/echo?size=1024"])
print(f"median CPU/request: GET / {hello:.3f} us, /echo?size=1024 {echo:.3f} us, ratio {echo / hello:.3f}")
PY
  rm -f "$results"
}

status() {
  start_server
  local out; out=$("$BIN/reactord-load" --connections 64 --requests 100000 --json "http://$ADDR/echo?status=503:10")
  echo "$out"
  echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
# "requests" counts every answer (503s too); "statuses" has them per code.
bad = r["statuses"].get("503", 0)
n = r["requests"]
print(f"503s (non-2xx): {bad} of {n} = {100 * bad / n:.2f}%")'
}

body() {
  local mib=${1:-256}
  start_server --max-body-bytes $((mib << 20))
  local idle; idle=$(rss_kib)
  local peak=$idle
  head -c $((mib << 20)) /dev/zero | tr '\0' 'x' |
    curl -sS -X POST -H 'Expect:' -H "Content-Length: $((mib << 20))" --data-binary @- \
      "http://$ADDR/echo" -o >(wc -c >"$LOG.count") &
  local client=$!
  while kill -0 "$client" 2>/dev/null; do
    local now; now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.1
  done
  wait "$client"
  sleep 0.2
  echo "echoed $(cat "$LOG.count") of $((mib << 20)) bytes"
  echo "server RSS idle ${idle} KiB, peak ${peak} KiB"
  rm -f "$LOG.count"
}

case "${1:-delay}" in
  delay) shift || true; delay "$@" ;;
  size) shift; size "$@" ;;
  status) status ;;
  body) shift; body "$@" ;;
  *) echo "usage: $0 delay|size|status|body" >&2; exit 2 ;;
esac
