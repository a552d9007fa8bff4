"""`kalshi ARGS` run in-process (Typer's CliRunner) as a backtest user runs it: its own
KALSHI_HOME, HOME and run cache, and its exit code, stdout and stderr as a process's. A
`kalshi` process costs a second of start-up; a test needs one only to stop it with a signal, or
for a fresh interpreter (`kalshi_process`: a module the test edits is not the one imported)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app


def kalshi(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    context = AppContext(environ={"KALSHI_HOME": str(home)})
    env = {"XDG_CACHE_HOME": str(home / "cache"), "HOME": str(home), "COLUMNS": "80"}
    done = CliRunner().invoke(app, args, obj=context, env=env, prog_name="kalshi")
    return subprocess.CompletedProcess(args, done.exit_code, done.stdout, done.stderr)


def kalshi_process(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), HOME=str(home))
    return subprocess.run(
        [script, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
