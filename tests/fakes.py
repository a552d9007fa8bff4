"""Fakes shared by more than one test module."""

from __future__ import annotations

from dataclasses import dataclass

from kalshi_cli.clock import ManualClock


@dataclass(frozen=True)
class FakeAlertState:
    fingerprint: str
    status: str
    severity: str
    summary: str
    last_sent_at: float | None
    error: str | None


class FakeAlertLedger:
    """The alert de-duplication ledger (kalshi_cli.alerts.AlertLedger) in memory, keeping
    `last_sent_at` unchanged when nothing was sent, as the state file does."""

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
    ) -> None:
        prev = self.rows.get(fingerprint)
        last = self.clock.wall() if sent else (prev.last_sent_at if prev else None)
        self.rows[fingerprint] = FakeAlertState(fingerprint, status, severity, summary, last, error)
