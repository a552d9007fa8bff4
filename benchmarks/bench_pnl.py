"""`kalshi pnl` over a state file holding 1,000,000 fills: wall time and peak memory.

The state file is written once (the fills of `bench_store.synthetic_fills`: 200 markets, ten
fills a second), then `kalshi pnl --local --json` runs as a fresh process, as a person or a cron
job would run it, for each `--by`. Peak memory is that process's own high-water mark (VmHWM).
Wall and CPU seconds are both given: on a machine shared with other work, CPU is the steadier
figure. `--local` leaves out the exchange (the unrealized marks and the cross-check are one
positions listing and one book per open market, whatever the number of fills).

    python benchmarks/bench_pnl.py                    # 1,000,000 fills in a temporary file
    python benchmarks/bench_pnl.py --fills 100000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

TARGET_S = 2.0
TARGET_MB = 200.0

CHILD = """
import sys
from pathlib import Path
from kalshi_cli.cli.app import app
try:
    app(prog_name="kalshi", args=sys.argv[1:])
finally:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            print(f"peak_kb={line.split()[1]}", file=sys.stderr)
"""


def write(path: Path, n: int) -> None:
    from bench_store import START, synthetic_fills

    from kalshi_cli.clock import ManualClock
    from kalshi_cli.store import Store

    started = time.perf_counter()
    with Store.open(path, clock=ManualClock(START)) as store:
        store.record_fills(synthetic_fills(n))
    print(f"state file: {n:,} fills written in {time.perf_counter() - started:.1f} s")


def run_pnl(path: Path, by: str, home: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MB) of one `kalshi pnl` process."""
    env = {**os.environ, "KALSHI_HOME": str(home), "KALSHI_STATE": str(path)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "pnl", "--local", "--json", "--by", by],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    peak_kb = next(
        int(line.split("=")[1]) for line in done.stderr.splitlines() if line.startswith("peak_kb=")
    )
    return wall, cpu, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        # written by a child so the measuring process stays small
        subprocess.run(
            [sys.executable, __file__, "--write-only", str(path), str(args.fills)], check=True
        )
        for by in ("market", "day", "strategy"):
            samples = [run_pnl(path, by, Path(tmp)) for _ in range(args.runs)]
            wall = statistics.median(s[0] for s in samples)
            cpu = statistics.median(s[1] for s in samples)
            peak = max(s[2] for s in samples)
            print(
                f"kalshi pnl --by {by:<8} median {wall:5.2f} s wall, {cpu:5.2f} s cpu "
                f"(target < {TARGET_S:.0f} s: {wall / TARGET_S:4.2f}x)  "
                f"peak {peak:5.1f} MB (target < {TARGET_MB:.0f} MB)"
            )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--write-only":
        write(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
