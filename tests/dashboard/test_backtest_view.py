"""`kalshi dashboard --backtest RESULT` (kalshi_cli/dashboard/backtest.py, `BacktestApp`), driven
headless by Textual's pilot on a real backtest run here: every panel shows the report's own
numbers, the fills are the run's state file's, and the keys that act on a loop say they do not
apply."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec
from kalshi_cli.backtest.command import BacktestRequest, backtest
from kalshi_cli.backtest.report import FORMAT
from kalshi_cli.cli.dashboard_backtest import BacktestApp
from kalshi_cli.dashboard.backtest import REPORT_FORMAT, load_backtest
from kalshi_cli.dashboard.snapshot import RECENT_FILLS
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.units import fmt_money, money_places

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
SIZE = (120, 40)  # the size docs/dashboard.md pictures


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kalshi backtest --out DIR --keep-state` on a small recording of the spiking market."""
    root = tmp_path_factory.mktemp("bt")
    data = record_scenario("default", root / "data", seconds=200, tickers=[LAL])
    spec = BacktestSpec(
        data=str(data),
        strategy="spike",
        params=(("order_count", "20"), ("take_profit", "0.06")),
    )
    backtest(BacktestRequest(spec=spec, out=root / "run", keep_state=True))
    return root / "run"


def _screen(app: BacktestApp, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            for key in ("top", "summary", "equity", "markets", "left", "fills", "days"):
                seen[key] = " ".join(app.panel_text(key).split())
            seen["chart"] = list(app.query_one("#equity-chart").data)  # type: ignore[attr-defined]
            seen["title"] = app.title
            for key in keys:
                await pilot.press(key)
                seen[f"after {key}"] = " ".join(app.panel_text("top").split())

    asyncio.run(main())
    return seen


def _m(value: str, *beside: str | None) -> str:
    """An amount as a panel shows it: to the places of every amount of its table."""
    places = money_places(None if v is None else Decimal(v) for v in (value, *beside))
    return fmt_money(Decimal(value), places=places)


def test_every_panel_shows_the_reports_numbers(result: Path) -> None:
    report = json.loads((result / "report.json").read_text())
    t = report["totals"]
    assert t["fills"] > 0, "the spike run trades"
    seen = _screen(BacktestApp(load_backtest(result, SystemClock())))
    assert seen["title"] == "kalshi dashboard - BACKTEST"
    assert seen["top"].startswith("BACKTEST spike on ")
    summary = seen["summary"]
    keys = ("net", "realized", "settled", "marked", "fees", "start_balance", "end_equity")
    shown = [t[k] for k in (*keys, "max_drawdown", "max_exposure")]
    for name in ("net P&L", "realized", "settled", "marked"):
        key = "net" if name == "net P&L" else name
        assert f"{name} {_m(t[key], *shown)}" in summary, (name, summary)
    assert f"fees {_m(t['fees'], *shown)}" in summary
    assert f"start balance {_m(t['start_balance'], *shown)}" in summary
    assert f"end equity {_m(t['end_equity'], *shown)}" in summary
    assert f"fills / orders {t['fills']} / {t['orders']}" in summary
    assert f"trades (won) {t['round_trips']} ({t['wins']})" in summary
    win_rate = "-" if t["win_rate"] is None else f"{t['win_rate']:.1%}"
    assert f"win rate {win_rate}" in summary
    share = "-" if t["max_drawdown_share"] is None else f"{t['max_drawdown_share']:.1%}"
    assert f"max drawdown {_m(t['max_drawdown'], *shown)} ({share})" in summary
    assert f"max exposure {_m(t['max_exposure'], *shown)}" in summary
    # the equity curve: the chart's points are the report's samples
    assert seen["chart"] == [float(e) for _, e, _ in report["equity"]]
    assert f"{len(report['equity'])} samples" in seen["equity"]
    # P&L per market, each traded market's own figures
    traded = [m for m in report["markets"].values() if m["fills"]]
    cells = ("net", "realized", "settled", "marked", "fees")
    table = [m[k] for m in traded for k in cells]
    for ticker, m in report["markets"].items():
        if m["fills"]:
            row = f"{ticker} {' '.join(_m(m[k], *table) for k in cells)} {m['fills']}"
            assert row in seen["markets"], (row, seen["markets"])
    # positions left open at the end, with their marks
    left = [p[k] for p in report["left_open"] for k in ("average_entry", "mark_bid", "mark_mid")]
    left += [p["marked"] for p in report["left_open"]]
    for p in report["left_open"]:
        assert p["ticker"] in seen["left"] and _m(p["marked"], *left) in seen["left"]
    if not report["left_open"]:
        assert "no position left open" in seen["left"]
    # the last fills: the run's state file's, newest first
    with Store.open(result / "backtest.db") as store:
        fills = list(reversed(store.fills.read(limit=RECENT_FILLS)))
    assert fills
    assert seen["fills"].count(LAL) == len(fills)
    for day in report["by_day"]:
        assert day in seen["days"]


def test_keys_that_act_on_a_loop_say_they_do_not_apply(result: Path) -> None:
    before = (result / "backtest.db").stat().st_mtime_ns
    seen = _screen(BacktestApp(load_backtest(result, SystemClock())), keys=("p", "h", "k"))
    for key in ("p", "h", "k"):
        assert f"{key}: does not apply to a backtest" in seen[f"after {key}"]
    assert (result / "backtest.db").stat().st_mtime_ns == before  # nothing written
    assert not list(result.glob("*.pause"))


def test_a_saved_json_report_shows_without_fills(result: Path, tmp_path: Path) -> None:
    saved = tmp_path / "report.json"  # as `kalshi backtest --json > report.json` saves it
    saved.write_text((result / "report.json").read_text())
    view = load_backtest(saved, SystemClock())
    seen = _screen(BacktestApp(view))
    assert view.report["totals"] == json.loads(saved.read_text())["totals"]
    assert "no fills: the run's state file is kept only by" in seen["fills"]


def test_what_is_not_a_backtest_report_is_refused(tmp_path: Path) -> None:
    assert REPORT_FORMAT == FORMAT
    with pytest.raises(UsageError, match="no backtest result"):
        load_backtest(tmp_path / "missing", SystemClock())
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else"}')
    with pytest.raises(UsageError, match="not a backtest report"):
        load_backtest(other, SystemClock())


def test_the_command_refuses_what_is_not_a_result_with_the_usage_code(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    from kalshi_cli.vocabulary.exit_codes import ExitCode

    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(tmp_path), HOME=str(tmp_path))
    done = subprocess.run(
        [script, "dashboard", "--backtest", str(tmp_path / "nothing")],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == ExitCode.USAGE
    assert "no backtest result at" in done.stderr


def test_the_command_without_a_terminal_refuses_to_draw(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    from kalshi_cli.vocabulary.exit_codes import ExitCode

    script = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(tmp_path), HOME=str(tmp_path), TERM="xterm")
    done = subprocess.run(
        [script, "dashboard"], capture_output=True, text=True, env=env, timeout=60, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == ExitCode.USAGE, done.stdout[:200]
    assert done.stdout == ""  # no escape codes drawn into the pipe
    assert "needs a terminal" in done.stderr and "kalshi status --json" in done.stderr


def test_a_failed_runs_results_say_it_failed(tmp_path: Path) -> None:
    """The dashboard is another place a run's figures are read: a run whose strategy failed
    says so in its top line and its summary, as the text report and the page do."""
    from kalshi_cli.backtest import run_backtest

    data = record_scenario("default", tmp_path / "data", seconds=60, tickers=[LAL])
    unruly = str(Path(__file__).parents[1] / "backtest" / "unruly_strategy.py")
    params = (("broken_fair", "0.65"), ("fair", "0.65"))
    report = run_backtest(BacktestSpec(data=str(data), strategy=unruly, params=params))
    assert report["failed"] is not None
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    seen = _screen(BacktestApp(load_backtest(saved, SystemClock())))
    assert "FAILED" in seen["top"], seen["top"]
    decisions = report["failed"]["decisions"]
    assert f"FAILED · the strategy failed in {decisions} decisions" in seen["summary"]
