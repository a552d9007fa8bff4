"""The kill switch on the simulator's exchange shards: resting orders on three shards (0, 2 and 3),
and `kalshi cancel-all` leaves none on any, with the exchange's own cancel-all and order by order
(a filter), each cancel routed by its `market_ticker` (an `order_id` alone routes to shard 0,
where a shard-2 order is a 404), and `kalshi order cancel` and `decrease` alike. `kalshi order
list` and `kalshi status` show the orders of every shard before (a listing without
`exchange_index` covers every shard)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.killswitch.cancel import CANCEL_ALL_SHARE
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.checks.test_check_cli import account_env
from tests.conftest import SimHarness
from tests.prime_tier import kalshi_as
from tests.runner.simproc import client_for

MARKETS = {0: "KXZERO-26JAN01-A", 2: "KXBTC-26JAN01-A", 3: "KXTEN-26JAN01-A"}


def _kalshi(account: AccountInfo, home: Path, *args: str) -> Result:
    env = {"KALSHI_HOME": str(home), **account_env(account)}
    return CliRunner().invoke(
        app, list(args), obj=AppContext(environ=env), env={"NO_COLOR": "1"}, prog_name="kalshi"
    )


def _json(account: AccountInfo, home: Path, *args: str) -> Any:
    result = _kalshi(account, home, *args, "--json")
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


@pytest.fixture
def trader(sim: SimHarness, tmp_path: Path) -> AccountInfo:
    """An account with two resting bids on each of three shards, each shard funded."""
    for shard, ticker in MARKETS.items():
        sim.create_market(ticker, exchange_index=shard)
    account = sim.new_account(balance_cents=300_000)
    for shard in (2, 3):
        moved = _json(account, tmp_path, "shard", "move", "1000", "--from", "0", "--to", str(shard))
        assert moved["status"] == "complete"
    client = client_for(account)
    for ticker in MARKETS.values():
        for price in ("0.10", "0.11"):
            client.orders.create_order(
                CreateOrder(
                    ticker=ticker,
                    book_side=BookSide.BID,
                    price=Decimal(price),
                    count=Decimal("1"),
                    time_in_force=TimeInForce.GTC,
                )
            )
    return account


def _resting_by_market(account: AccountInfo, home: Path) -> dict[str, int]:
    listed = _json(account, home, "order", "list", "--status", "resting")
    orders = listed["orders"] if isinstance(listed, dict) else listed
    counts: dict[str, int] = {}
    for order in orders:
        counts[order["ticker"]] = counts.get(order["ticker"], 0) + 1
    return counts


def test_cancel_all_leaves_no_order_on_any_shard(trader: AccountInfo, tmp_path: Path) -> None:
    assert _resting_by_market(trader, tmp_path) == {t: 2 for t in MARKETS.values()}
    result = _kalshi(trader, tmp_path, "cancel-all")
    assert result.exit_code == 0, result.output
    assert _resting_by_market(trader, tmp_path) == {}


@pytest.mark.parametrize("shard", [2, 3])
def test_cancel_all_of_one_market_routes_each_cancel_to_its_shard(
    trader: AccountInfo, tmp_path: Path, shard: int
) -> None:
    ticker = MARKETS[shard]
    result = _kalshi(trader, tmp_path, "cancel-all", "--ticker", ticker)
    assert result.exit_code == 0, result.output
    left = _resting_by_market(trader, tmp_path)
    assert ticker not in left
    assert left == {t: 2 for t in MARKETS.values() if t != ticker}


def test_order_cancel_of_an_order_placed_elsewhere_reaches_its_shard(
    trader: AccountInfo, tmp_path: Path
) -> None:
    """An order the state file does not hold (placed by another program) is cancelled on its
    market's shard: its id alone would route the cancel to shard 0, where it is not found."""
    listed = _json(trader, tmp_path, "order", "list", "--status", "resting", "--ticker", MARKETS[2])
    orders = listed["orders"] if isinstance(listed, dict) else listed
    order_id = orders[0]["order_id"]
    result = _kalshi(trader, tmp_path, "order", "cancel", order_id)
    assert result.exit_code == 0, result.output
    assert _resting_by_market(trader, tmp_path)[MARKETS[2]] == 1


def test_reconcile_status_and_check_orders_see_every_shard(
    trader: AccountInfo, tmp_path: Path
) -> None:
    """A listing without `exchange_index` covers every shard: `kalshi reconcile` imports the
    orders of all three into the state file, `kalshi status` counts them, and `kalshi check
    orders` counts them resting."""
    result = _kalshi(trader, tmp_path, "reconcile")
    assert result.exit_code == 0, result.output
    assert _json(trader, tmp_path, "status")["open_orders"] == 2 * len(MARKETS)
    checked = _kalshi(trader, tmp_path, "check", "orders", "--json")
    perf = {p["label"]: p["value"] for p in json.loads(checked.stdout)["perfdata"]}
    assert perf["resting"] == 2 * len(MARKETS), checked.output


@pytest.mark.parametrize("shard", [2, 3])
def test_order_decrease_reaches_its_orders_shard(
    trader: AccountInfo, tmp_path: Path, shard: int
) -> None:
    """A decrease names its order's market (`market_ticker`), which routes it to the market's
    shard: its id alone routes it to shard 0, where the order is not found (openapi.yaml's
    DecreaseOrderV2Request: "If omitted, auto-routes when market_ticker is provided; otherwise
    defaults to 0")."""
    ticker = MARKETS[shard]
    listed = _json(trader, tmp_path, "order", "list", "--status", "resting", "--ticker", ticker)
    orders = listed["orders"] if isinstance(listed, dict) else listed
    order_id = orders[0]["order_id"]
    result = _kalshi(trader, tmp_path, "order", "decrease", order_id, "--to", "0")
    assert result.exit_code == 0, result.output
    assert _resting_by_market(trader, tmp_path)[ticker] == 1


class CancelAllAnswers500(httpx.BaseTransport):
    """The simulator over loopback, but the exchange's cancel-all (one request for every shard)
    is answered 500 each time, as a shard's engine that fails it would make it."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and request.url.path.endswith("/portfolio/events/orders"):
            self.refused += 1
            body = {"error": {"code": "internal_error", "message": "shard 2 timed out"}}
            return httpx.Response(500, json=body)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_cancel_all_failing_on_the_exchange_still_leaves_no_order_on_any_shard(
    trader: AccountInfo, tmp_path: Path
) -> None:
    """The exchange's cancel-all answered 500 again and again: after its share of the deadline
    the kill switch cancels order by order, each on its market's shard, proves it and exits 0.
    It retried the cancel-all to the deadline and exited 11 with every order resting."""
    failing = CancelAllAnswers500()
    kalshi = kalshi_as(trader, tmp_path / "kill", tier=None, transport=failing)
    deadline = 8.0
    result = kalshi("cancel-all", "--deadline", str(deadline), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["proven"] is True
    assert document["cancelled_count"] == 2 * len(MARKETS)
    assert failing.refused > 1
    assert f"cancel-all failed for {CANCEL_ALL_SHARE * deadline:g}s" in result.stderr
    assert _resting_by_market(trader, tmp_path) == {}
