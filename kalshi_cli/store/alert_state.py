"""What each alert last did (tables `alerts` and `alert_log`): the de-duplication state that
`kalshi_cli.alerts` reads through its `AlertStateStore` protocol, so it holds across cron runs.

A row's `scope` (what the breach covers) is a column of its own, written as given: the summary
is stored as the alert's words, never with anything appended.

A run about to send claims the fingerprint first (`claim_alert`: the state read and the claim
written in one transaction), so a second run beside it finds the claim and sends nothing; the
claim is kept in `kv` (`alert_claim FINGERPRINT`: when it runs out) rather than a column, so a
`kalshi check`, which never migrates the file, can claim in a file of any version. Recording the
outcome (`record_alert`) lets the claim go in its own transaction; a claim whose run died goes
with the next claim of any alert once it has run out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from kalshi_cli.store.connection import Database
from kalshi_cli.store.entries import read_kv, write_kv
from kalshi_cli.store.records import AlertLogRecord, AlertStateRecord


class AlertStateRepository:
    """Per-fingerprint alert state, and a log of every send attempt."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def alert_state(self, fingerprint: str) -> AlertStateRecord | None:
        rows = self._db.rows(
            "SELECT fingerprint, status, severity, summary, last_sent_at, first_seen_at, "
            "updated_at, error, scope FROM alerts WHERE fingerprint = ?",
            (fingerprint,),
        )
        if not rows:
            return None
        record = AlertStateRecord(*rows[0])
        told = self._db.rows(
            "SELECT DISTINCT severity FROM alert_log WHERE fingerprint = ? AND status = ? "
            "AND sent = 1 AND at >= ?",
            (fingerprint, record.status, record.first_seen_at),
        )
        return replace(record, told=frozenset(severity for (severity,) in told))

    def claim_alert(
        self,
        fingerprint: str,
        claim: Callable[[AlertStateRecord | None, float | None], float | None],
    ) -> AlertStateRecord | None:
        """In one write transaction: read the fingerprint's state and the time another run's
        claim on it runs out (None: no claim), and write the claim `claim` returns from them
        (None: leave it as it is). Returns the state read. Every alert's claim that has run out
        goes too: its run died before recording (recording lets a claim go), and an alert never
        claimed again (a closed market's) would keep its row for good."""
        key = _claim_key(fingerprint)
        with self._db.transaction():
            self._db.write(
                "DELETE FROM kv WHERE key GLOB ? AND CAST(value AS REAL) <= ?",
                (_claim_key("*"), self._db.clock.wall()),
            )
            state = self.alert_state(fingerprint)
            held = read_kv(self._db, key)
            until = claim(state, None if held is None else float(held))
            if until is not None:
                write_kv(self._db, key, repr(until))
        return state

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
    ) -> AlertStateRecord:
        """Remember what was (or failed to be) sent for a fingerprint, and log the attempt.
        `scope` is recorded as given (None: no scope)."""
        now = self._db.clock.wall()
        with self._db.transaction():
            self._db.write("DELETE FROM kv WHERE key = ?", (_claim_key(fingerprint),))
            previous = self.alert_state(fingerprint)
            same_status = previous is not None and previous.status == status
            record = AlertStateRecord(
                fingerprint=fingerprint,
                status=status,
                severity=severity,
                summary=summary,
                last_sent_at=now if sent else (previous.last_sent_at if previous else None),
                first_seen_at=previous.first_seen_at if previous and same_status else now,
                updated_at=now,
                error=error,
                scope=scope,
            )
            self._db.conn.execute(
                "INSERT OR REPLACE INTO alerts (fingerprint, status, severity, summary, "
                "last_sent_at, first_seen_at, updated_at, error, scope) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fingerprint,
                    status,
                    severity,
                    summary,
                    record.last_sent_at,
                    record.first_seen_at,
                    now,
                    error,
                    scope,
                ),
            )
            self._db.conn.execute(
                "INSERT INTO alert_log (fingerprint, status, severity, summary, sent, error, at, "
                "scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (fingerprint, status, severity, summary, int(sent), error, now, scope),
            )
        return record

    def alert_log(
        self, *, fingerprint: str | None = None, limit: int = 100
    ) -> list[AlertLogRecord]:
        where, params = (
            ("", []) if fingerprint is None else (" WHERE fingerprint = ?", [fingerprint])
        )
        rows = self._db.newest(
            f"SELECT fingerprint, status, severity, summary, sent, error, at, scope "  # noqa: S608
            f"FROM alert_log{where}",
            params,
            "id",
            limit,
        )
        return [AlertLogRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7]) for r in rows]


def _claim_key(fingerprint: str) -> str:
    return f"alert_claim {fingerprint}"
