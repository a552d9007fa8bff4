"""Alerts: webhooks that tell a person something needs attention, and never get in the way.

An `Alert` names a problem (its `fingerprint`), a tier (critical, warning, info) and the runbook
to follow. `AlertRouter.from_config()` reads the `alerts:` section of the config: named channels
(Slack incoming webhook, Discord webhook, a generic JSON webhook, a healthchecks-style dead-man
ping) and routes from each tier to channel names.

De-duplication lives in a ledger (the state file's `alert_state` / `record_alert`, reached through
the narrow `AlertLedger` protocol), so it holds across separate cron invocations:

    notify(alert)      nothing recorded, or resolved           -> send ("sent")
                       firing, this episode never delivered    -> send again ("retried")
                       firing, a different severity            -> send ("changed")
                       firing, last sent >= repeat_interval ago -> send ("repeated")
                       firing, last sent recently              -> nothing ("suppressed")
    resolve(fp)        firing and this episode delivered       -> one "resolved" message
                       firing, this episode never delivered    -> recorded, nothing sent
                       anything else                           -> nothing ("not_firing")

An episode is one stretch of a status: it begins when the fingerprint goes from nothing or
resolved to firing (the ledger's `first_seen_at`). Whether it was delivered is decided against
that start, never against the last send of an earlier episode: a breach that returns after a
resolved one and whose first post fails is retried by the next run, even though the
resolution was posted minutes ago. A retry is bounded like any send; an undelivered episode is
retried on every run until it is delivered or resolved.

Sending is bounded twice over. Each attempt has an httpx timeout clipped to what is left of the
channel's deadline; retries (transport errors, 429, 5xx) are bounded by `max_attempts`, wait with
exponential backoff or a 429's Retry-After, and are dropped when the wait would pass the deadline.
On top of that every channel runs in its own daemon thread that the caller stops waiting for at
the deadline, so a receiver that accepts the connection and never answers (or trickles bytes)
cannot hold a check. Channels are sent to concurrently, so a notify lasts at most the longest
channel deadline. Nothing here raises into the caller: the outcome is a `SendReport` whose
`problems` (one line each, URLs masked) the caller prints to stderr, and the ledger records the
error. A webhook URL is a secret (Slack's and Discord's carry the token in the path), so every
URL that reaches a message goes through `mask_url()`, which keeps only scheme and host.

httpx is imported inside the functions that send, so importing this module stays cheap for
`kalshi --help` and for a check that finds nothing wrong.
"""

from __future__ import annotations

import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from kalshi_cli import __version__
from kalshi_cli.clock import Clock, SystemClock, iso_utc
from kalshi_cli.errors import ConfigError

if TYPE_CHECKING:
    import ssl

    import httpx

GENERIC_SCHEMA_VERSION = 1
DEFAULT_REPEAT_INTERVAL_S = 3600.0
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 4.0
# How long past a channel's own deadline the caller still waits for its thread: the thread clips
# every timeout to the deadline, so it normally returns well inside this.
JOIN_GRACE_S = 0.25

SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELDS_MAX = 10
DISCORD_CONTENT_MAX = 2000
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 2000
DISCORD_DETAIL_FIELDS_MAX = 8
DISCORD_FIELD_NAME_MAX = 64
DISCORD_FIELD_VALUE_MAX = 256
ERROR_BODY_MAX = 200


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


@dataclass(frozen=True)
class Alert:
    """A problem worth a person's attention. `fingerprint` identifies it across runs."""

    fingerprint: str
    severity: Severity
    title: str
    summary: str
    runbook: str
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    """What is actually sent: an alert (or its clearing) at a moment, runbook as a link."""

    status: AlertStatus
    fingerprint: str
    severity: Severity
    title: str
    summary: str
    runbook: str
    details: Mapping[str, str]
    ts: float


# --------------------------------------------------------------------------------------------
# The ledger (the state file implements it; tests use an in-memory fake)


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


class AlertLedger(Protocol):
    """Where de-duplication state lives between runs.

    `record_alert(..., sent=True)` sets `last_sent_at` to now; `sent=False` leaves it as it was
    (a failed delivery must not look like a recent one). `status` is "firing" or "resolved".
    `first_seen_at` is when the current status began: it is set to now when the status recorded
    differs from the one before, and kept otherwise.
    """

    def alert_state(self, fingerprint: str) -> AlertStateLike | None: ...

    def record_alert(
        self,
        fingerprint: str,
        *,
        status: str,
        severity: str,
        summary: str,
        sent: bool,
        error: str | None = None,
    ) -> None: ...


# --------------------------------------------------------------------------------------------
# Results


class Outcome(StrEnum):
    SENT = "sent"
    RETRIED = "retried"
    CHANGED = "changed"
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


# --------------------------------------------------------------------------------------------
# Masking


def mask_url(url: str) -> str:
    """Keep scheme and host, hide the rest: `https://hooks.slack.com/***`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    if ":" in host:
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    hidden = parts.path not in ("", "/") or bool(parts.query) or bool(parts.fragment)
    return f"{parts.scheme}://{host}{'/***' if hidden else ''}"


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    pieces = [url, parts.path, parts.query, parts.netloc if "@" in parts.netloc else ""]
    # Each path segment separately too: an error may quote only the token.
    pieces.extend(seg for seg in parts.path.split("/") if len(seg) >= 8)
    return [p for p in pieces if p]


# --------------------------------------------------------------------------------------------
# Channels


@dataclass(frozen=True)
class ChannelSettings:
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    deadline_s: float | None = None

    @property
    def deadline(self) -> float:
        """The hard bound on one send, retries and waits included."""
        return (
            self.deadline_s if self.deadline_s is not None else self.timeout_s * self.max_attempts
        )


class HttpChannel(ABC):
    """A channel reached by HTTP POST; subclasses decide the URL and the body."""

    kind = "http"

    def __init__(
        self,
        name: str,
        url: str,
        settings: ChannelSettings | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._url = url
        self.settings = settings or ChannelSettings()
        self._headers = dict(headers or {})

    @property
    def target(self) -> str:
        return mask_url(self._url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.target!r})"

    @abstractmethod
    def send(self, n: Notification, clock: Clock) -> Delivery:
        """Deliver one notification within this channel's deadline; never raises."""

    def _secrets(self) -> list[str]:
        """Everything that must not appear in an error message."""
        return _url_secrets(self._url) + list(self._headers.values())

    def _post(self, url: str, body: bytes, content_type: str, clock: Clock) -> Delivery:
        """POST with bounded retries inside this channel's deadline; never raises."""
        try:
            return self._post_unguarded(url, body, content_type, clock)
        except Exception as exc:  # a webhook must never break the caller, whatever went wrong
            error = _scrub(f"{type(exc).__name__}: {exc}", self._secrets())
            return Delivery(self.name, self.target, ok=False, attempts=1, error=error)

    def _post_unguarded(self, url: str, body: bytes, content_type: str, clock: Clock) -> Delivery:
        import httpx

        secrets = self._secrets()
        s = self.settings
        deadline = clock.monotonic() + s.deadline
        headers = {
            "Content-Type": content_type,
            "User-Agent": f"kalshi-cli/{__version__}",
            **self._headers,
        }
        attempts = 0
        status: int | None = None
        error = "not attempted"
        # Redirects are not followed: a webhook that redirects is misconfigured, and following
        # would hand the payload to a host nobody configured.
        with httpx.Client(follow_redirects=False, headers=headers, verify=_tls()) as client:
            while attempts < s.max_attempts:
                remaining = deadline - clock.monotonic()
                if remaining <= 0:
                    error += f"; the {s.deadline:g}s deadline was reached"
                    break
                attempts += 1
                try:
                    resp = client.post(url, content=body, timeout=min(s.timeout_s, remaining))
                except httpx.HTTPError as exc:
                    status = None
                    error = _scrub(f"{type(exc).__name__}: {exc}".rstrip(": "), secrets)
                    wait = _backoff(attempts)
                else:
                    status = resp.status_code
                    if 200 <= status < 300:
                        return Delivery(self.name, self.target, True, attempts, status)
                    error = _http_error(resp, secrets)
                    if status == 429:
                        asked = _retry_after(resp, clock)
                        wait = _backoff(attempts) if asked is None else asked
                    elif status >= 500 or status == 408:
                        wait = _backoff(attempts)
                    else:
                        break  # any other 4xx is a wrong URL or payload; retrying cannot help
                if attempts >= s.max_attempts:
                    break
                if clock.monotonic() + wait >= deadline:
                    error += (
                        f"; not retried: waiting {wait:g}s would pass the {s.deadline:g}s deadline"
                    )
                    break
                clock.sleep(wait)
        return Delivery(self.name, self.target, False, attempts, status, error)


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one (loading the CA bundle) costs more than a send."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))  # float-ok


def _retry_after(resp: httpx.Response, clock: Clock) -> float | None:
    """Seconds to wait after a 429: Retry-After (seconds or a date), else Discord's body."""
    raw = resp.headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))  # float-ok: seconds to wait
        except ValueError:
            try:
                # imported here: email.utils costs ~6 ms, paid only when a 429 gives a date
                from email.utils import parsedate_to_datetime

                return max(0.0, parsedate_to_datetime(raw).timestamp() - clock.wall())
            except (TypeError, ValueError):
                pass
    try:
        body = resp.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("retry_after"), int | float):
        return max(0.0, float(body["retry_after"]))  # float-ok: seconds to wait
    return None


def _http_error(resp: httpx.Response, secrets: list[str]) -> str:
    text = " ".join(resp.text.split())[:ERROR_BODY_MAX]
    reason = f"HTTP {resp.status_code}"
    return _scrub(f"{reason}: {text}" if text else reason, secrets)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reserves these three; unescaped, `<` would start a link or a mention.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _headline(n: Notification) -> str:
    if n.status is AlertStatus.RESOLVED:
        return f"[RESOLVED] {n.title}"
    return f"[{n.severity.upper()}] {n.title}"


_SLACK_ICON = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}
_DISCORD_COLOUR = {Severity.CRITICAL: 0xD32F2F, Severity.WARNING: 0xF9A825, Severity.INFO: 0x1E88E5}
_RESOLVED_COLOUR = 0x2E7D32


class JsonWebhook(HttpChannel):
    """A webhook that takes one JSON document per notification."""

    @abstractmethod
    def payload(self, n: Notification) -> dict[str, Any]:
        """The JSON body for `n`, in the receiving service's documented format."""

    def send(self, n: Notification, clock: Clock) -> Delivery:
        body = json.dumps(self.payload(n)).encode()
        return self._post(self._url, body, "application/json", clock)


class SlackWebhook(JsonWebhook):
    """Slack incoming webhook: `text` (the notification fallback) plus Block Kit `blocks`."""

    kind = "slack"

    def payload(self, n: Notification) -> dict[str, Any]:
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
            "text": _clip(f"{icon} {_slack_escape(_headline(n))}", SLACK_TEXT_MAX),
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": _clip(_headline(n), SLACK_HEADER_MAX)},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": _clip(_slack_escape(n.summary), SLACK_TEXT_MAX),
                    },
                },
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": _clip(f, SLACK_TEXT_MAX // 2)} for f in fields
                    ],
                },
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }


class DiscordWebhook(JsonWebhook):
    """Discord webhook: `content` (at most 2000 characters) plus one embed, mentions disabled."""

    kind = "discord"

    def payload(self, n: Notification) -> dict[str, Any]:
        resolved = n.status is AlertStatus.RESOLVED
        fields: list[dict[str, Any]] = [
            {"name": "Severity", "value": str(n.severity), "inline": True},
            {"name": "Status", "value": str(n.status), "inline": True},
            {
                "name": "Runbook",
                "value": _clip(n.runbook, DISCORD_FIELD_VALUE_MAX),
                "inline": False,
            },
        ]
        for key, value in list(n.details.items())[:DISCORD_DETAIL_FIELDS_MAX]:
            fields.append(
                {
                    "name": _clip(key, DISCORD_FIELD_NAME_MAX) or "-",
                    "value": _clip(value, DISCORD_FIELD_VALUE_MAX) or "-",
                    "inline": True,
                }
            )
        return {
            "content": _clip(f"**{_headline(n)}**", DISCORD_CONTENT_MAX),
            "embeds": [
                {
                    "title": _clip(n.title, DISCORD_TITLE_MAX),
                    "description": _clip(n.summary, DISCORD_DESCRIPTION_MAX),
                    "color": _RESOLVED_COLOUR if resolved else _DISCORD_COLOUR[n.severity],
                    "fields": fields,
                    "footer": {"text": _clip(f"fingerprint {n.fingerprint}", 200)},
                    "timestamp": iso_utc(n.ts),
                }
            ],
            # An alert's text comes from data (tickers, error messages); it must not ping @everyone.
            "allowed_mentions": {"parse": []},
        }


class GenericWebhook(JsonWebhook):
    """A JSON document in kalshi-cli's own schema (docs/alerts.md), for any receiver."""

    kind = "generic"

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


class DeadManPing(HttpChannel):
    """A healthchecks.io-style ping URL: base URL = success, `/fail`, `/{exit_code}`.

    Routed to a tier, a firing alert pings `/fail` and its clearing pings the base URL. `ping()`
    reports an exit status directly (0 is success to healthchecks, anything else a failure).
    """

    kind = "deadman"

    def url_for(self, suffix: str = "") -> str:
        base = self._url.rstrip("/")
        return f"{base}/{suffix}" if suffix else base

    def send(self, n: Notification, clock: Clock) -> Delivery:
        suffix = "fail" if n.status is AlertStatus.FIRING else ""
        body = f"{_headline(n)}\n{n.summary}\nrunbook: {n.runbook}\n"
        return self._post(self.url_for(suffix), body.encode(), "text/plain; charset=utf-8", clock)

    def ping(self, exit_code: int, clock: Clock, body: str = "") -> Delivery:
        code = exit_code if 0 <= exit_code <= 255 else 255
        return self._post(
            self.url_for(str(code)), body.encode(), "text/plain; charset=utf-8", clock
        )


_CHANNEL_TYPES: dict[str, type[HttpChannel]] = {
    "slack": SlackWebhook,
    "discord": DiscordWebhook,
    "generic": GenericWebhook,
    "deadman": DeadManPing,
}


def _run_job(channel: HttpChannel, job: Callable[[], Delivery], box: list[Delivery]) -> None:
    try:
        box.append(job())
    except Exception as exc:  # a channel that breaks its promise still gets reported, not lost
        error = _scrub(f"{type(exc).__name__}: {exc}", channel._secrets())
        box.append(Delivery(channel.name, channel.target, False, 0, None, error))


def _deliver_all(jobs: Sequence[tuple[HttpChannel, Callable[[], Delivery]]]) -> list[Delivery]:
    """Run each channel's send in its own daemon thread; stop waiting at its deadline.

    Real monotonic time on purpose: this bounds how long the process actually waits, whatever
    clock the sends themselves were given.
    """
    # Imported before the clock starts, so its import time is not charged to a channel deadline.
    import httpx  # noqa: F401

    started = time.monotonic()
    running: list[tuple[HttpChannel, threading.Thread, list[Delivery]]] = []
    for channel, job in jobs:
        box: list[Delivery] = []
        thread = threading.Thread(
            target=_run_job,
            args=(channel, job, box),
            name=f"alert-{channel.name}",
            daemon=True,
        )
        thread.start()
        running.append((channel, thread, box))
    results: list[Delivery] = []
    for channel, thread, box in running:
        limit = channel.settings.deadline + JOIN_GRACE_S
        thread.join(max(0.0, started + limit - time.monotonic()))
        if box:
            results.append(box[0])
        else:
            error = f"no answer within the {channel.settings.deadline:g}s deadline"
            results.append(Delivery(channel.name, channel.target, False, 0, None, error))
    return results


# --------------------------------------------------------------------------------------------
# The router


class AlertRouter:
    """Routes alerts by tier to channels, de-duplicated through a ledger."""

    def __init__(
        self,
        channels: Mapping[str, HttpChannel] | None = None,
        routes: Mapping[Severity, Sequence[str]] | None = None,
        *,
        repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S,
        runbook_base_url: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.channels: dict[str, HttpChannel] = dict(channels or {})
        self.routes: dict[Severity, tuple[str, ...]] = {
            sev: tuple((routes or {}).get(sev, ())) for sev in Severity
        }
        for sev, names in self.routes.items():
            for name in names:
                if name not in self.channels:
                    raise ConfigError(
                        f"alerts.routes.{sev} names channel {name!r}, which is not defined",
                        hint="add it under alerts.channels or remove it from the route",
                    )
        self.repeat_interval_s = repeat_interval_s
        self.runbook_base_url = runbook_base_url
        self.clock: Clock = clock or SystemClock()

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any] | None,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> AlertRouter:
        """Build from the `alerts:` config section; a missing section means no channels."""
        return _parse_config(
            section or {}, clock=clock, environ=os.environ if environ is None else environ
        )

    def __repr__(self) -> str:
        return f"AlertRouter(channels={list(self.channels.values())!r})"

    def describe(self) -> list[str]:
        """One line per channel, URLs masked, for `config show` and diagnostics."""
        lines = []
        for name, ch in self.channels.items():
            tiers = [str(sev) for sev, names in self.routes.items() if name in names]
            s = ch.settings
            lines.append(
                f"{name}: {ch.kind} {ch.target} timeout {s.timeout_s:g}s, "
                f"{s.max_attempts} attempts, deadline {s.deadline:g}s, "
                f"tiers: {', '.join(tiers) or 'none'}"
            )
        return lines

    def channels_for(self, severity: Severity) -> list[HttpChannel]:
        return [self.channels[name] for name in self.routes[severity]]

    def runbook_link(self, runbook: str) -> str:
        if self.runbook_base_url and "://" not in runbook:
            return f"{self.runbook_base_url.rstrip('/')}/{runbook.lstrip('/')}"
        return runbook

    def notify(self, alert: Alert, ledger: AlertLedger) -> SendReport:
        """Send a firing alert unless the ledger says it was sent recently. Never raises."""
        problems: list[str] = []
        state = _read_state(ledger, alert.fingerprint, problems)
        outcome = self._firing_outcome(alert, state)
        if outcome is Outcome.SUPPRESSED:
            return SendReport(alert.fingerprint, outcome, (), tuple(problems))
        channels = self.channels_for(alert.severity)
        if not channels:
            _record(
                ledger,
                alert.fingerprint,
                problems,
                status=AlertStatus.FIRING,
                severity=alert.severity,
                summary=alert.summary,
                sent=False,
                error=f"no channel is routed for {alert.severity}",
            )
            return SendReport(alert.fingerprint, Outcome.UNROUTED, (), tuple(problems))
        n = Notification(
            AlertStatus.FIRING,
            alert.fingerprint,
            alert.severity,
            alert.title,
            alert.summary,
            self.runbook_link(alert.runbook),
            dict(alert.details),
            self.clock.wall(),
        )
        deliveries = self._send(channels, n)
        failed = [d for d in deliveries if not d.ok]
        problems.extend(f"alert {alert.fingerprint}: {d.describe()}" for d in failed)
        _record(
            ledger,
            alert.fingerprint,
            problems,
            status=AlertStatus.FIRING,
            severity=alert.severity,
            summary=alert.summary,
            sent=any(d.ok for d in deliveries),
            error="; ".join(d.describe() for d in failed) or None,
        )
        return SendReport(alert.fingerprint, outcome, tuple(deliveries), tuple(problems))

    def resolve(
        self,
        fingerprint: str,
        ledger: AlertLedger,
        *,
        title: str | None = None,
        summary: str | None = None,
        runbook: str | None = None,
    ) -> SendReport:
        """Announce once that a firing alert has cleared. Never raises."""
        problems: list[str] = []
        state = _read_state(ledger, fingerprint, problems)
        if state is None or state.status != AlertStatus.FIRING:
            return SendReport(fingerprint, Outcome.NOT_FIRING, (), tuple(problems))
        severity = _severity_or_warning(state.severity)
        text = f"{summary} (was: {state.summary})" if summary else f"cleared (was: {state.summary})"
        channels = self.channels_for(severity)
        if not _episode_delivered(state) or not channels:
            # Nobody was told it fired, so nobody needs telling it cleared.
            _record(
                ledger,
                fingerprint,
                problems,
                status=AlertStatus.RESOLVED,
                severity=severity,
                summary=text,
                sent=False,
            )
            return SendReport(fingerprint, Outcome.RESOLVED_QUIETLY, (), tuple(problems))
        n = Notification(
            AlertStatus.RESOLVED,
            fingerprint,
            severity,
            title or fingerprint,
            text,
            self.runbook_link(runbook or Runbook.INDEX),
            {},
            self.clock.wall(),
        )
        deliveries = self._send(channels, n)
        failed = [d for d in deliveries if not d.ok]
        problems.extend(f"resolution of {fingerprint}: {d.describe()}" for d in failed)
        if any(d.ok for d in deliveries):
            _record(
                ledger,
                fingerprint,
                problems,
                status=AlertStatus.RESOLVED,
                severity=severity,
                summary=text,
                sent=True,
                error="; ".join(d.describe() for d in failed) or None,
            )
        else:
            # Still firing as far as anyone was told: the next resolve() tries again.
            _record(
                ledger,
                fingerprint,
                problems,
                status=AlertStatus.FIRING,
                severity=severity,
                summary=state.summary,
                sent=False,
                error="resolution not delivered: " + "; ".join(d.describe() for d in failed),
            )
        return SendReport(fingerprint, Outcome.RESOLVED, tuple(deliveries), tuple(problems))

    def ping(self, exit_code: int, *, body: str = "") -> SendReport:
        """Report an exit status to every dead-man channel (no de-duplication). Never raises."""
        pingers = [ch for ch in self.channels.values() if isinstance(ch, DeadManPing)]
        clock = self.clock
        jobs: list[tuple[HttpChannel, Callable[[], Delivery]]] = [
            (p, partial(p.ping, exit_code, clock, body)) for p in pingers
        ]
        deliveries = _deliver_all(jobs) if jobs else []
        problems = tuple(f"dead-man ping: {d.describe()}" for d in deliveries if not d.ok)
        return SendReport("deadman", Outcome.PINGED, tuple(deliveries), problems)

    def _firing_outcome(self, alert: Alert, state: AlertStateLike | None) -> Outcome:
        if state is None or state.status != AlertStatus.FIRING:
            return Outcome.SENT
        last_sent = state.last_sent_at
        if last_sent is None or not _episode_delivered(state):
            return Outcome.RETRIED
        if state.severity != alert.severity:
            return Outcome.CHANGED
        if self.clock.wall() - last_sent >= self.repeat_interval_s:
            return Outcome.REPEATED
        return Outcome.SUPPRESSED

    def _send(self, channels: Sequence[HttpChannel], n: Notification) -> list[Delivery]:
        clock = self.clock
        return _deliver_all([(ch, partial(ch.send, n, clock)) for ch in channels])


def _episode_delivered(state: AlertStateLike) -> bool:
    """Was the current episode (the status since `first_seen_at`) delivered at least once?

    A send that starts an episode records both times as the same instant, hence `>=`.
    """
    return state.last_sent_at is not None and state.last_sent_at >= state.first_seen_at


def _severity_or_warning(value: str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        return Severity.WARNING


def _read_state(
    ledger: AlertLedger, fingerprint: str, problems: list[str]
) -> AlertStateLike | None:
    try:
        return ledger.alert_state(fingerprint)
    except Exception as exc:  # an unreadable ledger must not silence the alert: send it anyway
        problems.append(f"alert {fingerprint}: could not read the alert ledger: {exc}")
        return None


def _record(
    ledger: AlertLedger,
    fingerprint: str,
    problems: list[str],
    *,
    status: AlertStatus,
    severity: Severity,
    summary: str,
    sent: bool,
    error: str | None = None,
) -> None:
    try:
        ledger.record_alert(
            fingerprint,
            status=str(status),
            severity=str(severity),
            summary=summary,
            sent=sent,
            error=error,
        )
    except Exception as exc:  # the alert already went out (or not); the caller's verdict stands
        problems.append(f"alert {fingerprint}: could not record it in the alert ledger: {exc}")


# --------------------------------------------------------------------------------------------
# Config

_TOP_KEYS = {"channels", "routes", "repeat_interval_s", "runbook_base_url"}
_CHANNEL_KEYS = {"type", "url", "url_env", "timeout_s", "max_attempts", "deadline_s", "headers"}


def _parse_config(
    section: Mapping[str, Any], *, clock: Clock | None, environ: Mapping[str, str]
) -> AlertRouter:
    if not isinstance(section, Mapping):
        raise ConfigError("alerts: must be a mapping", hint="see docs/alerts.md")
    _no_unknown_keys("alerts", section, _TOP_KEYS)
    channels_cfg = section.get("channels") or {}
    if not isinstance(channels_cfg, Mapping):
        raise ConfigError("alerts.channels must be a mapping of name -> channel")
    channels = {
        str(name): _parse_channel(str(name), cfg, environ) for name, cfg in channels_cfg.items()
    }
    routes_cfg = section.get("routes") or {}
    if not isinstance(routes_cfg, Mapping):
        raise ConfigError("alerts.routes must map a tier (critical, warning, info) to channels")
    routes: dict[Severity, list[str]] = {}
    for tier, names in routes_cfg.items():
        try:
            sev = Severity(str(tier))
        except ValueError:
            raise ConfigError(
                f"alerts.routes has an unknown tier {tier!r}",
                hint="the tiers are critical, warning and info",
            ) from None
        listed = [names] if isinstance(names, str) else names
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise ConfigError(f"alerts.routes.{sev} must be a channel name or a list of names")
        routes[sev] = listed
    repeat = _positive(
        "alerts.repeat_interval_s", section.get("repeat_interval_s"), DEFAULT_REPEAT_INTERVAL_S
    )
    base = section.get("runbook_base_url")
    if base is not None and not isinstance(base, str):
        raise ConfigError("alerts.runbook_base_url must be a URL string")
    return AlertRouter(
        channels, routes, repeat_interval_s=repeat, runbook_base_url=base, clock=clock
    )


def _parse_channel(name: str, cfg: Any, environ: Mapping[str, str]) -> HttpChannel:
    where = f"alerts.channels.{name}"
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{where} must be a mapping with type and url")
    _no_unknown_keys(where, cfg, _CHANNEL_KEYS)
    kind = cfg.get("type")
    if kind not in _CHANNEL_TYPES:
        raise ConfigError(
            f"{where}.type is {kind!r}",
            hint=f"use one of: {', '.join(_CHANNEL_TYPES)}",
        )
    url = cfg.get("url")
    if cfg.get("url_env") is not None:
        if url is not None:
            raise ConfigError(f"{where} sets both url and url_env", hint="keep one")
        var = str(cfg["url_env"])
        url = environ.get(var)
        if not url:
            raise ConfigError(f"{where}.url_env names {var}, which is not set in the environment")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{where} needs a url (or url_env naming an environment variable)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}.url must be an http(s) URL, got {mask_url(url)}")
    timeout = _positive(f"{where}.timeout_s", cfg.get("timeout_s"), DEFAULT_TIMEOUT_S)
    attempts = cfg.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise ConfigError(f"{where}.max_attempts must be a whole number")
    if not 1 <= attempts <= MAX_ATTEMPTS_LIMIT:
        raise ConfigError(f"{where}.max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}")
    deadline = cfg.get("deadline_s")
    deadline_s = None if deadline is None else _positive(f"{where}.deadline_s", deadline, 0.0)
    headers = cfg.get("headers") or {}
    if headers and kind != "generic":
        raise ConfigError(f"{where}.headers is only for type generic")
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError(f"{where}.headers must map header names to strings")
    settings = ChannelSettings(timeout_s=timeout, max_attempts=attempts, deadline_s=deadline_s)
    return _CHANNEL_TYPES[kind](name, url, settings, headers=headers)


def _positive(where: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where} must be a positive number of seconds, got {value!r}")
    return float(value)  # float-ok: seconds to wait


def _no_unknown_keys(where: str, cfg: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(str(k) for k in cfg if k not in known)
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s): {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(known))}",
        )
