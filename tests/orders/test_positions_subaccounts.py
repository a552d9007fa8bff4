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

from kalshi_cli.client import CreateOrder, KalshiClient
from kalshi_cli.models import BookSide
from kalshi_cli.store import FillRecord, Store
from tests.conftest import SimHarness

from .conftest import Kalshi, connect, make_markets, state_path


def test_a_market_traded_only_on_another_subaccount_is_not_listed(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path
) -> None:
    ticker, other_market = make_markets(prime, 2)
    number = client.create_subaccount()
    client.transfer_between_subaccounts(from_subaccount=0, to_subaccount=number, amount_cents=5000)
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(10)))
    client.subaccount = number
    client.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(10)))

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
        store.record_fill(
            FillRecord(
                "f-x", "o-x", None, other_market, BookSide.BID, D("0.30"), D(2), D(0), True, 1.0
            )
        )
    (stray,) = rows("--subaccount", "0")
    assert (stray["ticker"], stray["contracts"]) == (other_market, "0.00")
    assert [d["what"] for d in stray["differences"]] == ["position"]
