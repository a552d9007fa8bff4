"""The orders' read after a gap of the feed (runner/loop/orders_read_again.py) books as gone an
order the state file holds resting in the market read that the read does not list, once its row
was written a read lag before the read (reads lag writes: a row newer than that may not be listed
yet, and is left for the next word of it). It books nothing else as gone: not an order resting in
another market the loop reads in the same pass, nor one another subaccount placed through the
same state file, which this loop's read never lists. Nor does a read that lags an order's end
bring it back: one that still lists resting an order the state file booked ended less than a
read lag before it leaves the order ended. A loop on the fakes, its feed's orders subscription
carrying every market."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.feed.book import MESSAGES_DROPPED, FeedMessage, MessageKind
from kalshi_cli.feed.session import CarriedMarkets
from kalshi_cli.store.records import RESTING
from tests.runner.fakes import Rig, make_rig
from tests.runner.simproc import log_events
from tests.runner.test_markets_wait_for_their_orders_read import _rest
from tests.services.test_resting_orders_booked_are_the_subaccounts_own import _resting

LOG = "trade.log"
LAG = 2.0  # seconds the exchange's reads lag its writes, as the loop is told
# a gap that lost messages while the orders subscription stayed: the markets are read at once
DROPPED = FeedMessage(MessageKind.GAP, data={"n": 1}, reason=MESSAGES_DROPPED, source="feed")


def _carrying(tmp_path: Path) -> tuple[Rig, list[str]]:
    carried = CarriedMarkets()
    r = make_rig(tmp_path / "s.db", carried=carried, read_lag_s=LAG, log_path=tmp_path / LOG)
    markets = sorted(r.loop.portfolio.markets)
    carried.granted(markets)
    return r, markets


def _read_after_a_gap(r: Rig, seconds: float) -> None:
    """`seconds` on, a gap of the feed, and the read of every market made and booked."""
    reads = r.loop.log.counts.get("orders_read", 0)
    r.clock.advance(seconds)
    r.feed.messages.append(DROPPED)
    r.step(0)
    assert r.loop.log.counts.get("orders_read", 0) == reads + 1, "one read made after the gap"


def _rests(r: Rig, ticker: str, order_id: str) -> bool:
    row = r.store.orders.intent_by_order_id(order_id)
    booked = {o.order_id for o in r.loop.portfolio.view(ticker).resting}
    return order_id in booked and row is not None and row.status == RESTING


def test_an_order_ended_unseen_is_booked_gone_by_a_read_a_read_lag_after_its_row(
    tmp_path: Path,
) -> None:
    r, markets = _carrying(tmp_path)
    ticker = markets[0]
    order_id = _rest(r, ticker, "0.01")  # by hand: the next read records it
    r.step(0.5)
    row = r.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.status == RESTING
    assert _rests(r, ticker, order_id)
    r.feed.silent = True  # the cancel's message is lost
    r.exchange.desk.cancel_order(r.client.account_id, order_id)
    r.feed.silent = False
    # a read asked within the read lag of the row may not list it yet: nothing is concluded
    _read_after_a_gap(r, LAG / 2)
    assert _rests(r, ticker, order_id), "a row newer than the read lag left resting"
    assert r.loop.log.counts.get("order_gone", 0) == 0
    # a read asked a whole read lag after the row would list it: it is gone
    _read_after_a_gap(r, row.updated_at + LAG - r.clock.wall())
    assert r.clock.wall() == row.updated_at + LAG
    assert order_id not in {o.order_id for o in r.loop.portfolio.view(ticker).resting}
    gone = r.store.orders.intent_by_order_id(order_id)
    assert gone is not None and gone.status != RESTING, gone
    said = [(e["ticker"], e["order_id"]) for e in log_events(tmp_path / LOG)
            if e["event"] == "order_gone"]  # fmt: skip
    assert said == [(ticker, order_id)], "the log names the order gone and its market"


def test_a_read_books_gone_neither_another_markets_orders_nor_another_subaccounts(
    tmp_path: Path,
) -> None:
    r, markets = _carrying(tmp_path)
    first, second = markets[:2]
    # resting in both markets, placed by hand: the next read records them
    ours = {first: _rest(r, first, "0.01"), second: _rest(r, second, "0.01")}
    # resting in the first market on another subaccount, which this loop's read never lists
    _resting(r.store, "theirs", first, 2)
    r.step(0.5)
    assert all(_rests(r, t, o) for t, o in ours.items())
    _read_after_a_gap(r, 2 * LAG)
    assert all(_rests(r, t, o) for t, o in ours.items()), "each market's own listing kept it"
    theirs = r.store.orders.intent_by_order_id("o-theirs")
    assert theirs is not None and theirs.status == RESTING, "another subaccount's order stays"
    assert "o-theirs" not in {o.order_id for o in r.loop.portfolio.view(first).resting}
    assert r.loop.log.counts.get("order_gone", 0) == 0
    assert not r.loop.portfolio.unbooked_orders(), "nothing counted as filled unseen"


def test_a_read_lagging_an_orders_end_leaves_it_ended(tmp_path: Path) -> None:
    r, markets = _carrying(tmp_path)
    ticker = markets[0]
    order_id = _rest(r, ticker, "0.01")
    r.step(0.5)
    assert _rests(r, ticker, order_id)
    # the exchange's listing as it was before the cancel: the reads lag it
    lagging = list(r.client.iter_orders(ticker=ticker, status="resting"))
    assert order_id in {o.order_id for o in lagging}
    r.exchange.desk.cancel_order(r.client.account_id, order_id)
    r.step(0.5)  # the cancel's message booked
    ended = r.store.orders.intent_by_order_id(order_id)
    assert ended is not None and ended.status != RESTING, ended
    r.client.iter_orders = lambda **filters: iter(lagging)  # type: ignore[method-assign]
    _read_after_a_gap(r, LAG / 2)
    row = r.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.status == ended.status, row
    assert order_id not in {o.order_id for o in r.loop.portfolio.view(ticker).resting}
