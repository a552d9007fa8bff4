"""The state file's order rows follow fills and `user_orders` messages as they arrive.

After a run, `kalshi status` and `kalshi check orders` read the state file's resting rows: they
must be exactly the orders the exchange still has resting (no phantom left `resting` after it
filled). Two paths bring the news: the `user_orders` message (the exchange's own counts), and the
fill read the loop makes on every `fill` message (the path that remains when a `user_orders`
message is lost). On the fakes, with a ManualClock.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.messages import order_update
from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.vocabulary.units import BookSide
from tests.runner.fakes import Rig, another_trader_places, make_rig


def _exchange_resting(rig: Rig) -> dict[str, Decimal]:
    return {
        o.order_id: o.remaining_count
        for o in rig.exchange.history.orders(rig.client.account_id)
        if o.status == "resting"
    }


def _state_file_resting(rig: Rig) -> dict[str, Decimal | None]:
    return {
        i.order_id: i.remaining
        for i in rig.store.orders.open_orders()
        if i.status == "resting" and i.order_id is not None
    }


def _sell_into(rig: Rig, ticker: str, price: Decimal, count: Decimal) -> None:
    """Another account sells YES at `price` down through the book, `count` contracts."""
    another_trader_places(rig.exchange, ticker, BookSide.ASK, price, count)


def _quotes(tmp_path: Path) -> Rig:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    assert _exchange_resting(rig)
    return rig


def _fill_best_bid_quote(rig: Rig, *, share: Decimal = Decimal(1)) -> str:
    """Sell down through the book into one of the loop's bids, all of it, or a share of one
    alone at its price (so nothing else at that price comes first); its order id."""
    me = rig.client.account_id
    for order in rig.exchange.history.orders(me):
        if order.status != "resting" or order.book_side is not BookSide.BID:
            continue
        bids, _ = rig.exchange.engine.book(order.ticker)
        alone = dict(bids).get(order.price) == order.remaining_count
        if share != 1 and not alone:
            continue
        ahead = sum((size for price, size in bids if price > order.price), Decimal(0))
        if share == 1:
            ahead += dict(bids)[order.price] - order.remaining_count
        _sell_into(rig, order.ticker, order.price, ahead + order.remaining_count * share)
        return order.order_id
    raise AssertionError("no bid of the loop to sell into")


def test_a_filled_quote_is_executed_in_the_state_file(tmp_path: Path) -> None:
    rig = _quotes(tmp_path)
    order_id = _fill_best_bid_quote(rig)
    rig.step(0.01)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    assert row.status == "executed"
    assert row.remaining == 0
    assert row.filled == row.count
    assert _state_file_resting(rig) == _exchange_resting(rig)


@pytest.mark.parametrize("user_orders", [True, False], ids=["user_orders", "fills_only"])
def test_a_partly_filled_quote_rests_with_what_is_left(tmp_path: Path, user_orders: bool) -> None:
    rig = _quotes(tmp_path)
    order_id = _fill_best_bid_quote(rig, share=Decimal("0.4"))
    # only the order's own news: the market maker does not see the book move and requote
    dropped = {MessageKind.BOOK} if user_orders else {MessageKind.BOOK, MessageKind.USER_ORDER}
    rig.clock.advance(0.01)
    rig.loop.tick([e for e in rig.feed.drain_messages() if e.kind not in dropped], full=False)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    left = rig.exchange.history.order(rig.client.account_id, order_id).remaining_count
    assert left == row.count * Decimal("0.6")
    assert (row.status, row.remaining) == ("resting", left)
    assert row.filled == row.count * Decimal("0.4")
    assert _state_file_resting(rig) == _exchange_resting(rig)


def test_fills_alone_update_the_rows_when_user_orders_messages_are_lost(tmp_path: Path) -> None:
    rig = _quotes(tmp_path)
    order_id = _fill_best_bid_quote(rig)
    rig.clock.advance(0.01)
    # no book change either: the market maker must not requote (a refused cancel of the
    # filled quote would look the order up, another path)
    lost = {MessageKind.USER_ORDER, MessageKind.BOOK}
    events = [e for e in rig.feed.drain_messages() if e.kind not in lost]
    assert any(e.kind is MessageKind.FILL for e in events)
    rig.loop.tick(events, full=False)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    assert (row.status, row.remaining, row.filled) == ("executed", 0, row.count)


def test_no_phantom_resting_rows_after_a_run_with_fills(tmp_path: Path) -> None:
    rig = _quotes(tmp_path)
    for _ in range(5):
        _fill_best_bid_quote(rig)
        rig.step(0.5)
    rig.loop.stop.shutdown(cancel_resting=False)
    assert _state_file_resting(rig) == _exchange_resting(rig)
    assert rig.loop.executor.counters.fills >= 5


def test_a_late_resting_message_does_not_bring_a_cancelled_order_back(tmp_path: Path) -> None:
    rig = _quotes(tmp_path)
    order = next(iter(rig.loop.portfolio.orders.values()))
    placed = ser.ws_user_order_msg(
        rig.exchange.history.order(rig.client.account_id, order.order_id)
    )
    assert placed["status"] == "resting"
    rig.loop.executor.cancels.withdraw(order.ticker, order.order_id, "test")  # inline: booked
    assert order.order_id not in rig.loop.portfolio.orders
    # the message of its placement, arriving after the cancel's answer
    event = FeedMessage(MessageKind.USER_ORDER, order.ticker, payload=order_update(placed))
    rig.loop.tick([event], full=False)
    assert order.order_id not in rig.loop.portfolio.orders
    row = rig.store.orders.intent_by_order_id(order.order_id)
    assert row is not None and row.status == "canceled"


@pytest.mark.parametrize("field", ["remaining_count_fp", "fill_count_fp", "status"])
def test_a_user_orders_message_without_its_counts_changes_nothing_it_cannot_say(
    tmp_path: Path, field: str
) -> None:
    """A message that leaves out what rests, what filled or the status is unknown, never
    "0 resting": the quote stays counted in the loop's view and the state file as the
    exchange has it, and the loop reads fills to find out."""
    rig = _quotes(tmp_path)
    order = next(iter(rig.loop.portfolio.orders.values()))
    message = ser.ws_user_order_msg(
        rig.exchange.history.order(rig.client.account_id, order.order_id)
    )
    message.pop(field)
    event = FeedMessage(MessageKind.USER_ORDER, order.ticker, payload=order_update(message))
    rig.loop.tick([event], full=False)
    kept = rig.loop.portfolio.orders.get(order.order_id)
    assert kept is not None and kept.remaining == order.remaining
    row = rig.store.orders.intent_by_order_id(order.order_id)
    assert row is not None and (row.status, row.remaining) == ("resting", order.remaining)
    assert _state_file_resting(rig) == _exchange_resting(rig)


@pytest.mark.parametrize(
    "fields",
    [("yes_price_dollars",), ("book_side", "outcome_side", "side")],
    ids=["price", "direction"],
)
def test_a_user_orders_message_without_its_price_or_direction_leaves_the_quote_as_known(
    tmp_path: Path, fields: tuple[str, ...]
) -> None:
    """No defaults in money: a message that leaves out the order's price (read as $0, a bid
    resting at 0.48 was counted at $0 or $1 a contract) or its direction (read as a YES bid)
    is unknown: the loop keeps the quote at the price and on the side it knew, and reads
    fills to find out. The quote is an ask: read as a bid, it counted the other way."""
    rig = _quotes(tmp_path)
    orders = rig.loop.portfolio.orders.values()
    order = next(o for o in orders if o.view.book_side is BookSide.ASK)
    exposure = rig.loop.portfolio.view(order.ticker).exposure()
    assert exposure > 0
    message = ser.ws_user_order_msg(
        rig.exchange.history.order(rig.client.account_id, order.order_id)
    )
    for field in fields:
        message.pop(field)
    event = FeedMessage(MessageKind.USER_ORDER, order.ticker, payload=order_update(message))
    rig.loop.tick([event], full=False)
    kept = rig.loop.portfolio.orders.get(order.order_id)
    assert kept is not None
    assert (kept.side, kept.action, kept.price) == (order.side, order.action, order.price)
    assert rig.loop.portfolio.view(order.ticker).exposure() == exposure


def _fills_only_tick(rig: Rig) -> None:
    """The loop's next tick with the `user_orders` messages (and the book's moves) lost: the
    fill read alone brings the news, and the market maker sees nothing to requote."""
    rig.clock.advance(0.01)
    lost = {MessageKind.USER_ORDER, MessageKind.BOOK}
    rig.loop.tick([e for e in rig.feed.drain_messages() if e.kind not in lost], full=False)


def test_partial_fills_read_one_at_a_time_add_up_in_the_row(tmp_path: Path) -> None:
    """Two partial fills of one quote, each read on its own: the row counts both, and rests
    with what is left of the exchange's order."""
    rig = _quotes(tmp_path)
    order_id = _fill_best_bid_quote(rig, share=Decimal("0.4"))
    _fills_only_tick(rig)
    first = rig.store.orders.intent_by_order_id(order_id)
    assert first is not None and first.filled == first.count * Decimal("0.4")
    order = rig.exchange.history.order(rig.client.account_id, order_id)
    _sell_into(rig, order.ticker, order.price, Decimal(1))  # the quote is now the best bid
    _fills_only_tick(rig)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    left = rig.exchange.history.order(rig.client.account_id, order_id).remaining_count
    assert left == row.count * Decimal("0.6") - 1
    assert (row.status, row.filled, row.remaining) == ("resting", row.count - left, left)
    assert _state_file_resting(rig) == _exchange_resting(rig)
    # a `user_orders` message counting both fills brings no news: no read is made for it
    fills = rig.loop.executor.fills
    assert not fills.applied.order_fills_are_news(order_id, row.filled)
    assert fills.applied.order_fills_are_news(order_id, row.filled + 1)


def test_a_fill_never_raises_what_rests_above_what_the_exchange_last_said(
    tmp_path: Path,
) -> None:
    """A quote cut down on the exchange (by hand, here an amend to a smaller total) rests with
    less than its count less its fills; a fill read afterwards leaves the row's resting count
    at most what the exchange last said, never the count less the fills."""
    rig = _quotes(tmp_path)
    me = rig.client.account_id
    order_id = _fill_best_bid_quote(rig, share=Decimal("0.4"))
    _fills_only_tick(rig)  # now alone at the best bid, 0.4 of it filled
    order = rig.exchange.history.order(me, order_id)
    rig.exchange.desk.amend_order(
        me,
        order_id,
        ticker=order.ticker,
        book_side=order.book_side,
        price=order.price,
        count=order.fill_count + 2,  # two contracts left to rest
    )
    said = ser.ws_user_order_msg(rig.exchange.history.order(me, order_id))
    message = order_update(said)
    rig.loop.tick([FeedMessage(MessageKind.USER_ORDER, order.ticker, payload=message)], full=False)
    cut = rig.store.orders.intent_by_order_id(order_id)
    assert cut is not None and cut.remaining == 2 < cut.count - cut.filled
    _sell_into(rig, order.ticker, order.price, Decimal(1))
    _fills_only_tick(rig)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.status == "resting"
    assert row.filled == cut.filled + 1
    assert row.remaining is not None and row.remaining <= 2
    assert rig.exchange.history.order(me, order_id).remaining_count == 1
