"""A trader's own strategy, through `kalshi`: a `.py` file, an import path and an installed
distribution's entry point; its params from a YAML file, validated with file and line; `kalshi
strategy new|list|check`; refusals before anything runs (exit 2). In-process where nothing but
the command is under test; the installed script where the process's own import path or working
directory is (an import path, an entry point, a file beside the trader)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest import in_process

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "strategies" / "fair_value.py"
EXAMPLE_PARAMS = ROOT / "examples" / "strategies" / "fair_value.yaml"
LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def script() -> str:
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


def kalshi(
    args: list[str], home: Path, *, pythonpath: Path | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    if pythonpath is None and cwd is None:
        return in_process.kalshi(args, home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), HOME=str(home))
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [script(), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("us"), seconds=200, tickers=[LAL])


# --------------------------------------------------------------------------------------------
# The example strategy file, through `strategy check` and `backtest`


def test_check_runs_the_example_file_and_shows_what_it_decided(tmp_path: Path) -> None:
    done = kalshi(
        ["strategy", "check", str(EXAMPLE), "--params", str(EXAMPLE_PARAMS), "--json"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["strategy"] == "fair-value"
    assert result["origin"] == "file"
    assert result["params"]["fair"] == "0.55"  # the params file's, not the default 0.50
    kinds = [(d["action"], d["side"]) for d in result["decisions"]]
    # the synthetic mid starts at 0.50 (YES offered at 0.51 < 0.55 - 0.02), then jumps to 0.62
    assert kinds[:2] == [("buy", "yes"), ("sell", "yes")], result["decisions"]
    sell = result["decisions"][1]
    assert sell["reduce_only"] is True
    assert sell["reason"].startswith("fair-value: take-profit")


def test_backtest_runs_the_example_file(data: Path, tmp_path: Path) -> None:
    args = ["--strategy", str(EXAMPLE), "--params", str(EXAMPLE_PARAMS), "--data", str(data)]
    done = kalshi(["backtest", *args, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["spec"]["strategy"] == str(EXAMPLE)
    assert report["spec"]["strategy_source"].startswith("sha256:")
    assert dict(report["spec"]["params"])["fair"] == "0.55"
    assert report["totals"]["orders"] > 0
    assert list(report["by_strategy"]) == ["fair-value"]


def test_a_built_in_is_keyed_on_the_package_version(data: Path, tmp_path: Path) -> None:
    from kalshi_cli import __version__

    done = kalshi(["backtest", "--strategy", "spike", "--data", str(data), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["spec"]["strategy_source"] == f"kalshi-cli=={__version__}"


def test_the_lookahead_check_loads_the_file_for_its_cut_runs(data: Path, tmp_path: Path) -> None:
    args = ["--strategy", str(EXAMPLE), "--params", str(EXAMPLE_PARAMS), "--data", str(data)]
    done = kalshi(["backtest", *args, "--lookahead-check", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    check = json.loads(done.stdout)["lookahead"]
    assert check["ok"] is True
    assert check["signals"] > 0 and check["checked"]  # cut copies run again, the file loaded


def test_a_relative_path_works_from_where_the_trader_stands(data: Path, tmp_path: Path) -> None:
    done = kalshi(
        ["backtest", "--strategy", "examples/strategies/fair_value.py", "--data", str(data)],
        tmp_path,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "fair_value.py" in done.stdout


# --------------------------------------------------------------------------------------------
# Sweeps: each worker loads the file; the cache follows the file's contents


def _sweep(strategy: Path, data: Path, home: Path) -> list[dict[str, object]]:
    args = ["backtest", "--strategy", str(strategy), "--data", str(data)]
    done = kalshi([*args, "--param", "edge=0.02,0.05", "--jobs", "2", "--json"], home)
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, object]] = json.loads(done.stdout)["runs"]
    return runs


def test_a_changed_strategy_file_is_run_again_not_taken_from_the_cache(
    data: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.py"
    shutil.copy(EXAMPLE, mine)
    first = _sweep(mine, data, tmp_path)
    assert [r["cached"] for r in first] == [False, False]
    again = _sweep(mine, data, tmp_path)
    assert [r["cached"] for r in again] == [True, True]
    assert [r["totals"] for r in again] == [r["totals"] for r in first]
    # the trader edits the strategy: a larger order per entry
    text = mine.read_text()
    old = 'order_count: Annotated[Decimal, Range(gt=0)] = Decimal("5")'
    mine.write_text(text.replace(old, old.replace('"5"', '"7"')))
    assert mine.read_text() != text
    edited = _sweep(mine, data, tmp_path)
    assert [r["cached"] for r in edited] == [False, False]
    assert [r["totals"] for r in edited] != [r["totals"] for r in first]


LAUNCHER = """\
from pathlib import Path
from kalshi_cli import BacktestSpec, run_sweep

specs = [
    BacktestSpec(data={data!r}, strategy={strategy!r}, params=(("edge", edge),))
    for edge in ("0.02", "0.05")
]
results = run_sweep(specs, jobs=2)
print("runs", len(results), sorted(r["totals"]["orders"] for _, r, _ in results))
"""


def test_a_launcher_without_a_main_guard_runs_a_sweep(data: Path, tmp_path: Path) -> None:
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(data=str(data), strategy=str(EXAMPLE)))
    done = subprocess.run(
        [sys.executable, str(launcher)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("runs 2") == 1, done.stdout  # the launcher ran once, not per worker


# --------------------------------------------------------------------------------------------
# Import paths and entry points


def _package(site: Path) -> Path:
    """A package `userstrats` holding the example strategy, under `site`."""
    pkg = site / "userstrats"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    shutil.copy(EXAMPLE, pkg / "fv.py")
    return pkg


def test_an_import_path_names_a_strategy(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _package(site)
    done = kalshi(
        ["strategy", "check", "userstrats.fv:STRATEGY", "--json"], tmp_path, pythonpath=site
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["strategy"], result["origin"]) == ("fair-value", "import path")
    assert result["decisions"]


def test_an_installed_entry_point_is_listed_and_runs(tmp_path: Path, data: Path) -> None:
    site = tmp_path / "site"
    _package(site)
    dist = site / "userstrats-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: userstrats\nVersion: 1.2\n")
    (dist / "entry_points.txt").write_text(
        "[kalshi_cli.strategies]\nfair-value = userstrats.fv:STRATEGY\n"
    )
    (dist / "top_level.txt").write_text("userstrats\n")
    listed = kalshi(["strategy", "list", "--json"], tmp_path, pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    docs = {d["name"]: d for d in json.loads(listed.stdout)["strategies"]}
    assert docs["fair-value"]["origin"] == "installed"
    assert docs["fair-value"]["source"] == "userstrats==1.2"
    assert {p["name"] for p in docs["fair-value"]["params"]} == {
        "fair", "edge", "take_profit", "order_count"
    }  # fmt: skip
    assert docs["spike"]["origin"] == "built-in"
    done = kalshi(
        ["backtest", "--strategy", "fair-value", "--data", str(data), "--json"],
        tmp_path,
        pythonpath=site,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["spec"]["strategy_source"] == "userstrats==1.2"
    assert list(report["by_strategy"]) == ["fair-value"]


# --------------------------------------------------------------------------------------------
# Refused before anything runs: one line with the file and line, exit 2

BAD_FILES = {
    "syntax": ("from kalshi_cli.strategy_api import Strategy\n\ndef decide(:\n", 3, "cannot load"),
    "raises": ("import math\nVALUE = 1 / 0\n", 2, "ZeroDivisionError"),
    "empty": ("X = 1\n", 1, "defines no strategy"),
    "params": (
        "from dataclasses import dataclass\n"
        "from kalshi_cli.strategy_api import Strategy\n"
        "@dataclass(frozen=True)\n"
        "class P:\n"
        "    x: int = 1\n"
        "def decide(s, p, q):\n"
        "    return []\n"
        "STRATEGY = Strategy('mine', P, decide)\n",
        3,
        "is not a subclass of kalshi_cli.strategy_api.Params",
    ),
    "arity": (
        "from kalshi_cli.strategy_api import Params, Strategy\n"
        "class P(Params, frozen=True):\n"
        "    x: int = 1\n"
        "def decide(snapshot):\n"
        "    return []\n"
        "STRATEGY = Strategy('mine', P, decide)\n",
        4,
        "decide must take (snapshot, position, params)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
@pytest.mark.parametrize("command", ["check", "backtest", "trade"])
def test_a_bad_strategy_file_is_refused_with_its_file_and_line(
    tmp_path: Path, case: str, command: str, data: Path
) -> None:
    text, line, why = BAD_FILES[case]
    bad = tmp_path / f"{case}.py"
    bad.write_text(text)
    args = {
        "check": ["strategy", "check", str(bad)],
        "backtest": ["backtest", "--strategy", str(bad), "--data", str(data)],
        "trade": ["trade", "--strategy", str(bad), "--dry-run", "--once"],
    }[command]
    done = kalshi(args, tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    first = done.stderr.strip().splitlines()[0]
    assert f"{bad}:{line}:" in first, done.stderr
    assert why in first, done.stderr
    assert "Traceback" not in done.stderr
    if command == "trade":
        assert not (tmp_path / "sim").exists()  # no simulator started, nothing sent


@pytest.mark.parametrize("default", ["0.5", '"0.5"', "True", "Decimal('1.5')"])
def test_a_params_default_that_does_not_validate_is_refused_at_load(
    tmp_path: Path, default: str
) -> None:
    """A default is held to what a value in the config is: a float (or a string, a bool) for a
    Decimal would reach prices as itself, since msgspec never checks a default."""
    from kalshi_cli.strategies.loader import load

    mine = tmp_path / "mine.py"
    mine.write_text(
        "from decimal import Decimal\n"
        "from typing import Annotated\n"
        "from kalshi_cli.strategy_api import Params, Range, Strategy\n"
        "class P(Params, frozen=True):\n"
        f"    fair: Annotated[Decimal, Range(gt=0, lt=1)] = {default}\n"
        "def decide(snapshot, position, params):\n"
        "    return []\n"
        "STRATEGY = Strategy('mine', P, decide)\n"
    )
    refused = rf"^{mine}:4: mine: its default params are refused: .*fair"
    with pytest.raises(UsageError, match=refused):
        load(str(mine))


def test_check_names_the_line_where_decide_raised(tmp_path: Path) -> None:
    mine = tmp_path / "mine.py"
    text = EXAMPLE.read_text()
    marker = "    own = position.own"
    assert marker in text
    mine.write_text(text.replace(marker, f"{marker}\n    1 / (snapshot.ts - snapshot.ts)"))
    line = mine.read_text().splitlines().index("    1 / (snapshot.ts - snapshot.ts)") + 1
    done = kalshi(["strategy", "check", str(mine)], tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    first = done.stderr.strip().splitlines()[0]
    assert f"{mine}:{line}: fair-value: decide raised ZeroDivisionError" in first, done.stderr


def test_a_helper_module_beside_the_file_imports(tmp_path: Path) -> None:
    (tmp_path / "fair_helpers.py").write_text('FAIR = "0.58"\n')
    mine = tmp_path / "mine.py"
    text = EXAMPLE.read_text()
    text = text.replace(
        'NAME = "fair-value"', 'from fair_helpers import FAIR\n\nNAME = "fair-value"'
    )
    mine.write_text(text.replace('Updatable] = Decimal("0.50")', "Updatable] = Decimal(FAIR)"))
    done = kalshi(["strategy", "check", str(mine), "--json"], tmp_path, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["params"]["fair"] == "0.58"


# --------------------------------------------------------------------------------------------
# Params: validated as a whole, with the file and line of the key


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("fair: 0.55\nedg: 0.02\n", 2, "unknown parameter `strategies.fair-value.edg`"),
        ("fair: 1.5\n", 1, "strategies.fair-value.fair: must be < 1, got 1.5"),
        (
            "edge: 0.02\norder_count: lots\n",
            2,
            "strategies.fair-value.order_count: expected a number, not 'lots'",
        ),
        ("edge: true\n", 1, "strategies.fair-value.edge: expected a number, not true"),
    ],
)
def test_bad_params_are_refused_at_their_line(
    tmp_path: Path, text: str, line: int, why: str
) -> None:
    params = tmp_path / "p.yaml"
    params.write_text(text)
    done = kalshi(["strategy", "check", str(EXAMPLE), "--params", str(params)], tmp_path)
    assert done.returncode == ExitCode.CONFIG, done.stderr
    first = done.stderr.strip().splitlines()[0]
    assert f"{params}:{line}: " in first and why in first, done.stderr
    if "edg:" in text:
        assert "did you mean `edge`?" in done.stderr


def test_a_configured_strategy_takes_its_params_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "strats").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "strats" / "fv.py")
    config = tmp_path / "config.yaml"
    config.write_text("strategies:\n  fair-value:\n    strategy: strats/fv.py\n    fair: 0.6\n")
    listed = kalshi(["strategy", "list", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    docs = {d["name"]: d for d in json.loads(listed.stdout)["strategies"]}
    assert docs["fair-value"]["origin"] == "configured"
    assert docs["fair-value"]["spec"] == str(tmp_path / "strats" / "fv.py")
    done = kalshi(["strategy", "check", "fair-value", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["params"]["fair"] == "0.6"
    config.write_text("strategies:\n  fair-value:\n    strategy: strats/fv.py\n    fiar: 0.6\n")
    bad = kalshi(["strategy", "check", "fair-value"], tmp_path)
    assert bad.returncode == ExitCode.CONFIG, bad.stderr
    assert f"{config}:4: unknown parameter `strategies.fair-value.fiar`" in bad.stderr
    assert "did you mean `fair`?" in bad.stderr


# --------------------------------------------------------------------------------------------
# strategy new


def test_new_writes_a_strategy_its_params_and_a_test_that_passes(tmp_path: Path) -> None:
    done = kalshi(["strategy", "new", "my-edge", "--dir", str(tmp_path / "s")], tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(Path(p).name for p in done.stdout.split())
    assert written == ["my_edge.py", "my_edge.yaml", "test_my_edge.py"]
    checked = kalshi(["strategy", "check", str(tmp_path / "s" / "my_edge.py"), "--json"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["strategy"] == "my-edge"
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_edge.py"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path / "s",
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
    again = kalshi(["strategy", "new", "my-edge", "--dir", str(tmp_path / "s")], tmp_path)
    assert again.returncode == ExitCode.USAGE
    assert "exists already" in again.stderr


def test_new_refuses_a_built_ins_name_and_writes_nothing(tmp_path: Path) -> None:
    from kalshi_cli.strategies.scaffold import scaffold

    with pytest.raises(UsageError, match="built-in"):
        scaffold("spike", tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("name", ["manual", "stop-loss", "agent", "batch", "external"])
def test_new_refuses_a_name_the_state_file_keeps_for_no_strategy_and_writes_nothing(
    name: str, tmp_path: Path
) -> None:
    """Every loader refuses such a strategy: its files are never written."""
    from kalshi_cli.strategies.scaffold import scaffold

    with pytest.raises(UsageError, match="without a strategy"):
        scaffold(name, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_new_refuses_a_name_its_order_ids_cannot_carry_whole(tmp_path: Path) -> None:
    from kalshi_cli.strategies.scaffold import scaffold

    with pytest.raises(UsageError, match="31"):
        scaffold("a" * 32, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_sweep_writes_its_best_params_to_a_file_params_reads_back(
    data: Path, tmp_path: Path
) -> None:
    best = tmp_path / "best.yaml"
    args = ["backtest", "--strategy", str(EXAMPLE), "--data", str(data)]
    swept = kalshi(
        [*args, "--param", "edge=0.02,0.05", "--jobs", "2", "--best-params", str(best), "--json"],
        tmp_path,
    )
    assert swept.returncode == 0, swept.stderr
    top = json.loads(swept.stdout)["runs"][0]
    assert best.exists(), "the best params are written"
    again = kalshi([*args, "--params", str(best), "--json"], tmp_path)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    # the file holds the top run's params, every one: the run they make is that run
    assert report["totals"] == top["totals"]
    assert {k: str(v) for k, v in top["params"].items()} == dict(report["spec"]["params"])


def test_check_gives_each_decide_the_loops_deadline_and_names_the_decide(tmp_path: Path) -> None:
    """A `decide` that takes a second would hold the check for every step of the market
    (minutes); past its first call (its start) it is given the deadline of a model's call, and
    the first it misses ends the check."""
    mine = tmp_path / "slow.py"
    text = EXAMPLE.read_text()
    marker = "    own = position.own"
    mine.write_text(text.replace(marker, f"    import time\n\n    time.sleep(1)\n{marker}"))
    line = next(
        n for n, row in enumerate(mine.read_text().splitlines(), 1) if row.startswith("def decide")
    )
    done = kalshi(["strategy", "check", str(mine)], tmp_path)  # the old code: past the timeout
    assert done.returncode == ExitCode.USAGE, done.stderr
    first = done.stderr.strip().splitlines()[0]
    assert f"{mine}:{line}: fair-value: decide did not return within 500 ms" in first, first


BOOK_DRIVEN = """
from decimal import Decimal

from kalshi_cli.strategy_api import Decision, MarketSnapshot, Params, PositionView, Side
from kalshi_cli.strategy_api import Strategy, buy_at_ask, close_at_bid

NAME = "book-tilt"


class TiltParams(Params, frozen=True):
    ratio: Decimal = Decimal("2")


def decide(snapshot: MarketSnapshot, position: PositionView, params: TiltParams) -> list[Decision]:
    book, own = snapshot.book, position.own
    if not book.yes_bids or not book.no_bids:
        return []
    yes, no = book.yes_bids[0].size, book.no_bids[0].size
    side = Side.YES if yes >= params.ratio * no else Side.NO if no >= params.ratio * yes else None
    if side is None or own.held_side is side:
        return []
    why = f"{NAME}: {side.value} bids heavier"
    if own.held_side is not None:
        decision = close_at_bid(snapshot, own, fair=Decimal("0.01"), reason=why, strategy=NAME)
    else:
        decision = buy_at_ask(
            snapshot, side, count=Decimal(1), fair=Decimal("0.99"), reason=why, strategy=NAME,
            min_edge=Decimal(0),
        )
    return [] if decision is None else [decision]


STRATEGY = Strategy(NAME, TiltParams, decide)
"""


def test_the_synthetic_market_has_imbalance_a_book_driven_strategy_acts_on(tmp_path: Path) -> None:
    mine = tmp_path / "tilt.py"
    mine.write_text(BOOK_DRIVEN)
    done = kalshi(["strategy", "check", str(mine), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    reasons = {d["reason"] for d in json.loads(done.stdout)["decisions"]}
    # heavier YES bids before the rise, heavier NO bids before the fall
    assert reasons == {"book-tilt: yes bids heavier", "book-tilt: no bids heavier"}
