"""Alerts against a real HTTP receiver on loopback, with an in-memory alert state."""

from __future__ import annotations

import ast
import json
import re
import threading
import time
from contextlib import nullcontext
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.alerts.channels.base import HttpChannel
from kalshi_cli.alerts.channels.deadman import DeadManPing
from kalshi_cli.alerts.channels.discord import DiscordWebhook
from kalshi_cli.alerts.channels.generic import GenericWebhook
from kalshi_cli.alerts.channels.mail import EmailChannel
from kalshi_cli.alerts.channels.slack import SlackWebhook
from kalshi_cli.alerts.channels.telegram import TelegramBot
from kalshi_cli.alerts.masking import mask_url
from kalshi_cli.alerts.model import (
    RUNBOOKS,
    Alert,
    AlertStatus,
    Delivery,
    Outcome,
    Runbook,
    Severity,
)
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.vocabulary.clock import Clock, Deadline, ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import ConfigError
from tests.alerts.receiver import Receiver, hang, reply, trickle
from tests.fakes import FakeAlertState, FakeAlertStateStore, RecordingRouter
from tests.waiting import PATIENCE_S

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "XyZsecretTOKEN123456"
SLACK_PATH = f"/services/T0001/B0002/{TOKEN}"
DISCORD_PATH = f"/api/webhooks/1234567890/{TOKEN}"
GENERIC_PATH = f"/hook/{TOKEN}"
PING_PATH = "/ping/0f8e4c1a-5b7d-4e2a-9c3b-abcdef012345"


# --------------------------------------------------------------------------------------------
# An in-memory alert state with the state file's semantics


class BrokenStateStore:
    def alert_state(self, fingerprint: str) -> FakeAlertState | None:
        raise OSError("database is locked")

    def claim_alert(self, fingerprint: str, claim: Any) -> FakeAlertState | None:
        raise OSError("database is locked")

    def record_alert(self, fingerprint: str, **kwargs: Any) -> None:
        raise OSError("database is locked")


# --------------------------------------------------------------------------------------------
# Helpers


def config(receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "repeat_interval_s": 3600,
        "channels": {
            "ops-slack": {"type": "slack", "url": receiver.url(SLACK_PATH), "timeout_s": 2},
            "ops-discord": {"type": "discord", "url": receiver.url(DISCORD_PATH)},
            "pager": {"type": "generic", "url": receiver.url(GENERIC_PATH)},
            "deadman": {"type": "deadman", "url": receiver.url(PING_PATH)},
        },
        "routes": {"critical": ["ops-slack"], "warning": ["ops-discord"], "info": ["pager"]},
    }
    cfg.update(overrides)
    return cfg


def breach(severity: Severity = Severity.CRITICAL, summary: str = "1 market over limit") -> Alert:
    return Alert(
        fingerprint="check:positions",
        severity=severity,
        title="KALSHI POSITIONS CRITICAL",
        summary=summary,
        runbook=Runbook.POSITION_LIMIT,
        details={"over_limit": "1 (warn 0, crit 0)", "ticker": "KXBTC-26DEC31-T100000"},
    )


def single_channel(receiver: Receiver, kind: str, path: str, **settings: Any) -> dict[str, Any]:
    return {
        "channels": {"only": {"type": kind, "url": receiver.url(path), **settings}},
        "routes": {"critical": ["only"], "warning": ["only"], "info": ["only"]},
    }


# --------------------------------------------------------------------------------------------
# Payloads match each service's documented format


def test_slack_receives_text_and_blocks(receiver: Receiver) -> None:
    clock = ManualClock()
    router = AlertRouter.from_config(config(receiver), clock=clock)
    report = router.notify(
        breach(summary="1 market <over> limit & more"), FakeAlertStateStore(clock)
    )
    assert report.outcome is Outcome.SENT and report.delivered and report.ok
    [seen] = receiver.seen
    assert seen.method == "POST" and seen.path == SLACK_PATH
    assert seen.headers["Content-Type"] == "application/json"
    body = seen.json()
    assert set(body) == {"text", "blocks"}
    assert "[CRITICAL] KALSHI POSITIONS CRITICAL" in body["text"]
    header, summary, fields, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[CRITICAL] KALSHI POSITIONS CRITICAL"},
    }
    # mrkdwn control characters are escaped, so a summary cannot forge a link or a mention
    assert summary["text"] == {"type": "mrkdwn", "text": "1 market &lt;over&gt; limit &amp; more"}
    assert {"type": "mrkdwn", "text": "*Severity*\ncritical"} in fields["fields"]
    assert any("KXBTC-26DEC31-T100000" in f["text"] for f in fields["fields"])
    assert context["type"] == "context"
    assert Runbook.POSITION_LIMIT in context["elements"][0]["text"]


def test_discord_receives_content_and_an_embed_within_its_limits(receiver: Receiver) -> None:
    receiver.respond_with(reply(204, b""))
    clock = ManualClock()
    router = AlertRouter.from_config(config(receiver), clock=clock)
    huge = breach(Severity.WARNING, summary="@everyone " + "x" * 9000)
    report = router.notify(huge, FakeAlertStateStore(clock))
    assert report.delivered and report.deliveries[0].status_code == 204
    [seen] = receiver.seen
    assert seen.path == DISCORD_PATH
    body = seen.json()
    assert len(body["content"]) <= 2000
    assert body["content"].startswith("**[WARNING] KALSHI POSITIONS CRITICAL")
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"] == "KALSHI POSITIONS CRITICAL"
    assert embed["color"] == 0xF9A825
    assert embed["timestamp"] == "2023-11-14T22:13:20.000Z"
    assert {"name": "Runbook", "value": Runbook.POSITION_LIMIT, "inline": False} in embed["fields"]
    assert len(embed["description"]) <= 4096 and len(embed["fields"]) <= 25
    total = (
        len(embed["title"])
        + len(embed["description"])
        + len(embed["footer"]["text"])
        + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    )
    assert total <= 6000  # Discord rejects an embed whose text adds up to more


def test_generic_webhook_follows_the_documented_schema(receiver: Receiver) -> None:
    clock = ManualClock()
    cfg = config(receiver)
    cfg["channels"]["pager"]["headers"] = {"Authorization": "Bearer hunter2hunter2"}
    router = AlertRouter.from_config(cfg, clock=clock)
    router.notify(breach(Severity.INFO), FakeAlertStateStore(clock))
    [seen] = receiver.seen
    assert seen.path == GENERIC_PATH
    assert seen.headers["Authorization"] == "Bearer hunter2hunter2"
    assert seen.json() == {
        "version": 1,
        "source": "kalshi-cli",
        "fingerprint": "check:positions",
        "status": "firing",
        "severity": "info",
        "title": "KALSHI POSITIONS CRITICAL",
        "summary": "1 market over limit",
        "runbook": "runbooks/02-position-limit-breach.md",
        "details": {"over_limit": "1 (warn 0, crit 0)", "ticker": "KXBTC-26DEC31-T100000"},
        "ts": "2023-11-14T22:13:20.000Z",
    }
    assert "hunter2" not in repr(router) and "hunter2" not in "\n".join(router.describe())


def test_dead_man_ping_uses_healthchecks_urls(receiver: Receiver) -> None:
    clock = ManualClock()
    cfg = config(receiver, routes={"critical": ["deadman"]})
    router = AlertRouter.from_config(cfg, clock=clock)
    state_store = FakeAlertStateStore(clock)
    router.notify(breach(), state_store)
    router.resolve("check:positions", state_store, summary="all within limits")
    paths = [s.path for s in receiver.seen]
    assert paths == [f"{PING_PATH}/fail", PING_PATH]
    assert b"1 market over limit" in receiver.seen[0].body


def test_runbook_base_url_turns_the_runbook_into_a_link(receiver: Receiver) -> None:
    clock = ManualClock()
    base = "https://github.com/example/kalshi-cli/blob/main/"
    router = AlertRouter.from_config(config(receiver, runbook_base_url=base), clock=clock)
    router.notify(breach(Severity.INFO), FakeAlertStateStore(clock))
    assert receiver.seen[0].json()["runbook"] == base + "runbooks/02-position-limit-breach.md"


# --------------------------------------------------------------------------------------------
# De-duplication across cron invocations


def test_two_cron_runs_of_a_failing_check_post_once_then_one_resolved(receiver: Receiver) -> None:
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)  # stands in for the state file both runs open

    def cron_run(still_failing: bool) -> Outcome:
        router = AlertRouter.from_config(config(receiver), clock=clock)  # a fresh process
        if still_failing:
            return router.notify(breach(), state_store).outcome
        return router.resolve("check:positions", state_store, summary="all within limits").outcome

    assert cron_run(still_failing=True) is Outcome.SENT
    clock.advance(300)
    assert cron_run(still_failing=True) is Outcome.SUPPRESSED
    assert len(receiver.seen) == 1
    clock.advance(300)
    assert cron_run(still_failing=False) is Outcome.RESOLVED
    clock.advance(300)
    assert cron_run(still_failing=False) is Outcome.NOT_FIRING
    assert len(receiver.seen) == 2
    resolved = receiver.seen[1].json()
    assert resolved["text"].startswith(":white_check_mark: [RESOLVED]")
    assert "all within limits (was: 1 market over limit)" in json.dumps(resolved)
    assert state_store.rows["check:positions"].status == "resolved"


def test_the_state_file_keeps_de_duplication_across_processes(
    receiver: Receiver, tmp_path: Path
) -> None:
    from kalshi_cli.store import Store

    clock = ManualClock()
    state_file = tmp_path / "state.sqlite"

    def cron_run(still_failing: bool) -> Outcome:
        router = AlertRouter.from_config(config(receiver), clock=clock)
        with Store.open(state_file, clock=clock) as store:  # each run opens the file afresh
            if still_failing:
                return router.notify(breach(), store.alerts).outcome
            return router.resolve("check:positions", store.alerts).outcome

    assert cron_run(True) is Outcome.SENT
    clock.advance(300)
    assert cron_run(True) is Outcome.SUPPRESSED
    clock.advance(300)
    assert cron_run(False) is Outcome.RESOLVED
    assert cron_run(False) is Outcome.NOT_FIRING
    assert len(receiver.seen) == 2


def test_a_persisting_breach_is_resent_after_the_repeat_interval(receiver: Receiver) -> None:
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = AlertRouter.from_config(config(receiver, repeat_interval_s=900), clock=clock)
    assert router.notify(breach(), state_store).outcome is Outcome.SENT
    clock.advance(899)
    assert router.notify(breach(), state_store).outcome is Outcome.SUPPRESSED
    clock.advance(1)
    assert router.notify(breach(), state_store).outcome is Outcome.REPEATED
    clock.advance(60)
    assert router.notify(breach(), state_store).outcome is Outcome.SUPPRESSED
    assert len(receiver.seen) == 2


def test_a_severity_change_is_sent_at_once_and_a_new_breach_after_resolution(
    receiver: Receiver,
) -> None:
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = AlertRouter.from_config(config(receiver), clock=clock)
    router.notify(breach(Severity.WARNING), state_store)
    clock.advance(60)
    assert router.notify(breach(Severity.CRITICAL), state_store).outcome is Outcome.CHANGED
    clock.advance(60)
    router.resolve("check:positions", state_store)
    clock.advance(60)
    assert router.notify(breach(Severity.CRITICAL), state_store).outcome is Outcome.SENT
    paths = [s.path for s in receiver.seen]
    assert paths[:2] == [DISCORD_PATH, SLACK_PATH] and paths[4:] == [SLACK_PATH]
    assert sorted(paths[2:4]) == [DISCORD_PATH, SLACK_PATH]  # the clearing: to both tiers told


@pytest.mark.parametrize("store_kind", ["memory", "state_file"])
def test_a_clearing_reaches_every_channel_told_of_the_breach_not_only_its_last_tier(
    receiver: Receiver, tmp_path: Path, store_kind: str
) -> None:
    """A breach paged on the critical route that eases to a warning before it clears: the
    pager's incident (a receiver that de-duplicates by fingerprint) must be told it cleared, or
    it stays open and the next breach of that fingerprint is folded into it, paging nobody."""
    from kalshi_cli.store import Store

    clock = ManualClock()
    router = AlertRouter.from_config(config(receiver), clock=clock)
    with Store.open(tmp_path / "state.sqlite", clock=clock) as store:
        state_store = FakeAlertStateStore(clock) if store_kind == "memory" else store.alerts
        router.notify(breach(Severity.CRITICAL), state_store)
        clock.advance(60)
        assert router.notify(breach(Severity.WARNING), state_store).outcome is Outcome.CHANGED
        clock.advance(60)
        assert router.resolve("check:positions", state_store).delivered
        told = [
            (s.path, s.json()["content" if s.path == DISCORD_PATH else "text"])
            for s in receiver.seen
        ]
        shown = [(path, text.split("]")[0]) for path, text in told]
        assert shown[:2] == [(SLACK_PATH, ":red_circle: [CRITICAL"), (DISCORD_PATH, "**[WARNING")]
        # the clearing goes to both at once, in no set order
        assert sorted(shown[2:]) == [
            (DISCORD_PATH, "**[RESOLVED"),
            (SLACK_PATH, ":white_check_mark: [RESOLVED"),
        ]
        # the next episode is told on its own tier only, and so is its clearing
        clock.advance(60)
        router.notify(breach(Severity.WARNING), state_store)
        router.resolve("check:positions", state_store)
        assert [s.path for s in receiver.seen[4:]] == [DISCORD_PATH, DISCORD_PATH]


def test_a_failed_delivery_is_reported_recorded_and_retried_next_run(receiver: Receiver) -> None:
    receiver.respond_with(reply(500, b"internal error"))
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = AlertRouter.from_config(config(receiver), clock=clock)
    report = router.notify(breach(), state_store)
    assert not report.delivered and len(receiver.seen) == 3  # max_attempts, no more
    [problem] = report.problems
    assert "failed after 3 attempts: HTTP 500: internal error" in problem
    assert "/***" in problem and TOKEN not in problem
    state = state_store.rows["check:positions"]
    assert (
        state.status == "firing"
        and state.last_sent_at is None
        and "HTTP 500" in (state.error or "")
    )

    receiver.respond_with(reply(200))
    clock.advance(60)
    assert router.notify(breach(), state_store).outcome is Outcome.RETRIED
    assert state_store.rows["check:positions"].last_sent_at == clock.wall()


def test_a_clearing_that_was_not_delivered_is_announced_on_the_next_run(
    receiver: Receiver,
) -> None:
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = AlertRouter.from_config(config(receiver), clock=clock)
    router.notify(breach(), state_store)
    receiver.respond_with(reply(503))
    assert not router.resolve("check:positions", state_store).delivered
    assert state_store.rows["check:positions"].status == "firing"
    receiver.respond_with(reply(200))
    assert router.resolve("check:positions", state_store).delivered
    assert state_store.rows["check:positions"].status == "resolved"
    assert router.resolve("check:positions", state_store).outcome is Outcome.NOT_FIRING


@pytest.mark.parametrize("store_kind", ["memory", "state_file"])
def test_a_returning_breach_whose_delivery_failed_is_retried_next_run(
    receiver: Receiver, tmp_path: Path, store_kind: str
) -> None:
    """A breach that fires again after a resolved one is a new episode: a failed delivery of it
    is retried on the next run, whenever an earlier episode was last sent."""
    from kalshi_cli.store import Store

    clock = ManualClock()
    memory = FakeAlertStateStore(clock)

    def cron_run(firing: bool) -> Outcome:
        router = AlertRouter.from_config(config(receiver), clock=clock)  # a fresh process
        if store_kind == "memory":
            state_store: Any = memory
            return _run(router, state_store, firing)
        with Store.open(tmp_path / "state.sqlite", clock=clock) as store:
            return _run(router, store.alerts, firing)

    def _run(router: AlertRouter, state_store: Any, firing: bool) -> Outcome:
        if firing:
            return router.notify(breach(), state_store).outcome
        return router.resolve("check:positions", state_store).outcome

    assert cron_run(firing=True) is Outcome.SENT
    clock.advance(60)
    assert cron_run(firing=False) is Outcome.RESOLVED
    clock.advance(60)
    receiver.respond_with(reply(500, b"down"))
    assert cron_run(firing=True) is Outcome.SENT  # attempted, not delivered
    assert len(receiver.seen) == 2 + 3  # max_attempts of the failed episode
    receiver.respond_with(reply(200))
    clock.advance(60)  # well inside the 1 h repeat interval of the resolution's send
    assert cron_run(firing=True) is Outcome.RETRIED
    posted = receiver.seen[-1].json()
    assert len(receiver.seen) == 6 and posted["text"].startswith(":red_circle: [CRITICAL]")
    clock.advance(60)
    assert cron_run(firing=True) is Outcome.SUPPRESSED  # delivered now: de-duplicated again
    assert len(receiver.seen) == 6


def test_an_undelivered_returning_breach_clears_quietly(receiver: Receiver) -> None:
    """Nobody was told the second episode fired, so nobody is told it cleared."""
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = AlertRouter.from_config(config(receiver), clock=clock)
    router.notify(breach(), state_store)
    clock.advance(60)
    router.resolve("check:positions", state_store)
    clock.advance(60)
    receiver.respond_with(reply(500))
    assert not router.notify(breach(), state_store).delivered
    clock.advance(60)
    assert router.resolve("check:positions", state_store).outcome is Outcome.RESOLVED_QUIETLY
    assert [s.json()["text"].split("]")[0] for s in receiver.seen if s.json()] == [
        ":red_circle: [CRITICAL",
        ":white_check_mark: [RESOLVED",
        ":red_circle: [CRITICAL",
        ":red_circle: [CRITICAL",
        ":red_circle: [CRITICAL",
    ]


def test_a_breach_nobody_was_told_about_clears_quietly(receiver: Receiver) -> None:
    clock = ManualClock()
    state_store = FakeAlertStateStore(clock)
    router = AlertRouter.from_config(config(receiver, routes={}), clock=clock)
    assert router.notify(breach(), state_store).outcome is Outcome.UNROUTED
    assert state_store.rows["check:positions"].status == "firing"
    assert router.resolve("check:positions", state_store).outcome is Outcome.RESOLVED_QUIETLY
    assert state_store.rows["check:positions"].status == "resolved"
    assert receiver.seen == []


def test_a_broken_alert_state_does_not_silence_the_alert_or_raise(receiver: Receiver) -> None:
    router = AlertRouter.from_config(config(receiver), clock=ManualClock())
    report = router.notify(breach(), BrokenStateStore())
    assert report.delivered and len(receiver.seen) == 1
    assert len(report.problems) == 2 and all("database is locked" in p for p in report.problems)


class ExplodingChannel(HttpChannel):
    kind = "exploding"

    def send(self, n: Alert, clock: Clock) -> Delivery:
        raise RuntimeError(f"boom posting to {self.url_for_test}")

    @property
    def url_for_test(self) -> str:
        return self._url


def test_a_channel_that_raises_is_reported_masked_not_raised() -> None:
    clock = ManualClock()
    channel = ExplodingChannel("x", f"https://example.com/hook/{TOKEN}")
    router = AlertRouter({"x": channel}, {Severity.CRITICAL: ["x"]}, clock=clock)
    report = router.notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered
    assert "RuntimeError: boom posting to ***" in report.problems[0]
    assert TOKEN not in report.problems[0]


# --------------------------------------------------------------------------------------------
# Retries, Retry-After and deadlines


def test_429_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.respond_with(reply(429, b"rate_limited", {"Retry-After": "2"}), reply(200))
    clock = ManualClock()
    cfg = single_channel(receiver, "slack", SLACK_PATH, timeout_s=2, max_attempts=3)
    report = AlertRouter.from_config(cfg, clock=clock).notify(breach(), FakeAlertStateStore(clock))
    assert report.delivered and report.deliveries[0].attempts == 2
    assert clock.monotonic() == 2.0  # waited exactly what the server asked


def test_discord_retry_after_in_the_body_is_honoured(receiver: Receiver) -> None:
    limited = json.dumps({"message": "You are being rate limited.", "retry_after": 1.5})
    receiver.respond_with(reply(429, limited.encode()), reply(204, b""))
    clock = ManualClock()
    cfg = single_channel(receiver, "discord", DISCORD_PATH)
    report = AlertRouter.from_config(cfg, clock=clock).notify(breach(), FakeAlertStateStore(clock))
    assert report.delivered and clock.monotonic() == 1.5


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize("zone", ["-0000", "+0000", "GMT"])
def test_a_retry_after_date_is_read_as_utc_on_a_machine_in_new_york(
    receiver: Receiver, zone: str
) -> None:
    # an HTTP date is UTC whatever zone it names; read as New York time, -0000 is 5 hours later
    clock = ManualClock()
    asked = formatdate(clock.wall() + 3).replace("-0000", zone)
    receiver.respond_with(reply(429, b"slow down", {"Retry-After": asked}), reply(200))
    cfg = single_channel(receiver, "slack", SLACK_PATH, timeout_s=2, max_attempts=3)
    report = AlertRouter.from_config(cfg, clock=clock).notify(breach(), FakeAlertStateStore(clock))
    assert report.delivered and report.deliveries[0].attempts == 2
    assert clock.monotonic() == 3.0


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(receiver: Receiver) -> None:
    receiver.respond_with(reply(429, b"slow down", {"Retry-After": "600"}))
    clock = ManualClock()
    cfg = single_channel(receiver, "slack", SLACK_PATH, timeout_s=2, max_attempts=3)
    report = AlertRouter.from_config(cfg, clock=clock).notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and len(receiver.seen) == 1
    assert clock.monotonic() == 0.0
    assert "would pass the 6s deadline" in report.problems[0]


def test_a_callers_deadline_bounds_the_retries_of_every_channel(receiver: Receiver) -> None:
    # the channel's own deadline (6 s) would wait the 2 s asked; the caller's 1 s does not
    receiver.respond_with(reply(429, b"slow down", {"Retry-After": "2"}), reply(200))
    clock = ManualClock()
    cfg = single_channel(receiver, "slack", SLACK_PATH, timeout_s=2, max_attempts=3)
    router = AlertRouter.from_config(cfg, clock=clock)
    with Deadline.within(clock, 1.0):
        report = router.notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and len(receiver.seen) == 1
    assert clock.monotonic() == 0.0
    assert "waiting 2s would pass the caller's deadline" in report.problems[0]


def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.respond_with(reply(404, b"no_service"))
    clock = ManualClock()
    cfg = single_channel(receiver, "slack", SLACK_PATH, max_attempts=5)
    report = AlertRouter.from_config(cfg, clock=clock).notify(breach(), FakeAlertStateStore(clock))
    assert len(receiver.seen) == 1 and report.deliveries[0].status_code == 404
    assert "failed after 1 attempt: HTTP 404: no_service" in report.problems[0]


def test_a_request_timeout_is_retried(receiver: Receiver) -> None:
    # 408: the receiver gave up waiting for the request, not on it; another try may pass
    receiver.respond_with(reply(408, b"request timeout"), reply(200))
    clock = ManualClock()
    cfg = single_channel(receiver, "slack", SLACK_PATH, max_attempts=3)
    report = AlertRouter.from_config(cfg, clock=clock).notify(breach(), FakeAlertStateStore(clock))
    assert report.delivered and report.deliveries[0].attempts == 2


def test_an_unreachable_receiver_is_reported_masked() -> None:
    clock = ManualClock()
    url = f"http://127.0.0.1:9{SLACK_PATH}"  # port 9 (discard) is closed on loopback
    cfg = {"channels": {"s": {"type": "slack", "url": url}}, "routes": {"critical": "s"}}
    report = AlertRouter.from_config(cfg, clock=clock).notify(breach(), FakeAlertStateStore(clock))
    assert not report.delivered and report.deliveries[0].attempts == 3
    assert "ConnectError" in report.problems[0]
    assert "http://127.0.0.1:9/***" in report.problems[0] and TOKEN not in report.problems[0]


# an attempt's own timeout, where the test proves it is cut short: far past any stall of a busy
# machine, so a send that took it (not the channel's deadline) cannot pass for one that did not
ATTEMPT_S = 20.0


def test_a_receiver_that_never_answers_does_not_hold_the_check(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt's timeout (20 s) is clipped to the channel's deadline (0.6 s): the send gives
    up on its own, with its own Timeout, far inside one attempt. The caller's wait past the
    deadline (`JOIN_GRACE_S`) is made as long as an attempt here, so that a busy machine's stall
    of the sending thread cannot end the wait before the send says why (the caller's own cut is
    the trickle test's)."""
    monkeypatch.setattr("kalshi_cli.alerts.router.JOIN_GRACE_S", ATTEMPT_S)
    receiver.respond_with(hang)
    cfg = single_channel(receiver, "slack", SLACK_PATH, timeout_s=ATTEMPT_S, deadline_s=0.6)
    clock = SystemClock()
    router = AlertRouter.from_config(cfg, clock=clock)
    started = time.monotonic()
    report = router.notify(breach(), FakeAlertStateStore(ManualClock()))
    elapsed = time.monotonic() - started
    assert elapsed < ATTEMPT_S, "an attempt ran its whole timeout: the deadline did not clip it"
    assert not report.delivered and "Timeout" in report.problems[0]


def test_two_hanging_channels_are_waited_for_together_not_in_turn(receiver: Receiver) -> None:
    """Each channel's request is answered only once the other's has come in too: sent together,
    both are delivered; sent in turn, the first waits out its whole deadline for a second that
    comes only after it, and fails. Counted at the receiver, not timed, so a busy machine's
    stall cannot flip it."""
    both_in = threading.Barrier(2)

    def once_both_are_in(h: BaseHTTPRequestHandler, r: Receiver) -> None:
        try:
            both_in.wait(PATIENCE_S)
        except threading.BrokenBarrierError:
            return  # never answered: the other request did not come while this one was out
        reply()(h, r)

    receiver.respond_with(once_both_are_in)
    cfg = config(receiver, routes={"critical": ["ops-slack", "pager"]})
    for name in ("ops-slack", "pager"):
        cfg["channels"][name].update(timeout_s=ATTEMPT_S, max_attempts=1)
    router = AlertRouter.from_config(cfg, clock=SystemClock())
    report = router.notify(breach(), FakeAlertStateStore(ManualClock()))
    assert report.problems == ()
    assert [d.ok for d in report.deliveries] == [True, True]
    assert len(receiver.seen) == 2


def test_a_receiver_that_trickles_is_cut_off_at_the_hard_deadline(receiver: Receiver) -> None:
    """No read ever times out (a byte every 50 ms), so only the caller's cut at the deadline
    ends the wait: without it, the send lasts as long as the receiver trickles (until the test
    ends). The bound is far past the deadline, so a busy machine's stall cannot flip it, and far
    inside the trickle."""
    receiver.respond_with(trickle)
    cfg = single_channel(receiver, "discord", DISCORD_PATH, timeout_s=0.4, deadline_s=0.5)
    router = AlertRouter.from_config(cfg, clock=SystemClock())
    started = time.monotonic()
    report = router.notify(breach(), FakeAlertStateStore(ManualClock()))
    elapsed = time.monotonic() - started
    assert elapsed < ATTEMPT_S
    assert "no answer within the 0.5s deadline" in report.problems[0]


# --------------------------------------------------------------------------------------------
# Config and masking


def test_config_builds_routes_and_describes_channels_masked(receiver: Receiver) -> None:
    router = AlertRouter.from_config(config(receiver))
    assert [c.name for c in router.channels_for(Severity.CRITICAL)] == ["ops-slack"]
    lines = router.describe()
    assert any(line.startswith("ops-slack: slack http://127.0.0.1:") for line in lines)
    assert "tiers: critical" in lines[0] and "deadline 6s" in lines[0]
    assert TOKEN not in "\n".join(lines) and TOKEN not in repr(router)


def test_url_env_reads_the_url_from_the_environment(receiver: Receiver) -> None:
    cfg = {"channels": {"s": {"type": "slack", "url_env": "SLACK_URL"}}, "routes": {"info": "s"}}
    router = AlertRouter.from_config(cfg, environ={"SLACK_URL": receiver.url(SLACK_PATH)})
    clock = ManualClock()
    router.clock = clock
    router.notify(breach(Severity.INFO), FakeAlertStateStore(clock))
    assert receiver.seen[0].path == SLACK_PATH


def slack_cfg(**extra: Any) -> dict[str, Any]:
    return {"channels": {"x": {"type": "slack", "url": "https://h/x", **extra}}}


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"chanels": {}}, "unknown key `alerts.chanels` (did you mean `channels`?)"),
        (slack_cfg(type="teams"), "alerts.channels.x.type: expected one of slack, discord"),
        (slack_cfg(url=None), "needs a url"),
        (slack_cfg(url=None, url_env="NOPE"), "NOPE, which is not set"),
        (slack_cfg(url=f"ftp://h/{TOKEN}"), "ftp://h/***"),
        (slack_cfg(max_attempts=50), "alerts.channels.x.max_attempts: expected `int` <= 10"),
        (slack_cfg(timeout_s=0), "alerts.channels.x.timeout_s: expected `float` > 0.0"),
        (slack_cfg(retries=2), "unknown key `alerts.channels.x.retries`"),
        (slack_cfg(headers={"A": "b"}), "`headers` is only for type generic"),
        ({"routes": {"critical": ["missing"]}}, "'missing', which is not defined"),
        ({"routes": {"page": ["x"]}}, "unknown key `alerts.routes.page`"),
        ({"repeat_interval_s": -5}, "alerts.repeat_interval_s: expected `float` > 0.0"),
    ],
)
def test_bad_config_is_one_clear_config_error(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        AlertRouter.from_config(cfg, environ={})
    assert message in err.value.one_line()
    assert TOKEN not in err.value.one_line()


def test_no_alerts_section_means_no_channels_and_nothing_sent() -> None:
    clock = ManualClock()
    router = AlertRouter.from_config(None, clock=clock)
    assert router.notify(breach(), FakeAlertStateStore(clock)).outcome is Outcome.UNROUTED
    assert router.beat("").deliveries == ()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"https://hooks.slack.com/services/T0/B0/{TOKEN}", "https://hooks.slack.com/***"),
        (f"https://discord.com/api/webhooks/1/{TOKEN}", "https://discord.com/***"),
        ("https://hc-ping.com/0f8e4c1a-5b7d", "https://hc-ping.com/***"),
        (f"https://user:{TOKEN}@example.com:8443/x?token={TOKEN}", "https://example.com:8443/***"),
        (f"https://example.com/?key={TOKEN}", "https://example.com/***"),
        ("https://example.com", "https://example.com"),
        ("http://[::1]:8080/hook", "http://[::1]:8080/***"),
        ("not a url", "***"),
    ],
)
def test_mask_url_keeps_only_scheme_and_host(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_channel_repr_is_masked() -> None:
    for kind in (SlackWebhook, DiscordWebhook, GenericWebhook, DeadManPing):
        ch = kind("c", f"https://example.com/x/{TOKEN}")
        assert TOKEN not in repr(ch) and ch.target == "https://example.com/***"


# --------------------------------------------------------------------------------------------
# Runbooks and the docs' payload examples


def test_every_runbook_exists_and_the_index_lists_it() -> None:
    index = (ROOT / Runbook.INDEX).read_text()
    for rb in Runbook:
        path = ROOT / rb
        assert path.is_file(), f"{rb} is missing"
        if rb is not Runbook.INDEX:
            assert Path(rb).name in index, f"{rb} is not in runbooks/README.md"
            text = path.read_text()
            assert re.search(r"^1\. ", text, re.M), f"{rb} has no numbered steps"
            assert "`kalshi " in text, f"{rb} names no kalshi command"


def _kinds_the_package_posts() -> set[str]:
    """The kind of every `alert(KIND, ...)`, `_alert(KIND, ...)` and `alerts.post(KIND, ...)`
    call in the package written with a literal kind."""
    kinds: set[str] = set()
    for path in (ROOT / "kalshi_cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            called, first = node.func, node.args[0] if node.args else None
            poster = called.attr in ("alert", "_alert") or (
                called.attr == "post" and ast.unparse(called.value).endswith("alerts")
            )
            if poster and isinstance(first, ast.Constant) and isinstance(first.value, str):
                kinds.add(first.value)
    return kinds


def test_every_alert_kind_links_the_runbook_that_describes_it() -> None:
    """One table (`RUNBOOKS`) names each alert kind's runbook; each alert built links it, and
    the runbook's opening lines (before its first step) name the kind as written (`KIND`) and
    every severity it arrives with (a check's at each status it can end in)."""
    from kalshi_cli.checks import CHECK_NAMES, CheckResult, CheckStatus, alert_for
    from kalshi_cli.runner.loop.alerting import KINDS, TradeAlerts

    assert set(RUNBOOKS) == set(KINDS) | {f"check:{name}" for name in CHECK_NAMES}
    assert _kinds_the_package_posts() <= set(KINDS)

    router = RecordingRouter()
    loop = TradeAlerts(router, lambda: nullcontext(FakeAlertStateStore(ManualClock())))
    for kind in KINDS:
        loop.post(kind, "", "x", {})
    assert loop.close()
    built: dict[str, list[Alert]] = {a.fingerprint.removeprefix("trade."): [a] for a in router.sent}
    for name in CHECK_NAMES:
        alerts = [alert_for(CheckResult(name, status, "x")) for status in CheckStatus]
        built[f"check:{name}"] = [a for a in alerts if a is not None]
    wrong = []
    for kind, runbook in RUNBOOKS.items():
        if any(a.runbook != runbook for a in built[kind]):
            wrong.append(f"{kind}: links {built[kind][0].runbook}, not {runbook}")
        text = (ROOT / runbook).read_text()
        opening = " ".join((text if runbook is Runbook.INDEX else text.split("\n1. ")[0]).split())
        if f"`{kind}`" not in opening:
            wrong.append(f"{kind}: {runbook} does not name `{kind}` before its first step")
        for severity in sorted({a.severity for a in built[kind]}):
            if not re.search(rf"\b{severity}\b", opening, re.I):
                wrong.append(f"{kind}: {runbook} does not say {severity} before its first step")
        for status in {a.title.split()[-1] for a in built[kind] if kind.startswith("check:")}:
            if not re.search(rf"\b{status}\b", opening):  # the title's word: UNKNOWN, ...
                wrong.append(f"{kind}: {runbook} does not say {status} before its first step")
    assert not wrong, "\n".join(wrong)


DOC_NOTIFICATION = Alert(
    status=AlertStatus.FIRING,
    fingerprint="check:positions",
    severity=Severity.CRITICAL,
    title="KALSHI POSITIONS CRITICAL",
    summary="1 market over limit",
    runbook="runbooks/02-position-limit-breach.md",
    details={"check": "positions", "over_limit": "1 (warn 0, crit 0)"},
    ts=1_700_000_000.0,
)


def test_the_payload_examples_in_docs_are_what_is_sent() -> None:
    text = (ROOT / "docs" / "alerts.md").read_text()
    examples = dict(re.findall(r"<!-- example: (\w+) -->\s*```json\n(.*?)```", text, re.S))
    channels = {
        "slack": SlackWebhook("s", "https://h/x"),
        "discord": DiscordWebhook("d", "https://h/x"),
        "generic": GenericWebhook("g", "https://h/x"),
    }
    assert set(examples) >= {*channels, "generic_resolved"}
    for name, channel in channels.items():
        assert json.loads(examples[name]) == channel.payload(DOC_NOTIFICATION), name
    resolved = msgspec.structs.replace(
        DOC_NOTIFICATION,
        status=AlertStatus.RESOLVED,
        title="KALSHI POSITIONS OK",
        summary="all within limits (was: 1 market over limit)",
        details={},
        ts=1_700_000_600.0,
    )
    assert json.loads(examples["generic_resolved"]) == channels["generic"].payload(resolved)


def test_channel_types_are_found_from_the_channel_modules() -> None:
    """A channel is one module under `kalshi_cli/alerts/channels/` exporting CHANNEL: the config
    finds it by its kind with nothing else to register, listed in the documented order."""
    from kalshi_cli.alerts.channels import channel_types

    assert channel_types() == {
        "slack": SlackWebhook,
        "discord": DiscordWebhook,
        "telegram": TelegramBot,
        "email": EmailChannel,
        "generic": GenericWebhook,
        "deadman": DeadManPing,
    }
    assert list(channel_types()) == ["slack", "discord", "telegram", "email", "generic", "deadman"]
    with pytest.raises(ConfigError) as info:
        AlertRouter.from_config({"channels": {"x": {"type": "pager", "url": "https://h/p"}}})
    assert info.value.hint == "use one of: slack, discord, telegram, email, generic, deadman"


def test_retries_after_a_5xx_wait_a_jittered_backoff_under_its_cap(receiver: Receiver) -> None:
    # three attempts wait before the 2nd (up to 0.5 s) and the 3rd (up to 1 s): drawn, not fixed,
    # so checks of several cron runs retrying one receiver do not come back in step
    waited = []
    for _ in range(12):
        receiver.respond_with(reply(500, b"down"), reply(500, b"down"), reply(200))
        clock = ManualClock()
        report = AlertRouter.from_config(config(receiver), clock=clock).notify(
            breach(), FakeAlertStateStore(clock)
        )
        assert report.delivered and report.deliveries[0].attempts == 3
        waited.append(clock.monotonic())
    assert all(0 <= w <= 1.5 for w in waited)
    assert len(set(waited)) > 1
