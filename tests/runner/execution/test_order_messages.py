"""A `user_orders` message (the exchange's word on one order, over the WebSocket) in the loop's
books (`FillSync.order_message`): the exchange's counts go into the order's row while it rests;
a message older than the row (the order already ended, or more of it had filled) is ignored and
answers False, so a late `resting` cannot bring back an order whose cancel was answered; and an
order the state file does not know (placed elsewhere) is left to the caller."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.services.pretrade.books import OpenOrder
from kalshi_cli.store import IntentRecord
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.fakes import Rig, make_rig

D = Decimal
TICKER = "KXTEST-MSG"
OID, COID = "o-1", "c-1"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path / "s.db")
    yield made
    made.loop.log.close()
    made.store.close()


def _row(rig: Rig, status: str, filled: str = "0") -> None:
    """The order's row: its intent, sent and answered `status`, and the order in the view."""
    rig.store.orders.record_intent(
        IntentRecord(COID, TICKER, BookSide.BID, D("0.40"), D(10), Side.YES, Action.BUY)
    )
    rig.store.orders.mark_sent(
        COID, order_id=OID, status=status, fill_count=D(filled),
        remaining_count=D(10) - D(filled) if status == "resting" else D(0),
    )  # fmt: skip
    rig.loop.portfolio.add_order(
        OpenOrder(OID, COID, TICKER, Side.YES, Action.BUY, D("0.40"), D(10), None)
    )


def _message(status: str, filled: str, remaining: str, order_id: str = OID) -> Order:
    return Order(
        order_id=order_id, client_order_id=COID, ticker=TICKER, side="yes", action="buy",
        status=status, yes_price=D("0.40"), fill_count=D(filled), remaining_count=D(remaining),
    )  # fmt: skip


def _stored(rig: Rig) -> tuple[str, Decimal, Decimal | None]:
    row = rig.store.orders.get_intent(COID)
    assert row is not None
    return row.status, row.filled, row.remaining


def test_a_message_of_a_resting_order_puts_the_exchanges_counts_in_its_row(rig: Rig) -> None:
    _row(rig, "resting")
    assert rig.loop.executor.fills.order_message(_message("resting", "0", "10"))  # the same
    assert rig.loop.executor.fills.order_message(_message("resting", "4", "6"))
    assert _stored(rig) == ("resting", D(4), D(6))
    assert rig.loop.executor.fills.order_message(_message("executed", "10", "0"))
    assert _stored(rig) == ("executed", D(10), D(0))


def test_a_message_older_than_the_row_is_ignored_and_the_view_follows_the_row(rig: Rig) -> None:
    _row(rig, "resting", filled="4")
    assert not rig.loop.executor.fills.order_message(_message("resting", "2", "8"))
    assert _stored(rig) == ("resting", D(4), D(6))  # fewer fills than the row: older
    assert OID in rig.loop.portfolio.orders  # a resting row's order stays in the view
    rig.store.orders.update_order(order_id=OID, status="canceled", remaining_count=D(0))
    assert not rig.loop.executor.fills.order_message(_message("resting", "4", "6"))
    assert _stored(rig) == ("canceled", D(4), D(0))  # a late `resting` brings nothing back
    assert OID not in rig.loop.portfolio.orders  # and the view drops it as the row has it


def test_a_message_for_an_order_placed_elsewhere_is_the_callers(rig: Rig) -> None:
    assert rig.loop.executor.fills.order_message(_message("resting", "0", "10", "o-elsewhere"))
    assert rig.store.orders.intent_by_order_id("o-elsewhere") is None


def test_after_a_restart_an_open_orders_earlier_fills_count_toward_what_is_left(
    rig: Rig,
) -> None:
    """The fills the state file holds of an order still open (replayed at start) are counted
    with the fills read after: the order's row takes the larger of its own count and theirs,
    so a row that lagged its fills does not say more rests than does."""
    from kalshi_cli.store import FillRecord
    from kalshi_cli.vocabulary.models import Fill

    _row(rig, "resting")  # the row says nothing filled: the message saying 4 was lost
    earlier = [
        FillRecord(
            f"f-{n}", OID, COID, TICKER, BookSide.BID, D("0.40"), D(n), D(0), False, 1_767_225_600.0
        )
        for n in (1, 3)
    ]
    rig.store.fills.record_fills(earlier)
    rig.loop.executor.fills.load_seen(earlier)  # what the start replays: 4 filled
    rig.loop.executor.fills.apply(
        Fill(
            fill_id="f-2", trade_id="t-2", order_id=OID, ticker=TICKER, book_side=BookSide.BID,
            count=D(2), yes_price=D("0.40"), fee=D(0), created_time="2026-01-01T00:00:01Z",
            ts=1_767_225_601,
        )
    )  # fmt: skip
    assert _stored(rig) == ("resting", D(6), D(4))
    assert rig.loop.portfolio.orders[OID].remaining == D(4)
