"""An order placed elsewhere (by hand, on the website) in a market that joins a running loop is in
the loop's books whenever it was placed: before the join's listing (recorded and said as the
start's reconcile records and says it), or between that listing and the join, when no message
of it reaches the loop (its orders are read again once the feed follows them). A state file
that cannot record them refuses the market, and the loop runs on. docs/trade-loop.md "Markets
that open while the loop runs". The loop's calls go on workers, as a service's do; the window
between the listing and the join is driven by a hook on the listing's reads
(`MarketJoin.prepare`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.runner.config import Selection
from kalshi_cli.runner.loop import orders_read_again
from kalshi_cli.runner.loop.new_markets import MarketJoin
from kalshi_cli.store.errors import StateFileUnwritable
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.runner.simproc import Book, client_for
from tests.waiting import wait_until

SERIES = "KXROLL"
# LATER opens in an event of the series other than FIRST's: the loop follows no order of it
# before it joins, so no `user_orders` message of an order placed there before the join comes
FIRST, LATER = f"{SERIES}-26JAN01-A", f"{SERIES}-26JAN02-A"
HAND = ("0.30", "80")  # a buy of YES at $0.30 for 80, rested by hand


def _ticks_until(r: Rig, found: Callable[[], Any], what: str) -> Any:
    def tick() -> Any:
        r.loop.tick(r.feed.drain_messages())
        return found()

    return wait_until(tick, what)


def _placed(r: Rig, ticker: str) -> list[dict[str, object]]:
    return [e for e in r.events("order_placed") if e["ticker"] == ticker]


def _open_later(sim: SimHarness) -> None:
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    try:
        sim.create_market(LATER)
        Book(maker, LATER).quote("0.40", "0.60")
    finally:
        maker.close()


def _hand_order_around_the_listing(
    monkeypatch: pytest.MonkeyPatch, r: Rig, *, after: bool
) -> list[str]:
    """The trader's own order rested by hand in LATER when the loop lists it: just before its
    reads (`after` False), or just after them, before the join is booked on the deciding
    thread (`after` True). The order ids placed, filled in when the listing is made."""
    hand = client_for(r.account) if r.account is not None else None
    assert hand is not None
    placed: list[str] = []
    real = MarketJoin.prepare

    def rest_one() -> None:
        if not placed:
            placed.append(Book(hand, LATER).order(BookSide.BID, *HAND, TimeInForce.GTC))

    def prepare(self: MarketJoin, *args: Any, **kwargs: Any) -> Any:
        if not after:
            rest_one()
        found = real(self, *args, **kwargs)
        if after:
            rest_one()
        return found

    monkeypatch.setattr(MarketJoin, "prepare", prepare)
    return placed


@contextlib.contextmanager
def _joined_with_a_hand_order(
    sim: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, after: bool
) -> Iterator[tuple[Rig, list[str]]]:
    """A series loop quoting its first market, a hand order rested in a later market just
    before or after the join's listing reads it, and the later market taken on."""
    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        placed = _hand_order_around_the_listing(monkeypatch, r, after=after)
        _open_later(sim)
        _ticks_until(r, lambda: r.events("market_added"), f"{LATER} taken on")
        yield r, placed


def test_an_order_rested_by_hand_between_the_listing_and_the_join_is_in_the_loops_books(
    sim: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _joined_with_a_hand_order(sim, tmp_path, monkeypatch, after=True) as (r, placed):
        assert len(placed) == 1, placed  # rested after the listing's reads, before the join

        def booked() -> bool:
            return placed[0] in {o.order_id for o in r.loop.portfolio.view(LATER).resting}

        _ticks_until(r, booked, "the hand order in the loop's books")
        (order,) = [o for o in r.loop.portfolio.view(LATER).resting if o.order_id == placed[0]]
        assert order.remaining == Decimal(HAND[1]), order
        # said as the start's reconcile says what it records
        said = [e for e in r.events("reconciled") if e.get("ticker") == LATER]
        assert [e["orders_imported"] for e in said] == [[placed[0]]], said
        # and never quoted there before it was counted: the loop's first order there came after
        first = _placed(r, LATER)
        assert not first or str(said[0]["ts"]) <= str(first[0]["ts"]), (said, first)


def test_an_order_rested_by_hand_before_the_listing_is_said_when_the_join_records_it(
    sim: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _joined_with_a_hand_order(sim, tmp_path, monkeypatch, after=False) as (r, placed):
        (said,) = [e for e in r.events("reconciled") if e.get("ticker") == LATER]
        assert said["orders_imported"] == placed and len(placed) == 1, said
        assert said["changed"] is True, said
        resting = r.loop.portfolio.view(LATER).resting
        assert [o.order_id for o in resting if o.order_id in placed] == placed, resting


def test_a_state_file_that_cannot_record_a_joining_markets_orders_refuses_it_and_the_loop_runs_on(
    sim: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise StateFileUnwritable(f"state file {tmp_path / 'state.db'}: database or disk is full")

    with rig(sim, tmp_path, [FIRST], strategy="market-maker", params={},
             selection=Selection(series=SERIES), send_workers=2,
             settings={"new_markets_poll_s": 3600.0}) as r:  # fmt: skip
        _ticks_until(r, lambda: _placed(r, FIRST), "the loop quoting its first market")
        placed = _hand_order_around_the_listing(monkeypatch, r, after=False)
        monkeypatch.setattr(orders_read_again, "import_foreign_orders", full)
        _open_later(sim)
        (refused,) = _ticks_until(r, lambda: r.events("market_refused"), f"{LATER} judged")
        assert refused["ticker"] == LATER and len(placed) == 1, refused
        assert "database or disk is full" in str(refused["refused"]), refused
        assert not r.events("market_added") and LATER not in r.loop.portfolio.markets
        # the loop runs on; once the state file records again, the market's next `activated`
        # message has it taken on, with the hand order recorded and said
        monkeypatch.undo()
        sim.set_status(LATER, "paused")
        sim.set_status(LATER, "open")
        (added,) = _ticks_until(r, lambda: r.events("market_added"), f"{LATER} taken on")
        assert added["why"] == "activated", added
        (said,) = [e for e in r.events("reconciled") if e.get("ticker") == LATER]
        assert said["orders_imported"] == placed, said
        assert FIRST in r.loop.portfolio.markets and LATER in r.loop.portfolio.markets
