"""The state file of a quoting loop over a simulated day, under the default retention policy.

A loop quoting 500 markets was measured writing 3,729 orders and 10,492 order-history rows in
140 s (26.6 orders a second, each placed and then canceled or filled). This script writes that
stream through the store's own methods (`record_intent`, `mark_sent`, `update_order`, and
`record_fill` for the orders that fill) on a clock it moves itself, so a simulated day takes
minutes, and applies the retention policy every simulated `interval_s`, as `kalshi trade` does in
the background. It prints the file's size (the database and its WAL) each simulated hour, the
largest it was, the rows each table holds at the end, the bytes a row costs, and how long each
prune took, with the longest an intent written beside it on another connection (as the loop
writes one while the prune runs on its thread, every 5 ms here) had to wait for the write lock.

The state file is opened with `durable=False` (no fsync) to write the stream fast; the bytes on
disk are the same.

    python benchmarks/bench_state_retention.py [--hours 24] [--orders-per-s 26.6]
        [--fills-per-s 0.5] [--budget-mb 400] [--batch-rows 100] [--pause-s 0.05]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from kalshi_cli.store import FillRecord, IntentRecord, RetentionPolicy, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT
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


class Writer:
    """What the loop does while a prune runs: an intent written every 5 ms on a connection of
    its own (the loop's), each write timed: the longest is what a decision may wait for."""

    def __init__(self, path: Path, clock: ManualClock) -> None:
        self.path, self.clock = path, clock
        self.waits: list[float] = []
        self.done = threading.Event()
        self.ids = itertools.count()

    def run(self) -> None:
        with Store.open(self.path, clock=self.clock, durable=False) as store:
            while not self.done.wait(0.005):
                coid = f"writer-{next(self.ids):09d}"
                began = time.perf_counter()
                store.orders.record_intent(
                    IntentRecord(
                        coid, "KXBENCH-26JAN01-W", BookSide.BID, Decimal("0.4500"),
                        Decimal(1), Side.YES, Action.BUY,
                    )
                )  # fmt: skip
                self.waits.append(time.perf_counter() - began)
                store.orders.mark_rejected(coid, reason="benchmark")


def prune(store: Store, policy: RetentionPolicy, writer: Writer) -> tuple[float, float, int]:
    """(seconds, the longest intent write beside it, rows removed)."""
    writer.done.clear()
    writer.waits.clear()
    thread = threading.Thread(target=writer.run)
    thread.start()
    began = time.perf_counter()
    # the assistant's strategy: none of the loop's orders are its, so each is asked and goes
    report = store.retention.prune(policy, agent_strategy=AGENT, sleep=time.sleep)
    took = time.perf_counter() - began
    writer.done.set()
    thread.join()
    return took, max(writer.waits, default=0.0), report.total


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
    ap.add_argument("--budget-mb", type=float, default=400.0)
    ap.add_argument("--batch-rows", type=int, default=RetentionPolicy().batch_rows)
    ap.add_argument(
        "--pause-s", type=float, default=RetentionPolicy().pause_s,
        help="0 runs a long simulation faster (the sizes are the same; the waits are not)",
    )  # fmt: skip
    args = ap.parse_args()
    policy = RetentionPolicy(batch_rows=args.batch_rows, pause_s=args.pause_s)
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
            writer = Writer(path, clock)
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
                    prunes.append(prune(store, policy, writer))
                    next_prune += policy.interval_s
                    size = file_mb(path)
                    peak = max(peak, size)
                    hour = step * tick / 3600
                    print(
                        f"hour {hour:5.1f}: {size:7.1f} MB, orders {count(store, 'orders'):>8,}, "
                        f"history {count(store, 'order_history'):>9,}, "
                        f"fills {count(store, 'fills'):>7,}, pruned {prunes[-1][2]:>8,} rows "
                        f"in {prunes[-1][0]:.2f} s (an intent beside it waited at most "
                        f"{prunes[-1][1] * 1000:.0f} ms)",
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
        print(
            f"prune: longest run {slowest:.2f} s; "
            f"an intent written beside it waited at most {longest:.0f} ms"
        )
    print(f"(ran {took:.0f} s, load {os.getloadavg()[0]:.1f})")
    return 0 if peak <= args.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
