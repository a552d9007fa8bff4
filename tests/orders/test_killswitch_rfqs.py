"""The kill switch closes the RFQ side too: an RFQ of ours whose quote we accepted executes as
soon as its maker confirms, with no further word from us, so a halted account must not leave
one open. `kalshi cancel-all` deletes the account's open RFQs (which cancels the quotes on them,
accepted ones included) and its own open and accepted quotes, on the real simulator."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client.communications import Quote, Rfq
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.clock import ManualClock
from kalshi_cli.errors import ServerError
from kalshi_cli.killswitch import RFQ_STEP_SHARE, KillSwitch
from kalshi_cli.models import BookSide, Order
from tests.conftest import SimHarness
from tests.orders.exchange_fakes import UnexpectedCalls

from .conftest import Kalshi
from .test_rfq_cli import T, as_account, ok_json


def test_cancel_all_closes_our_rfqs_and_quotes_so_an_accepted_quote_cannot_execute(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(T)
    other = as_account(prime, prime.new_account(), tmp_path / "other")
    # ours: an RFQ whose quote we accepted (the maker's confirmation alone would execute it)
    rfq_id = ok_json(kalshi("rfq", "create", T, "--count", "10", "--json"))["rfq_id"]
    quote_id = ok_json(
        other("quote", "create", rfq_id, "--yes-bid", "0.40", "--no-bid", "0.55", "--json")
    )["quote_id"]
    ok_json(kalshi("quote", "accept", quote_id, "--side", "yes", "--json"))
    # theirs: an RFQ we quoted on
    their_rfq = ok_json(other("rfq", "create", T, "--count", "5", "--json"))["rfq_id"]
    our_quote = ok_json(
        kalshi("quote", "create", their_rfq, "--yes-bid", "0.30", "--no-bid", "0.60", "--json")
    )["quote_id"]

    result = kalshi("cancel-all", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = ok_json(result)
    assert report["rfqs_closed"] == [rfq_id]
    assert report["quotes_cancelled"] == [our_quote]
    assert report["proven"] is True

    assert ok_json(kalshi("rfq", "show", rfq_id, "--json"))["status"] == "closed"
    assert ok_json(other("quote", "show", quote_id, "--json"))["status"] == "cancelled"
    assert ok_json(kalshi("quote", "show", our_quote, "--json"))["status"] == "cancelled"
    # the maker's confirmation no longer executes anything
    refused = other("quote", "confirm", quote_id, "--json")
    assert refused.exit_code != 0
    assert ok_json(kalshi("positions", "--json"))["positions"] == []
    # their RFQ is theirs: still open
    assert ok_json(other("rfq", "show", their_rfq, "--json"))["status"] == "open"


def test_a_ticker_scoped_kill_closes_only_that_markets_rfqs(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(T)
    elsewhere = "KXRFQCLI-26JAN01-B"
    prime.create_market(elsewhere)
    here = ok_json(kalshi("rfq", "create", T, "--count", "10", "--json"))["rfq_id"]
    there = ok_json(kalshi("rfq", "create", elsewhere, "--count", "10", "--json"))["rfq_id"]

    report = ok_json(kalshi("cancel-all", "--ticker", T, "--yes", "--json"))
    assert report["rfqs_closed"] == [here]
    assert ok_json(kalshi("rfq", "show", here, "--json"))["status"] == "closed"
    assert ok_json(kalshi("rfq", "show", there, "--json"))["status"] == "open"


class _FailingRfqs:
    """An exchange whose RFQ listing answers 503 forever."""

    def __init__(self) -> None:
        self.listings = 0

    def iter_rfqs(
        self,
        *,
        market_ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        mine: bool = False,
        subaccount: int | None = None,
    ) -> Iterator[Rfq]:
        self.listings += 1
        raise ServerError("the RFQ service is down", status=503, code="unavailable")

    def delete_rfq(self, rfq_id: str) -> None:
        raise AssertionError("nothing was listed, nothing may be deleted")

    def iter_quotes(self, *, status: str | None = None, mine: bool = False) -> Iterator[Quote]:
        raise AssertionError("the RFQ listing failed first")

    def delete_quote(self, quote_id: str, *, rfq_id: str | None = None) -> None:
        raise AssertionError("nothing was listed, nothing may be deleted")


class _OneRestingOrder(UnexpectedCalls):
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.resting = [_order("o-1")]
        self.cancelled_at: list[float] = []  # float-ok: monotonic

    def iter_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
    ) -> Iterator[Order]:
        return iter(list(self.resting))

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = None,
    ) -> list[CancelResult]:
        self.cancelled_at.append(self.clock.monotonic())
        self.resting = []
        return [CancelResult(order_id=o, reduced_by=Decimal(5), error=None) for o, _ in orders]


def _order(order_id: str) -> Order:
    return Order(
        order_id=order_id,
        client_order_id="",
        ticker="KXRFQ-A",
        book_side=BookSide.BID,
        status="resting",
        yes_price=Decimal("0.40"),
        fill_count=Decimal(0),
        remaining_count=Decimal(5),
        initial_count=Decimal(5),
        fees=Decimal(0),
        fill_cost=Decimal(0),
        created_time="2026-11-22T10:00:00Z",
        expiration_time="",
        raw={},
    )


def test_an_rfq_service_that_never_answers_holds_the_order_cancels_back_only_briefly() -> None:
    clock = ManualClock()
    exchange = _OneRestingOrder(clock)
    rfqs = _FailingRfqs()
    started = clock.monotonic()

    report = KillSwitch(
        exchange, None, clock, deadline_s=60, read_lag_s=0.0, communications=rfqs
    ).run(ticker="KXRFQ-A")

    assert exchange.cancelled_at, "the order was never cancelled"
    # the RFQ step has a share of the deadline, not all of it
    assert exchange.cancelled_at[0] - started <= RFQ_STEP_SHARE * 60 + 2.0
    assert rfqs.listings > 1  # retried within its share
    assert report.cancelled == ["o-1"]
    assert report.rfqs_closed == [] and "RFQs and quotes not listed: none closed" in report.errors
    assert report.proven  # the orders are proven gone; nothing of the RFQ side was sent
