"""A generic JSON webhook in kalshi-cli's own schema (docs/alerts.md)."""

from __future__ import annotations

from typing import Any

from kalshi_cli.alerts.channels.base import JsonWebhook
from kalshi_cli.alerts.model import Notification
from kalshi_cli.clock import iso_utc

GENERIC_SCHEMA_VERSION = 1


class GenericWebhook(JsonWebhook):
    """A JSON document in kalshi-cli's own schema (docs/alerts.md), for any receiver."""

    kind = "generic"
    takes_headers = True

    def payload(self, n: Notification) -> dict[str, Any]:
        return {
            "version": GENERIC_SCHEMA_VERSION,
            "source": "kalshi-cli",
            "fingerprint": n.fingerprint,
            "status": str(n.status),
            "severity": str(n.severity),
            "title": n.title,
            "summary": n.summary,
            "runbook": n.runbook,
            "details": dict(n.details),
            "ts": iso_utc(n.ts),
        }


CHANNEL = GenericWebhook
