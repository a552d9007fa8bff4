"""A generic JSON webhook in kalshi-cli's own schema (docs/alerts.md)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from kalshi_cli.alerts.channels.base import HttpConfig, JsonWebhook
from kalshi_cli.alerts.model import Alert
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.decode import SECRET

GENERIC_SCHEMA_VERSION = 1


class GenericConfig(HttpConfig, frozen=True, tag="generic"):
    """`alerts.channels.NAME` of `type: generic`: the only type that takes `headers:` (only a
    receiver we do not know needs them)."""

    headers: Annotated[dict[str, str], SECRET] = msgspec.field(default_factory=dict)


class GenericWebhook(JsonWebhook):
    """A JSON document in kalshi-cli's own schema (docs/alerts.md), for any receiver."""

    config_type = GenericConfig

    def payload(self, n: Alert) -> dict[str, Any]:
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
