"""What the cold-start benchmarks share: the installed `kalshi`, a clean environment, the
baselines (`import typer` and a one-command Typer app, the floor any Typer command pays), and
interleaved timing of fresh processes so machine noise hits every command alike.

Bytecode caching stays on, as on any installed machine: a warm-up run writes the .pyc files, so
no sample pays for compiling source.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

NOOP_TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def noop(flag: bool = False) -> None:
    pass
app()
"""

BASELINES = {
    'python -c "import typer"': [sys.executable, "-c", "import typer"],
    "one-command Typer app": [sys.executable, "-c", NOOP_TYPER_APP],
}


def kalshi() -> str:
    """The `kalshi` script installed beside this Python (the venv being measured)."""
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    if script is None:
        sys.exit("the `kalshi` script is not installed in this environment (pip install .)")
    return script


def clean_env(environ: dict[str, str], home: str) -> dict[str, str]:
    env = {**environ, "KALSHI_HOME": home, "NO_COLOR": "1"}
    for name in ("KALSHI_CONFIG", "KALSHI_ENV", "KALSHI_API_BASE", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Times(NamedTuple):
    """One run's (or the medians') wall time and CPU time (user + system), in seconds. A
    loaded machine stretches the wall time of a process far more than its CPU time, so both
    are read from every run."""

    wall: float
    cpu: float


def timed(argv: list[str], env: dict[str, str]) -> Times:
    """Wall and CPU time of one run of `argv`."""
    start = Times(time.perf_counter(), _children_cpu())
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = Times(time.perf_counter() - start.wall, _children_cpu() - start.cpu)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return elapsed


def medians(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, Times]:
    """Median wall and CPU time of each command over `runs` fresh processes, interleaved."""
    for argv in commands.values():  # warm the page cache and .pyc files first
        timed(argv, env)
    samples: dict[str, list[Times]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(timed(argv, env))
    return {
        name: Times(
            statistics.median(t.wall for t in values), statistics.median(t.cpu for t in values)
        )
        for name, values in samples.items()
    }


def report(result: dict[str, Times], runs: int, target: str) -> None:
    """Each command's medians beside the typer import's: wall and CPU time, each with its
    ratio to the baseline's."""
    base = result['python -c "import typer"']
    print(f"median wall and CPU time (user + system) of {runs} cold starts each")
    print(f"(budget: {target})")
    print(f"  {'':34} {'wall':>10} {'':6}  {'CPU':>10}")
    for name, t in result.items():
        print(
            f"  {name:34} {t.wall * 1000:7.1f} ms {t.wall / base.wall:5.2f}x"
            f"  {t.cpu * 1000:7.1f} ms {t.cpu / base.cpu:5.2f}x"
        )
