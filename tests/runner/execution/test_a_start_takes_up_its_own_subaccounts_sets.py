"""A loop's start takes up the sets of legs not ended on its own subaccount only
(runner/execution/leg_sets.py `LegSets.resume`): a state file shared with a loop on another
subaccount holds that loop's broken sets too, and one taken up here would be unwound with
sales of contracts this subaccount does not hold, then marked ended."""

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

A, B = "KXLEGS-26JAN01-A", "KXLEGS-26JAN01-B"


class TakenUp(Exception):
    """The start took up a set: it held the set's markets to unwind it."""


def _taken_up_by_a_start_on(store: Store, subaccount: int) -> list[str]:
    """The markets a start on `subaccount` holds to unwind the sets it found, every book fresh."""
    held: list[str] = []

    def hold_markets(tickers: Any) -> Any:
        held.extend(tickers)
        raise TakenUp

    none = cast("Any", None)
    legs = LegSets(
        executor=cast(
            "Any",
            SimpleNamespace(
                unknown_orders=None, guard=SimpleNamespace(backing_off=False), stopping=False
            ),
        ),
        risk=none,
        sender=none,
        store=store,
        feed=cast("Any", SimpleNamespace(is_fresh=lambda _t: True)),
        hold_markets=hold_markets,
        closed=(),
        worth=none,
        clock=ManualClock(1.0),
        log=none,
        subaccount=subaccount,
        again_s=LoopSettings().set_again_s,
    )
    with suppress(TakenUp):
        legs.resume()
    return held


def test_a_start_never_takes_up_another_subaccounts_broken_set(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        legs = [SetLeg(t, Side.NO, Decimal("0.45"), Decimal(5)) for t in (A, B)]
        store.leg_sets.begin("s0", "arbitrage", legs, 0)
        store.leg_sets.mark("s0", "broken")
        assert _taken_up_by_a_start_on(store, 1) == []
        assert _taken_up_by_a_start_on(store, 0) == [A, B]
