"""The kill switch closes the RFQ side too: an RFQ of ours whose quote we accepted executes once
its maker confirms, with no further word from us, so a halted account must not leave one open.
`kalshi cancel-all` deletes the account's open RFQs (which cancels the quotes on them, accepted
ones included) and its own open and accepted quotes, on the real simulator."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client.communications import Quote, Rfq
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch.report import KillReport
from kalshi_cli.services.killswitch.rfqs import RFQ_STEP_SHARE
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ServerError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import BookSide
from tests.cli.test_rfq_cli import T, accepted_quote, ok_json
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, kalshi_as
from tests.services.killswitch_fakes import UnexpectedCalls


def test_cancel_all_closes_our_rfqs_and_quotes_so_an_accepted_quote_cannot_execute(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(T)
    other = kalshi_as(prime.new_account(), tmp_path / "other")
    # ours: an RFQ whose quote we accepted (the maker's confirmation alone would execute it)
    rfq_id, quote_id = accepted_quote(kalshi, other)
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
        self.cancelled_at: list[float] = []  # monotonic

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
        created_time="2026-11-22T10:00:00Z",
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
    assert exchange.cancelled_at[0] - started <= RFQ_STEP_SHARE * 60  # no wait past its share
    assert rfqs.listings > 1  # retried within its share
    assert report.cancelled == ["o-1"]
    assert report.rfqs_closed == [] and "RFQs and quotes not listed: none closed" in report.errors
    # the orders are gone, but the RFQ side was never seen: an accepted quote on our RFQ would
    # execute on its maker's confirmation alone
    assert report.left == [] and not report.proven
    assert report.errors[-1] == "RFQs and quotes not listed again: their closing is not proven"


def _rfq(rfq_id: str, ticker: str = "KXRFQ-A") -> Rfq:
    return Rfq(
        rfq_id=rfq_id,
        market_ticker=ticker,
        status="open",
        contracts=Decimal(10),
        creator_id="c-1",
        created_ts="2026-11-22T10:00:00Z",
    )


def _quote(quote_id: str, status: str, ticker: str = "KXRFQ-A") -> Quote:
    return Quote(
        quote_id=quote_id,
        rfq_id=f"rfq-of-{quote_id}",
        market_ticker=ticker,
        status=status,
        yes_bid=Decimal("0.40"),
        no_bid=Decimal("0.55"),
        contracts=Decimal(10),
        accepted_side="yes" if status == "accepted" else None,
        created_ts="2026-11-22T10:00:00Z",
        updated_ts="2026-11-22T10:00:00Z",
    )


class _Comms:
    """An RFQ service holding `rfqs` and our `quotes`, recording what it is asked; a delete takes
    an item away unless `stuck` names it (the exchange says yes and keeps it open)."""

    def __init__(
        self, rfqs: list[Rfq], quotes: list[Quote], stuck: frozenset[str] = frozenset()
    ) -> None:
        self.rfqs, self.quotes, self.stuck = rfqs, quotes, stuck
        self.rfq_asks: list[dict[str, object]] = []
        self.quote_asks: list[dict[str, object]] = []
        self.deleted: list[tuple[str, str | None]] = []

    def iter_rfqs(
        self,
        *,
        market_ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        mine: bool = False,
        subaccount: int | None = None,
    ) -> Iterator[Rfq]:
        self.rfq_asks.append(
            {"market": market_ticker, "event": event_ticker, "status": status, "mine": mine,
             "subaccount": subaccount}
        )  # fmt: skip
        return iter([r for r in self.rfqs if market_ticker in (None, r.market_ticker)])

    def delete_rfq(self, rfq_id: str) -> None:
        self.deleted.append((rfq_id, None))
        if rfq_id not in self.stuck:
            self.rfqs = [r for r in self.rfqs if r.rfq_id != rfq_id]

    def iter_quotes(self, *, status: str | None = None, mine: bool = False) -> Iterator[Quote]:
        self.quote_asks.append({"status": status, "mine": mine})
        return iter([q for q in self.quotes if q.status == status])

    def delete_quote(self, quote_id: str, *, rfq_id: str | None = None) -> None:
        self.deleted.append((quote_id, rfq_id))
        if quote_id not in self.stuck:
            self.quotes = [q for q in self.quotes if q.quote_id != quote_id]


class _NothingResting(UnexpectedCalls):
    def __init__(self, subaccount: int | None = None) -> None:
        self.subaccount = subaccount

    def iter_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
    ) -> Iterator[Order]:
        return iter(())

    def batch_cancel(
        self,
        orders: list[tuple[str, str | None]],
        *,
        subaccounts: dict[str, int] | None = None,
    ) -> list[CancelResult]:
        raise AssertionError("nothing rests: nothing to cancel")

    def cancel_all_orders(self) -> None:
        pass


def _kill(
    comms: _Comms,
    *,
    subaccount: int | None = None,
    ticker: str | None = None,
    event_ticker: str | None = None,
) -> KillReport:
    switch = KillSwitch(
        _NothingResting(subaccount), None, ManualClock(), deadline_s=60, communications=comms
    )
    return switch.run(ticker=ticker, event_ticker=event_ticker)


def test_our_open_and_accepted_quotes_are_cancelled_each_on_its_rfq() -> None:
    comms = _Comms([], [_quote("q-open", "open"), _quote("q-acc", "accepted")])

    report = _kill(comms, ticker="KXRFQ-A")

    assert report.quotes_cancelled == ["q-open", "q-acc"]
    assert comms.deleted == [("q-open", "rfq-of-q-open"), ("q-acc", "rfq-of-q-acc")]
    # only the account's own, open or accepted
    assert comms.quote_asks[:2] == [
        {"status": "open", "mine": True},
        {"status": "accepted", "mine": True},
    ]
    assert report.proven and report.communications_left == []


def test_the_scope_reaches_the_listings() -> None:
    comms = _Comms([_rfq("r-a")], [_quote("q-a", "open"), _quote("q-b", "open", "KXRFQ-B")])

    report = _kill(comms, subaccount=3, ticker="KXRFQ-A")
    assert comms.rfq_asks[0] == {
        "market": "KXRFQ-A", "event": None, "status": "open", "mine": True, "subaccount": 3
    }  # fmt: skip
    assert report.quotes_cancelled == ["q-a"]  # another market's quote stays

    by_event = _Comms([_rfq("r-e")], [_quote("q-e", "open")])
    report = _kill(by_event, event_ticker="KXRFQ")
    assert by_event.rfq_asks[0]["event"] == "KXRFQ"
    assert report.rfqs_closed == ["r-e"]
    # an open quote executes only on our confirmation, which HALTED refuses: with an event,
    # only the confirmed ones are asked for
    assert by_event.quote_asks and all(
        ask == {"status": "confirmed", "mine": True} for ask in by_event.quote_asks
    )
    assert report.quotes_cancelled == []


def test_an_event_kill_finds_our_confirmed_quote_among_the_events_open_rfqs() -> None:
    """A quote names its market, not its event: it is in the event when its RFQ is. Only the
    open RFQs are asked for, as a confirmed quote's RFQ stays open until the execution (a
    listing of every RFQ the event ever had would spend the deadline on closed ones)."""
    rfq, quote = _rfq("rfq-of-q-c"), _quote("q-c", "confirmed")  # its delete is refused
    comms = _Comms([rfq], [quote], stuck=frozenset({"rfq-of-q-c", "q-c"}))

    report = _kill(comms, event_ticker="KXRFQ")

    assert comms.rfq_asks[1] == {
        "market": None, "event": "KXRFQ", "status": "open", "mine": False, "subaccount": None
    }  # fmt: skip
    assert "q-c" in report.communications_left and not report.proven


def test_an_rfq_still_open_after_its_delete_leaves_the_run_unproven() -> None:
    comms = _Comms([_rfq("r-stuck")], [], stuck=frozenset({"r-stuck"}))

    report = _kill(comms)

    assert report.rfqs_closed == ["r-stuck"]
    assert report.communications_left == ["r-stuck"]
    assert report.proven is False
    assert len(comms.rfq_asks) == 2  # listed again after the delete: the proof
