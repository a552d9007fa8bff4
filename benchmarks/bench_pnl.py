"""`kalshi pnl` over a state file holding 1,000,000 fills, against a plain SQL aggregate over the
same table (the floor any P&L report pays), interleaved as fresh processes; the figure is the ratio
of the medians. `--profile [BY]` runs it once by BY (market) under cProfile. See docs/benchmarks.md
"How each benchmark measures".

    python benchmarks/bench_pnl.py [--fills 100000] [--runs 5] [--profile [BY]] [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kalshi_cli.store import FillRecord

sys.path.insert(0, str(Path(__file__).parent))

TARGET_S = 3.0  # the budget in docs/benchmarks.md; the ratio to the aggregate is reported
TARGET_MB = 200.0
BYS = ("market", "day", "strategy")

PEAK = """
for line in open("/proc/self/status").read().splitlines():
    if line.startswith("VmHWM:"):
        print(f"peak_kb={line.split()[1]}", file=sys.stderr)
"""

CHILD = f"""
import sys
if sys.argv[1] == "--tree":
    sys.path.insert(0, sys.argv[2])
    del sys.argv[1:3]
from kalshi_cli.cli.app import app
try:
    app(prog_name="kalshi", args=sys.argv[1:])
finally:
{"".join("    " + line + chr(10) for line in PEAK.strip().splitlines())}
"""

# The plain SQL aggregate: the same table, the same columns and the same groups as the report
# (market x UTC day x strategy), everything that is not path dependent, summed by SQLite.
AGGREGATE_SQL = (
    "SELECT ticker, CAST(ts / 86400 AS INTEGER) AS day, strategy, count(*), "
    "sum(CASE book_side WHEN 'bid' THEN count ELSE -count END), sum(count * yes_price), "
    "sum(fee) FROM fills GROUP BY ticker, day, strategy"
)
AGGREGATE = f"""
import json, sqlite3, sys
conn = sqlite3.connect(f"file:{{sys.argv[1]}}?mode=ro", uri=True)
rows = conn.execute({AGGREGATE_SQL!r}).fetchall()
print(json.dumps(rows))
{PEAK}
"""

PROFILE = """
import cProfile, pstats, sys
from kalshi_cli.cli.app import app
profile = cProfile.Profile()
profile.enable()
try:
    app(prog_name="kalshi", args=["pnl", "--local", "--json", "--by", sys.argv[1]],
        standalone_mode=False)
finally:
    profile.disable()
    sys.stdout = sys.__stderr__
    stats = pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime")
    stats.print_stats(15)
"""


# the old tree writes the file: this script's own `write`, with that tree's kalshi_cli
WRITE = (
    f"sys.path.insert(1, {str(Path(__file__).parent)!r}); sys.argv[0] = {__file__!r}; "
    f"import runpy; runpy.run_path({__file__!r}, run_name='__main__')"
)
MIGRATE = """
import sys
from pathlib import Path
from kalshi_cli.store import Store
Store.migrate(Path(sys.argv[1]))
"""


def mixed_fills(n: int) -> Iterator[FillRecord]:
    """`synthetic_fills`, whose markets each only buy or only sell, with the side drawn from
    other bits of the fill's scrambled index: every market buys and sells, positions close,
    flip and reopen, as in a real session."""
    from bench_store import synthetic_fills

    from kalshi_cli.vocabulary.units import BookSide

    sides = (BookSide.BID, BookSide.ASK)
    for i, f in enumerate(synthetic_fills(n)):
        yield replace(f, book_side=sides[((i * 0x9E3779B97F4A7C15) >> 45) & 1])


def write(path: Path, n: int) -> None:
    from bench_store import START

    from kalshi_cli.store import SettlementRecord, Store
    from kalshi_cli.vocabulary.clock import ManualClock
    from kalshi_cli.vocabulary.units import ZERO

    started = time.perf_counter()
    with Store.open(path, clock=ManualClock(START)) as store:
        store.fills.record_fills(mixed_fills(n))
        end = START + n * 0.1
        for m in range(0, 200, 4):  # a quarter of the markets settle, spread over the run
            ticker = f"KXBENCH-25JAN{m:03d}"
            at = START + (end - START) * m / 200
            result = "yes" if m % 8 else "no"
            store.settlements.record_settlement(
                SettlementRecord(ticker, "KXBENCH", result, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, at)
            )
    print(f"state file: {n:,} fills written in {time.perf_counter() - started:.1f} s")


def bench_env(home: Path, path: Path) -> dict[str, str]:
    """Bytecode caching on, as on any installed machine (a warm-up run writes the .pyc files
    before anything is timed), so no sample pays for compiling source."""
    env = {**os.environ, "KALSHI_HOME": str(home), "KALSHI_STATE": str(path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(args: list[str], home: Path, path: Path) -> tuple[float, float, float]:
    """(wall seconds, peak MB, CPU seconds) of one fresh process. The CPU time (user + system,
    from the child's rusage) is the figure that holds when other work loads the machine."""
    env = bench_env(home, path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", *args], env=env, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kb = next(
        int(line.split("=")[1]) for line in done.stderr.splitlines() if line.startswith("peak_kb=")
    )
    return wall, peak_kb / 1024, cpu


def measure(trees: dict[str, tuple[Path, list[str]]], home: Path, runs: int) -> None:
    """`trees`: a label -> (its state file, the child's leading arguments) for each tree."""
    samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for path, lead in trees.values():  # warm-up: .pyc files and the page cache
        run([CHILD, *lead, "pnl", "--local", "--json"], home, path)
    for _ in range(runs):
        for label, (path, lead) in trees.items():
            samples.setdefault((label, "aggregate"), []).append(
                run([AGGREGATE, str(path)], home, path)
            )
            for by in BYS:
                samples.setdefault((label, by), []).append(
                    run([CHILD, *lead, "pnl", "--local", "--json", "--by", by], home, path)
                )
    print(f"load average {os.getloadavg()[0]:.2f}, median of {runs} interleaved repetitions")
    print(f"aggregate: {AGGREGATE_SQL}")
    for label in trees:
        base = statistics.median(s[0] for s in samples[(label, "aggregate")])
        base_cpu = statistics.median(s[2] for s in samples[(label, "aggregate")])
        print(
            f"[{label}] plain SQL aggregate      median {base:5.2f} s wall  {base_cpu:5.2f} s CPU  "
            f"peak {max(s[1] for s in samples[(label, 'aggregate')]):5.1f} MB"
        )
        for by in BYS:
            wall = statistics.median(s[0] for s in samples[(label, by)])
            cpu = statistics.median(s[2] for s in samples[(label, by)])
            peak = max(s[1] for s in samples[(label, by)])
            print(
                f"[{label}] kalshi pnl --by {by:<8} median {wall:5.2f} s wall  {cpu:5.2f} s CPU  "
                f"peak {peak:5.1f} MB   ratio {wall / base:4.2f}x the aggregate "
                f"({cpu / base_cpu:4.2f}x in CPU), "
                f"budget < {TARGET_S:.0f} s: {'met' if wall < TARGET_S else 'MISSED'}, "
                f"< {TARGET_MB:.0f} MB: {'met' if peak < TARGET_MB else 'MISSED'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="repetitions (at least 3)")
    parser.add_argument(
        "--profile", nargs="?", const="market", choices=BYS, help="profile one run by it instead"
    )
    parser.add_argument("--path", type=Path, help="use (or write once) this state file")
    parser.add_argument("--compare-with", type=Path, metavar="DIR", help="another source tree")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3: the figure is a median")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or Path(tmp) / "state.db"
        old = args.compare_with
        if not path.exists():
            # written by a child so the measuring process stays small
            lead = ["-c", f"import sys; sys.path.insert(0, {str(old)!r}); " + WRITE] if old else []
            subprocess.run(
                [sys.executable, *(lead or [__file__]), "--write-only", str(path), str(args.fills)],
                check=True,
            )
        if args.profile:
            env = bench_env(Path(tmp), path)
            subprocess.run([sys.executable, "-c", PROFILE, args.profile], env=env, check=True)
            return
        trees: dict[str, tuple[Path, list[str]]] = {"this tree": (path, [])}
        if old:
            migrated = Path(tmp) / "migrated.db"
            shutil.copyfile(path, migrated)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", MIGRATE, str(migrated)], check=True, env=dict(os.environ)
            )
            print(f"migrating that file with this tree: {time.perf_counter() - started:.1f} s")
            trees = {
                f"before: {old}": (path, ["--tree", str(old)]),
                "after: this tree": (migrated, []),
            }
        measure(trees, Path(tmp), args.runs)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--write-only":
        write(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
