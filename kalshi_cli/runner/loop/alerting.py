"""The trade loop's alerts and dead-man beats, posted through `kalshi_cli.alerts` from one daemon
thread's queue so a slow or hanging channel never slows the loop; at most one alert per
fingerprint and one beat of each kind wait. See docs/alerts.md "Delivery: timeouts, retries,
deadlines" and "Dead-man ping (healthchecks.io style)".
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.alerts.model import RUNBOOKS, Alert, AlertStatus, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.store.paper import PAPER

if TYPE_CHECKING:
    from kalshi_cli.alerts.model import AlertStateStore

# the alert state store the thread uses while it runs, closed when it ends
StateStoreFactory = Callable[[], AbstractContextManager["AlertStateStore"]]


class Reported(Protocol):
    @property
    def problems(self) -> Sequence[str]: ...


class Notifier(Protocol):
    """What the alert thread asks of its router: an `AlertRouter`, or a test's fake of one."""

    @property
    def channels(self) -> Collection[object]: ...

    def notify(self, alert: Alert, state_store: AlertStateStore, /) -> Reported: ...

    def resolve(
        self,
        fingerprint: str,
        state_store: AlertStateStore,
        /,
        *,
        title: str,
        summary: str,
        runbook: str,
    ) -> Reported: ...

    def beat(self, signal: str, *, body: str = "") -> Reported: ...


MAX_PROBLEMS = 100

# what the loop alerts on: event name -> (severity, title); its runbook is `RUNBOOKS[kind]`
KINDS: dict[str, tuple[Severity, str]] = {
    "circuit_breaker": (Severity.CRITICAL, "Daily circuit breaker tripped"),
    "safe_mode": (Severity.CRITICAL, "Trading entered SAFE_MODE"),
    "strategy_error": (Severity.WARNING, "Strategy or model failing in a market"),
    "strategy_stopped": (
        Severity.WARNING,
        "A strategy stopped alone (its loss limit, stuck, late or failing)",
    ),
    "kill_switch": (Severity.CRITICAL, "Kill switch used: trading HALTED"),
    "stop_loss": (Severity.WARNING, "Stop-loss fired"),
    "position_breach": (Severity.CRITICAL, "Position over its limit"),
    "feed_stale": (Severity.WARNING, "Market data feed stale"),
    "daily_summary": (Severity.INFO, "Trade loop daily summary"),
    "params_reload_refused": (
        Severity.WARNING,
        "Strategy params reload refused: the running params stay",
    ),
    "state_file_failed": (
        Severity.CRITICAL,
        "Trade loop stopped: its state file cannot be written",
    ),
    "fill_quarantined": (Severity.CRITICAL, "Fill quarantined: its market takes no new order"),
    "stop_not_proven": (Severity.CRITICAL, "Stop not proven: orders may rest unmanaged"),
    "shard_balance_short": (
        Severity.WARNING,
        "Orders refused for collateral on a shard: it takes no new order until funded",
    ),
}


@dataclass
class Beat:
    """A dead-man signal for the thread to send: `start`, `` (alive) or `fail`. Its body is
    the newest one given while it waited (a run's final ping says `stopped` even when it
    arrives while the previous ping is still queued)."""

    signal: str
    body: str


class TradeAlerts:
    def __init__(
        self,
        router: Notifier,
        state_store_factory: StateStoreFactory,
        *,
        pings: bool = True,
        paper: bool = False,
    ) -> None:
        self.router = router
        # a paper session's alerts say so and are deduplicated apart from the live loop's: a
        # page from paper is never read as the live loop's, nor silenced as its repeat
        self.paper = paper
        self._state_store_factory = state_store_factory
        # a fingerprint is queued once while it waits: what the thread then sends is its
        # newest alert or clearing, so a breach that cleared and came back while the webhook
        # was behind ends firing, and one that flaps every tick queues nothing more
        self._queue: queue.Queue[str | Beat | None] = queue.Queue()
        # the newest alert or clearing of each fingerprint queued and not yet taken
        self._waiting: dict[str, Alert] = {}
        # the dead-man beat of each signal queued and not yet taken by the thread
        self._beats: dict[str, Beat] = {}
        channels = router.channels
        kinds = (
            [getattr(ch, "kind", "") for ch in channels.values()]
            if isinstance(channels, Mapping)
            else []
        )
        self.pings = pings and "deadman" in kinds
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # the latest delivery problems; bounded, since a webhook that stays broken for the
        # days a loop runs would otherwise grow this without end
        self.problems: deque[str] = deque(maxlen=MAX_PROBLEMS)
        if router.channels:
            self._thread = threading.Thread(target=self._run, name="trade-alerts", daemon=True)
            self._thread.start()

    @classmethod
    def from_config(
        cls, section: Mapping[str, object], state_path: Path, *, paper: bool = False
    ) -> TradeAlerts:
        """The loop's alerts from the `alerts:` section. A paper session sends no dead-man beat:
        the config's dead-man check watches the live loop, and a paper session's pings would keep
        it up while the live loop is dead. Its alerts say PAPER (`post`)."""

        @contextmanager
        def state_store() -> Iterator[AlertStateStore]:
            from kalshi_cli.store import Store

            with Store.open(state_path) as store:
                yield store.alerts

        return cls(AlertRouter.from_config(section), state_store, pings=not paper, paper=paper)

    @property
    def enabled(self) -> bool:
        return self._thread is not None

    def post(self, kind: str, key: str, summary: str, details: Mapping[str, str]) -> None:
        """Queue one alert; `key` makes the fingerprint, so one market's breach is one alert.
        A paper session's is titled `PAPER: ...` and fingerprinted `paper.trade....`."""
        self._put(kind, key, summary, details, AlertStatus.FIRING)

    def resolve(self, kind: str, key: str, summary: str) -> None:
        """Queue the end of what `post(kind, key, ...)` alerted on: the router tells the
        channels once, if they were told it fired, so the next one pages at once."""
        self._put(kind, key, summary, {}, AlertStatus.RESOLVED)

    def _put(
        self, kind: str, key: str, summary: str, details: Mapping[str, str], status: AlertStatus
    ) -> None:
        if self._thread is None:
            return
        (severity, title), fingerprint = KINDS[kind], f"trade.{kind}" + (f".{key}" if key else "")
        if self.paper:
            title, fingerprint = f"{PAPER}: {title}", f"paper.{fingerprint}"
        runbook, extra = RUNBOOKS[kind], dict(details)
        alert = Alert(fingerprint, severity, title, summary, runbook, extra, status=status)
        with self._lock:
            queued = fingerprint in self._waiting
            self._waiting[fingerprint] = alert
        if not queued:
            self._queue.put(fingerprint)

    def beat(self, signal: str, body: str = "") -> None:
        """Queue a dead-man signal (never blocks); dropped while the same signal still waits."""
        if self._thread is None or not self.pings:
            return
        with self._lock:
            waiting = self._beats.get(signal)
            if waiting is not None:
                waiting.body = body  # one per signal waits; it carries the newest news
                return
            beat = self._beats[signal] = Beat(signal, body)
        self._queue.put(beat)

    def close(self, timeout_s: float = 10.0) -> bool:
        """End the thread once what is queued is sent, waiting at most `timeout_s`: whether
        everything went (a send still running then is let go of, its thread a daemon)."""
        if self._thread is None:
            return True
        self._queue.put(None)
        self._thread.join(timeout_s)
        sent = not self._thread.is_alive()
        self._thread = None
        return sent

    def _run(self) -> None:
        with self._state_store_factory() as state_store:
            self._drain(state_store)

    def _drain(self, state_store: AlertStateStore) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            if isinstance(item, Beat):
                with self._lock:
                    self._beats.pop(item.signal, None)
                    body = item.body
                self.problems.extend(self.router.beat(item.signal, body=body).problems)
                continue
            with self._lock:
                alert = self._waiting.pop(item)
            if alert.status is AlertStatus.RESOLVED:
                report = self.router.resolve(
                    alert.fingerprint,
                    state_store,
                    title=alert.title,
                    summary=alert.summary,
                    runbook=alert.runbook,
                )
            else:
                report = self.router.notify(alert, state_store)
            self.problems.extend(report.problems)
