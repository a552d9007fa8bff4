"""A backtest or a sweep imports the trader's strategy file once in the process that runs the
command, and runs the very strategy it checked: `--strategy FILE`, a strategy beside it, and a
strategy the config file names by `strategies.NAME.strategy` alike, the run's stored
provenance and the look-ahead check's runs included.

The loader keys a file's module on its bytes, so a file that changes between two lookups is
imported again. The strategy file here changes itself as it is imported (as a trader's save
would while the command starts) and logs each import with the importing process: a second
lookup anywhere in the command shows as a second import by this process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kalshi_cli.data.importer import import_jsonl
from tests.backtest.test_fractional_replay import _frames
from tests.cli.fakes import run
from tests.strategies.test_user_strategies import EXAMPLE

LOGGING = """
import os as _os
from pathlib import Path as _Path

with open(_Path(__file__).with_name("imports.log"), "a") as _log:
    _log.write(f"{_os.getpid()}\\n")
with open(__file__, "a") as _self:
    _self.write("# saved again\\n")
"""


def _strategy_file(directory: Path, name: str = "fair_value.py") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(EXAMPLE.read_text() + LOGGING)
    return path


def _imports_here(strategy: Path) -> int:
    """How many times this process imported the file (a sweep's workers are other processes)."""
    log = strategy.with_name("imports.log")
    lines = log.read_text().split() if log.exists() else []
    return lines.count(str(os.getpid()))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    source = tmp_path / "capture.jsonl"
    _frames(source)
    import_jsonl(source, tmp_path / "set")
    return tmp_path / "set"


def _backtest(home: Path, args: list[str]) -> dict[str, object]:
    done = run(["backtest", *args, "--json"], home=home)
    assert done.exit_code == 0, done.output
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_a_backtest_imports_its_strategy_file_once(data: Path, tmp_path: Path) -> None:
    strategy = _strategy_file(tmp_path / "code")
    report = _backtest(
        tmp_path / "home", ["--strategy", str(strategy), "--data", str(data), "--lookahead-check"]
    )
    assert report["lookahead"]["ok"] is True  # type: ignore[index]
    assert report["run_id"]  # stored, with its provenance
    assert _imports_here(strategy) == 1


def test_a_sweep_imports_its_strategy_file_once_in_the_command(data: Path, tmp_path: Path) -> None:
    strategy = _strategy_file(tmp_path / "code")
    args = ["--strategy", str(strategy), "--data", str(data), "--param", "fair=0.5,0.6"]
    report = _backtest(tmp_path / "home", [*args, "--jobs", "1", "--no-cache"])
    assert len(report["runs"]) == 2  # type: ignore[arg-type]
    assert _imports_here(strategy) == 1


def test_a_strategy_run_beside_another_is_imported_once(data: Path, tmp_path: Path) -> None:
    strategy = _strategy_file(tmp_path / "code")
    args = ["--strategy", "spike", "--strategy", str(strategy), "--data", str(data)]
    _backtest(tmp_path / "home", args)
    assert _imports_here(strategy) == 1


def test_a_configured_strategy_is_imported_once_by_the_config_check_and_the_run(
    data: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    strategy = _strategy_file(home / "strats", "fv.py")
    (home / "config.yaml").write_text(
        "strategies:\n  fair-value:\n    strategy: strats/fv.py\n    fair: 0.6\n"
    )
    report = _backtest(home, ["--strategy", "fair-value", "--data", str(data)])
    spec = report["spec"]
    assert spec["strategy"] == str(strategy)  # type: ignore[index]
    assert ["fair", "0.6"] in spec["params"]  # type: ignore[index]  # the config's params
    assert _imports_here(strategy) == 1
