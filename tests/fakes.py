"""Fakes shared by more than one test module."""

from __future__ import annotations

from dataclasses import dataclass

from kalshi_cli.vocabulary.clock import ManualClock


@dataclass(frozen=True)
class FakeAlertState:
    fingerprint: str
    status: str
    severity: str
    summary: str
    last_sent_at: float | None
    error: str | None
    first_seen_at: float
    scope: str | None = None


class FakeAlertStateStore:
    """The alert de-duplication state (kalshi_cli.alerts.AlertStateStore) in memory, keeping
    `last_sent_at` unchanged when nothing was sent and `first_seen_at` at the start of the
    current status, as the state file does."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.rows: dict[str, FakeAlertState] = {}

    def alert_state(self, fingerprint: str) -> FakeAlertState | None:
        return self.rows.get(fingerprint)

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
    ) -> None:
        prev = self.rows.get(fingerprint)
        now = self.clock.wall()
        last = now if sent else (prev.last_sent_at if prev else None)
        began = prev.first_seen_at if prev is not None and prev.status == status else now
        self.rows[fingerprint] = FakeAlertState(
            fingerprint, status, severity, summary, last, error, began, scope
        )
