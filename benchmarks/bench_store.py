"""The state file at scale: insert 1,000,000 fills, then stream them back.

The issue's figure is `kalshi pnl` over a state file of 1,000,000 fills in under 2 seconds and
200 MB. This measures the store's share of it (one batched insert, one streaming pass through
`Store.iter_fills`) and then the whole P&L summary over the same stream, each timed on its own;
peak memory is the maximum resident set size of the writing process and of a fresh
reading process.

    python benchmarks/bench_store.py                 # 1,000,000 fills in a temporary file
    python benchmarks/bench_store.py --fills 100000 --path /tmp/state.db
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

START = 1_700_000_000.0


def peak_mb() -> float:
    """This process's peak resident set. VmHWM, not ru_maxrss: on Linux a child inherits its
    parent's ru_maxrss across fork and exec, which would hide the reading process's own peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synthetic_fills(n: int) -> Iterator[FillRecord]:
    """Fills shaped like the exchange's: ids in random order (like UUIDs), 200 markets, cent
    prices and some sub-penny ones, fractional counts, a realized P&L on every other fill, ten
    fills a second. Cheap arithmetic instead of a random generator, so that building the records
    does not dominate the insert it feeds."""
    prices = [Decimal(p) / 100 for p in range(1, 100)] + [Decimal("0.005"), Decimal("0.995")]
    counts = [Decimal(c) for c in ("1", "2", "5", "10", "0.5", "2.25", "100")]
    fees = [Decimal(f) / 100 for f in range(8)]
    pnls = [Decimal(v) / 100 for v in range(-500, 500, 7)]
    tickers = [f"KXBENCH-25JAN{m:03d}" for m in range(200)]
    mask = (1 << 64) - 1
    for i in range(n):
        scrambled = (i * 0x9E3779B97F4A7C15) & mask
        order_id = f"{scrambled ^ 0x5555:016x}-{i // 2:08d}"
        yield FillRecord(
            fill_id=f"{scrambled:016x}-{i:08d}",
            order_id=order_id,
            client_order_id=None if i % 3 else order_id,
            ticker=tickers[scrambled % 200],
            book_side=BookSide.BID if i % 2 else BookSide.ASK,
            yes_price=prices[(scrambled >> 8) % len(prices)],
            count=counts[(scrambled >> 16) % len(counts)],
            fee=fees[(scrambled >> 24) % len(fees)],
            is_taker=bool(i % 5),
            ts=START + i * 0.1,
            strategy="spike" if i % 4 else None,
            realized_pnl=pnls[(scrambled >> 32) % len(pnls)] if i % 2 else None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, default=None, help="keep the state file here")
    parser.add_argument("--read", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        read_phase(args.read)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or Path(tmp) / "state.db"
        write_phase(path, args.fills)
        # a fresh process, as `kalshi pnl` is, so its peak memory is the read path's own
        subprocess.run([sys.executable, __file__, "--read", str(path)], check=True)


class Timer:
    """Wall and CPU seconds of a block: on a busy machine the CPU figure is the steadier one."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0

    def __str__(self) -> str:
        return f"{self.wall:6.2f} s wall {self.cpu:6.2f} s cpu"


def write_phase(path: Path, n: int) -> None:
    print(f"state file: {path}, {n:,} fills")
    with Timer() as build:
        for _ in synthetic_fills(n):
            pass
    print(f"build the records alone               {build}")

    with Store.open(path, clock=ManualClock(START)) as store, Timer() as insert:
        added = store.fills.record_fills(synthetic_fills(n))
    print(f"record_fills (one transaction)        {insert}  {added / insert.wall:,.0f} fills/s")
    print(f"  of which the store                  {insert.wall - build.wall:6.2f} s wall")
    print(f"  peak RSS of the writing process     {peak_mb():6.1f} MB")
    size_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    print(f"  file size                           {size_mb:6.1f} MB")


def read_phase(path: Path) -> None:
    with Store.open(path, create=False) as store:
        count = 0
        contracts = Decimal(0)
        with Timer() as stream:
            for fill in store.fills.iter_fills():
                count += 1
                contracts += fill.count
        print(f"iter_fills (+ one sum)                {stream}  {count / stream.wall:,.0f} fills/s")
        print(f"  peak RSS of a fresh reading process {peak_mb():6.1f} MB")

        with Timer() as daily:
            day = store.trading.daily_realized_pnl("2023-11-14")
        print(f"daily_realized_pnl over a full day    {daily}  = {day}")

        from kalshi_cli.services.pnl import summarize

        with Timer() as pnl:
            summary = summarize(store.fills.iter_fills(), store.settlements.read())
        print(f"pnl.summarize over iter_fills         {pnl}  realized {summary.engine.realized}")
        print(f"  peak RSS                            {peak_mb():6.1f} MB")
        print(f"ratio: summarize / iter_fills         {pnl.cpu / stream.cpu:6.1f}x (cpu)")


if __name__ == "__main__":
    main()
