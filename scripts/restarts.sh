#!/usr/bin/env bash
# Restarts under load: reactord --workers 2 (release build) serves an
# open-loop reactord-load run while it is sent SIGHUP ten times, each after
# the previous restart has completed (new workers ready, old ones exited
# after draining). Prints reactord-load's report: it must show 0 errors.
#
#   scripts/restarts.sh
#   RESTARTS=20 RATE=5000 REQUESTS=150000 scripts/restarts.sh
#   EXTRA=--close scripts/restarts.sh      # a new connection per request
set -euo pipefail
cd "$(dirname "$0")/.."

RESTARTS=${RESTARTS:-10}
RATE=${RATE:-3000}
REQUESTS=${REQUESTS:-60000}
CONNECTIONS=${CONNECTIONS:-32}
# More reactord-load flags, e.g. EXTRA=--close for a connection per request.
read -r -a EXTRA <<<"${EXTRA:-}"
OUT=target/restarts
mkdir -p "$OUT"
cargo build --release -q --bin reactord --bin reactord-load
LOG=$OUT/reactord.log

target/release/reactord --listen 127.0.0.1:0 --workers 2 2>"$LOG" &
SERVER=$!
LOAD=
cleanup() {
    [ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null || true
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
}
trap cleanup EXIT

# Wait until the log has at least $1 lines matching $2 (at most 30 s).
wait_lines() {
    for _ in $(seq 600); do
        [ "$(grep -c "$2" "$LOG")" -ge "$1" ] && return 0
        sleep 0.05
    done
    echo "timed out waiting for $1 x '$2'" >&2
    exit 1
}

wait_lines 1 'all 2 workers ready'
PORT=$(grep -o 'listening on [0-9.:]*' "$LOG" | head -1 | sed 's/.*://')
CMD=(target/release/reactord-load --rate "$RATE" --connections "$CONNECTIONS"
    --requests "$REQUESTS" ${EXTRA[@]+"${EXTRA[@]}"} "http://127.0.0.1:$PORT/")
echo "load: ${CMD[*]}"
"${CMD[@]}" >"$OUT/load.txt" &
LOAD=$!
sleep 1
for i in $(seq "$RESTARTS"); do
    kill -HUP "$SERVER"
    wait_lines "$i" 'restart: 2 new workers ready'
    wait_lines $((2 * i)) 'exited after draining'
done
if ! kill -0 "$LOAD" 2>/dev/null; then
    echo "the load ended before the restarts did: raise REQUESTS" >&2
    exit 1
fi
echo "$RESTARTS restarts done, $(grep -c 'exited after draining' "$LOG") old workers exited after draining"
wait "$LOAD"
LOAD=
cat "$OUT/load.txt"
grep -q 'errors: 0 ' "$OUT/load.txt"
