"""Fast start: help and the commands that need no network import no network or simulator code.

Each case runs the real entry point in a fresh interpreter and lists `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("httpx", "cryptography", "kalshi_cli.sim", "kalshi_cli.client", "uvicorn", "starlette")

PROBE = """
import json, sys
sys.argv = ["kalshi", *json.loads(sys.argv[1])]
from kalshi_cli.__main__ import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + " CODE " + str(code) + "\\n")
"""


def modules_after(args: list[str], home: Path) -> tuple[set[str], int]:
    env = {"KALSHI_HOME": str(home), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    marker = done.stderr.rsplit("MODULES ", 1)[1]
    names, code = marker.rsplit(" CODE ", 1)
    return set(json.loads(names)), int(code)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["markets", "--help"],
        ["orderbook", "--help"],
        ["sim", "serve", "--help"],
        ["config", "show"],
        ["config", "show", "--json"],
        ["--version"],
    ],
)
def test_no_heavy_imports(tmp_path: Path, args: list[str]) -> None:
    modules, code = modules_after(args, tmp_path)
    assert code == 0
    heavy = sorted(m for m in modules if m.startswith(HEAVY))
    assert heavy == [], f"`kalshi {' '.join(args)}` imported {heavy}"


def test_help_imports_no_command_module_or_renderer(tmp_path: Path) -> None:
    modules, _code = modules_after(["--help"], tmp_path)
    loaded = {m for m in modules if m.startswith(("kalshi_cli.cli.", "rich", "tabulate", "yaml"))}
    assert loaded == {
        "kalshi_cli.cli._context",
        "kalshi_cli.cli._options",
        "kalshi_cli.cli._output",
        "kalshi_cli.cli.app",
    }
