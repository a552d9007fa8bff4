"""A create answered with a redirect (HTTP 307): whatever answers at `api_base` acted on nothing
and sends requests elsewhere; the client never follows a signed order to another host. The order
is recorded rejected with the redirect named, and `kalshi order place` exits 3 (the config
points at the wrong place) with one line that says so; before, exit 1."""

from __future__ import annotations

from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.prime_tier import TIER, Kalshi, make_markets, state_path


class Redirecting(httpx.BaseTransport):
    """The real simulator, except that an order create is answered 307 and never passed on."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.creates = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/portfolio/events/orders"):
            self.creates += 1
            return httpx.Response(307, headers={"location": "https://elsewhere.example/orders"})
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_create_answered_with_a_redirect_is_a_config_error_and_placed_nothing(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    account = prime.account
    key, _ = load_private_key(path=account.private_key_path)
    transport = Redirecting()

    def client() -> KalshiClient:
        return KalshiClient(
            api_base=account.api_base,
            key_id=account.key_id,
            private_key=key,
            tier=TIER,
            transport=transport,
        )

    placed = kalshi(
        "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "1",
        "--price", "0.10", "--yes", client=client,
    )  # fmt: skip
    assert placed.exit_code == ExitCode.CONFIG, placed.output
    assert "HTTP 307" in placed.stderr and "elsewhere.example" in placed.stderr
    assert "api_base" in placed.stderr and "a bug" not in placed.stderr
    assert transport.creates == 1  # sent once, never followed or resent
    assert prime.stats()["order_create_requests"] == 0
    with Store.open(state_path(tmp_path)) as store:
        [intent] = store.orders.intents()
    assert intent.status == "rejected" and "307" in (intent.error or "")
