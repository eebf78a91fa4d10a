#!/usr/bin/env bash
# Cross-check reactord-load against wrk: same server (reactord, pinned to
# CPU 0), same load (keep-alive, one thread, pinned to CPU 1), alternating,
# ROUNDS rounds of DURATION seconds, for each connection count in
# CONNECTIONS (default "1 64"). Prints req/s and p50 latency for each tool
# and their ratios.
#
# With 1 connection neither tool is the limit (each request waits for the
# last), so the two must agree: that checks the measurement. With 64 the
# tool's own core is the limit, so this compares the tools' speed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
cargo build --release --quiet --bins
log=$(mktemp)
taskset -c 0 target/release/reactord --listen 127.0.0.1:0 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
url="http://$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}')/"
p50_us() { awk '{v=$1; if (v ~ /us$/) {sub("us","",v); print v} else if (v ~ /ms$/) {sub("ms","",v); print v*1000} else {sub("s","",v); print v*1000000}}'; }
printf 'conns  round  wrk req/s  wrk p50 µs  load req/s  load p50 µs\n'
for conns in ${CONNECTIONS:-1 64}; do
for round in $(seq "$ROUNDS"); do
    w=$(taskset -c 1 wrk -t1 -c"$conns" -d"${DURATION}s" --latency "$url")
    w_rps=$(echo "$w" | awk '/Requests\/sec/ {print $2}')
    w_p50=$(echo "$w" | awk '$1=="50%" {print $2}' | p50_us)
    l=$(taskset -c 1 target/release/reactord-load --connections "$conns" --duration "${DURATION}s" --json "$url")
    l_rps=$(echo "$l" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))')
    l_p50=$(echo "$l" | python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_us"]["p50"])')
    printf '%5s  %5s  %9s  %10s  %10s  %11s   rps ratio load/wrk %.2f, p50 ratio %.2f\n' "$conns" "$round" \
        "$w_rps" "$w_p50" "$l_rps" "$l_p50" \
        "$(echo "$l_rps / $w_rps" | bc -l)" "$(echo "$l_p50 / $w_p50" | bc -l)"
done
done
