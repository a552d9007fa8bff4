"""What every request of KalshiClient carries and where it goes, however it is handed to httpx.

The client sends a request straight to its transport when no proxy is configured
(httpx.Client.send's middleware is ~90 us of a signed round trip, docs/benchmarks.md); these
tests pin what that path must keep from httpx.Client: the timeouts, the default headers, no
redirect followed, cookies, a proxy from the environment, a closed client sending nothing.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.vocabulary.errors import KalshiError, TransportError
from kalshi_cli.vocabulary.keys import HEADER_SIGNATURE, generate_private_key

BASE = "http://exchange.test/trade-api/v2"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _market(ticker: str) -> dict[str, Any]:
    return {"market": {"ticker": ticker, "event_ticker": "KXE", "status": "active"}}


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _client(handler: Any, **kwargs: Any) -> KalshiClient:
    return KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=generate_private_key(),
        transport=httpx.MockTransport(handler),
        max_attempts=1,
        **kwargs,
    )


@pytest.mark.usefixtures("no_proxy")
def test_every_request_carries_the_clients_timeouts_and_headers() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_market("KXA"))

    with _client(answer, timeout=2.5, user_agent="kalshi-cli/test") as client:
        client.markets.get_market("KXA")
    (request,) = seen
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert request.headers["user-agent"] == "kalshi-cli/test"
    assert request.headers["accept"] == "application/json"
    assert "gzip" in request.headers["accept-encoding"]
    assert request.headers["host"] == "exchange.test"
    assert HEADER_SIGNATURE in request.headers


@pytest.mark.usefixtures("no_proxy")
def test_an_unsigned_request_carries_no_signature() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"Date": "Sun, 22 Nov 2026 21:00:00 GMT"})

    with _client(answer) as client:
        client.exchange.clock_skew_seconds()
    (request,) = seen
    assert HEADER_SIGNATURE not in request.headers


@pytest.mark.usefixtures("no_proxy")
def test_a_redirect_is_never_followed() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"Location": "http://elsewhere.test/markets/KXA"})

    with _client(answer) as client, pytest.raises(KalshiError, match="HTTP 307"):
        client.markets.get_market("KXA")
    assert [str(r.url) for r in seen] == [f"{BASE}/markets/KXA"]


@pytest.mark.usefixtures("no_proxy")
def test_a_closed_client_sends_nothing() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_market("KXA"))

    client = _client(answer)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.markets.get_market("KXA")
    assert seen == []


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself and records what it was asked."""

    asked: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.asked.append((self.path, self.headers.get(HEADER_SIGNATURE)))
        ticker = self.path.rsplit("/", 1)[-1]
        body = json.dumps(_market(ticker)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.asked = []
    with ThreadingHTTPServer(("127.0.0.1", 0), _Proxy) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join()


@pytest.mark.usefixtures("no_proxy")
def test_a_proxy_from_the_environment_carries_the_requests(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # exchange.test resolves nowhere: the answer can only have come through the proxy
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with KalshiClient(api_base=BASE, key_id="key-1", private_key=generate_private_key()) as client:
        assert client.markets.get_market("KXP").ticker == "KXP"
    ((target, signature),) = _Proxy.asked
    assert target == f"{BASE}/markets/KXP"
    assert signature


@pytest.mark.usefixtures("no_proxy")
def test_the_real_transport_keeps_the_read_timeout() -> None:
    # a server that accepts the connection and never answers: only the read timeout, carried
    # to the transport as httpx.Client would carry it, ends the call
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with KalshiClient(
            api_base=f"http://127.0.0.1:{port}/trade-api/v2",
            key_id="key-1",
            private_key=generate_private_key(),
            timeout=0.2,
            max_attempts=1,
        ) as client:
            with pytest.raises(TransportError, match=r"no response within 0\.2s"):
                client.markets.get_market("KXA")
            accepted, _ = server.accept()
            accepted.close()


@pytest.mark.usefixtures("no_proxy")
def test_a_response_carries_its_elapsed_time_as_from_httpx_client(proxy: str) -> None:
    # the fixture's server answers any GET itself: here it is the exchange, not a proxy
    api_base = f"{proxy}/trade-api/v2"
    with KalshiClient(
        api_base=api_base, key_id="key-1", private_key=generate_private_key()
    ) as client:
        response = client.connection.request("GET", "/markets/KXE")
    assert response.elapsed.total_seconds() >= 0


@pytest.mark.usefixtures("no_proxy")
def test_a_failure_names_its_request_as_from_httpx_client() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with _client(refuse) as client, pytest.raises(TransportError) as caught:
        client.markets.get_market("KXA")
    cause = caught.value.__cause__
    assert isinstance(cause, httpx.RequestError)
    assert cause.request.url == httpx.URL(f"{BASE}/markets/KXA")


@pytest.mark.usefixtures("no_proxy")
def test_each_request_carries_what_httpx_client_would_send() -> None:
    """The client builds its requests itself (a body-less GET or DELETE from headers made
    once); each must reach the transport as `httpx.Client` would have built it with the
    client's settings: the same headers in the same order (a PUT or POST without a body keeps
    its `Content-Length: 0`), the same URL, the same body, already readable as `content`. Only
    the signature is the client's own."""
    seen: list[tuple[httpx.Request, bytes]] = []

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append((request, request.content))  # before anything reads the body
            return httpx.Response(200, json={"order_group_id": "g", "order_id": "o"})

    calls: list[tuple[str, str, dict[str, Any] | None, Any]] = [
        ("GET", "/markets/KXA/orderbook", {"depth": 3}, None),
        ("GET", "/markets/KX%20A", None, None),
        ("DELETE", "/portfolio/order_groups/g", {"subaccount": 2}, None),
        ("PUT", "/portfolio/order_groups/g/trigger", None, None),
        ("POST", "/portfolio/order_groups/create", None, {"contracts_limit_fp": "5.00"}),
    ]
    client = KalshiClient(
        api_base=BASE,
        key_id="key-1",
        private_key=generate_private_key(),
        transport=Recording(),
        user_agent="kalshi-cli/test",
    )
    with client:
        for method, path, params, body in calls:
            client.connection.request(method, path, params=params, json=body)
    reference = httpx.Client(
        headers={"User-Agent": "kalshi-cli/test", "Accept": "application/json"}
    )
    with reference:
        for (method, path, params, body), (sent, content) in zip(calls, seen, strict=True):
            expected = reference.build_request(method, BASE + path, params=params, json=body)
            unsigned = [
                (name, value)
                for name, value in sent.headers.raw
                if not name.lower().startswith(b"kalshi-access-")
            ]
            assert unsigned == expected.headers.raw, (method, path)
            assert sent.headers[HEADER_SIGNATURE]
            assert sent.url == expected.url
            assert content == expected.content
