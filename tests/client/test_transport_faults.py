"""The client's transport (httpx's own) against raw loopback socket servers: the exceptions the
client's retry and unknown-outcome rules decide on (client/retry.py `_UNSENT`, trading.py
`OrderOutcomeUnknown`). "Nothing was sent" only for a failure to connect (the TCP connect or the
TLS handshake); anything after the first byte of the request may have been written is an
unknown outcome for an order, never re-sent.

Each server is a thread that accepts connections one after another and runs a scripted
handler on each; every wait is on a condition with a deadline, never a sleep.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.deadline import DeadlineBackend
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.retry import nothing_sent
from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown, TransportError
from kalshi_cli.vocabulary.keys import generate_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.loopback import Handler, LoopbackServer, read_request

DEADLINE_S = 10.0


def answer(status: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(handler: Handler) -> LoopbackServer:
        server = LoopbackServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def transport() -> Iterator[httpx.HTTPTransport]:
    made = httpx.HTTPTransport()
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
    """No proxy from the environment: the client uses httpx's default transport."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.usefixtures("direct")
def test_the_client_sends_through_httpx_transport_held_to_deadlines() -> None:
    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as client:
        transport = client.connection._http._transport
        assert isinstance(transport, httpx.HTTPTransport)
        assert isinstance(transport._pool._network_backend, DeadlineBackend)


def test_a_proxy_from_the_environment_is_held_to_deadlines_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx makes a transport of its own for a proxy named in the environment: it keeps the
    request's deadline as the default one does."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as client:
        proxies = [t for t in client.connection._http._mounts.values() if t is not None]
    assert proxies, "httpx made no transport for the proxy"
    for transport in proxies:
        assert isinstance(transport, httpx.HTTPTransport)
        assert isinstance(transport._pool._network_backend, DeadlineBackend)


def test_a_no_proxy_list_alone_still_holds_requests_to_deadlines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NO_PROXY names hosts to reach directly: the transports httpx makes for it are held to
    the deadline as the default one is."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as client:
        made = [client.connection._http._transport, *client.connection._http._mounts.values()]
    for transport in made:
        if isinstance(transport, httpx.HTTPTransport):
            assert isinstance(transport._pool._network_backend, DeadlineBackend)


@pytest.mark.usefixtures("direct")
def test_a_refused_connection_is_a_connect_error_and_nothing_sent() -> None:
    port = refused_port()
    with pytest.raises(httpx.ConnectError) as raw:
        get(httpx.HTTPTransport(), f"http://127.0.0.1:{port}/x")
    assert "Connection refused" in str(raw.value)
    with order_client(f"http://127.0.0.1:{port}") as client, pytest.raises(TransportError) as info:
        client.orders.create_order(new_order())
    assert not isinstance(info.value, OrderOutcomeUnknown)
    assert nothing_sent(info.value)


def test_an_unknown_host_is_a_connect_error() -> None:
    with pytest.raises(httpx.ConnectError):
        get(httpx.HTTPTransport(), "http://no-such-host.invalid/x")


def test_an_unsupported_scheme_is_refused_before_connecting() -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        get(httpx.HTTPTransport(), "ftp://127.0.0.1/x")


@pytest.mark.usefixtures("direct")
def test_an_order_whose_connection_closes_before_an_answer_is_unknown_and_not_resent(
    serve: Callable[[Handler], LoopbackServer],
) -> None:
    def close_after_reading(conn: socket.socket, n: int) -> None:
        server.requests.append(read_request(conn))

    server = serve(close_after_reading)
    with order_client(server.base) as client, pytest.raises(OrderOutcomeUnknown) as info:
        client.orders.create_order(new_order())
    assert info.value.client_order_id == "coid-7"
    assert not nothing_sent(info.value.__cause__ or info.value)
    cause = info.value.__cause__
    assert isinstance(cause, TransportError)
    assert isinstance(cause.__cause__, httpx.RemoteProtocolError)
    assert "Server disconnected without sending a response." in str(cause.__cause__)
    assert len(server.requests) == 1 and b"coid-7" in server.requests[0]
    assert server.connections == 1


def test_a_server_that_reads_and_stalls_is_a_read_timeout(
    serve: Callable[[Handler], LoopbackServer], transport: httpx.HTTPTransport
) -> None:
    def stall(conn: socket.socket, n: int) -> None:
        server.requests.append(read_request(conn))
        server.release.wait(DEADLINE_S)

    server = serve(stall)
    with pytest.raises(httpx.ReadTimeout):
        get(transport, server.base + "/x", read=0.05)


@pytest.mark.usefixtures("direct")
def test_an_order_that_times_out_is_unknown(serve: Callable[[Handler], LoopbackServer]) -> None:
    def stall(conn: socket.socket, n: int) -> None:
        server.requests.append(read_request(conn))
        server.release.wait(DEADLINE_S)

    server = serve(stall)
    client = KalshiClient(
        api_base=server.base + "/trade-api/v2",
        key_id="key-1",
        private_key=generate_private_key(),
        # the one timeout is the connect's too: a connect refused in time would be "not sent";
        # half a second lets a loaded machine connect, the server then stalls far longer
        timeout=0.5,
    )
    with client, pytest.raises(OrderOutcomeUnknown):
        client.orders.create_order(new_order())
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1" * 5000 + b"\r\n\r\n{}",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 099 Odd\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ],
)
def test_a_malformed_or_truncated_answer_is_a_remote_protocol_error(
    serve: Callable[[Handler], LoopbackServer], transport: httpx.HTTPTransport, reply: bytes
) -> None:
    server = serve(lambda conn, n: (server.serve(conn, reply), None)[1])
    with pytest.raises(httpx.RemoteProtocolError):
        get(transport, server.base + "/x")


@pytest.mark.usefixtures("direct")
@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1" * 5000 + b"\r\n\r\n{}",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 099 Odd\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["truncated-body", "huge-length", "101", "status-099"],
)
def test_an_order_answered_with_a_malformed_answer_is_unknown(
    serve: Callable[[Handler], LoopbackServer], reply: bytes
) -> None:
    """The order was sent: whatever came back that is not a readable answer, its outcome is
    unknown (looked up, never re-sent, never recorded as refused)."""
    server = serve(lambda conn, n: (server.serve(conn, reply), None)[1])
    with order_client(server.base) as client, pytest.raises(OrderOutcomeUnknown):
        client.orders.create_order(new_order())
    assert len(server.requests) == 1


def test_a_tls_handshake_failure_is_a_connect_error_and_nothing_sent(
    serve: Callable[[Handler], LoopbackServer],
) -> None:
    """A server that answers the ClientHello with plain text: the handshake fails before any
    byte of the request is written, so this is one of the "unsent" classes."""
    server = serve(lambda conn, n: conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    with pytest.raises(httpx.ConnectError):
        get(httpx.HTTPTransport(), f"https://127.0.0.1:{server.port}/x")


def test_a_tls_alert_answering_the_hello_is_a_connect_error(
    serve: Callable[[Handler], LoopbackServer],
) -> None:
    """A server that answers the ClientHello with a fatal alert (handshake_failure): nothing of
    the request was written, so a ConnectError."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert context.verify_mode == ssl.CERT_REQUIRED
    server = serve(lambda conn, n: conn.sendall(b"\x15\x03\x03\x00\x02\x02\x28"))  # TLS alert
    with pytest.raises(httpx.ConnectError):
        get(httpx.HTTPTransport(verify=context), f"https://127.0.0.1:{server.port}/x")


def test_a_request_refused_mid_write_is_never_called_unsent(
    serve: Callable[[Handler], LoopbackServer], transport: httpx.HTTPTransport
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
