"""Alerts: webhooks that tell a person something needs attention, and never get in the way. An
`Alert` names a problem, a tier and a runbook; `AlertRouter.from_config()` reads the `alerts:`
section and routes each tier to its channels. Nothing here raises into the caller, and httpx is
imported only where a send happens, so importing the package stays cheap. See docs/alerts.md.
"""

from __future__ import annotations

from kalshi_cli.alerts.channels.base import (
    BACKOFF_BASE_S,
    BACKOFF_MAX_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    ERROR_BODY_MAX,
    MAX_ATTEMPTS_LIMIT,
    ChannelSettings,
    HttpChannel,
    JsonWebhook,
)
from kalshi_cli.alerts.channels.deadman import DeadManPing
from kalshi_cli.alerts.channels.discord import (
    DISCORD_CONTENT_MAX,
    DISCORD_DESCRIPTION_MAX,
    DISCORD_DETAIL_FIELDS_MAX,
    DISCORD_FIELD_NAME_MAX,
    DISCORD_FIELD_VALUE_MAX,
    DISCORD_TITLE_MAX,
    DiscordWebhook,
)
from kalshi_cli.alerts.channels.generic import GENERIC_SCHEMA_VERSION, GenericWebhook
from kalshi_cli.alerts.channels.slack import (
    SLACK_FIELDS_MAX,
    SLACK_HEADER_MAX,
    SLACK_TEXT_MAX,
    SlackWebhook,
)
from kalshi_cli.alerts.config import DEFAULT_REPEAT_INTERVAL_S
from kalshi_cli.alerts.masking import mask_url
from kalshi_cli.alerts.model import (
    RUNBOOKS,
    Alert,
    AlertStateLike,
    AlertStateStore,
    AlertStatus,
    Delivery,
    Outcome,
    Runbook,
    SendReport,
    Severity,
)
from kalshi_cli.alerts.router import JOIN_GRACE_S, AlertRouter

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_MAX_S",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_REPEAT_INTERVAL_S",
    "DEFAULT_TIMEOUT_S",
    "DISCORD_CONTENT_MAX",
    "DISCORD_DESCRIPTION_MAX",
    "DISCORD_DETAIL_FIELDS_MAX",
    "DISCORD_FIELD_NAME_MAX",
    "DISCORD_FIELD_VALUE_MAX",
    "DISCORD_TITLE_MAX",
    "ERROR_BODY_MAX",
    "GENERIC_SCHEMA_VERSION",
    "JOIN_GRACE_S",
    "MAX_ATTEMPTS_LIMIT",
    "RUNBOOKS",
    "SLACK_FIELDS_MAX",
    "SLACK_HEADER_MAX",
    "SLACK_TEXT_MAX",
    "Alert",
    "AlertRouter",
    "AlertStateLike",
    "AlertStateStore",
    "AlertStatus",
    "ChannelSettings",
    "DeadManPing",
    "Delivery",
    "DiscordWebhook",
    "GenericWebhook",
    "HttpChannel",
    "JsonWebhook",
    "Outcome",
    "Runbook",
    "SendReport",
    "Severity",
    "SlackWebhook",
    "mask_url",
]
