"""`/historical/trades`, `/historical/fills` and `/historical/orders` page by page, across the
cutoff, against the answer the routes gave when each page was cut from the whole filtered list.

Each route now reads from its cursor's place in the tier instead of rebuilding the whole tier
for every page; these tests pin that every page, cursor included, is what the list-then-slice
answer was: for every filter the route has, several page sizes, the cursors it hands out and
cursors it does not (another filter's record, a live record, an id never issued, another
shape), with the archive's store holding records of both tiers (a lag lengthened after they
moved). The model below is that answer: the exchange's records newest first, split at the
request's cutoff, filtered, then `_old_paginate` (the simulator's `paginate`: a cursor naming
no listed record is the first page, unless it names an order every filter but the status keeps:
the next page goes on after it).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.record_views import NewestFirst
from kalshi_cli.sim.core.records import SimOrder, SimTrade
from kalshi_cli.sim.core.trade_archive import TradeArchive
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.sim.test_historical import OTHER, A, B, order, place, set_lag
from tests.sim.test_order_retention import _orders_as_a_client
from tests.waiting import wait_until

T = TypeVar("T")
STEP_S = 100  # the records' times are this far apart: the reads below move the clock less
TRADES_PER_STEP = 2  # `_trade_over_time`: two IOC bids fill against the step's ask


def _old_paginate(
    items: list[T],
    key: Callable[[T], str],
    limit: int,
    cursor: str | None,
    listed: list[T] | None = None,
) -> tuple[list[T], str]:
    """`listed`: what the filters but the status keep, `items` among them (the orders): a
    cursor naming one of these goes on after it."""
    start = 0
    if cursor:
        keys = [key(i) for i in items]
        if cursor in keys:
            start = keys.index(cursor) + 1
        elif listed is not None and cursor in [key(i) for i in listed]:
            after = [key(i) for i in listed].index(cursor)
            later = {key(i) for i in listed[after + 1 :]}
            start = next((n for n, i in enumerate(items) if key(i) in later), len(items))
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (key(page[-1]) if more and page else "")


def _within(value: float, lo: int | None, hi: int | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _get(sim: SimHarness, path: str, params: dict[str, Any]) -> tuple[Any, float]:
    """A signed GET, the clock moved on by what refills one read; (the body, the request's now)."""
    clock = sim.running.state.clock
    assert isinstance(clock, ManualClock)
    clock.advance(0.05)
    response = sim.signed(sim.account, "GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json(), clock.wall()


class _Model:
    def __init__(self, sim: SimHarness, me: str) -> None:
        exchange: Exchange = sim.running.state.exchange
        self.lag = sim.running.state.history.lag_seconds
        self.trades = exchange.history.trades()
        self.fills = exchange.history.fills(me)
        self.orders = exchange.history.orders(me)
        self.events = {t: m.event_ticker for t, m in exchange.reference.markets.items()}

    def answer(
        self, route: str, params: dict[str, Any], now: float, *, live: bool = False
    ) -> dict[str, Any]:
        """The historical route's answer; with `live`, the live route's (`/markets/trades`,
        `/portfolio/fills`, `/portfolio/orders`: the other side of the cutoff, and their own
        filters: a fill's order_id, an order's status and event_ticker)."""
        cutoff = now - self.lag

        def tier(ts: float) -> bool:  # unix seconds
            return ts >= cutoff if live else ts < cutoff

        limit = params.get("limit") or 100
        ticker = params.get("ticker")
        lo, hi = params.get("min_ts"), params.get("max_ts")
        cursor = params.get("cursor")
        if route == "trades":
            trades = [
                t
                for t in self.trades
                if tier(t.ts) and (ticker is None or t.ticker == ticker) and _within(t.ts, lo, hi)
            ]
            page_t, next_t = _old_paginate(trades, lambda t: t.trade_id, limit, cursor)
            return {"trades": [ser.trade_json(t) for t in page_t], "cursor": next_t}
        if route == "fills":
            order_id = params.get("order_id")
            fills = [
                f
                for f in self.fills
                if tier(f.ts)
                and (ticker is None or f.ticker == ticker)
                and (order_id is None or f.order_id == order_id)
                and _within(f.ts, lo, hi)
            ]
            page_f, next_f = _old_paginate(fills, lambda f: f.fill_id, limit, cursor)
            return {"fills": [ser.fill_json(f) for f in page_f], "cursor": next_f}
        status, event = params.get("status"), params.get("event_ticker")

        def order_tier(o: SimOrder) -> bool:
            archived = o.status != "resting" and o.last_update_time < cutoff
            return not archived if live else archived

        listed = [
            o
            for o in self.orders
            if order_tier(o)
            and (ticker is None or o.ticker == ticker)
            and (event is None or self.events[o.ticker] == event)
            and _within(o.created_time, lo, hi)
        ]
        orders = [o for o in listed if status is None or o.status == status]
        page_o, next_o = _old_paginate(orders, lambda o: o.order_id, limit, cursor, listed)
        return {"orders": [ser.order_json(o) for o in page_o], "cursor": next_o}


def _trade_over_time(sim: SimHarness, clock: ManualClock, steps: int) -> tuple[str, float]:
    """Every STEP_S seconds, in A, B and OTHER in turn: the account takes an ask (a trade and
    a fill, an executed order), rests a bid and cancels every other one; (its account, start)."""
    for t in (A, B):
        sim.create_market(t, event_ticker="KXHIST-26JAN01", series_ticker="KXHIST")
    sim.create_market(OTHER, event_ticker="KXHIST-26JAN02", series_ticker="KXHIST")
    other = sim.new_account(balance_cents=10**9)
    start = clock.wall()
    for step in range(steps):
        t = (A, B, OTHER)[step % 3]
        place(sim, other, order(t, "ask", "0.40", "3"))
        place(sim, sim.account, order(t, "bid", "0.40", "2", "immediate_or_cancel"))
        place(sim, sim.account, order(t, "bid", "0.40", "1", "immediate_or_cancel"))
        resting = place(sim, sim.account, order(t, "bid", f"0.{10 + step}", "1"))
        if step % 2:
            gone = sim.signed(sim.account, "DELETE", f"/portfolio/events/orders/{resting}")
            assert gone.status_code == 200
        clock.advance(STEP_S)
    exchange = sim.running.state.exchange
    account = exchange.subaccounts.account_by_key(sim.account.key_id)
    assert account is not None
    return account.account_id, start


def _wait(done: Callable[[], bool]) -> None:
    wait_until(done, "the simulator's thread to move the orders")


def _wait_still(read: Callable[[], object]) -> None:
    """Until two reads 50 ms apart agree (no move under way on the simulator's thread)."""
    last = [read()]

    def still() -> bool:
        time.sleep(0.05)  # the 50 ms between two reads are what "still" means, not a wait
        before, last[0] = last[0], read()
        return last[0] == before

    wait_until(still, "two reads 50 ms apart to agree")


_LIVE_PATHS = {
    "trades": "/markets/trades",
    "fills": "/portfolio/fills",
    "orders": "/portfolio/orders",
}


def _compare_every_page(
    sim: SimHarness,
    me: str,
    route: str,
    queries: list[dict[str, Any]],
    extra: list[str],
    *,
    live: bool = False,
    limits: tuple[int, ...] = (1, 2, 5, 1000),
) -> int:
    """Walks every page of each query at page sizes 1, 2, 5 and 1000, and asks each query with
    each cursor of `extra`, comparing each answer with the model's; how many pages compared.
    With `live`, the live tier's route of the same records."""
    model = _Model(sim, me)
    path = _LIVE_PATHS[route] if live else f"/historical/{route}"
    compared = 0
    for query in queries:
        for limit in limits:
            cursor = ""
            while True:
                params = {**query, "limit": limit, "cursor": cursor}
                body, now = _get(sim, path, params)
                assert body == model.answer(route, params, now, live=live), (route, params)
                compared += 1
                cursor = body["cursor"]
                if not cursor:
                    break
        for cursor in extra:
            params = {**query, "limit": 3, "cursor": cursor}
            body, now = _get(sim, path, params)
            assert body == model.answer(route, params, now, live=live), (route, params)
            compared += 1
    return compared


def _queries(start: float) -> list[dict[str, Any]]:
    mid = int(start) + 4 * STEP_S
    return [
        {},
        {"ticker": A},
        {"ticker": OTHER},
        {"min_ts": mid},
        {"max_ts": mid},
        {"min_ts": int(start) + STEP_S, "max_ts": mid + STEP_S},
        {"ticker": B, "min_ts": int(start) + STEP_S},
        {"ticker": A, "max_ts": mid},
        {"min_ts": int(start) + 100 * STEP_S},  # nothing
    ]


def _extra_cursors(ids: list[str]) -> list[str]:
    """The newest, oldest and a middle record's id (of every tier and market), one never
    issued and one of another shape."""
    return [ids[0], ids[len(ids) // 2], ids[-1], ids[0][:-12] + "f" * 12, "not-an-id"]


def _split_and_compare(
    sim: SimHarness,
    clock: ManualClock,
    me: str,
    start: float,
    cut_at_step: float,
    *,
    live: bool = True,
    limits: tuple[int, ...] = (1, 2, 5, 1000),
) -> None:
    """Moves the cutoff to `cut_at_step` and compares every page of both tiers (the live one
    with `live`) with the model. Each answer is also checked against the spec in the
    fixture's teardown, so the page sizes are few where the cost would only repeat."""
    lag = int(clock.wall() - (start + cut_at_step * STEP_S))
    set_lag(sim, lag_seconds=lag)
    exchange: Exchange = sim.running.state.exchange
    # the simulator's retention thread moves the trades due at its next tick: read the model
    # only once they have moved (a read during the move, from this thread, saw neither tier)
    steps_before = int(cut_at_step) + (cut_at_step % 1 > 0)  # the steps k < cut_at_step
    _wait(lambda: exchange.history.trade_tiers()[1] >= TRADES_PER_STEP * steps_before)
    # one tick moves the trades, then the fills, then the orders (on the simulator's thread):
    # wait for the last of them, and for the tiers to hold still, before the model is read
    cutoff = clock.wall() - lag
    _wait(lambda: exchange.history.order_tiers(me)[1] > 0)
    _wait_still(
        lambda: (
            exchange.history.trade_tiers(),
            exchange.history.fill_tiers(me),
            exchange.history.order_tiers(me),
        )
    )
    model = _Model(sim, me)
    due_trades = sum(t.ts < cutoff for t in model.trades)
    assert exchange.history.trade_tiers()[1] >= due_trades
    assert exchange.history.fill_tiers(me)[1] >= sum(f.ts < cutoff for f in model.fills)
    queries = _queries(start)
    trade_ids = [t.trade_id for t in model.trades]
    fill_ids = [f.fill_id for f in model.fills]
    order_ids = [o.order_id for o in model.orders]
    assert (
        _compare_every_page(sim, me, "trades", queries, _extra_cursors(trade_ids), limits=limits)
        > 50
    )
    for cursor in ("", trade_ids[-1]):  # the simulator makes no block trades
        block, _ = _get(sim, "/historical/trades", {"is_block_trade": "true", "cursor": cursor})
        assert block == {"trades": [], "cursor": ""}
    assert (
        _compare_every_page(sim, me, "fills", queries, _extra_cursors(fill_ids), limits=limits) > 50
    )
    assert (
        _compare_every_page(sim, me, "orders", queries, _extra_cursors(order_ids), limits=limits)
        > 50
    )
    if live:
        _compare_live(sim, me, start, model)


def _compare_live(sim: SimHarness, me: str, start: float, model: _Model) -> None:
    """The live routes' pages of the same records: their own filters too."""
    queries = _queries(start)
    trade_ids = [t.trade_id for t in model.trades]
    fill_ids = [f.fill_id for f in model.fills]
    order_ids = [o.order_id for o in model.orders]
    assert _compare_every_page(
        sim, me, "trades", queries, _extra_cursors(trade_ids), live=True, limits=(2, 1000)
    )
    for cursor in ("", trade_ids[-1]):  # the simulator makes no block trades
        block, _ = _get(sim, "/markets/trades", {"is_block_trade": "true", "cursor": cursor})
        assert block == {"trades": [], "cursor": ""}
    taken = sorted({f.order_id for f in model.fills})
    by_order = [{"order_id": taken[k]} for k in (0, len(taken) // 2, -1)]
    by_order.append({"order_id": taken[0], "ticker": OTHER})  # nothing
    assert _compare_every_page(
        sim, me, "fills", queries + by_order, _extra_cursors(fill_ids), live=True, limits=(2, 1000)
    )
    own: list[dict[str, Any]] = [
        {"status": "resting"},
        {"status": "canceled"},
        {"status": "executed", "ticker": A},
        {"event_ticker": "KXHIST-26JAN01"},
        {"event_ticker": "KXHIST-26JAN02", "min_ts": int(start) + 4 * STEP_S},
    ]
    assert _compare_every_page(
        sim, me, "orders", queries + own, _extra_cursors(order_ids), live=True, limits=(2, 1000)
    )


def test_historical_pages_are_the_whole_list_sliced_across_the_cutoff(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    sim = manual_sim
    sim.running.state.history.compact_after_seconds = 10**9  # only the cutoff moves records
    me, start = _trade_over_time(sim, manual_clock, 12)
    exchange: Exchange = sim.running.state.exchange
    assert exchange.history.trade_tiers() == (24, 0)
    # the cutoff between the 8th and 9th steps: two thirds of each tier archived
    _split_and_compare(sim, manual_clock, me, start, 7.5)
    archived_trades = exchange.history.trade_tiers()[1]
    assert 0 < archived_trades < 24
    # a longer lag: the store keeps what moved, but the cutoff (3.5 steps) serves part of it
    # live again; the historical pages leave those out
    _split_and_compare(sim, manual_clock, me, start, 3.5, live=False)
    assert exchange.history.trade_tiers()[1] == archived_trades


def test_both_tiers_read_the_same_from_compact_storage(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    """A served simulator stores a record compactly a minute after it is made (or finished),
    whatever the lag (`compact_after_seconds`; here at once): at the default lag every finished
    record is in the archives and served live from there, then at a cutoff both tiers, and
    every page of every filter is the whole-list answer."""
    sim = manual_sim
    sim.running.state.history.compact_after_seconds = 0
    me, start = _trade_over_time(sim, manual_clock, 12)
    exchange: Exchange = sim.running.state.exchange
    _wait(lambda: exchange.history.trade_tiers() == (0, 24))
    _wait(lambda: exchange.history.fill_tiers(me)[0] == 0)
    _wait(lambda: exchange.history.order_tiers(me)[0] == len(exchange.accounts.resting_orders(me)))
    assert exchange.history.order_tiers(me)[1] > 20
    model = _Model(sim, me)
    _compare_live(sim, me, start, model)
    _split_and_compare(sim, manual_clock, me, start, 7.5, limits=(2, 1000))


# the views the routes read, against the lists they stand for ---------------------------------


def test_the_views_walk_the_lists_from_every_record() -> None:
    """Live orders (resting ones among them, older than archived ones) and archived orders
    merged by id, trades of all markets and of one, fills: from the place `find` gives for any
    record's id, the walk goes on exactly as the list does after it; an unknown id is None."""
    exchange, me, _, _, _ = _orders_as_a_client(2)
    orders = exchange.history.orders(me)
    live, archived = exchange.history.order_tiers(me)
    assert live > 10 and archived > 100
    view = exchange.history.orders_newest_first(me)
    ids = [o.order_id for o in orders]
    assert [view.key(r) for r in view.walk()] == ids
    assert [repr(view.record(r)) for r in view.walk()][::7] == [repr(o) for o in orders][::7]
    for k, order_id in enumerate(ids):
        found = view.find(order_id)
        assert found is not None
        ref, after = found
        assert view.key(ref) == order_id
        o = orders[k]
        assert view.head(ref) == (o.ticker, o.status, o.created_time, o.last_update_time)
        assert [view.key(r) for r in itertools.islice(view.walk(*after), 5)] == ids[k + 1 : k + 6]
    assert view.find(ids[0][:-12] + "f" * 12) is None
    assert view.find("not-an-id") is None

    assert exchange.history.trade_tiers()[0] > 0 and exchange.history.trade_tiers()[1] > 0
    ticker = orders[0].ticker
    for one in (None, ticker):
        trades = exchange.history.trades(one)
        tview = exchange.history.trades_newest_first(one)
        assert len(tview) == len(trades)
        assert [tview.key(i) for i in range(len(tview))] == [t.trade_id for t in trades]
        assert [(tview.ts(i), tview.ticker(i)) for i in range(len(tview))] == [
            (t.ts, t.ticker) for t in trades
        ]
        for i in range(0, len(trades), 3):
            assert tview.record(i) == trades[i]
            assert tview.find(trades[i].trade_id) == i
    other = next(t for t in exchange.history.trades() if t.ticker != ticker)
    assert exchange.history.trades_newest_first(ticker).find(other.trade_id) is None

    fills = exchange.history.fills(me)
    assert exchange.history.fill_tiers(me)[1] > 0
    fview = exchange.history.fills_newest_first(me)
    assert [fview.key(i) for i in range(len(fview))] == [f.fill_id for f in fills]
    for i, f in enumerate(fills):
        assert (fview.ts(i), fview.ticker(i)) == (f.ts, f.ticker)
        assert fview.find(f.fill_id) == i
        if i % 5 == 0:
            assert fview.record(i) == f
    assert fview.find(fills[0].fill_id[:-12] + "f" * 12) is None


def test_a_record_made_exactly_at_the_cutoff_is_live_from_either_store(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    """A trade, a fill and an executed order at exactly `now - lag` are the live tier's
    (Kalshi: archived are those *before* the cutoff), whether they are still objects or
    already in the compact archives (found there by bisection on the time)."""
    sim = manual_sim
    sim.create_market(A, event_ticker="KXHIST-26JAN01", series_ticker="KXHIST")
    other = sim.new_account(balance_cents=10**9)
    exchange: Exchange = sim.running.state.exchange
    account = exchange.subaccounts.account_by_key(sim.account.key_id)
    assert account is not None
    me = account.account_id
    place(sim, other, order(A, "ask", "0.40", "3"))
    made = manual_clock.wall()
    taken = place(sim, sim.account, order(A, "bid", "0.40", "1", "immediate_or_cancel"))
    lag = 30  # whole seconds: `made + lag - lag` is `made` exactly (the same binade)
    manual_clock.advance(lag)
    set_lag(sim, lag_seconds=lag)

    for compact_after in (10**9, 0):  # objects, then the archives
        sim.running.state.history.compact_after_seconds = compact_after
        if compact_after == 0:
            _wait(lambda: exchange.history.fill_tiers(me) == (0, 1))
            _wait(lambda: exchange.history.order_tiers(me) == (0, 1))
            _wait(lambda: exchange.history.trade_tiers() == (0, 1))
        assert manual_clock.wall() - lag == made
        trades = sim.signed(sim.account, "GET", "/markets/trades").json()["trades"]
        old_trades = sim.signed(sim.account, "GET", "/historical/trades").json()["trades"]
        fills = sim.signed(sim.account, "GET", "/portfolio/fills").json()["fills"]
        old_fills = sim.signed(sim.account, "GET", "/historical/fills").json()["fills"]
        orders = sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"]
        old_orders = sim.signed(sim.account, "GET", "/historical/orders").json()["orders"]
        assert (len(trades), len(old_trades)) == (1, 0), compact_after
        assert ([f["order_id"] for f in fills], old_fills) == ([taken], []), compact_after
        assert ([o["order_id"] for o in orders], old_orders) == ([taken], []), compact_after
    manual_clock.advance(1)  # now each is before the cutoff
    trades = sim.signed(sim.account, "GET", "/markets/trades").json()["trades"]
    old_fills = sim.signed(sim.account, "GET", "/historical/fills").json()["fills"]
    assert trades == [] and [f["order_id"] for f in old_fills] == [taken]


def _trade(n: int, ts: float) -> SimTrade:  # unix seconds
    return SimTrade(f"t-{n:012x}", A, Decimal("0.40"), Decimal(1), BookSide.BID, ts)


def _tier_times(
    view: NewestFirst[SimTrade], spans: list[range], older: bool, cutoff: float
) -> list[float]:
    return sorted(view.ts(i) for span in spans for i in span if (view.ts(i) < cutoff) == older)


def test_a_views_spans_hold_every_record_of_its_tier() -> None:
    """The spans a listing reads (`spans_from`, `spans_before`) hold every record of their
    tier: live objects on either side of the cutoff (the retention moves them at the next
    tick), the archive's by bisection when its times ascend, and all of it when a clock
    stepped back left them out of order."""
    archive = TradeArchive()
    for n, ts in enumerate((1.0, 2.0, 3.0, 3.0, 5.0)):
        archive.append(_trade(n, ts))
    live = [_trade(10, 2.5), _trade(11, 6.0)]  # one made before the cutoff, not yet moved
    view = NewestFirst(live, lambda t: t.trade_id, archive.positions(), archive)
    for cutoff in (0.5, 2.0, 2.5, 3.0, 4.0, 7.0):
        every = sorted(view.ts(i) for i in range(len(view)))
        assert _tier_times(view, view.spans_before(cutoff), True, cutoff) == [
            ts for ts in every if ts < cutoff
        ], cutoff
        assert _tier_times(view, view.spans_from(cutoff), False, cutoff) == [
            ts for ts in every if ts >= cutoff
        ], cutoff
    # the live two, then the archive's 5.0 and both 3.0s; before it, its 1.0 and 2.0
    assert view.spans_from(3.0) == [range(2), range(2, 5)]
    assert view.spans_before(3.0) == [range(2), range(5, 7)]
    assert view.spans_from(0.0, 2.0, 3.0) == [range(2), range(3, 6)]  # 3.0, 3.0, 2.0
    assert view.spans_before(3.0, None, 1.5) == [range(2), range(6, 7)]  # 1.0
    archive.append(_trade(5, 4.0))  # the clock stepped back: no bisection any more
    view = NewestFirst(live, lambda t: t.trade_id, archive.positions(), archive)
    assert not archive.times_ascend and view.spans_from(3.0) == [range(len(view))]
    assert _tier_times(view, view.spans_from(3.0), False, 3.0) == [3.0, 3.0, 4.0, 5.0, 6.0]
