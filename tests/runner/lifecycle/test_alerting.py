"""The loop's alert thread over a router whose every delivery fails."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from kalshi_cli.runner.loop.alerting import MAX_PROBLEMS, TradeAlerts
from kalshi_cli.vocabulary.clock import ManualClock
from tests.fakes import FakeAlertStateStore


@dataclass
class _Report:
    problems: tuple[str, ...]


class _BrokenRouter:
    channels = ("webhook",)

    def __init__(self) -> None:
        self.sent = 0

    def notify(self, alert: Any, state_store: Any) -> _Report:
        self.sent += 1
        return _Report((f"webhook: HTTP 500 ({self.sent})",))

    def beat(self, signal: str, *, body: str = "") -> _Report:
        raise AssertionError("no dead-man channel: no beat is sent")


def test_delivery_problems_are_kept_bounded_over_a_long_run() -> None:
    router = _BrokenRouter()
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    for n in range(MAX_PROBLEMS * 3):
        alerts.post("stop_loss", f"T{n}", "stop-loss fired", {})
    alerts.close()
    assert router.sent == MAX_PROBLEMS * 3
    assert len(alerts.problems) == MAX_PROBLEMS
    assert alerts.problems[-1] == f"webhook: HTTP 500 ({MAX_PROBLEMS * 3})"


class _StuckRouter:
    """A webhook that hangs until the test lets it go."""

    channels = ("webhook",)

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.fingerprints: list[str] = []

    def notify(self, alert: Any, state_store: Any) -> _Report:
        self.fingerprints.append(alert.fingerprint)
        self.started.set()
        self.release.wait(10)
        return _Report(())

    def beat(self, signal: str, *, body: str = "") -> _Report:
        raise AssertionError("no dead-man channel: no beat is sent")


def test_an_alert_repeated_every_tick_is_queued_once_while_the_webhook_hangs() -> None:
    router = _StuckRouter()
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    alerts.post("stop_loss", "A", "stop-loss fired", {})
    assert router.started.wait(5)
    for _ in range(1000):
        alerts.post("stop_loss", "A", "stop-loss fired", {})
        alerts.post("feed_stale", "B", "B: idle", {})
    assert alerts._queue.qsize() == 2  # one stop_loss for A and one feed_stale for B
    router.release.set()
    alerts.close()
    assert router.fingerprints == ["trade.stop_loss.A", "trade.stop_loss.A", "trade.feed_stale.B"]
