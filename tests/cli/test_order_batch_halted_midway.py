"""`kalshi order batch` whose kill switch lands between two of its batch requests: what was
placed before it is reported (and recorded), nothing after it is sent or left pending, and the
command exits HALTED."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.trading_state import TradingState
from tests.cli.test_order_batch import batch_requests, creates, intents, ladder
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path

BATCH_PATH = "/portfolio/events/orders/batched"


class HaltAfterFirstBatch(httpx.BaseTransport):
    """The real simulator; once the first batch is answered, HALTED is written to the state
    file through a connection of its own, as `kalshi cancel-all` in another terminal writes
    it, before the command sees that answer."""

    def __init__(self, state: Path) -> None:
        self._inner = httpx.HTTPTransport()
        self._state = state
        self.halted = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not self.halted and request.method == "POST" and request.url.path.endswith(BATCH_PATH):
            with Store.open(self._state) as other:
                other.trading.set_trading_state(
                    TradingState.HALTED, reason="test", source="cancel-all"
                )
            self.halted = True
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_halt_between_two_batches_reports_what_was_placed_and_sends_no_more(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    tickers = make_markets(prime, 3)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 20))
    transport = HaltAfterFirstBatch(state_path(tmp_path))
    account = prime.account
    key, _ = load_private_key(path=account.private_key_path)

    def client() -> KalshiClient:
        # the basic tier: nine orders a batch, so 20 rows are three requests
        return KalshiClient(
            api_base=account.api_base,
            key_id=account.key_id,
            private_key=key,
            tier="basic",
            transport=transport,
        )

    result = kalshi("order", "batch", "--file", str(path), "--json", client=client)
    assert transport.halted
    assert result.exit_code == ExitCode.HALTED, result.output
    rows = json.loads(result.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting"] * 9 + ["not_sent"] * 11, rows
    assert all("HALTED" in r["note"] for r in rows[9:]), rows
    assert len({r["client_order_id"] for r in rows} - {None}) == 20, "each row names its id"
    assert (creates(prime), batch_requests(prime)) == (9, 1)
    # the first batch's orders are recorded as placed; no row is left pending, unsent
    assert intents(tmp_path) == ["resting"] * 9
