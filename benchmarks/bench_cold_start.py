"""Cold start of `kalshi --help` and `kalshi config show`, next to `python -c "import typer"`.

Each command runs as a fresh process, interleaved with the baselines (coldstart.py); the median
wall and CPU time of each are reported with their ratios to the typer import (reported, not
targeted).
`kalshi config show` runs with KALSHI_HOME pointing at an empty temporary directory, so no user
file is read.

    python benchmarks/bench_cold_start.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from coldstart import BASELINES, clean_env, kalshi, medians, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    exe = kalshi()
    with tempfile.TemporaryDirectory() as home:
        env = clean_env(dict(os.environ), home)
        commands = {
            **BASELINES,
            "kalshi --help": [exe, "--help"],
            "kalshi config show": [exe, "config", "show"],
        }
        result = medians(commands, args.runs, env)
    report(result, args.runs, "none: reported, next to the typer import")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
