"""Discord webhooks."""

from __future__ import annotations

from typing import Any

from kalshi_cli.alerts.channels.base import HttpConfig, JsonWebhook, clip, headline
from kalshi_cli.alerts.model import Alert, AlertStatus, Severity
from kalshi_cli.vocabulary.clock import iso_utc

DISCORD_CONTENT_MAX = 2000
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 2000
DISCORD_DETAIL_FIELDS_MAX = 8
DISCORD_FIELD_NAME_MAX = 64
DISCORD_FIELD_VALUE_MAX = 256


_DISCORD_COLOUR = {Severity.CRITICAL: 0xD32F2F, Severity.WARNING: 0xF9A825, Severity.INFO: 0x1E88E5}
_RESOLVED_COLOUR = 0x2E7D32


class DiscordConfig(HttpConfig, frozen=True, tag="discord"):
    """`alerts.channels.NAME` of `type: discord`."""


class DiscordWebhook(JsonWebhook):
    """Discord webhook: `content` (at most 2000 characters) plus one embed, mentions disabled."""

    config_type = DiscordConfig

    def payload(self, n: Alert) -> dict[str, Any]:
        resolved = n.status is AlertStatus.RESOLVED
        fields: list[dict[str, Any]] = [
            {"name": "Severity", "value": str(n.severity), "inline": True},
            {"name": "Status", "value": str(n.status), "inline": True},
            {
                "name": "Runbook",
                "value": clip(n.runbook, DISCORD_FIELD_VALUE_MAX),
                "inline": False,
            },
        ]
        for key, value in list(n.details.items())[:DISCORD_DETAIL_FIELDS_MAX]:
            fields.append(
                {
                    "name": clip(key, DISCORD_FIELD_NAME_MAX) or "-",
                    "value": clip(value, DISCORD_FIELD_VALUE_MAX) or "-",
                    "inline": True,
                }
            )
        return {
            "content": clip(f"**{headline(n)}**", DISCORD_CONTENT_MAX),
            "embeds": [
                {
                    "title": clip(n.title, DISCORD_TITLE_MAX),
                    "description": clip(n.summary, DISCORD_DESCRIPTION_MAX),
                    "color": _RESOLVED_COLOUR if resolved else _DISCORD_COLOUR[n.severity],
                    "fields": fields,
                    "footer": {"text": clip(f"fingerprint {n.fingerprint}", 200)},
                    "timestamp": iso_utc(n.ts),
                }
            ],
            # An alert's text comes from data (tickers, error messages); it must not ping @everyone.
            "allowed_mentions": {"parse": []},
        }


CHANNEL = DiscordWebhook
