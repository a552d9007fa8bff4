"""What alerting speaks of: an `Alert` (the one record, fired or cleared, that every channel
renders), the state kept between runs (`AlertStateStore`, the state file's `store.alerts`) and
the results (`Delivery`, `SendReport`). No I/O here."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import msgspec


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Runbook(StrEnum):
    """Every runbook an alert can name; `runbooks/README.md` is the index."""

    INDEX = "runbooks/README.md"
    HEARTBEAT_LOST = "runbooks/01-heartbeat-lost.md"
    POSITION_LIMIT = "runbooks/02-position-limit-breach.md"
    CIRCUIT_BREAKER = "runbooks/03-daily-circuit-breaker.md"
    SAFE_MODE = "runbooks/04-safe-mode-and-api-errors.md"
    STALE_FEED = "runbooks/05-stale-feed.md"
    KILL_SWITCH = "runbooks/06-kill-switch-used.md"
    UNKNOWN_ORDERS = "runbooks/07-unknown-orders.md"
    CRASH_RESTART = "runbooks/08-restart-after-crash.md"
    KEY_ROTATION = "runbooks/09-key-rotation.md"
    DEMO_TO_PROD = "runbooks/10-demo-to-prod.md"
    MAINTENANCE = "runbooks/11-exchange-maintenance.md"
    PARAMS_RELOAD = "runbooks/12-params-reload-refused.md"
    FILL_QUARANTINED = "runbooks/13-fill-quarantined.md"
    STOP_NOT_PROVEN = "runbooks/14-stop-not-proven.md"
    PNL_FLOOR = "runbooks/15-pnl-check.md"
    STRATEGY_STOPPED = "runbooks/16-strategy-stopped.md"
    STOP_LOSS = "runbooks/17-stop-loss-fired.md"
    STRATEGY_ERROR = "runbooks/18-strategy-error.md"
    SHARD_BALANCE = "runbooks/19-shard-balance-low.md"
    COLLATERAL_ON_SHARD = "runbooks/20-orders-refused-for-collateral-on-a-shard.md"


# Every alert kind (a check's `check:NAME`, a trade loop event's name) -> its runbook: a new
# kind is a row here and a runbook naming it (tests/alerts/test_alerts.py walks them).
RUNBOOKS: Mapping[str, Runbook] = {
    "check:heartbeat": Runbook.HEARTBEAT_LOST,
    "check:positions": Runbook.POSITION_LIMIT,
    "check:exposure": Runbook.POSITION_LIMIT,
    "check:pnl": Runbook.PNL_FLOOR,
    "check:api": Runbook.SAFE_MODE,
    "check:feed": Runbook.STALE_FEED,
    "check:orders": Runbook.UNKNOWN_ORDERS,
    "check:exchange": Runbook.MAINTENANCE,
    "check:balance": Runbook.SHARD_BALANCE,
    "circuit_breaker": Runbook.CIRCUIT_BREAKER,
    "safe_mode": Runbook.SAFE_MODE,
    "strategy_error": Runbook.STRATEGY_ERROR,
    "strategy_stopped": Runbook.STRATEGY_STOPPED,
    "kill_switch": Runbook.KILL_SWITCH,
    "stop_loss": Runbook.STOP_LOSS,
    "position_breach": Runbook.POSITION_LIMIT,
    "feed_stale": Runbook.STALE_FEED,
    "daily_summary": Runbook.INDEX,
    "params_reload_refused": Runbook.PARAMS_RELOAD,
    "state_file_failed": Runbook.CRASH_RESTART,
    "fill_quarantined": Runbook.FILL_QUARANTINED,
    "stop_not_proven": Runbook.STOP_NOT_PROVEN,
    "shard_balance_short": Runbook.COLLATERAL_ON_SHARD,
}


class Alert(msgspec.Struct, frozen=True):
    """The one alert record: what a check's breach, the trade loop's risk events and the router's
    sends all are, and what every channel renders. `fingerprint` identifies it across runs.

    `scope` is what the breach covers (markets, subaccounts), worded to stay the same while the
    breach does: while firing, a scope with an item the last one sent lacked is sent at once; one
    that only shrank is not. None: only severity and the repeat interval decide. Never in a message.

    `status` and `ts` are the router's to set when it sends: a clearing is the same record with
    status RESOLVED; `ts` is when it was sent (unix seconds; 0 until then)."""

    fingerprint: str
    severity: Severity
    title: str
    summary: str
    runbook: str
    details: Mapping[str, str] = msgspec.field(default_factory=dict)
    scope: str | None = None
    status: AlertStatus = AlertStatus.FIRING
    ts: float = 0.0


class AlertStateLike(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def severity(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def last_sent_at(self) -> float | None: ...

    @property
    def first_seen_at(self) -> float: ...

    @property
    def scope(self) -> str | None: ...

    @property
    def told(self) -> Collection[str]: ...


class AlertStateStore(Protocol):
    """Where de-duplication state lives between runs.

    `record_alert(..., sent=True)` sets `last_sent_at` to now; `sent=False` leaves it (a failed
    delivery must not look recent). `status` is "firing" or "resolved"; `first_seen_at` is set to
    now when the status changes. `scope` is stored as given, apart from `summary`. A state's
    `told` is the severities delivered (`sent=True`) since `first_seen_at`."""

    def alert_state(self, fingerprint: str) -> AlertStateLike | None: ...

    def claim_alert(
        self, fingerprint: str, claim: Callable[[AlertStateLike | None, float | None], float | None]
    ) -> AlertStateLike | None:
        """In one transaction: read the state and when another run's claim on sending it runs
        out (None: none), write the claim `claim(state, until)` returns (None: leave it), and
        return the state. `record_alert` lets the claim go."""
        ...

    def record_alert(
        self,
        fingerprint: str,
        *,
        status: str,
        severity: str,
        summary: str,
        sent: bool,
        error: str | None = None,
        scope: str | None = None,
    ) -> object: ...


class Outcome(StrEnum):
    SENT = "sent"
    RETRIED = "retried"
    CHANGED = "changed"
    CLAIMED = "claimed"
    REPEATED = "repeated"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"
    RESOLVED_QUIETLY = "resolved_quietly"
    NOT_FIRING = "not_firing"
    UNROUTED = "unrouted"
    PINGED = "pinged"


@dataclass(frozen=True)
class Delivery:
    """One channel's result. `error` never contains an unmasked URL."""

    channel: str
    target: str
    ok: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None

    def describe(self) -> str:
        tries = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
        return f"{self.channel} ({self.target}) failed after {tries}: {self.error}"


@dataclass(frozen=True)
class SendReport:
    """What notify/resolve/ping did. Print `problems` to stderr; they are already masked."""

    fingerprint: str
    outcome: Outcome
    deliveries: tuple[Delivery, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def delivered(self) -> bool:
        return any(d.ok for d in self.deliveries)

    @property
    def ok(self) -> bool:
        return not self.problems
