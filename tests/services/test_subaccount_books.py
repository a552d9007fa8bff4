"""Each subaccount is its own book: positions, cost and P&L from the state file per subaccount.

Kalshi keeps a position per (subaccount, market) (openapi.yaml 3.31.0: `subaccount_number` on
orders and fills, `/portfolio/positions` answering for one subaccount). One market bought on
subaccount 0 and sold on subaccount 1 is two positions with their own costs, not one netted
position: the sale on 1 realizes nothing against the purchase on 0. The state file records each
order's and fill's subaccount (migration 0003_order_fill_subaccount), so a per-subaccount view
replays only that subaccount's fills and the account-wide P&L is the sum of the subaccounts'
books.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import check_positions, rebuild
from kalshi_cli.services.pnl import fill_record_from_api, realized_per_fill
from kalshi_cli.store import Store, migrations
from kalshi_cli.store.values import dec_text
from kalshi_cli.vocabulary.models import Fill
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, funded_subaccount, make_markets, state_path


def bought_on_0_and_sold_on_1(client: KalshiClient, other: KalshiClient, ticker: str) -> None:
    """Subaccount 0 of `client` buys 10 YES at 0.40, then subaccount 1 sells 5 YES at 0.50,
    each from an order of `other` resting for it."""
    other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(10)))
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(10)))
    other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.50"), D(5)))
    client.subaccount = 1
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.50"), D(5)))
    client.subaccount = None


@pytest.fixture
def two_books(prime: SimHarness, client: KalshiClient) -> Iterator[tuple[str, list[Fill]]]:
    """One market traded on subaccounts 0 and 1: subaccount 0 buys 10 YES at 0.40 and sells 4
    at 0.55 (realizing 4 x 0.15 gross); between the two, subaccount 1 sells 5 YES at 0.50
    (holding 5 NO at 0.50 each). Netted as one book, the sale on 1 would close 5 of 0's YES."""
    (ticker,) = make_markets(prime, 1)
    number = funded_subaccount(client)
    assert number == 1
    with connect(prime.new_account(balance_cents=100_000)) as other:
        bought_on_0_and_sold_on_1(client, other, ticker)
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.55"), D(4)))
        client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.55"), D(4)))
    fills = list(client.portfolio.iter_fills())  # every subaccount's (the listing's default)
    assert sorted(f.raw["subaccount_number"] for f in fills) == [0, 0, 1]
    yield ticker, fills


def _json(kalshi: Kalshi, *args: str) -> dict[str, Any]:
    result = kalshi(*args, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _fees(fills: list[Fill], subaccount: int | None = None) -> D:
    return sum((f.fee for f in fills if subaccount in (None, f.raw["subaccount_number"])), D(0))


def test_positions_per_subaccount_come_from_that_subaccounts_fills(
    two_books: tuple[str, list[Fill]], kalshi: Kalshi
) -> None:
    ticker, fills = two_books
    assert kalshi("reconcile").exit_code == 0
    (zero,) = _json(kalshi, "positions", "--subaccount", "0")["positions"]
    assert (zero["ticker"], zero["side"], zero["contracts"]) == (ticker, "yes", "6.00")
    # 6 of the 10 bought at 0.40 left: the sale on subaccount 1 closed none of them
    assert (zero["average_entry"], zero["cost"]) == ("0.4000", "2.4000")
    assert D(zero["realized_pnl_gross"]) == D("0.60")
    assert D(zero["fees"]) == _fees(fills, 0)
    assert zero["differences"] == []
    (one,) = _json(kalshi, "positions", "--subaccount", "1")["positions"]
    assert (one["ticker"], one["side"], one["contracts"]) == (ticker, "no", "5.00")
    assert (one["average_entry"], one["cost"]) == ("0.5000", "2.5000")
    assert D(one["realized_pnl_gross"]) == 0
    assert D(one["fees"]) == _fees(fills, 1)
    assert one["differences"] == []
    # without --subaccount: the exchange's default, subaccount 0
    assert _json(kalshi, "positions")["positions"] == [zero]


def test_pnl_per_subaccount_and_the_account_wide_sum(
    two_books: tuple[str, list[Fill]], kalshi: Kalshi
) -> None:
    ticker, fills = two_books
    assert kalshi("reconcile").exit_code == 0
    whole = _json(kalshi, "pnl", "--local")
    # the sum of the two books, not one netted book (which would realize 0.50 more)
    assert D(whole["realized_gross"]) == D("0.60")
    assert D(whole["fees"]) == _fees(fills)
    assert whole["by_market"][ticker]["fills"] == 3
    per = {n: _json(kalshi, "pnl", "--local", "--subaccount", str(n)) for n in (0, 1)}
    assert D(per[0]["realized_gross"]) == D("0.60")
    assert D(per[1]["realized_gross"]) == 0
    for n in (0, 1):
        assert D(per[n]["fees"]) == _fees(fills, n)
        assert per[n]["by_market"][ticker]["fills"] == (2 if n == 0 else 1)
    assert D(whole["fees"]) == D(per[0]["fees"]) + D(per[1]["fees"])
    assert D(whole["realized"]) == D(per[0]["realized"]) + D(per[1]["realized"])
    # with the exchange: marked and cross-checked on the subaccount named, no difference
    checked = _json(kalshi, "pnl", "--subaccount", "1")
    assert checked["differences"] == []
    assert D(checked["realized_gross"]) == 0


def test_the_trade_loop_on_one_subaccount_starts_from_that_subaccounts_book(
    two_books: tuple[str, list[Fill]], client: KalshiClient, kalshi: Kalshi, tmp_path: Any
) -> None:
    """The loop's start compares the replayed positions with the exchange's of its subaccount:
    another subaccount's fills in the state file are not a difference that refuses trading."""
    ticker, _ = two_books
    assert kalshi("reconcile").exit_code == 0
    with Store.open(state_path(tmp_path)) as store:
        for number, held in ((None, D(6)), (1, D(-5))):
            client.subaccount = number
            portfolio = Portfolio([])
            if number is None:  # the loop's default: subaccount 0
                rebuild(store, portfolio)
            else:
                rebuild(store, portfolio, number)
            assert portfolio.position(ticker) == held
            check_positions(client, portfolio)


def test_a_state_file_from_before_subaccounts_learns_them_from_the_exchange(
    two_books: tuple[str, list[Fill]], client: KalshiClient, kalshi: Kalshi, tmp_path: Any
) -> None:
    """A file written before migration 0003 holds the same fills with no subaccount. The
    migration makes them the primary's and forgets the catch-up cursor, so the next read
    command reads every fill again and moves each to the subaccount the exchange lists it
    under, its order too, and the realized P&L of each fill is that of its own book."""
    ticker, fills = two_books
    client.subaccount = 1
    resting = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.10"), D(2)))
    client.subaccount = None
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrations.apply_pending(conn, 1.0, [migrations.INITIAL, migrations.FILL_INTEGER_UNITS])
        # the orders as the old code recorded them: no subaccount
        for order_id, status in [(f.order_id, "executed") for f in fills] + [
            (resting.order_id, "resting")
        ]:
            conn.execute(
                "INSERT INTO orders (client_order_id, order_id, ticker, book_side, price, count, "
                "side, action, status, filled, remaining, created_at, updated_at, "
                "time_in_force, post_only, reduce_only) VALUES (?, ?, ?, 'bid', '0.1', '2', "
                "'yes', 'buy', ?, '0', '2', 1.0, 1.0, 'good_till_canceled', 0, 0)",
                (f"old-{order_id}", order_id, ticker, status),
            )
        # as the old code wrote them: one book, each fill's realized P&L from that netting
        listed = (fill_record_from_api(f, read_at=time.time()) for f in fills)
        records = sorted(listed, key=lambda r: r.ts)
        for record, event in realized_per_fill(records, []):
            conn.execute(
                "INSERT INTO fills (fill_id, order_id, ticker, book_side, yes_price, count, fee, "
                "is_taker, ts, realized_pnl) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (
                    record.fill_id,
                    record.order_id,
                    record.ticker,
                    record.book_side.value,
                    dec_text(record.yes_price),
                    dec_text(record.count),
                    dec_text(record.fee),
                    record.ts,
                    dec_text(event.net),
                ),
            )
        # a cursor past every fill: a catch-up that kept it would read none of them again
        conn.execute(
            "INSERT INTO kv (key, value, updated_at) VALUES ('fills_caught_up_at', ?, 1.0)",
            (repr(records[-1].ts + 10_000),),
        )
    finally:
        conn.close()
    (one,) = _json(kalshi, "positions", "--subaccount", "1")["positions"]
    assert (one["side"], one["contracts"], one["cost"]) == ("no", "5.00", "2.5000")
    assert one["differences"] == []
    with Store.open(path) as store:
        assert "0003_order_fill_subaccount" in [n for n, _ in store.applied_migrations()]
        by_id = {r.fill_id: r for r in store.fills.iter_fills()}
        assert {i: r.subaccount for i, r in by_id.items()} == {
            f.fill_id: f.raw["subaccount_number"] for f in fills
        }
        # realized per fill from each fill's own book: only subaccount 0's sale realized
        realized = sum((r.realized_pnl or D(0) for r in by_id.values()), D(0))
        assert realized == D("0.60") - _fees(fills)
        # a filled order takes its fills' subaccount
        assert {i.order_id: i.subaccount for i in store.orders.intents(status="executed")} == {
            f.order_id: f.raw["subaccount_number"] for f in fills
        }
    # a resting order, with no fill to say, takes the subaccount the exchange lists it under
    assert kalshi("reconcile").exit_code == 0
    with Store.open(path) as store:
        (row,) = store.orders.open_orders()
        assert (row.order_id, row.subaccount) == (resting.order_id, 1)
        assert store.orders.open_orders(subaccount=0) == []


def test_the_running_loop_applies_only_its_subaccounts_fills(
    prime: SimHarness, client: KalshiClient, tmp_path: Any
) -> None:
    """The fill listing covers every subaccount unless one is named (openapi.yaml 3.31.0): a
    loop on subaccount 0 takes a fill of subaccount 1 in its market for none of its own."""
    from kalshi_cli.feed import MarketData
    from kalshi_cli.runner.assembly import LoopInputs, build_loop
    from kalshi_cli.runner.books.entry_log import EntryLog
    from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions
    from kalshi_cli.vocabulary.clock import SystemClock

    (ticker,) = make_markets(prime, 1)
    funded_subaccount(client)
    clock = SystemClock()
    # the loop's feed, never started: only the fill sync runs here
    feed = MarketData([ticker], ws_url=None, rest=client.markets, clock=clock)
    with Store.open(tmp_path / "loop.db") as store:
        parts = LoopInputs(client, store, feed, clock=clock, log=EntryLog(clock, stderr=None))
        loop = build_loop(
            parts,
            TradeOptions(strategies=(StrategyChoice("spike"),)),
            TradeConfig(),
            [client.markets.get_market(ticker)],
        )
        with connect(prime.new_account(balance_cents=100_000)) as other:
            other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(8)))
            client.subaccount = 1
            client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(5)))
            client.subaccount = None
            assert loop.executor.fills.sync(since_ts=0) == 0
            assert loop.portfolio.position(ticker) == 0
            client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(3)))
        assert loop.executor.fills.sync(since_ts=0) == 1
        assert loop.portfolio.position(ticker) == 3
        assert [(f.count, f.subaccount) for f in store.fills.iter_fills()] == [(D(3), 0)]


def test_check_pnl_counts_the_account_as_the_sum_of_its_books(
    two_books: tuple[str, list[Fill]], kalshi: Kalshi
) -> None:
    """`kalshi check pnl` (what cron alerts on) replays each subaccount's book, as `kalshi
    pnl` does: the sale on subaccount 1 realizes nothing against the purchase on 0."""
    _, fills = two_books
    assert kalshi("reconcile").exit_code == 0
    result = kalshi("check", "pnl")
    total = re.search(r"'total'=(-?[0-9.]+)", result.stdout)
    assert total is not None, result.stdout
    assert D(total.group(1)) == D("0.60") - _fees(fills)


def _settled(settlements: list[Any]) -> D:
    return sum((s.revenue - s.yes_total_cost - s.no_total_cost - s.fee for s in settlements), D(0))


def test_a_market_held_on_two_subaccounts_settles_in_each_book_once(
    two_books: tuple[str, list[Fill]],
    prime: SimHarness,
    client: KalshiClient,
    kalshi: Kalshi,
    tmp_path: Any,
) -> None:
    """Subaccount 0 holds 6 YES and 1 holds 5 NO as the market settles: the exchange lists a
    settlement for each (the listing takes `subaccount`). The state file keeps both, each in
    its own book, and the day's realized P&L (the daily circuit breaker's figure) counts each
    once: it equals the sum of the two books' realized P&L to the cent."""
    ticker, fills = two_books
    prime.settle(ticker, "yes")
    listed: dict[int, list[Any]] = {}
    for n in (0, 1):
        client.subaccount = n
        listed[n] = list(client.portfolio.iter_settlements())
        client.subaccount = None
    assert [len(listed[n]) for n in (0, 1)] == [1, 1]
    assert kalshi("reconcile").exit_code == 0
    with Store.open(state_path(tmp_path)) as store:
        stored = store.settlements.read()
        day = datetime.fromtimestamp(stored[0].settled_at, tz=UTC).strftime("%Y-%m-%d")
        assert {
            datetime.fromtimestamp(f.ts, tz=UTC).strftime("%Y-%m-%d")
            for f in store.fills.iter_fills()
        } == {day}
        daily = store.trading.daily_realized_pnl(day)
    per = {n: _json(kalshi, "pnl", "--local", "--subaccount", str(n)) for n in (0, 1)}
    # 0: 0.60 on the sale, then 6 YES at 0.40 paid $1: 3.60; 1: 5 NO at 0.50 paid nothing
    assert D(per[0]["realized_gross"]) == D("4.20")
    assert D(per[1]["realized_gross"]) == D("-2.50")
    assert daily == D(per[0]["realized"]) + D(per[1]["realized"])
    assert daily == D("1.70") - _fees(fills)
    # one row per (market, subaccount), each the exchange's settlement of that subaccount
    assert sorted((s.ticker, s.subaccount) for s in stored) == [(ticker, 0), (ticker, 1)]
    for n in (0, 1):
        (mine,) = [s for s in stored if s.subaccount == n]
        assert mine.realized_pnl == _settled(listed[n])


def test_a_settlement_fee_is_counted_once_in_its_own_book(tmp_path: Any) -> None:
    """Each subaccount's settlement carries its own fee (written as the import writes them, in
    Kalshi's shape: the revenue is what was paid, the worth less the fee that rounding kept):
    a fee is counted in its own book only, once in the account's sum and once in the day's
    realized P&L."""
    from kalshi_cli.services.pnl import summarize_store
    from kalshi_cli.store import FillRecord, SettlementRecord

    ts = 1_790_000_000.0
    fills = [
        # subaccount 0 buys 10 YES at 0.40; subaccount 1 buys 5 YES at 0.50
        FillRecord(
            "f0", "o0", None, "T", BookSide.BID, D("0.40"), D(10), D(0), True, ts, None, None, 0
        ),
        FillRecord(
            "f1", "o1", None, "T", BookSide.BID, D("0.50"), D(5), D(0), True, ts, None, None, 1
        ),
    ]
    settled = {
        0: SettlementRecord(
            "T", "E", "yes", D(10), D(0), D("4.00"), D(0), D("9.95"), D("0.05"), ts + 60
        ),
        1: SettlementRecord(
            "T",
            "E",
            "yes",
            D(5),
            D(0),
            D("2.50"),
            D(0),
            D("4.97"),
            D("0.03"),
            ts + 60,
            subaccount=1,
        ),
    }
    with Store.open(tmp_path / "fees.db") as store:
        store.fills.record_fills(fills)
        assert store.settlements.record_settlements(list(settled.values())).added == 2
        books = {n: summarize_store(store, subaccount=n) for n in (0, 1)}
        whole = summarize_store(store)
        daily = store.trading.daily_realized_pnl("2026-09-21")
    assert (books[0].fees, books[1].fees, whole.fees) == (D("0.05"), D("0.03"), D("0.08"))
    assert (books[0].realized, books[1].realized) == (D("5.95"), D("2.47"))
    assert whole.realized == daily == D("8.42")


def test_a_settlement_copied_before_0004_is_replaced_by_each_subaccounts(
    two_books: tuple[str, list[Fill]],
    prime: SimHarness,
    client: KalshiClient,
    kalshi: Kalshi,
    tmp_path: Any,
) -> None:
    """A file written before migration 0004 holds one row for the market, the first settlement
    the listing of every subaccount gave (here subaccount 1's). The migration keeps it as not
    known (counted as before); the next import lists each subaccount's and replaces it, so
    the day's realized P&L counts both, each once."""
    ticker, fills = two_books
    prime.settle(ticker, "yes")
    client.subaccount = 1
    (theirs,) = client.portfolio.iter_settlements()
    client.subaccount = None
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrations.apply_pending(
            conn,
            1.0,
            [migrations.INITIAL, migrations.FILL_INTEGER_UNITS, migrations.ORDER_FILL_SUBACCOUNT],
        )
        conn.execute(
            "INSERT INTO settlements (ticker, event_ticker, result, yes_count, no_count, "
            "yes_total_cost, no_total_cost, revenue, fee, settled_at) "
            "VALUES (?, ?, 'yes', ?, ?, ?, ?, ?, ?, 5.0)",
            (
                ticker,
                theirs.event_ticker,
                dec_text(theirs.yes_count),
                dec_text(theirs.no_count),
                dec_text(theirs.yes_total_cost),
                dec_text(theirs.no_total_cost),
                dec_text(theirs.revenue),
                dec_text(theirs.fee),
            ),
        )
    finally:
        conn.close()
    with Store.open(path) as store:
        assert [(s.ticker, s.subaccount) for s in store.settlements.read()] == [(ticker, None)]
    assert kalshi("reconcile").exit_code == 0
    with Store.open(path) as store:
        stored = store.settlements.read()
        assert sorted((s.ticker, s.subaccount) for s in stored) == [(ticker, 0), (ticker, 1)]
        day = datetime.fromtimestamp(stored[0].settled_at, tz=UTC).strftime("%Y-%m-%d")
        daily = store.trading.daily_realized_pnl(day)
    assert daily == D("1.70") - _fees(fills)


def test_the_account_wide_pnl_marks_every_subaccounts_positions(
    two_books: tuple[str, list[Fill]], prime: SimHarness, kalshi: Kalshi
) -> None:
    """`kalshi pnl` without --subaccount marks and cross-checks each subaccount's positions
    with its own book: its unrealized P&L is the sum of the `--subaccount` reports'."""
    ticker, _ = two_books
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.45"), D(10)))
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.60"), D(10)))
    assert kalshi("reconcile").exit_code == 0
    per = {n: _json(kalshi, "pnl", "--subaccount", str(n)) for n in (0, 1)}
    # 0: 6 YES bought at 0.40 marked at the YES bid 0.45; 1: 5 NO at 0.50 at the NO bid 0.40
    assert D(per[0]["unrealized_pnl"]) == D("0.30")
    assert D(per[1]["unrealized_pnl"]) == D("-0.50")
    whole = _json(kalshi, "pnl")
    assert D(whole["unrealized_pnl"]) == D("-0.20")
    assert D(whole["total_pnl"]) == D(whole["realized"]) + D("-0.20")
    assert whole["differences"] == []
