"""A run whose trade loop left ACTIVE says so: when (the data's time), to what and why, in the
text, in `--json` and in a sweep's table. SAFE_MODE, entered for any reason, makes the run a
failed run (exit 23, never ranked, cached or chosen); the circuit breaker's REDUCING is the
risk rule working as configured: the run stands, and its report says from when it could only
close. Through the CLI, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.sim.core.order_desk import OrderDesk
from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
UNRULY = str(Path(__file__).with_name("unruly_strategy.py"))
LOSS_LIMIT = "daily loss limit of -$0.01"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("states"), seconds=200, tickers=[LAL])


def with_risk(home: Path, **risk: str) -> Path:
    """A config file whose `risk:` section is `risk`, where the commands run from `home` read
    it."""
    home.mkdir(parents=True, exist_ok=True)
    lines = ["risk:", *(f"  {key}: {value}" for key, value in risk.items())]
    (home / "config.yaml").write_text("\n".join(lines) + "\n")
    return home


def test_a_run_whose_venue_errors_trip_the_api_guard_into_safe_mode_fails_and_says_why(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue answers every order with a 503: the API error guard counts them and, at its
    configured number in a row, puts trading into SAFE_MODE. The strategy never failed, but
    nothing it decided after that could trade: the run's figures are not the strategy's."""

    def unavailable(self: OrderDesk, *args: object, **kwargs: object) -> None:
        raise ExchangeError(503, "service_unavailable", "the exchange is down")

    monkeypatch.setattr(OrderDesk, "place_order", unavailable)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    home = with_risk(tmp_path / "home", max_consecutive_errors="2")
    args = ["backtest", "--strategy", UNRULY, "--data", str(data), "--param", "fair=0.6"]

    def invoke(*more: str) -> tuple[int, str]:
        context = AppContext(environ={"KALSHI_HOME": str(home)})
        done = CliRunner().invoke(
            app, [*args, *more], obj=context, env={"COLUMNS": "100"}, prog_name="kalshi"
        )
        return done.exit_code, done.output

    code, out = invoke("--json")
    assert code == ExitCode.STRATEGY_FAILED, out
    report = json.loads(out[out.index("{") : out.rindex("}") + 1])
    (state,) = report["trading_states"]
    assert state["state"] == "SAFE_MODE" and state["source"] == "api_error_guard"
    assert "2 consecutive API errors" in state["reason"] and "HTTP 503" in state["reason"]
    assert report["data"]["from"] <= state["at"] <= report["data"]["to"]
    failed = report["failed"]
    assert failed["decisions"] == 0 and failed["errors"] == []
    assert failed["safe_mode"] == state["reason"] and failed["stopped"] == state
    # the error line of the command names the SAFE_MODE, when and why
    when = iso_utc(state["at"])
    assert f"trading went into SAFE_MODE at {when}" in out and "HTTP 503" in out, out
    code, text = invoke()
    assert code == ExitCode.STRATEGY_FAILED
    lines = text.splitlines()
    first = next(line for line in lines if line.startswith("FAILED"))
    assert f"SAFE_MODE at {when}" in first and "consecutive API errors" in first, first
    assert lines.index(first) < next(i for i, line in enumerate(lines) if "net P&L" in line)
    assert "no trades" not in text


def test_a_run_that_reaches_its_daily_loss_limit_reports_reducing_with_its_time_and_exits_0(
    data: Path, tmp_path: Path
) -> None:
    """The first fill's fee realizes a loss past a one-cent limit: the circuit breaker moves
    trading to REDUCING. That is the rule a trader configured, working: the run is not failed,
    but its report says from when the loop could only close, and why."""
    home = with_risk(tmp_path, daily_loss_limit="0.01")
    args = ["backtest", "--strategy", UNRULY, "--data", str(data), "--param", "fair=0.6"]
    done = kalshi([*args, "--json"], home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] is None
    (state,) = report["trading_states"]
    assert list(state) == ["at", "state", "source", "reason"]  # as docs/backtesting.md has it
    assert state["state"] == "REDUCING" and state["source"] == "circuit_breaker"
    assert LOSS_LIMIT in state["reason"]
    assert report["data"]["from"] < state["at"] < report["data"]["to"]
    page = tmp_path / "report.html"
    text = kalshi([*args, "--html", str(page)], home)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    line = next(line for line in lines if "REDUCING" in line)
    assert iso_utc(state["at"]) in line and LOSS_LIMIT in line and "circuit breaker" in line
    # said before the figures, which are those of a loop that could only close from then on
    assert lines.index(line) < next(i for i, line in enumerate(lines) if "net P&L" in line)
    html = page.read_text()
    assert f"REDUCING at {iso_utc(state['at'])}" in html
    assert html.index("REDUCING") < html.index("net P&amp;L")


def test_a_sweep_shows_the_circuit_breaker_for_the_set_it_stopped_and_not_the_other(
    data: Path, tmp_path: Path
) -> None:
    """Two sets, one that trades (and so meets the one-cent limit) and one whose edge is never
    there: both rank, and the table and the stored sweep say REDUCING, with its time, for the
    first only."""
    home = with_risk(tmp_path, daily_loss_limit="0.01")
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--param", "fair=0.6",
        "--param", "edge=0.03,0.5", "--jobs", "1", "--no-cache",
    ]  # fmt: skip
    done = kalshi([*args, "--json"], home)
    assert done.returncode == 0, done.stderr
    runs = {r["params"]["edge"]: r for r in json.loads(done.stdout)["runs"]}
    assert all(r["failed"] is None and r["value"] is not None for r in runs.values())
    assert runs["0.5"]["trading_states"] == []
    (state,) = runs["0.03"]["trading_states"]
    assert state["state"] == "REDUCING" and LOSS_LIMIT in state["reason"]
    when = iso_utc(state["at"])
    for shown in (kalshi(args, home), kalshi(["backtest", "runs", "show", "last"], home)):
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        ranked = [i for i, x in enumerate(lines) if x.lstrip().startswith(("1. ", "2. "))]
        (row,) = [i for i in ranked if " edge=0.03 " in lines[i]]
        assert any(" edge=0.5 " in lines[i] for i in ranked)
        noted = [i for i, x in enumerate(lines) if "REDUCING" in x]
        # one note, under the row of the set it stopped, naming when and why
        assert len(noted) == 1 and noted[0] == row + 1, lines
        assert when in lines[noted[0]] and LOSS_LIMIT in lines[noted[0]]
