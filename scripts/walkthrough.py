#!/usr/bin/env python3
"""Regenerate docs/walkthrough.md from a real `--log-level trace` run.

Starts the release binary on a free port, plays scenes against it — one
HTTP request on a fresh connection, a pipelined burst answered with one
write, a slow client that hits the request timeout, a slow reader
(Writing, backpressure), extra bytes after a requested close (Closing), an
idle-timeout abort (a reset), a delayed /echo (Waiting on a timer) —
captures the trace log of each (and what the client saw), and annotates
every line with what happened and where in the code it happened. Run it
after changing the loop, so the walkthrough stays true:

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
     "costs none (`reactor/mod.rs`, `Server::admit` → `Connection::register`)."),
    (r"conn (\d+): accepted from (\S+)",
     "The listener's readable event led to `accept` (until WouldBlock: `reactor/listener.rs`, `Listener::accept`); "
     "the client {1} got slab slot {0}, and its first turn arms the `--request-timeout` deadline "
     "(`reactor/mod.rs`, `Server::admit`)."),
    (r"conn (\d+): event readable in Writing",
     "The client's next request arrived. The connection remembers that its socket is readable, but "
     "reads nothing while Writing: a client that doesn't take its responses can't make us buffer more "
     "requests (backpressure; `Connection::drive_until_blocked`)."),
    (r"conn (\d+): event (.*) in (\w+)",
     "`poll` returned an event for token {0}: {1}. The connection remembers what it says "
     "(`reactor/connection.rs`, `Connection::on_event`) and the loop drives it (`reactor/mod.rs`, `Server::dispatch` → "
     "`Server::drive` → `Connection::drive`)."),
    (r"conn (\d+): read 0 bytes while closing: end of input",
     "While closing, the 0-byte read is the client's EOF: nothing unread is left, so closing now cannot "
     "cause a reset (`reactor/connection.rs`, `Connection::discard_input`)."),
    (r"conn (\d+): read 0 bytes: end of input",
     "A 0-byte read: the client shut down its side (`reactor/connection.rs`, `Connection::read`)."),
    (r"conn (\d+): read (\d+) bytes",
     "One `read` returned {1} bytes, fewer than the buffer could hold: the kernel's queue is empty now. "
     "On Linux that ends the reading without a second `read` just to hear WouldBlock, because epoll "
     "raises a new edge for any byte that arrives later; this is a Linux-specific shortcut, not mio's rule "
     "(`reactor/connection.rs`, `Connection::read`, \"Draining readiness\"; architecture.md, step S1)."),
    (r"conn (\d+): discarded (\d+) bytes while closing",
     "In Closing, bytes that reach the socket are read and thrown away, so that the close finds nothing "
     "unread and sends a FIN, not a reset (`reactor/connection.rs`, `Connection::discard_input`). These {1} bytes "
     "arrived after the connection entered Closing (in scene 5, the client's second send, after it "
     "read our FIN); bytes already in the input buffer then were dropped without a log line on "
     "entering Closing (`input.clear()` in `Connection::transition`)."),
    (r"conn (\d+): discarded (\d+) bytes that came late",
     "The connection was closed at once (nothing unread, nothing more expected), but the client "
     "sent {1} bytes since; they are read away just before the close(2), so that it sends a FIN, "
     "not a reset (`reactor/mod.rs`, `Server::remove_closed` → `Connection::discard_late_input`)."),
    (r"conn (\d+): sendfile sent (\d+) bytes",
     "One sendfile(2) sent {1} bytes of a file-backed body from the page cache, no copy through our "
     "memory (`reactor/connection.rs`, `Connection::send_file_chunk` → `SendQueue::send_file_chunk`)."),
    (r"conn (\d+): protocol Wait\((\d+), .*\), (\d+) bytes pending output",
     "The protocol consumed the {1}-byte request and answered `Wait`: nothing to send before the "
     "instant it names. The request pipelined behind it stays in the input buffer, unparsed "
     "(`Connection::answer_buffered`; `protocol/http/echo_endpoint/mod.rs`)."),
    (r"conn (\d+): protocol woke: (.*)",
     "The connection's turn after the timer starts with `Protocol::on_wake`: the delayed response is "
     "written now ({1}); then the buffered request behind it is answered, in order "
     "(`Connection::answer_wake`)."),
    (r"conn (\d+): read would block",
     "`read` said WouldBlock: the socket is drained; wait for the next edge (`Connection::read`)."),
    (r"conn (\d+): protocol Continue\((\d+)\), (\d+) bytes pending output",
     "The protocol consumed a {1}-byte request and appended its response; {2} bytes now wait in the "
     "output buffer. Still in the same loop: the next buffered request is parsed before anything is "
     "written (`reactor/connection.rs`, `Connection::answer_buffered` → `protocol/http/mod.rs`, `Http::on_input`)."),
    (r"conn (\d+): protocol NeedMore, (\d+) bytes pending output",
     "The protocol found no complete request in what is buffered: read more "
     "(`Connection::answer_buffered`)."),
    (r"conn (\d+): protocol Close\((\d+)\), (\d+) bytes pending output",
     "The protocol consumed {1} bytes and asked to close after its response "
     "(`Connection::answer_buffered`)."),
    (r"conn (\d+): wrote (\d+) bytes, (\d+) left \(last: MSG_MORE",
     "The last response goes out with one `send(MSG_MORE)`: the kernel holds the segment back for the "
     "FIN that the close (or the `shutdown`) right after adds, so response and FIN travel as one "
     "segment (`Connection::write_buffered` → `SendQueue::write_buffered` → `write_with_more` in "
     "`reactor/send_queue.rs`, for the write that ends the output once `close_after_flush` is set; "
     "architecture.md, step S4)."),
    (r"conn (\d+): wrote (\d+) bytes, (\d+) left",
     "One `write` sent {1} bytes, {2} still queued: what the protocol produced in this turn leaves "
     "together, and a streamed body follows one chunk at a time (`reactor/connection.rs`, `Connection::flush`; "
     "`reactor/send_queue.rs`)."),
    (r"conn (\d+): write would block, (\d+) bytes pending",
     "The kernel's send buffer is full: wait for a writable edge (`Connection::flush`)."),
    (r"conn (\d+): (\w+) -> Writing \(socket send buffer full\)",
     "The kernel's send buffer is full: the connection enters Writing and reads nothing until a "
     "writable edge says the client took some bytes. That is backpressure (`Connection::send_pending`)."),
    (r"conn (\d+): (\w+) -> Writing \(write budget spent\)",
     "This turn wrote its budget (`WRITE_BUDGET_PER_TURN`) with the socket still taking bytes: no edge "
     "would come, so the connection goes on the out-of-budget list and continues after the others "
     "(`Connection::send_pending` returns `Progress::MoreWork`; `reactor/mod.rs`, `Server::drive` queues it, "
     "`Server::run_out_of_budget` drives it again)."),
    (r"conn (\d+): Reading -> Closing \(last response sent\)",
     "State transition Reading → Closing, because: last response sent, and the client may still send. "
     "Decided by `close_after_last_response` (step 2 of the turn), carried out by "
     "`Connection::transition`, which on entering Closing drops the input still buffered unparsed "
     "(`input.clear()`; in scene 5 the 11 bytes `EXTRA BYTES` that came with the request: no line "
     "is logged for them) and shuts down our write side: the FIN. The linger clock (`closing_since`) "
     "starts in `close_after_last_response` (`reactor/connection.rs`; architecture.md §4, "
     "\"Where each transition is decided\")."),
    (r"conn (\d+): Writing -> Reading \(timer fired\)",
     "A wake-up fell due while output was stuck: the timer wakes the connection as it would one in "
     "Waiting, but the connection holds the protocol's `on_wake` back until the output is below the high-water mark, so "
     "the turn goes straight back to Writing (`reactor/mod.rs`, `Server::fire_timers` → `Server::fire_timer` → "
     "`Connection::wake`; architecture.md §4)."),
    (r"conn (\d+): Waiting -> Reading \(timer fired\)",
     "`poll` slept until the wake-up deadline (no tick, no thread); the timer wakes the connection and "
     "gives it a turn (`reactor/mod.rs`, `Server::fire_timers` → `Server::fire_timer` → `Connection::wake`, "
     "then `Server::drive`)."),
    (r"conn (\d+): (\w+) -> (\w+) \((.*)\)",
     "State transition {1} → {2}, because: {3}. Decided by the step of the turn (or the reactor's "
     "timer) that logged the reason, carried out by `Connection::transition` (`reactor/connection.rs`; "
     "architecture.md §4, \"Where each transition is decided\")."),
    (r"conn (\d+): request timeout, closing \((\S+)\)",
     "The deadline set when the request started has passed: `poll` woke up exactly then (its timeout "
     "is the time to the nearest deadline), and the timer closes the connection "
     "(`reactor/mod.rs`, `Server::fire_timer`; `reactor/timer.rs`)."),
    (r"conn (\d+): idle timeout, closing",
     "No progress for `--idle-timeout`: the client stopped reading. The timer aborts the connection. "
     "The client's second request is still unread in our receive queue, so the close(2) sends a "
     "reset, not a FIN (with nothing unread, the kernel would send the response bytes our send "
     "buffer still holds, then a FIN) (`reactor/mod.rs`, `Server::fire_timer`; architecture.md §7)."),
    (r"conn (\d+): linger timeout, closing",
     "The linger deadline passed (`reactor/mod.rs`, `Server::fire_timer`)."),
    (r"^client: (.*)",
     "Not a server log line: what the client saw ({0})."),
    (r"conn (\d+): removed",
     "After the batch of events, the closed connection leaves the slab and its socket is closed; its slot "
     "can be reused from the next batch on (`reactor/mod.rs`, `Server::remove_closed`; the module doc's "
     "\"Stale events\")."),
    (r"listening on (\S+) \((\w+)\)", "The server is up: the first thing `Server::run` does (`reactor/mod.rs`, `Server::announce`)."),
]


def annotate(line):
    message = line if line.startswith("client: ") else line.split("] ", 1)[-1]
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
             "--request-timeout", "1s", "--idle-timeout", "2s"],
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
    seen = play(server.port) or []
    time.sleep(0.3)
    return server.lines()[before:] + [f"client: {note}" for note in seen]


def small_receive_buffer():
    """A client socket whose receive buffer is small, so that a large
    response fills it (and then the server's send buffer) quickly."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return s


def read_all(s):
    total = 0
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return total
        total += len(chunk)


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


def slow_reader(port):
    s = small_receive_buffer()
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /echo?size=16777216 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    time.sleep(0.5)
    total = read_all(s)
    s.close()
    return [f"after 0.5 s without reading, read {total} bytes (head and body) until EOF"]


def extra_after_close(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\nEXTRA BYTES")
    total = read_all(s)
    s.sendall(b"more bytes after the server's FIN")
    time.sleep(0.2)
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.2)
    s.close()
    return [f"read {total} bytes then EOF (the server's FIN); sent 33 more bytes, then its own FIN"]


def idle_abort(port):
    s = small_receive_buffer()
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /echo?size=16777216 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    time.sleep(0.2)
    # A request pipelined behind it, which the server (in Writing) won't read.
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    time.sleep(2.6)
    try:
        total = read_all(s)
        note = f"read {total} bytes, then EOF: no reset"
    except ConnectionResetError as err:
        note = f"recv failed at once: {err}"
    s.close()
    return [note]


def delayed_echo(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /echo?delay=200ms HTTP/1.1\r\nHost: localhost\r\n\r\n"
              + b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    start = time.time()
    total = read_all(s)
    s.close()
    return [f"both responses, {total} bytes, {time.time() - start:.2f} s after sending"]


def trim(lines, keep=3):
    """Collapse runs of lines that say the same thing (a large body's many
    writes) to their first `keep` and a count."""
    out, run = [], []

    def key(line):
        message = line.split("] ", 1)[-1]
        return re.sub(r"\d+", "N", message)

    def flush():
        out.extend(run[:keep])
        if len(run) > keep + 1:
            out.append(f"… {len(run) - keep - 1} more like these …")
        if len(run) > keep:
            out.append(run[-1])

    for line in lines:
        if run and key(line) != key(run[0]):
            flush()
            run = []
        run.append(line)
    if run:
        flush()
    return out


def elide_after(lines, marker, nth, tail):
    """Keep the lines before the `nth` one containing `marker` and the last
    `tail` lines: the cycles in between repeat the first one."""
    hits = [i for i, line in enumerate(lines) if marker in line]
    if len(hits) < nth or hits[nth - 1] >= len(lines) - tail:
        return lines
    cut = hits[nth - 1]
    end = len(lines) - tail
    note = f"… {end - cut} lines: the same cycle again (a writable edge, writes until WouldBlock) …"
    return lines[:cut] + [note] + lines[end:]


def render(title, intro, lines, elide=None):
    out = [f"## {title}", "", intro, "", "| Log line | What happened, and where |", "|---|---|"]
    lines = [l for l in lines if "reactord" in l or "mio::poll" in l or l.startswith("client: ")]
    lines = trim(lines)
    if elide:
        lines = elide_after(lines, *elide)
    for line in lines:
        if line.startswith("… "):
            out.append(f"| {line} | |")
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
            ("4. A slow reader: Writing, and backpressure",
             "The client asks for a 16 MiB `/echo` body with a 4 KiB receive buffer (`SO_RCVBUF`) and reads "
             "nothing for half a second. The first turn writes its budget (`WRITE_BUDGET_PER_TURN`) with "
             "the socket still taking bytes, so the connection enters Writing (\"write budget spent\") and "
             "goes on the out-of-budget list; its next turn writes until the kernel's send buffer is full and "
             "`write` says WouldBlock. From then on the connection stays in Writing, waiting for writable "
             "edges and reading nothing meanwhile: the client's pace sets ours. Runs of similar lines are "
             "cut short (\"… N more like these …\").",
             scene(server, slow_reader), ("event writable in Writing", 2, 9)),
            ("5. Extra bytes after a requested close: Closing",
             "A `Connection: close` request followed in the same write by 11 bytes that are not a request "
             "(`EXTRA BYTES`); after reading the response and our FIN, the client sends 33 bytes more, then "
             "its own FIN. Closing over unread bytes would send a reset that could destroy the response, "
             "so the server shuts down its write side (FIN) and reads and discards until the client's own "
             "EOF. The 11 bytes, read with the request, are dropped from the input buffer on entering "
             "Closing (`input.clear()`, no log line); the 33 are the ones discarded by a read.",
             scene(server, extra_after_close)),
            ("6. A client that stops reading: the idle-timeout abort (a reset)",
             "As in scene 4, but the client never reads, and sends one more request, which the server (in "
             "Writing) doesn't read either. With `--idle-timeout 2s`, two seconds without progress abort the "
             "connection. That request is still unread in the socket's receive queue, so the close sends a "
             "reset (RST): the client's next `recv` fails, and the response bytes its kernel held are lost. "
             "(Without unread input the kernel would send what our send buffer holds, then a FIN: the "
             "client would see the body cut short at an EOF.)",
             scene(server, idle_abort)),
            ("7. A delayed `/echo`: Waiting on a timer",
             "`GET /echo?delay=200ms` and, in the same write, `GET /` with `Connection: close`. The "
             "connection waits in Waiting (one timer entry, no thread, no read), the loop sleeps until the "
             "deadline, and the request behind the delayed one is answered after it, in order.",
             scene(server, delayed_echo)),
        ]
    finally:
        server.stop()
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout.strip()
    header = f"""# Walkthrough: the reactor in its own words

This page is generated by `scripts/walkthrough.py` from a real run of
`{version}` on 127.0.0.1 with
`reactord --listen 127.0.0.1:PORT --log-level trace --request-timeout 1s --idle-timeout 2s`
(regenerate it after changing the loop:
`cargo build --release && python3 scripts/walkthrough.py`). Each scene is
played by a small Python client in the script; lines starting with
`client:` say what that client saw. Each log line is
annotated with what happened and where in the code it happened; read it
with [architecture.md](architecture.md) and the source side by side. The
terms it uses ([WouldBlock](glossary.md#eagain--wouldblock),
[edge](glossary.md#edge-triggered), [FIN](glossary.md#fin),
[RST](glossary.md#rst), [MSG_MORE](glossary.md#msg_more),
[backpressure](glossary.md#backpressure)) are in the
[glossary](glossary.md).

Timestamps are UTC; `conn N` is the connection's slab key, which is also its
mio token.
"""
    body = "\n".join(render(*scene) for scene in scenes)
    with open(OUTPUT, "w") as f:
        f.write(header + "\n" + body)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
