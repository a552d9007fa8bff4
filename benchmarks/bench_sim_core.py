"""Figures for the simulator core, measured in one run on one core: orders per CPU second through
`OrderDesk.place_order` without and with the journal (budget: at least 10,000), the journal's replay
speed, and the memory of 1,000 markets holding 100,000 resting orders. See docs/benchmarks.md "How
each benchmark measures".

    python benchmarks/bench_sim_core.py [--orders N] [--compare-with DIR [--rounds 5]]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.sim.core.records import PlaceRequest
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES, FeeModel, FeeType
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce

try:
    from kalshi_cli.sim.core.exchange import Exchange
    from kalshi_cli.sim.core.records import SimMarket
except ModuleNotFoundError:  # a tree from before the simulator's core was a package of its own
    from kalshi_cli.sim.core import Exchange, SimMarket  # type: ignore[no-redef,attr-defined]

TARGET = 10_000  # the budget in docs/benchmarks.md: orders per CPU-second
# Fewer young-generation collections: most of the core's allocations (orders, fills, trades)
# live long, so the default thresholds rescan them often; a simulator process can set this.
TUNED_GC = (20_000, 50, 100)
PRICES = [Decimal(i) / 100 for i in range(1, 100)]
COUNTS = [Decimal(i) for i in range(1, 21)]
# Kalshi's standard fees, which every run has charged: the markets have no series of their own
FEES = FeeModel(FeeType.QUADRATIC, Decimal(1), None)


def exchange(
    markets: int, accounts: int, journal: Path | None = None
) -> tuple[Exchange, list[str]]:
    ex = Exchange(ManualClock(), fees=FEES, journal=journal)
    for i in range(markets):
        ex.add_market(
            SimMarket(
                f"BENCH-{i}",
                "BENCH",
                "BENCH",
                "bench",
                "yes",
                "no",
                "open",
                "linear_cent",
                PRICE_STRUCTURES["linear_cent"],
                0.0,
                2e9,
                2e9,
                0.0,
                0.0,
            )
        )
    # `--compare-with` a tree whose Exchange forwarded its account reads
    ledger: Any = ex.accounts if hasattr(ex, "reference") else ex
    ids = [
        ledger.create_account(key_id=f"k{i}", public_key_pem="", cash_cents=10**12).account_id
        for i in range(accounts)
    ]
    return ex, ids


def workload(n: int, markets: int, accounts: int, seed: int = 1) -> list[tuple]:  # type: ignore[type-arg]
    """Pre-drawn orders around 0.50 (so about half cross), every 4th followed by a cancel."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        side = BookSide.BID if rng.random() < 0.5 else BookSide.ASK
        mid = 50 + rng.randint(-6, 6)
        offset = rng.randint(-3, 3)
        price = PRICES[(mid - offset if side is BookSide.BID else mid + offset) - 1]
        out.append(
            (
                rng.randrange(accounts),
                f"BENCH-{rng.randrange(markets)}",
                side,
                price,
                COUNTS[rng.randrange(20)],
                i % 4 == 3,
            )
        )
    return out


def run(ex: Exchange, ids: list[str], orders: list[tuple]) -> tuple[float, float, int]:  # type: ignore[type-arg]
    """(CPU seconds, wall seconds, taker fills): CPU time is the one-core figure even when
    the machine is busy with other work; wall time is printed beside it."""
    fills = 0
    rest: list[tuple[str, str]] = []
    gc.collect()
    start, wall = time.process_time(), time.perf_counter()
    for acct, ticker, side, price, count, cancel in orders:
        r = ex.desk.place_order(
            ids[acct],
            PlaceRequest(
                ticker=ticker,
                book_side=side,
                price=price,
                count=count,
                time_in_force=TimeInForce.GTC,
                self_trade_prevention=SelfTradePrevention.MAKER,
            ),
        )
        fills += len(r.fills)
        if r.order.status == "resting":
            rest.append((ids[acct], r.order.order_id))
        if cancel and rest:
            account, order_id = rest.pop(0)
            if ex.history.order(account, order_id).status == "resting":
                ex.desk.cancel_order(account, order_id)
    return time.process_time() - start, time.perf_counter() - wall, fills


def memory(markets: int, resting: int) -> int:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    ex, ids = exchange(markets, 10)
    per = resting // markets
    for m in range(markets):
        ticker = f"BENCH-{m}"
        for j in range(per):
            bid = j % 2 == 0
            ex.desk.place_order(
                ids[j % 10],
                PlaceRequest(
                    ticker=ticker,
                    book_side=BookSide.BID if bid else BookSide.ASK,
                    price=PRICES[30 + j % 15] if bid else PRICES[55 + j % 15],
                    count=COUNTS[j % 20],
                    time_in_force=TimeInForce.GTC,
                    self_trade_prevention=SelfTradePrevention.MAKER,
                ),
            )
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert sum(len(ex.accounts.resting_orders(a)) for a in ids) == per * markets
    return used


def sample(n: int, journal: bool) -> None:
    """One measurement in this process, printed as JSON (a child of `compare`)."""
    import kalshi_cli

    orders = workload(n, markets=20, accounts=50)
    with tempfile.TemporaryDirectory() as tmp:
        ex, ids = exchange(20, 50, journal=Path(tmp) / "journal.jsonl" if journal else None)
        cpu, wall, fills = run(ex, ids, orders)
    print(json.dumps({"cpu": cpu, "wall": wall, "fills": fills, "tree": kalshi_cli.__file__}))


# a child that imports kalshi_cli from the tree given first, then runs this file's `sample`
CHILD = (
    "import runpy, sys; tree, bench = sys.argv[1], sys.argv[2]; "
    "sys.path[0:0] = [tree]; sys.argv = sys.argv[2:]; runpy.run_path(bench, run_name='__main__')"
)


def compare(other: Path, n: int, rounds: int) -> None:
    this = Path(__file__).resolve().parent.parent
    trees = {f"before ({other})": other.resolve(), "after (this tree)": this}
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {rounds} rounds of {n:,} orders")
    for journal in (False, True):
        got: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(tree), __file__, "--sample", str(n)]
                    + (["--journal"] if journal else []),
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                result = json.loads(out.splitlines()[-1])
                assert str(result["tree"]).startswith(str(tree)), (result, tree)
                got[name].append(result)
        fills = {r["fills"] for runs in got.values() for r in runs}
        assert len(fills) == 1, f"the trees disagree on the fills: {fills}"
        print(f"{'with' if journal else 'no'} journal ({fills.pop():,} taker fills in each run):")
        first = None
        for name, runs in got.items():
            cpu_rate = statistics.median(n / r["cpu"] for r in runs)
            wall_rate = statistics.median(n / r["wall"] for r in runs)
            first = first or cpu_rate
            print(
                f"  {name:40} {cpu_rate:>9,.0f} orders/CPU-s ({cpu_rate / first:.2f}x)  "
                f"wall {wall_rate:>9,.0f}/s  budget {TARGET:,}: {cpu_rate / TARGET:.2f}x"
            )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--compare-with", type=Path, metavar="DIR", help="another source tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--journal", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sample:
        sample(args.sample, args.journal)
        return
    if args.compare_with:
        compare(args.compare_with, args.orders, args.rounds)
        return
    n = args.orders
    orders = workload(n, markets=20, accounts=50)

    ex, ids = exchange(20, 50)
    cpu, wall, fills = run(ex, ids, orders)
    rate = n / cpu
    print(
        f"core, no journal:   {n:,} orders in {cpu:.2f} CPU s = {rate:,.0f} orders/s "
        f"(wall clock {n / wall:,.0f}/s; {fills:,} taker fills; "
        f"budget {TARGET:,}: {rate / TARGET:.2f}x)"
    )

    default_gc = gc.get_threshold()
    gc.set_threshold(*TUNED_GC)
    ex, ids = exchange(20, 50)
    cpu, wall, _ = run(ex, ids, orders)
    gc.set_threshold(*default_gc)
    print(
        f"core, gc.set_threshold{TUNED_GC}: {n / cpu:,.0f} orders/s "
        f"(wall clock {n / wall:,.0f}/s; vs default gc: {n / cpu / rate:.2f}x)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.jsonl"
        ex, ids = exchange(20, 50, journal=path)
        cpu, wall, _ = run(ex, ids, orders)
        jrate = n / cpu
        size = path.stat().st_size
        print(
            f"core, with journal: {n:,} orders in {cpu:.2f} CPU s = {jrate:,.0f} orders/s "
            f"(wall clock {n / wall:,.0f}/s; journal/no journal: {jrate / rate:.2f}; "
            f"{size / 1e6:.1f} MB journal)"
        )
        records = sum(1 for _ in path.open())
        start = time.process_time()
        Exchange(ManualClock(), fees=FEES, journal=path)
        replay = time.process_time() - start
        print(
            f"replay on restart:  {records:,} records in {replay:.2f} CPU s = "
            f"{records / replay:,.0f} records/s"
        )

    used = memory(1_000, 100_000)
    print(
        f"memory: 1,000 markets + 100,000 resting orders = {used / 2**20:.1f} MiB traced "
        f"({used / 100_000:,.0f} bytes per resting order incl. books and accounts)"
    )


if __name__ == "__main__":
    main()
