#!/usr/bin/env bash
# User-space instructions per request: the server under valgrind's
# callgrind, driven by `ab -k -n REQUESTS -c 8` against the hello page.
# Instruction counts do not depend on the machine's load, so this figure is
# repeatable where timings are not. Start-up is included in the total.
#
#   benches/callgrind.sh               # 20,000 requests
#   REQUESTS=50000 benches/callgrind.sh
#   TARGET='/echo?size=1024' benches/callgrind.sh   # another target
#
# Needs valgrind and ab (apt-get install -y valgrind apache2-utils).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-20000}
TARGET=${TARGET:-/}
OUT=target/callgrind
mkdir -p "$OUT"
cargo build --release --quiet --bin reactord
log="$OUT/server.log"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    target/release/reactord --listen 127.0.0.1:0 --log-level info 2>"$log" &
server=$!
for _ in $(seq 100); do grep -q 'listening on' "$log" && break; sleep 0.2; done
addr=$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}')
ab -q -k -n "$REQUESTS" -c 8 "http://$addr$TARGET" | grep -E "Complete requests|Failed requests"
kill -INT "$server"; wait "$server" || true
total=$(callgrind_annotate "$OUT/callgrind.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "total instructions: $total; per request: $(( total / REQUESTS ))"
callgrind_annotate "$OUT/callgrind.out" | grep -E '^ *[0-9,]+ \(' | head -12
