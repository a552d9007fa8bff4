"""One run of `kalshi check` waits on its webhooks for one channel deadline in all, however many
of its checks alert: `kalshi check all` alerts for each check in turn, and a receiver that never
answers must not hold the run for a deadline per check, past the cron wrapper's timeout (which
would report UNKNOWN in place of the check's own verdict)."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.checks import CheckResult, CheckStatus
from kalshi_cli.checks.run import deliver
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from tests.alerts.receiver import Receiver
from tests.waiting import PATIENCE_S

DEADLINE_S = 1.0


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A receiver that takes the connection and never answers (the kernel completes the
    handshake for the listen backlog; nothing ever reads the request)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    server.close()


def test_every_alert_of_one_run_shares_one_channel_deadline(
    tmp_path: Path, silent_url: str
) -> None:
    router = AlertRouter.from_config(
        {
            "channels": {
                "ops": {
                    "type": "generic",
                    "url": silent_url,
                    "timeout_s": DEADLINE_S,
                    "max_attempts": 1,
                }
            },
            "routes": {"critical": "ops", "warning": "ops"},
        }
    )
    names = ["positions", "heartbeat", "exposure", "api", "feed", "exchange"]
    results = [CheckResult(name, CheckStatus.CRITICAL, f"{name} is broken") for name in names]
    state = tmp_path / "state.db"

    problems = deliver(results, router, state, clock=SystemClock())

    # one deadline, not one per alert: the first alert spent it, and none of the others was
    # attempted (the old loop attempted each, for six deadlines). Counted, not timed, so a busy
    # machine's stall cannot flip it
    first, *rest = problems
    assert "failed after 1 attempt: ReadTimeout" in first, first
    assert all("failed after 0 attempts: not attempted" in p for p in rest), rest
    # none is lost: each is reported, and left unsent so the next run posts it
    assert [p.split(":", 2)[1] for p in problems] == names
    with Store.open(state) as store:
        for name in names:
            row = store.alerts.alert_state(f"check:{name}")
            assert row is not None and row.last_sent_at is None, name


def _delivered_under_a_lock(
    tmp_path: Path, receiver: Receiver, names: list[str], deadline_s: float
) -> tuple[list[str], list[dict[str, object]], float]:
    """Each of `names` alerting CRITICAL to one channel of deadline `deadline_s` while another
    connection holds the state file's write lock: the run's problems, what the receiver was
    posted, and how long the run took (seconds)."""
    state = tmp_path / "state.db"
    with Store.open(state):
        pass
    holder = sqlite3.connect(state, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        router = AlertRouter.from_config(
            {
                "channels": {
                    "ops": {
                        "type": "generic",
                        "url": receiver.url("/hook"),
                        "timeout_s": deadline_s,
                        "max_attempts": 1,
                    }
                },
                "routes": {"critical": "ops", "warning": "ops"},
            }
        )
        results = [CheckResult(name, CheckStatus.CRITICAL, f"{name} is broken") for name in names]
        started = time.monotonic()
        problems = deliver(results, router, state, clock=SystemClock())
        took = time.monotonic() - started
    finally:
        holder.close()
    return problems, receiver.posts, took


def test_a_locked_state_file_does_not_use_up_the_webhooks_deadline(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holding the state file's lock makes each record of an alert wait the busy
    timeout; that wait is the state file's, not the webhooks', so every alert is still sent.
    The webhooks' deadline is one the three posts make on a busy machine, and the lock wait is
    twice it."""
    deadline_s = 4.0
    monkeypatch.setattr("kalshi_cli.store.connection.BUSY_TIMEOUT_SECONDS", 2 * deadline_s)
    names = ["positions", "heartbeat", "exposure"]
    problems, posts, _ = _delivered_under_a_lock(tmp_path, receiver, names, deadline_s)
    assert [p["fingerprint"] for p in posts] == [f"check:{name}" for name in names]
    assert len(problems) == 1, problems  # the lock is one problem, not one per alert
    assert "could not record them in the alert state" in problems[0]


def test_a_locked_state_file_holds_one_run_for_one_lock_wait_and_is_reported_once(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once recording an alert has waited the busy timeout on another writer's lock, the rest of
    the run's alerts do not wait for it again: five waits of the real ten seconds held `check
    all` past the cron wrapper's timeout. Every alert still goes out, and the lock is one line."""
    lock_wait = 4.0
    monkeypatch.setattr("kalshi_cli.store.connection.BUSY_TIMEOUT_SECONDS", lock_wait)
    names = ["positions", "pnl", "heartbeat", "orders", "exposure"]
    # the posts' deadline is not what this proves: one no busy machine's stall reaches
    problems, posts, took = _delivered_under_a_lock(tmp_path, receiver, names, PATIENCE_S)
    # one wait on the lock and five posts, short of a second wait; the old code waited once per
    # alert (five). The lock wait is long enough that a stall of a few seconds is not a wait
    assert took < 2 * lock_wait, took
    assert [p["fingerprint"] for p in posts] == [f"check:{name}" for name in names]
    assert len(problems) == 1, problems
    (problem,) = problems
    assert "locked by another process" in problem
    assert all(f"check:{name}" in problem for name in names), problem
    with Store.open(tmp_path / "state.db") as store:  # nothing recorded: the next run resends
        assert all(store.alerts.alert_state(f"check:{name}") is None for name in names)
