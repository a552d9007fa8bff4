"""The market maker in the loop requotes by queue position (docs/strategies.md): its quote at
the front of the queue stays when the wanted price moves one tick cheaper; behind someone, or
when the exchange cannot say, it is cancelled and replaced. On the in-process exchange (the
queue positions are the core's, read through the fake client each full tick)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import Rig
from tests.runner.test_strategy_scenarios import Mover, on_the_scenario


def our_yes_bids(rig: Rig) -> dict[str, Decimal]:
    return {
        o.order_id: o.price
        for o in rig.exchange.accounts.resting_orders(rig.client.account_id)
        if o.book_side is BookSide.BID
    }


def _rig(tmp_path: Path, *, amend: bool = True) -> tuple[Rig, Mover]:
    """The market maker on the in-process exchange with no requote tolerance, which would keep
    a one-tick move by itself: the queue rule alone decides here."""
    params = {"requote_tolerance": "0"}
    return on_the_scenario(tmp_path, "market-maker", params=params, trade={"amend_requotes": amend})


def run(
    tmp_path: Path, *, someone_first: bool, unreadable: bool = False, amend: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    rig, mover = _rig(tmp_path, amend=amend)  # YES bid 0.49, ask 0.51: our YES bid 0.48
    if someone_first:
        mover.set("early", BookSide.BID, "0.48")  # rests at 0.48 before our quote
    if unreadable:
        rig.client.queue_error = ServerError("HTTP 500", status=500)
    for _ in range(3):
        rig.step(1.0)
    before = our_yes_bids(rig)
    assert list(before.values()) == [Decimal("0.48")]
    move_one_tick(mover)  # mid 0.495: the wanted YES bid is 0.47
    for _ in range(3):
        rig.step(1.0)
    return before, our_yes_bids(rig)


def move_one_tick(mover: Mover) -> None:
    mover.set("bid", BookSide.BID, "0.48")


def test_a_quote_at_the_front_of_the_queue_stays_for_a_one_tick_move(tmp_path: Path) -> None:
    before, after = run(tmp_path, someone_first=False)
    assert after == before  # the same order, still at 0.48


@pytest.mark.parametrize("amend", [True, False], ids=["amended", "cancelled-and-placed"])
def test_a_quote_behind_another_order_is_replaced_for_a_one_tick_move(
    tmp_path: Path, amend: bool
) -> None:
    before, after = run(tmp_path, someone_first=True, amend=amend)
    assert list(after.values()) == [Decimal("0.47")]
    # amended, the order keeps its id; else a new order replaced it
    assert (set(after) == set(before)) is amend


@pytest.mark.parametrize("amend", [True, False], ids=["amended", "cancelled-and-placed"])
def test_an_unreadable_queue_position_requotes_as_before(tmp_path: Path, amend: bool) -> None:
    before, after = run(tmp_path, someone_first=False, unreadable=True, amend=amend)
    assert list(after.values()) == [Decimal("0.47")]
    assert (set(after) == set(before)) is amend
