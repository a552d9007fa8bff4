"""`kalshi mcp` refuses to start, in one line and with its exit code, without the `mcp` extra,
with --http and no bearer token, and with --http bound beyond loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.vocabulary.exit_codes import ExitCode

# the entry point with the SDK made unimportable, as on a machine without the extra
WITHOUT_MCP = """
import json, sys
sys.modules["mcp"] = None
sys.argv = ["kalshi", *json.loads(sys.argv[1])]
from kalshi_cli.__main__ import main
main()
"""


def kalshi(
    args: list[str], home: Path, *, without_mcp: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env |= {"KALSHI_HOME": str(home), "HOME": str(home), "NO_COLOR": "1"}
    command = (
        [sys.executable, "-c", WITHOUT_MCP, json.dumps(args)]
        if without_mcp
        else [sys.executable, "-m", "kalshi_cli", *args]
    )
    return subprocess.run(
        command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
        timeout=120, check=False,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_without_the_extra_it_says_how_to_install_it(tmp_path: Path) -> None:
    done = kalshi(["mcp"], tmp_path, without_mcp=True)
    assert done.returncode == ExitCode.CONFIG
    assert "pip install 'kalshi-cli[mcp]'" in one_line(done)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["mcp", "--http"], ExitCode.CONFIG, "needs a bearer token"),
        (["mcp", "--http", "--host", "0.0.0.0"], ExitCode.USAGE, "serves this machine only"),
    ],
)
def test_http_is_refused_without_a_token_or_beyond_loopback(
    tmp_path: Path, args: list[str], code: ExitCode, says: str
) -> None:
    done = kalshi(args, tmp_path)
    assert done.returncode == code
    assert says in one_line(done)
