"""What every channel shares: its settings, its config's base, and a POST bounded by a deadline.

`Channel` is any receiver (an SMTP server too); `HttpChannel` is one reached by HTTP POST. Each
attempt's timeout is clipped to what is left of the channel's deadline (or the caller's
`clock.Deadline`); retries (transport errors, 429, 5xx) are bounded by `max_attempts` with backoff
or a 429's Retry-After. A send never raises: the outcome is a `Delivery` whose error is scrubbed of
the URL and headers. httpx is imported only inside the functions that send.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from kalshi_cli import __version__
from kalshi_cli.alerts.masking import mask_url, scrub, url_secrets
from kalshi_cli.alerts.model import Alert, AlertStatus, Delivery
from kalshi_cli.vocabulary.clock import Backoff, Clock, Deadline, iso_utc, parse_http_date
from kalshi_cli.vocabulary.decode import SECRET

if TYPE_CHECKING:
    import ssl

    import httpx

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 10
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 4.0
ERROR_BODY_MAX = 200


Seconds = Annotated[float, msgspec.Meta(gt=0)]


@dataclass(frozen=True)
class ChannelSettings:
    """How one channel delivers: each attempt's timeout, the attempts, the hard deadline."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    deadline_s: float | None = None

    @property
    def deadline(self) -> float:
        """The hard bound on one send, retries and waits included."""
        return (
            self.deadline_s if self.deadline_s is not None else self.timeout_s * self.max_attempts
        )


class ChannelConfig(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="type"
):
    """What every `alerts.channels.NAME` takes; a channel module adds its own keys."""

    timeout_s: Seconds = DEFAULT_TIMEOUT_S
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPTS_LIMIT)] = DEFAULT_MAX_ATTEMPTS
    deadline_s: Seconds | None = None

    @property
    def settings(self) -> ChannelSettings:
        return ChannelSettings(self.timeout_s, self.max_attempts, self.deadline_s)


def need_one(inline: object, env: object, key: str, *, required: bool = True) -> None:
    """For a `__post_init__`: `key` inline or `key_env` naming a variable, not both."""
    if inline is not None and env is not None:
        raise ValueError(f"sets both {key} and {key}_env; keep one")
    if required and (inline is None or inline == "") and env is None:
        raise ValueError(f"needs a {key} (or {key}_env naming an environment variable)")


def check_http_url(url: str, key: str) -> None:
    """For a `__post_init__` and the router: an http(s) URL, shown masked if it is not one."""
    address = urlsplit(url)
    if address.scheme not in ("http", "https") or not address.hostname:
        raise ValueError(f"{key} must be an http(s) URL, got {mask_url(url)}")


def secret(
    inline: str | int | None, env: str | None, key: str, environ: Mapping[str, str]
) -> str | None:
    """The value of `key`: inline, or from the variable `key_env` names (a ValueError when that
    is not set). Never quoted in a message."""
    if env is not None:
        value = environ.get(env)
        if not value:
            raise ValueError(f"{key}_env names {env}, which is not set in the environment")
        return value
    return None if inline is None or inline == "" else str(inline)


class Channel(ABC):
    """One receiver of notifications: a name, delivery settings, a masked target, a send."""

    kind = "channel"
    # its `alerts.channels.NAME` keys, tagged with the `type:` a config names (alerts/config.py)
    config_type: ClassVar[type[ChannelConfig]]
    name: str
    settings: ChannelSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A channel's `kind` is the tag of the `config_type` it names: the one name of the
        `type:` that finds its config and the key `channel_types()` lists it by."""
        super().__init_subclass__(**kwargs)
        config = cls.__dict__.get("config_type")
        if config is not None:
            cls.kind = str(config.__struct_config__.tag)

    @property
    @abstractmethod
    def target(self) -> str:
        """Where this channel sends, with every secret masked: safe to print."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, target={self.target!r})"

    @abstractmethod
    def send(self, n: Alert, clock: Clock) -> Delivery:
        """Deliver one notification within this channel's deadline; never raises."""

    @abstractmethod
    def secret_values(self) -> list[str]:
        """Everything that must not appear in an error message."""

    @classmethod
    @abstractmethod
    def build(cls, name: str, cfg: Any, environ: Mapping[str, str]) -> Channel:
        """The channel its decoded config describes (the config's own rules already held); a
        ValueError for what only the environment decides (a `_env` variable not set)."""


class HttpConfig(ChannelConfig, frozen=True):
    """A channel reached by HTTP POST: `url`, or `url_env` naming a variable that holds it."""

    url: Annotated[str, SECRET] | None = None
    url_env: str | None = None

    def __post_init__(self) -> None:
        need_one(self.url, self.url_env, "url")
        if self.url:
            check_http_url(self.url, "url")


class HttpChannel(Channel):
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

    @classmethod
    def build(cls, name: str, cfg: Any, environ: Mapping[str, str]) -> Channel:
        url = secret(cfg.url, cfg.url_env, "url", environ)
        assert url is not None  # HttpConfig needs one of url and url_env
        check_http_url(url, "url")
        return cls(name, url, cfg.settings, headers=getattr(cfg, "headers", None))

    def secret_values(self) -> list[str]:
        """Everything that must not appear in an error message."""
        return url_secrets(self._url) + list(self._headers.values())

    def _post(self, url: str, body: bytes, content_type: str, clock: Clock) -> Delivery:
        """POST with bounded retries inside this channel's deadline; never raises."""
        try:
            return self._post_unguarded(url, body, content_type, clock)
        except Exception as exc:  # a webhook must never break the caller, whatever went wrong
            error = scrub(f"{type(exc).__name__}: {exc}", self.secret_values())
            return Delivery(self.name, self.target, ok=False, attempts=1, error=error)

    def _post_unguarded(self, url: str, body: bytes, content_type: str, clock: Clock) -> Delivery:
        import httpx

        secrets = self.secret_values()
        headers = {
            "Content-Type": content_type,
            "User-Agent": f"kalshi-cli/{__version__}",
            **self._headers,
        }

        # Redirects are not followed: a webhook that redirects is misconfigured, and following
        # would hand the payload to a host nobody configured.
        with httpx.Client(follow_redirects=False, headers=headers, verify=_tls()) as client:

            def once(timeout: float) -> Attempt:  # seconds
                try:
                    resp = client.post(url, content=body, timeout=timeout)
                except httpx.HTTPError as exc:
                    return Attempt(error=failure(exc, secrets))
                status = resp.status_code
                if 200 <= status < 300:
                    return Attempt(ok=True, status=status)
                error = _http_error(resp, secrets)
                if status == 429:
                    return Attempt(error=error, status=status, asked=_retry_after(resp, clock))
                # any other 4xx is a wrong URL or payload; retrying cannot help
                return Attempt(error=error, status=status, retry=status >= 500 or status == 408)

            return attempt_until_delivered(self, clock, once)


@dataclass(frozen=True)
class Attempt:
    """One try at delivering: delivered (`ok`), or why not and whether another try may help;
    `asked` is a wait the receiver asked for (a 429's Retry-After), in seconds."""

    ok: bool = False
    error: str = ""
    status: int | None = None  # the HTTP status, if an answer came
    retry: bool = True
    asked: float | None = None


def failure(exc: BaseException, secrets: list[str]) -> str:
    """An exception as an attempt's error: its type and message, secrets scrubbed."""
    return scrub(f"{type(exc).__name__}: {exc}".rstrip(": "), secrets)


def attempt_until_delivered(
    channel: Channel, clock: Clock, once: Callable[[float], Attempt]
) -> Delivery:
    """Call `once(timeout)` until it delivers, up to the settings' `max_attempts`, each
    with the time left (at most `timeout_s`) and a wait between them (`wait_before_retry`),
    all inside the channel's deadline (`within_deadline`): one attempt loop for every
    channel. The failure's error says why it stopped where the deadline stopped it."""
    s = channel.settings
    attempts = 0
    last = Attempt(error="not attempted")
    error = last.error
    with within_deadline(s, clock) as (deadline, deadline_name):
        while attempts < s.max_attempts:
            remaining = deadline.remaining()
            if remaining <= 0:
                error += f"; {deadline_name} was reached"
                break
            attempts += 1
            last = once(min(s.timeout_s, remaining))
            if last.ok:
                return Delivery(channel.name, channel.target, True, attempts, last.status)
            error = last.error
            if not last.retry or attempts >= s.max_attempts:
                break
            wait = wait_before_retry(attempts, deadline, last.asked)
            if wait is None:
                error += "; " + not_retried(last.asked, deadline_name)
                break
            clock.sleep(wait)
    return Delivery(channel.name, channel.target, False, attempts, last.status, error)


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one (loading the CA bundle) costs more than a send."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


_BACKOFF = Backoff(BACKOFF_BASE_S, BACKOFF_MAX_S)
_JITTER = random.Random()


@contextmanager
def within_deadline(settings: ChannelSettings, clock: Clock) -> Iterator[tuple[Deadline, str]]:
    """Run one send under the channel's deadline, or the caller's (`Deadline.current()`) if
    that comes sooner, so a caller bound to a deadline is not held past it; with its name."""
    own = Deadline.after(clock, settings.deadline)
    with own.scope() as deadline:
        name = (
            f"the {settings.deadline:g}s deadline" if deadline is own else "the caller's deadline"
        )
        yield deadline, name


def wait_before_retry(attempt: int, deadline: Deadline, asked: float | None = None) -> float | None:
    """The wait before retry `attempt`: what a 429 `asked` for, else the house's one rule
    (`clock.Backoff`, full jitter, so the checks of several cron runs retrying one receiver
    spread out). None (give up) when it would end at or past `deadline`."""
    if asked is None:
        return _BACKOFF.next_delay(attempt, deadline, _JITTER)
    return asked if asked < deadline.remaining() else None


def not_retried(asked: float | None, deadline: str) -> str:
    waiting = "the next wait" if asked is None else f"waiting {asked:g}s"
    return f"not retried: {waiting} would pass {deadline}"


def _retry_after(resp: httpx.Response, clock: Clock) -> float | None:
    """Seconds to wait after a 429: Retry-After (seconds or a date), else Discord's body."""
    raw = resp.headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                return max(0.0, parse_http_date(raw) - clock.wall())
            except ValueError:
                pass
    try:
        body = resp.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    # Discord puts it at the top; Telegram's Bot API under `parameters`
    params = body.get("parameters")
    for where in (body, params if isinstance(params, dict) else {}):
        if isinstance(where.get("retry_after"), int | float):
            return max(0.0, float(where["retry_after"]))
    return None


def _http_error(resp: httpx.Response, secrets: list[str]) -> str:
    text = " ".join(resp.text.split())[:ERROR_BODY_MAX]
    reason = f"HTTP {resp.status_code}"
    return scrub(f"{reason}: {text}" if text else reason, secrets)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def headline(n: Alert) -> str:
    if n.status is AlertStatus.RESOLVED:
        return f"[RESOLVED] {n.title}"
    return f"[{n.severity.upper()}] {n.title}"


def plain_text(n: Alert) -> str:
    """A notification as plain text (Telegram, email): headline, summary, fields, runbook."""
    lines = [headline(n), n.summary, "", f"Severity: {n.severity}", f"Status: {n.status}"]
    lines.extend(f"{k}: {v}" for k, v in n.details.items())
    lines.extend(["", f"Runbook: {n.runbook}", f"fingerprint {n.fingerprint} | {iso_utc(n.ts)}"])
    return "\n".join(lines)


class JsonWebhook(HttpChannel):
    """A webhook that takes one JSON document per notification."""

    @abstractmethod
    def payload(self, n: Alert) -> dict[str, Any]:
        """The JSON body for `n`, in the receiving service's documented format."""

    def send(self, n: Alert, clock: Clock) -> Delivery:
        body = json.dumps(self.payload(n)).encode()
        return self._post(self._url, body, "application/json", clock)
