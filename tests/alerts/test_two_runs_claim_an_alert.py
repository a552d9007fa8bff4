"""Two runs at once on one state file (cron's `kalshi check all` beside a single check, or a run
that overran its minute) post an alert once: the first claims it in the state file before it
sends, and the second, finding the claim, sends nothing. A claim lasts only as long as a send can,
so a run that died holding one silences nothing for good."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.alerts.model import Alert, Outcome, Runbook, SendReport, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.store import Store
from kalshi_cli.store.alert_state import AlertStateRepository
from kalshi_cli.store.records import AlertStateRecord
from kalshi_cli.vocabulary.clock import Clock, ManualClock, SystemClock
from tests.alerts.receiver import Receiver, reply
from tests.waiting import PATIENCE_S

FINGERPRINT = "check:positions"


def breach() -> Alert:
    return Alert(
        FINGERPRINT, Severity.CRITICAL, "KALSHI POSITIONS CRITICAL", "1 market over limit",
        Runbook.POSITION_LIMIT,
    )  # fmt: skip


def router_for(receiver: Receiver, clock: Clock) -> AlertRouter:
    """A run's router: one webhook, one attempt, a deadline no loaded machine reaches."""
    hook = {"type": "generic", "url": receiver.url("/hook"), "max_attempts": 1}
    return AlertRouter.from_config(
        {
            "channels": {"ops": {**hook, "timeout_s": PATIENCE_S}},
            "routes": {"critical": ["ops"], "warning": ["ops"]},
        },
        clock=clock,
    )


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.sqlite"
    Store.open(path).close()
    return path


def held_until(release: threading.Event) -> Callable[[BaseHTTPRequestHandler, Receiver], None]:
    """A responder that holds its request until `release` is set, then answers 200."""

    def respond(h: BaseHTTPRequestHandler, r: Receiver) -> None:
        release.wait(PATIENCE_S)
        reply(200)(h, r)

    return respond


def one_held_and_one_beside(
    receiver: Receiver, state_file: Path, clock: ManualClock, run: Callable[..., SendReport]
) -> tuple[SendReport, SendReport]:
    """`run(router, alert_state)` twice on `state_file`, each with its own connection: the
    second while the first is held inside its post."""
    release = threading.Event()
    receiver.respond_with(held_until(release), reply(200))
    before = len(receiver.seen)
    first: list[SendReport] = []

    def first_run() -> None:
        with Store.open(state_file, clock=clock) as store:
            first.append(run(router_for(receiver, clock), store.alerts))

    thread = threading.Thread(target=first_run, daemon=True)
    thread.start()
    try:
        receiver.wait_for(before + 1)  # the first run is inside its send
        with Store.open(state_file, clock=clock) as store:
            second = run(router_for(receiver, clock), store.alerts)
    finally:
        release.set()
        thread.join(PATIENCE_S)
    assert first, "the first run did not finish"
    return first[0], second


def test_two_runs_at_once_post_a_breach_once(receiver: Receiver, state_file: Path) -> None:
    clock = ManualClock()
    first, second = one_held_and_one_beside(
        receiver, state_file, clock, lambda router, state: router.notify(breach(), state)
    )
    assert len(receiver.seen) == 1
    assert first.outcome is Outcome.SENT and first.delivered
    assert second.outcome is Outcome.CLAIMED and not second.deliveries and second.ok
    # the claim went with the first run's record: the breach is de-duplicated as ever
    clock.advance(60)
    with Store.open(state_file, clock=clock) as store:
        again = router_for(receiver, clock).notify(breach(), store.alerts)
    assert again.outcome is Outcome.SUPPRESSED and len(receiver.seen) == 1


def test_two_runs_at_once_post_a_clearing_once(receiver: Receiver, state_file: Path) -> None:
    clock = ManualClock()
    with Store.open(state_file, clock=clock) as store:
        assert router_for(receiver, clock).notify(breach(), store.alerts).delivered
    clock.advance(60)
    first, second = one_held_and_one_beside(
        receiver, state_file, clock, lambda router, state: router.resolve(FINGERPRINT, state)
    )
    assert [s.json()["status"] for s in receiver.seen] == ["firing", "resolved"]
    assert first.outcome is Outcome.RESOLVED and first.delivered
    assert second.outcome is Outcome.CLAIMED and not second.deliveries


def test_a_failed_send_lets_its_claim_go_so_the_next_run_sends_at_once(
    receiver: Receiver, state_file: Path
) -> None:
    clock = ManualClock()
    receiver.respond_with(reply(500, b"down"), reply(200))
    with Store.open(state_file, clock=clock) as store:
        assert not router_for(receiver, clock).notify(breach(), store.alerts).delivered
    with Store.open(state_file, clock=clock) as store:  # the same instant: no claim outlived
        retried = router_for(receiver, clock).notify(breach(), store.alerts)
    assert retried.outcome is Outcome.RETRIED and retried.delivered
    assert [s.status for s in receiver.seen] == [500, 200]


def test_a_claim_whose_run_died_before_sending_holds_only_as_long_as_a_send_can(
    receiver: Receiver, state_file: Path
) -> None:
    from kalshi_cli.alerts.router import claim_hold_s

    clock = ManualClock()
    router = router_for(receiver, clock)
    hold_s = claim_hold_s(list(router.channels.values()))
    with Store.open(state_file, clock=clock) as store:  # claims, then dies before its post

        def claim(state: Any, until: float | None) -> float:
            return clock.wall() + hold_s

        store.alerts.claim_alert(FINGERPRINT, claim)

    def cron_run() -> SendReport:
        with Store.open(state_file, clock=clock) as store:
            return router.notify(breach(), store.alerts)

    clock.advance(hold_s - 1)
    assert cron_run().outcome is Outcome.CLAIMED and receiver.seen == []
    clock.advance(1)
    assert cron_run().outcome is Outcome.SENT and len(receiver.seen) == 1


def test_a_claim_outlasts_the_slowest_send_it_waits_for() -> None:
    """A run still inside its slowest channel's send is never taken for one that died."""
    from kalshi_cli.alerts.router import JOIN_GRACE_S, claim_hold_s

    router = AlertRouter.from_config(
        {
            "channels": {
                "fast": {"type": "generic", "url": "http://127.0.0.1:9/a", "timeout_s": 2},
                "slow": {"type": "generic", "url": "http://127.0.0.1:9/b", "deadline_s": 50},
            },
            "routes": {"critical": ["fast", "slow"]},
        }
    )
    fast, slow = router.channels["fast"], router.channels["slow"]
    assert claim_hold_s([fast, slow]) == claim_hold_s([slow]) > slow.settings.deadline
    # the send is waited for to its deadline and the join's grace, then 20 s to record it
    assert claim_hold_s([slow]) >= slow.settings.deadline + JOIN_GRACE_S + 20
    assert claim_hold_s([fast]) > fast.settings.deadline


def test_a_claim_another_writers_lock_refuses_is_a_read_that_still_de_duplicates(
    receiver: Receiver, state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim is a write: while another writer holds the state file's lock, the run reads the
    state instead (a read needs no lock), so a breach already posted is not posted again."""
    from kalshi_cli.checks import CheckResult, CheckStatus
    from kalshi_cli.checks.run import deliver

    monkeypatch.setattr("kalshi_cli.store.connection.BUSY_TIMEOUT_SECONDS", 0.5)
    router = router_for(receiver, SystemClock())
    results = [CheckResult("positions", CheckStatus.CRITICAL, "1 market over limit")]
    assert deliver(results, router, state_file, clock=SystemClock()) == []
    holder = sqlite3.connect(state_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        problems = deliver(results, router, state_file, clock=SystemClock())
    finally:
        holder.close()
    assert len(receiver.seen) == 1, problems


class LockWaited:
    """A state file's alert state whose claim's transaction begins only after another
    writer's lock was waited for, `wait_s` on `clock`."""

    def __init__(self, alerts: AlertStateRepository, clock: ManualClock, wait_s: float) -> None:
        self._alerts, self._clock, self._wait_s = alerts, clock, wait_s

    def alert_state(self, fingerprint: str) -> AlertStateRecord | None:
        return self._alerts.alert_state(fingerprint)

    def claim_alert(
        self, fingerprint: str, claim: Callable[[Any, float | None], float | None]
    ) -> AlertStateRecord | None:
        self._clock.advance(self._wait_s)
        return self._alerts.claim_alert(fingerprint, claim)

    def record_alert(self, fingerprint: str, **outcome: Any) -> AlertStateRecord:
        return self._alerts.record_alert(fingerprint, **outcome)


def test_a_claim_that_waited_for_the_lock_holds_a_whole_hold_from_when_it_was_written(
    receiver: Receiver, state_file: Path
) -> None:
    """The hold's spare is for recording after the send; a claim counted from before its own
    lock wait lost that wait from it, and a run beside it inside the hold posted again."""
    from kalshi_cli.alerts.router import claim_hold_s
    from kalshi_cli.store.connection import BUSY_TIMEOUT_SECONDS

    clock = ManualClock()
    hold_s = claim_hold_s(list(router_for(receiver, clock).channels.values()))
    runs: list[AlertRouter] = []

    def run(router: AlertRouter, alerts: AlertStateRepository) -> SendReport:
        runs.append(router)
        if len(runs) == 1:
            return router.notify(breach(), LockWaited(alerts, clock, BUSY_TIMEOUT_SECONDS))
        clock.advance(hold_s - 1)  # the first run is still inside its send
        return router.notify(breach(), alerts)

    first, second = one_held_and_one_beside(receiver, state_file, clock, run)
    assert len(receiver.seen) == 1
    assert first.outcome is Outcome.SENT and second.outcome is Outcome.CLAIMED


def claims_in(state_file: Path) -> list[str]:
    with sqlite3.connect(state_file) as db:
        rows = db.execute("SELECT key FROM kv WHERE key LIKE 'alert_claim %'").fetchall()
    return sorted(key for (key,) in rows)


def test_the_claim_a_dead_run_left_goes_once_its_hold_is_over_whatever_alert_comes_next(
    receiver: Receiver, state_file: Path
) -> None:
    """A claim of a run that died is never recorded; the next claim of any alert past its hold
    takes it away, so an alert never seen again (a market's) leaves no row for good."""
    from kalshi_cli.alerts.router import claim_hold_s

    clock = ManualClock()
    router = router_for(receiver, clock)
    hold_s = claim_hold_s(list(router.channels.values()))
    market = "trade.strategy_error.KXA-26JAN01-T1"
    with Store.open(state_file, clock=clock) as store:  # claims, then dies before its post
        store.alerts.claim_alert(market, lambda state, until: clock.wall() + hold_s)
    assert claims_in(state_file) == [f"alert_claim {market}"]
    with Store.open(state_file, clock=clock) as store:  # inside the hold: it stays
        assert router.notify(breach(), store.alerts).outcome is Outcome.SENT
    assert claims_in(state_file) == [f"alert_claim {market}"]
    clock.advance(hold_s)
    with Store.open(state_file, clock=clock) as store:
        assert router.resolve(FINGERPRINT, store.alerts).outcome is Outcome.RESOLVED
    assert claims_in(state_file) == []
