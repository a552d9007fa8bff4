"""`kalshi check heartbeat` while a live trade loop holds shards short of money (its orders there
denied or refused for the shard's balance): a warning naming each shard, apart."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.checks import CheckStatus
from kalshi_cli.checks.local import LocalView, check_heartbeat
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_the_heartbeat_check_names_each_shard_the_loop_holds_short(tmp_path: Path) -> None:
    clock = ManualClock(START)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        held = {"short": [2, 3], "paused": []}
        store.entries.heartbeat(source="trade", detail={"state": "ACTIVE", "shards_held": held})
        clock.advance(1)
        result = check_heartbeat(LocalView(store, store.path, clock.wall()), resolve(None))
    assert result.status is CheckStatus.WARNING
    assert result.summary.startswith(
        "the trade loop holds shard 2, 3 short (its orders there are denied or refused for the "
        "shard's balance until it is funded: `kalshi shard move`); "
    ), result.summary


def test_a_loop_in_safe_mode_holding_a_shard_short_stays_critical(tmp_path: Path) -> None:
    """SAFE_MODE sends nothing until `kalshi resume`: a shard held short beside it never softens
    the check to a warning."""
    clock = ManualClock(START)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        store.trading.set_trading_state("SAFE_MODE", reason="api errors", source="api_error_guard")
        held = {"short": [2], "paused": []}
        store.entries.heartbeat(source="trade", detail={"shards_held": held})
        clock.advance(1)
        result = check_heartbeat(LocalView(store, store.path, clock.wall()), resolve(None))
    assert result.status is CheckStatus.CRITICAL
    assert result.summary.startswith("trading stopped: nothing is sent until `kalshi resume`; ")
