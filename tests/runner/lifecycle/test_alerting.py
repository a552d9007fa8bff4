"""The loop's alert thread over a router whose every delivery fails."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import Any

from kalshi_cli.runner.loop.alerting import MAX_PROBLEMS, TradeAlerts
from kalshi_cli.vocabulary.clock import ManualClock
from tests.fakes import FakeAlertStateStore, NoProblems, RecordingRouter


class _BrokenRouter(RecordingRouter):
    def notify(self, alert: Any, state_store: Any) -> NoProblems:
        super().notify(alert, state_store)
        return NoProblems((f"webhook: HTTP 500 ({len(self.sent)})",))


def test_delivery_problems_are_kept_bounded_over_a_long_run() -> None:
    router = _BrokenRouter()
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    for n in range(MAX_PROBLEMS * 3):
        alerts.post("stop_loss", f"T{n}", "stop-loss fired", {})
    alerts.close()
    assert len(router.sent) == MAX_PROBLEMS * 3
    assert len(alerts.problems) == MAX_PROBLEMS
    assert alerts.problems[-1] == f"webhook: HTTP 500 ({MAX_PROBLEMS * 3})"


class _StuckRouter(RecordingRouter):
    """A webhook that hangs until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = threading.Event()

    def notify(self, alert: Any, state_store: Any) -> NoProblems:
        super().notify(alert, state_store)
        self.started.set()
        self.release.wait(10)
        return NoProblems()


def test_an_alert_repeated_every_tick_is_queued_once_while_the_webhook_hangs() -> None:
    """So is one that fires and clears every tick: once, as the newest of the two (cleared)."""
    router = _StuckRouter()
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    alerts.post("stop_loss", "A", "stop-loss fired", {})
    assert router.started.wait(5)
    for _ in range(1000):
        alerts.post("stop_loss", "A", "stop-loss fired", {})
        alerts.post("feed_stale", "B", "B: idle", {})
        alerts.resolve("feed_stale", "B", "B: fresh again")
    assert alerts._queue.qsize() == 2  # one stop_loss for A, one feed_stale for B
    router.release.set()
    alerts.close()
    assert router.asked == [
        ("fire", "trade.stop_loss.A"),
        ("fire", "trade.stop_loss.A"),
        ("resolve", "trade.feed_stale.B"),
    ]


def test_an_alert_that_fires_again_after_clearing_while_the_webhook_hangs_ends_firing() -> None:
    """A breach that clears and comes back before the thread has sent its first alert leaves
    the channels told it fires: the newest of an alert and its clearing is what goes."""
    router = _StuckRouter()
    alerts = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    alerts.post("stop_loss", "A", "stop-loss fired", {})
    assert router.started.wait(5)
    alerts.post("position_breach", "B", "B: over its limit", {})
    alerts.resolve("position_breach", "B", "B: within its limit")
    alerts.post("position_breach", "B", "B: over its limit again", {})
    router.release.set()
    alerts.close()
    told = [status for status, fingerprint in router.asked if fingerprint.endswith(".B")]
    assert told[-1:] == ["fire"]
