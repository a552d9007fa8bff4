"""Tick to order for several configurations in one run, interleaved: another source tree, this tree
with `state_durability: full` (the default) and with `normal`; the medians of each run's p50 and p99
and their ratios to the first configuration. See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_tick_to_order_compare.py --compare-with /tmp/other [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE / "bench_tick_to_order.py"
RUN = (
    "import runpy, sys; tree, bench = sys.argv[1], sys.argv[2]; "
    "sys.path[0:0] = [tree, str(__import__('pathlib').Path(bench).parent)]; "
    "sys.argv = sys.argv[2:]; runpy.run_path(bench, run_name='__main__')"
)
FIGURES = re.compile(r"p50=([\d.]+) ms p99=([\d.]+) ms")


def once(tree: Path, extra: list[str], signals: int) -> tuple[float, float] | str:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(tree), str(BENCH), "--signals", str(signals), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    found = FIGURES.search(done.stdout)
    if not found:
        return (done.stdout + done.stderr).strip().splitlines()[-1]
    return float(found.group(1)), float(found.group(2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-with", type=Path, required=True, metavar="DIR")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--signals", type=int, default=200)
    args = parser.parse_args()
    this = HERE.parent
    configs = {
        f"before ({args.compare_with})": (args.compare_with, []),
        "after, state_durability full": (this, []),
        "after, state_durability normal": (this, ["--state-durability", "normal"]),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, (tree, extra) in configs.items():
            got = once(tree, extra, args.signals)
            if isinstance(got, str):
                print(f"{name}: a run failed: {got}")
            else:
                results[name].append(got)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds of {args.signals} signals")
    first: tuple[float, float] | None = None
    for name, runs in results.items():
        if not runs:
            print(f"  {name:34} no run completed")
            continue
        p50 = statistics.median(r[0] for r in runs)
        p99 = statistics.median(r[1] for r in runs)
        first = first or (p50, p99)
        print(
            f"  {name:34} p50 {p50:6.2f} ms ({p50 / first[0]:4.2f}x)  "
            f"p99 {p99:6.2f} ms ({p99 / first[1]:4.2f}x)  runs {len(runs)}  "
            f"target p99 < 5 ms: {'met' if p99 < 5 else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
