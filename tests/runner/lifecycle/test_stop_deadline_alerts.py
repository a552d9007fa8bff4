"""The last alerts of a stop go out within its one deadline, or are let go of.

After the stop, `kalshi trade` waited up to 10 s for its alert thread to send what was queued
(the dead-man's last ping, a `stop_not_proven` alert) before it printed the summary and exited.
That wait came on top of `trade.stop_deadline_s` (20 s by default): with a webhook that takes a
connection and never answers, the process reached the shipped unit's `TimeoutStopSec=30`, where
systemd SIGKILLs it before its summary and exit code. Here a dead-man receiver never answers: the
run still ends within its stop deadline of the stop's first request, alerts never blocking it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.vocabulary.keys import load_private_key
from tests.alerts.receiver import Receiver, hang, receiving
from tests.conftest import SimHarness
from tests.runner.lifecycle.test_stop_deadline import MARGIN_S
from tests.runner.simproc import Book, client_for, log_events, market_maker_session

TICKER = "KXSTOPALERT-SIM-A"
STOP_DEADLINE_S = 3.0
PING = "/ping/5c2d9e0a-1b3f-4a6e-8d7c-0123456789ab"


@pytest.fixture
def hanging_receiver() -> Iterator[Receiver]:
    """A dead-man receiver on loopback that takes each request and never answers."""
    with receiving() as rec:
        rec.respond_with(hang)
        yield rec


class StopSeen(httpx.HTTPTransport):
    """The real transport, noting when the stop's first request (its group's trigger) left."""

    def __init__(self) -> None:
        super().__init__()
        self.stop_began: float | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.stop_began is None and request.url.path.endswith("/trigger"):
            self.stop_began = time.monotonic()
        return super().handle_request(request)


def test_a_webhook_that_never_answers_does_not_hold_the_exit_past_the_stop_deadline(
    sim: SimHarness, tmp_path: Path, hanging_receiver: Receiver
) -> None:
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(account.private_key_path))
    transport = StopSeen()
    client = KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, transport=transport
    )
    log = tmp_path / "trade.log"
    out = io.StringIO()
    # the channel's own bounds as shipped (5 s a try, 3 tries): longer than a stop can wait
    alerts = {"channels": {"dm": {"type": "deadman", "url": hanging_receiver.url(PING)}}}
    config = TradeConfig(
        strategies={"market-maker": {}},
        trade={"stop_deadline_s": STOP_DEADLINE_S},
        alerts=alerts,
    )
    try:
        with client:
            summary = market_maker_session(
                account, client, TICKER, tmp_path, config, duration_s=2.0, out=out
            )
            returned = time.monotonic()
    finally:
        other.close()
    assert hanging_receiver.seen, "the dead-man receiver was pinged"
    events = [e["event"] for e in log_events(log)]
    assert "order_placed" in events and "stop_proven" in events, events[-10:]
    assert summary.not_proven == () and "summary:" in out.getvalue()
    assert transport.stop_began is not None, "the stop triggered the session's group"
    # the stop's deadline runs from its start: the summary and the exit come within it (the
    # old code waited 10 s more for the alert thread)
    took = returned - transport.stop_began
    assert took < STOP_DEADLINE_S + MARGIN_S, took
    assert "alerts_unsent" in events, "the log says the last ping was given up on"
