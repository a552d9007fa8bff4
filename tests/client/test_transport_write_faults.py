"""The client's transport (httpx's own) when writing the request fails: a server that never
reads (the write times out) and one that reads a little and resets the connection (the write
fails, then whatever answer there is is read). Neither is ever one of the "unsent" classes
(client/retry.py `_UNSENT`), so an order meeting one is `OrderOutcomeUnknown`, an amend is not
re-sent, and a read is retried; in the clear and over TLS alike.

The request is made larger than what the two sockets can buffer (a small SO_RCVBUF on the
server's listener, a small SO_SNDBUF on the client's socket by `socket_options`), so `sendall`
is certainly still writing when the server stops reading or resets. Every wait is on a
condition with a deadline.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.client.retry import nothing_sent
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import AmendOutcomeUnknown, OrderOutcomeUnknown, TransportError
from kalshi_cli.vocabulary.keys import generate_private_key
from kalshi_cli.vocabulary.units import BookSide
from tests.loopback import Handler, LoopbackServer

DEADLINE_S = 10.0
WRITE_TIMEOUT_S = 0.2  # the write timeout the never-reading server runs into
# where the server resets, the write ends with the reset: a timeout that cannot come first on a
# loaded host, whose server thread may wait longer than WRITE_TIMEOUT_S for its turn to reset
RESET_TIMEOUT_S = DEADLINE_S
BUFFER = 4096  # the server's SO_RCVBUF and the client's SO_SNDBUF (the kernel doubles them)
SMALL_SEND = ((socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER),)
BIG = 2_000_000  # bytes of body (or of a header, through the client): far past both buffers
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
EARLY_ANSWER = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"

Maker = Callable[[], httpx.BaseTransport]
# starts a server whose handler is made knowing the server (a list of it, filled once built)
Serve = Callable[[Callable[[list[LoopbackServer]], Handler]], LoopbackServer]

TRANSPORTS: dict[str, Maker] = {
    "httpx": lambda: httpx.HTTPTransport(socket_options=list(SMALL_SEND)),
}


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def never_read(server_ref: list[LoopbackServer]) -> Handler:
    def handler(conn: socket.socket, _n: int) -> None:
        server_ref[0].release.wait(DEADLINE_S)

    return handler


def read_a_little_then_reset(answer: bytes = b"") -> Handler:
    """Read a first piece of the request, send `answer` (if any), then close with SO_LINGER 0:
    a reset, with most of the request still unwritten on the client's side."""

    def handler(conn: socket.socket, _n: int) -> None:
        conn.recv(1000)
        if answer:
            conn.sendall(answer)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return handler


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[LoopbackServer] = []

    def start(make: Callable[[list[LoopbackServer]], Handler]) -> LoopbackServer:
        ref: list[LoopbackServer] = []
        ref.append(LoopbackServer(make(ref), receive_buffer=BUFFER))
        servers.append(ref[0])
        return ref[0]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def big_post(base: str, write_s: float = WRITE_TIMEOUT_S) -> httpx.Request:
    timeouts = {"connect": DEADLINE_S, "read": DEADLINE_S, "write": write_s}
    return httpx.Request(
        "POST", base + "/x", content=b"x" * BIG, extensions={"timeout": {**timeouts, "pool": 1}}
    )


def raised_by(transport: httpx.BaseTransport, request: httpx.Request) -> httpx.RequestError:
    with transport, pytest.raises(httpx.RequestError) as info:
        transport.handle_request(request)
    return info.value


def big_client(base: str, transport: httpx.BaseTransport, timeout_s: float) -> KalshiClient:
    """A client whose every request is larger than the sockets can buffer (a 2 MB
    User-Agent), retrying twice with no real wait."""
    return KalshiClient(
        api_base=base + "/trade-api/v2",
        key_id="key-1",
        private_key=generate_private_key(),
        timeout=timeout_s,
        max_attempts=2,
        clock=ManualClock(),
        transport=transport,
        user_agent="x" * BIG,
    )


def new_order() -> CreateOrder:
    return CreateOrder(
        ticker="KXT",
        book_side=BookSide.ASK,
        price=Decimal("0.60"),
        count=Decimal(3),
        client_order_id="coid-9",
    )


def amend(client: KalshiClient) -> None:
    client.orders.amend_order(
        "o-1",
        AmendOrder(ticker="KXT", book_side=BookSide.ASK, price=Decimal("0.61"), count=Decimal(3)),
    )


# ------------------------------------------------------------------------------------------
# the transport alone, against httpx.HTTPTransport


@pytest.mark.parametrize("make", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_a_server_that_never_reads_is_a_write_timeout(serve: Serve, make: Maker) -> None:
    server = serve(never_read)
    exc = raised_by(make(), big_post(server.base))
    assert type(exc) is httpx.WriteTimeout
    assert not isinstance(exc, UNSENT)
    assert server.connections == 1


@pytest.mark.parametrize("make", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_a_reset_mid_write_is_read_as_a_disconnect(serve: Serve, make: Maker) -> None:
    """The write fails (connection reset); the answer is then read, and there is none: the
    read-side class, as httpcore (which swallows a WriteError and reads) raises it."""
    server = serve(lambda ref: read_a_little_then_reset())
    exc = raised_by(make(), big_post(server.base, RESET_TIMEOUT_S))
    assert type(exc) is httpx.RemoteProtocolError
    assert "Server disconnected without sending a response." in str(exc)
    assert not isinstance(exc, UNSENT)
    assert server.connections == 1


def test_a_socket_option_the_system_refuses_is_a_connect_error(
    serve: Serve,
) -> None:
    """`socket_options` are applied to each new socket before any byte is written: one the
    system refuses fails the connection as unsent."""
    server = serve(never_read)
    exc = raised_by(
        httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, 0x7FFF, 1)]),
        big_post(server.base),
    )
    assert type(exc) is httpx.ConnectError


@pytest.mark.parametrize("make", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_an_answer_sent_before_a_reset_mid_write_is_returned(serve: Serve, make: Maker) -> None:
    """A server that refuses the request early (413), then resets while the body is still
    being written: the write fails, and the answer it did send is what the caller gets."""
    server = serve(lambda ref: read_a_little_then_reset(EARLY_ANSWER))
    with make() as transport:
        response = transport.handle_request(big_post(server.base, RESET_TIMEOUT_S))
        assert response.status_code == 413
        assert response.read() == b"no"


@pytest.mark.parametrize("make", TRANSPORTS.values(), ids=TRANSPORTS.keys())
def test_an_early_answer_from_a_server_that_stops_reading_is_lost_to_the_write_timeout(
    serve: Serve, make: Maker
) -> None:
    """The server answers 413 and shuts its side but keeps the connection without reading:
    the write never fails, it times out, and the timeout is raised, as httpcore raises it
    (only a failed write, not a timed-out one, is followed by reading the answer)."""

    def answer_and_stop_reading(ref: list[LoopbackServer]) -> Handler:
        def handler(conn: socket.socket, _n: int) -> None:
            conn.recv(1000)
            conn.sendall(EARLY_ANSWER)
            conn.shutdown(socket.SHUT_WR)
            ref[0].release.wait(DEADLINE_S)

        return handler

    server = serve(answer_and_stop_reading)
    exc = raised_by(make(), big_post(server.base))
    assert type(exc) is httpx.WriteTimeout
    assert server.connections == 1


# ------------------------------------------------------------------------------------------
# through the client: what the retry and unknown-outcome rules make of them

FAULTS: dict[str, Callable[[list[LoopbackServer]], Handler]] = {
    "write-timeout": never_read,
    "reset-mid-write": lambda ref: read_a_little_then_reset(),
}
EXPECTED = {"write-timeout": httpx.WriteTimeout, "reset-mid-write": httpx.RemoteProtocolError}
TIMEOUT_S = {"write-timeout": WRITE_TIMEOUT_S, "reset-mid-write": RESET_TIMEOUT_S}
CASES = [(f, t) for f in FAULTS for t in TRANSPORTS]


@pytest.mark.parametrize(("fault", "sender"), CASES)
def test_an_order_whose_write_fails_is_unknown_and_sent_once(
    serve: Serve,
    fault: str,
    sender: str,
) -> None:
    server = serve(FAULTS[fault])
    client = big_client(server.base, TRANSPORTS[sender](), TIMEOUT_S[fault])
    with client, pytest.raises(OrderOutcomeUnknown) as info:
        client.orders.create_order(new_order())
    assert info.value.client_order_id == "coid-9"
    cause = info.value.__cause__
    assert isinstance(cause, TransportError)
    assert not nothing_sent(cause)
    assert type(cause.__cause__) is EXPECTED[fault]
    assert server.connections == 1


@pytest.mark.parametrize(("fault", "sender"), CASES)
def test_an_amend_whose_write_fails_is_not_resent(
    serve: Serve,
    fault: str,
    sender: str,
) -> None:
    server = serve(FAULTS[fault])
    client = big_client(server.base, TRANSPORTS[sender](), TIMEOUT_S[fault])
    with client, pytest.raises(AmendOutcomeUnknown) as info:
        amend(client)
    cause = info.value.__cause__
    assert isinstance(cause, TransportError)
    assert not nothing_sent(cause)
    assert type(cause.__cause__) is EXPECTED[fault]
    assert server.connections == 1


@pytest.mark.parametrize(("fault", "sender"), CASES)
def test_a_read_whose_write_fails_is_retried(
    serve: Serve,
    fault: str,
    sender: str,
) -> None:
    server = serve(FAULTS[fault])
    client = big_client(server.base, TRANSPORTS[sender](), TIMEOUT_S[fault])
    with client, pytest.raises(TransportError) as info:
        client.markets.get_market("KXT")
    assert type(info.value.__cause__) is EXPECTED[fault]
    assert server.connections == 2  # max_attempts: the first try and one retry


# ------------------------------------------------------------------------------------------
# over TLS: the same faults, the same classes


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for localhost, and a client context
    that trusts it."""
    cert, key = self_signed(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


TLS_TRANSPORTS: dict[str, Callable[[ssl.SSLContext], httpx.BaseTransport]] = {
    "httpx": lambda context: httpx.HTTPTransport(verify=context, socket_options=list(SMALL_SEND)),
}
TLS_CASES = [(f, t) for f in FAULTS for t in TLS_TRANSPORTS]


@pytest.mark.parametrize(("fault", "sender"), TLS_CASES)
def test_over_tls_a_write_fault_is_the_same_class(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext], fault: str, sender: str
) -> None:
    server_context, client_context = tls_pair
    ref: list[LoopbackServer] = []
    ref.append(LoopbackServer(FAULTS[fault](ref), receive_buffer=BUFFER, tls=server_context))
    try:
        base = f"https://localhost:{ref[0].port}"
        exc = raised_by(TLS_TRANSPORTS[sender](client_context), big_post(base, TIMEOUT_S[fault]))
    finally:
        ref[0].close()
    assert type(exc) is EXPECTED[fault]
    assert not isinstance(exc, UNSENT)
    assert ref[0].connections == 1
