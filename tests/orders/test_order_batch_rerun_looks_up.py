"""`kalshi order batch` run again over rows an earlier run recorded without learning what became
of them (its answer lost, or the run killed mid-request): the rerun never sends them again, but
it looks each up by its id, so it neither calls an order resting on the exchange merely
"skipped" (leaving the state file saying `unknown`) nor exits 0 over an order that may not
exist."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness

from .conftest import Kalshi, make_markets, state_path
from .test_order_batch import batch_requests, creates, intents, ladder


def _unknown_ids(tmp_path: Path) -> list[str]:
    with Store.open(state_path(tmp_path)) as store:
        return [i.client_order_id for i in store.orders.intents(status=["unknown"])]


def test_a_rerun_finds_the_orders_whose_answer_was_lost_and_records_them(
    prime: SimHarness, kalshi: Kalshi, client: KalshiClient, tmp_path: Path
) -> None:
    """The first run's batch is held in the network past the client's deadline: exit 10, both
    rows unknown. The batch lands. The rerun sends nothing and reports both resting, as the
    state file now records them."""
    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    prime.set_faults(hold_request_s=2.0)
    first = kalshi("order", "batch", "--file", str(path), "--json", KALSHI_TIMEOUT="0.3")
    assert first.exit_code == ExitCode.OUTCOME_UNKNOWN, first.output
    lost = _unknown_ids(tmp_path)
    assert len(lost) == 2
    deadline = time.monotonic() + 20
    while creates(prime) < 2:
        assert time.monotonic() < deadline, "the held batch never landed"
        time.sleep(0.05)

    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert again.exit_code == 0, again.output
    rows = json.loads(again.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["resting", "resting"], rows
    assert all(r["order_id"] for r in rows), rows
    assert intents(tmp_path) == ["resting", "resting"]
    assert (creates(prime), batch_requests(prime)) == (2, 1)  # never sent again


class GatewayFailsBatches(httpx.BaseTransport):
    """The real simulator behind a gateway that answers every batch create 502 without passing
    it on (so none of its orders exists); every other request goes through."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/orders/batched"):
            return httpx.Response(502, json={"code": "bad_gateway", "message": "bad gateway"})
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_rerun_over_rows_not_found_on_the_exchange_says_their_outcome_is_unknown(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """The first run's batch meets a 502: exit 10, rows unknown (none of them exists). The
    rerun, the exchange well again, does not find them: it sends nothing and still exits 10,
    never 0 as if every row were placed."""
    tickers = make_markets(prime, 2)
    path = tmp_path / "orders.csv"
    path.write_text(ladder(tickers, 2))
    account = prime.account
    key, _ = load_private_key(path=account.private_key_path)

    def failing() -> KalshiClient:
        return KalshiClient(
            api_base=account.api_base,
            key_id=account.key_id,
            private_key=key,
            tier="prime",
            transport=GatewayFailsBatches(),
        )

    first = kalshi("order", "batch", "--file", str(path), "--json", client=failing)
    assert first.exit_code == ExitCode.OUTCOME_UNKNOWN, first.output

    again = kalshi("order", "batch", "--file", str(path), "--json")
    assert again.exit_code == ExitCode.OUTCOME_UNKNOWN, again.output
    rows = json.loads(again.stdout)["batch"]["rows"]
    assert [r["status"] for r in rows] == ["unknown", "unknown"], rows
    assert "reconcile" in rows[0]["note"], rows
    assert (creates(prime), batch_requests(prime)) == (0, 0)
    assert intents(tmp_path) == ["unknown", "unknown"]
