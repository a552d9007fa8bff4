"""The client's RFQs and quotes against the simulator over loopback: every call (the quote paths
with and without the RFQ), a whole execution once the confirmation's execution timer ran out,
and refusals of bad input before anything is sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    ApiError,
    NotFoundError,
    OrderOutcomeUnknown,
    ValidationError,
)
from tests.client.test_client_sim import _client, _stats
from tests.conftest import REAL_CLOCK_WINDOW_S, SimHarness
from tests.openapi_check import RECORDER

T = "KXCOMMS-26JAN01-A"


@pytest.fixture
def timed_sim(tmp_path: Path) -> Iterator[SimHarness]:
    """A simulator on a test's clock, so that a confirmed quote's execution timer runs out when
    the test says; the clients sign with the real clock. The prime tier: the rate-limit buckets
    refill only as the test's clock moves."""
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim",
            scenario="empty",
            tier="prime",
            clock=ManualClock(time.time()),
            auth_window_s=REAL_CLOCK_WINDOW_S,
            response_hook=RECORDER.hook,
        )
    )
    yield harness
    harness.close()


def test_every_communications_call_against_the_simulator(timed_sim: SimHarness) -> None:
    sim = timed_sim
    sim.create_market(T)
    with _client(sim.account) as requester, _client(sim.new_account()) as maker:
        ids = {
            requester.communications.communications_id(),
            maker.communications.communications_id(),
        }
        assert len(ids) == 2 and all(len(i) == 32 for i in ids)

        rfq_id = requester.communications.create_rfq(T, contracts=Decimal(6), rest_remainder=False)
        rfq = maker.communications.get_rfq(rfq_id)
        assert (rfq.market_ticker, rfq.contracts, rfq.status, rfq.mine) == (
            T,
            Decimal(6),
            "open",
            False,
        )
        assert requester.communications.get_rfq(rfq_id).mine
        assert [r.rfq_id for r in maker.communications.iter_rfqs(status="open")] == [rfq_id]
        assert list(maker.communications.iter_rfqs(mine=True)) == []
        assert [r.rfq_id for r in requester.communications.iter_rfqs(mine=True, subaccount=0)] == [
            rfq_id
        ]

        first = maker.communications.create_quote(
            rfq_id, yes_bid=Decimal("0.40"), no_bid=Decimal("0.55")
        )
        second = maker.communications.create_quote(
            rfq_id, yes_bid=Decimal("0.41"), no_bid=Decimal(0)
        )
        statuses = {
            q.quote_id: q.status for q in requester.communications.iter_quotes(on_my_rfqs=True)
        }
        assert statuses == {first: "cancelled", second: "open"}  # a new quote replaces
        assert [
            q.quote_id for q in maker.communications.iter_quotes(rfq_id=rfq_id, status="open")
        ] == [second]
        # the quote paths scoped by the RFQ and the deprecated ones name the same quote
        scoped = requester.communications.get_quote(second, rfq_id=rfq_id)
        assert scoped == requester.communications.get_quote(second)
        assert (scoped.yes_bid, scoped.no_bid, scoped.yes_contracts) == (
            Decimal("0.41"),
            Decimal(0),
            Decimal(6),
        )

        requester.communications.accept_quote(second, "yes", rfq_id=rfq_id)
        assert maker.communications.get_quote(second).accepted_side == "yes"
        maker.communications.confirm_quote(second)
        assert maker.communications.get_quote(second).status == "confirmed"
        sim.run_out_execution_timers()
        done = maker.communications.get_quote(second)
        assert done.status == "executed" and done.creator_order_id
        assert requester.communications.get_quote(second).rfq_creator_order_id
        positions = {p.ticker: p.position for p in requester.portfolio.get_positions(ticker=T)}
        assert positions == {T: Decimal(6)}

        # a second RFQ, with its quote deleted, then the RFQ itself
        again = requester.communications.create_rfq(T, target_cost=Decimal("5.00"))
        quote = maker.communications.create_quote(
            again, yes_bid=Decimal("0.25"), no_bid=Decimal("0.70")
        )
        maker.communications.delete_quote(quote, rfq_id=again)
        assert maker.communications.get_quote(quote).status == "cancelled"
        requester.communications.delete_rfq(again)
        closed = requester.communications.get_rfq(again)
        assert (closed.status, closed.target_cost) == ("closed", Decimal("5.00"))
        with pytest.raises(NotFoundError):
            requester.communications.delete_rfq(again)
        with pytest.raises(ApiError):
            requester.communications.accept_quote(quote, "no")  # cancelled: not open


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("create_rfq", {"market_ticker": T}),  # no size
        ("create_rfq", {"market_ticker": T, "contracts": Decimal(1), "target_cost": Decimal(1)}),
        ("create_rfq", {"market_ticker": T, "contracts": Decimal("0.001")}),
        ("create_rfq", {"market_ticker": T, "contracts": Decimal(1), "subaccount": 64}),
        ("create_rfq", {"market_ticker": T, "contracts": Decimal(1), "subaccount": True}),
        (
            "create_rfq",
            {"market_ticker": T, "contracts": Decimal(1), "target_cost_excludes_fees": True},
        ),
        ("create_rfq", {"market_ticker": " ", "contracts": Decimal(1)}),
        ("create_quote", {"rfq_id": "r", "yes_bid": Decimal(1), "no_bid": Decimal("0.5")}),
        ("create_quote", {"rfq_id": "r", "yes_bid": Decimal("-0.1"), "no_bid": Decimal("0.5")}),
        ("create_quote", {"rfq_id": "r", "yes_bid": Decimal("0.12345"), "no_bid": Decimal(0)}),
        ("create_quote", {"rfq_id": "r", "yes_bid": Decimal(0), "no_bid": Decimal(0)}),
        ("create_quote", {"rfq_id": "r", "yes_bid": 0.4, "no_bid": Decimal(0)}),
        ("accept_quote", {"quote_id": "q", "side": "both"}),
        ("get_quote", {"quote_id": ""}),
        ("get_rfq", {"rfq_id": ""}),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    sim: SimHarness, call: str, kwargs: dict[str, Any]
) -> None:
    with _client(sim.account) as client:
        before = _stats(sim.admin_url, sim.account.key_id)["total_requests"]
        with pytest.raises(ValidationError):
            getattr(client.communications, call)(**kwargs)
        assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == before


def test_a_confirmation_whose_answer_is_lost_is_an_unknown_outcome_never_resent(
    sim: SimHarness,
) -> None:
    """The exchange confirms the quote (its orders are placed when the execution timer runs
    out) and the answer never arrives: the client says the orders may or may not exist (exit 10
    on the command line) and does not confirm again."""
    sim.create_market(T)
    maker_account = sim.new_account()
    with _client(sim.account) as requester, _client(maker_account) as maker:
        rfq_id = requester.communications.create_rfq(T, contracts=Decimal(2))
        quote_id = maker.communications.create_quote(
            rfq_id, yes_bid=Decimal("0.40"), no_bid=Decimal("0.55")
        )
        requester.communications.accept_quote(quote_id, "yes")
        sim.set_faults(drop_response_after_commit_rate=1.0)
        try:
            with pytest.raises(OrderOutcomeUnknown) as unknown:
                maker.communications.confirm_quote(quote_id)
        finally:
            sim.clear_faults()
        assert f"kalshi quote show {quote_id}" in unknown.value.one_line()
        sent = _stats(sim.admin_url, maker_account.key_id)["requests"]
        assert sum(n for path, n in sent.items() if path.endswith("/confirm")) == 1  # once
        assert maker.communications.get_quote(quote_id).status == "confirmed"
