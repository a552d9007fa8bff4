"""A fill the exchange lists with neither `created_time` nor `ts` (both optional in the spec)
is dated by the read that brought it: the latest it can have happened. Dated 0 (1970), it fell
outside every day: today's realized P&L, which the daily loss limit and the circuit breaker
read, never counted it, and `kalshi pnl --by day` put it half a century back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.models import Fill, decode_answer
from kalshi_cli.vocabulary.units import to_book
from tests.runner.fakes import START, FakeClient, make_rig, new_exchange, order_fill, trader


def _undated_fill(order_id: str, ticker: str, book_side: str, yes_price: str) -> Fill:
    return order_fill(order_id, ticker, book_side, yes_price, fee="0.010000")  # no time at all


def test_the_loops_fill_sync_dates_an_undated_fill_by_its_read(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "s.db", strategy="market-maker")
    rig.step(0.1)
    quote = next(iter(rig.loop.portfolio.orders.values()))
    book = to_book(quote.side, quote.action, quote.price)
    fill = _undated_fill(quote.order_id, quote.ticker, book.book_side.value, str(book.yes_price))
    rig.client.iter_fills = lambda **_: iter([fill])  # type: ignore[method-assign]
    read_at = rig.clock.wall()
    assert rig.loop.executor.fills.sync(since_ts=0) == 1
    (row,) = rig.store.fills.iter_fills()
    assert row.ts == read_at
    # the fee it paid is today's: what the strategy's daily loss limit reads
    day = utc_day(read_at)
    assert rig.loop.portfolio.owners.realized_today(quote.strategy or "", day) == -fill.fee


def test_the_start_reconcile_dates_an_undated_fill_by_its_read(tmp_path: Path) -> None:
    clock = ManualClock(START)
    exchange = new_exchange(clock=clock)
    client = FakeClient(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    fill = _undated_fill("hand-order", ticker, "bid", "0.4000")
    client.iter_fills = lambda **_: iter([fill])  # type: ignore[method-assign]
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        assert [f.ts for f in store.fills.iter_fills()] == [clock.wall()]


def test_a_reads_fills_apply_in_the_order_of_their_times_whichever_field_says_it(
    tmp_path: Path,
) -> None:
    # average cost is path dependent: the loop applies a read's fills in the order the state
    # file's records give them (`created_time`, else `ts`, else the read's time), so what it
    # realized is what a rebuild from the file realizes
    log = tmp_path / "loop.jsonl"
    rig = make_rig(tmp_path / "s.db", strategy="market-maker", log_path=log)
    rig.step(0.1)
    quote = next(iter(rig.loop.portfolio.orders.values()))
    book = to_book(quote.side, quote.action, quote.price)
    now = int(rig.clock.wall())

    def fill(name: str, **when: Any) -> Fill:
        body: dict[str, Any] = {
            "fill_id": name,
            "trade_id": name,
            "order_id": quote.order_id,
            "market_ticker": quote.ticker,
            "book_side": book.book_side.value,
            "count_fp": "1.00",
            "yes_price_dollars": str(book.yes_price),
            "is_taker": False,
            "fee_cost": "0",
            **when,
        }
        return decode_answer(Fill, body)

    listed = [  # newest first, as the exchange lists
        fill("undated"),
        fill("by-created-time", created_time="2025-12-31T23:59:58.500Z"),
        fill("by-ts", ts=now - 5),
    ]
    rig.client.iter_fills = lambda **_: iter(listed)  # type: ignore[method-assign]
    assert rig.loop.executor.fills.sync(since_ts=0) == 3
    rig.loop.log.close()
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    applied = [e["fill_id"] for e in events if e["event"] == "fill_received"]
    assert applied == ["by-ts", "by-created-time", "undated"]
