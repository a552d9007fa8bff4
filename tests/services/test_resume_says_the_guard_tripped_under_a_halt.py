"""`kalshi resume` from HALTED when the API error guard tripped while the state was HALTED: the
trip is recorded but SAFE_MODE is not written over the person's stricter HALTED, so resuming
lifts the guard's stop too; resume says so, naming the trip, rather than only `lifted HALTED`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.risk.engine import ApiErrorGuard
from kalshi_cli.risk.state import halt
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock

DETAIL = "5 consecutive API errors, last: 503 Service Unavailable"


def _resume(path: Path, tmp_path: Path, *extra: str) -> str:
    context = AppContext(environ={"KALSHI_HOME": str(tmp_path / "home")})
    done = CliRunner().invoke(
        app, ["--state", str(path), "resume", *extra], obj=context, env={"NO_COLOR": "1"}
    )
    assert done.exit_code == 0, done.output
    return done.output


def test_resume_from_halted_says_the_guard_tripped_under_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    now = SystemClock().wall()
    with Store.open(path, clock=ManualClock(now - 120)) as store:
        store.trading.record_risk_trip(rule=ApiErrorGuard.RULE, code="SAFE_MODE", detail="old")
    with Store.open(path, clock=ManualClock(now - 60)) as store:
        halt(store.trading, reason="by hand", source="kalshi halt")
    with Store.open(path, clock=ManualClock(now - 30)) as store:
        store.trading.record_risk_trip(rule=ApiErrorGuard.RULE, code="SAFE_MODE", detail=DETAIL)
    said = _resume(path, tmp_path)
    assert "lifted HALTED" in said
    [line] = [line for line in said.splitlines() if line.startswith("api error guard: ")]
    assert DETAIL in line and "while HALTED" in line and "SAFE_MODE" in line
    assert "old" not in line  # a trip before the halt was lifted by an earlier resume


def test_resume_from_halted_with_no_guard_trip_under_it_says_none(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    now = SystemClock().wall()
    with Store.open(path, clock=ManualClock(now - 120)) as store:
        store.trading.record_risk_trip(rule=ApiErrorGuard.RULE, code="SAFE_MODE", detail=DETAIL)
    with Store.open(path, clock=ManualClock(now - 60)) as store:
        halt(store.trading, reason="by hand", source="kalshi halt")
    said = _resume(path, tmp_path)
    assert "lifted HALTED" in said and "api error guard" not in said


def test_status_while_halted_says_the_guard_tripped_under_it(tmp_path: Path) -> None:
    """`kalshi status` reads HALTED alone while a guard trip recorded under the halt waits to
    be lifted with it: it names the trip as `resume` will (`api_error_guard` in `--json`)."""
    from kalshi_cli.services.orders.status import trading_status

    path = tmp_path / "state.db"
    now = SystemClock().wall()
    with Store.open(path, clock=ManualClock(now - 60)) as store:
        halt(store.trading, reason="by hand", source="kalshi halt")
    assert "api_error_guard" not in trading_status(path, now=now).details()
    with Store.open(path, clock=ManualClock(now - 30)) as store:
        store.trading.record_risk_trip(rule=ApiErrorGuard.RULE, code="SAFE_MODE", detail=DETAIL)
    status = trading_status(path, now=now)
    assert status.state == "HALTED"
    said = status.details()["api_error_guard"]
    assert DETAIL in said and "while HALTED" in said
