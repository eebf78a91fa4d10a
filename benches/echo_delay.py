#!/usr/bin/env python3
"""N connections each ask /echo?delay=DELAY once, all at once; report each
answer's latency (min, p50, p99, max, measured from that connection's own
send), and the server's CPU while every request is parked on its timer
(from the last send until just before the first answer is due).

    benches/echo_delay.py ADDR SERVER_PID [N] [DELAY_S]

Used by benches/echo_delay.sh; one process, one selector, no threads.
"""

import selectors
import socket
import sys
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5), 12 and 13 here.
    return (int(fields[11]) + int(fields[12])) / 100.0


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    pid = int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    request = f"GET /echo?delay={delay}s HTTP/1.1\r\nHost: b\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        socks.append(s)
    sent_at = {}
    for s in socks:
        # Before the send: the server can't see the request earlier, so
        # an answer sooner than `delay` after this would be a server bug.
        sent_at[s.fileno()] = time.monotonic()
        s.sendall(request)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    first_send = min(sent_at.values())
    last_send = max(sent_at.values())
    cpu0 = cpu_seconds(pid)
    # Sample the server's CPU while everything waits: from the last send to
    # shortly before the first answer is due (if there is such a window).
    window_end = first_send + delay * 0.95
    quiet = None
    latencies = []
    pending = {s.fileno(): b"" for s in socks}
    deadline = time.monotonic() + delay + 30
    while pending and time.monotonic() < deadline:
        now = time.monotonic()
        if quiet is None and now >= window_end:
            quiet = (cpu_seconds(pid) - cpu0, now - last_send)
        timeout = max(0.0, window_end - now) if quiet is None else 1.0
        ready = sel.select(timeout)
        # One timestamp per wake-up: the answers in a batch arrived by
        # then, and the time spent on the batch is the client's, not the
        # server's.
        at = time.monotonic()
        for key, _ in ready:
            s = key.fileobj
            data = s.recv(4096)
            fd = s.fileno()
            pending[fd] += data
            if b"\r\n\r\n" in pending[fd] or not data:
                latencies.append(at - sent_at[fd])
                if not pending[fd].startswith(b"HTTP/1.1 200"):
                    print("bad response:", pending[fd][:80])
                del pending[fd]
                sel.unregister(s)
    for s in socks:
        s.close()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(f"{n} connections, delay {delay}s, sends spread over {last_send - first_send:.3f}s")
    print(
        f"answered {len(latencies)}: latency min {latencies[0]:.4f}s p50 {pick(0.5):.4f}s "
        f"p99 {pick(0.99):.4f}s max {latencies[-1]:.4f}s; unanswered {len(pending)}"
    )
    within = sum(1 for l in latencies if delay <= l <= delay * 1.05)
    print(f"within {delay:.2f}..{delay * 1.05:.3f}s: {within} of {n}")
    if quiet is not None and quiet[1] > 0:
        print(f"server CPU while all waited: {quiet[0]:.2f}s over {quiet[1]:.3f}s")


if __name__ == "__main__":
    main()
