"""Cold start of `kalshi --help` and `kalshi config show`, next to `python -c "import typer"`.

Each command runs as a fresh process, alternating between the commands so machine noise hits all
of them alike; the median wall time of each is reported with its ratio to the typer import.
A fourth line, a one-command Typer app that does nothing, shows the floor any Typer command pays
(Typer validates parameters with pydantic when a command runs, which `import typer` alone does
not load). Bytecode caching is on for every sample, as on an installed machine.
`kalshi config show` runs with KALSHI_HOME pointing at an empty temporary directory,
so no user file is read.

    python benchmarks/bench_cold_start.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.3

NOOP_TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def noop(flag: bool = False) -> None:
    pass
app()
"""


def kalshi_executable() -> list[str]:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent)) or shutil.which("kalshi")
    if script is None:
        sys.exit("the `kalshi` script is not installed in this environment (pip install -e .)")
    return [script]


def measure(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm the page cache and .pyc files first
        subprocess.run(argv, env=env, check=True, capture_output=True)
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    kalshi = kalshi_executable()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "KALSHI_HOME": home, "NO_COLOR": "1"}
        # Bytecode caching on, as on any installed machine: the warm-up run writes the .pyc
        # files, so no sample pays for compiling source (installed packages ship with them).
        for name in ("KALSHI_CONFIG", "KALSHI_ENV", "KALSHI_API_BASE", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        commands = {
            'python -c "import typer"': [sys.executable, "-c", "import typer"],
            "one-command Typer app": [sys.executable, "-c", NOOP_TYPER_APP],
            "kalshi --help": [*kalshi, "--help"],
            "kalshi config show": [*kalshi, "config", "show"],
        }
        medians = measure(commands, args.runs, env)
    base = medians['python -c "import typer"']
    print(f"median of {args.runs} cold starts each (target: kalshi at most {TARGET_RATIO}x)")
    for name, seconds in medians.items():
        print(f"  {name:28} {seconds * 1000:7.1f} ms  {seconds / base:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
