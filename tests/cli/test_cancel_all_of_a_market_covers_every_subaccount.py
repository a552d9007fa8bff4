"""`kalshi order cancel-all --ticker T` without `--subaccount`, in-process against the
simulator: it covers every subaccount the account has (docs/orders.md), each order cancelled on
its own, whether the state file placed it or another program did, and whether the order names
its subaccount or not (the exchange names it to direct members only)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli.test_order_changes_go_to_the_orders_subaccount import (
    _fund_subaccount_1,
    _the_order,
    _unnamed,
)
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets
from tests.wire import order_body


@pytest.mark.parametrize("names_it", [True, False], ids=["order-names-it", "order-names-none"])
def test_a_markets_cancel_all_cancels_its_orders_on_every_subaccount(
    prime: SimHarness, kalshi: Kalshi, names_it: bool
) -> None:
    """Four of T's orders rest on subaccount 1 (two placed here, two by another program) and
    one on the primary: all five are cancelled and the command says so, and another market's
    order on subaccount 1 rests on. It listed subaccount 0 alone, printed "orders cancelled 1"
    and exited 0 with the four left resting."""
    ticker, other = make_markets(prime, 2)
    run: dict[str, Any] = {} if names_it else {"client": _unnamed(prime)}
    _fund_subaccount_1(kalshi)
    ids = []
    for _ in range(2):
        placed = kalshi(
            "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "2",
            "--price", "0.30", "--subaccount", "1", "--json", **run,
        )  # fmt: skip
        assert placed.exit_code == 0, placed.output
        ids.append(json.loads(placed.stdout)["order"]["order_id"])
    for subaccount in (1, 1, 0):
        body = order_body(ticker, price="0.20", count="3.00", subaccount=subaccount)
        ids.append(str(prime.placed(prime.account, body)["order_id"]))

    elsewhere = str(
        prime.placed(prime.account, order_body(other, price="0.20", subaccount=1))["order_id"]
    )

    done = kalshi("order", "cancel-all", "--ticker", ticker, "--json", **run)

    assert done.exit_code == 0, done.output
    assert sorted(json.loads(done.stdout)["cancelled"]) == sorted(ids)
    assert json.loads(done.stdout)["contracts_cancelled"] == "13.00"
    assert {_the_order(prime, i)["status"] for i in ids} == {"canceled"}
    assert _the_order(prime, elsewhere)["status"] == "resting"
