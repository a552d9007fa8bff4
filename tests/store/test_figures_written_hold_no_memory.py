"""Writing fills whose realized P&L never repeats holds no memory per fill: the state file keeps
the text of the values that repeat (prices, counts, fees) to write them faster, not each P&L
figure, which a loop running for weeks writes once a fill. Measured by `tracemalloc` after a
full collection (SQLite's own pages are not Python's and are not counted)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

START = 1_700_000_000.0
BATCH = 2_000
# bytes held per fill written: a cached figure costs some 150 (its Decimal, its text, its slot)
HELD_PER_FILL = 20


def fills(first: int, n: int) -> Iterator[FillRecord]:
    for i in range(first, first + n):
        yield FillRecord(
            fill_id=f"fill-{i:08d}",
            order_id=f"order-{i:08d}",
            client_order_id=None,
            ticker="KXMEM-M001",
            book_side=BookSide.BID if i % 2 else BookSide.ASK,
            yes_price=Decimal("0.42"),
            count=Decimal(1),
            fee=Decimal("0.0175"),
            is_taker=False,
            ts=START + i,
            strategy="market-maker",
            # a figure of the average-cost step: to the millionth, seldom the same twice
            realized_pnl=Decimal(i).scaleb(-6) - Decimal("0.5"),
        )


def held() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_fills_with_distinct_realized_pnl_hold_no_memory_once_written(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db", clock=ManualClock(START)) as store:
        # one batch first, so that what is built on first use is not counted
        store.fills.record_fills(fills(0, BATCH))
        tracemalloc.start()
        try:
            before = held()
            for first in range(BATCH, 5 * BATCH, BATCH):
                store.fills.record_fills(fills(first, BATCH))
            for i in range(5 * BATCH, 6 * BATCH):  # figures written after the fill, one by one
                store.fills.set_fill_realized_pnl(f"fill-{i - BATCH:08d}", Decimal(-i).scaleb(-6))
            grown = held() - before
        finally:
            tracemalloc.stop()
        assert store.fills.count_fills() == 5 * BATCH
    assert grown < HELD_PER_FILL * 5 * BATCH, f"{grown / (5 * BATCH):.0f} bytes held a fill"
