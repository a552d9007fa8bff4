"""The README's promises: two set-up commands, and an overview naming every command."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from kalshi_cli.cli.app import COMMANDS

from .fakes import run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands() -> None:
    install_and_trade, test_suite = quick_start_commands()
    assert install_and_trade.startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert install_and_trade.endswith(".venv/bin/kalshi trade --strategy spike --duration 60")
    assert test_suite == "bash .ci/run"
    assert (ROOT / ".ci" / "run").exists()


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    """`kalshi --version` reads pyproject's version from the installed metadata: one source."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert metadata.version("kalshi-cli") == declared
    result = run(["--version"], home=tmp_path)
    assert result.stdout == f"kalshi {declared}\n"
    assert "__version__ =" not in (ROOT / "kalshi_cli" / "__init__.py").read_text()


def test_the_main_job_command_line_parses(tmp_path: Path) -> None:
    result = run(["trade", "--help"], home=tmp_path)
    assert result.exit_code == 0
    assert "--strategy" in result.stdout and "--duration" in result.stdout


def test_overview_names_every_command() -> None:
    overview = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for entry in COMMANDS:
        assert f"`kalshi {entry.name}" in overview or f"/ `{entry.name}" in overview, entry.name
