"""Trading state, risk trips, alerts, heartbeats, key/values and the event log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import pytest

from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock

START = datetime(2024, 3, 10, 23, 59, tzinfo=UTC).timestamp()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(path: Path, clock: ManualClock) -> Iterator[Store]:
    s = Store.open(path, clock=clock)
    yield s
    s.close()


def test_trading_state_defaults_to_active(store: Store) -> None:
    state = store.trading.trading_state()
    assert (state.state, state.source, state.at) == ("ACTIVE", "default", START)
    assert store.trading.trading_state_history() == []


def test_trading_state_survives_a_restart(store: Store, path: Path, clock: ManualClock) -> None:
    class TradingState(StrEnum):
        HALTED = "HALTED"

    store.trading.set_trading_state(TradingState.HALTED, reason="kill switch", source="cancel-all")
    clock.advance(10)
    store.trading.set_trading_state("SAFE_MODE", reason="api errors", source="trade")
    store.close()
    with Store.open(path, clock=clock) as again:
        state = again.trading.trading_state()
        assert (state.state, state.reason, state.source) == ("SAFE_MODE", "api errors", "trade")
        assert state.at == START + 10
        assert [h.state for h in again.trading.trading_state_history()] == ["HALTED", "SAFE_MODE"]
        assert [h.state for h in again.trading.trading_state_history(limit=1)] == ["SAFE_MODE"]
        with pytest.raises(ValueError, match="trading state"):
            again.trading.set_trading_state("PAUSED", reason="x", source="y")
        assert again.trading.trading_state().state == "SAFE_MODE"


def test_risk_trips_are_rows_with_a_utc_day(store: Store, clock: ManualClock) -> None:
    store.trading.record_risk_trip(rule="daily_loss", code="DAILY_LOSS", detail="-50.00 < -40.00")
    clock.advance(120)  # past midnight UTC
    trip = store.trading.record_risk_trip(
        rule="position_limit", code="POSITION_LIMIT", detail="12 > 10", ticker="T"
    )
    store.trading.record_risk_trip(
        rule="daily_loss", code="DAILY_LOSS", detail="x", day="2024-01-01"
    )
    assert trip.day == "2024-03-11" and trip.ticker == "T"
    assert [t.rule for t in store.trading.risk_trips(day="2024-03-10")] == ["daily_loss"]
    assert [t.day for t in store.trading.risk_trips(rule="daily_loss")] == [
        "2024-03-10",
        "2024-01-01",
    ]
    assert store.trading.risk_trips(rule="daily_loss", day="2024-03-11") == []
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        store.trading.record_risk_trip(rule="r", code="c", detail="d", day="yesterday")


def test_alert_state_for_deduplication(store: Store, clock: ManualClock) -> None:
    assert store.alerts.alert_state("positions") is None
    store.alerts.record_alert(
        "positions", status="critical", severity="CRITICAL", summary="1", sent=True
    )
    clock.advance(60)
    store.alerts.record_alert(
        "positions", status="critical", severity="CRITICAL", summary="2", sent=False, error="502"
    )
    a = store.alerts.alert_state("positions")
    assert a is not None
    assert (a.first_seen_at, a.last_sent_at, a.updated_at) == (START, START, START + 60)
    assert (a.summary, a.error) == ("2", "502")
    clock.advance(60)
    store.alerts.record_alert(
        "positions", status="ok", severity="OK", summary="resolved", sent=True
    )
    a = store.alerts.alert_state("positions")
    assert a is not None
    assert (a.status, a.first_seen_at, a.last_sent_at, a.error) == (
        "ok",
        START + 120,
        START + 120,
        None,
    )
    log = store.alerts.alert_log(fingerprint="positions")
    assert [(e.summary, e.sent) for e in log] == [("1", True), ("2", False), ("resolved", True)]
    assert [e.summary for e in store.alerts.alert_log(limit=1)] == ["resolved"]


def test_heartbeats_keep_the_latest_row_per_source(store: Store, clock: ManualClock) -> None:
    assert store.entries.last_heartbeat() is None
    store.entries.heartbeat(source="trade", detail={"loop": 1})
    clock.advance(1)
    store.entries.heartbeat(source="trade", detail={"loop": 2, "pnl": Decimal("-0.50")})
    clock.advance(1)
    store.entries.heartbeat(source="feed")
    trade = store.entries.last_heartbeat("trade")
    assert trade is not None
    assert (trade.at, trade.detail) == (START + 1, {"loop": 2, "pnl": "-0.50"})
    latest = store.entries.last_heartbeat()
    assert latest is not None and (latest.source, latest.detail) == ("feed", {})
    assert store._conn.execute("SELECT count(*) FROM heartbeats").fetchone() == (2,)


def test_key_values(store: Store) -> None:
    assert store.entries.get_kv("fills_cursor") is None
    store.entries.set_kv("fills_cursor", "abc")
    store.entries.set_kv("fills_cursor", "def")
    assert store.entries.get_kv("fills_cursor") == "def"


def test_event_log(store: Store, clock: ManualClock) -> None:
    for n in range(5):
        store.entries.log_entry(
            "order_placed" if n % 2 else "heartbeat",
            {"n": n, "model_fair": Decimal("0.6100"), "when": datetime(2024, 1, 1, tzinfo=UTC)},
        )
        clock.advance(1)
    events = store.entries.read()
    assert [e.data["n"] for e in events] == [0, 1, 2, 3, 4]
    assert events[1].kind == "order_placed" and events[1].at == START + 1
    assert events[1].data["model_fair"] == "0.6100"
    assert events[1].data["when"] == "2024-01-01T00:00:00+00:00"
    assert [e.data["n"] for e in store.entries.read(kind="order_placed")] == [1, 3]
    assert [e.data["n"] for e in store.entries.read(limit=2)] == [3, 4]
    assert [e.data["n"] for e in store.entries.read(since=START + 3)] == [3, 4]
    with pytest.raises(TypeError, match="event log"):
        store.entries.log_entry("bad", {"x": object()})
