"""The local venue runs as long as its data: what it keeps must not grow with every order.
Records a minute old move to the exchange core's compact archives and the recorded market's
own finished orders are dropped, and every answer the client reads stays the same."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.fakes import ticks

D = Decimal
T = "KXTEST-26JAN01-A"


def test_old_orders_and_fills_are_kept_compactly_and_read_back_the_same() -> None:
    clock = ManualClock()
    v = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(10_000),
    )
    yes = {D("0.40"): D(1000)}
    no = {D("0.45"): D(1000)}  # a YES ask at 0.55
    v.book_changed(T, ticks(yes), ticks(no))
    for _ in range(30):  # a taking order and a quote cancelled, within the same second
        v.client.orders.create_order(CreateOrder(T, BookSide.BID, D("0.55"), D(1), TimeInForce.IOC))
        quote = v.client.orders.create_order(
            CreateOrder(T, BookSide.BID, D("0.30"), D(1), TimeInForce.GTC)
        )
        v.client.orders.cancel_order(quote.order_id)
        v.book_changed(T, ticks(yes), ticks(no))
    orders = list(v.client.orders.iter_orders())
    fills = list(v.client.portfolio.iter_fills())
    assert len(orders) == 60 and len(fills) == 30
    history = v.core.history
    assert history.order_tiers(v.account) == (60, 0)
    market_orders_before = history.order_tiers(v._crowd)[0]
    assert market_orders_before >= 30  # the recorded liquidity placed for each taking order
    clock.advance(120)
    v.book_changed(T, ticks(yes), ticks(no))  # the data moves on: the venue compacts
    live, archived = history.order_tiers(v.account)
    assert (live, archived) == (0, 60)
    assert history.fill_tiers(v.account) == (0, 30)
    assert history.order_tiers(v._crowd)[0] == 0  # nothing reads the crowd's own orders
    # the client reads the same orders and fills, and each order by its id
    assert list(v.client.orders.iter_orders()) == orders
    assert list(v.client.portfolio.iter_fills()) == fills
    for o in orders[:3]:
        assert v.client.orders.get_order(o.order_id) == o
    # and trading goes on as before
    more = v.client.orders.create_order(
        CreateOrder(T, BookSide.BID, D("0.55"), D(2), TimeInForce.IOC)
    )
    assert more.fill_count == 2


def test_the_resting_listing_after_compaction_is_every_resting_order_and_no_other() -> None:
    """A listing of the resting orders (a loop's stop proves none is left with it) reads the
    live orders alone: the archive holds only finished ones, however old the resting are."""
    clock = ManualClock()
    v = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(10_000),
    )
    yes = {D("0.40"): D(1000)}
    no = {D("0.45"): D(1000)}
    v.book_changed(T, ticks(yes), ticks(no))
    old = v.client.orders.create_order(CreateOrder(T, BookSide.BID, D("0.31"), D(1)))
    for _ in range(5):
        quote = v.client.orders.create_order(CreateOrder(T, BookSide.BID, D("0.30"), D(1)))
        v.client.orders.cancel_order(quote.order_id)
    clock.advance(120)
    v.book_changed(
        T, ticks(yes), ticks(no)
    )  # the venue compacts: the cancelled quotes are archived
    assert v.core.history.order_tiers(v.account) == (1, 5)
    new = v.client.orders.create_order(CreateOrder(T, BookSide.BID, D("0.32"), D(1)))
    resting = list(v.client.orders.iter_orders(status="resting"))
    assert [o.order_id for o in resting] == [new.order_id, old.order_id]
    assert resting == [o for o in v.client.orders.iter_orders() if o.status == "resting"]


def test_a_market_volume_of_the_last_day_leaves_out_older_trades() -> None:
    """`volume_24h` counts the trades of the last 24 hours, as the simulator's tick keeps it:
    a run longer than a day neither reports its whole volume as the day's nor keeps an entry
    per trade for the rest of the run."""
    clock = ManualClock()
    v = LocalVenue(
        clock,
        [MarketInfo(T, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")],
        balance=D(10_000),
    )
    yes = {D("0.40"): D(1000)}
    no = {D("0.45"): D(1000)}  # a YES ask at 0.55
    v.book_changed(T, ticks(yes), ticks(no))
    v.client.orders.create_order(CreateOrder(T, BookSide.BID, D("0.55"), D(3), TimeInForce.IOC))
    market = v.client.markets.get_market(T)
    assert (market.volume, market.volume_24h) == (3, 3)
    clock.advance(12 * 3600)
    v.book_changed(T, ticks(yes), ticks(no))
    v.client.orders.create_order(CreateOrder(T, BookSide.BID, D("0.55"), D(2), TimeInForce.IOC))
    clock.advance(12 * 3600 + 60)  # the first trade is over a day old, the second is not
    v.book_changed(T, ticks(yes), ticks(no))
    market = v.client.markets.get_market(T)
    assert (market.volume, market.volume_24h) == (5, 2)
