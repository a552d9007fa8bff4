"""The read commands' catch-up brings in every subaccount's fills, whichever subaccount the
command reports on.

`kalshi positions` and `kalshi pnl` first copy the fills the exchange lists since the last
catch-up, less CATCH_UP_OVERLAP_S (docs/pnl.md "Read commands catch up first"). The cursor is
one for the state file, so the listing behind it must be every subaccount's: `GET
/portfolio/fills` without `subaccount` ("If omitted, defaults to all subaccounts", openapi.yaml
3.31.0 SubaccountQuery). A command given `--subaccount N` acts on N, and a catch-up through its
client would list N's fills only and still move the cursor, so another subaccount's fill made
longer than the overlap before it would never be caught up.

The simulator runs on a clock 1000 s behind ours (its signature window widened to match), so a
fill it makes is one made 1000 s before the command runs, well past the overlap."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, funded_subaccount, prime_simulator
from tests.services.test_subaccount_books import bought_on_0_and_sold_on_1

AGO_S = 1000.0


class _Behind(SystemClock):
    """The system clock, `ago_s` behind on the wall."""

    def __init__(self, ago_s: float) -> None:
        self._ago_s = ago_s

    def wall(self) -> float:
        return time.time() - self._ago_s


@pytest.fixture
def prime(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SimHarness]:
    """The `prime` simulator (tests/prime_tier.py), with the exchange's clock AGO_S behind the
    commands' (a test's indirect parameter: another lag)."""
    ago_s = getattr(request, "param", AGO_S)
    yield from prime_simulator(tmp_path, clock=_Behind(ago_s), auth_window_s=2 * AGO_S)


def _json(kalshi: Kalshi, *args: str) -> dict[str, Any]:
    result = kalshi(*args, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_a_report_on_one_subaccount_leaves_no_other_subaccounts_fill_behind(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, ticker: str
) -> None:
    assert funded_subaccount(client) == 1
    assert kalshi("reconcile").exit_code == 0  # the state file, before any trade
    with connect(prime.new_account(balance_cents=100_000)) as other:
        bought_on_0_and_sold_on_1(client, other, ticker)
    # the first read reports on subaccount 1 only
    one = _json(kalshi, "pnl", "--subaccount", "1")
    assert one["differences"] == []
    assert one["by_market"][ticker]["fills"] == 1
    # then subaccount 0's positions and the account's P&L: subaccount 0's fill is there
    (zero,) = _json(kalshi, "positions")["positions"]
    assert (zero["contracts"], zero["average_entry"]) == ("10.00", "0.4000")
    assert zero["differences"] == []
    whole = _json(kalshi, "pnl")
    assert whole["differences"] == []
    assert whole["by_market"][ticker]["fills"] == 2
    assert _json(kalshi, "pnl", "--subaccount", "0")["by_market"][ticker]["fills"] == 1


@pytest.mark.parametrize("prime", [0.0], indirect=True)  # an exchange in step with our clock
def test_orders_placed_here_on_two_subaccounts_show_in_every_report_without_a_reconcile(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, ticker: str
) -> None:
    """A user who trades with `kalshi order place` (which makes the state file) on subaccounts
    0 and 1, has both orders filled later, and then runs the read commands sees every fill,
    whichever subaccount the first of them reports on. (With no state file at all, a read
    command makes none and catches nothing up: docs/pnl.md "No state file".) `order place`
    catches up too (the daily circuit breaker counts the day's fills), so the fills made after
    it are the exchange's of now, not of AGO_S ago: those are the test above's."""
    assert funded_subaccount(client) == 1
    # subaccount 0 bids 0.40 for YES, subaccount 1 0.40 for NO (a YES ask at 0.60): both rest
    place = ("order", "place", ticker, "--count", "5", "--price", "0.40", "-y")
    assert kalshi(*place, "--side", "yes", "--action", "buy").exit_code == 0
    assert kalshi(*place, "--side", "no", "--action", "buy", "--subaccount", "1").exit_code == 0
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(5)))
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(5)))
    (one,) = _json(kalshi, "positions", "--subaccount", "1")["positions"]
    assert (one["side"], one["contracts"], one["average_entry"]) == ("no", "5.00", "0.4000")
    assert one["differences"] == []
    whole = _json(kalshi, "pnl")
    assert whole["differences"] == []
    assert whole["by_market"][ticker]["fills"] == 2
    zero = _json(kalshi, "pnl", "--subaccount", "0")
    assert zero["differences"] == []
    assert zero["by_market"][ticker]["fills"] == 1
