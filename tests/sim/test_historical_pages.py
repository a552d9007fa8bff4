"""`/historical/trades`, `/historical/fills` and `/historical/orders` page by page, across the
cutoff, against the answer the routes gave when each page was cut from the whole filtered list
(issue #17 item 6, session 9).

Each route now reads from its cursor's place in the tier instead of rebuilding the whole tier
for every page; these tests pin that every page, cursor included, is what the list-then-slice
answer was: for every filter the route has, several page sizes, the cursors it hands out and
cursors it does not (another filter's record, a live record, an id never issued, another
shape), with the archive's store holding records of both tiers (a lag lengthened after they
moved). The model below is that answer: the exchange's records newest first, split at the
request's cutoff, filtered, then `_old_paginate` (the simulator's `paginate`: a cursor naming
no listed record is the first page).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kalshi_cli.clock import ManualClock
from kalshi_cli.sim import serialize as ser
from kalshi_cli.sim.core import Exchange
from tests.conftest import SimHarness
from tests.sim.test_historical import OTHER, A, B, order, place, set_lag
from tests.sim.test_order_retention import _orders_as_a_client

T = TypeVar("T")
STEP_S = 100  # the records' times are this far apart: the reads below move the clock less


def _old_paginate(
    items: list[T], key: Callable[[T], str], limit: int, cursor: str | None
) -> tuple[list[T], str]:
    start = 0
    if cursor:
        keys = [key(i) for i in items]
        if cursor in keys:
            start = keys.index(cursor) + 1
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
        self.trades = exchange.trades()
        self.fills = exchange.fills(me)
        self.orders = exchange.orders(me)

    def answer(self, route: str, params: dict[str, Any], now: float) -> dict[str, Any]:
        cutoff = now - self.lag
        limit = params.get("limit") or 100
        ticker = params.get("ticker")
        lo, hi = params.get("min_ts"), params.get("max_ts")
        cursor = params.get("cursor")
        if route == "trades":
            trades = [
                t
                for t in self.trades
                if t.ts < cutoff
                and (ticker is None or t.ticker == ticker)
                and _within(t.ts, lo, hi)
            ]
            page_t, next_t = _old_paginate(trades, lambda t: t.trade_id, limit, cursor)
            return {"trades": [ser.trade_json(t) for t in page_t], "cursor": next_t}
        if route == "fills":
            fills = [
                f
                for f in self.fills
                if f.ts < cutoff
                and (ticker is None or f.ticker == ticker)
                and _within(f.ts, lo, hi)
            ]
            page_f, next_f = _old_paginate(fills, lambda f: f.fill_id, limit, cursor)
            return {"fills": [ser.fill_json(f) for f in page_f], "cursor": next_f}
        orders = [
            o
            for o in self.orders
            if o.status != "resting"
            and o.last_update_time < cutoff
            and (ticker is None or o.ticker == ticker)
            and _within(o.created_time, lo, hi)
        ]
        page_o, next_o = _old_paginate(orders, lambda o: o.order_id, limit, cursor)
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
    account = exchange.account_by_key(sim.account.key_id)
    assert account is not None
    return account.account_id, start


def _wait(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _compare_every_page(
    sim: SimHarness, me: str, route: str, queries: list[dict[str, Any]], extra: list[str]
) -> int:
    """Walks every page of each query at page sizes 1, 2, 5 and 1000, and asks each query with
    each cursor of `extra`, comparing each answer with the model's; how many pages compared."""
    model = _Model(sim, me)
    compared = 0
    for query in queries:
        for limit in (1, 2, 5, 1000):
            cursor = ""
            while True:
                params = {**query, "limit": limit, "cursor": cursor}
                body, now = _get(sim, f"/historical/{route}", params)
                assert body == model.answer(route, params, now), (route, params)
                compared += 1
                cursor = body["cursor"]
                if not cursor:
                    break
        for cursor in extra:
            params = {**query, "limit": 3, "cursor": cursor}
            body, now = _get(sim, f"/historical/{route}", params)
            assert body == model.answer(route, params, now), (route, params)
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
    sim: SimHarness, clock: ManualClock, me: str, start: float, cut_at_step: float
) -> None:
    lag = int(clock.wall() - (start + cut_at_step * STEP_S))
    set_lag(sim, lag_seconds=lag)
    exchange: Exchange = sim.running.state.exchange
    model = _Model(sim, me)
    cutoff = clock.wall() - lag
    # the retention moves what is due at the next tick: wait until the store holds it
    due_trades = sum(t.ts < cutoff for t in model.trades)
    _wait(lambda: exchange.trade_tiers()[1] >= due_trades)
    _wait(lambda: exchange.fill_tiers(me)[1] >= sum(f.ts < cutoff for f in model.fills))
    assert exchange.order_tiers(me)[1] > 0
    queries = _queries(start)
    trade_ids = [t.trade_id for t in model.trades]
    fill_ids = [f.fill_id for f in model.fills]
    order_ids = [o.order_id for o in model.orders]
    assert _compare_every_page(sim, me, "trades", queries, _extra_cursors(trade_ids)) > 100
    for cursor in ("", trade_ids[-1]):  # the simulator makes no block trades
        block, _ = _get(sim, "/historical/trades", {"is_block_trade": "true", "cursor": cursor})
        assert block == {"trades": [], "cursor": ""}
    assert _compare_every_page(sim, me, "fills", queries, _extra_cursors(fill_ids)) > 100
    assert _compare_every_page(sim, me, "orders", queries, _extra_cursors(order_ids)) > 100


def test_historical_pages_are_the_whole_list_sliced_across_the_cutoff(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    sim = manual_sim
    me, start = _trade_over_time(sim, manual_clock, 12)
    exchange: Exchange = sim.running.state.exchange
    assert exchange.trade_tiers() == (24, 0)
    # the cutoff between the 8th and 9th steps: two thirds of each tier archived
    _split_and_compare(sim, manual_clock, me, start, 7.5)
    archived_trades = exchange.trade_tiers()[1]
    assert 0 < archived_trades < 24
    # a longer lag: the store keeps what moved, but the cutoff (3.5 steps) serves part of it
    # live again; the historical pages leave those out
    _split_and_compare(sim, manual_clock, me, start, 3.5)
    assert exchange.trade_tiers()[1] == archived_trades


# the views the routes read, against the lists they stand for ---------------------------------


def test_the_views_walk_the_lists_from_every_record() -> None:
    """Live orders (resting ones among them, older than archived ones) and archived orders
    merged by id, trades of all markets and of one, fills: from the place `find` gives for any
    record's id, the walk goes on exactly as the list does after it; an unknown id is None."""
    exchange, me, _, _, _ = _orders_as_a_client(2)
    orders = exchange.orders(me)
    live, archived = exchange.order_tiers(me)
    assert live > 10 and archived > 100
    view = exchange.orders_newest_first(me)
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

    assert exchange.trade_tiers()[0] > 0 and exchange.trade_tiers()[1] > 0
    ticker = orders[0].ticker
    for one in (None, ticker):
        trades = exchange.trades(one)
        tview = exchange.trades_newest_first(one)
        assert len(tview) == len(trades)
        assert [tview.key(i) for i in range(len(tview))] == [t.trade_id for t in trades]
        assert [(tview.ts(i), tview.ticker(i)) for i in range(len(tview))] == [
            (t.ts, t.ticker) for t in trades
        ]
        for i in range(0, len(trades), 3):
            assert tview.record(i) == trades[i]
            assert tview.find(trades[i].trade_id) == i
    other = next(t for t in exchange.trades() if t.ticker != ticker)
    assert exchange.trades_newest_first(ticker).find(other.trade_id) is None

    fills = exchange.fills(me)
    assert exchange.fill_tiers(me)[1] > 0
    fview = exchange.fills_newest_first(me)
    assert [fview.key(i) for i in range(len(fview))] == [f.fill_id for f in fills]
    for i, f in enumerate(fills):
        assert (fview.ts(i), fview.ticker(i)) == (f.ts, f.ticker)
        assert fview.find(f.fill_id) == i
        if i % 5 == 0:
            assert fview.record(i) == f
    assert fview.find(fills[0].fill_id[:-12] + "f" * 12) is None
