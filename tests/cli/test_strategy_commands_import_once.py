"""`kalshi strategy check` and `kalshi strategy list` import a strategy file the config names
(`strategies.NAME.strategy`) once: the config check loads it, and the command shows and runs
what the check loaded. The file logs each import, and changes itself as it is imported, so a
second lookup would show as a second import (tests/backtest/test_strategy_imported_once.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backtest.test_strategy_imported_once import _imports_here, _strategy_file
from tests.cli.fakes import run


def _configured(home: Path) -> Path:
    strategy = _strategy_file(home / "strats", "fv.py")
    (home / "config.yaml").write_text(
        "strategies:\n  fair-value:\n    strategy: strats/fv.py\n    fair: 0.6\n"
    )
    return strategy


def test_strategy_check_imports_a_configured_strategy_once(tmp_path: Path) -> None:
    strategy = _configured(tmp_path)
    done = run(["strategy", "check", "fair-value", "--json"], home=tmp_path)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["params"]["fair"] == "0.6"
    assert _imports_here(strategy) == 1


def test_strategy_list_imports_a_configured_strategy_once(tmp_path: Path) -> None:
    strategy = _configured(tmp_path)
    done = run(["strategy", "list", "--json"], home=tmp_path)
    assert done.exit_code == 0, done.output
    docs = {d["name"]: d for d in json.loads(done.stdout)["strategies"]}
    assert docs["fair-value"]["origin"] == "configured"
    assert docs["fair-value"]["spec"] == str(strategy)
    assert _imports_here(strategy) == 1
