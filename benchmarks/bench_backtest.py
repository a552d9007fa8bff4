"""`kalshi backtest`: replay speed per strategy, peak memory, and a sweep's speed-up on 2 cores,
over a data set recorded from a simulator scenario and kept in `--data` to be reused. Goal: at
least 50,000 book events per second per core through strategy and risk when no order is placed.
See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_backtest.py [--markets 50] [--seconds 3600] [--data DIR]
    python benchmarks/bench_backtest.py --compare-with /tmp/other --strategies arbitrage --rounds 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from kalshi_cli.backtest import BacktestSpec, engine, run_backtest
from kalshi_cli.backtest.executors import open_executor
from kalshi_cli.backtest.sweep import grid, run_sweep
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import replay
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.runner.loop.trade_loop import TradeLoop

STRATEGIES = ("spike", "mean-reversion", "arbitrage", "market-maker")
GOAL = 50_000


def scenario(n: int) -> dict[str, Any]:
    markets = []
    for i in range(n):
        if i % 3 == 0:
            path = {"kind": "spike", "base": "0.50", "peak": "0.66", "period": 240,
                    "start": 30 + i, "rise": 2, "hold": 6, "revert": 20}  # fmt: skip
        else:
            low = 30 + i % 20
            path = {"kind": "drift", "low": f"0.{low}", "high": f"0.{low + 15}",
                    "period": 300 + i * 7}  # fmt: skip
        markets.append(
            {
                "ticker": f"KXBENCH-26JAN01-M{i:03d}",
                "title": f"bench market {i}",
                "yes_sub_title": "yes",
                "no_sub_title": "no",
                "path": path,
                "quote": {"half_spread": "0.01", "size": "100", "levels": 3, "step": "0.01"},
            }
        )
    return {
        "description": "benchmarks/bench_backtest.py",
        "fees": {"fee_type": "quadratic", "fee_multiplier": "1"},
        "liquidity_provider": {"cash_cents": 10**12, "refresh_seconds": 1.0},
        "noise_traders": {
            "count": 4,
            "cash_cents": 10**10,
            "mean_interval_seconds": 2,
            "max_size": 5,
            "seed": 7,
        },
        "series": [
            {
                "ticker": "KXBENCH",
                "title": "bench",
                "category": "Bench",
                "frequency": "custom",
                "events": [{"event_ticker": "KXBENCH-26JAN01", "title": "b", "markets": markets}],
            }
        ],
    }


def ensure_data(root: Path, markets: int, seconds: int) -> tuple[Path, float | None]:
    manifest = read_manifest(root) if root.exists() else None
    wanted = {"markets": markets, "seconds": seconds}
    if manifest and manifest.get("bench") == wanted:
        return root, None
    if root.exists():
        import shutil

        shutil.rmtree(root)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario(markets)))
        started = time.perf_counter()
        record_scenario(path, root, seconds=seconds, step_s=0.1)
        took = time.perf_counter() - started
    manifest = read_manifest(root) or {}
    manifest["bench"] = wanted
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root, took


def _measure(spec: BacktestSpec) -> dict[str, Any]:
    # the replay loop alone (`engine._drive`: records, feed, venue, trade loop), without the
    # start-up (reference data, state file, venue set-up) and the report: timed by wrapping it
    drive = engine._drive
    spent: list[float] = []

    def timed(
        loop: TradeLoop,
        driver: engine.Driver,
        spec: BacktestSpec,
        replayed: engine._Replayed | None = None,
        skipped: Counter[str] | None = None,
    ) -> list[engine.EquityPoint]:
        began = time.perf_counter()
        try:
            return drive(loop, driver, spec, replayed, skipped)
        finally:
            spent.append(time.perf_counter() - began)

    engine._drive = timed
    started = time.perf_counter()
    try:
        report = run_backtest(spec)
    finally:
        engine._drive = drive
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "loop_seconds": sum(spent),
        "book_events": report["data"]["book_events"],
        "orders": report["totals"]["orders"],
        "fills": report["totals"]["fills"],
        "decisions": report["audit"]["decisions"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_fresh_process(spec: BacktestSpec) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_measure, spec).result()


# a child that imports kalshi_cli from the tree given first and runs one backtest
RUN_CHILD = (
    "import json, sys, time; sys.path[0:0] = [sys.argv[1]]; import kalshi_cli; "
    "from kalshi_cli.backtest import BacktestSpec, run_backtest; "
    "spec = BacktestSpec(data=sys.argv[2], strategy=sys.argv[3], "
    "trade=tuple(map(tuple, json.loads(sys.argv[4])))); "
    "c, w = time.process_time(), time.perf_counter(); r = run_backtest(spec); "
    "c, w = time.process_time() - c, time.perf_counter() - w; "
    "print(json.dumps({'cpu': c, 'wall': w, 'events': r['data']['book_events'], "
    "'same': [r['totals']['orders'], r['totals']['fills'], r['audit']['decisions']], "
    "'tree': kalshi_cli.__file__}))"
)


def compare(other: Path, data: Path, strategies: list[str], rounds: int) -> None:
    this = Path(__file__).resolve().parent.parent
    trees = {f"before ({other})": other.resolve(), "after (this tree)": this}
    print(f"{'strategy':<15} {'full pass':>9} {'tree':<40} {'CPU s':>6} {'events/CPU-s':>12} "
          f"{'wall s':>6} {'events/s':>9}")  # fmt: skip
    for name in strategies:
        for label, trade in (("1 s", []), ("none", [["tick_interval_s", 3600]])):
            got: dict[str, list[dict[str, Any]]] = {t: [] for t in trees}
            for _ in range(rounds):
                for tree_name, tree in trees.items():
                    argv = [str(tree), str(data), name, json.dumps(trade)]
                    out = subprocess.run(
                        [sys.executable, "-c", RUN_CHILD, *argv],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    result = json.loads(out.splitlines()[-1])
                    assert str(result["tree"]).startswith(str(tree)), (result, tree)
                    got[tree_name].append(result)
            same = {json.dumps(r["same"]) for runs in got.values() for r in runs}
            assert len(same) == 1, f"the trees disagree (orders, fills, decisions): {same}"
            for tree_name, runs in got.items():
                cpu = statistics.median(r["cpu"] for r in runs)
                wall = statistics.median(r["wall"] for r in runs)
                events = runs[0]["events"]
                print(
                    f"{name:<15} {label:>9} {tree_name:<40} {cpu:>6.2f} {events / cpu:>12,.0f} "
                    f"{wall:>6.2f} {events / wall:>9,.0f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=3600)
    default_data = Path(tempfile.gettempdir()) / "kalshi-bench-backtest"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--sweep-runs", type=int, default=4)
    parser.add_argument("--compare-with", type=Path, metavar="DIR", help="another source tree")
    parser.add_argument("--rounds", type=int, default=3, help="with --compare-with")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    data, generated = ensure_data(args.data, args.markets, args.seconds)
    if generated is not None:
        print(f"recorded {args.markets} markets x {args.seconds} s in {generated:.1f} s")

    started = time.perf_counter()
    books = replay(data)
    took = time.perf_counter() - started
    print(f"data: {books.applied} book events, {sum(books.frames.values())} frames")
    print(f"replay only: {books.applied / took:,.0f} book events/s")
    print()
    if args.compare_with:
        compare(args.compare_with, data, args.strategies.split(","), args.rounds)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        return
    # events/s: end to end (start-up and report included), the headline; loop events/s: the
    # replay loop alone (start-up and report excluded)
    print(f"{'strategy':<15} {'full pass':>9} {'wall s':>7} {'events/s':>9} {'loop s':>7} "
          f"{'loop events/s':>13} {'orders':>6} {'fills':>5} {'peak MiB':>8}")  # fmt: skip
    for name in args.strategies.split(","):
        for label, trade in (("1 s", ()), ("none", (("tick_interval_s", 3600),))):
            r = in_fresh_process(BacktestSpec(data=str(data), strategy=name, trade=trade))
            rate = r["book_events"] / r["seconds"]
            loop_rate = r["book_events"] / r["loop_seconds"]
            print(
                f"{name:<15} {label:>9} {r['seconds']:>7.1f} {rate:>9,.0f} "
                f"{r['loop_seconds']:>7.1f} {loop_rate:>13,.0f} {r['orders']:>6} "
                f"{r['fills']:>5} {r['peak_rss_mib']:>8.0f}"
            )
    print(f"goal: {GOAL:,} book events/s per core with no order placed")

    if args.sweep_runs > 0:  # 0: no sweep
        first = (read_manifest(data) or {}).get("started_ns", 0)
        base = BacktestSpec(data=str(data), strategy="spike", end_ns=first + 600 * 10**9)
        values = ["0.02", "0.04", "0.06", "0.08", "0.10", "0.12"][: args.sweep_runs]
        specs = grid(base, {"take_profit": values})
        timings = {}
        for jobs in (1, 2):
            started = time.perf_counter()
            run_sweep(specs, jobs=jobs, cache_dir=None)
            timings[jobs] = time.perf_counter() - started
        print()
        print(
            f"sweep of {len(specs)} runs (spike, first 600 s): 1 process {timings[1]:.1f} s, "
            f"2 processes {timings[2]:.1f} s, speed-up x{timings[1] / timings[2]:.2f}"
        )
        try:
            import distributed  # noqa: F401  (the `cluster` extra)
        except ImportError:
            print("no Dask (pip install 'kalshi-cli[cluster]'): the cluster sweep is not timed")
        else:
            started = time.perf_counter()
            with open_executor("dask", jobs=2) as cluster:
                up = time.perf_counter() - started
                run_sweep(specs, executor=cluster, cache_dir=None)
            ran = time.perf_counter() - started - up
            print(f"the same on a Dask LocalCluster of 2 processes: {ran:.1f} s (+ {up:.1f} s up)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
