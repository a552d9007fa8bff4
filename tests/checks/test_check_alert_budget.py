"""One run of `kalshi check` waits on its webhooks for one channel deadline in all, however many
of its checks alert: `kalshi check all` alerts for each check in turn, and a receiver that never
answers must not hold the run for a deadline per check, past the cron wrapper's timeout (which
would report UNKNOWN in place of the check's own verdict)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_cli.alerts import AlertRouter
from kalshi_cli.checks import CheckResult, CheckStatus
from kalshi_cli.checks.run import deliver
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock

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

    started = time.monotonic()
    problems = deliver(results, router, state, clock=SystemClock())
    took = time.monotonic() - started

    # one deadline (and the join's grace), not one per alert: the old loop took six
    assert took < 3 * DEADLINE_S, took
    # none is lost: each is reported, and left unsent so the next run posts it
    assert [p.split(":", 2)[1] for p in problems] == names
    with Store.open(state) as store:
        for name in names:
            row = store.alerts.alert_state(f"check:{name}")
            assert row is not None and row.last_sent_at is None, name
