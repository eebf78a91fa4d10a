#!/usr/bin/env bash
# Soak test: normal load and abuse at once, for DURATION seconds (default
# 300), against a release build on a free loopback port.
#
#   scripts/soak.sh                # five minutes
#   DURATION=30 scripts/soak.sh    # a quick one
#
# Mixes: keep-alive load (wrk, 32 connections), connection-per-request load
# (wrk, 8 connections), slowloris clients, clients that reset mid-request
# and mid-response, and slow readers that pipeline without reading. Prints
# the server's RSS at start and end, the errors seen by the normal clients
# (must be 0) and the active connections once the abusers are gone (must
# be 0, not counting the /metrics request itself). Exits 1 if either fails.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-300}
OUT=target/soak
mkdir -p "$OUT"
for tool in wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "soak.sh needs $tool" >&2; exit 1; }
done

cargo build --release --quiet --bin reactord
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/reactord --listen "127.0.0.1:$port" --request-timeout 3s --idle-timeout 5s \
    --log-level warn 2>"$OUT/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
rss_start=$(rss)
echo "soak: ${DURATION}s against 127.0.0.1:$port (pid $server), RSS at start ${rss_start} KiB"

wrk -t1 -c32 -d"${DURATION}s" "http://127.0.0.1:$port/" >"$OUT/keepalive.txt" 2>&1 &
keepalive=$!
wrk -t1 -c8 -d"${DURATION}s" -H "Connection: close" "http://127.0.0.1:$port/" >"$OUT/close.txt" 2>&1 &
close=$!

python3 - "$port" "$DURATION" >"$OUT/abusers.txt" 2>&1 <<'EOF' &
import random, socket, struct, sys, time
port, duration = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + duration
GET = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"
counts = {"slowloris": 0, "reset": 0, "slow_reader": 0}
slow, readers = [], []

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    return s

def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

while time.time() < end:
    # Slowloris: keep ~50 clients dribbling one header byte at a time.
    while len(slow) < 50:
        s = connect(); s.send(b"GET / HTTP/1.1\r\nX: "); slow.append(s); counts["slowloris"] += 1
    for s in list(slow):
        try:
            s.send(b"a")
        except OSError:
            slow.remove(s); s.close()
    # Resets mid-request and mid-response.
    for _ in range(5):
        s = connect()
        s.send(GET * random.choice([0, 1, 500]) + b"GET / HT")
        reset(s); counts["reset"] += 1
    # Slow readers: pipeline a lot, read nothing, give up after a while.
    s = connect()
    try:
        s.send(GET * 2000)
    except OSError:
        pass
    readers.append((time.time(), s)); counts["slow_reader"] += 1
    while readers and time.time() - readers[0][0] > 8:
        readers.pop(0)[1].close()
    time.sleep(0.2)
for s in slow: s.close()
for _, s in readers: s.close()
print(counts)
EOF
abusers=$!

wait $keepalive $close $abusers
sleep 7   # longer than the timeouts: every abuser's connection must be gone
rss_end=$(rss)
active=$(metric reactord_connections_active)
active=$((active - 1))   # the /metrics request itself
errors=0
for f in "$OUT/keepalive.txt" "$OUT/close.txt"; do
    e=$(awk '/Socket errors/ {gsub(",",""); s=$4+$6+$8+$10} /Non-2xx/ {s+=$5} END {print s+0}' "$f")
    errors=$((errors + e))
done
requests=$(awk '/requests in/ {s+=$1} END {print s}' "$OUT/keepalive.txt" "$OUT/close.txt")

echo "soak: requests by normal clients: $requests"
echo "soak: abusers: $(tail -1 "$OUT/abusers.txt")"
echo "soak: RSS start ${rss_start} KiB, end ${rss_end} KiB"
echo "soak: errors seen by normal clients: $errors"
echo "soak: active connections after the storm: $active"
echo "soak: timed out: $(metric reactord_connections_timed_out_total), accepted: $(metric reactord_connections_accepted_total)"
[ "$errors" -eq 0 ] && [ "$active" -eq 0 ] && echo "soak: PASS" && exit 0
echo "soak: FAIL"; exit 1
