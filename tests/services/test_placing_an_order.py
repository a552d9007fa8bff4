"""The path of a new order, exactly (docs/mutation.md names the mutants of orders.py it fails):
each local refusal's code, words and hint with nothing sent or recorded, the order the exchange
receives, the intent recorded before sending as the trader wrote it, and what the state file
says after a refusal, a dead connection, a lost answer, a fill and a cancelled remainder."""

from __future__ import annotations

import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CreateOrder, CreateOrderResult
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    ApiError,
    NotFoundError,
    OrderOutcomeUnknown,
    TradingHaltedError,
    TransportError,
    ValidationError,
)
from kalshi_cli.vocabulary.keys import generate_private_key
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order, connect, connect_as, make_markets
from tests.services.test_state_file_says_what_the_exchange_did import (
    ReconcileInFlight,
    beside_a_reconcile,
)

NOW = 1_800_000_000.0


def creates(prime: SimHarness) -> int:
    """How many order creates the exchange has received from the test's account."""
    account: dict[str, int] = prime.stats()["accounts"].get(prime.account.key_id, {})
    return account.get("order_create_requests", 0)


def refusal(
    prime: SimHarness, service: OrderService, request: OrderRequest
) -> ValidationError | TradingHaltedError:
    """`prepare` then `place`: the refusal raised, with nothing sent nor recorded."""
    before = creates(prime)
    with pytest.raises((ValidationError, TradingHaltedError)) as refused:
        service.place(service.prepare(request))
    assert creates(prime) == before
    assert service.store.orders.intents() == []
    assert isinstance(refused.value, (ValidationError, TradingHaltedError))
    return refused.value


def buy_yes(ticker: str, count: int = 2, price: str = "0.30", **kwargs: Any) -> OrderRequest:
    return OrderRequest(ticker, Side.YES, Action.BUY, D(count), D(price), **kwargs)


# ---------------------------------------------------------------------------- refusals


def test_reduce_only_without_immediate_or_cancel_says_the_api_rule(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    refused = refusal(prime, OrderService(client, store), buy_yes(ticker, reduce_only=True))
    assert isinstance(refused, ValidationError)
    assert refused.message == (
        "reduce_only: works only with tif ioc (API 3.31.0 refuses any other)"
    )


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_an_expiry_on_an_order_that_is_not_good_till_canceled_is_refused(
    prime: SimHarness, client: KalshiClient, store: Store, tif: TimeInForce, ticker: str
) -> None:
    request = buy_yes(ticker, time_in_force=tif, expiration_time=int(NOW) + 60)
    refused = refusal(prime, OrderService(client, store), request)
    assert isinstance(refused, ValidationError)
    assert (refused.code, refused.message) == (
        "EXPIRY_NEEDS_GTC",
        "expires: works only with tif gtc",
    )


def test_a_client_order_id_already_in_the_state_file_is_refused_and_not_sent_again(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    service.place(service.prepare(buy_yes(ticker, client_order_id="mine-1")))
    sent = creates(prime)

    with pytest.raises(ValidationError) as refused:
        service.prepare(buy_yes(ticker, count=5, client_order_id="mine-1"))

    assert refused.value.code == "DUPLICATE_CLIENT_ORDER_ID"
    assert refused.value.message == "client order id mine-1 is already in the state file"
    assert refused.value.hint == (
        "every order needs a fresh one; leave --client-order-id out for a UUID"
    )
    assert creates(prime) == sent
    (only,) = store.orders.intents()
    assert only.count == D(2)


@pytest.mark.parametrize("state", ["HALTED", "SAFE_MODE", "REDUCING"])
def test_a_blocking_trading_state_refuses_a_new_order_with_its_reason(
    prime: SimHarness, client: KalshiClient, store: Store, state: str, ticker: str
) -> None:
    store.trading.set_trading_state(state, reason="loss limit hit", source="test")
    refused = refusal(prime, OrderService(client, store), buy_yes(ticker))
    assert isinstance(refused, TradingHaltedError)
    assert refused.message == f"trading is {state} (loss limit hit); no new orders"
    assert refused.hint == "`kalshi status` shows why; `kalshi resume` lifts it"


def test_reducing_lets_a_reduce_only_order_through_prepare_and_submit(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 2)
    service.place(service.prepare(buy_yes(ticker)))  # 2 YES held
    store.trading.set_trading_state("REDUCING", reason="loss limit hit", source="test")
    another_accounts_order(prime, ticker, BookSide.BID, "0.25", 2)

    closing = OrderRequest(
        ticker,
        Side.YES,
        Action.SELL,
        D(2),
        D("0.25"),
        time_in_force=TimeInForce.IOC,
        reduce_only=True,
    )
    outcome = service.place(service.prepare(closing))

    assert (outcome.status, outcome.fill_count) == ("executed", D(2))
    intent = store.orders.get_intent(outcome.client_order_id)
    assert intent is not None and (intent.reduce_only, intent.status) == (True, "executed")


def test_an_order_prepared_before_a_halt_is_refused_at_submit_saying_not_sent(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    prepared = service.prepare(buy_yes(ticker))
    store.trading.set_trading_state("HALTED", reason="kill switch", source="test")

    with pytest.raises(TradingHaltedError) as refused:
        service.place(prepared)

    assert refused.value.message == "trading is HALTED (kill switch); not sent"
    assert store.orders.intents() == [] and creates(prime) == 0


def test_the_order_cost_limit_says_the_cost_the_limit_and_what_to_do(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(client, store, limits=RiskLimits(max_order_cost=D(5)))
    refused = refusal(prime, service, buy_yes(ticker, count=20, price="0.30"))
    assert isinstance(refused, ValidationError)
    assert refused.code == "MAX_ORDER_COST"
    assert refused.message == "order cost $6.00 is over the maximum order cost $5.00"
    assert refused.hint == "lower the count, or raise risk.max_order_cost"
    # exactly at the limit is allowed
    assert service.prepare(buy_yes(ticker, count=20, price="0.25")).cost == D(5)


def test_the_order_cost_limit_counts_only_the_part_that_opens_a_position(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    """Held: 10 NO (a short YES position), in this market; another market's position, and a
    short one, release nothing here."""
    ticker, other = make_markets(prime, 2)
    with connect(prime.new_account()) as buyer:
        buyer.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.50"), D(10)))
        buyer.orders.create_order(CreateOrder(other, BookSide.BID, D("0.50"), D(30)))
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.50"), D(10)))  # 10 NO held
    client.orders.create_order(
        CreateOrder(other, BookSide.ASK, D("0.50"), D(30))
    )  # 30 NO held there
    limited = OrderService(client, store, limits=RiskLimits(max_order_cost=D(5)))

    # buying YES closes NO: 10 close, 10 open at 0.50 = $5, at the limit
    limited.prepare(buy_yes(ticker, count=20, price="0.50"))
    # 11 open at 0.50: over it (the 30 NO of the other market close nothing here)
    with pytest.raises(ValidationError) as over:
        limited.prepare(buy_yes(ticker, count=21, price="0.50"))
    assert over.value.message == "order cost $10.50 is over the maximum order cost $5.00"
    # selling YES (an ask) opens more NO: nothing it closes
    with pytest.raises(ValidationError) as opening:
        limited.prepare(OrderRequest(ticker, Side.NO, Action.BUY, D(11), D("0.50")))
    assert opening.value.code == "MAX_ORDER_COST"


def test_the_position_limit_says_what_it_would_reach_and_what_to_do(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    ticker, other = make_markets(prime, 2)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 4)
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.30"), D(4)))  # 4 YES held
    client.orders.create_order(
        CreateOrder(other, BookSide.BID, D("0.10"), D(50))
    )  # not this market
    service = OrderService(client, store, limits=RiskLimits(max_position_per_market=D(10)))
    # 4 held + 6 more is exactly the limit: allowed, and the worst case after is what
    # `--dry-run` shows
    assert service.prepare(buy_yes(ticker, count=6, price="0.20")).exposure_after == D(10)
    refused = refusal(prime, service, buy_yes(ticker, count=7, price="0.20"))
    assert isinstance(refused, ValidationError)
    assert refused.code == "POSITION_LIMIT"
    assert refused.message == (
        f"{ticker}: position plus resting orders would reach 11.00 contracts, over the limit of 10"
    )
    assert refused.hint == (
        "lower the count or cancel resting orders in the market, or raise "
        "risk.max_position_per_market"
    )


def test_an_order_that_shrinks_the_worst_case_passes_a_limit_already_exceeded(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.20"), D(15)))  # YES side 15
    service = OrderService(client, store, limits=RiskLimits(max_position_per_market=D(10)))

    # a NO bid of 5 (an ask): the NO side goes to 5, the worst case stays 15: not grown
    prepared = service.prepare(OrderRequest(ticker, Side.NO, Action.BUY, D(5), D("0.70")))
    assert prepared.exposure_after == D(15)
    with pytest.raises(ValidationError) as refused:
        service.prepare(buy_yes(ticker, count=1, price="0.20"))
    assert refused.value.code == "POSITION_LIMIT"


# ---------------------------------------------------------------------------- what is sent


class Watching(OrdersApi):
    """A real client that keeps what the state file held for an order at the moment it was
    sent (the intent must be written first)."""

    store: Store
    seen: list[IntentRecord | None]

    def create_order(self, order: CreateOrder) -> CreateOrderResult:
        self.seen.append(self.store.orders.get_intent(order.client_order_id))
        return super().create_order(order)


def test_the_intent_is_recorded_pending_as_the_trader_wrote_it_before_the_order_is_sent(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    with connect_as(Watching, prime.account) as client:
        client.area.store, client.area.seen = store, []
        service = OrderService(client, store, clock=ManualClock(NOW))
        request = OrderRequest(
            ticker,
            Side.NO,
            Action.BUY,
            D(3),
            D("0.65"),
            post_only=True,
            expiration_time=int(NOW) + 3600,
            client_order_id="c-7",
            strategy="fade",
            model_fair=D("0.6"),
            reason="edge 0.05",
        )
        prepared = service.prepare(request)
        assert prepared.describe() == {
            "ticker": ticker,
            "side": "no",
            "action": "buy",
            "price": "0.6500",
            "count": "3.00",
            "book_side": "ask",
            "yes_price": "0.3500",
            "max_cost": "1.9500",
            "client_order_id": "c-7",
        }
        outcome = service.place(prepared)

        (pending,) = client.area.seen
        assert pending == IntentRecord(
            client_order_id="c-7",
            ticker=ticker,
            book_side=BookSide.ASK,
            price=D("0.35"),
            count=D(3),
            side=Side.NO,
            action=Action.BUY,
            status="pending",
            order_id=None,
            filled=D(0),
            remaining=None,
            strategy="fade",
            model_fair=D("0.6"),
            reason="edge 0.05",
            error=None,
            created_at=NOW,
            updated_at=NOW,
            time_in_force="good_till_canceled",
            post_only=True,
            reduce_only=False,
        )
        # what the exchange received, and the answer recorded on the same row
        order = client.orders.get_order(outcome.order_id or "")
        assert (order.client_order_id, order.ticker, order.book_side) == ("c-7", ticker, "ask")
        assert (order.yes_price, order.remaining_count) == (D("0.35"), D(3))
        assert order.expiration_time == "2027-01-15T09:00:00.000Z"  # NOW + 3600
        recorded = store.orders.get_intent("c-7")
        assert recorded is not None
        assert (recorded.status, recorded.order_id, recorded.filled, recorded.remaining) == (
            "resting",
            order.order_id,
            D(0),
            D(3),
        )
        assert (recorded.strategy, recorded.model_fair, recorded.reason) == (
            "fade",
            D("0.6"),
            "edge 0.05",
        )


def test_a_post_only_order_that_would_cross_is_refused_by_the_exchange_not_filled(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 2)

    with pytest.raises(ApiError):
        service.place(service.prepare(buy_yes(ticker, post_only=True, client_order_id="c-8")))

    intent = store.orders.get_intent("c-8")
    assert intent is not None and (intent.status, intent.post_only) == ("rejected", True)
    assert list(client.portfolio.get_positions(ticker=ticker)) == []


def test_a_refusal_by_the_exchange_is_recorded_rejected_with_its_reason(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    # a post-only bid at a resting ask's price would take: only the exchange's book says so
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 5)
    with connect(prime.account) as client:
        service = OrderService(client, store)
        request = buy_yes(ticker, count=10, client_order_id="c-2", post_only=True)
        with pytest.raises(ApiError) as refused:
            service.place(service.prepare(request))

    assert refused.value.status == 400
    intent = store.orders.get_intent("c-2")
    assert intent is not None
    assert (intent.status, intent.error) == ("rejected", refused.value.message)


def test_an_order_that_could_not_be_sent_is_recorded_rejected_with_the_reason(
    store: Store,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    # the connection is refused before any byte of the order is sent
    with KalshiClient(
        api_base="http://127.0.0.1:9/trade-api/v2",
        key_id="k",
        private_key=generate_private_key(),
        transport=httpx.MockTransport(refuse),
        max_attempts=1,
        clock=ManualClock(NOW),
    ) as client:
        service = OrderService(client, store)
        create = CreateOrder("KXT-EV-M00", BookSide.BID, D("0.30"), D(2), client_order_id="c-3")
        with pytest.raises(TransportError) as failed:
            service.submit(create, side=Side.YES, action=Action.BUY)

    intent = store.orders.get_intent("c-3")
    assert intent is not None
    assert (intent.status, intent.error) == ("rejected", failed.value.message)


def test_a_lost_answer_is_recorded_unknown_with_the_failure_before_it_is_looked_up(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    prepared = service.prepare(buy_yes(ticker, client_order_id="c-4"))
    prime.set_faults(write_503_rate=1.0)  # refused with a 503: nothing placed

    with pytest.raises(OrderOutcomeUnknown) as unknown:
        service.place(prepared)

    prime.clear_faults()
    intent = store.orders.get_intent("c-4")
    assert intent is not None and intent.status == "unknown" and intent.error
    assert unknown.value.message.startswith(intent.error + "; the answer was lost")


@pytest.mark.parametrize(
    "case",
    [
        (TimeInForce.GTC, 2, "executed", D(2), D(0)),  # filled whole: executed
        (TimeInForce.GTC, 3, "resting", D(2), D(1)),  # the rest rests
        (TimeInForce.IOC, 5, "canceled", D(2), D(0)),  # the rest is cancelled
    ],
)
def test_the_status_recorded_after_the_answer_is_what_happened_to_the_order(
    prime: SimHarness,
    client: KalshiClient,
    store: Store,
    case: tuple[TimeInForce, int, str, D, D],
) -> None:
    tif, count, status, filled, remaining = case
    (ticker,) = make_markets(prime, 1)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 2)
    service = OrderService(client, store)

    outcome = service.place(
        service.prepare(buy_yes(ticker, count=count, time_in_force=tif, client_order_id="c-5"))
    )

    assert (outcome.status, outcome.fill_count, outcome.remaining_count) == (
        status,
        filled,
        remaining,
    )
    assert outcome.average_fill_price == D("0.30")
    intent = store.orders.get_intent("c-5")
    assert intent is not None
    assert (intent.status, intent.filled, intent.remaining, intent.order_id) == (
        status,
        filled,
        remaining,
        outcome.order_id,
    )
    assert intent.time_in_force == tif.value


def test_an_order_accepted_after_a_reconcile_marked_it_rejected_is_recorded_as_it_is(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    another_accounts_order(prime, ticker, BookSide.ASK, "0.20", 2)
    # during the create request another process's `kalshi reconcile --grace 0`, an hour later
    # by its clock, finds the pending intent not on the exchange and marks it rejected ("never
    # placed"); the order then reaches the exchange
    later = ManualClock(time.time() + 3600)
    with beside_a_reconcile(
        ReconcileInFlight, prime, client, tmp_path / "state.db", clock=later
    ) as (store, in_flight):
        service = OrderService(in_flight, store)
        request = buy_yes(ticker, count=5, price="0.20", client_order_id="c-6")
        outcome = service.place(service.prepare(request))

        intent = store.orders.get_intent("c-6")
    assert outcome.status == "resting" and outcome.order_id is not None
    assert intent is not None
    assert (intent.status, intent.order_id, intent.filled, intent.remaining) == (
        "resting",
        outcome.order_id,
        D(2),
        D(3),
    )


@pytest.mark.parametrize(
    "case",
    [
        (
            "1.00",
            1,
            "PRICE_OUT_OF_RANGE",
            "price: 1.00 is not a price in dollars between 0 and 1 (e.g. 0.55)",
        ),
        ("0", 1, "PRICE_NOT_POSITIVE", "price: must be positive, got 0"),
        (
            "0.305",
            1,
            "PRICE_OFF_GRID",
            "price 0.305 is not on {t}'s tick grid (0.0100 from 0.0100 to 0.9900)",
        ),
        ("0.30", 0, "COUNT_NOT_POSITIVE", "count: must be positive, got 0"),
        ("0.30", "1.005", "COUNT_PRECISION", "count: 1.005 has more than 2 decimals"),
    ],
)
def test_a_price_or_count_the_market_cannot_take_is_refused_with_what_it_can(
    prime: SimHarness, client: KalshiClient, store: Store, case: tuple[str, Any, str, str]
) -> None:
    price, count, code, says = case
    (ticker,) = make_markets(prime, 1)
    request = OrderRequest(ticker, Side.YES, Action.BUY, D(str(count)), D(price))
    refused = refusal(prime, OrderService(client, store), request)
    assert isinstance(refused, ValidationError)
    assert (refused.code, refused.message) == (code, says.format(t=ticker))


def test_an_unknown_ticker_and_a_closed_market_are_refused_before_anything_is_sent(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    with pytest.raises(NotFoundError) as unknown:
        service.prepare(buy_yes("KXT-EV-NOPE"))
    assert (unknown.value.message, unknown.value.code, unknown.value.status) == (
        "unknown ticker KXT-EV-NOPE",
        "UNKNOWN_TICKER",
        404,
    )
    assert unknown.value.hint == "`kalshi markets` lists tickers"

    prime.set_status(ticker, "closed")
    refused = refusal(prime, service, buy_yes(ticker))
    assert isinstance(refused, ValidationError)
    assert (refused.code, refused.message) == (
        "MARKET_NOT_OPEN",
        f"{ticker} is closed, not open for trading",
    )
    assert store.orders.intents() == [] and creates(prime) == 0


def test_the_ends_of_the_price_range_are_prices_an_order_can_take(
    ticker: str, service: OrderService
) -> None:
    assert service.prepare(buy_yes(ticker, price="0.01")).create.price == D("0.01")
    assert service.prepare(buy_yes(ticker, price="0.99")).create.price == D("0.99")


def test_an_off_grid_price_on_a_tapered_market_names_each_of_its_ranges(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    ticker = "KXT-EV-TAPER"
    prime.create_market(
        ticker,
        event_ticker="KXT-EV",
        series_ticker="KXT",
        price_level_structure="tapered_deci_cent",
    )
    refused = refusal(prime, OrderService(client, store), buy_yes(ticker, price="0.455"))
    assert isinstance(refused, ValidationError)
    assert (refused.code, refused.message) == (
        "PRICE_OFF_GRID",
        f"price 0.455 is not on {ticker}'s tick grid (0.0010 from 0.0010 to 0.1000, "
        "0.0100 from 0.1000 to 0.9000, 0.0010 from 0.9000 to 0.9990)",
    )
