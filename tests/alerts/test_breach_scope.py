"""The router's de-duplication with an alert's `scope` (what the breach covers: which
subaccounts, which markets): a firing alert whose scope differs from the one last delivered is
sent at once, with what it covered before; the same scope stays de-duplicated. In-memory alert state
with the state file's semantics, and the state file itself; a real receiver on loopback."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.alerts.model import Alert, Outcome, Runbook, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.store import Store, migrations
from kalshi_cli.vocabulary.clock import ManualClock
from tests.alerts.receiver import Receiver, reply
from tests.fakes import FakeAlertStateStore


def router_for(receiver: Receiver, clock: ManualClock) -> AlertRouter:
    return AlertRouter.from_config(
        {
            "channels": {
                "ops": {"type": "generic", "url": receiver.url("/hook"), "max_attempts": 1}
            },
            "routes": {"critical": "ops", "warning": "ops"},
        },
        clock=clock,
    )


def over(scope: str | None, summary: str = "1 market over limit") -> Alert:
    return Alert(
        fingerprint="check:positions",
        severity=Severity.CRITICAL,
        title="KALSHI POSITIONS CRITICAL",
        summary=summary,
        runbook=Runbook.POSITION_LIMIT,
        details={"over_limit": "1 (warn 0, crit 0)"},
        scope=scope,
    )


@pytest.mark.parametrize("store_kind", ["memory", "state_file"])
def test_a_changed_scope_is_sent_at_once_and_an_unchanged_one_is_not(
    receiver: Receiver, tmp_path: Path, store_kind: str
) -> None:
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock) if store_kind == "state_file" else None
    state_store: Any = store.alerts if store is not None else FakeAlertStateStore(clock)
    router = router_for(receiver, clock)
    try:
        assert router.notify(over("KXA on subaccount 1"), state_store).outcome is Outcome.SENT
        clock.advance(60)
        # the numbers moved, the breach did not: one message
        again = over("KXA on subaccount 1", summary="1 market over limit, a bigger one")
        assert router.notify(again, state_store).outcome is Outcome.SUPPRESSED
        clock.advance(60)
        wider = over("KXA on subaccount 1, KXB on subaccount 2", "2 markets over limit")
        assert router.notify(wider, state_store).outcome is Outcome.CHANGED
        clock.advance(60)
        assert router.notify(wider, state_store).outcome is Outcome.SUPPRESSED
        clock.advance(60)
        resolved = router.resolve("check:positions", state_store, summary="all within limits")
        assert resolved.outcome is Outcome.RESOLVED
    finally:
        if store is not None:
            store.close()
    assert [p["status"] for p in receiver.posts] == ["firing", "firing", "resolved"]
    assert receiver.posts[1]["summary"] == "2 markets over limit"
    assert receiver.posts[1]["details"] == {
        "over_limit": "1 (warn 0, crit 0)",
        "previously": "KXA on subaccount 1",
    }
    assert "previously" not in receiver.posts[0]["details"]
    # the scope is the router's bookkeeping: the person reads the summaries only
    assert receiver.posts[2]["summary"] == "all within limits (was: 2 markets over limit)"


def test_a_scope_change_whose_delivery_failed_is_sent_on_the_next_run(
    receiver: Receiver,
) -> None:
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = router_for(receiver, clock)
    router.notify(over("KXA"), state_store)
    receiver.respond_with(reply(500, b""))
    clock.advance(60)
    failed = router.notify(over("KXB"), state_store)
    assert failed.outcome is Outcome.CHANGED and not failed.delivered
    receiver.respond_with(reply())
    clock.advance(60)
    retried = router.notify(over("KXB"), state_store)
    assert retried.outcome is Outcome.CHANGED and retried.delivered
    clock.advance(60)
    assert router.notify(over("KXB"), state_store).outcome is Outcome.SUPPRESSED
    assert [p["details"].get("previously") for p in receiver.posts] == [None, "KXA"]


def test_a_row_written_without_a_scope_takes_the_first_one_quietly_then_sees_a_change(
    receiver: Receiver,
) -> None:
    """A row from before scopes (0.1.0's state file): the breach it was posted for is not posted
    again on upgrade, and a later change of scope is."""
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = router_for(receiver, clock)
    began = clock.wall()
    assert router.notify(over(None), state_store).outcome is Outcome.SENT
    clock.advance(60)
    assert router.notify(over("KXA"), state_store).outcome is Outcome.SUPPRESSED
    clock.advance(60)
    assert router.notify(over("KXA"), state_store).outcome is Outcome.SUPPRESSED
    clock.advance(60)
    assert router.notify(over("KXB"), state_store).outcome is Outcome.CHANGED
    assert [p["details"].get("previously") for p in receiver.posts] == [None, "KXA"]
    # taking the scope quietly did not start a new episode
    assert state_store.rows["check:positions"].first_seen_at == began


def test_a_severity_change_whose_delivery_failed_is_sent_on_the_next_run(
    receiver: Receiver,
) -> None:
    """warning delivered, critical failed: the person still knows of a warning only, so the
    next run sends the critical (before, the failed attempt's tier was recorded as told)."""
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = router_for(receiver, clock)
    near = Alert("check:positions", Severity.WARNING, "KALSHI POSITIONS WARNING", "near", "r")
    assert router.notify(near, state_store).outcome is Outcome.SENT
    receiver.respond_with(reply(500, b""))
    clock.advance(60)
    assert not router.notify(over("KXA"), state_store).delivered
    receiver.respond_with(reply())
    clock.advance(60)
    retried = router.notify(over("KXA"), state_store)
    assert retried.outcome is Outcome.CHANGED and retried.delivered
    clock.advance(60)
    assert router.notify(over("KXA"), state_store).outcome is Outcome.SUPPRESSED
    assert [p["severity"] for p in receiver.posts] == ["warning", "critical"]


@pytest.mark.parametrize("store_kind", ["memory", "state_file"])
def test_a_summary_with_breach_text_of_its_own_is_kept_whole_and_is_not_a_scope(
    receiver: Receiver, tmp_path: Path, store_kind: str
) -> None:
    """The scope is kept apart from the summary: a summary that itself ends like the old
    ` [breach: ...]` marker is neither cut short nor read as the scope last delivered."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock) if store_kind == "state_file" else None
    state_store: Any = store.alerts if store is not None else FakeAlertStateStore(clock)
    router = router_for(receiver, clock)
    own = "1 market over limit [breach: KXZ]"
    try:
        assert router.notify(over(None, summary=own), state_store).outcome is Outcome.SENT
        state = state_store.alert_state("check:positions")
        assert (state.summary, state.scope) == (own, None)
        clock.advance(60)
        # no scope was recorded: the first one is taken quietly, not compared with "KXZ"
        assert router.notify(over("KXA", summary=own), state_store).outcome is Outcome.SUPPRESSED
        state = state_store.alert_state("check:positions")
        assert (state.summary, state.scope) == (own, "KXA")
        clock.advance(60)
        assert router.notify(over("KXB", summary=own), state_store).outcome is Outcome.CHANGED
        clock.advance(60)
        router.resolve("check:positions", state_store, summary="all within limits")
    finally:
        if store is not None:
            store.close()
    assert [p["details"].get("previously") for p in receiver.posts[:2]] == [None, "KXA"]
    assert [p["summary"] for p in receiver.posts] == [
        own,
        own,
        f"all within limits (was: {own})",
    ]


def test_alerts_open_across_the_scope_migration_keep_their_scope_and_their_resolution(
    receiver: Receiver, tmp_path: Path
) -> None:
    """A state file from before 0005: two firing rows, one whose summary ends in text that
    looks like the unreleased ` [breach: ...]` marker (no released version wrote one: it is the
    summary's own text) and one without. After the migration both keep their summary whole and
    no scope, take their first scope quietly (nothing is posted again), a moved breach names
    that scope as `previously`, and each clearing is one message."""
    clock = ManualClock()
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrations.apply_pending(conn, 1.0, list(migrations.MIGRATIONS[:4]))
        assert migrations.pending(conn)[:1] == ["0005_alert_scope"]
        conn.executemany(
            "INSERT INTO alerts (fingerprint, status, severity, summary, last_sent_at, "
            "first_seen_at, updated_at) VALUES (?, 'firing', 'critical', ?, ?, ?, ?)",
            [
                ("check:positions", "1 market over limit [breach: KXA]", *[clock.wall()] * 3),
                ("check:exposure", "subaccount 1 $60.00 (12%)", *[clock.wall()] * 3),
            ],
        )
    finally:
        conn.close()
    router = router_for(receiver, clock)
    clock.advance(60)
    with Store.open(path, clock=clock) as store:
        assert router.notify(over("KXA"), store.alerts).outcome is Outcome.SUPPRESSED
        exposure = Alert(
            "check:exposure", Severity.CRITICAL, "KALSHI EXPOSURE CRITICAL",
            "subaccount 1 $61.00 (12%)", Runbook.POSITION_LIMIT, scope="subaccount 1",
        )  # fmt: skip
        assert router.notify(exposure, store.alerts).outcome is Outcome.SUPPRESSED
        assert receiver.posts == []
        kept = store.alerts.alert_state("check:positions")
        assert kept is not None
        assert (kept.summary, kept.scope) == ("1 market over limit [breach: KXA]", "KXA")
        clock.advance(60)
        assert router.notify(over("KXA, KXB"), store.alerts).outcome is Outcome.CHANGED
        clock.advance(60)
        router.resolve("check:positions", store.alerts, summary="all within limits")
        router.resolve("check:exposure", store.alerts, summary="all within limits")
    assert receiver.posts[0]["details"]["previously"] == "KXA"
    assert [p["summary"] for p in receiver.posts[1:]] == [
        "all within limits (was: 1 market over limit)",
        "all within limits (was: subaccount 1 $60.00 (12%))",  # the words that were posted
    ]


def test_a_resolution_that_failed_keeps_the_scope_last_delivered(receiver: Receiver) -> None:
    """A clearing no channel took leaves the alert firing as far as anyone was told, scope
    included: a breach elsewhere next run is a change that names the old one."""
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = router_for(receiver, clock)
    router.notify(over("KXA"), state_store)
    receiver.respond_with(reply(500, b""))
    clock.advance(60)
    assert not router.resolve("check:positions", state_store, summary="all within limits").delivered
    receiver.respond_with(reply())
    clock.advance(60)
    assert router.notify(over("KXB"), state_store).outcome is Outcome.CHANGED
    assert [p["details"].get("previously") for p in receiver.posts] == [None, "KXA"]


@pytest.mark.parametrize("store_kind", ["memory", "state_file"])
def test_a_scope_that_only_shrinks_is_not_news_and_a_return_to_it_neither(
    receiver: Receiver, tmp_path: Path, store_kind: str
) -> None:
    """A breach that shrinks (KXA, KXB -> KXA) and comes back (-> KXA, KXB) is not one
    message per run. The person was already told of everything a shrunk scope covers: it waits
    for the repeat interval, and the scope last delivered stays recorded, so the return is
    quiet too; growth or a move past it is still sent at once, naming it."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock) if store_kind == "state_file" else None
    state_store: Any = store.alerts if store is not None else FakeAlertStateStore(clock)
    router = router_for(receiver, clock)
    try:
        assert router.notify(over("KXA, KXB"), state_store).outcome is Outcome.SENT
        for _ in range(3):
            clock.advance(60)
            assert router.notify(over("KXA"), state_store).outcome is Outcome.SUPPRESSED
            clock.advance(60)
            assert router.notify(over("KXA, KXB"), state_store).outcome is Outcome.SUPPRESSED
        state = state_store.alert_state("check:positions")
        assert state is not None and state.scope == "KXA, KXB"
        clock.advance(60)
        assert router.notify(over("KXA"), state_store).outcome is Outcome.SUPPRESSED
        clock.advance(60)
        # moved: KXC was never told
        assert router.notify(over("KXA, KXC"), state_store).outcome is Outcome.CHANGED
        clock.advance(60)
        assert router.notify(over("KXA"), state_store).outcome is Outcome.SUPPRESSED
        clock.advance(router.repeat_interval_s)
        # the repeat says what it covers now, and a growth past that is news again
        assert router.notify(over("KXA"), state_store).outcome is Outcome.REPEATED
        clock.advance(60)
        assert router.notify(over("KXA, KXC"), state_store).outcome is Outcome.CHANGED
        clock.advance(60)
        assert (
            router.resolve("check:positions", state_store, summary="ok").outcome is Outcome.RESOLVED
        )
    finally:
        if store is not None:
            store.close()
    assert [(p["status"], p["details"].get("previously")) for p in receiver.posts] == [
        ("firing", None),
        ("firing", "KXA, KXB"),
        ("firing", None),
        ("firing", "KXA"),
        ("resolved", None),
    ]
