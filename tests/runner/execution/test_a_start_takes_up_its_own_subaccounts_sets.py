"""A loop's start takes up the sets of legs not ended on its own subaccount only
(runner/execution/leg_sets.py `LegSets.resume`): a state file shared with a loop on another
subaccount holds that loop's broken sets too, and one taken up here would be unwound with
sales of contracts this subaccount does not hold, then marked ended. A set found is taken up
once its legs' books are fresh (one whose books are not waits, and the sets after it go on), and
not while the API error guard backs off."""

from __future__ import annotations

from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from kalshi_cli.runner.execution.leg_sets import LegSets
from kalshi_cli.runner.loop.settings import LoopSettings
from kalshi_cli.store import Store
from kalshi_cli.store.leg_sets import SetLeg
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Side

A, B, C, D = (f"KXLEGS-26JAN01-{m}" for m in "ABCD")


class TakenUp(Exception):
    """The start took up a set: it held the set's markets to unwind it."""


class _Start:
    """A start's `LegSets` on `subaccount`, each of its ticks (`resume`) stopped at the first set
    it takes up: `held` the markets it held to unwind the sets taken up; `stale` the markets
    whose book is not fresh; `backing_off` the API error guard's."""

    def __init__(self, store: Store, subaccount: int) -> None:
        self.held: list[str] = []
        self.stale: set[str] = set()
        self.guard = SimpleNamespace(backing_off=False)
        none = cast("Any", None)
        self.legs = LegSets(
            executor=cast(
                "Any", SimpleNamespace(unknown_orders=None, guard=self.guard, stopping=False)
            ),
            risk=none,
            sender=none,
            store=store,
            feed=cast("Any", SimpleNamespace(is_fresh=lambda t: t not in self.stale)),
            hold_markets=self._hold_markets,
            closed=(),
            worth=none,
            clock=ManualClock(1.0),
            log=none,
            subaccount=subaccount,
            again_s=LoopSettings().set_again_s,
        )

    def _hold_markets(self, tickers: Any) -> Any:
        self.held.extend(tickers)
        raise TakenUp

    def tick(self) -> list[str]:
        with suppress(TakenUp):
            self.legs.resume()
        return self.held


def _taken_up_by_a_start_on(store: Store, subaccount: int) -> list[str]:
    """The markets a start on `subaccount` holds to unwind the sets it found, every book fresh."""
    return _Start(store, subaccount).tick()


def _broken(store: Store, set_id: str, *tickers: str) -> None:
    legs = [SetLeg(t, Side.NO, Decimal("0.45"), Decimal(5)) for t in tickers]
    store.leg_sets.begin(set_id, "arbitrage", legs, 0)
    store.leg_sets.mark(set_id, "broken")


def test_a_start_never_takes_up_another_subaccounts_broken_set(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        _broken(store, "s0", A, B)
        assert _taken_up_by_a_start_on(store, 1) == []
        assert _taken_up_by_a_start_on(store, 0) == [A, B]


def test_a_set_found_whose_books_are_not_fresh_waits_for_them_and_the_next_is_taken_up(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path / "state.db") as store:
        _broken(store, "s0", C, D)
        _broken(store, "s1", A, B)
        start = _Start(store, 0)
        start.stale = {D}
        assert start.tick() == [A, B]
        assert start.tick() == [A, B]  # D's book not fresh yet: s0 waits
        start.stale = set()
        assert start.tick() == [A, B, C, D]


def test_a_start_takes_up_no_set_while_the_api_error_guard_backs_off(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        _broken(store, "s0", A, B)
        start = _Start(store, 0)
        start.guard.backing_off = True
        assert start.tick() == []
        start.guard.backing_off = False
        assert start.tick() == [A, B]
