"""Where a backtest's CPU goes: one `run_backtest` under cProfile, the top functions by their own
CPU time and by their CPU time with callees. The default is bench_vs_nautilus.py's order-heavy
run (the join-the-best strategy, book changes only, risk limits too wide to refuse a quote)
over bench_backtest.py's data set; `--strategy` takes any strategy a backtest takes.

    python benchmarks/profile_backtest.py [--markets 20] [--seconds 1200] [--data DIR]
    python benchmarks/profile_backtest.py --strategy market-maker --full-pass --top 40
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

from bench_backtest import ensure_data
from bench_vs_nautilus import OURS, WIDE_RISK

from kalshi_cli.backtest import BacktestSpec, run_backtest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=1200)
    default_data = Path(tempfile.gettempdir()) / "kalshi-bench-backtest"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--strategy", default=str(OURS["join"]))
    parser.add_argument("--full-pass", action="store_true", help="every second, as `kalshi trade`")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--wall", action="store_true", help="time by the wall clock (default: CPU time)"
    )
    parser.add_argument("--out", type=Path, help="also write the raw profile here (pstats)")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    data, _ = ensure_data(args.data, args.markets, args.seconds)
    spec = BacktestSpec(
        data=str(data),
        strategy=args.strategy,
        balance="100000000",
        risk=WIDE_RISK,
        trade=() if args.full_pass else (("tick_interval_s", 3600),),
    )
    # CPU time by default: on a shared machine the wall clock charges other processes' time
    # (and the state file's waits) to whatever ran when they were scheduled
    profile = cProfile.Profile() if args.wall else cProfile.Profile(time.process_time)
    began = time.process_time()
    report = profile.runcall(run_backtest, spec)
    cpu = time.process_time() - began
    totals = report["totals"]
    actions = totals["orders"] + totals["cancels"]
    print(
        f"{report['data']['book_events']:,} book events, {actions:,} order actions, "
        f"{totals['fills']:,} fills: {cpu:.2f} CPU-s under the profiler"
    )
    if args.out:
        profile.dump_stats(args.out)
    stats = pstats.Stats(profile)
    for key in ("tottime", "cumulative"):
        print(f"\ntop {args.top} by {key}")
        stats.sort_stats(key).print_stats(args.top)


if __name__ == "__main__":
    main()
