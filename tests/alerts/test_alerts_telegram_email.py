"""Telegram (a fake Bot API on loopback) and email (a real aiosmtpd SMTP server on loopback)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from kalshi_cli.alerts.model import Outcome, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.vocabulary.clock import Deadline, ManualClock
from kalshi_cli.vocabulary.errors import ConfigError
from tests.alerts.receiver import Receiver, receiving, reply
from tests.alerts.test_alerts import breach
from tests.fakes import FakeAlertStateStore

BOT_TOKEN = "123456789:AAHsecretBotTokenXYZ987654"
SMTP_PASSWORD = "pa55wordSMTPsecret"


def telegram_cfg(rec: Receiver, **extra: Any) -> dict[str, Any]:
    return {
        "channels": {
            "tg": {
                "type": "telegram",
                "token_env": "TG_TOKEN",
                "chat_id": -1001234567890,
                "api_url": rec.url(""),
                **extra,
            }
        },
        "routes": {"critical": ["tg"], "warning": ["tg"], "info": ["tg"]},
    }


# --------------------------------------------------------------------------------------------
# Telegram


@pytest.fixture
def bot_api() -> Iterator[Receiver]:
    """A fake Bot API: test_alerts' recording HTTP receiver on loopback."""
    with receiving() as rec:
        yield rec


def test_telegram_posts_send_message_with_chat_id_and_plain_text(bot_api: Receiver) -> None:
    bot_api.respond_with(reply(200, b'{"ok":true,"result":{"message_id":1}}'))
    clock = ManualClock()
    router = AlertRouter.from_config(
        telegram_cfg(bot_api), clock=clock, environ={"TG_TOKEN": BOT_TOKEN}
    )
    router.runbook_base_url = "https://github.com/you/kalshi-cli/blob/main"
    state_store = FakeAlertStateStore(clock)
    report = router.notify(breach(), state_store)
    assert report.outcome is Outcome.SENT and report.delivered
    [seen] = bot_api.seen
    assert seen.method == "POST" and seen.path == f"/bot{BOT_TOKEN}/sendMessage"
    body = seen.json()
    assert body["chat_id"] == "-1001234567890"
    assert body["disable_web_page_preview"] is True
    assert "parse_mode" not in body  # plain text: data in an alert cannot inject markup
    text = body["text"]
    assert text.startswith("[CRITICAL] KALSHI POSITIONS CRITICAL\n1 market over limit")
    assert "ticker: KXBTC-26DEC31-T100000" in text
    link = "https://github.com/you/kalshi-cli/blob/main/runbooks/02-position-limit-breach.md"
    assert f"Runbook: {link}" in text
    # de-duplicated like every channel: the same breach again sends nothing
    assert router.notify(breach(), state_store).outcome is Outcome.SUPPRESSED
    assert len(bot_api.seen) == 1
    router.resolve("check:positions", state_store, summary="all within limits")
    assert bot_api.seen[1].json()["text"].startswith("[RESOLVED] ")


def test_telegram_token_is_masked_in_errors_describe_and_repr(bot_api: Receiver) -> None:
    bot_api.respond_with(
        reply(401, f'{{"ok":false,"description":"Unauthorized bot{BOT_TOKEN}"}}'.encode())
    )
    clock = ManualClock()
    router = AlertRouter.from_config(
        telegram_cfg(bot_api), clock=clock, environ={"TG_TOKEN": BOT_TOKEN}
    )
    report = router.notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and len(bot_api.seen) == 1  # a 401 is not retried
    shown = "\n".join([*report.problems, *router.describe(), repr(router)])
    assert "HTTP 401" in shown and "/***" in shown
    secret = BOT_TOKEN.split(":")[1]
    assert secret not in shown and BOT_TOKEN not in shown


def test_telegram_429_waits_its_retry_after_parameter(bot_api: Receiver) -> None:
    bot_api.respond_with(
        reply(429, b'{"ok":false,"error_code":429,"parameters":{"retry_after":3}}'), reply()
    )
    clock = ManualClock()
    router = AlertRouter.from_config(
        telegram_cfg(bot_api, deadline_s=30), clock=clock, environ={"TG_TOKEN": BOT_TOKEN}
    )
    started = clock.monotonic()
    report = router.notify(breach(), FakeAlertStateStore(clock))
    assert report.delivered and report.deliveries[0].attempts == 2
    assert clock.monotonic() - started == 3


def test_telegram_retries_are_bounded_by_max_attempts(bot_api: Receiver) -> None:
    bot_api.respond_with(reply(502, b"bad gateway"))
    clock = ManualClock()
    router = AlertRouter.from_config(
        telegram_cfg(bot_api, max_attempts=2), clock=clock, environ={"TG_TOKEN": BOT_TOKEN}
    )
    report = router.notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and report.deliveries[0].attempts == 2
    assert len(bot_api.seen) == 2


@pytest.mark.parametrize(
    ("extra", "environ", "message"),
    [
        ({"token_env": None}, {}, "needs a token"),
        ({}, {}, "TG_TOKEN, which is not set"),
        ({"chat_id": None}, {"TG_TOKEN": BOT_TOKEN}, "needs a chat_id"),
        ({"api_url": "ftp://x/y"}, {"TG_TOKEN": BOT_TOKEN}, "api_url must be an http(s) URL"),
        ({"url": "https://x"}, {"TG_TOKEN": BOT_TOKEN}, "unknown key `alerts.channels.tg.url`"),
    ],
)
def test_bad_telegram_config_is_a_config_error(
    bot_api: Receiver, extra: dict[str, Any], environ: dict[str, str], message: str
) -> None:
    cfg = telegram_cfg(bot_api, **extra)
    with pytest.raises(ConfigError) as err:
        AlertRouter.from_config(cfg, environ=environ)
    assert message in err.value.one_line()


# --------------------------------------------------------------------------------------------
# Email, against a real SMTP server (aiosmtpd) on loopback


@dataclass
class Mailbox:
    port: int
    received: list[tuple[str, list[str], Message]] = field(default_factory=list)
    # SMTP answers to DATA, one per message in order; the last repeats ("250 OK" when empty)
    answers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # each answer takes this long on this clock (a slow server)
    clock: ManualClock | None = None
    answer_takes_s: float = 0.0
    # addresses refused at RCPT TO (no such user)
    unknown: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.clock is not None:
                self.clock.advance(self.answer_takes_s)
            answer = (
                self.answers.pop(0) if len(self.answers) > 1 else (self.answers or ["250 OK"])[0]
            )
            if answer.startswith("250"):
                content = envelope.content
                raw = content if isinstance(content, bytes) else str(content).encode()
                self.received.append(
                    (str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(raw))
                )
        return answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def email_cfg(box: Mailbox, **extra: Any) -> dict[str, Any]:
    return {
        "channels": {
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": box.port,
                "tls": "none",
                "from": "kalshi@example.com",
                "to": ["ops@example.com", "oncall@example.com"],
                **extra,
            }
        },
        "routes": {"critical": ["mail"], "warning": ["mail"], "info": ["mail"]},
    }


def test_email_reaches_every_address_with_subject_and_runbook(mailbox: Mailbox) -> None:
    clock = ManualClock()
    router = AlertRouter.from_config(email_cfg(mailbox), clock=clock)
    state_store = FakeAlertStateStore(clock)
    report = router.notify(breach(), state_store)
    assert report.outcome is Outcome.SENT and report.delivered, report.problems
    [(sender, rcpts, msg)] = mailbox.received
    assert sender == "kalshi@example.com"
    assert rcpts == ["ops@example.com", "oncall@example.com"]
    assert msg["Subject"] == "[CRITICAL] KALSHI POSITIONS CRITICAL"
    assert msg["To"] == "ops@example.com, oncall@example.com"
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode()
    assert "1 market over limit" in text
    assert "Runbook: runbooks/02-position-limit-breach.md" in text
    # de-duplicated like every channel
    assert router.notify(breach(), state_store).outcome is Outcome.SUPPRESSED
    router.resolve("check:positions", state_store, summary="all within limits")
    assert [m["Subject"] for _, _, m in mailbox.received] == [
        "[CRITICAL] KALSHI POSITIONS CRITICAL",
        "[RESOLVED] check:positions",
    ]


def test_email_retries_a_temporary_refusal_but_not_a_permanent_one(mailbox: Mailbox) -> None:
    clock = ManualClock()
    mailbox.answers = ["451 4.3.0 try again later", "250 OK"]
    router = AlertRouter.from_config(email_cfg(mailbox), clock=clock)
    report = router.notify(breach(), FakeAlertStateStore(clock))
    assert report.delivered and report.deliveries[0].attempts == 2
    assert len(mailbox.received) == 1

    mailbox.answers = ["554 5.7.1 rejected"]
    report = router.notify(breach(Severity.WARNING), FakeAlertStateStore(clock))
    assert not report.delivered and report.deliveries[0].attempts == 1
    assert "SMTP 554" in report.problems[0]


def test_email_every_recipient_refused_is_not_retried(mailbox: Mailbox) -> None:
    clock = ManualClock()
    mailbox.unknown = {"ops@example.com", "oncall@example.com"}
    router = AlertRouter.from_config(email_cfg(mailbox), clock=clock)
    report = router.notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and report.deliveries[0].attempts == 1
    assert "every recipient refused: ops@example.com: 550" in report.problems[0]
    assert clock.monotonic() == 0.0  # no wait for a retry that cannot help


def test_a_callers_deadline_bounds_the_email_retries(mailbox: Mailbox) -> None:
    # a temporary refusal is retried within the channel's own 15 s, not past the caller's 0.5 s
    clock = ManualClock()
    mailbox.clock, mailbox.answer_takes_s = clock, 0.5
    mailbox.answers = ["451 4.3.0 try again later", "250 OK"]
    router = AlertRouter.from_config(email_cfg(mailbox), clock=clock)
    with Deadline.within(clock, 0.5):
        report = router.notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and report.deliveries[0].attempts == 1
    assert not mailbox.received and clock.monotonic() == 0.5
    assert "SMTP 451" in report.problems[0]


def test_email_to_a_closed_port_gives_up_within_max_attempts() -> None:
    clock = ManualClock()
    box = Mailbox(_free_port())  # nothing listens there
    router = AlertRouter.from_config(email_cfg(box, max_attempts=3), clock=clock)
    report = router.notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and report.deliveries[0].attempts == 3
    assert "ConnectionRefusedError" in report.problems[0]


def test_email_password_comes_from_the_environment_and_is_never_shown() -> None:
    cfg = {
        "channels": {
            "mail": {
                "type": "email",
                "host": "smtp.example.com",
                "username": "kalshi",
                "password_env": "SMTP_PASSWORD",
                "from": "kalshi@example.com",
                "to": "ops@example.com",
            }
        },
        "routes": {"critical": "mail"},
    }
    router = AlertRouter.from_config(cfg, environ={"SMTP_PASSWORD": SMTP_PASSWORD})
    [line] = router.describe()
    assert line.startswith("mail: email smtp://smtp.example.com:587 (starttls) to 1 address(es)")
    assert SMTP_PASSWORD not in line and SMTP_PASSWORD not in repr(router)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"host": None}, "needs a host"),
        ({"tls": "ssl"}, "tls: expected one of starttls, tls, none, not 'ssl'"),
        ({"to": []}, "to must be an address or a list"),
        ({"from": None}, "needs a from address"),
        ({"port": 70000}, "port must be a port number"),
        ({"username": "u", "password": SMTP_PASSWORD}, "clear text (tls: none)"),
        ({"password": SMTP_PASSWORD}, "password without a username"),
        ({"url": "https://x"}, "unknown key `alerts.channels.mail.url`"),
    ],
)
def test_bad_email_config_is_a_config_error(extra: dict[str, Any], message: str) -> None:
    cfg = email_cfg(Mailbox(25), **extra)
    with pytest.raises(ConfigError) as err:
        AlertRouter.from_config(cfg, environ={})
    assert message in err.value.one_line() and SMTP_PASSWORD not in err.value.one_line()


# --------------------------------------------------------------------------------------------
# STARTTLS with a login, against aiosmtpd with a self-signed certificate for 127.0.0.1


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_email_over_starttls_logs_in_and_delivers(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticate(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password.decode() == SMTP_PASSWORD)

    box = Mailbox(_free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        cfg = email_cfg(
            box,
            tls="starttls",
            ca_file=str(cert),
            username="kalshi",
            password_env="SMTP_PASSWORD",
        )
        clock = ManualClock()
        router = AlertRouter.from_config(cfg, clock=clock, environ={"SMTP_PASSWORD": SMTP_PASSWORD})
        report = router.notify(breach(), FakeAlertStateStore(clock))
        # without the relay's CA the certificate is not trusted: refused, not retried, and the
        # password never sent
        del cfg["channels"]["mail"]["ca_file"]
        untrusted = AlertRouter.from_config(
            cfg, clock=clock, environ={"SMTP_PASSWORD": SMTP_PASSWORD}
        )
        refused = untrusted.notify(breach(), FakeAlertStateStore(clock))
    finally:
        controller.stop()
    assert not refused.delivered and refused.deliveries[0].attempts == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused.problems[0]
    assert SMTP_PASSWORD not in refused.problems[0]
    assert report.delivered, report.problems
    assert logins == [("kalshi", SMTP_PASSWORD)]
    [(_, _, msg)] = box.received
    assert msg["Subject"] == "[CRITICAL] KALSHI POSITIONS CRITICAL"
