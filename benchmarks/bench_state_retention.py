"""The state file of a quoting loop over a simulated day, under the default retention policy.

A loop quoting 500 markets was measured writing 3,729 orders and 10,492 order-history rows in
140 s (26.6 orders a second, each placed and then canceled or filled). This script writes that
stream through the store's own methods (`record_intent`, `mark_sent`, `update_order`, and
`record_fill` for the orders that fill) on a clock it moves itself, so a simulated day takes
minutes, and applies the retention policy every simulated `interval_s`, as `kalshi trade` does in
the background. It prints the file's size (the database and its WAL) each simulated hour, the
largest it was, the rows each table holds at the end, the bytes a fill costs, and how long the
prune took: all of it, and its longest single transaction (what a loop's write may wait for).

The state file is opened with `durable=False` (no fsync) to write the stream fast; the bytes on
disk are the same.

    python benchmarks/bench_state_retention.py [--hours 24] [--orders-per-s 26.6]
        [--fills-per-s 0.5] [--budget-mb 250]
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from kalshi_cli.store import FillRecord, IntentRecord, RetentionPolicy, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import Action, BookSide, Side

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MARKETS = 500


def file_mb(path: Path) -> float:
    wal = Path(f"{path}-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return size / 1e6


class Stream:
    """The loop's writes: a quote placed then canceled, or now and then filled."""

    def __init__(self, store: Store, fill_share: float) -> None:
        self.store = store
        self.ids = itertools.count()
        self.fill_share = fill_share
        self.owed = 0.0  # fills due, fractional

    def order(self) -> None:
        n = next(self.ids)
        coid = f"{n:08d}-5c3e-4b9e-8d1a-bench{n % 10_000:07d}"
        ticker = f"KXBENCH-26JAN01-M{n % MARKETS:03d}"
        store = self.store
        store.orders.record_intent(
            IntentRecord(
                coid, ticker, BookSide.BID, Decimal("0.4500"), Decimal(10), Side.YES,
                Action.BUY, strategy="market-maker", model_fair=Decimal("0.4712"),
                reason="quote",
            )
        )  # fmt: skip
        order_id = f"ord-{coid}"
        store.orders.mark_sent(
            coid, order_id=order_id, status="resting", fill_count=Decimal(0),
            remaining_count=Decimal(10),
        )  # fmt: skip
        self.owed += self.fill_share
        if self.owed >= 1:
            self.owed -= 1
            store.fills.record_fill(
                FillRecord(
                    f"fill-{coid}", order_id, coid, ticker, BookSide.BID, Decimal("0.4500"),
                    Decimal(10), Decimal("0.0173"), False, store.clock.wall(), "market-maker",
                    Decimal("-0.0173"),
                )
            )  # fmt: skip
            store.orders.update_order(
                order_id=order_id, status="executed", fill_count=Decimal(10),
                remaining_count=Decimal(0),
            )  # fmt: skip
        else:
            store.orders.update_order(
                order_id=order_id, status="canceled", fill_count=Decimal(0),
                remaining_count=Decimal(0),
            )  # fmt: skip


def prune(store: Store, policy: RetentionPolicy) -> tuple[float, float, int]:
    """(seconds, the longest batch's seconds, rows removed)."""
    marks = [time.perf_counter()]

    def stop() -> bool:
        marks.append(time.perf_counter())
        return False

    report = store.retention.prune(policy, stop=stop, sleep=lambda _s: None)
    longest = max((b - a for a, b in itertools.pairwise(marks)), default=0.0)
    return marks[-1] - marks[0], longest, report.total


def bytes_per_table(store: Store) -> dict[str, int]:
    """Each table's pages with its indexes' (SQLite's `dbstat`; empty where it is not built in)."""
    owner = dict(store._conn.execute("SELECT name, tbl_name FROM sqlite_master").fetchall())
    try:
        pages = store._conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
    except sqlite3.OperationalError:  # an SQLite built without the dbstat table
        return {}
    sizes: dict[str, int] = {}
    for name, size in pages.fetchall():
        table = owner.get(name, name)
        sizes[table] = sizes.get(table, 0) + int(size)
    return sizes


def count(store: Store, table: str) -> int:
    [(n,)] = store._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchall()
    return int(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--orders-per-s", type=float, default=3_729 / 140)
    ap.add_argument("--fills-per-s", type=float, default=0.5)
    ap.add_argument("--budget-mb", type=float, default=250.0)
    args = ap.parse_args()
    policy = RetentionPolicy()
    clock = ManualClock(START)
    tick = 1.0  # simulated seconds per step
    per_tick = args.orders_per_s * tick
    peak = 0.0
    prunes: list[tuple[float, float, int]] = []
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        with Store.open(path, clock=clock, durable=False) as store:
            stream = Stream(store, args.fills_per_s / args.orders_per_s)
            owed = 0.0
            next_prune = START + policy.interval_s
            steps = int(args.hours * 3600 / tick)
            for step in range(1, steps + 1):
                owed += per_tick
                while owed >= 1:
                    owed -= 1
                    stream.order()
                clock.advance(tick)
                if clock.wall() >= next_prune:
                    peak = max(peak, file_mb(path))  # the most it holds: just before a prune
                    prunes.append(prune(store, policy))
                    next_prune += policy.interval_s
                    size = file_mb(path)
                    peak = max(peak, size)
                    hour = step * tick / 3600
                    print(
                        f"hour {hour:5.1f}: {size:7.1f} MB, orders {count(store, 'orders'):>8,}, "
                        f"history {count(store, 'order_history'):>9,}, "
                        f"fills {count(store, 'fills'):>7,}, pruned {prunes[-1][2]:>8,} rows "
                        f"in {prunes[-1][0]:.2f} s (longest batch {prunes[-1][1] * 1000:.0f} ms)",
                        flush=True,
                    )
            peak = max(peak, file_mb(path))
            fills = count(store, "fills")
            orders_written = next(stream.ids)
            rows = {t: count(store, t) for t in ("orders", "order_history", "fills")}
            sizes = bytes_per_table(store)
        size = file_mb(path)
    took = time.perf_counter() - wall
    print()
    print(f"simulated {args.hours:g} h: {orders_written:,} orders written, {fills:,} fills")
    print(f"state file at the end {size:.1f} MB, peak {peak:.1f} MB (budget {args.budget_mb:g})")
    for table, n in rows.items():
        if table in sizes and n:
            mb, each = sizes[table] / 1e6, sizes[table] / n
            print(f"  {table}: {n:,} rows, {mb:.1f} MB, {each:.0f} B a row")
    if prunes:
        longest = max(p[1] for p in prunes) * 1000
        slowest = max(p[0] for p in prunes)
        print(f"prune: longest run {slowest:.2f} s, longest batch {longest:.0f} ms")
    print(f"(ran {took:.0f} s)")
    return 0 if peak <= args.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
