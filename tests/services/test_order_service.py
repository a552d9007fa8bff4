"""What `OrderService` sends and counts, exactly (docs/mutation.md names the mutants each fails):
the exposure the position limit is checked against, a decrease `--to` reaching the exchange and
its refusals, and a cancel of an order resting on another subaccount."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.batch import place_batch
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import PositionView, RestingOrder
from kalshi_cli.vocabulary.errors import (
    AmendOutcomeUnknown,
    BadRequestError,
    NotFoundError,
    OrderOutcomeUnknown,
    TradingHaltedError,
    ValidationError,
)
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import (
    Counted,
    another_accounts_order,
    connect,
    counted,
    funded_subaccount,
    make_markets,
)


def _resting(position: D, bids: D, asks: D) -> PositionView:
    """A market holding `position` (+YES / -NO) with `bids` and `asks` resting, as listed."""
    resting = (
        RestingOrder("bid", Side.YES, Action.BUY, D("0.40"), bids),
        RestingOrder("ask", Side.YES, Action.SELL, D("0.60"), asks),
    )
    return PositionView("KXT-1", position=position, resting=resting)


@pytest.mark.parametrize(
    ("view", "worst"),
    [
        (_resting(D(3), D(2), D(4)), D(5)),  # long 3 + 2 bids
        (_resting(D(-5), D(1), D(2)), D(7)),  # short 5 + 2 asks
        (_resting(D(0), D(0), D(0)), D(0)),  # flat: never negative
        (_resting(D(-1), D(0), D(0)), D(1)),
    ],
)
def test_worst_case_is_the_larger_side_if_every_resting_order_filled(
    view: PositionView, worst: D
) -> None:
    assert view.worst_either_way() == worst


def test_exposure_counts_this_markets_position_and_what_still_rests_on_each_side(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    ticker, other = make_markets(prime, 2)
    # a bid of 10 of which 4 fill: a position of 4 and 6 resting
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.30"), D(10)))
    with connect(prime.new_account()) as seller:
        seller.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.30"), D(4)))
        seller.orders.create_order(CreateOrder(other, BookSide.ASK, D("0.30"), D(2)))
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.20"), D(3)))
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.80"), D(5)))
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.90"), D(1)))
    # another market's position and resting orders are not this market's
    client.orders.create_order(CreateOrder(other, BookSide.BID, D("0.30"), D(2)))
    client.orders.create_order(CreateOrder(other, BookSide.BID, D("0.10"), D(7)))
    client.orders.create_order(CreateOrder(other, BookSide.ASK, D("0.95"), D(8)))
    cancelled = client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.85"), D(50)))
    client.orders.cancel_order(cancelled.order_id)

    exposure = counted(OrderService(client, store), ticker)

    assert exposure == Counted(D(4), D(9), D(6))


def test_exposure_adds_every_order_of_this_market_that_may_still_land(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    ticker, other = make_markets(prime, 2)
    service = OrderService(client, store)

    def intent(
        market: str,
        book_side: BookSide,
        count: int,
        *,
        lost: bool = False,
        on: OrderService = service,
    ) -> CreateOrder:
        create = CreateOrder(market, book_side, D("0.30"), D(count))
        buy = book_side is BookSide.BID
        on.record_intent(create, side=Side.YES, action=Action.BUY if buy else Action.SELL)
        if lost:
            on.record_unknown(create, "timed out")
        return create

    # each kind that does not count comes before some that do
    # its answer was lost, but it landed and the exchange lists it: counted once, as resting
    client.orders.create_order(intent(ticker, BookSide.BID, 7, lost=True))
    intent(ticker, BookSide.BID, 60, on=OrderService(client.on_subaccount(1), store))
    intent(other, BookSide.BID, 50)  # another market's: not this one's
    refused = intent(ticker, BookSide.ASK, 9)  # the exchange refused it: nothing can land
    store.orders.mark_rejected(refused.client_order_id, reason="refused")
    intent(ticker, BookSide.BID, 2)  # pending: sent, no answer yet
    intent(ticker, BookSide.BID, 3, lost=True)  # unknown: its answer was lost
    intent(ticker, BookSide.ASK, 4)
    intent(ticker, BookSide.ASK, 5, lost=True)

    assert counted(service, ticker) == Counted(D(0), D(7 + 2 + 3), D(4 + 5), D(2 + 3 + 4 + 5))


def test_the_position_limit_refuses_what_the_exposure_would_take_over_it(
    client: KalshiClient, ticker: str, service: OrderService
) -> None:
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.80"), D(6)))  # NO side: 6
    service.checks.limits = type(service.checks.limits)(max_position_per_market=D(10))

    # a YES bid of 10 leaves the worst case at 10 (the NO side stays 6): allowed
    service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(10), D("0.20")))
    # a NO bid (an ask) of 5 takes the NO side to 11: refused, nothing sent
    with pytest.raises(ValidationError) as refused:
        service.prepare(OrderRequest(ticker, Side.NO, Action.BUY, D(5), D("0.20")))
    assert refused.value.code == "POSITION_LIMIT"
    assert "would reach 11.00 contracts, over the limit of 10" in refused.value.message


def test_a_position_limit_refusal_names_the_contracts_of_unknown_outcome_it_counts(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(client, store, limits=RiskLimits(max_position_per_market=D(10)))
    lost = CreateOrder(ticker, BookSide.BID, D("0.30"), D(1))  # its answer was lost
    service.record_intent(lost, side=Side.YES, action=Action.BUY)
    service.record_unknown(lost, "timed out")
    with pytest.raises(ValidationError) as refused:
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(10), D("0.20")))
    assert refused.value.code == "POSITION_LIMIT"
    assert refused.value.message == (
        f"{ticker}: position plus resting orders would reach 11.00 contracts, over the limit "
        "of 10 (1.00 of them in orders of unknown outcome)"
    )
    assert refused.value.hint == (
        "lower the count or cancel resting orders in the market, or raise "
        "risk.max_position_per_market; `kalshi reconcile` settles the orders of unknown outcome"
    )


def buy_yes(ticker: str, count: int = 2, price: str = "0.30") -> OrderRequest:
    return OrderRequest(ticker, Side.YES, Action.BUY, D(count), D(price))


def placed_bid(service: OrderService, ticker: str, count: int) -> str:
    outcome = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(count), D("0.20")))
    )
    assert outcome.order_id is not None
    return outcome.order_id


def test_decrease_to_and_by_reach_the_exchange_and_are_recorded(
    store: Store, ticker: str, service: OrderService
) -> None:
    order_id = placed_bid(service, ticker, 10)

    assert service.cancels.decrease(order_id, to=D(4)).order.remaining_count == D(4)
    assert service.cancels.decrease(order_id, by=D(1)).order.remaining_count == D(3)
    local = store.orders.intent_by_order_id(order_id)
    assert local is not None and local.remaining == D(3)
    # to 0: the order is off the book
    gone = service.cancels.decrease(order_id, to=D(0)).order
    assert gone.remaining_count == 0 and gone.status == "canceled"


@pytest.mark.parametrize(
    "case",
    [
        (None, None, "DECREASE_ARGS", "give exactly one of --by or --to"),
        (D(1), D(2), "DECREASE_ARGS", "give exactly one of --by or --to"),
        (D(0), None, "COUNT_NOT_POSITIVE", "decrease amount must be positive, got 0"),
        (D(-1), None, "COUNT_NOT_POSITIVE", "decrease amount must be positive, got -1"),
        (None, D(-1), "COUNT_NOT_POSITIVE", "decrease amount must be positive, got -1"),
    ],
)
def test_a_decrease_with_bad_arguments_is_refused_before_anything_is_sent(
    prime: SimHarness, client: KalshiClient, store: Store, case: tuple[D | None, D | None, str, str]
) -> None:
    by, to, code, says = case
    (ticker,) = make_markets(prime, 1)
    service = OrderService(client, store)
    order_id = placed_bid(service, ticker, 5)

    with pytest.raises(ValidationError) as refused:
        service.cancels.decrease(order_id, by=by, to=to)

    assert (refused.value.code, refused.value.message) == (code, says)
    assert client.orders.get_order(order_id).remaining_count == D(5)


def test_a_cancel_finds_an_order_resting_on_another_subaccount_and_cancels_it_there(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    number = funded_subaccount(client)
    with connect(prime.account) as sub:
        sub.subaccount = number
        placed = sub.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.20"), D(3)))

    # the client names no subaccount: the exchange first reads the cancel as subaccount 0's
    taken_off = OrderService(client, store).cancels.cancel(placed.order_id)

    assert taken_off == D(3)
    order = client.orders.get_order(placed.order_id)
    assert (order.status, order.subaccount) == ("canceled", number)


def test_a_cancel_of_an_order_naming_no_subaccount_goes_where_the_state_file_placed_it(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    """The exchange names an order's subaccount to direct members only. An order placed here
    on subaccount 1 (`kalshi order place --subaccount 1`), cancelled without `--subaccount`:
    the cancel read as the primary's is refused, and the order's own answer names no
    subaccount to try next; the state file's row does. It stayed resting, and the command
    said so as an error."""
    from tests.services.test_restricted_key_imports import _NamingNoSubaccount

    number = funded_subaccount(client)
    with Store.open(tmp_path / "state.db") as store:
        on_it = OrderService(client.on_subaccount(number), store)
        order_id = placed_bid(on_it, ticker, 3)
        assert store.orders.intent_by_order_id(order_id).subaccount == number  # type: ignore[union-attr]
        with connect(prime.account, transport=_NamingNoSubaccount()) as unnamed:
            taken_off = OrderService(unnamed, store).cancels.cancel(order_id)
    assert taken_off == D(3)
    order = client.orders.get_order(order_id)
    assert (order.status, order.subaccount) == ("canceled", number)


# ---------------------------------------------------------------------------- amend


def test_an_amend_is_refused_while_trading_is_reducing(
    client: KalshiClient, store: Store, ticker: str, service: OrderService
) -> None:
    order_id = placed_bid(service, ticker, 5)
    store.trading.set_trading_state("REDUCING", reason="loss limit", source="test")

    with pytest.raises(TradingHaltedError) as refused:
        service.amends.amend(order_id, count=D(9))

    assert refused.value.message == "trading is REDUCING (loss limit); no order can be amended"
    assert client.orders.get_order(order_id).remaining_count == D(5)


@pytest.mark.parametrize("expires", [1, 1_800_000_000])
def test_an_expiry_not_in_the_future_is_refused_before_anything_is_sent(
    client: KalshiClient, store: Store, expires: int, ticker: str
) -> None:
    # the service's clock reads exactly 1_800_000_000: an expiry at that second is past
    service = OrderService(client, store, clock=ManualClock(1_800_000_000.0))
    order_id = placed_bid(service, ticker, 5)

    with pytest.raises(ValidationError) as refused:
        service.amends.amend(order_id, expiration_time=expires)

    assert refused.value.code == "EXPIRY_IN_THE_PAST"
    assert refused.value.message == f"expiration time {expires} is not in the future"
    assert refused.value.hint == "give a future time, or 0 to remove the expiry"


def test_only_a_resting_order_can_be_amended(ticker: str, service: OrderService) -> None:
    order_id = placed_bid(service, ticker, 5)
    service.cancels.cancel(order_id)

    with pytest.raises(ValidationError) as refused:
        service.amends.amend(order_id, count=D(9))

    assert refused.value.code == "ORDER_NOT_RESTING"
    assert refused.value.message == (
        f"order {order_id} is canceled; only resting orders can be amended"
    )


def test_an_order_placed_outside_the_state_file_is_amended_at_its_yes_price(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    placed = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.20"), D(5)))

    updated = OrderService(client, store).amends.amend(placed.order_id, price=D("0.25")).order

    assert (updated.yes_price, updated.remaining_count) == (D("0.25"), D(5))


def partly_filled(prime: SimHarness, service: OrderService, ticker: str) -> str:
    """A YES bid of 10 of which 4 filled: 6 rest."""
    order_id = placed_bid(service, ticker, 10)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.20", 4)
    return order_id


def test_an_amend_must_leave_more_than_what_already_filled(
    prime: SimHarness, ticker: str, service: OrderService
) -> None:
    order_id = partly_filled(prime, service, ticker)

    with pytest.raises(ValidationError) as refused:
        service.amends.amend(order_id, count=D(4))

    assert refused.value.code == "COUNT_TOO_LOW"
    assert refused.value.message == "new total count 4 must exceed the 4.00 already filled"
    assert refused.value.hint == "use `kalshi order decrease` or `cancel` to shrink an order"
    assert service.amends.amend(order_id, count=D(5)).order.remaining_count == D(1)


def test_only_the_growth_of_an_amended_order_is_held_to_the_position_limit(
    prime: SimHarness, client: KalshiClient, ticker: str, service: OrderService
) -> None:
    order_id = partly_filled(prime, service, ticker)  # position 4 + 6 resting = 10
    service.checks.limits = type(service.checks.limits)(max_position_per_market=D(10))

    # the same total at a new price grows nothing: allowed at the limit
    assert service.amends.amend(order_id, price=D("0.21")).order.remaining_count == D(6)
    # one more contract takes it over
    with pytest.raises(ValidationError) as refused:
        service.amends.amend(order_id, count=D(11))
    assert refused.value.code == "POSITION_LIMIT"
    assert client.orders.get_order(order_id).remaining_count == D(6)


def test_an_amended_orders_growth_is_held_to_the_position_limit_of_its_own_market(
    prime: SimHarness, client: KalshiClient, ticker: str, service: OrderService
) -> None:
    """10 YES held and a bid of 10 resting in another market: a bid of 5 here amended to 15 is
    15 in its own market, at a limit of 15."""
    (other,) = make_markets(prime, 1, event="KXT-OTHER")
    another_accounts_order(prime, other, BookSide.ASK, "0.30", 10)
    client.orders.create_order(CreateOrder(other, BookSide.BID, D("0.30"), D(10)))
    client.orders.create_order(CreateOrder(other, BookSide.BID, D("0.10"), D(10)))
    order_id = placed_bid(service, ticker, 5)
    service.checks.limits = RiskLimits(max_position_per_market=D(15))

    assert service.amends.amend(order_id, count=D(15)).order.remaining_count == D(15)


# ---------------------------------------------------------------------------- cancel, batch


def test_a_cancel_of_an_order_that_executed_says_so_with_what_filled(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    order_id = placed_bid(service, ticker, 5)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.20", 5)

    with pytest.raises((BadRequestError, NotFoundError)) as refused:
        service.cancels.cancel(order_id)

    assert refused.value.message == (
        f"order {order_id} was not cancelled: it executed (5.00 filled) before the cancel "
        "reached it"
    )
    assert refused.value.status in (400, 404) and refused.value.code is not None
    local = store.orders.intent_by_order_id(order_id)
    assert local is not None and (local.status, local.filled) == ("executed", D(5))


def test_a_batch_records_each_orders_exchange_id_and_an_executed_row_as_executed(
    prime: SimHarness, client: KalshiClient, store: Store, tmp_path: Path, ticker: str
) -> None:
    another_accounts_order(prime, ticker, BookSide.ASK, "0.40", 2)
    path = tmp_path / "orders.csv"
    path.write_text(
        "ticker,side,action,count,price\n"
        f"{ticker},yes,buy,2,0.40\n"  # takes the whole ask: executed
        f"{ticker},yes,buy,3,0.10\n"  # rests
    )

    report = place_batch(OrderService(client, store), path)

    executed, rested = report.rows
    assert (executed.status, rested.status) == ("executed", "resting")
    for row in report.rows:
        assert row.order_id is not None
        recorded = store.orders.get_intent(row.client_order_id)
        assert recorded is not None
        assert (recorded.order_id, recorded.status) == (row.order_id, row.status)
        assert client.orders.get_order(row.order_id).client_order_id == row.client_order_id


def test_a_lost_create_answer_is_looked_up_and_what_was_found_is_reported(
    prime: SimHarness, client: KalshiClient, ticker: str, service: OrderService
) -> None:
    prime.set_faults(write_503_after_commit_rate=1.0)  # placed, then the answer is lost
    request = OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.30"), client_order_id="c-1")

    outcome = service.place(service.prepare(request))

    prime.clear_faults()
    (order,) = client.orders.iter_orders(ticker=ticker)
    assert (outcome.client_order_id, outcome.order_id) == ("c-1", order.order_id)
    assert (outcome.status, outcome.remaining_count) == ("resting", D(2))
    assert outcome.note == "the answer was lost; the order was found on the exchange"


def test_a_lost_create_answer_for_an_order_not_found_stays_unknown_and_says_why(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    prime.set_faults(write_503_rate=1.0)  # refused with a 503: nothing placed
    request = OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.30"), client_order_id="c-1")

    with pytest.raises(OrderOutcomeUnknown) as unknown:
        service.place(service.prepare(request))

    prime.clear_faults()
    assert unknown.value.client_order_id == "c-1"
    assert unknown.value.message.endswith(
        "; the answer was lost and the order is not on the exchange yet; `kalshi reconcile` "
        "will settle it"
    )
    intent = store.orders.get_intent("c-1")
    assert intent is not None and intent.status == "unknown"


# ---------------------------------------------------------------------------- the open survivors


def test_a_refused_cancel_of_an_order_still_shown_resting_says_so_with_the_exchanges_code(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """A cancel repeated while reads lag (a minute here): the exchange answers 404, and the
    order, read again once the service's read lag has passed, still shows resting."""
    clock = ManualClock(1_800_000_000.0)
    service = OrderService(client, store, clock=clock, read_lag_s=0.25)
    order_id = placed_bid(service, ticker, 5)
    prime.set_faults(read_lag_ms=60_000)
    assert service.cancels.cancel(order_id) == D(5)

    with pytest.raises(NotFoundError) as refused:
        service.cancels.cancel(order_id)

    prime.clear_faults()
    assert refused.value.message.endswith(
        f"; the exchange still shows order {order_id} resting 0.25s after refusing to cancel it"
    )
    assert refused.value.message.count(";") == 1
    assert (refused.value.status, refused.value.code) == (404, "not_found")
    assert refused.value.hint == (
        "look again with `kalshi order show`; `kalshi reconcile` settles it"
    )
    assert clock.wall() == 1_800_000_000.25  # waited the read lag once, from the refusal
    local = store.orders.intent_by_order_id(order_id)
    assert local is not None and (local.status, local.remaining) == ("canceled", D(0))


def test_a_lost_create_answer_whose_lookup_fails_too_stays_unknown_and_says_so(
    prime: SimHarness, store: Store, ticker: str
) -> None:
    with connect(prime.account, max_attempts=1) as client:
        service = OrderService(client, store)
        prepared = service.prepare(buy_yes(ticker))
        prime.set_faults(http_5xx_rate=1.0)  # the create and the lookup: both 5xx
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            service.place(prepared)
        prime.clear_faults()

    cid = prepared.create.client_order_id
    assert unknown.value.client_order_id == cid
    assert unknown.value.message.endswith(
        "; the answer was lost and the exchange could not be asked; run `kalshi reconcile`"
    )
    intent = store.orders.get_intent(cid)
    assert intent is not None and intent.status == "unknown"
    assert unknown.value.message == f"{intent.error}; " + (
        "the answer was lost and the exchange could not be asked; run `kalshi reconcile`"
    )


def test_a_lost_create_answer_found_filled_reports_and_records_the_fill(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    another_accounts_order(prime, ticker, BookSide.ASK, "0.30", 2)
    prepared = service.prepare(buy_yes(ticker, count=5))
    prime.set_faults(write_503_after_commit_rate=1.0)  # placed and part-filled, answer lost

    outcome = service.place(prepared)

    prime.clear_faults()
    assert (outcome.status, outcome.fill_count, outcome.remaining_count) == (
        "resting",
        D(2),
        D(3),
    )
    intent = store.orders.get_intent(prepared.create.client_order_id)
    assert intent is not None
    assert (intent.status, intent.order_id, intent.filled, intent.remaining) == (
        "resting",
        outcome.order_id,
        D(2),
        D(3),
    )


def test_an_amend_can_set_and_remove_an_expiry_and_refuses_a_negative_one(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(client, store, clock=ManualClock(1_800_000_000.0))
    order_id = placed_bid(service, ticker, 5)

    dated = service.amends.amend(order_id, expiration_time=1_800_003_600).order
    assert dated.expiration_time == "2027-01-15T09:00:00.000Z"
    undated = service.amends.amend(order_id, expiration_time=0).order  # 0 removes it
    assert not undated.expiration_time
    with pytest.raises(ValidationError) as refused:
        service.amends.amend(order_id, expiration_time=-1)
    assert refused.value.code == "EXPIRY_IN_THE_PAST"
    assert client.orders.get_order(order_id).remaining_count == D(5)


def test_an_amended_price_of_a_no_order_is_the_no_price_the_trader_placed_it_at(
    store: Store, ticker: str, service: OrderService
) -> None:
    outcome = service.place(
        service.prepare(OrderRequest(ticker, Side.NO, Action.BUY, D(3), D("0.65")))
    )
    assert outcome.order_id is not None

    amended = service.amends.amend(outcome.order_id, price=D("0.60")).order

    assert (amended.book_side, amended.yes_price) == ("ask", D("0.40"))
    local = store.orders.get_intent(outcome.client_order_id)
    assert local is not None and local.price == D("0.40")


def test_an_amend_over_the_cost_limit_counts_only_what_opens_in_this_market(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """10 NO held here: a YES bid amended to 20 at 0.40 ($8) closes 10 and opens 10 ($4),
    within a $5 limit."""
    another_accounts_order(prime, ticker, BookSide.BID, "0.50", 10)
    client.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.50"), D(10)))  # 10 NO held
    service = OrderService(client, store, limits=RiskLimits(max_order_cost=D(5)))
    order_id = placed_bid(service, ticker, 5)

    amended = service.amends.amend(order_id, count=D(20), price=D("0.40")).order

    assert (amended.remaining_count, amended.yes_price) == (D(20), D("0.40"))


def test_an_amend_the_exchange_did_not_do_says_what_it_shows_now(
    prime: SimHarness, ticker: str, service: OrderService
) -> None:
    order_id = partly_filled(prime, service, ticker)  # 10 at 0.20: 4 filled, 6 rest
    prime.set_faults(write_503_rate=1.0)  # refused with a 503 before it acts

    with pytest.raises(AmendOutcomeUnknown) as unknown:
        service.amends.amend(order_id, price=D("0.22"))

    prime.clear_faults()
    assert unknown.value.order_id == order_id
    assert unknown.value.message.endswith("; the exchange now shows resting at 0.2000 for 10.00")


def test_an_amend_done_but_answered_503_is_read_back_and_returned_as_done(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    order_id = partly_filled(prime, service, ticker)  # 10 at 0.20: 4 filled, 6 rest
    prime.set_faults(write_503_after_commit_rate=1.0)  # it acts, then answers 503

    amended = service.amends.amend(order_id, price=D("0.22"), count=D(12)).order

    prime.clear_faults()
    assert (amended.yes_price, amended.fill_count, amended.remaining_count) == (
        D("0.22"),
        D(4),
        D(8),
    )
    local = store.orders.intent_by_order_id(order_id)
    assert local is not None and (local.price, local.remaining) == (D("0.22"), D(8))


def test_an_expiry_is_judged_against_the_service_clock(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    """A backtest or paper run's service has its own clock: an expiry is in the past or the
    future by it, not by the machine's."""
    later = OrderService(client, store, clock=ManualClock(1_900_000_000.0))  # after today
    past = OrderRequest(
        ticker, Side.YES, Action.BUY, D(1), D("0.20"), expiration_time=1_899_999_999
    )
    with pytest.raises(ValidationError) as refused:
        later.prepare(past)
    assert refused.value.code == "EXPIRY_IN_THE_PAST"
    earlier = OrderService(client, store, clock=ManualClock(1_767_225_600.0))  # 2026-01-01
    prepared = earlier.prepare(
        OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.20"), expiration_time=1_767_225_660)
    )
    assert prepared.create.expiration_time == 1_767_225_660


def test_an_intent_is_stamped_with_the_service_clock_when_written_and_updated(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    service = OrderService(client, store, clock=ManualClock(1_800_000_000.0))
    create = CreateOrder(ticker, BookSide.BID, D("0.30"), D(1))
    service.record_intent(create, side=Side.YES, action=Action.BUY)
    intent = store.orders.get_intent(create.client_order_id)
    assert intent is not None
    assert (intent.status, intent.created_at, intent.updated_at) == (
        "pending",
        1_800_000_000.0,
        1_800_000_000.0,
    )


def test_a_cancel_names_the_market_of_an_order_the_state_file_knows(
    client: KalshiClient, store: Store, monkeypatch: pytest.MonkeyPatch, ticker: str
) -> None:
    """Kalshi routes a cancel to its market's shard by `market_ticker`: an order id alone
    cannot find the shard (REFERENCE.md). The simulator has one shard, so what is sent is
    checked; each cancel goes at once to the subaccount the state file placed its order on."""
    number = funded_subaccount(client)
    here = placed_bid(OrderService(client, store), ticker, 1)
    there = placed_bid(OrderService(client.on_subaccount(number), store), ticker, 1)
    sent: list[tuple[str, str | None, int | None]] = []
    cancel = client.orders.cancel_order

    def spy(order_id: str, *, ticker: str | None = None, subaccount: int | None = None) -> Any:
        sent.append((order_id, ticker, subaccount))
        return cancel(order_id, ticker=ticker, subaccount=subaccount)

    monkeypatch.setattr(client.orders, "cancel_order", spy)
    service = OrderService(client, store)
    assert service.cancels.cancel(here) == D(1) and service.cancels.cancel(there) == D(1)
    assert sent == [(here, ticker, 0), (there, ticker, number)]


def test_an_amend_by_hand_is_written_in_the_orders_history_before_it_leaves(
    store: Store, ticker: str, service: OrderService
) -> None:
    """As the trade loop's amends are: the row says what was asked before the request left,
    then what the exchange did."""
    order_id = placed_bid(service, ticker, 10)
    service.amends.amend(order_id, price=D("0.21"), count=D(12))
    intent = store.orders.intent_by_order_id(order_id)
    assert intent is not None
    assert (intent.price, intent.remaining) == (D("0.21"), D(12))
    notes = [h.note for h in store.orders.order_history(intent.client_order_id)]
    asked = notes.index("amend sent: YES price 0.21, total 12")
    assert "amend" in notes[asked + 1 :]


def test_an_amend_by_hand_the_exchange_refuses_says_so_in_the_orders_history(
    store: Store, ticker: str, service: OrderService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row said the amend was about to leave; the exchange refused it, and the order is
    as it was: the history says it was refused, and the person sees the refusal."""
    order_id = placed_bid(service, ticker, 10)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise BadRequestError("HTTP 400 invalid_order: post only cross", status=400)

    monkeypatch.setattr(service.client.orders, "amend_order", refuse)
    with pytest.raises(BadRequestError):
        service.amends.amend(order_id, price=D("0.21"), count=D(12))
    intent = store.orders.intent_by_order_id(order_id)
    assert intent is not None and intent.remaining == D(10)
    notes = [h.note for h in store.orders.order_history(intent.client_order_id)]
    assert notes[-2:] == [
        "amend sent: YES price 0.21, total 12",
        "amend refused: HTTP 400 invalid_order: post only cross",
    ]


def test_an_amend_by_hand_refused_leaves_the_fills_the_state_file_knew_past_a_lagging_read(
    prime: SimHarness,
    store: Store,
    ticker: str,
    service: OrderService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The state file holds 4 of the bid filled (the trade loop read its fills); the read the
    amend is checked against lags and shows none. The amend is refused: the row still says
    4 filled and 6 rest, not the lagging read's 10."""
    order_id = placed_bid(service, ticker, 10)
    lagging = service.client.orders.get_order(order_id)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.20", 4)
    store.orders.update_order(order_id=order_id, fill_count=D(4), remaining_count=D(6))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise BadRequestError("HTTP 400 invalid_order: post only cross", status=400)

    monkeypatch.setattr(service.client.orders, "get_order", lambda *args, **kwargs: lagging)
    monkeypatch.setattr(service.client.orders, "amend_order", refuse)
    with pytest.raises(BadRequestError):
        service.amends.amend(order_id, price=D("0.21"))
    row = store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.filled, row.remaining) == (D(4), D(6))


def test_an_amend_by_hand_of_a_partly_filled_order_writes_its_new_total_in_its_history(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    """The history names the total the request asks: what filled plus what is to rest."""
    order_id = partly_filled(prime, service, ticker)  # 10 at 0.20: 4 filled, 6 rest
    service.amends.amend(
        order_id, price=D("0.21")
    )  # its answer tells the state file of the 4 filled

    service.amends.amend(order_id, count=D(7))

    intent = store.orders.intent_by_order_id(order_id)
    assert intent is not None and (intent.count, intent.remaining) == (D(7), D(3))
    notes = [h.note for h in store.orders.order_history(intent.client_order_id)]
    assert [n for n in notes if n and n.startswith("amend sent")][-1] == (
        "amend sent: YES price 0.21, total 7"
    )


def test_an_amend_of_an_order_the_state_file_does_not_hold_asks_the_callers_check_first(
    client: KalshiClient, store: Store, ticker: str
) -> None:
    """The order copied in from the read, the caller's check (the assistant's day budget) is
    asked as the amend is recorded on it, before anything leaves: its refusal sends nothing."""
    placed = client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.20"), D(5)))
    service = OrderService(client, store)
    prepared = service.amends.prepare(placed.order_id, price=D("0.21"))

    def over_budget() -> None:
        raise ValidationError("over the day's budget", code="AGENT_BUDGET")

    with pytest.raises(ValidationError, match="over the day's budget"):
        service.amends.submit(prepared, check=over_budget)
    assert client.orders.get_order(placed.order_id).yes_price == D("0.20")

    asked: list[D] = []

    def within_budget() -> None:
        asked.append(client.orders.get_order(placed.order_id).yes_price)

    service.amends.submit(prepared, check=within_budget)
    assert asked == [D("0.20")]  # asked before the amend left
    assert client.orders.get_order(placed.order_id).yes_price == D("0.21")


def test_an_amend_by_hand_the_exchange_refuses_of_an_order_placed_elsewhere_raises_the_refusal(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    """The order is copied in from the read before the amend is recorded on it, as an amend of
    an order the state file holds is: the person sees the exchange's refusal, the order is as
    it was, and its history says the amend left and was refused."""
    placed = client.orders.create_order(
        CreateOrder(ticker, BookSide.BID, D("0.20"), D(5), post_only=True)
    )
    another_accounts_order(prime, ticker, BookSide.ASK, "0.25", 3)

    with pytest.raises(BadRequestError) as refused:
        OrderService(client, store).amends.amend(placed.order_id, price=D("0.25"))

    assert "post only cross" in refused.value.message
    assert client.orders.get_order(placed.order_id).yes_price == D("0.20")
    intent = store.orders.intent_by_order_id(placed.order_id)
    assert intent is not None and intent.price == D("0.20")
    notes = [h.note for h in store.orders.order_history(intent.client_order_id)]
    assert notes[-2] == "amend sent: YES price 0.25, total 5"
    assert notes[-1] == f"amend refused: {refused.value.message}"
    assert store.orders.amends_in_doubt() == []
