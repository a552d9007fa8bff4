"""A keyed account's finished orders past `orders_updated_ts` leave the live list for a compact
archive and every answer stays the same; candles read only their window of trades.

A served simulator kept every order its clients ever placed as a `SimOrder` (~1 KB each with
its ids and Decimals), so its memory grew with time. Kalshi serves an order canceled or
executed before `orders_updated_ts` from `/historical/orders` only (sim/core/historical.py); the
served exchange now moves such orders, on each tick, into `sim/core/trade_archive.py`'s
`OrderArchive` and reads them back from there (listings, lookups by id, the refusals that name
an order). The candle routes read the market's trades by bisection, only the window a request
needs, instead of rebuilding every archived trade.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.historical import (
    COMPACT_AFTER_S,
    DEFAULT_LAG_S,
    HistoryPolicy,
    attach_retention,
    bucket_end,
    candle_window,
    candles,
)
from kalshi_cli.sim.core.records import ExchangeError, SimOrder
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.sim.server.history import MarketHistory, candle_trades, candlesticks, period_ends
from kalshi_cli.vocabulary.clock import ManualClock, parse_iso
from kalshi_cli.vocabulary.units import ONE, BookSide, SelfTradePrevention, TimeInForce
from tests.conftest import SimHarness
from tests.runner.fakes import place_on_desk
from tests.sim.test_historical import OTHER, A, B, order, place, set_lag
from tests.waiting import wait_until

LAG_S = 60
# the exchange, the account, its clock, per minute (live, archived, must be live), mismatches
AsAClient = tuple[Exchange, str, ManualClock, list[tuple[int, int, int]], list[str]]


# an order list as read: its JSON text and the type of each order's every field
AsRead = tuple[bytes, list[tuple[type, ...]]]
_JSON = msgspec.json.Encoder()


def _as_read(orders: list[SimOrder]) -> AsRead:
    """The orders exactly as read, as exactly as their repr says them (each Decimal's digits and
    exponent, each float's every digit, an enum no plain string, a bool no int): a list read
    before and after each of thousands of ticks, at a fifth of the repr's cost."""
    return _JSON.encode(orders), [tuple(map(type, vars(o).values())) for o in orders]


def _orders_as_a_client(minutes: int, journal: Path | None = None) -> AsAClient:
    """A keyed account trading in the default scenario for `minutes` simulated minutes, the
    cutoff a minute behind: every second it takes a best YES ask (executed, or canceled when
    nothing is left), rests a far bid it cancels ten seconds later, and every ten seconds
    rests one with an expiry (some canceled before it, some left to expire) and one in an
    order group it triggers. After every tick its order list must read exactly as just before
    the retention moved anything; returns per minute (live held, archived, those a listing at
    the cutoff must still show live) and every mismatch seen."""
    clock = ManualClock()
    exchange = build_exchange("default", clock=clock, journal=journal)
    me = exchange.accounts.create_account(
        key_id="k", public_key_pem="pem", cash_cents=10**10
    ).account_id
    seen: list[str] = []

    def before_retention(now: float) -> None:  # unix seconds
        # the whole list is read (at a few ms) only on a tick the retention can move one of
        # its orders: a finished one last updated before the retention's boundary, which is
        # never later than `now - min(lag, compact_after)`. On any other tick the store as it
        # stood is kept (the live orders themselves and the archive's length): should the
        # retention move anything then, it changes and the tick is a mismatch of its own
        live, archive = exchange.history.order_store(me)
        stood.append((list(live), len(archive or ())))
        due = now - min(LAG_S, COMPACT_AFTER_S)
        if any(o.status != "resting" and o.last_update_time < due for o in live):
            before.append(_as_read(exchange.history.orders(me)))

    before: list[AsRead] = []
    stood: list[tuple[list[SimOrder], int]] = []
    read_ticks = 0
    exchange.add_tick_hook(before_retention)  # runs before the retention's hook
    attach_retention(exchange, HistoryPolicy(lag_seconds=LAG_S))
    group = exchange.groups.create_order_group(me, Decimal(5))
    tickers = sorted(exchange.reference.markets)
    to_cancel: list[tuple[float, str]] = []
    by_minute = []
    for minute in range(minutes):
        for second in range(60):
            now = clock.wall()
            ticker = tickers[(minute * 60 + second) % len(tickers)]
            _, no_bid = exchange.engine.best_bids(ticker)
            if no_bid is not None:
                place_on_desk(
                    exchange,
                    me,
                    ticker,
                    BookSide.BID,
                    ONE - no_bid,
                    1,
                    time_in_force=TimeInForce.IOC,
                    client_order_id=f"take-{minute}-{second}",
                )
            far = place_on_desk(exchange, me, ticker, BookSide.BID, "0.01", 2).order
            to_cancel.append((now + 10, far.order_id))
            if second % 10 == 0:
                expiring = place_on_desk(
                    exchange, me, ticker, BookSide.BID, "0.02", 1, expiration_time=int(now) + 90
                ).order
                if second % 20 == 0:
                    to_cancel.append((now + 1, expiring.order_id))
                place_on_desk(
                    exchange,
                    me,
                    ticker,
                    BookSide.BID,
                    "0.03",
                    1,
                    order_group_id=group.order_group_id,
                )
                # triggering cancels its resting orders, archived ones among the group's ids
                exchange.groups.trigger_order_group(me, group.order_group_id)
                exchange.groups.reset_order_group(me, group.order_group_id)
            while to_cancel and to_cancel[0][0] <= now:
                _, order_id = to_cancel.pop(0)
                if exchange.history.order(me, order_id).status == "resting":
                    exchange.desk.cancel_order(me, order_id)
            for _ in range(10):
                clock.advance(0.1)
                before.clear()
                stood.clear()
                exchange.tick()
                if before:
                    read_ticks += 1
                    if before[0] != _as_read(exchange.history.orders(me)):
                        seen.append(f"minute {minute} second {second}: the list changed")
                else:
                    ((live_then, archived_then),) = stood
                    live_now, archive_now = exchange.history.order_store(me)
                    if len(archive_now or ()) != archived_then or not (
                        len(live_now) == len(live_then)
                        and all(a is b for a, b in zip(live_now, live_then, strict=True))
                    ):
                        seen.append(f"minute {minute} second {second}: moved, not due")
        cutoff = clock.wall() - LAG_S
        live, archived = exchange.history.order_tiers(me)
        must_be_live = sum(
            o.status == "resting" or o.last_update_time >= cutoff
            for o in exchange.history.orders(me)
        )
        by_minute.append((live, archived, must_be_live))
    # the retention moved orders on many ticks, and each of those was read before and after
    assert read_ticks > 10 * minutes, read_ticks
    return exchange, me, clock, by_minute, seen


@pytest.fixture(scope="module")
def four_minutes() -> AsAClient:
    """Four minutes of `_orders_as_a_client`, made once for the tests that only read it or are
    refused by it: CPU-bound on a manual clock (the whole order list read and written out before
    and after each of the ~190 of its 2,400 ticks that can move an order), ten times slower
    under coverage on a busy machine."""
    return _orders_as_a_client(4)


@pytest.mark.slow
def test_finished_orders_past_the_cutoff_leave_the_live_list_and_read_back_the_same(
    four_minutes: AsAClient,
) -> None:
    exchange, me, _, by_minute, seen = four_minutes
    assert seen == []  # every tick: the same orders, fields, Decimals and order, archived or not
    for minute, (live, _, must_be_live) in enumerate(by_minute, start=1):
        # the live list holds the resting orders and those updated within the lag, no more
        assert live == must_be_live, (minute, live, must_be_live)
    live, archived, _ = by_minute[-1]
    assert archived > 2 * live  # three of four minutes are past the cutoff
    every = exchange.history.orders(me)
    assert [o.created_time for o in every] == sorted((o.created_time for o in every), reverse=True)
    statuses = {o.status for o in every}
    assert statuses == {"resting", "canceled", "executed"}
    for o in every:  # each archived order is found by id, as it was
        assert repr(exchange.history.order(me, o.order_id)) == repr(o)


@pytest.mark.slow
def test_an_archived_order_is_refused_as_a_finished_one_and_its_client_id_stays_used(
    four_minutes: AsAClient,
) -> None:
    exchange, me, _, _, _ = four_minutes
    archived = exchange.history.orders(me)[exchange.history.order_tiers(me)[0] :]
    executed = next(o for o in archived if o.status == "executed")
    assert executed.client_order_id.startswith("take-")
    refusals: list[tuple[int, str, str]] = []
    attempts: list[Callable[[], Any]] = [
        lambda: exchange.desk.cancel_order(me, executed.order_id),
        lambda: exchange.desk.decrease_order(
            me, executed.order_id, reduce_by=Decimal(1), reduce_to=None
        ),
        lambda: exchange.desk.amend_order(
            me,
            executed.order_id,
            ticker=executed.ticker,
            book_side=executed.book_side,
            price=executed.price,
            count=Decimal(3),
        ),
        lambda: place_on_desk(
            exchange,
            me,
            executed.ticker,
            BookSide.BID,
            "0.01",
            1,
            client_order_id=executed.client_order_id,
        ),
        lambda: exchange.history.order("someone-else", executed.order_id),
    ]
    for attempt in attempts:
        try:
            attempt()
        except ExchangeError as exc:
            refusals.append((exc.status, exc.code, exc.message))
    assert refusals[0][:2] == (404, "not_found")  # cancel: no longer rests
    assert refusals[1][:2] == (400, "order_not_resting")
    assert refusals[1][2] == f"order {executed.order_id} is executed"
    assert refusals[2][:2] == (400, "order_not_resting")
    assert refusals[3][0] == 409  # the client order id is still taken
    assert len(refusals) == 5


@pytest.mark.slow
def test_a_restart_keeps_the_archived_orders(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    exchange, me, _, _, _ = _orders_as_a_client(2, journal)
    orders, tiers = repr(exchange.history.orders(me)), exchange.history.order_tiers(me)
    assert tiers[1] > 0
    exchange.compact()  # the snapshot holds the archive
    exchange.close()
    again = build_exchange("default", clock=ManualClock(), journal=journal)
    assert again.restored and again.history.order_tiers(me) == tiers
    assert repr(again.history.orders(me)) == orders
    again.close()


@pytest.mark.slow
def test_a_read_from_a_time_on_leaves_out_only_archived_orders_updated_before_it(
    four_minutes: AsAClient,
) -> None:
    exchange, me, clock, _, _ = four_minutes
    every = exchange.history.orders(me)
    cutoff = clock.wall() - LAG_S  # the last tick's: what it left live
    live = {o.order_id for o in every if o.status == "resting" or o.last_update_time >= cutoff}
    assert len(live) == exchange.history.order_tiers(me)[0]
    old = [o for o in every if o.order_id not in live]
    middle = sorted(o.last_update_time for o in old)[len(old) // 2]
    assert exchange.history.orders(me, since=middle) == [
        o for o in every if o.order_id in live or o.last_update_time >= middle
    ]
    assert exchange.history.orders(me, since=float("inf")) == [
        o for o in every if o.order_id in live
    ]


# candles read their window of trades ----------------------------------------------------------


def test_candles_from_their_window_equal_candles_from_every_trade() -> None:
    """Against the answer from every trade (what the routes read before): random windows,
    every period length, over a market's archived and live trades (many share a tick's time)."""
    clock = ManualClock()
    exchange = build_exchange("default", clock=clock)
    history = MarketHistory()
    history.attach(exchange, clock)
    attach_retention(exchange, HistoryPolicy(lag_seconds=LAG_S))
    start = clock.wall()
    for _ in range(3 * 600):
        clock.advance(0.1)
        exchange.tick()
    assert exchange.history.trade_tiers()[1] > 0 and exchange.history.trade_tiers()[0] > 0
    rng = random.Random(17)
    now = clock.wall()
    checked = 0
    for ticker in sorted(exchange.reference.markets):
        every = exchange.history.trades(ticker)
        if len(every) < 5:
            continue
        timeline = exchange.history.trade_timeline(ticker)
        assert timeline.between(0, len(timeline)) == every[::-1]
        market = exchange.reference.markets[ticker]
        for _ in range(40):
            lo = int(start) - 120 + rng.randrange(int(now - start) + 240)
            hi = lo + rng.randrange(400)
            for period_min in (1, 60, 1440):
                whole = candles(every, lo, hi, period_min, market.open_interest)
                window = candle_window(timeline, lo, hi, period_min)
                assert candles(window, lo, hi, period_min, market.open_interest) == whole
                assert len(window) <= len(every)
                period_s = period_min * 60
                ends = period_ends(lo, hi, period_s, market.created_time, now)
                for latest in (False, True):
                    track = history.track(ticker)
                    assert candlesticks(
                        track,
                        candle_trades(timeline, ends, period_s),
                        ends,
                        period_s,
                        include_latest_before_start=latest,
                    ) == candlesticks(
                        track, every[::-1], ends, period_s, include_latest_before_start=latest
                    )
            checked += 1
    assert checked >= 40
    # the window of the first minute that saw a trade is that minute's trades, no others
    ticker = max(exchange.reference.markets, key=lambda t: len(exchange.history.trades(t)))
    every = exchange.history.trades(ticker)
    first_end = bucket_end(every[-1].ts, 60)
    window = candle_window(exchange.history.trade_timeline(ticker), first_end, first_end, 1)
    assert window == [t for t in every if bucket_end(t.ts, 60) == first_end]
    assert 0 < len(window) < len(every)


# the served answers, byte for byte ------------------------------------------------------------


def _get(sim: SimHarness, path: str, **params: Any) -> Any:
    """A signed GET, the clock moved on by what refills one read of the rate limit."""
    clock = sim.running.state.clock
    assert isinstance(clock, ManualClock)
    clock.advance(0.05)
    return sim.signed(sim.account, "GET", path, params=params)


def _pages(sim: SimHarness, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a signed listing, two at a time (so the cursor crosses the cutoff)."""
    out: list[dict[str, Any]] = []
    cursor = ""
    while True:
        response = _get(sim, path, **params, limit=2, cursor=cursor)
        assert response.status_code == 200, response.text
        body = response.json()
        out.extend(body[key])
        cursor = body["cursor"]
        if not cursor:
            return out


_ORDER_QUERIES: dict[str, dict[str, Any]] = {
    "all": {},
    "resting": {"status": "resting"},
    "canceled": {"status": "canceled"},
    "executed": {"status": "executed"},
    "A": {"ticker": A},
    "event": {"event_ticker": "KXHIST-26JAN01"},
}


def _answers(sim: SimHarness, ids: list[str], window: tuple[int, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, query in _ORDER_QUERIES.items():
        out[f"orders {name}"] = _pages(sim, "/portfolio/orders", "orders", **query)
    out["orders since"] = _pages(sim, "/portfolio/orders", "orders", min_ts=window[0])
    out["historical orders"] = _pages(sim, "/historical/orders", "orders")
    out["historical orders A"] = _pages(sim, "/historical/orders", "orders", ticker=A)
    out["fills"] = _pages(sim, "/portfolio/fills", "fills")
    out["historical fills"] = _pages(sim, "/historical/fills", "fills")
    for order_id in ids:
        response = _get(sim, f"/portfolio/orders/{order_id}")
        out[f"order {order_id}"] = (response.status_code, response.text)
    for t in (A, B, OTHER):
        trades = _get(sim, "/markets/trades", ticker=t)
        old = _get(sim, "/historical/trades", ticker=t)
        out[f"trades {t}"] = (trades.text, old.text)
        for lo, hi, period in ((window[0] - 3600, window[1], 1), (*window, 60)):
            query = {"start_ts": lo, "end_ts": hi, "period_interval": period}
            live = _get(
                sim,
                f"/series/KXHIST/markets/{t}/candlesticks",
                **query,
                include_latest_before_start="true",
            )
            historical = _get(sim, f"/historical/markets/{t}/candlesticks", **query)
            out[f"candles {t} {lo} {period}"] = (live.text, historical.text)
    return out


def _wait_archived(exchange: Exchange, account_id: str, count: int) -> None:
    wait_until(
        lambda: exchange.history.order_tiers(account_id)[1] >= count,
        lambda: (
            f"{count} archived orders (live, archived: {exchange.history.order_tiers(account_id)})"
        ),
    )


def test_served_orders_fills_trades_and_candles_read_the_same_across_the_cutoff(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    sim = manual_sim
    sim.running.state.history.compact_after_seconds = 10**9  # only the cutoff moves records
    for t in (A, B):
        sim.create_market(t, event_ticker="KXHIST-26JAN01", series_ticker="KXHIST")
    sim.create_market(OTHER, event_ticker="KXHIST-26JAN02", series_ticker="KXHIST")
    other = sim.new_account()
    start = int(manual_clock.wall())
    ids: list[str] = []
    for step, t in enumerate((A, B, OTHER, A, B, OTHER)):
        place(sim, other, order(t, "ask", "0.40", "2"))
        ids.append(place(sim, sim.account, order(t, "bid", "0.40", "1", "immediate_or_cancel")))
        ids.append(place(sim, sim.account, order(t, "bid", f"0.1{step}", "1")))
        if step % 2:  # every other one canceled; the rest rest
            gone = sim.signed(sim.account, "DELETE", f"/portfolio/events/orders/{ids[-1]}")
            assert gone.status_code == 200
        manual_clock.advance(20)
    sim.settle(OTHER, "yes")  # its candles move to the historical tier with it
    manual_clock.advance(20)
    window = (start, int(manual_clock.wall()))
    exchange = sim.running.state.exchange
    account = exchange.subaccounts.account_by_key(sim.account.key_id)
    assert account is not None
    me = account.account_id
    unarchived = _answers(sim, ids, window)  # at the default lag nothing has moved
    assert exchange.history.order_tiers(me) == (12, 0)
    assert len(unarchived["orders all"]) == 12 and unarchived["historical orders"] == []

    # the cutoff between the third and fourth steps (each read moves the clock 50 ms; the
    # steps are 20 s apart): what was finished before it moves
    lag = int(manual_clock.wall() - (start + 50))
    set_lag(sim, lag_seconds=lag)
    cutoff = start + 50
    finished_before = {
        o["order_id"]
        for o in unarchived["orders all"]
        if o["status"] != "resting" and parse_iso(o["last_update_time"]).timestamp() < cutoff
    }
    assert len(finished_before) == 4  # three takes and a canceled bid
    _wait_archived(exchange, me, len(finished_before))
    split = _answers(sim, ids, window)
    for name in _ORDER_QUERIES:
        assert split[f"orders {name}"] == [
            o for o in unarchived[f"orders {name}"] if o["order_id"] not in finished_before
        ], name
    assert split["historical orders"] == [
        o for o in unarchived["orders all"] if o["order_id"] in finished_before
    ]
    assert split["historical orders A"] == [
        o for o in unarchived["orders A"] if o["order_id"] in finished_before
    ]
    missing = _get(sim, "/portfolio/orders/" + ids[0][:-12] + "f" * 12)
    for order_id in finished_before:  # archived: a 404 like an id never issued
        assert split[f"order {order_id}"] == (404, missing.text)

    set_lag(sim, lag_seconds=DEFAULT_LAG_S)  # the cutoff moves back: all live again, from
    assert exchange.history.order_tiers(me)[1] == len(finished_before)  # the archive
    assert _answers(sim, ids, window) == unarchived

    set_lag(sim, lag_seconds=0)  # everything finished moves; OTHER's candles go historical
    _wait_archived(exchange, me, 10)
    assert exchange.history.order_tiers(me) == (
        2,
        10,
    )  # the bids on A and B rest (OTHER's: settled)
    everything = _answers(sim, ids, window)
    assert everything["historical orders"] == [
        o for o in unarchived["orders all"] if o["status"] != "resting"
    ]
    assert everything["orders all"] == unarchived["orders resting"]
    assert everything["historical fills"] == unarchived["fills"]
    set_lag(sim, lag_seconds=DEFAULT_LAG_S)
    assert _answers(sim, ids, window) == unarchived


def test_the_order_archive_reads_back_odd_values_exactly() -> None:
    from kalshi_cli.sim.core.trade_archive import OrderArchive

    base = SimOrder(
        "abcdefgh-0000-4000-8000-00000000000a",
        "acct",
        "my-client-id",
        "M1",
        BookSide.BID,
        Decimal("0.50"),
        Decimal("3"),
        Decimal("3.00"),
        Decimal("0"),
        "executed",
        TimeInForce.GTC,
        True,
        False,
        SelfTradePrevention.MAKER,
        1_800_000_000,
        1.25,
        2.5,
        Decimal("1.5"),
        Decimal("0"),
        Decimal("0.02"),
        Decimal("0.00"),
        True,
        Decimal("0.0001"),
        "group-1",
    )
    made = [
        base,
        dataclasses.replace(
            base,
            order_id="abcdefgh-0000-4000-8000-000000000002",
            client_order_id=base.order_id,
            price=Decimal("0.5"),
            status="canceled",
            post_only=False,
            expiration_time=None,
            order_group_id=None,
            last_update_time=1e9 + 0.123456,
        ),
    ]
    archive = OrderArchive()
    for o in made:
        archive.append(o)
    assert repr([o for _, o in archive.newest_first()]) == repr(made)  # counter 0xa above 2
    assert repr(archive.find(base.order_id)) == repr(base)
    assert archive.find("abcdefgh-0000-4000-8000-00000000000b") is None
    assert archive.find("not-an-id") is None
    assert [o for _, o in archive.newest_first(since=2.6)] == made[1:]
    assert list(archive.newest_first(since=2e9)) == []
