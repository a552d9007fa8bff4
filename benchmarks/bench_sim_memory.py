"""The served simulator's Python heap over a long run, by tracemalloc, on simulated time: the
slope in KB per simulated minute and the top growing sites. Counts, not wall time, so the
figures do not depend on the machine's load. See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_sim_memory.py [--minutes 10] [--markets 200] [--lag 60]
        [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_loop_memory import scenario, slope_mb_per_min

CHILD = r"""
import gc, json, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import kalshi_cli
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.sim.server.app import create_app
from kalshi_cli.sim.server.auth import DEFAULT_WINDOW_S, Authenticator
from kalshi_cli.sim.server.faults import Faults
from kalshi_cli.sim.server.ratelimit import tier_named
try:  # the order as one value; a tree from before it took the terms as keywords
    from kalshi_cli.sim.core.records import PlaceRequest
    def place(exchange, who, **terms):
        return exchange.desk.place_order(who, PlaceRequest(**terms))
except ImportError:
    def place(exchange, who, **terms):
        return exchange.desk.place_order(who, **terms)
try:
    from kalshi_cli.sim.server.ratelimit import SimRateLimiter
except ImportError:  # a tree from before the simulator's limiter had its own name
    from kalshi_cli.sim.server.ratelimit import RateLimiter as SimRateLimiter
from kalshi_cli.sim.server.routing import SimState
from kalshi_cli.sim.core.scenarios import build_exchange, scenario_history

path, minutes, data = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
clock = ManualClock()
exchange = build_exchange(path, clock=clock)
tier = tier_named("basic")
state = SimState(
    exchange=exchange, clock=clock, data_dir=data, tier=tier, faults=Faults(clock),
    limiter=SimRateLimiter(tier, clock),
    auth=Authenticator(
        exchange.subaccounts.account_by_key, clock, DEFAULT_WINDOW_S,
        exchange.subaccounts.public_key_of,
    ),
    history=scenario_history(path),
)
create_app(state)  # attaches what the server attaches to the exchange
from decimal import Decimal
from kalshi_cli.vocabulary.units import ONE, BookSide, SelfTradePrevention, TimeInForce
if hasattr(exchange, "create_account"):  # a tree whose Exchange forwarded its parts' reads
    ref = accounts = engine = history = exchange
else:
    ref, accounts = exchange.reference, exchange.accounts
    engine, history = exchange.engine, exchange.history
me = accounts.create_account(key_id="bench", public_key_pem="pem", cash_cents=10**12).account_id
tickers = sorted(ref.markets)
tiers = getattr(exchange, "trade_tiers", None)
fill_tiers = getattr(exchange, "fill_tiers", None)
order_tiers = getattr(exchange, "order_tiers", None)
tracemalloc.start(1)
cpu = time.process_time()
rows, half = [], None
for minute in range(1, minutes + 1):
    for second in range(60):
        # a client (the loop's account) takes a best YES ask every simulated second
        ticker = tickers[(minute * 60 + second) % len(tickers)]
        no_bid = engine.best_bids(ticker)[1]
        if no_bid is not None:
            place(
                exchange, me, ticker=ticker, book_side=BookSide.BID, price=ONE - no_bid,
                count=Decimal(1),
                time_in_force=TimeInForce.IOC,
                self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
            )
        for _ in range(10):
            clock.advance(0.1)
            exchange.tick()
    gc.collect()
    live, archived = tiers() if tiers else (len(history.trades()), 0)
    fills = fill_tiers(me) if fill_tiers else (len(history.fills(me)), 0)
    orders = order_tiers(me) if order_tiers else (len(history.orders(me)), 0)
    rows.append([minute, tracemalloc.get_traced_memory()[0], live, archived, *fills, *orders])
    if minute == minutes // 2:
        half = tracemalloc.take_snapshot()
top = []
if half is not None:
    diff = tracemalloc.take_snapshot().compare_to(half, "lineno")
    for d in diff[:8]:
        frame = d.traceback[0]
        name = frame.filename.split("kalshi_cli/")[-1]
        top.append([f"{name}:{frame.lineno}", d.size_diff, d.count_diff])
print(json.dumps({
    "tree": kalshi_cli.__file__, "rows": rows, "top": top,
    "cpu": time.process_time() - cpu,
    "trades": [[t.ticker, str(t.price), str(t.count), t.ts] for t in history.trades()[:50]],
    "made": [len(history.trades()), len(history.fills(me))],
}))
"""


def run(tree: Path, scenario_path: Path, minutes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sim-mem-") as data:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(tree), str(scenario_path), str(minutes), data],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    assert str(result["tree"]).startswith(str(tree)), (result["tree"], tree)
    return result


def report(label: str, result: dict[str, Any]) -> None:
    rows = result["rows"]
    trades, fills = result["made"]
    print(f"{label}: {trades} trades, the client's {fills} fills, {result['cpu']:.1f} CPU s")
    print(
        f"  {'minute':>6} {'traced MB':>9} {'live trades':>11} {'archived':>8} "
        f"{'live fills':>10} {'archived':>8} {'live orders':>11} {'archived':>8}"
    )
    for minute, traced, live, archived, fills, fills_archived, live_orders, orders_archived in rows:
        print(
            f"  {minute:>6} {traced / 1e6:>9.2f} {live:>11,} {archived:>8,} {fills:>10,} "
            f"{fills_archived:>8,} {live_orders:>11,} {orders_archived:>8,}"
        )
    settled = [(row[0] * 60.0, row[1] / 1e6) for row in rows[len(rows) // 2 :]]
    print(f"  slope over the second half: {slope_mb_per_min(settled) * 1000:+.0f} KB/min")
    if result["top"]:
        print("  top growing sites, half -> end:")
        for site, size, count in result["top"]:
            print(f"    {site:<40} {size / 1024:>+8.0f} KiB {count:>+8,} blocks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--markets", type=int, default=200)
    parser.add_argument("--lag", type=int, default=60, help="historical lag_seconds")
    parser.add_argument("--compare-with", type=Path, metavar="DIR", help="another source tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sim-mem-") as work:
        path = Path(work) / "scenario.yaml"
        text = scenario(args.markets) + f"historical: {{lag_seconds: {args.lag}}}\n"
        path.write_text(text, encoding="utf-8")
        this = Path(__file__).resolve().parent.parent
        trees = {"after (this tree)": this}
        if args.compare_with:
            trees = {f"before ({args.compare_with})": args.compare_with.resolve(), **trees}
        print(
            f"simulator memory: {args.markets} markets, {args.minutes} simulated minutes, "
            f"historical lag {args.lag} s"
        )
        results = {label: run(tree, path, args.minutes) for label, tree in trees.items()}
    made = {json.dumps([r["made"], r["trades"]]) for r in results.values()}
    assert len(made) == 1, "the trees made different trades"
    for label, result in results.items():
        report(label, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
