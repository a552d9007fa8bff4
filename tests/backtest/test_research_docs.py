"""The command lines of docs/backtesting.md "Train and holdout, walk-forward, and search" run
as written, in order, on a recorded data set at `recordings/kx`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from kalshi_cli.backtest.scenario import record_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "backtesting.md"
SECTION = "## Train and holdout, walk-forward, and search"


def section_commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    body = text[text.index(SECTION) :]
    block = re.search(r"```bash\n(.*?)```", body, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.startswith("kalshi ")]


def test_the_sections_commands_run_as_written(tmp_path: Path) -> None:
    record_scenario(
        "default", tmp_path / "recordings" / "kx", seconds=200,
        tickers=["KXNBAGAME-SIM-LALGSW-LAL"],
    )  # fmt: skip
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    commands = section_commands()
    assert len(commands) >= 5
    for line in commands:
        args = shlex.split(line)[1:]
        done = subprocess.run(
            [found, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stderr)
    # the search's best params were written where the doc says, and read back
    assert "take_profit:" in (tmp_path / "best.yaml").read_text()
