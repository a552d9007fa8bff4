"""An order whose answer was lost may have its row moved on before its lookup is settled: the
orders' read again (a reconnect, a lost `user_orders` message) records it resting by its client
order id, and its `user_orders` messages then carry it on (filled, executed, cancelled). The
lookup's order is then applied as reconcile applies a read to a row (`book_read`): the row moves
only forward, a read older than the row does not move it back, and the loop's books follow the
row, not the older read: no order rests in the view that the row says ended, and a fill the feed
already told is counted once."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.config import StrategyChoice, TradeOptions
from kalshi_cli.runner.lifecycle.running import run
from kalshi_cli.runner.loop.orders_read_again import record_foreign
from kalshi_cli.services.pretrade.books import book_resting
from kalshi_cli.store.errors import InvalidTransition, StateFileUnwritable
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.runner.execution.test_lost_order_found import PRICE, _lost_quote, _rig, _sell_into_quote
from tests.runner.execution.test_requote_amends import LAL, _quoted, _requote, _sell_into_the_quote
from tests.runner.execution.test_requote_amends import _rig as amend_rig
from tests.runner.fakes import Rig, another_trader_places, make_rig
from tests.runner.lifecycle.test_shutdown_unknown import RISK, _lose_next_create

D = Decimal


def _read_again(rig: Rig, ticker: str) -> None:
    """The loop's orders' read again of `ticker`, booked as `OrdersReadAgain` books it."""
    resting = list(rig.client.orders.iter_orders(ticker=ticker, status="resting"))
    record_foreign(
        rig.store, rig.loop.log, ticker, resting,
        asked=rig.clock.wall(), read_lag_s=0.5, subaccount=0,
    )  # fmt: skip
    book_resting(rig.store, rig.loop.portfolio, 0, ticker)


def _messages(rig: Rig) -> None:
    """The feed's messages so far (the `user_orders` ones among them) handled by the loop."""
    rig.loop.watch.handle_messages(rig.feed.drain_messages())


def _fills(rig: Rig, ticker: str, count: str) -> None:
    _sell_into_quote(rig, ticker, D(count))
    rig.exchange.tick()
    _messages(rig)


def _cancel(rig: Rig, ticker: str, count: str) -> None:
    """Some of it fills, then the rest is cancelled on the exchange (by hand, say)."""
    _fills(rig, ticker, count)
    (order,) = rig.client.orders.iter_orders(ticker=ticker, status="resting")
    rig.exchange.desk.cancel_order(rig.client.account_id, order.order_id)
    rig.exchange.tick()
    _messages(rig)


Move = Callable[[Rig, str], None]


@pytest.mark.parametrize(
    ("move", "status", "filled", "resting"),
    [
        (lambda rig, t: None, "resting", "0", "10"),
        (lambda rig, t: _fills(rig, t, "4"), "resting", "4", "6"),
        (lambda rig, t: _fills(rig, t, "10"), "executed", "10", "0"),
        (lambda rig, t: _cancel(rig, t, "3"), "canceled", "3", "0"),
    ],
    ids=["resting", "partly filled", "executed", "canceled"],
)
def test_a_lookup_older_than_its_moved_row_leaves_the_row_and_the_books_as_they_are(
    tmp_path: Path, move: Move, status: str, filled: str, resting: str
) -> None:
    rig = _rig(tmp_path)
    unknown = rig.loop.executor.unknown_orders
    coid, ticker = _lost_quote(rig)
    looked = unknown.look(unknown.in_markets())  # the lookup: resting, nothing filled
    _read_again(rig, ticker)
    move(rig, ticker)
    unknown.settle(looked)
    assert unknown.unknown == {}
    row = rig.store.orders.get_intent(coid)
    assert row is not None
    assert (row.status, row.filled, row.remaining) == (status, D(filled), D(resting))
    rests = [(o.client_order_id, o.remaining) for o in rig.loop.portfolio.resting(ticker)]
    assert rests == ([(coid, D(resting))] if status == "resting" else [])
    told = rig.loop.portfolio.unbooked_orders(ticker)
    assert sum((o.remaining for o in told), D(0)) == D(filled)  # told by the feed, once
    rig.loop.executor.fills.sync()
    view = rig.loop.portfolio.view_for(ticker, "spike")
    assert view.position == D(filled)
    # to the cent: each fill booked once, and the strategy's
    assert view.entry_cost == D(filled) * PRICE
    assert rig.loop.portfolio.unbooked_orders(ticker) == []  # told filled, then read: none apart


def test_a_lookup_newer_than_its_moved_row_carries_the_row_forward(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    unknown = rig.loop.executor.unknown_orders
    coid, ticker = _lost_quote(rig)
    _read_again(rig, ticker)
    _sell_into_quote(rig, ticker, D(10))  # its message not yet heard
    unknown.resolve()
    row = rig.store.orders.get_intent(coid)
    assert row is not None
    assert (row.status, row.filled, row.remaining) == ("executed", D(10), D(0))
    assert rig.loop.portfolio.resting(ticker) == []
    assert rig.loop.executor.fills.due.is_set()


def test_a_stop_whose_lookup_meets_a_store_error_still_proves_and_names_the_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store error on an order row that is no failure of the state file (a row marked sent
    twice: a bug) met while the stop looks its lost order up: the stop goes on as past any bug,
    its proving listing is made and names the order that may rest, and the run still ends as
    the crash it is. On the old code the error ended the stop at once, unproven, naming none."""
    rig = _rig(tmp_path)
    coid, _ = _lost_quote(rig)

    def marked_twice(client_order_id: str, order: object) -> None:
        raise InvalidTransition(f"cannot mark intent {client_order_id} sent: it is already resting")

    monkeypatch.setattr(rig.store.orders, "mark_shown", marked_twice)
    with pytest.raises(InvalidTransition):
        rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.loop.log.counts.get("stop_withdrawal_failed") == 1
    assert rig.loop.log.counts.get("stop_not_proven") == 1
    assert coid in rig.loop.stop.not_proven


def test_a_stop_whose_lookup_meets_a_failing_state_file_hands_over_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same lookup meeting a state file that fails (the disk full): no withdrawal goes on
    past it writing rows, the error is raised for the stop that writes nothing."""
    rig = _rig(tmp_path)
    _lost_quote(rig)

    def disk_full(client_order_id: str, order: object) -> None:
        raise StateFileUnwritable("database or disk is full")

    monkeypatch.setattr(rig.store.orders, "mark_shown", disk_full)
    with pytest.raises(StateFileUnwritable):
        rig.loop.stop.shutdown(cancel_resting=True)
    assert rig.loop.log.counts.get("stop_withdrawal_failed") is None


def test_a_turn_that_meets_a_store_error_on_an_order_row_crashes_once_and_withdraws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's turn meets a store error on an order row that is no failure of the state file
    (its lost order's lookup books it, and the store says the row was marked already: a bug):
    the run crashes with one `crashed` line, and its stop, meeting the same error at its own
    lookup, goes on: nothing of the loop's is left resting, the listing is made, and the lost
    order, never booked, is named as not proven gone. On the old code the stop died of it a
    second time, unproven, before its `stopped` line."""
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", risk=RISK)
    coid = _lose_next_create(rig, "unknown")  # taken by the exchange, its answer lost

    def marked_twice(client_order_id: str, order: object) -> None:
        raise InvalidTransition(f"cannot mark intent {client_order_id} sent: it is already resting")

    monkeypatch.setattr(rig.store.orders, "mark_shown", marked_twice)
    with pytest.raises(InvalidTransition):
        run(rig.loop, TradeOptions(strategies=(StrategyChoice("market-maker"),), duration_s=600))
    counts = rig.loop.log.counts
    assert (counts.get("crashed"), counts.get("stopped")) == (1, 1)  # the stop ran to its end
    assert counts.get("stop_withdrawal_failed") == 1
    me = rig.client.account_id
    resting = [o.client_order_id for o in rig.exchange.history.orders(me) if o.status == "resting"]
    assert resting == []
    assert rig.loop.stop.not_proven == (coid,)


@pytest.mark.parametrize(
    ("move", "status", "filled", "resting"),
    [
        (lambda rig, t: _fills(rig, t, "10"), "executed", "10", "0"),
        (lambda rig, t: _cancel(rig, t, "3"), "canceled", "3", "0"),
    ],
    ids=["executed", "canceled"],
)
def test_a_create_answer_booked_after_its_row_moved_on_leaves_the_row_as_it_is(
    tmp_path: Path, move: Move, status: str, filled: str, resting: str
) -> None:
    """A quote's answer is back but not booked yet; meanwhile the orders' read again recorded
    it by its client order id and its messages carried it on. The answer, older than the row,
    is booked as a read is (`book_read`): on the old code it moved the row back to resting."""
    rig = _rig(tmp_path)
    ticker = next(iter(rig.exchange.reference.markets))
    create = CreateOrder(ticker, BookSide.BID, PRICE, D(10), client_order_id="spike:answer")
    service = rig.loop.executor.answers.orders
    service.record_intent(create, side=Side.YES, action=Action.BUY)
    result = rig.client.orders.create_order(create)  # resting, nothing filled
    _read_again(rig, ticker)
    move(rig, ticker)
    assert service.record_answer(create, result) == "resting"  # what the answer said
    row = rig.store.orders.get_intent(create.client_order_id)
    assert row is not None
    assert (row.status, row.filled, row.remaining) == (status, D(filled), D(resting))


def test_an_answer_lost_after_a_read_recorded_its_order_leaves_the_row_as_the_read_has_it(
    tmp_path: Path,
) -> None:
    """A quote's request is out; the orders' read again records it resting by its client order
    id; then its answer is lost. The row, answered already, stays as the read has it: on the
    old code marking it unknown was refused, and the refusal read as a state file that could
    not record the order (`OrderNotRecorded`), which stops the loop as a failing disk does.
    Its lookup then settles it as any lost order's."""
    rig = _rig(tmp_path)
    ticker = next(iter(rig.exchange.reference.markets))
    create = CreateOrder(ticker, BookSide.BID, PRICE, D(10), client_order_id="spike:lost")
    service = rig.loop.executor.answers.orders
    service.record_intent(create, side=Side.YES, action=Action.BUY)
    rig.client.orders.create_order(create)  # landed; its answer never comes
    _read_again(rig, ticker)
    service.record_unknown(create, "timed out")
    row = rig.store.orders.get_intent(create.client_order_id)
    assert row is not None
    assert (row.status, row.filled, row.remaining) == ("resting", D(0), D(10))
    unknown = rig.loop.executor.unknown_orders
    unknown.lost(create.client_order_id, ticker)
    unknown.resolve()
    assert unknown.unknown == {}
    assert [o.client_order_id for o in rig.loop.portfolio.resting(ticker)] == ["spike:lost"]


def _amend_read_out_when_2_filled(
    tmp_path: Path, filled_meanwhile: Decimal
) -> tuple[Rig, str, Callable[[], None]]:
    """A quote of 10 whose amend answer is lost; the read of it is sent when 2 had filled, then
    `filled_meanwhile` more fill and the feed tells the loop so. Returns the rig, the order and
    what books the read as it was sent."""
    rig = amend_rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    _sell_into_the_quote(rig, D(2))
    stale = rig.client.get_order(order_id)  # the read as it was sent
    yes_bids, _ = rig.exchange.engine.book(LAL)
    ahead = sum((n for p, n in yes_bids if p >= D("0.40")), D(0)) - D(8)
    another_trader_places(rig.exchange, LAL, BookSide.ASK, D("0.40"), ahead + filled_meanwhile)
    rig.exchange.tick()
    _messages(rig)

    def book_the_read() -> None:
        def as_sent(order_id: str) -> Order:
            return stale

        rig.client.get_order = as_sent  # type: ignore[method-assign]
        rig.loop.executor.amends.look_later()

    return rig, order_id, book_the_read


def test_a_read_of_an_amend_in_doubt_older_than_the_feeds_word_leaves_what_it_told(
    tmp_path: Path,
) -> None:
    """A quote's amend answer is lost; the read of it is sent when 2 had filled, and before it
    is booked the quote fills whole and its `user_orders` message tells the loop so. The read,
    older than the row, tells the limits less than the feed did: the 10 told filled still
    count until the fill read brings them in (on the old code only 2 did)."""
    rig, order_id, book_the_read = _amend_read_out_when_2_filled(tmp_path, D(8))
    told = rig.loop.portfolio.unbooked_orders(LAL)
    assert sum((o.remaining for o in told), D(0)) == D(10)
    book_the_read()
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.status, row.filled) == ("executed", D(10))
    told = rig.loop.portfolio.unbooked_orders(LAL)
    assert sum((o.remaining for o in told), D(0)) == D(10)
    assert rig.loop.portfolio.resting(LAL) == []
    # an order that ended settles its amend's doubt: its market takes adding orders again
    assert order_id not in rig.loop.executor.unknown_orders.amending


def test_a_read_of_an_amend_in_doubt_older_than_a_part_fill_leaves_the_rest_resting(
    tmp_path: Path,
) -> None:
    """As above, but the feed tells a part fill while the read is out: 2 filled when it was
    sent, 4 when it is booked. The order rests with the 6 the row says, not the read's 8 nor
    none, and the 4 told filled count until the fill read brings them in."""
    rig, order_id, book_the_read = _amend_read_out_when_2_filled(tmp_path, D(2))
    book_the_read()
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.status, row.filled, row.remaining) == ("resting", 4, 6)
    assert [o.remaining for o in rig.loop.portfolio.resting(LAL)] == [D(6)]
    told = rig.loop.portfolio.unbooked_orders(LAL)
    assert sum((o.remaining for o in told), D(0)) == D(4)
