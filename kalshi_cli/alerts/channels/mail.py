"""Email over SMTP (stdlib smtplib): STARTTLS, implicit TLS, or none for a local relay.

The subject is the alert's headline, the body the plain text Telegram gets. Sends follow
HttpChannel's contract (timeouts clipped to the deadline, `max_attempts`); only what can get better
is retried (a lost connection, a timeout, an SMTP 4xx). The password is never printed.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Annotated, Any, Literal

import msgspec

from kalshi_cli.alerts.channels.base import (
    Attempt,
    Channel,
    ChannelConfig,
    ChannelSettings,
    _tls,
    attempt_until_delivered,
    failure,
    headline,
    need_one,
    plain_text,
    secret,
)
from kalshi_cli.alerts.masking import scrub
from kalshi_cli.alerts.model import Alert, Delivery
from kalshi_cli.vocabulary.clock import Clock
from kalshi_cli.vocabulary.decode import SECRET

TLS_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class EmailConfig(ChannelConfig, frozen=True, tag="email"):
    """`alerts.channels.NAME` of `type: email`."""

    host: str | None = None
    port: int | None = None
    tls: Literal["starttls", "tls", "none"] = "starttls"
    ca_file: str | None = None
    username: str | None = None
    password: Annotated[str, SECRET] | None = None
    password_env: str | None = None
    sender: str | None = msgspec.field(default=None, name="from")
    to: str | list[str] | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("needs a host (the SMTP server)")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port must be a port number, got {self.port}")
        if not self.sender or "@" not in self.sender:
            raise ValueError("needs a from address")
        listed = [self.to] if isinstance(self.to, str) else self.to
        if not listed or not all("@" in a for a in listed):
            raise ValueError("to must be an address or a list of addresses")
        if self.ca_file is not None and self.tls == "none":
            raise ValueError("ca_file must be a path, and only with tls: starttls or tls")
        need_one(self.password, self.password_env, "password", required=False)
        has_password = self.password is not None or self.password_env is not None
        if has_password and self.username is None:
            raise ValueError("sets a password without a username")
        if self.username is not None and self.tls == "none":
            raise ValueError(
                "would send its password in clear text (tls: none); use tls: starttls or tls, "
                "or drop the login for a local relay"
            )


class EmailChannel(Channel):
    """Mail to a list of addresses through one SMTP server."""

    config_type = EmailConfig

    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        to: list[str],
        settings: ChannelSettings | None = None,
        port: int | None = None,
        tls: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {TLS_MODES}")
        self.name = name
        self.settings = settings or ChannelSettings()
        self.host = host
        self.port = port if port is not None else DEFAULT_PORTS[tls]
        self.tls = tls
        self.sender = sender
        self.to = list(to)
        self._username = username
        self._password = password
        self.ca_file = ca_file

    @property
    def target(self) -> str:
        return f"smtp://{self.host}:{self.port} ({self.tls}) to {len(self.to)} address(es)"

    def secret_values(self) -> list[str]:
        return [self._password] if self._password else []

    @classmethod
    def build(cls, name: str, cfg: Any, environ: Mapping[str, str]) -> Channel:
        password = secret(cfg.password, cfg.password_env, "password", environ)
        if cfg.username is not None and password is None:
            raise ValueError("needs a password (or password_env naming an environment variable)")
        to = [cfg.to] if isinstance(cfg.to, str) else list(cfg.to)
        return cls(
            name,
            host=cfg.host,
            sender=cfg.sender,
            to=to,
            settings=cfg.settings,
            port=cfg.port,
            tls=cfg.tls,
            username=cfg.username,
            password=password,
            ca_file=cfg.ca_file,
        )

    def message(self, n: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = headline(n)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(n.ts, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2])
        msg.set_content(plain_text(n) + "\n")
        return msg

    def send(self, n: Alert, clock: Clock) -> Delivery:
        try:
            return self._send(self.message(n), clock)
        except Exception as exc:  # an alert must never break the caller, whatever went wrong
            error = scrub(f"{type(exc).__name__}: {exc}", self.secret_values())
            return Delivery(self.name, self.target, ok=False, attempts=1, error=error)

    def _send(self, msg: EmailMessage, clock: Clock) -> Delivery:
        secrets = self.secret_values()

        def once(timeout: float) -> Attempt:  # seconds
            try:
                self._once(msg, timeout)
            except smtplib.SMTPResponseException as exc:
                error = scrub(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", secrets)
                # 5xx (refused login, unknown recipient): retrying cannot help
                return Attempt(error=error, retry=400 <= exc.smtp_code < 500)
            except smtplib.SMTPRecipientsRefused as exc:
                refused = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in exc.recipients.items())
                return Attempt(error=f"every recipient refused: {refused}", retry=False)
            except ssl.SSLCertVerificationError as exc:  # a server we cannot trust stays so
                return Attempt(error=scrub(f"{type(exc).__name__}: {exc}", secrets), retry=False)
            except (OSError, smtplib.SMTPException) as exc:  # connection lost, timeout, TLS
                return Attempt(error=failure(exc, secrets))
            return Attempt(ok=True)

        return attempt_until_delivered(self, clock, once)

    def _context(self) -> ssl.SSLContext:
        """The certifi CA bundle, or `ca_file` (a relay with its own CA) instead."""
        if self.ca_file is None:
            return _tls()
        return ssl.create_default_context(cafile=self.ca_file)

    def _once(self, msg: EmailMessage, timeout: float) -> None:
        smtp: smtplib.SMTP
        if self.tls == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=timeout, local_hostname="localhost")
        with smtp:
            if self.tls == "starttls":
                smtp.starttls(context=self._context())
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            smtp.send_message(msg, from_addr=self.sender, to_addrs=self.to)


def _text(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]


CHANNEL = EmailChannel
