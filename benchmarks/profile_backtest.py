"""Where a backtest's CPU goes: one `run_backtest` under cProfile, the top functions by their own
CPU time and by their CPU time with callees. The default is bench_vs_nautilus.py's order-heavy
run (the join-the-best strategy, book changes only, risk limits too wide to refuse a quote)
over bench_backtest.py's data set; `--strategy` takes any strategy a backtest takes.

    python benchmarks/profile_backtest.py [--markets 20] [--seconds 1200] [--data DIR]
    python benchmarks/profile_backtest.py --strategy market-maker --full-pass --top 40
    python benchmarks/profile_backtest.py --markets 100 --seconds 3600 --parts

`--parts` runs without cProfile (which charges each Python call several times its cost) and
times only the parts an order action crosses, each by CPU time less the timed parts inside it,
per order action (placements, amends, cancels): which part a faster action must come from.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench_backtest import ensure_data
from bench_vs_nautilus import OURS, WIDE_RISK

from kalshi_cli.backtest import BacktestSpec, run_backtest


def _parts() -> list[tuple[Any, str, str]]:
    """(class, method, part) of each part `--parts` times; a part's own time leaves out the
    parts it calls. Methods called many times an action (a position view) are left out: the
    timing's own cost would be most of theirs."""
    from kalshi_cli.risk.engine import RiskEngine
    from kalshi_cli.runner.execution.amends import Amends
    from kalshi_cli.runner.execution.dispatch import Dispatch
    from kalshi_cli.runner.execution.execution import LoopExecutor
    from kalshi_cli.runner.execution.outbox import Outbox
    from kalshi_cli.runner.loop.market_pass import MarketPass
    from kalshi_cli.runner.loop.trade_loop import TradeLoop
    from kalshi_cli.services.orders.amend import OrderAmends
    from kalshi_cli.services.pretrade.loop import LoopAccount
    from kalshi_cli.venue.venue import LocalVenue

    return [
        (TradeLoop, "tick", "the loop's tick, the rest"),
        (MarketPass, "trade", "a market's pass (the strategy's decide in it), the rest"),
        (LoopExecutor, "execute_one", "the executor, the rest"),
        (LoopAccount, "context", "risk: the account's context"),
        (RiskEngine, "evaluate", "risk: the rules"),
        (Outbox, "total_exposure", "portfolio: total exposure"),
        (Outbox, "queued_view", "portfolio: a market's view, the batch counted"),
        (Amends, "submit", "amend path: sending, the rest"),
        (Amends, "_booked", "amend path: the answer, the rest"),
        (Dispatch, "send", "dispatch and the client, the rest"),
        (OrderAmends, "record", "state: an amend recorded in flight"),
        (OrderAmends, "book", "state: an amend's answer booked"),
        (LocalVenue, "place", "venue: a placement"),
        (LocalVenue, "amend", "venue: an amend"),
        (LocalVenue, "cancel", "venue: a cancel"),
    ]


def time_parts(run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Counter[str], float]:
    """`run` with each of `_parts` timed by its own CPU time; the report, the nanoseconds by
    part (what no part holds as "outside the parts") and the whole run's CPU seconds."""
    spent: Counter[str] = Counter()
    stack: list[list[Any]] = []  # [part, began, spent in the parts inside it]
    clock = time.process_time_ns

    def timed(method: Callable[..., Any], part: str) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            stack.append([part, clock(), 0])
            try:
                return method(*args, **kwargs)
            finally:
                _, began, inner = stack.pop()
                took = clock() - began
                spent[part] += took - inner
                if stack:
                    stack[-1][2] += took

        return call

    saved = [(cls, name, getattr(cls, name)) for cls, name, _ in _parts()]
    try:
        for cls, name, part in _parts():
            setattr(cls, name, timed(getattr(cls, name), part))
        began = time.process_time()
        report = run()
        cpu = time.process_time() - began
    finally:
        for cls, name, method in saved:
            setattr(cls, name, method)
    spent["outside the parts (reading, books, venue upkeep, driver)"] = int(
        cpu * 1e9 - sum(spent.values())
    )
    return report, spent, cpu


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
    parser.add_argument(
        "--parts", action="store_true", help="CPU per order action by part, no cProfile"
    )
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
    if args.parts:
        report, spent, cpu = time_parts(partial(run_backtest, spec))
        totals = report["totals"]
        actions = totals["orders"] + totals["cancels"] + totals.get("amends", 0)
        print(f"{actions:,} order actions, {cpu:.2f} CPU-s with the parts timed")
        for part, ns in spent.most_common():
            print(f"{ns / 1e6 / actions:7.3f} ms/action {ns / 1e9:7.2f} s  {part}")
        return
    # CPU time by default: on a shared machine the wall clock charges other processes' time
    # (and the state file's waits) to whatever ran when they were scheduled
    profile = cProfile.Profile() if args.wall else cProfile.Profile(time.process_time)
    began = time.process_time()
    report = profile.runcall(run_backtest, spec)
    cpu = time.process_time() - began
    totals = report["totals"]
    actions = totals["orders"] + totals["cancels"] + totals.get("amends", 0)
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
