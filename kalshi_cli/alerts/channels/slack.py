"""Slack incoming webhooks."""

from __future__ import annotations

from typing import Any

from kalshi_cli.alerts.channels.base import HttpConfig, JsonWebhook, clip, headline
from kalshi_cli.alerts.model import Alert, AlertStatus, Severity
from kalshi_cli.vocabulary.clock import iso_utc

SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELDS_MAX = 10


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reserves these three; unescaped, `<` would start a link or a mention.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_SLACK_ICON = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}


class SlackConfig(HttpConfig, frozen=True, tag="slack"):
    """`alerts.channels.NAME` of `type: slack`."""


class SlackWebhook(JsonWebhook):
    """Slack incoming webhook: `text` (the notification fallback) plus Block Kit `blocks`."""

    config_type = SlackConfig

    def payload(self, n: Alert) -> dict[str, Any]:
        resolved = n.status is AlertStatus.RESOLVED
        icon = ":white_check_mark:" if resolved else _SLACK_ICON[n.severity]
        fields = [
            f"*Severity*\n{n.severity}",
            f"*Status*\n{n.status}",
            *(f"*{_slack_escape(k)}*\n{_slack_escape(v)}" for k, v in n.details.items()),
        ][:SLACK_FIELDS_MAX]
        context = (
            f"Runbook: {_slack_escape(n.runbook)} | fingerprint `{_slack_escape(n.fingerprint)}`"
            f" | {iso_utc(n.ts)}"
        )
        return {
            "text": clip(f"{icon} {_slack_escape(headline(n))}", SLACK_TEXT_MAX),
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": clip(headline(n), SLACK_HEADER_MAX)},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": clip(_slack_escape(n.summary), SLACK_TEXT_MAX),
                    },
                },
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": clip(f, SLACK_TEXT_MAX // 2)} for f in fields
                    ],
                },
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }


CHANNEL = SlackWebhook
