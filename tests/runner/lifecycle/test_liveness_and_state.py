"""Liveness and trading state are two facts: a halted, paused or SAFE_MODE loop still beats its
heartbeat, `kalshi check heartbeat` grades the beat's age and names the trading state of the
state file (not the one the beat saw), `kalshi status` says PAUSED while a live loop is paused,
and shows the SAFE_MODE the loop writes from the moment it writes it, not from its next beat."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.local import LocalView, check_heartbeat
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.risk.state import halt
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.trading_state import TradingState
from tests.runner.fakes import Rig, make_rig


def _block(state_path: Path, how: str, rig: Rig) -> None:
    if how == "paused":
        rig.loop.gate.toggle_pause()
        return
    with Store.open(state_path, clock=rig.clock) as other:
        if how == "halted":
            halt(other.trading, reason="a person looks", source="kalshi halt")
        else:
            other.trading.set_trading_state(TradingState.SAFE_MODE, reason="errors", source="test")


@pytest.mark.parametrize(
    ("how", "shown", "status"),
    [
        ("halted", "HALTED", CheckStatus.OK),
        ("paused", "PAUSED", CheckStatus.OK),
        # the API error guard's stop sends nothing, not even a close, until `kalshi resume`:
        # graded as the loop's own `safe_mode` alert is, not OK beside a live beat
        ("safe", "SAFE_MODE", CheckStatus.CRITICAL),
    ],
)
def test_a_blocked_loop_keeps_beating_and_the_check_names_its_state(
    tmp_path: Path, how: str, shown: str, status: CheckStatus
) -> None:
    state = tmp_path / "s.db"
    rig = make_rig(state)
    for _ in range(4):
        rig.step(0.5)
    _block(state, how, rig)
    # five minutes blocked: past the check's WARNING (60 s) and CRITICAL (300 s) ages
    for _ in range(620):
        rig.step(0.5)
    beat = rig.store.entries.last_heartbeat("trade")
    assert beat is not None
    assert rig.clock.wall() - beat.at <= 1.0
    reader = Store.open_readonly(state)
    assert reader is not None
    with reader:
        result = check_heartbeat(LocalView(reader, state, rig.clock.wall()), resolve(None))
    assert result.status is status, result.summary
    assert f"trading state {shown}" in result.summary
    assert result.summary.startswith("trading stopped") == (status is CheckStatus.CRITICAL)
    rig.loop.log.close()


def _kalshi(args: list[str], home: Path, state: Path) -> tuple[int, str]:
    context = AppContext(environ={"KALSHI_HOME": str(home), "KALSHI_STATE": str(state)})
    result = CliRunner().invoke(app, args, obj=context, env={"COLUMNS": "120"}, prog_name="kalshi")
    return result.exit_code, result.stdout


def _beat(state: Path, ago_s: float = 0.0, **detail: object) -> None:
    with Store.open(state, clock=ManualClock(time.time() - ago_s)) as store:
        store.entries.heartbeat(
            source="trade", detail={"state": "ACTIVE", "paused": False, **detail}
        )


def test_the_heartbeat_check_reads_the_trading_state_from_the_state_file(tmp_path: Path) -> None:
    """The beat was written while ACTIVE; `kalshi halt` came after it: the check says HALTED."""
    state = tmp_path / "state.db"
    _beat(state)
    with Store.open(state) as store:
        halt(store.trading, reason="a person looks", source="kalshi halt")
    code, out = _kalshi(["check", "heartbeat"], tmp_path, state)
    assert code == 0, out
    assert "trading state HALTED" in out
    assert "ACTIVE" not in out


def test_status_says_paused_while_a_live_loop_is_paused(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    _beat(state, paused=True)
    code, out = _kalshi(["status"], tmp_path, state)
    assert code == 0, out
    assert out.splitlines()[0] == "trading state: PAUSED"
    code, out = _kalshi(["status", "--json"], tmp_path, state)
    document = json.loads(out)
    assert (document["state"], document["loop_paused"]) == ("PAUSED", True)


def test_status_of_a_loop_that_stopped_while_paused_is_its_stored_state(tmp_path: Path) -> None:
    """A pause lives in the loop: a heartbeat older than the check's WARNING age is no loop."""
    state = tmp_path / "state.db"
    _beat(state, ago_s=600, paused=True)
    code, out = _kalshi(["status"], tmp_path, state)
    assert code == 0, out
    assert out.splitlines()[0] == "trading state: ACTIVE"


@pytest.mark.parametrize("at", ["an hour ahead", "inf"])
def test_a_paused_beat_from_the_future_is_no_live_loop(tmp_path: Path, at: str) -> None:
    """A heartbeat time ahead of the clock (the clock set back, a corrupt row) has no age, so
    it proves no loop alive: its pause is not shown as the account's state."""
    state = tmp_path / "state.db"
    _beat(state, paused=True)
    with sqlite3.connect(state) as db:
        db.execute("UPDATE heartbeats SET at = ?", (time.time() + 3600 if at != "inf" else 1e309,))
    code, out = _kalshi(["status", "--json"], tmp_path, state)
    assert code == 0, out
    assert json.loads(out)["state"] == "ACTIVE"
    code, out = _kalshi(["status"], tmp_path, state)
    assert code == 0, out
    assert out.splitlines()[0] == "trading state: ACTIVE"


def test_the_heartbeat_goes_on_while_slow_withdrawals_fail(tmp_path: Path) -> None:
    """HALTED during an outage: each withdraw cancel fails after the client's retries (5 s on
    the loop's clock here). The withdrawal of a dozen quotes takes a minute; a loop that beat
    only at the end of its tick looked dead to `kalshi check heartbeat` meanwhile."""
    state = tmp_path / "s.db"
    rig = make_rig(state, strategy="market-maker")
    for _ in range(6):
        rig.step(0.5)
    quotes = len(rig.loop.portfolio.orders)
    assert quotes >= 6, quotes
    ages: list[float] = []

    def slow_failing_cancel(order_id: str, **_: object) -> object:
        rig.clock.advance(5.0)
        beat = rig.store.entries.last_heartbeat("trade")
        assert beat is not None
        ages.append(rig.clock.wall() - beat.at)
        raise ServerError("DELETE /portfolio/events/orders: 503", status=503)

    rig.client.cancel_order = slow_failing_cancel  # type: ignore[method-assign,assignment]
    _block(state, "halted", rig)
    rig.step(0.5)
    assert len(ages) >= quotes  # every quote's cancel was tried, and failed
    assert max(ages) <= 5.0 + rig.loop.settings.heartbeat_interval_s, ages
    rig.loop.log.close()


def test_status_shows_safe_mode_as_the_loop_writes_it_before_its_next_heartbeat(
    tmp_path: Path,
) -> None:
    """The loop trips SAFE_MODE on an error in a tick and withdraws its quotes in that same
    tick: `kalshi status`, run while the first of those cancels is on its way, already says
    SAFE_MODE (the row written at the transition), while the last heartbeat still says ACTIVE.
    A status that waited for the beat, or a write kept until the end of the tick, shows ACTIVE
    here."""
    state = tmp_path / "s.db"
    rig = make_rig(state, strategy="market-maker", risk={"max_consecutive_errors": 1})
    for _ in range(4):
        rig.step(0.5)
    assert rig.loop.portfolio.orders, "the market maker quotes"
    seen: list[tuple[str, object]] = []
    cancel = rig.client.cancel_order

    def cancel_watched(order_id: str, **kwargs: object) -> object:
        if not seen:
            code, out = _kalshi(["status", "--json"], tmp_path, state)
            assert code == 0, out
            beat = rig.store.entries.last_heartbeat("trade")
            assert beat is not None
            seen.append((json.loads(out)["state"], beat.detail["state"]))
        return cancel(order_id, **kwargs)  # type: ignore[arg-type]

    rig.client.cancel_order = cancel_watched  # type: ignore[method-assign,assignment]
    failed_poll = FeedMessage(
        MessageKind.ERROR, "KXM-1", reason="HTTP 503", source="rest",
        error=ServerError("request failed: HTTP 503", status=503),
    )  # fmt: skip
    rig.clock.advance(0.1)
    rig.loop.tick([failed_poll], full=False)
    assert seen == [("SAFE_MODE", "ACTIVE")]
    rig.loop.log.close()


def test_the_heartbeat_says_whether_sigusr1_paused_the_loop(tmp_path: Path) -> None:
    """The pause SIGUSR1 sets lives in the loop alone: its heartbeat tells it apart from the
    pause file's, for a screen that can remove the file but not send the signal."""
    rig = make_rig(tmp_path / "s.db")
    rig.loop.gate.toggle_pause()
    rig.step(1.5)
    beat = rig.store.entries.last_heartbeat("trade")
    assert beat is not None
    assert beat.detail["paused"] is True and beat.detail["paused_by_signal"] is True
    rig.loop.gate.toggle_pause()
    rig.step(1.5)
    beat = rig.store.entries.last_heartbeat("trade")
    assert beat is not None and beat.detail["paused_by_signal"] is False
    rig.loop.log.close()
