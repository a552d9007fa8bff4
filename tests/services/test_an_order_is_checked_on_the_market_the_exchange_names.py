"""A ticker is spelled as the exchange spells it once its market is read. The spec says nothing
of whether Kalshi finds a market whatever the case of its ticker (its tickers are written in
upper case; a category's match is "exact and case-sensitive"), so a ticker is sent as typed and
never changed locally: an exchange that does not know the spelling answers 404, and the order is
refused before anything is sent (exit 6). One that finds the market names it in its answer, and
from then on the order is that market's: its risk checks count that market's position and
orders, and its request names it."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any, cast

import pytest

from kalshi_cli.client.markets import MarketsApi
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.context import CancelScope, refuse_an_unknown_scope
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import NotFoundError, ValidationError
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import connect, connect_as


class CaseBlindMarkets(MarketsApi):
    """The market reads of an exchange that finds a market whatever the case of its ticker."""

    def get_market(self, ticker: str) -> Market:
        return super().get_market(ticker.upper())

    def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> dict[str, Any]:
        return super().get_event(event_ticker.upper(), with_nested_markets=with_nested_markets)


def test_an_order_for_a_ticker_the_exchange_finds_in_other_case_is_held_to_that_markets_limit(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    """Before: the limit counted the typed spelling's market, which held nothing, and let an
    order through that took the market the exchange named over the limit."""
    with connect(prime.account) as client:  # 6 resting on the NO side
        client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.80"), D(6)))
    with connect_as(CaseBlindMarkets, prime.account) as client:
        service = OrderService(client, store, limits=RiskLimits(max_position_per_market=D(10)))
        with pytest.raises(ValidationError) as refused:
            service.prepare(OrderRequest(ticker.lower(), Side.NO, Action.BUY, D(5), D("0.20")))
        assert refused.value.code == "POSITION_LIMIT"
        within = OrderRequest(ticker.lower(), Side.YES, Action.BUY, D(4), D("0.20"))
        prepared = service.prepare(within)
        assert (prepared.create.ticker, prepared.request.ticker) == (ticker, ticker)


def test_a_ticker_the_exchange_does_not_know_in_that_case_is_refused_before_sending(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    with connect(prime.account) as client:
        service = OrderService(client, store)
        with pytest.raises(NotFoundError) as unknown:
            service.prepare(OrderRequest(ticker.lower(), Side.YES, Action.BUY, D(1), D("0.20")))
    assert unknown.value.code == "UNKNOWN_TICKER"
    assert prime.stats()["order_create_requests"] == 0


def test_a_cancel_of_a_market_the_exchange_finds_in_other_case_cancels_that_markets_orders(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    """Before: the orders were listed by the typed spelling, which names no order, and the
    market's resting order was left while the cancel said it had none."""
    with connect(prime.account) as client:
        placed = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.20"), D(1)))
    with connect_as(CaseBlindMarkets, prime.account) as client:
        done = OrderService(client, store).cancels.cancel_market(ticker.lower())
    assert list(done.cancelled) == [placed.order_id]
    assert done.unconfirmed is None


def test_a_cancel_aimed_at_an_event_typed_in_other_case_aims_at_the_event_the_exchange_names(
    prime: SimHarness, ticker: str
) -> None:
    with connect_as(CaseBlindMarkets, prime.account) as client:
        event = client.markets.get_market(ticker).event_ticker
        named = refuse_an_unknown_scope(client.markets, SystemClock(), event_ticker=event.lower())
    assert named == CancelScope(None, event)


class EventsAnsweredWithout(MarketsApi):
    """Event reads answered 200 with `answer` in place of the event's object."""

    answer: dict[str, Any] | None = None

    def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> dict[str, Any]:
        return self.answer or {}


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({}, id="no event"),
        pytest.param({"event": {"title": "x"}}, id="no event_ticker"),
        pytest.param({"event": {"event_ticker": ""}}, id="an empty event_ticker"),
    ],
)
def test_a_cancel_aimed_at_an_event_whose_answer_names_none_aims_at_the_event_typed(
    prime: SimHarness, ticker: str, answer: dict[str, Any]
) -> None:
    """An answer that names no event keeps the spelling given: never a scope of no event, which
    the kill switch would take for every market."""
    with connect_as(EventsAnsweredWithout, prime.account) as client:
        event = client.markets.get_market(ticker).event_ticker
        cast(EventsAnsweredWithout, client.markets).answer = answer
        named = refuse_an_unknown_scope(client.markets, SystemClock(), event_ticker=event)
    assert named == CancelScope(None, event)
