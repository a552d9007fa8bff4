"""`kalshi check heartbeat` after `kalshi resume` on a day the daily circuit breaker tripped: the
state reads ACTIVE while the breaker still refuses every new order until the next UTC day
(docs/risk.md "Daily circuit breaker"); the summary says so, as `kalshi status` does, and stops
saying it once the day has turned."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.local import LocalView, check_heartbeat
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.risk.state import resume
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from tests.breaker_days import breaker_tripped

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY_S = 86_400.0


def test_the_heartbeat_check_after_resume_says_the_breaker_holds_today(tmp_path: Path) -> None:
    clock = ManualClock(START + 3_600)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        breaker_tripped(store, utc_day(clock.wall()))
        resume(store.trading)
        store.entries.heartbeat(source="trade", detail={"state": "ACTIVE"})
        clock.advance(1)
        result = check_heartbeat(LocalView(store, store.path, clock.wall()), resolve(None))
        assert result.status is CheckStatus.OK  # alive; the trip is said, not graded
        assert "trading state ACTIVE" in result.summary
        assert (
            "circuit breaker: realized P&L -$150.00 on 2026-01-01 reached the daily loss limit"
            in result.summary
        )
        assert "no new orders until the next UTC day" in result.summary
        clock.advance(DAY_S)
        store.entries.heartbeat(source="trade", detail={"state": "ACTIVE"})
        tomorrow = check_heartbeat(LocalView(store, store.path, clock.wall()), resolve(None))
        assert "circuit breaker" not in tomorrow.summary


def test_the_heartbeat_check_of_the_next_day_reads_the_breakers_reducing_as_over(
    tmp_path: Path,
) -> None:
    """The breaker's REDUCING of a day before, which no tick or order lifted (the loop stopped
    after its last beat): the check of the next day says the state that holds, ACTIVE, as
    `kalshi status` does."""
    clock = ManualClock(START + 3_600)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        breaker_tripped(store, utc_day(clock.wall()))
        clock.advance(DAY_S)
        store.entries.heartbeat(source="trade", detail={"state": "REDUCING"})
        clock.advance(1)
        result = check_heartbeat(LocalView(store, store.path, clock.wall()), resolve(None))
        assert "trading state ACTIVE" in result.summary, result.summary
