"""A strict HTTP/1.1 client (h11) against every route and status reactord
produces. Run by tests/strict_client.rs, which starts the servers:

    strict_client.py PLAIN FILES FULL FILE_LENGTH DEFERRED

PLAIN is a server without --root, FILES one with --root and --autoindex
(over the tree strict_client.rs builds), both with --max-request-bytes 1024
and --max-body-bytes 100; FULL has --max-connections 1. FILE_LENGTH is the
size of /notes.txt. DEFERRED is "yes" when FULL runs with --defer-accept,
so that a refused client's request has always arrived when the server
decides on its 503 (and can tell a HEAD).

Each case writes raw bytes (so that malformed requests can be sent too) and
tells h11 the method and persistence it asked for through a "shadow"
request whose bytes are thrown away: h11 then frames each response as a
strict client would (no body for HEAD, 1xx or 304; Content-Length or
chunked otherwise; after `Connection: close`, nothing but EOF) and raises
RemoteProtocolError on any complaint. Every case runs; the failures are
listed at the end and make the exit status 1.
"""

import re
import socket
import sys

import h11

TIMEOUT = 10.0

# RFC 9110 §5.6.7: the only date format a sender may generate.
IMF_FIXDATE = re.compile(
    rb"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    rb"\d\d:\d\d:\d\d GMT$"
)


class Failure(Exception):
    pass


class Exchange:
    """One request on a connection and what its response must be."""

    def __init__(self, method, raw, status, close=False, check=None, target="/"):
        self.method = method
        self.raw = raw
        # One status, or several where the fix is not decided yet.
        self.statuses = status if isinstance(status, (set, frozenset)) else {status}
        # The server must announce `Connection: close` and then close.
        self.close = close
        # Extra checks on (headers dict, body bytes).
        self.check = check
        self.target = target


def request(method, target="/", headers=(), version="1.1", body=b""):
    lines = [f"{method} {target} HTTP/{version}", "Host: t"]
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def shadow_request(method, target, close):
    headers = [("Host", "t")]
    if close:
        headers.append(("Connection", "close"))
    return h11.Request(method=method, target=target, headers=headers)


class Client:
    """A socket and an h11 client state machine fed from it."""

    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.conn = h11.Connection(our_role=h11.CLIENT)

    def send(self, data):
        self.sock.sendall(data)

    def declare(self, method, target="/", close=False, end=True):
        """Tell h11 what was sent; its own bytes are not sent."""
        self.conn.send(shadow_request(method, target, close))
        if end:
            self.conn.send(h11.EndOfMessage())

    def next_event(self):
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = self.sock.recv(65536)
                self.conn.receive_data(data)
                continue
            return event

    def response(self):
        """The next final response: (status, headers, body)."""
        informational = []
        while True:
            event = self.next_event()
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
                continue
            if isinstance(event, h11.Response):
                break
            raise Failure(f"expected a response, got {event!r}")
        headers = {}
        for name, value in event.headers:
            if name in headers:
                raise Failure(f"header {name!r} sent twice")
            headers[name] = value
        body = b""
        while True:
            part = self.next_event()
            if isinstance(part, h11.Data):
                body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise Failure(f"expected body data, got {part!r}")
        return event.status_code, headers, body

    def expect_eof(self):
        """After `Connection: close`: nothing but the end of the stream."""
        event = self.next_event()
        if not isinstance(event, h11.ConnectionClosed):
            raise Failure(f"expected EOF after a closing response, got {event!r}")

    def close(self):
        self.sock.close()


def common_checks(exchange, status, headers, body):
    if status not in exchange.statuses:
        raise Failure(f"status {status}, expected {sorted(exchange.statuses)}")
    date = headers.get(b"date")
    if date is None or not IMF_FIXDATE.match(date):
        raise Failure(f"Date must be an IMF-fixdate (RFC 9110 §6.6.1), got {date!r}")
    if status == 405 and b"allow" not in headers:
        raise Failure("405 without Allow (RFC 9110 §15.5.6)")
    announced_close = b"close" in headers.get(b"connection", b"").lower()
    if exchange.close and not announced_close:
        raise Failure("the connection must close, and the response must say so")
    if exchange.check:
        exchange.check(headers, body)


def run_exchanges(addr, exchanges, pipelined):
    """Send the requests (all at once if pipelined) and check each response
    in order; the last must close the connection."""
    client = Client(addr)
    try:
        if pipelined:
            client.send(b"".join(e.raw for e in exchanges))
        for index, exchange in enumerate(exchanges):
            if index > 0:
                client.conn.start_next_cycle()
            client.declare(exchange.method, exchange.target, close=exchange.close)
            if not pipelined:
                client.send(exchange.raw)
            try:
                status, headers, body = client.response()
                common_checks(exchange, status, headers, body)
            except (Failure, h11.RemoteProtocolError) as err:
                raise Failure(f"response {index + 1} ({exchange.method}): {err}") from err
            if client.conn.their_state is h11.MUST_CLOSE:
                if index + 1 < len(exchanges):
                    raise Failure(f"response {index + 1} closed the connection early")
                client.expect_eof()
            elif index + 1 == len(exchanges):
                raise Failure("the last response kept the connection open")
    finally:
        client.close()


# --- checks on particular responses -----------------------------------------


def length_is(n):
    def check(headers, body):
        if headers.get(b"content-length") != str(n).encode():
            raise Failure(f"Content-Length {headers.get(b'content-length')!r}, expected {n}")

    return check


def body_is(expected):
    def check(headers, body):
        if body != expected:
            raise Failure(f"body {body[:80]!r}, expected {expected[:80]!r}")

    return check


def body_contains(text):
    def check(headers, body):
        if text not in body:
            raise Failure(f"body lacks {text!r}: {body[:200]!r}")

    return check


def header_is(name, value):
    def check(headers, body):
        if headers.get(name) != value:
            raise Failure(f"{name.decode()}: {headers.get(name)!r}, expected {value!r}")

    return check


def all_of(*checks):
    def check(headers, body):
        for c in checks:
            c(headers, body)

    return check


def not_modified_headers(file_length):
    """RFC 9110 §15.4.5: a 304 repeats ETag; §8.6: its Content-Length, if
    any, is the length the 200 would have had."""

    def check(headers, body):
        if b"etag" not in headers:
            raise Failure("304 without the ETag the 200 carries")
        length = headers.get(b"content-length")
        if length is not None and length != str(file_length).encode():
            raise Failure(
                f"304 says Content-Length: {length.decode()}; RFC 9110 §8.6: absent "
                f"or {file_length}, the length of the selected representation"
            )

    return check


# --- the cases ---------------------------------------------------------------


def both_methods(make):
    """The same request as GET and as HEAD (HEAD must frame identically,
    without the body)."""
    return [make("GET"), make("HEAD")]


def plain_cases(addr):
    hello = b"Hello from reactord\n"
    cases = []
    for method in ("GET", "HEAD"):
        expected_body = hello if method == "GET" else b""
        cases += [
            (
                f"{method} / keep-alive then close",
                [
                    Exchange(method, request(method), 200, check=all_of(length_is(len(hello)), body_is(expected_body))),
                    Exchange(method, request(method, headers=["Connection: close"]), 200, close=True),
                ],
            ),
            (
                f"{method} /metrics",
                [
                    Exchange(
                        method,
                        request(method, "/metrics", ["Connection: close"]),
                        200,
                        close=True,
                        check=body_contains(b"reactord_connections_active") if method == "GET" else body_is(b""),
                        target="/metrics",
                    )
                ],
            ),
            (
                f"{method} /missing is 404",
                [Exchange(method, request(method, "/missing", ["Connection: close"]), 404, close=True, target="/missing")],
            ),
            (
                f"{method} HTTP/1.0 without keep-alive closes",
                [Exchange(method, request(method, version="1.0"), 200, close=True)],
            ),
            (
                f"{method} HTTP/1.0 keep-alive",
                [
                    Exchange(method, request(method, headers=["Connection: keep-alive"], version="1.0"), 200),
                    Exchange(method, request(method, version="1.0"), 200, close=True),
                ],
            ),
        ]
    cases += [
        (
            "POST is 405 with Allow, its body discarded, the connection kept",
            [
                Exchange("POST", request("POST", "/", ["Content-Length: 5"], body=b"hello"), 405),
                Exchange("GET", request("GET", headers=["Connection: close"]), 200, close=True),
            ],
        ),
        (
            "a chunked body is discarded and the next request served",
            [
                Exchange("GET", request("GET", "/", ["Transfer-Encoding: chunked"], body=b"3\r\nabc\r\n0\r\n\r\n"), 200),
                Exchange("GET", request("GET", "/nope", ["Connection: close"]), 404, close=True, target="/nope"),
            ],
        ),
    ]
    # Errors: each must close, and for HEAD carry no body.
    long_target = "/" + "a" * 2000
    errors = [
        ("missing Host", lambda m: f"{m} / HTTP/1.1\r\n\r\n".encode(), 400, "/"),
        ("two Hosts", lambda m: f"{m} / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".encode(), 400, "/"),
        ("a space inside the method", lambda m: f"{m[0]} {m[1:]} / HTTP/1.1\r\nHost: t\r\n\r\n".encode(), 400, "/"),
        ("a space inside the target", lambda m: f"{m} /a b HTTP/1.1\r\nHost: t\r\n\r\n".encode(), 400, "/"),
        ("version without minor (HTTP/1)", lambda m: f"{m} / HTTP/1\r\nHost: t\r\n\r\n".encode(), 400, "/"),
        ("Content-Length and Transfer-Encoding", lambda m: request(m, headers=["Content-Length: 3", "Transfer-Encoding: chunked"]), 400, "/"),
        ("body over --max-body-bytes", lambda m: request(m, headers=["Content-Length: 101"]), 413, "/"),
        ("target over --max-request-bytes", lambda m: request(m, long_target), 414, long_target),
        ("header field over --max-request-bytes", lambda m: request(m, headers=["X-Big: " + "b" * 2000]), 431, "/"),
        ("Transfer-Encoding gzip", lambda m: request(m, headers=["Transfer-Encoding: gzip"]), 501, "/"),
        ("HTTP/2.0 on HTTP/1 framing", lambda m: request(m, version="2.0"), 505, "/"),
    ]
    for name, make, status, target in errors:
        for method in ("GET", "HEAD"):
            raw = make(method)
            # What the server can know the method to be: the request line's
            # first word (`H` for `H EAD / ...`, which is not a HEAD).
            sent_method = raw.split(b" ", 1)[0].decode()
            cases.append((f"{method} {name}: {status}", [Exchange(sent_method, raw, status, close=True, target=target)]))
    # A method nobody defined: 501 (RFC 9110 §9.1); a defined one that no
    # resource here allows: 405. Either way framed and the connection kept.
    cases.append(
        (
            "an unknown method, then a known one",
            [
                Exchange("BREW", request("BREW"), 501),
                Exchange("DELETE", request("DELETE"), 405),
                Exchange("GET", request("GET", headers=["Connection: close"]), 200, close=True),
            ],
        )
    )
    return cases


def files_cases(file_length):
    notes = b"0123456789abcdefghij"
    assert len(notes) == file_length
    cases = []
    for method in ("GET", "HEAD"):
        get = method == "GET"

        def ex(target, status, headers=(), check=None, close=False):
            hs = list(headers) + (["Connection: close"] if close else [])
            return Exchange(method, request(method, target, hs), status, close=close, check=check, target=target)

        body = body_is if get else (lambda _: body_is(b""))
        cases += [
            (f"{method} a file", [ex("/notes.txt", 200, check=all_of(length_is(file_length), body(notes))), ex("/", 200, close=True)]),
            (f"{method} the index of /", [ex("/", 200, check=body(b"<h1>home</h1>\n"), close=True)]),
            (f"{method} a directory without its slash: 301", [ex("/sub", 301, check=header_is(b"location", b"/sub/"), close=True)]),
            (f"{method} a directory's index.html", [ex("/sub/", 200, check=body(b"<p>sub</p>\n"), close=True)]),
            (
                f"{method} an autoindex listing",
                [ex("/plain/", 200, check=body_contains(b"a.txt") if get else body_is(b""), close=True)],
            ),
            (f"{method} a missing file: 404", [ex("/missing.txt", 404, close=True)]),
        ]
        if get:
            cases += [
                (
                    "GET a range: 206",
                    [ex("/notes.txt", 206, ["Range: bytes=2-5"], check=all_of(header_is(b"content-range", b"bytes 2-5/20"), length_is(4), body(b"2345")), close=True)],
                ),
                (
                    "GET an unsatisfiable range: 416",
                    [ex("/notes.txt", 416, ["Range: bytes=20-"], check=header_is(b"content-range", b"bytes */20"), close=True)],
                ),
            ]
        else:
            # RFC 9110 §14.2 defines Range for GET only: HEAD ignores it.
            cases += [
                (
                    "HEAD with a range: the 200 headers of GET",
                    [ex("/notes.txt", 200, ["Range: bytes=2-5"], check=all_of(header_is(b"content-range", None), length_is(file_length)), close=True)],
                ),
                (
                    "HEAD with an unsatisfiable range: 200",
                    [ex("/notes.txt", 200, ["Range: bytes=20-"], check=header_is(b"content-range", None), close=True)],
                ),
            ]
        cases += [
            (f"{method} /metrics beside the files", [ex("/metrics", 200, close=True)]),
        ]
    return cases


def conditional_cases(addr, file_length):
    """304 and 412 need the file's validators, fetched first."""
    client = Client(addr)
    try:
        client.declare("GET", "/notes.txt", close=True)
        client.send(request("GET", "/notes.txt", ["Connection: close"]))
        _, headers, _ = client.response()
    finally:
        client.close()
    etag = headers[b"etag"].decode()
    modified = headers[b"last-modified"].decode()
    cases = []
    for method in ("GET", "HEAD"):

        def ex(status, headers, close=False, check=None):
            hs = list(headers) + (["Connection: close"] if close else [])
            return Exchange(method, request(method, "/notes.txt", hs), status, close=close, check=check, target="/notes.txt")

        not_modified = not_modified_headers(file_length)
        cases += [
            (f"{method} If-None-Match: 304", [ex(304, [f"If-None-Match: {etag}"], check=not_modified), ex(200, [], close=True)]),
            (f"{method} If-Modified-Since: 304", [ex(304, [f"If-Modified-Since: {modified}"], check=not_modified, close=True)]),
            (f"{method} If-Match with another tag: 412", [ex(412, ['If-Match: "other"']), ex(200, [], close=True)]),
            (f"{method} If-Match with its tag: 200", [ex(200, [f"If-Match: {etag}"], close=True)]),
            (
                f"{method} If-Unmodified-Since before the file changed: 412",
                [ex(412, ["If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT"]), ex(200, [], close=True)],
            ),
        ]
    return cases


def pipelined_case(addr, files):
    """Many requests in one write, every kind mixed, answered in order."""
    if files:
        targets = ["/notes.txt", "/sub", "/sub/", "/plain/", "/missing", "/metrics"]
        statuses = [200, 301, 200, 200, 404, 200]
    else:
        targets = ["/", "/metrics", "/missing", "/?q=1"]
        statuses = [200, 200, 404, 200]
    exchanges = []
    for round_ in range(3):
        for target, status in zip(targets, statuses):
            for method in ("GET", "HEAD"):
                exchanges.append(Exchange(method, request(method, target), status, target=target))
        exchanges.append(Exchange("POST", request("POST", "/", ["Content-Length: 3"], body=b"abc"), 405))
        if files:
            exchanges.append(Exchange("GET", request("GET", "/notes.txt", ["Range: bytes=0-0"]), 206, target="/notes.txt"))
            exchanges.append(Exchange("GET", request("GET", "/notes.txt", ["Range: bytes=99-"]), 416, target="/notes.txt"))
            exchanges.append(Exchange("HEAD", request("HEAD", "/notes.txt", ["Range: bytes=99-"]), 200, target="/notes.txt"))
    exchanges.append(Exchange("GET", request("GET", "/", ["Connection: close"]), 200, close=True))
    return exchanges


def expect_continue_case(addr):
    """Expect: 100-continue: the 100, then the body, then the answer."""
    client = Client(addr)
    try:
        client.conn.send(
            h11.Request(
                method="GET",
                target="/",
                headers=[("Host", "t"), ("Content-Length", "4"), ("Expect", "100-continue"), ("Connection", "close")],
            )
        )
        client.send(request("GET", "/", ["Content-Length: 4", "Expect: 100-continue", "Connection: close"]))
        event = client.next_event()
        if not isinstance(event, h11.InformationalResponse) or event.status_code != 100:
            raise Failure(f"expected 100 Continue, got {event!r}")
        client.conn.send(h11.Data(data=b"body"))
        client.conn.send(h11.EndOfMessage())
        client.send(b"body")
        status, headers, body = client.response()
        if status != 200:
            raise Failure(f"status {status} after the body")
        client.expect_eof()
    finally:
        client.close()


def rejected_case(full_addr, deferred):
    """--max-connections reached: a 503 that closes. Without --defer-accept
    the refused client sends nothing (the server can't wait for it); with
    it, GET and HEAD are sent, and the HEAD's 503 has no body."""
    holder = Client(full_addr)
    try:
        holder.declare("GET")
        holder.send(request("GET"))
        status, _, _ = holder.response()
        if status != 200:
            raise Failure(f"the first client got {status}")
        for method in ("GET", "HEAD") if deferred else ("GET",):
            refused = Client(full_addr)
            try:
                refused.declare(method, close=True)
                if deferred:
                    refused.send(request(method, headers=["Connection: close"]))
                status, headers, body = refused.response()
                try:
                    common_checks(Exchange(method, b"", 503, close=True), status, headers, body)
                    refused.expect_eof()
                except (Failure, h11.RemoteProtocolError) as err:
                    raise Failure(f"{method}: {err}") from err
            finally:
                refused.close()
    finally:
        holder.close()


def echo_cases():
    """The /echo benchmark target: generated, chunked, echoed, delayed,
    refused (the plain server allows 100-byte bodies)."""
    ok = Exchange
    return [
        ("GET and HEAD /echo?size=50", [
            ok("GET", request("GET", "/echo?size=50"), 200, check=length_is(50), target="/echo?size=50"),
            ok("HEAD", request("HEAD", "/echo?size=50"), 200, check=all_of(length_is(50), body_is(b"")), target="/echo?size=50"),
            ok("GET", request("GET", "/echo?size=50&chunks=3", ["Connection: close"]), 200, close=True,
               check=header_is(b"transfer-encoding", b"chunked"), target="/echo?size=50&chunks=3"),
        ]),
        ("a drip, then the next request", [
            ok("GET", request("GET", "/echo/drip?size=9&chunks=3&interval=10ms"), 200, target="/echo/drip"),
            ok("GET", request("GET", "/", ["Connection: close"]), 200, close=True),
        ]),
        ("POST /echo: Content-Length and chunked bodies come back", [
            ok("POST", request("POST", "/echo", ["Content-Length: 5"], body=b"hello"), 200,
               check=all_of(length_is(5), body_is(b"hello")), target="/echo"),
            ok("PUT", request("PUT", "/echo", ["Transfer-Encoding: chunked"], body=b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), 200,
               check=all_of(header_is(b"transfer-encoding", b"chunked"), body_is(b"abcde")), target="/echo"),
            ok("GET", request("GET", "/echo?status=503&header=X-A:1&delay=5ms"), 503, check=header_is(b"x-a", b"1"), target="/echo"),
            ok("GET", request("GET", "/echo?status=204"), 204, target="/echo"),
            ok("GET", request("GET", "/echo?bogus=1"), 400, check=body_contains(b"bogus"), target="/echo"),
            ok("GET", request("GET", "/echo?close=1"), 200, close=True, target="/echo"),
        ]),
        ("DELETE /echo is 405", [
            ok("DELETE", request("DELETE", "/echo", ["Connection: close"]), 405, close=True,
               check=header_is(b"allow", b"GET, HEAD, POST, PUT"), target="/echo"),
        ]),
    ]


def address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    plain, files, full = (address(a) for a in sys.argv[1:4])
    file_length = int(sys.argv[4])
    deferred = sys.argv[5] == "yes"
    runs = []
    for name, exchanges in plain_cases(plain):
        runs.append((f"plain: {name}", lambda e=exchanges: run_exchanges(plain, e, pipelined=False)))
    for name, exchanges in echo_cases():
        runs.append((f"plain: {name}", lambda e=exchanges: run_exchanges(plain, e, pipelined=False)))
    for name, exchanges in files_cases(file_length):
        runs.append((f"files: {name}", lambda e=exchanges: run_exchanges(files, e, pipelined=False)))
    for name, exchanges in conditional_cases(files, file_length):
        runs.append((f"files: {name}", lambda e=exchanges: run_exchanges(files, e, pipelined=False)))
    runs.append(("plain: pipelined mix", lambda: run_exchanges(plain, pipelined_case(plain, False), pipelined=True)))
    runs.append(("files: pipelined mix", lambda: run_exchanges(files, pipelined_case(files, True), pipelined=True)))
    runs.append(("plain: Expect: 100-continue", lambda: expect_continue_case(plain)))
    runs.append(("full: 503 beyond --max-connections", lambda: rejected_case(full, deferred)))
    failures = []
    for name, run in runs:
        try:
            run()
            print(f"ok    {name}")
        except (Failure, h11.RemoteProtocolError, OSError) as err:
            kind = "h11" if isinstance(err, h11.RemoteProtocolError) or isinstance(err.__cause__, h11.RemoteProtocolError) else type(err).__name__
            failures.append(f"FAIL  {name}: [{kind}] {err}")
            print(failures[-1])
    print(f"{len(runs) - len(failures)} of {len(runs)} cases passed")
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
