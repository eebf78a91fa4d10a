#!/usr/bin/env bash
# Memory per idle keep-alive connection: the server's RSS (VmRSS in /proc)
# with N connections open, each after one request (the hello page), minus
# its RSS after a warm-up of the same request on a few connections; divided
# by N.
#
#   benches/idle-memory.sh            # 10,000 connections
#   CONNECTIONS=20000 benches/idle-memory.sh
#   REACTORD=/tmp/reactord-old benches/idle-memory.sh   # another build
#
# The client (Python, blocking sockets, one connection at a time) needs a
# descriptor per connection, so the script raises `ulimit -n` first (the
# server raises its own limit at start, see rlimit.rs). RSS counts the
# server's own memory (slab, timers, buffers, allocator); the kernel's
# socket buffers and epoll entries are not in it.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-10000}
ulimit -n $((CONNECTIONS + 1000)) || { echo "idle-memory.sh: cannot raise ulimit -n to $((CONNECTIONS + 1000))" >&2; exit 1; }
REACTORD=${REACTORD:-}
if [ -z "$REACTORD" ]; then
    cargo build --release --quiet --bin reactord
    REACTORD=target/release/reactord
fi
OUT=target/idle-memory
mkdir -p "$OUT"
log=$OUT/server.log
"$REACTORD" --listen 127.0.0.1:0 --log-level info --max-connections $((CONNECTIONS + 100)) 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
addr=$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}')
python3 - "$addr" "$CONNECTIONS" "$server" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
count, pid = int(sys.argv[2]), sys.argv[3]
request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))

def one_request(s):
    s.sendall(request)
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("server closed a keep-alive connection")
        got += chunk

# Warm-up: the buffer pool, the Date cache and the allocator's arenas.
warm = [socket.create_connection((host, int(port))) for _ in range(64)]
for s in warm:
    one_request(s)
for s in warm:
    s.close()
before = rss_kib()
conns = []
for _ in range(count):
    s = socket.create_connection((host, int(port)))
    one_request(s)
    conns.append(s)
after = rss_kib()
print(f"{count} idle keep-alive connections: RSS {before} KiB -> {after} KiB, "
      f"{(after - before) * 1024 / count:.0f} bytes per connection")
PY
