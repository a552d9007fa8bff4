"""`kalshi status` after `kalshi resume` on a day the daily circuit breaker tripped: the state
reads ACTIVE, while the breaker still refuses every new order until the next UTC day
(docs/risk.md "Daily circuit breaker"); status says so, naming the trip, and stops saying it
once the day has turned."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.risk.engine import CircuitBreaker
from kalshi_cli.risk.state import resume
from kalshi_cli.services.orders.status import trading_status
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock, utc_day
from kalshi_cli.vocabulary.units import BookSide
from tests.breaker_days import breaker_tripped, tripped_today

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY_S = 86_400.0


def test_status_after_resume_says_the_breaker_holds_today(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = ManualClock(START + 3_600)
    with Store.open(path, clock=clock) as store:
        store.fills.record_fill(
            FillRecord(
                fill_id="f-1",
                order_id="o-1",
                client_order_id=None,
                ticker="KXPINS6-26JAN01-A",
                book_side=BookSide.ASK,
                yes_price=Decimal("0.20"),
                count=Decimal("250"),
                fee=Decimal("0"),
                is_taker=True,
                ts=START + 3_000,
                realized_pnl=Decimal("-150"),
            )
        )
        breaker = CircuitBreaker(store.trading, Decimal("100"), lambda kind, data: None)
        assert breaker.tripped(utc_day(START))
        assert store.trading.trading_state().state == "REDUCING"
        resume(store.trading)
    status = trading_status(path, now=START + 3_700)
    assert status.state == "ACTIVE"  # the row `kalshi resume` wrote
    said = status.details()["circuit_breaker"]
    assert "reached the daily loss limit" in said and "2026-01-01" in said
    assert said.endswith("no new orders until the next UTC day (only reducing orders go out)")
    tomorrow = trading_status(path, now=START + DAY_S + 1)
    assert "circuit_breaker" not in tomorrow.details()


def test_resume_says_the_breaker_holds_today(tmp_path: Path) -> None:
    """`kalshi resume` writes ACTIVE and says so; it says too that today's trip still holds."""
    path = tmp_path / "state.db"
    now = SystemClock().wall()
    with Store.open(path, clock=ManualClock(now)) as store:
        tripped_today(store, now)
    context = AppContext(environ={"KALSHI_HOME": str(tmp_path / "home")})
    done = CliRunner().invoke(
        app, ["--state", str(path), "resume"], obj=context, env={"NO_COLOR": "1"}
    )
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == "trading state: ACTIVE"
    [said] = [line for line in lines if line.startswith("circuit breaker: ")]
    assert "reached the daily loss limit" in said and "no new orders until the next UTC day" in said


def test_status_on_the_next_utc_day_reads_what_holds_with_no_order_or_loop_since(
    tmp_path: Path,
) -> None:
    """The breaker's REDUCING of a day before, which no loop tick or order has lifted yet:
    `kalshi status` of the next day says ACTIVE, as the next order finds it, not REDUCING
    (which would say `kalshi resume` lifts it); on the trip's own day it reads REDUCING."""
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(START + 3_600)) as store:
        breaker_tripped(store, utc_day(START))
    last_second = trading_status(path, now=START + DAY_S - 1)
    assert (last_second.state, last_second.source) == ("REDUCING", CircuitBreaker.RULE)
    assert "circuit_breaker" in last_second.details()
    next_day = trading_status(path, now=START + DAY_S)
    assert (next_day.state, next_day.source) == ("ACTIVE", CircuitBreaker.RULE)
    assert "2026-01-01" in next_day.reason and "over" in next_day.reason, next_day.reason
    assert "circuit_breaker" not in next_day.details()
    with Store.open(path) as store:  # status wrote nothing: the next order or tick lifts it
        assert store.trading.trading_state().state == "REDUCING"


def test_status_keeps_a_reducing_the_breaker_did_not_set_on_the_next_day(tmp_path: Path) -> None:
    """Only the breaker's own REDUCING ends with its day: one a person or another rule set
    reads REDUCING on the next day too."""
    path = tmp_path / "state.db"
    with Store.open(path, clock=ManualClock(START + 3_600)) as store:
        store.trading.set_trading_state("REDUCING", reason="by hand", source="kalshi reduce")
    status = trading_status(path, now=START + DAY_S)
    assert (status.state, status.reason) == ("REDUCING", "by hand")
