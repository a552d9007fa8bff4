"""A long account history across the historical cutoff: `kalshi reconcile`, `pnl` and `fills`
read both tiers, so the answer does not change when the cutoff moves over the account's fills,
and nothing is counted twice at the boundary.

The simulator runs on a `ManualClock` (with a signature window wide enough for the client's own
clock), so the account's fills can lie hours apart and the cutoff can be put between them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.historical import fills_with_history
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.pnl import summarize
from kalshi_cli.services.positions import mark_to_market
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import cli_env, connect, prime_simulator

HOUR = 3600
A, B, C = "KXHP-26JAN01-A", "KXHP-26JAN02-B", "KXHP-26JAN03-C"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def sim(tmp_path: Path, clock: ManualClock) -> Iterator[SimHarness]:
    # a wide signature window: the client signs with the real clock
    yield from prime_simulator(tmp_path, clock=clock, auth_window_s=30 * 24 * HOUR)


def set_lag(sim: SimHarness, seconds: int) -> None:
    sim.http.put(sim.admin_url + "/historical", json={"lag_seconds": seconds}).raise_for_status()


def trade(service: OrderService, ticker: str, order: str) -> None:
    """`order` in the trader's words: "buy 6 yes @ 0.40"."""
    action, count, side, _, price = order.split()
    request = OrderRequest(ticker, Side(side), Action(action), D(count), D(price), strategy="hist")
    service.place(service.prepare(request))


def rest(other: KalshiClient, ticker: str, book_side: BookSide, price: str, count: int) -> None:
    other.orders.create_order(CreateOrder(ticker, book_side, D(price), D(count)))


@pytest.fixture
def history(sim: SimHarness, clock: ManualClock, tmp_path: Path) -> SimHarness:
    """Three markets of three events traded two hours apart: A (settled yes) at t0, B (settled
    no) at t0 + 2 h, C (still open) at t0 + 4 h; the trades of A and B are reconciled into a
    state file of their own by the time C is traded."""
    for t in (A, B, C):
        sim.create_market(t, series_ticker="KXHP")
    with (
        connect(sim.account) as client,
        connect(sim.new_account(balance_cents=1_000_000)) as other,
        Store.open(tmp_path / "placer.db") as store,
    ):
        service = OrderService(client, store)
        rest(other, A, BookSide.ASK, "0.40", 6)
        trade(service, A, "buy 6 yes @ 0.40")
        rest(other, A, BookSide.BID, "0.55", 2)
        trade(service, A, "sell 2 yes @ 0.55")
        clock.advance(60)  # settled a minute after the last trade
        sim.settle(A, "yes")
        clock.advance(2 * HOUR)
        rest(other, B, BookSide.BID, "0.70", 5)
        trade(service, B, "buy 5 no @ 0.30")
        clock.advance(60)
        sim.settle(B, "no")
        clock.advance(2 * HOUR)
        rest(other, C, BookSide.ASK, "0.61", 3)
        trade(service, C, "buy 3 yes @ 0.61")
        rest(other, C, BookSide.BID, "0.58", 4)  # a book to mark C's position at
    return sim


Kalshi = Callable[..., Result]


def kalshi_in(sim: SimHarness, home: Path) -> Kalshi:
    def invoke(*args: str) -> Result:
        context = AppContext(environ=cli_env(sim.account, home))
        result = CliRunner().invoke(
            app, list(args), obj=context, env={"COLUMNS": "120", "NO_COLOR": "1"}
        )
        assert result.exit_code == 0, result.output
        return result

    return invoke


def pnl_of_a_fresh_state_file(sim: SimHarness, home: Path) -> dict[str, Any]:
    kalshi = kalshi_in(sim, home)
    kalshi("reconcile", "--json")
    document: dict[str, Any] = json.loads(kalshi("pnl", "--json").stdout)
    return document


def fill_ids(sim: SimHarness, home: Path) -> list[str]:
    listed = json.loads(kalshi_in(sim, home)("fills", "--limit", "50", "--json").stdout)
    return [f["fill_id"] for f in listed["fills"]]


def test_pnl_is_the_same_before_and_after_the_cutoff_moves_over_the_fills(
    history: SimHarness, tmp_path: Path
) -> None:
    before = pnl_of_a_fresh_state_file(history, tmp_path / "before")
    assert before["cross_checked"] and before["differences"] == []
    assert {r["market"] for r in before["rows"]} == {A, B, C}
    all_fills = fill_ids(history, tmp_path / "before")
    assert len(all_fills) == 4

    set_lag(history, 3 * HOUR)  # the cutoff falls between A's fills and B's
    with connect(history.account) as client:
        live = [f.fill_id for f in client.portfolio.iter_fills()]
        archived = [f.fill_id for f in client.historical.iter_historical_fills()]
    assert len(live) == 2 and len(archived) == 2  # the fills straddle the cutoff
    straddling = pnl_of_a_fresh_state_file(history, tmp_path / "straddling")
    assert straddling == before
    assert fill_ids(history, tmp_path / "straddling") == all_fills

    # the first state file, reconciled again: the fills it has, now archived, are not added
    # a second time
    again = pnl_of_a_fresh_state_file(history, tmp_path / "before")
    assert again == before

    set_lag(history, 0)  # everything is older than the cutoff; C's position stays live
    archived_all = pnl_of_a_fresh_state_file(history, tmp_path / "archived")
    assert archived_all == before
    assert fill_ids(history, tmp_path / "archived") == all_fills


def test_reading_both_tiers_never_counts_a_fill_twice(history: SimHarness) -> None:
    """The cutoff can move between the live read and the historical one: a fill listed by both
    is given once."""
    set_lag(history, 3 * HOUR)

    class MovingCutoff:
        """The live listing as it was before the cutoff moved, the historical one after."""

        def __init__(self, client: KalshiClient, before: list[Any]) -> None:
            self.client, self.before = client, before

        def iter_fills(self, **_: Any) -> Iterator[Any]:
            return iter(self.before)

        def get_historical_cutoff(self) -> Any:
            return self.client.historical.get_historical_cutoff()

        def iter_historical_fills(self, **kwargs: Any) -> Iterator[Any]:
            return self.client.historical.iter_historical_fills(**kwargs)

    with connect(history.account) as client:
        live_then = list(client.portfolio.iter_fills())
        set_lag(history, 0)
        moving = MovingCutoff(client, live_then)
        merged = list(fills_with_history(moving, moving))
    ids = [f.fill_id for f in merged]
    assert len(ids) == len(set(ids)) == 4
    stamps = [f.ts for f in merged]
    assert None not in stamps
    assert stamps == sorted((ts for ts in stamps if ts is not None), reverse=True)


def test_a_limited_listing_stops_at_the_limit_and_asks_the_historical_tier_only_when_needed(
    history: SimHarness,
) -> None:
    set_lag(history, 3 * HOUR)
    before = archive_reads(history)  # the orders placed, each after a catch-up of the fills
    with connect(history.account) as client:
        assert len(list(fills_with_history(client.portfolio, client.historical, limit=1))) == 1
        assert len(list(fills_with_history(client.portfolio, client.historical, limit=3))) == 3
        newest = max(f.ts or 0 for f in client.portfolio.iter_fills())
        recent = list(fills_with_history(client.portfolio, client.historical, min_ts=newest))
    assert [f.ticker for f in recent] == [C]
    # limit 1 is answered by the live tier alone, and min_ts after the cutoff too: only the
    # listing that ran out of live fills before its limit read the archive
    assert archive_reads(history) == before + 1


def archive_reads(sim: SimHarness) -> int:
    """How many times the account's fills were read from the historical tier so far."""
    requests = sim.stats()["accounts"][sim.account.key_id]["requests"]
    count: int = requests.get("GET /historical/fills", 0)
    return count


def test_settled_markets_handed_over_to_the_historical_tier_are_still_cross_checked(
    history: SimHarness, tmp_path: Path
) -> None:
    """`pnl` compares a settled market's realized P&L and fees with the exchange's figures; once
    the market's event handed its positions over to `/historical/positions`, that is where they
    are read, so a fill lost from the state file is still seen."""
    kalshi_in(history, tmp_path / "home")("reconcile", "--json")
    set_lag(history, 0)
    # the state file `kalshi reconcile` wrote: keyed by the endpoint and account
    (state,) = (tmp_path / "home" / "state").rglob("state.db")
    with Store.open(state) as store:
        sparse = summarize(
            (
                f
                for f in store.fills.iter_fills()
                if not (f.ticker == A and f.book_side is BookSide.ASK)
            ),
            store.settlements.read(),
        )
        with connect(history.account) as client:
            assert {p.ticker for p in client.portfolio.get_positions(include_flat=True)} == {C}
            view = mark_to_market(client, store, engine=sparse.engine, include_flat=True)
    assert {d.what for d in view.differences if d.ticker == A} >= {"realized_gross", "fees"}
    assert not [d for d in view.differences if d.ticker != A]
