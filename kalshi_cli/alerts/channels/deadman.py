"""A healthchecks.io-style dead-man ping."""

from __future__ import annotations

from kalshi_cli.alerts.channels.base import HttpChannel, HttpConfig, headline
from kalshi_cli.alerts.model import Alert, AlertStatus, Delivery
from kalshi_cli.vocabulary.clock import Clock

# healthchecks.io's signals: a run starts, the process is alive (the base URL), it failed
BEATS = ("start", "", "fail")


class DeadManConfig(HttpConfig, frozen=True, tag="deadman"):
    """`alerts.channels.NAME` of `type: deadman`."""


class DeadManPing(HttpChannel):
    """A healthchecks.io-style ping URL: base URL = success, `/start`, `/fail`.

    Routed to a tier, a firing alert pings `/fail` and its clearing pings the base URL;
    `beat()` is the trade loop's own signal: `start`, `` (alive) or `fail`.
    """

    config_type = DeadManConfig

    def url_for(self, suffix: str = "") -> str:
        base = self._url.rstrip("/")
        return f"{base}/{suffix}" if suffix else base

    def send(self, n: Alert, clock: Clock) -> Delivery:
        suffix = "fail" if n.status is AlertStatus.FIRING else ""
        body = f"{headline(n)}\n{n.summary}\nrunbook: {n.runbook}\n"
        return self._post(self.url_for(suffix), body.encode(), "text/plain; charset=utf-8", clock)

    def beat(self, signal: str, clock: Clock, body: str = "") -> Delivery:
        if signal not in BEATS:
            raise ValueError(f"a dead-man beat is one of {BEATS}, not {signal!r}")
        return self._post(self.url_for(signal), body.encode(), "text/plain; charset=utf-8", clock)


CHANNEL = DeadManPing
