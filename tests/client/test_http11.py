"""Http11Transport against raw loopback socket servers: framing, keep-alive, and above all the
exceptions the client's retry and unknown-outcome rules decide on (client/retry.py `_UNSENT`,
trading.py `OrderOutcomeUnknown`).

Each server is a thread that accepts connections one after another and runs a scripted
handler on each; every wait is on a condition with a deadline, never a sleep.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import pytest

from kalshi_cli.client import CreateOrder, KalshiClient
from kalshi_cli.client.http11 import MAX_HEAD_BYTES, Http11Transport
from kalshi_cli.client.retry import nothing_sent
from kalshi_cli.errors import OrderOutcomeUnknown, TransportError
from kalshi_cli.keys import generate_private_key
from kalshi_cli.models import BookSide

DEADLINE_S = 10.0
Handler = Callable[[socket.socket, int], None]


def read_request(conn: socket.socket) -> bytes:
    """One whole request (head and Content-Length body) as it came off the wire; b"" at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def answer(status: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RawServer:
    """A loopback TCP server: the n-th accepted connection (from 0) goes to `handler(conn, n)`;
    what each connection received is in `requests`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests: list[bytes] = []
        self.release = threading.Event()  # handlers that hold a connection wait on this
        self.errors: list[BaseException] = []
        self._workers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            n = self.connections
            self.connections += 1
            worker = threading.Thread(target=self._handle, args=(conn, n), daemon=True)
            self._workers.append(worker)
            worker.start()

    def _handle(self, conn: socket.socket, n: int) -> None:
        with conn:
            try:
                self.handler(conn, n)
            except OSError:
                pass
            except BaseException as exc:  # a failed handler fails the test in close()
                self.errors.append(exc)

    def serve(self, conn: socket.socket, reply: bytes) -> bytes:
        request = read_request(conn)
        self.requests.append(request)
        conn.sendall(reply)
        return request

    def close(self) -> None:
        self.release.set()
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone does not)
        self.listener.close()
        self._thread.join(DEADLINE_S)
        for worker in self._workers:
            worker.join(DEADLINE_S)
        assert not self.errors


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        server = RawServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def transport() -> Iterator[Http11Transport]:
    made = Http11Transport()
    yield made
    made.close()


TIMEOUTS = {"connect": DEADLINE_S, "read": DEADLINE_S, "write": DEADLINE_S, "pool": DEADLINE_S}


def get(
    transport: httpx.BaseTransport, url: str, method: str = "GET", **timeouts: float
) -> httpx.Response:
    request = httpx.Request(method, url, extensions={"timeout": {**TIMEOUTS, **timeouts}})
    response = transport.handle_request(request)
    response.read()
    return response


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def order_client(base: str) -> KalshiClient:
    return KalshiClient(
        api_base=base + "/trade-api/v2",
        key_id="key-1",
        private_key=generate_private_key(),
        timeout=DEADLINE_S,
    )


def new_order() -> CreateOrder:
    return CreateOrder(
        ticker="KXT",
        book_side=BookSide.ASK,
        price=Decimal("0.60"),
        count=Decimal(3),
        client_order_id="coid-7",
    )


# ------------------------------------------------------------------------------------------
# the exceptions: what the retry and unknown-outcome rules decide on


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the environment: the client uses its own transport."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.usefixtures("direct")
def test_the_client_sends_through_its_own_transport_by_default() -> None:
    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as client:
        assert isinstance(client._direct, Http11Transport)


@pytest.mark.usefixtures("direct")
def test_a_refused_connection_is_a_connect_error_and_nothing_sent() -> None:
    port = refused_port()
    with pytest.raises(httpx.ConnectError) as raw:
        get(Http11Transport(), f"http://127.0.0.1:{port}/x")
    assert isinstance(raw.value.__cause__, ConnectionRefusedError)
    assert raw.value.request.url.port == port
    with order_client(f"http://127.0.0.1:{port}") as client, pytest.raises(TransportError) as info:
        client.create_order(new_order())
    assert not isinstance(info.value, OrderOutcomeUnknown)
    assert nothing_sent(info.value)


def test_an_unknown_host_is_a_connect_error() -> None:
    with pytest.raises(httpx.ConnectError):
        get(Http11Transport(), "http://no-such-host.invalid/x")


def test_an_unsupported_scheme_is_refused_before_connecting() -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        get(Http11Transport(), "ftp://127.0.0.1/x")


@pytest.mark.usefixtures("direct")
def test_an_order_whose_connection_closes_before_an_answer_is_unknown_and_not_resent(
    serve: Callable[[Handler], RawServer],
) -> None:
    def close_after_reading(conn: socket.socket, n: int) -> None:
        server.requests.append(read_request(conn))

    server = serve(close_after_reading)
    with order_client(server.base) as client, pytest.raises(OrderOutcomeUnknown) as info:
        client.create_order(new_order())
    assert info.value.client_order_id == "coid-7"
    assert not nothing_sent(info.value.__cause__ or info.value)
    cause = info.value.__cause__
    assert isinstance(cause, TransportError)
    assert isinstance(cause.__cause__, httpx.RemoteProtocolError)
    assert "Server disconnected without sending a response." in str(cause.__cause__)
    assert len(server.requests) == 1 and b"coid-7" in server.requests[0]
    assert server.connections == 1


def test_a_server_that_reads_and_stalls_is_a_read_timeout(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    def stall(conn: socket.socket, n: int) -> None:
        server.requests.append(read_request(conn))
        server.release.wait(DEADLINE_S)

    server = serve(stall)
    with pytest.raises(httpx.ReadTimeout) as info:
        get(transport, server.base + "/x", read=0.05)
    assert isinstance(info.value.__cause__, TimeoutError)


@pytest.mark.usefixtures("direct")
def test_an_order_that_times_out_is_unknown(serve: Callable[[Handler], RawServer]) -> None:
    def stall(conn: socket.socket, n: int) -> None:
        server.requests.append(read_request(conn))
        server.release.wait(DEADLINE_S)

    server = serve(stall)
    client = KalshiClient(
        api_base=server.base + "/trade-api/v2",
        key_id="key-1",
        private_key=generate_private_key(),
        timeout=0.05,
    )
    with client, pytest.raises(OrderOutcomeUnknown):
        client.create_order(new_order())
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", "complete message body"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "complete response head"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", "chunk"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "complete message"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n", "CRLF"),
        (b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "status line"),
        (b"SMTP ready\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", "both"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "chunked is supported"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", "too large"),
    ],
)
def test_a_malformed_or_truncated_answer_is_a_remote_protocol_error(
    serve: Callable[[Handler], RawServer], transport: Http11Transport, reply: bytes, message: str
) -> None:
    server = serve(lambda conn, n: (server.serve(conn, reply), None)[1])
    with pytest.raises(httpx.RemoteProtocolError) as info:
        get(transport, server.base + "/x")
    assert message in str(info.value)
    assert info.value.request.url.path == "/x"


def test_a_tls_handshake_failure_is_a_connect_error_and_nothing_sent(
    serve: Callable[[Handler], RawServer],
) -> None:
    """A server that answers the ClientHello with plain text: the handshake fails before any
    byte of the request is written, so this is one of the "unsent" classes."""
    server = serve(lambda conn, n: conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    with pytest.raises(httpx.ConnectError) as info:
        get(Http11Transport(), f"https://127.0.0.1:{server.port}/x")
    assert isinstance(info.value.__cause__, OSError)  # ssl.SSLError


def test_a_tls_alert_answering_the_hello_is_a_connect_error(
    serve: Callable[[Handler], RawServer],
) -> None:
    """A server that answers the ClientHello with a fatal alert (handshake_failure): nothing of
    the request was written, so a ConnectError. (A real certificate refused for want of a
    trusted CA, or for another host name: tests/client/test_http11_tls.py.)"""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert context.verify_mode == ssl.CERT_REQUIRED
    server = serve(lambda conn, n: conn.sendall(b"\x15\x03\x03\x00\x02\x02\x28"))  # TLS alert
    with pytest.raises(httpx.ConnectError):
        get(Http11Transport(verify=context), f"https://127.0.0.1:{server.port}/x")


def test_a_request_refused_mid_write_is_never_called_unsent(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    """The server answers after the head and closes without reading the 8 MB body: whatever
    the write or the read then meets, the failure is not one of the "unsent" classes, and an
    answer the server did send is returned (as httpcore does after a failed write)."""

    def early(conn: socket.socket, n: int) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        conn.sendall(answer("413 Payload Too Large", b"no", "Connection: close"))
        conn.shutdown(socket.SHUT_WR)

    server = serve(early)
    request = httpx.Request(
        "POST", server.base + "/x", content=b"x" * 8_000_000, extensions={"timeout": TIMEOUTS}
    )
    try:
        response = transport.handle_request(request)
    except httpx.RequestError as exc:
        assert not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        assert isinstance(exc, (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError))
    else:
        assert response.status_code == 413
        assert response.read() == b"no"


# ------------------------------------------------------------------------------------------
# keep-alive


def keep_answering(server_ref: list[RawServer], reply: bytes, count: int) -> Handler:
    def handler(conn: socket.socket, n: int) -> None:
        for _ in range(count):
            server_ref[0].serve(conn, reply)

    return handler


def test_a_connection_is_reused_for_the_next_request(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    ref: list[RawServer] = []
    ref.append(serve(keep_answering(ref, answer("200 OK", b"{}"), 3)))
    for _ in range(3):
        assert get(transport, ref[0].base + "/x").content == b"{}"
    assert ref[0].connections == 1


def test_a_stale_connection_closed_while_idle_is_not_reused(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    closed = threading.Event()

    def once_then_close(conn: socket.socket, n: int) -> None:
        server.serve(conn, answer("200 OK", b"first" if n == 0 else b"fresh"))
        if n == 0:
            conn.shutdown(socket.SHUT_RDWR)
            closed.set()
        else:
            server.release.wait(DEADLINE_S)

    server = serve(once_then_close)
    assert get(transport, server.base + "/x").content == b"first"
    assert closed.wait(DEADLINE_S)
    assert get(transport, server.base + "/x").content == b"fresh"
    assert server.connections == 2


def test_junk_on_an_idle_connection_retires_it(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    sent = threading.Event()

    def junk_while_idle(conn: socket.socket, n: int) -> None:
        server.serve(conn, answer("200 OK", b"one"))
        if n == 0:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
            sent.set()
        server.release.wait(DEADLINE_S)

    server = serve(junk_while_idle)
    assert get(transport, server.base + "/x").content == b"one"
    assert sent.wait(DEADLINE_S)
    # a readable idle socket (the junk is in it once sendall returned, on loopback): never
    # read as the next answer, a fresh connection instead
    assert get(transport, server.base + "/x").content == b"one"
    assert server.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        answer("200 OK", b"a", "Connection: close"),
        answer("200 OK", b"a", "Connection: keep-alive, Close"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\na",
        b"HTTP/1.1 200 OK\r\n\r\na",  # read to close
    ],
)
def test_no_reuse_after_close_an_http_1_0_answer_or_a_body_read_to_close(
    serve: Callable[[Handler], RawServer], transport: Http11Transport, reply: bytes
) -> None:
    def answer_and_hold(conn: socket.socket, n: int) -> None:
        server.serve(conn, reply)
        if reply.endswith(b"\r\n\r\na"):
            return  # read to close: the close ends the body
        server.release.wait(DEADLINE_S)

    server = serve(answer_and_hold)
    for _ in range(2):
        assert get(transport, server.base + "/x").content == b"a"
    assert server.connections == 2


def test_a_connection_that_failed_is_not_reused(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    def bad_then_good(conn: socket.socket, n: int) -> None:
        if n == 0:
            server.serve(conn, b"HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n")
        else:
            server.serve(conn, answer("200 OK", b"ok"))
        server.release.wait(DEADLINE_S)

    server = serve(bad_then_good)
    with pytest.raises(httpx.RemoteProtocolError):
        get(transport, server.base + "/x")
    assert get(transport, server.base + "/x").content == b"ok"
    assert server.connections == 2


def test_requests_from_several_threads_share_the_pool_safely(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    """Each request holds its connection alone: answers never cross between threads."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def echo_path(conn: socket.socket) -> None:
        with conn:
            while True:
                request = read_request(conn)
                if not request:
                    return
                path = request.split(b" ")[1]
                conn.sendall(answer("200 OK", path))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=echo_path, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    results: list[bool] = []

    def run(worker: int) -> None:
        for i in range(25):
            path = f"/w{worker}/r{i}"
            results.append(get(transport, f"http://127.0.0.1:{port}{path}").text == path)

    workers = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(DEADLINE_S * 3)
    transport.close()
    stop.set()
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    acceptor.join(DEADLINE_S)
    assert results == [True] * 100


# ------------------------------------------------------------------------------------------
# answers


def test_a_chunked_answer_with_trailers_is_read_whole_and_reused(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n'
    )
    ref: list[RawServer] = []
    ref.append(serve(keep_answering(ref, chunked, 2)))
    for _ in range(2):
        response = get(transport, ref[0].base + "/x")
        assert response.json() == {"a": 1}
    assert ref[0].connections == 1


def test_repeated_headers_are_kept_in_order(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    reply = answer("200 OK", b"", "Set-Cookie: a=1", "X-Two: x", "Set-Cookie: b=2")
    server = serve(lambda conn, n: (server.serve(conn, reply), None)[1])
    response = get(transport, server.base + "/x")
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert [name for name, _ in response.headers.raw] == [
        b"Set-Cookie",
        b"X-Two",
        b"Set-Cookie",
        b"Content-Length",
    ]
    assert response.http_version == "HTTP/1.1"
    assert response.reason_phrase == "OK"


def test_head_204_304_and_1xx_carry_no_body(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    replies = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",  # to a HEAD
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast",
    ]

    def each(conn: socket.socket, n: int) -> None:
        for reply in replies:
            server.serve(conn, reply)

    server = serve(each)
    assert get(transport, server.base + "/x", "HEAD").content == b""
    assert get(transport, server.base + "/x").status_code == 204
    assert get(transport, server.base + "/x").status_code == 304
    last = get(transport, server.base + "/x")
    assert (last.status_code, last.content) == (200, b"last")
    assert server.connections == 1  # no body read past: the same connection served all four


def test_a_5_mb_listing_arrives_intact(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    markets = [{"ticker": f"KX{i:07d}", "yes_bid_dollars": "0.4200"} for i in range(120_000)]
    body = json.dumps({"markets": markets}).encode()
    assert len(body) > 5_000_000
    server = serve(lambda conn, n: (server.serve(conn, answer("200 OK", body)), None)[1])
    response = get(transport, server.base + "/markets")
    assert response.content == body
    assert response.json()["markets"][-1]["ticker"] == "KX0119999"


def _capture(serve: Callable[[Handler], RawServer], reply: bytes) -> RawServer:
    ref: list[RawServer] = []
    ref.append(serve(keep_answering(ref, reply, 1)))
    return ref[0]


def test_a_gzip_answer_decodes_as_with_httpx_transport(
    serve: Callable[[Handler], RawServer], transport: Http11Transport
) -> None:
    payload = json.dumps({"markets": [{"ticker": "KXA"}] * 200}).encode()
    reply = answer("200 OK", gzip.compress(payload), "Content-Encoding: gzip")
    ours = _capture(serve, reply)
    theirs = _capture(serve, reply)
    with httpx.Client(transport=transport) as client:
        mine = client.get(ours.base + "/m")
    with httpx.Client(transport=httpx.HTTPTransport()) as client:
        old = client.get(theirs.base + "/m")
    assert mine.content == old.content == payload
    assert mine.headers.raw == old.headers.raw
    assert ours.requests == [
        r.replace(str(theirs.port).encode(), str(ours.port).encode()) for r in theirs.requests
    ]
    assert b"Accept-Encoding: gzip, deflate" in ours.requests[0]


WIRE_CASES = [
    ("GET", "/trade-api/v2/markets/KX%2FA%20B?limit=5&status=open&cursor=a%2Bb", None, {}),
    ("POST", "/trade-api/v2/portfolio/events/orders", {"ticker": "KXA", "count": "3"}, {}),
    ("DELETE", "/trade-api/v2/portfolio/events/orders/o-1?market_ticker=KXA", None, {}),
    ("PUT", "/trade-api/v2/portfolio/thing", None, {"X-Extra": "v"}),
]


@pytest.mark.parametrize(("method", "target", "body", "headers"), WIRE_CASES)
def test_the_request_bytes_equal_what_httpx_transport_writes(  # noqa: PLR0917
    serve: Callable[[Handler], RawServer],
    transport: Http11Transport,
    method: str,
    target: str,
    body: object,
    headers: dict[str, str],
) -> None:
    ours = _capture(serve, answer("200 OK", b"{}"))
    theirs = _capture(serve, answer("200 OK", b"{}"))

    def request(port: int) -> httpx.Request:
        return httpx.Request(
            method,
            f"http://127.0.0.1:{port}{target}",
            json=body,
            headers={"Accept": "application/json", "User-Agent": "kalshi-cli/t", **headers},
            extensions={"timeout": TIMEOUTS},
        )

    transport.handle_request(request(ours.port)).read()
    with httpx.HTTPTransport() as old:
        old.handle_request(request(theirs.port)).read()
    mine = ours.requests[0]
    expected = theirs.requests[0].replace(str(theirs.port).encode(), str(ours.port).encode())
    assert mine == expected
    assert mine.startswith(
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{ours.port}\r\n".encode()
    )


@pytest.mark.parametrize("headers", [{"X-Bad": " padded"}, {"X-Bad": "a\x00b"}])
def test_a_header_h11_would_refuse_is_refused_as_httpx_transport_refuses_it(
    serve: Callable[[Handler], RawServer], transport: Http11Transport, headers: dict[str, str]
) -> None:
    server = serve(lambda conn, n: (server.serve(conn, answer("200 OK")), None)[1])
    for sender in (transport, httpx.HTTPTransport()):
        request = httpx.Request("GET", server.base + "/x", headers=headers)
        with sender, pytest.raises(httpx.LocalProtocolError):
            sender.handle_request(request)
    assert not any(server.requests)  # neither wrote a byte of the request


def test_an_ipv6_literal_host_is_connected_to_without_its_brackets(
    transport: Http11Transport,
) -> None:
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:  # no IPv6 loopback here: what is checked is then the refusal's class
        with pytest.raises(httpx.ConnectError):
            get(transport, "http://[::1]:9/x")
        return
    with listener:
        port = listener.getsockname()[1]
        done = threading.Event()
        seen: list[bytes] = []

        def serve_one() -> None:
            conn, _ = listener.accept()
            with conn:
                seen.append(read_request(conn))
                conn.sendall(answer("200 OK", b"v6"))
                conn.recv(1)  # until the client closes
            done.set()

        thread = threading.Thread(target=serve_one, daemon=True)
        thread.start()
        assert get(transport, f"http://[::1]:{port}/x").content == b"v6"
        transport.close()
        assert done.wait(DEADLINE_S)
        thread.join(DEADLINE_S)
    assert seen[0].startswith(f"GET /x HTTP/1.1\r\nHost: [::1]:{port}\r\n".encode())
