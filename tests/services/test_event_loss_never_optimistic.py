"""An event's worst case is never optimistic: its markets are the union of the exchange's
listing (`GET /events/{event_ticker}`) and every market the account holds or rests in under that
event ticker, so an answer that lists fewer markets than the account is in refuses the order the
whole listing would refuse; an answer that cannot be read refuses it as the exchange's (exit 7),
never as an error of the toolkit's (docs/risk.md "The limit on an event's loss")."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import FREE, EventAnswered, Kalshi, connect

EVENT = "KXUNION"
A, B = f"{EVENT}-A", f"{EVENT}-B"
PLACE_B = ("order", "place", B, "--side", "yes", "--action", "buy", "--count", "1")


def _without_markets(answer: dict[str, object]) -> bytes:
    return json.dumps({**answer, "markets": []}).encode()


@pytest.fixture
def resting_on_a(prime: SimHarness, tmp_path: Path) -> None:
    """YES 1 at $0.60 resting on A of a mutually exclusive event of A and B, and a $1.00 limit
    on the event's loss: YES 1 at $0.60 on B as well loses $1.20 should neither settle yes."""
    for n, ticker in enumerate((A, B)):
        extra = FREE if n == 0 else {}
        prime.create_market(ticker, event_ticker=EVENT, collateral_return_type="MECNET", **extra)
    with connect(prime.account) as client:
        client.orders.create_order(CreateOrder(A, BookSide.BID, D("0.60"), D(1)))
    config = tmp_path / "home" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("risk:\n  max_event_loss: 1.00\n", encoding="utf-8")


def _creates(prime: SimHarness) -> int:
    return int(prime.stats()["order_create_requests"])


def test_the_whole_listing_refuses_the_order(
    prime: SimHarness, kalshi: Kalshi, resting_on_a: None
) -> None:
    before = _creates(prime)
    refused = kalshi(*PLACE_B, "--price", "0.60")
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "-$1.20 (none yes)" in refused.stderr
    assert _creates(prime) == before


@pytest.mark.parametrize(
    "answer",
    [_without_markets, lambda answer: json.dumps({**answer, "markets": None}).encode()],
    ids=["markets-empty", "markets-null"],
)
def test_a_listing_that_leaves_out_a_market_the_account_rests_in_refuses_alike(
    prime: SimHarness,
    kalshi: Kalshi,
    resting_on_a: None,
    answer: Callable[[dict[str, object]], bytes],
) -> None:
    transport = EventAnswered(EVENT, answer)
    before = _creates(prime)
    refused = kalshi(
        *PLACE_B, "--price", "0.60", client=lambda: connect(prime.account, transport=transport)
    )
    assert transport.asked >= 1  # the event was read, and answered without its markets
    assert refused.exit_code == ExitCode.REJECTED, refused.output
    assert "EVENT_LOSS" in refused.stderr or "event KXUNION" in refused.stderr
    assert "-$1.20 (none yes)" in refused.stderr
    assert _creates(prime) == before


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>bad gateway</html>", b"{}", b"[]", b'{"markets": []}'],
    ids=["empty", "not-json", "no-event", "a-list", "no-event-object"],
)
def test_an_event_answer_that_cannot_be_read_refuses_the_order_as_the_exchanges(
    prime: SimHarness, kalshi: Kalshi, resting_on_a: None, body: bytes
) -> None:
    transport = EventAnswered(EVENT, lambda answer: body)
    before = _creates(prime)
    refused = kalshi(
        *PLACE_B, "--price", "0.60", client=lambda: connect(prime.account, transport=transport)
    )
    assert refused.exit_code == ExitCode.UNREACHABLE, refused.output
    assert f"event {EVENT}" in refused.stderr
    assert _creates(prime) == before
