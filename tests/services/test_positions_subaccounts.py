"""`kalshi positions --subaccount N` lists the markets held on subaccount N only.

The exchange's `/portfolio/positions` answers for one subaccount (0 unless named) while
`/portfolio/fills` lists every subaccount's fills unless one is named (openapi.yaml 3.31.0), and
the state file keeps one history per account: the replay must not make a market held on another
subaccount look open here."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, funded_subaccount, make_markets, state_path


def test_a_market_traded_only_on_another_subaccount_is_not_listed(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    ticker, other_market = make_markets(prime, 2)
    number = funded_subaccount(client)
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(10)))
    client.subaccount = number
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(10)))

    def rows(*args: str) -> list[dict[str, Any]]:
        result = kalshi("positions", *args, "--json")
        assert result.exit_code == 0, result.output
        positions: list[dict[str, Any]] = json.loads(result.stdout)["positions"]
        return positions

    # the state file is made and brought up to date: every subaccount's fills
    assert kalshi("reconcile").exit_code == 0
    held = rows("--subaccount", str(number))
    assert [(r["ticker"], r["side"], r["contracts"]) for r in held] == [(ticker, "yes", "10.00")]
    # subaccount 0 (named, and the default) never traded: nothing listed, nothing flagged
    assert rows("--subaccount", "0") == []
    assert rows() == []
    # a market the state file holds and no subaccount does is still a flagged row
    with Store.open(state_path(tmp_path)) as store:
        store.fills.record_fill(
            FillRecord(
                "f-x", "o-x", None, other_market, BookSide.BID, D("0.30"), D(2), D(0), True, 1.0
            )
        )
    (stray,) = rows("--subaccount", "0")
    assert (stray["ticker"], stray["contracts"]) == (other_market, "0.00")
    assert [d["what"] for d in stray["differences"]] == ["position"]


def test_exposure_of_subaccount_0_counts_its_own_resting_orders_only(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path, ticker: str
) -> None:
    """`GET /portfolio/orders` without `subaccount` lists every subaccount's orders while
    `GET /portfolio/positions` answers for subaccount 0 (openapi.yaml 3.31.0): `kalshi
    positions` without `--subaccount` shows subaccount 0, and its exposure (position plus
    resting orders, against the limit) must be 0's own, not 0's position plus 1's bids."""
    number = funded_subaccount(client)
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(4)))
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(4)))  # 4 held on 0
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.20"), D(3)))  # 3 resting on 0
    client.subaccount = number
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.25"), D(9)))  # 9 resting on 1
    client.subaccount = None
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.yaml").write_text("limits:\n  max_position_per_market: 10\n")

    def row(*args: str) -> dict[str, Any]:
        result = kalshi("positions", *args, "--json")
        assert result.exit_code == 0, result.output
        (only,) = json.loads(result.stdout)["positions"]
        assert isinstance(only, dict)
        return only

    for args in ((), ("--subaccount", "0")):
        zero = row(*args)
        assert (zero["ticker"], zero["contracts"]) == (ticker, "4.00"), args
        # 4 held + 3 resting on 0, under the limit of 10; with 1's bid of 9 it would be 16, over
        assert (zero["exposure"], zero["limit"], zero["over_limit"]) == ("7.00", "10.00", False)
    # subaccount 1 holds nothing: no row, whatever bids rest there
    result = kalshi("positions", "--subaccount", str(number), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["positions"] == []
