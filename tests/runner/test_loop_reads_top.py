"""A strategy that reads only the top of the book (`Strategy.reads_top`: each side's best bid
with its size) is not called again, after a call that decided nothing, for a change below the
top; a change at the top (a best bid's size or price) is a call. The default (the whole book)
is called for any change. docs/strategies.md "When `decide` is called".
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.strategy_api import MarketSnapshot, PositionView
from kalshi_cli.vocabulary.models import Level, Orderbook
from tests.runner.fakes import quiet_market_maker

FED = "KXFEDDECISION-SIM-DEC-H0"  # quiet scenario
# the whole test within one of the mids' resampling seconds: a mid point is added only when the
# mid changes, so an unchanged window is no reason for a call
STEP_S = 0.05


def _book(yes: list[tuple[str, str]], no: list[tuple[str, str]]) -> Orderbook:
    def side(levels: list[tuple[str, str]]) -> tuple[Level, ...]:
        return tuple(Level(Decimal(p), Decimal(s)) for p, s in levels)

    return Orderbook(FED, side(yes), side(no))


FIRST = _book([("0.50", "10"), ("0.48", "20")], [("0.45", "10"), ("0.40", "5")])
# each is shown after the one before it: what changed, and whether a top reader is called
STEPS = [
    (
        "a level below the YES top",
        _book([("0.50", "10"), ("0.48", "25")], [("0.45", "10"), ("0.40", "5")]),
        False,
    ),
    (
        "a new level below the NO top",
        _book([("0.50", "10"), ("0.48", "25")], [("0.45", "10"), ("0.41", "3"), ("0.40", "5")]),
        False,
    ),
    (
        "the YES top's size",
        _book([("0.50", "11"), ("0.48", "25")], [("0.45", "10"), ("0.41", "3"), ("0.40", "5")]),
        True,
    ),
    (
        "the NO top's price",
        _book([("0.50", "11"), ("0.48", "25")], [("0.46", "10"), ("0.41", "3"), ("0.40", "5")]),
        True,
    ),
    (
        "the NO top's size",
        _book([("0.50", "11"), ("0.48", "25")], [("0.46", "9"), ("0.41", "3"), ("0.40", "5")]),
        True,
    ),
    (
        "the YES top taken away (the level below is the top now)",
        _book([("0.48", "25")], [("0.46", "9"), ("0.41", "3"), ("0.40", "5")]),
        True,
    ),
]


@pytest.mark.parametrize("reads_top", [True, False], ids=["top only", "whole book"])
@pytest.mark.parametrize("reads_mids", [False, True], ids=["no mids", "mids"])
def test_a_top_reader_is_called_for_a_change_at_the_top_and_not_below_it(
    tmp_path: Path, reads_top: bool, reads_mids: bool
) -> None:
    """With mids (a strategy that reads them takes the loop's full comparison,
    `MarketPass._still_quiet`) and without (its shortcut, `_untouched`)."""
    rig = quiet_market_maker(tmp_path)
    seen: list[Orderbook] = []

    def decide(snapshot: MarketSnapshot, view: PositionView, params: object) -> tuple[()]:
        if snapshot.ticker == FED:
            seen.append(snapshot.book)
        return ()

    member = rig.loop.reloads.lineup.members[0]
    strategy = replace(
        member.strategy,
        decide_fn=decide,
        reads_top=reads_top,
        reads_mids=reads_mids,
        clock_free=lambda _: True,
    )
    rig.loop.reloads.replace(replace(member, strategy=strategy))
    rig.feed.show(FIRST)
    rig.step(STEP_S)
    assert seen == [FIRST]
    for what, book, called in STEPS:
        before = len(seen)
        rig.feed.show(book)
        rig.step(STEP_S)
        rig.feed.show(book)  # shown again (the same book): no change, no call
        rig.step(STEP_S)
        if reads_top and not called:
            assert len(seen) == before, f"called for {what}"
        else:
            assert seen[before:] == [book], f"not called (once) for {what}"
