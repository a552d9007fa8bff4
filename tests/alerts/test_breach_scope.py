"""The router's de-duplication with an alert's `scope` (what the breach covers: which
subaccounts, which markets): a firing alert whose scope differs from the one last delivered is
sent at once, with what it covered before; the same scope stays de-duplicated. In-memory ledger
with the state file's semantics, and the state file itself; a real receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.alerts import Alert, AlertRouter, Outcome, Runbook, Severity
from kalshi_cli.clock import ManualClock
from kalshi_cli.store import Store
from tests.checks.test_check_alerts_e2e import Receiver
from tests.fakes import FakeAlertLedger


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def router_for(receiver: Receiver, clock: ManualClock) -> AlertRouter:
    return AlertRouter.from_config(
        {
            "channels": {"ops": {"type": "generic", "url": receiver.url, "max_attempts": 1}},
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


@pytest.mark.parametrize("ledger_kind", ["memory", "state_file"])
def test_a_changed_scope_is_sent_at_once_and_an_unchanged_one_is_not(
    receiver: Receiver, tmp_path: Path, ledger_kind: str
) -> None:
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock) if ledger_kind == "state_file" else None
    ledger: Any = store if store is not None else FakeAlertLedger(clock)
    router = router_for(receiver, clock)
    try:
        assert router.notify(over("KXA on subaccount 1"), ledger).outcome is Outcome.SENT
        clock.advance(60)
        # the numbers moved, the breach did not: one message
        again = over("KXA on subaccount 1", summary="1 market over limit, a bigger one")
        assert router.notify(again, ledger).outcome is Outcome.SUPPRESSED
        clock.advance(60)
        wider = over("KXA on subaccount 1, KXB on subaccount 2", "2 markets over limit")
        assert router.notify(wider, ledger).outcome is Outcome.CHANGED
        clock.advance(60)
        assert router.notify(wider, ledger).outcome is Outcome.SUPPRESSED
        clock.advance(60)
        resolved = router.resolve("check:positions", ledger, summary="all within limits")
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
    ledger = FakeAlertLedger(clock)
    router = router_for(receiver, clock)
    router.notify(over("KXA"), ledger)
    receiver.failing = True
    clock.advance(60)
    failed = router.notify(over("KXB"), ledger)
    assert failed.outcome is Outcome.CHANGED and not failed.delivered
    receiver.failing = False
    clock.advance(60)
    retried = router.notify(over("KXB"), ledger)
    assert retried.outcome is Outcome.CHANGED and retried.delivered
    clock.advance(60)
    assert router.notify(over("KXB"), ledger).outcome is Outcome.SUPPRESSED
    assert [p["details"].get("previously") for p in receiver.posts] == [None, "KXA"]


def test_a_row_written_without_a_scope_takes_the_first_one_quietly_then_sees_a_change(
    receiver: Receiver,
) -> None:
    """A row from before scopes (0.1.0's state file): the breach it was posted for is not posted
    again on upgrade, and a later change of scope is."""
    clock = ManualClock()
    ledger = FakeAlertLedger(clock)
    router = router_for(receiver, clock)
    began = clock.wall()
    assert router.notify(over(None), ledger).outcome is Outcome.SENT
    clock.advance(60)
    assert router.notify(over("KXA"), ledger).outcome is Outcome.SUPPRESSED
    clock.advance(60)
    assert router.notify(over("KXA"), ledger).outcome is Outcome.SUPPRESSED
    clock.advance(60)
    assert router.notify(over("KXB"), ledger).outcome is Outcome.CHANGED
    assert [p["details"].get("previously") for p in receiver.posts] == [None, "KXA"]
    # taking the scope quietly did not start a new episode
    assert ledger.rows["check:positions"].first_seen_at == began


def test_a_severity_change_whose_delivery_failed_is_sent_on_the_next_run(
    receiver: Receiver,
) -> None:
    """warning delivered, critical failed: the person still knows of a warning only, so the
    next run sends the critical (before, the failed attempt's tier was recorded as told)."""
    clock = ManualClock()
    ledger = FakeAlertLedger(clock)
    router = router_for(receiver, clock)
    near = Alert("check:positions", Severity.WARNING, "KALSHI POSITIONS WARNING", "near", "r")
    assert router.notify(near, ledger).outcome is Outcome.SENT
    receiver.failing = True
    clock.advance(60)
    assert not router.notify(over("KXA"), ledger).delivered
    receiver.failing = False
    clock.advance(60)
    retried = router.notify(over("KXA"), ledger)
    assert retried.outcome is Outcome.CHANGED and retried.delivered
    clock.advance(60)
    assert router.notify(over("KXA"), ledger).outcome is Outcome.SUPPRESSED
    assert [p["severity"] for p in receiver.posts] == ["warning", "critical"]
