"""A loop that takes on the markets of its series as they open lets a market go once it has
ended for the loop: settled, with nothing held, resting or on its way there and its settlement
booked. It is then no longer subscribed or visited, and what the records need stays.
docs/trade-loop.md "Markets that open while the loop runs"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kalshi_cli.runner.config import Selection
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for, log_events
from tests.runner.test_orders_placed_while_a_market_joins_sim import _placed, _ticks_until

SERIES = "KXROLL"
FIRST = f"{SERIES}-26JAN01-A"


@contextmanager
def _quoting(sim: SimHarness, tmp_path: Path) -> Iterator[Rig]:
    """A loop asked for the series, quoting its one market; no listing within the test."""
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES),
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting")
        yield r


def test_a_settled_market_with_nothing_there_leaves_a_series_loop(
    sim: SimHarness, tmp_path: Path
) -> None:
    with _quoting(sim, tmp_path) as r:
        sim.settle(FIRST, "yes")
        (removed,) = _ticks_until(r, lambda: r.events("market_removed"), f"{FIRST} let go")
        assert removed["ticker"] == FIRST and removed["why"] == "settled", removed
        assert FIRST not in r.feed.tickers
        schedule = r.loop.turns.schedule
        assert FIRST not in schedule.visited and schedule.next_market(1e18) is None
        # what the records need stays: its market and P&L
        assert FIRST in r.loop.portfolio.markets
        for _ in range(3):
            r.loop.tick(r.feed.drain_messages())
        assert len(r.events("market_removed")) == 1


def test_a_market_settled_with_contracts_held_leaves_only_once_its_settlement_is_booked(
    sim: SimHarness, tmp_path: Path
) -> None:
    with _quoting(sim, tmp_path) as r:
        taker = client_for(sim.new_account(balance_cents=10_000_000))
        try:  # another account sells into the loop's bid: the loop holds YES
            Book(taker, FIRST).order(BookSide.ASK, "0.01", "1", TimeInForce.IOC)
        finally:
            taker.close()
        _ticks_until(r, lambda: r.loop.portfolio.view(FIRST).position, "the loop holding")
        sim.settle(FIRST, "yes")
        _ticks_until(r, lambda: r.events("market_removed"), f"{FIRST} let go")
        said = [e["event"] for e in log_events(r.log) if e.get("ticker") == FIRST]
        said = [e for e in said if e in ("settlement_booked", "market_removed")]
        assert said == ["settlement_booked", "market_removed"], said
        assert r.loop.portfolio.view(FIRST).position == 0
        assert FIRST not in r.feed.tickers and FIRST in r.loop.portfolio.markets
        # the records keep it: its settlement and P&L in the state file, which a reconcile
        # finds whole; the stop has nothing there to do and leaves no set broken
        (booked,) = r.store.settlements.read(ticker=FIRST)
        assert booked.result == "yes"
        assert r.loop.portfolio.pnl.markets[FIRST].settled
        assert r.loop.stop.shutdown(cancel_resting=True).broken_sets == ()
        report = reconcile(r.client, r.store)
        assert report.settlements_added == 0 and report.fills_added == 0, report


def test_a_settled_market_leaving_an_event_loop_keeps_the_events_book_of_the_others(
    sim: SimHarness, tmp_path: Path
) -> None:
    # an event loop with a limit on an event's loss quotes both its markets (its calls on
    # workers); it holds YES in the second, which settles NO and leaves the loop: what it paid
    # is realized, and the event's book of the first is as it was, the second counted nowhere
    event = FIRST.rsplit("-", 1)[0]
    second = f"{event}-B"
    with rig(sim, tmp_path, [FIRST, second], strategy="market-maker", params={},
             selection=Selection(event=event), risk={"max_event_loss": "500"}, send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip

        def book() -> dict[str, Any]:
            (limit,) = r.loop.executor.event_limits("market-maker", FIRST)
            return {leg.ticker: leg for leg in limit.held}

        _ticks_until(r, lambda: _placed(r, FIRST) and _placed(r, second), "the loop quoting")
        taker = client_for(sim.new_account(balance_cents=10_000_000))
        try:  # another account sells into the loop's bid in the second market
            Book(taker, second).order(BookSide.ASK, "0.01", "1", TimeInForce.IOC)
        finally:
            taker.close()
        _ticks_until(r, lambda: r.loop.portfolio.view(second).position, "the loop holding")
        held = book()
        cost = held[second].cost
        assert held[second].yes > 0 and cost > 0, held
        sim.settle(second, "no")
        _ticks_until(r, lambda: r.events("market_removed"), f"{second} let go")
        after = book()
        # the first market's leg as it was; the second's contracts paid and not counted again
        assert after[FIRST] == held[FIRST], (after, held)
        assert second not in after or (after[second].yes, after[second].cost) == (0, 0), after
        pnl = r.loop.portfolio.pnl.markets[second]
        assert pnl.settled and pnl.realized == -cost, pnl
        (booked,) = r.store.settlements.read(ticker=second)
        assert booked.result == "no"
