"""Runs you can find again (kalshi_cli/backtest/history.py): every `kalshi backtest` run and
sweep is stored with its spec, the strategy's source hash, its parameters, the data set's
fingerprint, the version and the report; `kalshi backtest runs list|show|compare` read them."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli import __version__
from kalshi_cli.backtest.dataset import fingerprint
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.strategies import spike
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("runs"), seconds=120, tickers=[LAL])


def run_json(args: list[str], home: Path) -> Any:
    done = kalshi([*args, "--json"], home)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_runs_are_stored_listed_shown_and_compared(data: Path, tmp_path: Path) -> None:
    base = ["backtest", "--strategy", "spike", "--data", str(data)]
    empty = run_json(["backtest", "runs", "list"], tmp_path)
    assert empty == {"runs": []}
    assert not (tmp_path / "backtests").exists(), "a listing creates nothing"

    first = run_json([*base, "--param", "take_profit=0.06"], tmp_path)
    second = run_json([*base, "--param", "take_profit=0.04"], tmp_path)
    a, b = str(first["run_id"]), str(second["run_id"])
    assert a != b

    listed = run_json(["backtest", "runs", "list"], tmp_path)["runs"]
    assert isinstance(listed, list)
    assert [r["id"] for r in listed] == sorted([a, b])
    by_id = {r["id"]: r for r in listed}
    # every validated param is stored, the one given among them
    assert by_id[a]["params"]["take_profit"] == "0.06"
    assert by_id[a]["net"] == first["totals"]["net"]

    shown = run_json(["backtest", "runs", "show", a[:-2]], tmp_path)  # a unique start
    # the module the `kalshi` process ran: this checkout's, or an installed copy of it (CI
    # installs the package), the same bytes either way
    source = Path(spike.__file__)
    assert shown["strategy"]["name"] == "spike"
    assert Path(shown["strategy"]["file"]).name == source.name
    assert shown["strategy"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert shown["data"] == {"path": str(data.resolve()), "fingerprint": fingerprint(data)}
    assert shown["version"] == __version__
    assert dict(shown["spec"]["params"])["take_profit"] == "0.06"
    report = dict(first)
    del report["run_id"]
    assert shown["report"] == report  # the report as the run printed it

    text = kalshi(["backtest", "runs", "show", "last"], tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"run {b} (run)")
    assert "net P&L" in text.stdout

    diff = run_json(["backtest", "runs", "compare", a, b], tmp_path)
    assert diff["inputs"] == [
        {"what": "params", "a": {"take_profit": "0.06"}, "b": {"take_profit": "0.04"}}
    ]
    rows = {r["figure"]: r for r in diff["figures"]}
    net_a = Decimal(first["totals"]["net"])
    net_b = Decimal(second["totals"]["net"])
    assert Decimal(rows["totals.net"]["difference"]) == net_b - net_a
    assert rows["totals.fills"]["difference"] == (
        second["totals"]["fills"] - first["totals"]["fills"]
    )
    assert "statistics.sharpe.reason" in rows
    table = kalshi(["backtest", "runs", "compare", a, b], tmp_path)
    assert table.returncode == 0, table.stderr
    assert "params differs" in table.stdout and "totals.net" in table.stdout


def test_a_sweep_is_stored_with_every_run(data: Path, tmp_path: Path) -> None:
    args = ["backtest", "--strategy", "spike", "--data", str(data), "--jobs", "1", "--no-cache"]
    sweep = run_json([*args, "--param", "take_profit=0.04,0.06"], tmp_path)
    stored = run_json(["backtest", "runs", "show", str(sweep["run_id"])], tmp_path)
    assert stored["kind"] == "sweep"
    assert stored["axes"] == {"take_profit": ["0.04", "0.06"]}
    runs = stored["runs"]
    assert isinstance(runs, list) and len(runs) == 2
    assert [r["totals"] for r in runs] == [r["totals"] for r in sweep["runs"]]
    assert all(r["statistics"]["returns"]["basis"] == "trade" for r in runs)
    (line,) = run_json(["backtest", "runs", "list"], tmp_path)["runs"]
    assert line["kind"] == "sweep" and line["runs"] == 2


def test_the_list_shows_a_sweeps_best_set_its_net_and_how_many_ran(
    data: Path, tmp_path: Path
) -> None:
    args = ["backtest", "--strategy", "spike", "--data", str(data), "--jobs", "1", "--no-cache"]
    sweep_args = ["--param", "take_profit=0.02,0.06", "--param", "order_count=20"]
    sweep = run_json([*args, *sweep_args], tmp_path)
    best = sweep["runs"][0]
    assert Decimal(best["totals"]["net"]) != 0  # a figure the default params would not show
    (line,) = run_json(["backtest", "runs", "list"], tmp_path)["runs"]
    assert line["best_params"] == best["params"] and line["net"] == best["totals"]["net"]
    assert (line["runs"], line["failed"]) == (2, 0)
    table = kalshi(["backtest", "runs", "list"], tmp_path)
    assert table.returncode == 0, table.stderr
    (row,) = [r for r in table.stdout.splitlines() if r.startswith(sweep["run_id"])]
    assert "sweep of 2, 0 failed" in row
    # the swept values of the best set, not the base's params, beside its net
    assert f"best: take_profit={best['params']['take_profit']}" in row
    assert "max_hold_s" not in row and best["totals"]["net"].rstrip("0") in row


def test_an_unknown_run_exits_not_found(tmp_path: Path) -> None:
    done = kalshi(["backtest", "runs", "show", "nope"], tmp_path)
    assert done.returncode == ExitCode.NOT_FOUND
    assert "no stored backtest run 'nope'" in done.stderr
    missing = kalshi(["backtest"], tmp_path)
    assert missing.returncode == ExitCode.USAGE
    assert "needs --data" in missing.stderr
