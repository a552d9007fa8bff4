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


def timed(argv: list[str], env: dict[str, str], *, cpu: bool = False) -> float:
    """Wall time of one run of `argv`, or with `cpu` its CPU time (user + system: a loaded
    machine stretches the wall time of a process far more than its CPU time)."""
    start = _children_cpu() if cpu else time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = (_children_cpu() if cpu else time.perf_counter()) - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return elapsed


def medians(
    commands: dict[str, list[str]], runs: int, env: dict[str, str], *, cpu: bool = False
) -> dict[str, float]:
    """Median wall (or with `cpu`, CPU) time of each command over `runs` fresh processes,
    interleaved."""
    for argv in commands.values():  # warm the page cache and .pyc files first
        timed(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(timed(argv, env, cpu=cpu))
    return {name: statistics.median(values) for name, values in samples.items()}


def report(result: dict[str, float], runs: int, target: str, *, cpu: bool = False) -> None:
    base = result['python -c "import typer"']
    what = "CPU time (user + system)" if cpu else "wall time"
    print(f"median {what} of {runs} cold starts each (budget: {target})")
    for name, seconds in result.items():
        print(f"  {name:34} {seconds * 1000:7.1f} ms  {seconds / base:5.2f}x")
