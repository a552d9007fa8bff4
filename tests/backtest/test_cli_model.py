"""The model strategy as a user runs it: `kalshi backtest|trade --strategy model --model ...`
with each kind of source, the examples of examples/models/ and the worked examples of
docs/models.md, and models that hang, crash, answer garbage or go stale (docs/models.md)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest import in_process

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "models"
UNDER_TEST = ROOT / "tests" / "strategies" / "models_under_test.py"
DOCS = ROOT / "docs" / "models.md"

# the anchor model of examples/models/, as each kind of source
ANCHOR = {
    "python-module": "python:anchor:fair",  # importable: examples/models is on PYTHONPATH
    "python-file": f"python:{EXAMPLES / 'anchor.py'}:fair",
    "command-python": f"command:{sys.executable} {EXAMPLES / 'anchor_command.py'}",
    "command-jq": f"command:sh {EXAMPLES / 'anchor.sh'}",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("rec"), seconds=200, tickers=[LAL])


def kalshi(
    args: list[str], home: Path, *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """In-process, with examples/models importable and the working directory `cwd`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLES))
        patch.setenv("PYTHONPATH", str(EXAMPLES))
        if cwd is not None:
            patch.chdir(cwd)
        return in_process.kalshi(args, home)


def backtest(
    data: Path, model: str, out: Path, *params: str, failed: bool = False
) -> dict[str, Any]:
    """The run's report; a run whose model failed a decision exits STRATEGY_FAILED."""
    args = ["backtest", "--strategy", "model", "--model", model, "--data", str(data)]
    for p in params:
        args += ["--param", p]
    done = kalshi([*args, "--out", str(out), "--keep-state", "--json"], out.parent)
    assert done.returncode == (ExitCode.STRATEGY_FAILED if failed else 0), done.stderr
    report = json.loads(done.stdout)
    assert (report["failed"] is not None) is failed
    return {"report": report, "out": out}


def events(log: Path, kind: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["event"] == kind]


def orders(out: Path) -> list[tuple[Any, ...]]:
    with Store.open(out / "backtest.db") as store:
        return [
            (i.created_at, i.ticker, i.side.value, i.action.value, i.price, i.count)
            for i in store.orders.intents()
        ]


def test_the_anchor_model_places_the_same_orders_from_every_kind_of_source(
    data: Path, tmp_path: Path
) -> None:
    placed = {}
    for kind, model in ANCHOR.items():
        run = backtest(data, model, tmp_path / kind)
        assert run["report"]["totals"]["fills"] >= 1, kind
        placed[kind] = orders(tmp_path / kind)
        reasons = [e["reason"] for e in events(tmp_path / kind / "backtest.log", "order_placed")]
        assert reasons and all("version anchor" in r for r in reasons), (kind, reasons)
        assert events(tmp_path / kind / "backtest.log", "strategy_error") == []
    first = placed["python-module"]
    assert len(first) >= 2
    assert all(p == first for p in placed.values()), placed


def test_the_csv_example_trades_through_the_file_source(data: Path, tmp_path: Path) -> None:
    run = backtest(data, f"file:{EXAMPLES / 'fair_values.csv'}", tmp_path / "csv")
    assert run["report"]["totals"]["fills"] >= 1
    placed = events(tmp_path / "csv" / "backtest.log", "order_placed")
    # the file's fair YES 0.50 against a market spiking to 0.68: it buys NO, worth 0.50
    assert placed and {(e["side"], e["model_fair"]) for e in placed} == {("no", "0.50")}
    assert all("version csv-1" in e["reason"] for e in placed)


def _doc_examples() -> dict[str, str]:
    return dict(re.findall(r"<!-- example: (\w+) -->\n```\w*\n(.*?)```", DOCS.read_text(), re.S))


def test_the_worked_examples_of_the_docs_run_as_written_and_agree(
    data: Path, tmp_path: Path
) -> None:
    examples = _doc_examples()
    (tmp_path / "anchor_model.py").write_text(examples["python"])
    python_run = kalshi(
        ["backtest", "--strategy", "model", "--data", str(data), "--out", "py", "--keep-state",
         "--model", f"command:{sys.executable} anchor_model.py"],
        tmp_path, cwd=tmp_path,
    )  # fmt: skip
    assert python_run.returncode == 0, python_run.stderr
    jq_args = shlex.split(examples["jq"].replace("recordings/kx", str(data)))
    assert jq_args[:2] == ["kalshi", "backtest"]
    jq_run = kalshi([*jq_args[1:], "--out", "jq", "--keep-state"], tmp_path, cwd=tmp_path)
    assert jq_run.returncode == 0, jq_run.stderr
    python_orders, jq_orders = orders(tmp_path / "py"), orders(tmp_path / "jq")
    assert len(python_orders) >= 2
    assert python_orders == jq_orders


FAILING = {
    "python-hangs": ("python:{ut}:hangs", "no answer within 50 ms|has not returned"),
    "python-crashes": ("python:{ut}:crashes", "data feed is gone"),
    "python-garbage": ("python:{ut}:above_one", "got 1.5"),
    "command-hangs": ("command:{py} {ut} silent", "no answer within (50|200) ms|down"),
    "command-crashes": ("command:{py} {ut} exit-after-one", "exited|down"),
    "command-garbage": ("command:{py} {ut} not-json", "not a JSON|down"),
}
# A model that never answers is failed by its deadline, whatever the deadline: a short one
# keeps the run short. One that crashes or answers garbage must fail for that, never for a
# deadline a busy machine missed first (an interpreter that exits, or starts again, later than
# 50 ms): its deadline is one no machine misses.
DEADLINE = {"python-hangs": "timeout_ms=50", "command-hangs": "timeout_ms=50"}
PATIENT = "timeout_ms=30000"


@pytest.mark.parametrize("name", sorted(FAILING))
def test_a_failing_model_trades_nothing_and_fails_the_run(
    name: str, data: Path, tmp_path: Path
) -> None:
    source, message = FAILING[name]
    model = source.format(ut=UNDER_TEST, py=sys.executable)
    # a model that never answers is given 0.2 s to start, not 10: taken for hung within a second
    start = ["start_s=0.2"] if name == "command-hangs" else []
    deadline = DEADLINE.get(name, PATIENT)
    run = backtest(data, model, tmp_path / "out", deadline, *start, failed=True)
    log = tmp_path / "out" / "backtest.log"
    failed = events(log, "strategy_error")
    # the first failure of a market in full, its repeats counted in one summary an interval
    repeats = sum(e["count"] for e in events(log, "strategy_error_summary"))
    assert len(failed) + repeats >= 10
    # the report counts every failed decision the log has; the strategy stopped alone
    assert run["report"]["failed"]["decisions"] == len(failed) + repeats
    assert all(re.search(message, e["error"]) for e in failed), failed[:3]
    assert events(log, "order_placed") == []
    with Store.open(tmp_path / "out" / "backtest.db") as store:
        assert store.trading.trading_state().state == "ACTIVE"


def test_a_stale_file_is_never_traded_on(data: Path, tmp_path: Path) -> None:
    # the recording starts at 2026-01-01T00:00Z; the file's value is a day older
    stale = tmp_path / "stale.csv"
    stale.write_text(f"ticker,fair,time\n{LAL},0.95,2025-12-31T00:00:00Z\n")
    backtest(data, f"file:{stale}", tmp_path / "out", failed=True)
    log = tmp_path / "out" / "backtest.log"
    assert events(log, "order_placed") == []
    failed = events(log, "strategy_error")
    assert failed and all("s old (max_age_s 60)" in e["error"] for e in failed)
    # the same value, timed at the start of the recording, is traded (for its first minute)
    fresh = tmp_path / "fresh.csv"
    fresh.write_text(f"ticker,fair,time\n{LAL},0.95,2026-01-01T00:00:00Z\n")
    # (stale after its first minute: those decisions failed, and so did the run)
    backtest(data, f"file:{fresh}", tmp_path / "fresh", failed=True)
    placed = events(tmp_path / "fresh" / "backtest.log", "order_placed")
    assert placed and all(Decimal(e["model_fair"]) == Decimal("0.95") for e in placed)


def test_model_without_a_source_and_model_for_another_strategy_are_refused(
    data: Path, tmp_path: Path
) -> None:
    bare = kalshi(["backtest", "--strategy", "model", "--data", str(data)], tmp_path)
    assert bare.returncode == 2
    assert "needs a source of fair values" in bare.stderr
    other = kalshi(
        ["backtest", "--strategy", "spike", "--model", "file:x.csv", "--data", str(data)], tmp_path
    )
    assert other.returncode == 2
    assert "--model is the source of the model strategy" in other.stderr


# -------------------------------------------------------------------------------- kalshi trade


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")  # one embedded simulator for the trade runs


@pytest.mark.parametrize("kind", [*sorted(ANCHOR), "file"])
def test_each_example_answers_a_dry_run_of_kalshi_trade(
    kind: str, home: Path, tmp_path: Path
) -> None:
    if kind == "file":
        # the example CSV, written now: a file untouched for max_age_s is stale, as it should be
        csv = tmp_path / "fair_values.csv"
        csv.write_text((EXAMPLES / "fair_values.csv").read_text())
        model = f"file:{csv}"
    else:
        model = ANCHOR[kind]
    log = tmp_path / "trade.log"
    done = kalshi(
        ["trade", "--strategy", "model", "--model", model, "--dry-run", "--once",
         "--markets", LAL, "--log-file", str(log)],
        home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert events(log, "strategy_error") == []
    assert events(log, "stopped")


def test_a_dry_run_of_kalshi_trade_logs_the_models_order(home: Path, tmp_path: Path) -> None:
    fair = tmp_path / "fair.csv"
    fair.write_text(f"ticker,fair,version\n{LAL},0.9,csv-9\n")
    log = tmp_path / "trade.log"
    done = kalshi(
        ["trade", "--strategy", "model", "--model", f"file:{fair}", "--dry-run", "--once",
         "--markets", LAL, "--log-file", str(log)],
        home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (order,) = events(log, "dry_run_order")
    assert (order["side"], order["action"], order["model_fair"]) == ("yes", "buy", "0.9")
    assert f"file:{fair} version csv-9" in order["reason"]
    assert Decimal(order["edge"]) >= Decimal("0.02")


def test_paper_trading_places_and_fills_the_models_order(tmp_path: Path) -> None:
    fair = tmp_path / "fair.csv"
    fair.write_text(f"ticker,fair,version\n{LAL},0.9,csv-9\n")
    log = tmp_path / "trade.log"
    done = kalshi(
        ["trade", "--strategy", "model", "--model", f"file:{fair}", "--paper", "--once",
         "--markets", LAL, "--log-file", str(log)],
        tmp_path / "home",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (placed,) = events(log, "order_placed")
    assert (placed["side"], placed["model_fair"]) == ("yes", "0.9")
    assert "version csv-9" in placed["reason"]
    assert events(log, "fill_received")


def test_quote_mode_from_the_command_line_and_the_config_rests_post_only_bids(
    data: Path, tmp_path: Path
) -> None:
    """`--param quote=true` (text), and `quote: true` in the config (YAML's boolean, which the
    backtest carries as text), both turn the quotes on."""
    run = backtest(data, ANCHOR["python-file"], tmp_path / "flag", "quote=true")
    placed = events(tmp_path / "flag" / "backtest.log", "order_placed")
    assert placed and all(e["tif"] == "good_till_canceled" for e in placed)
    assert run["report"]["totals"]["fills"] >= 1
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("strategies:\n  model:\n    quote: true\n")
    done = kalshi(
        ["backtest", "--strategy", "model", "--model", ANCHOR["python-file"], "--data", str(data),
         "--out", str(tmp_path / "config"), "--keep-state", "--json"],
        home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert orders(tmp_path / "config") == orders(tmp_path / "flag")


def _model_sweep(data: Path, model: str, home: Path) -> list[dict[str, Any]]:
    args = ["backtest", "--strategy", "model", "--model", model, "--data", str(data)]
    done = kalshi([*args, "--param", "min_edge=0.01,0.02", "--jobs", "2", "--json"], home)
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)["runs"]
    return runs


@pytest.mark.parametrize("kind", ["file", "python", "command"])
def test_a_changed_model_is_run_again_not_taken_from_the_cache(
    data: Path, tmp_path: Path, kind: str
) -> None:
    # the model's own code or file is part of a sweep's cache key, as a strategy file's is
    if kind == "file":
        mine = tmp_path / "fair.csv"
        shutil.copy(EXAMPLES / "fair_values.csv", mine)
        model = f"file:{mine}"
    elif kind == "python":
        mine = tmp_path / "anchor_copy.py"
        shutil.copy(EXAMPLES / "anchor.py", mine)
        model = f"python:{mine}:fair"
    else:
        mine = tmp_path / "anchor_cmd.py"
        shutil.copy(EXAMPLES / "anchor_command.py", mine)
        model = f"command:{sys.executable} {mine}"
    first = _model_sweep(data, model, tmp_path)
    assert [r["cached"] for r in first] == [False, False]
    again = _model_sweep(data, model, tmp_path)
    assert [r["cached"] for r in again] == [True, True]
    mine.write_text(mine.read_text() + "\n# edited\n")
    edited = _model_sweep(data, model, tmp_path)
    assert [r["cached"] for r in edited] == [False, False]
