"""Answers httpx's transport (h11) refused as RemoteProtocolError, which the client's own
transport once let through as something else (review rev8c, session 8): a Content-Length past
Python's int digits escaped as ValueError (an order's outcome then neither unknown nor looked
up), a 101 without a proposed upgrade came back as an answer (an order sent was recorded as
refused), a status below 100 was skipped like a 1xx. And a NO_PROXY list alone turned the
transport off."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from kalshi_cli.client.http11 import Http11Transport
from kalshi_cli.errors import OrderOutcomeUnknown
from tests.client.test_http11 import (  # noqa: F401 - fixtures
    Handler,
    RawServer,
    direct,
    get,
    new_order,
    order_client,
    serve,
    transport,
)

HUGE_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1" * 5000 + b"\r\n\r\n{}"
LONG_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: " + b"0" * 20 + b"2\r\n\r\n{}"
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
BELOW_100 = b"HTTP/1.1 099 Odd\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


def one_reply(start: Callable[[Handler], RawServer], reply: bytes) -> RawServer:
    def handler(conn: socket.socket, n: int) -> None:
        server.serve(conn, reply)

    server = start(handler)
    return server


@pytest.mark.parametrize(
    "reply",
    [HUGE_LENGTH, LONG_LENGTH, SWITCHING, BELOW_100],
    ids=["huge-length", "21-digit-length", "101", "status-099"],
)
def test_an_answer_h11_refuses_is_a_remote_protocol_error(
    serve: Callable[[Handler], RawServer],  # noqa: F811 - the fixture
    transport: Http11Transport,  # noqa: F811 - the fixture
    reply: bytes,
) -> None:
    server = one_reply(serve, reply)
    with pytest.raises(httpx.RemoteProtocolError):
        get(transport, server.base + "/x")


@pytest.mark.usefixtures("direct")
@pytest.mark.parametrize("reply", [HUGE_LENGTH, SWITCHING], ids=["huge-length", "101"])
def test_an_order_answered_with_a_malformed_answer_is_unknown(
    serve: Callable[[Handler], RawServer],  # noqa: F811 - the fixture
    reply: bytes,
) -> None:
    """The order was sent: whatever came back that is not a readable answer, its outcome is
    unknown (looked up, never re-sent, never recorded as refused)."""
    server = one_reply(serve, reply)
    with order_client(server.base) as client, pytest.raises(OrderOutcomeUnknown):
        client.create_order(new_order())
    assert len(server.requests) == 1


def test_a_no_proxy_list_alone_configures_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_PROXY names hosts to reach directly; with no proxy set nothing goes through one, so
    the client's own transport is used (getproxies() reports no_proxy as {"no": ...})."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    from kalshi_cli.client import KalshiClient

    with KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2") as client:
        assert isinstance(client._direct, Http11Transport)
