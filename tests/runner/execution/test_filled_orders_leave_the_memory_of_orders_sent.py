"""What the loop remembers of an order it sent (`SentOrders`: its terms, for its fills' strategy,
latency and slippage) is let go once every contract of the order is filled and applied: no fill
of it is still to come. A market maker whose quotes fill whole remembers its resting quotes, not
its last `MAX_REMEMBERED` orders (some 900 bytes each in a long quoting run, held for nothing),
and a fill of an order it let go is still logged with its latency, slippage and strategy."""

from __future__ import annotations

import json
from pathlib import Path

from kalshi_cli.store.records import EXECUTED
from kalshi_cli.vocabulary.clock import ManualClock
from tests.runner.fakes import START, make_rig, new_exchange

ORDERS = 60  # placed, most of them filled whole


def test_orders_filled_whole_are_not_remembered_and_their_fills_are_logged_in_full(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    log = tmp_path / "loop.jsonl"
    rig = make_rig(
        tmp_path / "state.db",
        strategy="market-maker",
        exchange=new_exchange(clock=clock),
        clock=clock,
        risk={"max_orders_per_minute": 1_000_000, "max_total_exposure": "100000"},
        log_path=log,
    )
    executor = rig.loop.executor
    sent = executor.fills.sent
    for _ in range(600):
        rig.step(1.0)
        if executor.counters.orders > ORDERS:
            break
    assert executor.counters.orders > ORDERS, executor.counters
    rows = {r.order_id: r for r in rig.store.orders.iter_intents() if r.order_id}
    filled_whole = {
        order_id
        for order_id, row in rows.items()
        if row.status == EXECUTED and rig.store.fills.filled(order_id) == row.count
    }
    assert len(filled_whole) > ORDERS // 2, len(filled_whole)
    assert not [order_id for order_id in filled_whole if order_id in sent]
    # the rest are remembered: an order resting, or ended with a fill that may still come
    assert len(sent) <= len(rows) - len(filled_whole)
    fills = [
        e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "fill_received"
    ]
    last_of_each = {e["order_id"]: e for e in fills if e["order_id"] in filled_whole}
    assert len(last_of_each) == len(filled_whole)
    assert all(
        {"latency_ms", "slippage", "model_fair"} <= e.keys() and e["strategy"] == "market-maker"
        for e in last_of_each.values()
    )
