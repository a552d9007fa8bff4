"""The order limits count the money an order can commit, whichever way it is written, and an
amend cannot get past them."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.limits import MarketReads
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import ValidationError
from kalshi_cli.vocabulary.order_terms import REDUCE_ONLY_NEEDS_IOC, OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.conftest import SimHarness
from tests.prime_tier import connect, make_markets
from tests.wire import order_body

LIMITS = RiskLimits(max_position_per_market=D(10), max_order_cost=D(5))


def request(ticker: str, order: str) -> OrderRequest:
    """`order` in the trader's words: "sell 20 yes @ 0.05"."""
    action, count, side, _, price = order.split()
    return OrderRequest(ticker, Side(side), Action(action), D(count), D(price))


def test_a_sell_that_opens_the_other_side_counts_what_that_side_costs(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    """Selling YES at 0.05 with no YES held opens NO at 0.95: $19 for 20, not $1."""
    service = OrderService(client, store, limits=RiskLimits(max_order_cost=D(5)))
    with pytest.raises(ValidationError, match="maximum order cost") as sell_yes:
        service.prepare(request(ticker, "sell 20 yes @ 0.05"))
    assert sell_yes.value.code == "MAX_ORDER_COST"
    with pytest.raises(ValidationError, match="maximum order cost"):
        service.prepare(request(ticker, "sell 20 no @ 0.10"))
    # buys cost their own price, as before
    assert service.prepare(request(ticker, "buy 20 yes @ 0.25")).cost == D("5.00")
    # max_cost shows the worst case, the side added
    unlimited = OrderService(client, store)
    assert unlimited.prepare(request(ticker, "sell 20 yes @ 0.05")).cost == D("19.00")


def test_closing_a_held_position_is_never_blocked_by_the_order_cost_limit(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.50"), D(20)))
        service.place(service.prepare(request(ticker, "buy 20 yes @ 0.50")))
    limited = OrderService(client, store, limits=RiskLimits(max_order_cost=D(5)))
    # a stop-out: 20 YES held, sold at 0.05; it commits nothing
    limited.prepare(request(ticker, "sell 20 yes @ 0.05"))
    # the part beyond the held 20 opens NO at 0.95 and is counted
    with pytest.raises(ValidationError, match="maximum order cost"):
        limited.prepare(request(ticker, "sell 26 yes @ 0.05"))


def test_an_amend_is_held_to_the_same_limits_as_a_new_order(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(
        client, store, limits=RiskLimits(max_position_per_market=D(10), max_order_cost=D(5))
    )
    placed = service.place(service.prepare(request(ticker, "buy 5 yes @ 0.20")))
    assert placed.order_id is not None
    with pytest.raises(ValidationError) as bigger:
        service.amends.amend(placed.order_id, count=D(11))
    assert bigger.value.code == "POSITION_LIMIT"
    with pytest.raises(ValidationError) as dearer:
        service.amends.amend(placed.order_id, count=D(10), price=D("0.60"))
    assert dearer.value.code == "MAX_ORDER_COST"
    order = client.orders.get_order(placed.order_id)
    assert (order.remaining_count, order.yes_price) == (D(5), D("0.20"))
    # within both limits, the amend goes through
    amended = service.amends.amend(placed.order_id, count=D(10), price=D("0.50")).order
    assert (amended.remaining_count, amended.yes_price) == (D(10), D("0.50"))


def test_reduce_only_is_sent_only_as_immediate_or_cancel(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    """API 3.31.0 rejects reduce_only unless time_in_force is immediate_or_cancel: any other
    combination is refused here with a coded reason and nothing reaches the exchange, and the
    simulator answers 400 to one sent anyway."""
    before = prime.stats()["total_requests"]
    for tif in (TimeInForce.GTC, TimeInForce.FOK):
        closing = OrderRequest(
            ticker, Side.YES, Action.SELL, D(1), D("0.40"), time_in_force=tif, reduce_only=True
        )
        with pytest.raises(ValidationError, match="only with tif ioc") as local:
            service.prepare(closing)
        assert local.value.code == REDUCE_ONLY_NEEDS_IOC
        with pytest.raises(ValidationError) as built:
            CreateOrder(ticker, BookSide.ASK, D("0.40"), D(1), tif, reduce_only=True)
        assert built.value.code == REDUCE_ONLY_NEEDS_IOC
    assert prime.stats()["total_requests"] == before  # not even the market was read
    assert store.orders.intents() == []

    body = order_body(ticker, side="ask", price="0.4000", count="1.00", reduce_only=True)
    answer = prime.place_order(prime.account, body)
    assert answer.status_code == 400
    assert "immediate_or_cancel" in answer.text
    assert list(client.orders.iter_orders()) == []
    body["time_in_force"] = "immediate_or_cancel"  # the same with IOC: refused only as growth
    ioc = prime.place_order(prime.account, body)
    assert ioc.status_code == 400 and "immediate_or_cancel" not in ioc.text


def position_reads(harness: SimHarness, key_id: str) -> int:
    """How many times the account asked the simulator for its positions."""
    requests = harness.stats()["accounts"].get(key_id, {}).get("requests", {})
    return int(requests.get("GET /portfolio/positions", 0))


def test_the_cost_limit_and_the_balance_read_the_position_once_for_both(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    small = prime.new_account(balance_cents=500)
    with connect(prime.new_account()) as other, connect(small) as client:
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.70"), D(10)))
        client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.70"), D(10)))  # 10 NO
        service = OrderService(client, store, limits=RiskLimits(max_order_cost=D(5)))
        before = position_reads(prime, small.key_id)
        # ten YES at 0.70 is $7.00, over the limit and the $1.853 left; all ten close the NO
        service.prepare(request(ticker, "buy 10 yes @ 0.70"))
        assert position_reads(prime, small.key_id) == before + 1


def test_a_batch_holds_each_row_to_the_cost_limit_by_its_own_market_position(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    held, other_market = make_markets(prime, 2)
    service = OrderService(client, store)
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        other.orders.create_order(CreateOrder(held, BookSide.ASK, D("0.50"), D(10)))
        service.place(service.prepare(request(held, "buy 10 yes @ 0.50")))
    limited = OrderService(client, store, limits=RiskLimits(max_order_cost=D(5)))
    reads = MarketReads()  # one batch's reads, as `kalshi order batch` shares them
    # selling the ten YES held commits nothing; the same sale where none is held opens ten
    # NO at 0.60: $6.00, over the limit
    limited.prepare(request(held, "sell 10 yes @ 0.40"), reads=reads)
    with pytest.raises(ValidationError) as refused:
        limited.prepare(request(other_market, "sell 10 yes @ 0.40"), reads=reads)
    assert refused.value.code == "MAX_ORDER_COST"
