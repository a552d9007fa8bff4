"""docs/cli.md is generated from --help; this fails when someone changed a command and not it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_cli_docs.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    script = load_script()
    assert script.DOC.read_text(encoding="utf-8") == script.render(), (
        "docs/cli.md is stale: run `python scripts/gen_cli_docs.py`"
    )


def test_reference_covers_every_command() -> None:
    script = load_script()
    paths = [" ".join(p) for p in script.command_paths()]
    for expected in ("", "markets", "orderbook", "health-check", "config show", "config init",
                     "sim serve"):  # fmt: skip
        assert expected in paths


def test_root_summaries_match_each_command_help() -> None:
    from kalshi_cli.cli.app import COMMANDS, load_command

    for entry in COMMANDS:
        command = load_command(entry)
        assert command.get_short_help_str(limit=200) == entry.summary, entry.name
