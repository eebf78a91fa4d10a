#!/usr/bin/env python3
"""Regenerate docs/walkthrough.md from a real `--log-level trace` run.

Starts the release binary on a free port, plays three scenes against it —
one HTTP request on a fresh connection, a pipelined burst of three
requests, a slow client that hits the request timeout — captures the trace
log of each, and annotates every line with what happened and where in the
code it happened. Run it after changing the loop, so the walkthrough stays
true:

    cargo build --release && python3 scripts/walkthrough.py
"""

import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "reactord")
OUTPUT = os.path.join(ROOT, "docs", "walkthrough.md")

# (pattern, annotation). The first match wins; {0}, {1}… are the groups.
ANNOTATIONS = [
    (r"registering event source with poller: token=Token\((\d+)\), interests=READABLE \| WRITABLE",
     "mio registers the new socket with epoll under token {0}, for both directions, edge-triggered, "
     "after the connection's first turn found nothing to do yet. This is the only `epoll_ctl` the "
     "connection will ever cost; with `--defer-accept`, one answered and closed in that first turn "
     "costs none (`reactor.rs`, `Server::admit`)."),
    (r"conn (\d+): accepted from (\S+)",
     "The listener's readable event led to `accept` (until WouldBlock); the client {1} got slab slot {0}, "
     "and its first request is now on the clock of `--request-timeout` (`reactor.rs`, `Server::admit`)."),
    (r"conn (\d+): event (.*) in (\w+)",
     "`poll` returned an event for token {0}: {1}. The connection remembers what it says "
     "(`connection.rs`, `Connection::on_event`) and the loop drives it (`Server::drive` → `Connection::drive`)."),
    (r"conn (\d+): read 0 bytes while closing: end of input",
     "While closing, the 0-byte read is the client's EOF: nothing unread is left, so closing now cannot "
     "cause a reset (`connection.rs`, `Connection::discard_input`)."),
    (r"conn (\d+): read 0 bytes: end of input",
     "A 0-byte read: the client shut down its side (`connection.rs`, `Connection::read`)."),
    (r"conn (\d+): read (\d+) bytes",
     "One `read` returned {1} bytes. Fewer than the buffer could hold, so the kernel's queue is empty: "
     "no second read just to hear WouldBlock (`connection.rs`, `Connection::read`, \"Draining readiness\")."),
    (r"conn (\d+): read would block",
     "`read` said WouldBlock: the socket is drained; wait for the next edge (`Connection::read`)."),
    (r"conn (\d+): protocol Continue\((\d+)\), (\d+) bytes pending output",
     "The protocol consumed a {1}-byte request and appended its response; {2} bytes now wait in the "
     "output buffer. Still in the same loop: the next buffered request is parsed before anything is "
     "written (`connection.rs`, `Connection::answer_buffered` → `protocol/http/mod.rs`, `Http::on_input`)."),
    (r"conn (\d+): protocol NeedMore, (\d+) bytes pending output",
     "The protocol found no complete request in what is buffered: read more "
     "(`Connection::answer_buffered`)."),
    (r"conn (\d+): protocol Close\((\d+)\), (\d+) bytes pending output",
     "The protocol consumed {1} bytes and asked to close after its response "
     "(`Connection::answer_buffered`)."),
    (r"conn (\d+): wrote (\d+) bytes, (\d+) left \(last: MSG_MORE",
     "The last response goes out with one `send(MSG_MORE)`: the kernel holds the segment back for the "
     "FIN that the close right after adds, so response and FIN travel as one segment "
     "(`send_queue.rs`, `write_before_close`)."),
    (r"conn (\d+): wrote (\d+) bytes, (\d+) left",
     "One `write` sent {1} bytes: every response produced from that read leaves together "
     "(`connection.rs`, `Connection::flush`)."),
    (r"conn (\d+): write would block, (\d+) bytes pending",
     "The kernel's send buffer is full: wait for a writable edge (`Connection::flush`)."),
    (r"conn (\d+): (\w+) -> (\w+) \((.*)\)",
     "State transition {1} → {2}, because: {3}. Every transition goes through "
     "`Connection::transition` (`connection.rs`)."),
    (r"conn (\d+): request timeout, closing \((\S+)\)",
     "The deadline set when the request started has passed: `poll` woke up exactly then (its timeout "
     "is the time to the nearest deadline), and the timer closes the connection "
     "(`reactor.rs`, `Server::fire_timers`; `timer.rs`)."),
    (r"conn (\d+): (idle|linger) timeout, closing",
     "A {1} deadline passed (`reactor.rs`, `Server::fire_timers`)."),
    (r"conn (\d+): removed",
     "After the batch of events, the closed connection leaves the slab and its socket is closed; its slot "
     "can be reused from the next batch on (`reactor.rs`, `Server::remove_closed`, \"Stale events\")."),
    (r"listening on (\S+) \((\w+)\)", "The server is up (`reactor.rs`, `Server::run`)."),
]


def annotate(line):
    message = line.split("] ", 1)[-1]
    for pattern, text in ANNOTATIONS:
        m = re.search(pattern, message)
        if m:
            return text.format(*m.groups())
    return ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self):
        self.port = free_port()
        self.log_path = os.path.join(ROOT, "target", "walkthrough.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [BINARY, "--listen", f"127.0.0.1:{self.port}", "--log-level", "trace",
             "--request-timeout", "1s"],
            stderr=self.log,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)

    def lines(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read().splitlines()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)
        self.log.close()


def scene(server, play):
    before = len(server.lines())
    play(server.port)
    time.sleep(0.3)
    return server.lines()[before:]


def one_request(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass
    s.close()


def pipelined(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" * 2
              + b"GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass
    s.close()


def slow_client(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\n")
    time.sleep(0.4)
    s.sendall(b"Host: loc")
    s.settimeout(5)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()


def render(title, intro, lines):
    out = [f"## {title}", "", intro, "", "| Log line | What happened, and where |", "|---|---|"]
    for line in lines:
        if "reactord" not in line and "mio::poll" not in line:
            continue
        shown = line.replace("|", "\\|")
        out.append(f"| `{shown}` | {annotate(line)} |")
    out.append("")
    return "\n".join(out)


def main():
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    server = Server()
    try:
        scenes = [
            ("1. One request on a fresh connection",
             "`GET /` with `Connection: close`, sent in one write; the client then reads until EOF.",
             scene(server, one_request)),
            ("2. A pipelined burst of three requests",
             "Three requests in one write on one connection, the last with `Connection: close`. Note one "
             "read, three protocol calls, and one write for all three responses.",
             scene(server, pipelined)),
            ("3. A slow client hits the request timeout",
             "The server runs with `--request-timeout 1s`. The client sends a request line, waits, sends "
             "half a header, and stops. Nothing happens in the loop until the deadline: no tick, no scan.",
             scene(server, slow_client)),
        ]
    finally:
        server.stop()
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout.strip()
    header = f"""# Walkthrough: the reactor in its own words

This page is generated by `scripts/walkthrough.py` from a real run of
`{version}` with `--log-level trace` (regenerate it after changing the loop:
`cargo build --release && python3 scripts/walkthrough.py`). Each log line is
annotated with what happened and where in the code it happened; read it
with [architecture.md](architecture.md) and the source side by side.

Timestamps are UTC; `conn N` is the connection's slab key, which is also its
mio token.
"""
    body = "\n".join(render(t, i, l) for t, i, l in scenes)
    with open(OUTPUT, "w") as f:
        f.write(header + "\n" + body)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
