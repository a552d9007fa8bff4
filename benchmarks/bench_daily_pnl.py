"""What the trade loop's full pass pays to read the day's realized P&L again, against the number
of fills the state file already holds for the day. Budget: flat in the day's fills (an order
late in a busy day costs what one early in it does).

The loop keeps the day's P&L (`LoopTradingRecords`) and reads it again from the file on a full
pass (about once a second) when it wrote anything since the last one. Here, for each size, a
fresh state file gets that many fills today; then, `--rounds` times, the loop's own step is
repeated: one fill written as the loop writes it, then a full pass that reads the day's P&L
again. Only the pass is timed (p50, p99). The figure is checked against the full sum of the
file's rows at the end.

    python benchmarks/bench_daily_pnl.py [--sizes 1000 10000 50000] [--rounds 200] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.books.records import LoopTradingRecords
from kalshi_cli.store import Store
from kalshi_cli.store.records import FillRecord
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import BookSide

PNLS = (Decimal("0.0123"), Decimal("-0.0450"), Decimal("0.1000"), Decimal("-0.0007"))


def fill(i: int, ts: float) -> FillRecord:
    return FillRecord(
        fill_id=f"f{i}",
        order_id=f"o{i}",
        client_order_id=None,
        ticker=f"KXBENCH-M{i % 500:03d}",
        book_side=BookSide.BID if i % 2 else BookSide.ASK,
        yes_price=Decimal("0.4900"),
        count=Decimal("3"),
        fee=Decimal("0.0123"),
        is_taker=False,
        ts=ts,
        strategy="market-maker",
        realized_pnl=PNLS[i % len(PNLS)],
    )


def measure(directory: Path, size: int, rounds: int) -> tuple[float, float]:
    """p50 and p99 of the full pass's re-read, ms, over a file holding `size` fills today."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp, Store.open(Path(tmp) / "s.db") as store:
        now = time.time()
        day = utc_day(now)
        # the day's fills so far, spread over the last hour (still today, unless the day began
        # under an hour ago: then they are today's first seconds)
        start = max(now - 3600, now - now % 86400)
        store.fills.record_fills(fill(i, start + i * 1e-3) for i in range(size))
        records = LoopTradingRecords(store)
        with records.tick(full=True):
            records.daily_realized_pnl(day)
        timings = []
        for r in range(rounds):
            record = fill(size + r, time.time())
            with store.transaction():
                assert store.fills.record_fill(record)
            records.add_realized(record.ts, PNLS[(size + r) % len(PNLS)])
            began = time.perf_counter()
            with records.tick(full=True):
                pnl = records.daily_realized_pnl(day)
            timings.append((time.perf_counter() - began) * 1000)
        rows = store._db.rows("SELECT realized_pnl FROM fills")
        assert pnl == sum((Decimal(v) for (v,) in rows), Decimal(0)), "figure is not the sum"
        timings.sort()
        return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    results = {}
    for size in args.sizes:
        p50, p99 = measure(args.dir, size, args.rounds)
        results[size] = p50
        print(f"{size:>7,} fills today: full pass re-read p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    smallest, largest = min(results), max(results)
    ratio = results[largest] / results[smallest]
    print(f"p50 at {largest:,} fills / at {smallest:,}: {ratio:.2f}x (flat: about 1x)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
