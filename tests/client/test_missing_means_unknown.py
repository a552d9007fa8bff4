"""A field a safety decision depends on that the exchange's answer leaves out (or garbles) means
"unknown, look it up", never a default.

An order-create answer without `remaining_count` once read as "0 resting": the order was
recorded `canceled` and `kalshi order place` exited 0 while the order rested on the book. The
exchange here is the real simulator; a transport between the client and it (a test's, not the
simulator's: it stays faithful) takes one field out of the answers it names, as an exchange
answering a half response would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client.requests import CreateOrder, CreateOrderResult, decode_cancel_result
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import AmendOutcomeUnknown, KalshiError
from kalshi_cli.vocabulary.models import Order, Position, decode_answer
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, another_accounts_order, connect, make_markets, state_path

PLACE = ("order", "place", "KXT-EV-M00", "--side", "yes", "--action", "buy")
CREATE_PATH = "/trade-api/v2/portfolio/events/orders"


class Stripping(httpx.BaseTransport):
    """The real simulator, except that the answers `strip` picks lose the fields it names."""

    def __init__(self, strip: Callable[[httpx.Request], tuple[str, ...]]) -> None:
        self._inner = httpx.HTTPTransport()
        self._strip = strip

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        fields = self._strip(request)
        if not fields:
            return response
        body = json.loads(response.read())
        for name in fields:
            body.pop(name, None)
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


def _create_without(*fields: str) -> Callable[[httpx.Request], tuple[str, ...]]:
    def strip(request: httpx.Request) -> tuple[str, ...]:
        if request.method == "POST" and request.url.path == CREATE_PATH:
            return fields
        return ()

    return strip


@pytest.mark.parametrize("field", ["remaining_count", "fill_count"])
def test_an_order_answer_without_its_counts_is_looked_up_and_recorded_resting(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, field: str
) -> None:
    make_markets(prime, 1)
    placed = kalshi(
        *PLACE,
        "--count",
        "2",
        "--price",
        "0.40",
        "--client-order-id",
        "half-1",
        "--json",
        client=lambda: connect(prime.account, transport=Stripping(_create_without(field))),
    )
    assert placed.exit_code == 0, placed.output
    assert json.loads(placed.stdout)["order"]["status"] == "resting"
    assert "found on the exchange" in placed.stderr
    with Store.open(state_path(tmp_path)) as store:
        intent = store.orders.get_intent("half-1")
        assert intent is not None and intent.status == "resting"
        assert intent.remaining == D(2)
    assert prime.stats()["order_create_requests"] == 1  # looked up, never sent again


def test_the_create_answer_reader_refuses_missing_or_garbled_counts() -> None:
    whole = {"order_id": "o1", "fill_count": "0.00", "remaining_count": "2.00", "ts_ms": 1}
    assert decode_answer(CreateOrderResult, whole).remaining_count == D(2)
    for name in ("fill_count", "remaining_count"):
        with pytest.raises((KeyError, TypeError, ValueError)):
            decode_answer(CreateOrderResult, {k: v for k, v in whole.items() if k != name})
        with pytest.raises((KeyError, TypeError, ValueError)):
            decode_answer(CreateOrderResult, {**whole, name: "lots"})


def test_a_cancel_answer_without_reduced_by_is_no_confirmed_cancel() -> None:
    """The kill switch counts an item without an error as cancelled: one whose answer does not
    say what it reduced is an error of that round, and the next listing decides."""
    whole = {"order_id": "o1", "reduced_by": "3.00"}
    assert decode_cancel_result(whole).error is None
    result = decode_cancel_result({"order_id": "o1"})
    assert result.error is not None and "reduced_by" in result.error
    assert decode_cancel_result({"order_id": "o1", "reduced_by": None}).error is not None


ORDER: dict[str, Any] = {
    "order_id": "o1",
    "client_order_id": "c1",
    "ticker": "KXT",
    "book_side": "bid",
    "status": "resting",
    "yes_price_dollars": "0.4000",
    "fill_count_fp": "0.00",
    "remaining_count_fp": "2.00",
    "initial_count_fp": "2.00",
}


@pytest.mark.parametrize("field", ["status", "fill_count_fp", "remaining_count_fp"])
def test_an_order_read_without_its_status_or_counts_is_refused(field: str) -> None:
    assert decode_answer(Order, ORDER).remaining_count == D(2)
    with pytest.raises((KeyError, TypeError, ValueError)):
        decode_answer(Order, {k: v for k, v in ORDER.items() if k != field})


def test_a_position_read_without_its_size_is_refused() -> None:
    position = {
        "ticker": "KXT",
        "position_fp": "3.00",
        "market_exposure_dollars": "1.2000",
        "realized_pnl_dollars": "0.0000",
        "fees_paid_dollars": "0.0200",
        "total_traded_dollars": "1.2000",
    }
    assert decode_answer(Position, position).position == D(3)
    with pytest.raises((KeyError, TypeError, ValueError)):
        decode_answer(Position, {k: v for k, v in position.items() if k != "position_fp"})


def test_a_listing_whose_order_lacks_its_status_fails_the_read(prime: SimHarness) -> None:
    """A listing the kill switch's proof or reconciliation would read: one order without its
    status is no listing at all, never an order in some default state."""
    make_markets(prime, 1)

    class NoStatus(httpx.BaseTransport):
        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = self._inner.handle_request(request)
            if request.method != "GET" or not request.url.path.endswith("/portfolio/orders"):
                return response
            body = json.loads(response.read())
            for row in body.get("orders") or []:
                row.pop("status", None)
            return httpx.Response(response.status_code, json=body)

    with connect(prime.account, transport=NoStatus()) as client:
        client.orders.create_order(CreateOrder("KXT-EV-M00", BookSide.BID, D("0.40"), D(1)))
        with pytest.raises(KalshiError, match="status"):
            list(client.orders.iter_orders(status="resting"))


def test_a_trade_loop_without_an_order_group_leaves_no_quote_behind(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Quotes whose create answers lacked `remaining_count` were recorded cancelled, so the
    loop's stop (which cancels what it knows rests) left them on the book, with no order group
    to take them down: they are looked up instead, known to rest, and cancelled at the stop."""
    (ticker,) = make_markets(prime, 1)
    maker = prime.new_account(balance_cents=100_000)
    with connect(maker) as other:  # a book to quote inside: a bid and an ask of another account
        other.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.30"), D(5)))
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.70"), D(5)))
    before = prime.stats()["order_create_requests"]
    ran = kalshi(
        "trade",
        "--strategy",
        "market-maker",
        "--markets",
        ticker,
        "--no-order-group",
        "--max-ticks",
        "20",
        "--log-file",
        str(tmp_path / "trade.log"),
        client=lambda: connect(
            prime.account, transport=Stripping(_create_without("remaining_count"))
        ),
    )
    assert ran.exit_code == 0, ran.output
    placed = prime.stats()["order_create_requests"] - before
    assert placed > 0, "the loop placed no quote: nothing was proven"
    with connect(prime.account, transport=httpx.HTTPTransport()) as client:
        left = [o.order_id for o in client.orders.iter_orders(status="resting")]
    assert left == [], f"{len(left)} quote(s) left resting after the loop stopped"


def test_a_decrease_answer_without_remaining_count_is_an_unknown_outcome(
    prime: SimHarness,
) -> None:
    """The decrease answer's `remaining_count` (required by the spec) is what rests now: left
    out, the decrease may or may not have been applied, and the order is to be looked up."""
    make_markets(prime, 1)

    def strip(request: httpx.Request) -> tuple[str, ...]:
        return ("remaining_count",) if request.url.path.endswith("/decrease") else ()

    with connect(prime.account, transport=Stripping(strip)) as client:
        placed = client.orders.create_order(
            CreateOrder("KXT-EV-M00", BookSide.BID, D("0.40"), D(3))
        )
        with pytest.raises(AmendOutcomeUnknown) as caught:
            client.orders.decrease_order(placed.order_id, reduce_by=D(1))
        assert caught.value.order_id == placed.order_id
        assert client.orders.get_order(placed.order_id).remaining_count == D(2)  # it was applied


class ListedAs(httpx.BaseTransport):
    """The real simulator, except that the listings `picked` are answered `answer`."""

    def __init__(self, picked: Callable[[httpx.Request], bool], answer: dict[str, Any]) -> None:
        self._inner = httpx.HTTPTransport()
        self._picked = picked
        self._answer = answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and self._picked(request):
            return httpx.Response(200, json=self._answer)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _resting(request: httpx.Request) -> bool:
    return (
        request.url.path.endswith("/portfolio/orders")
        and request.url.params.get("status") == "resting"
    )


def test_cancel_all_is_not_proven_by_a_resting_listing_without_its_orders_list(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """An answer `200 {}` to the listing of resting orders (an exchange or a proxy answering
    half) says nothing of what rests: the spec requires its `orders` list. Read as an empty
    list, `kalshi cancel-all` called the book clear while an order it never saw rested."""
    (ticker,) = make_markets(prime, 1)
    with connect(prime.account) as client:
        client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(1)))
    done = kalshi(
        "cancel-all",
        "--ticker",
        ticker,
        # every listing is unreadable: NOT PROVEN comes at the deadline, listed again till then
        "--deadline",
        "5",
        client=lambda: connect(prime.account, transport=ListedAs(_resting, {})),
    )
    assert "PROVEN: no resting order left" not in done.output, done.output
    assert "NOT PROVEN" in done.output and "'orders' list" in done.output, done.output
    assert done.exit_code == 11, done.output


def test_check_positions_is_unknown_on_a_positions_listing_without_its_list(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """`200 {}` to the positions listing read as no position: a breach of the limit was OK."""
    (ticker,) = make_markets(prime, 1)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.40", 500)
    with connect(prime.account) as client:
        client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(500)))
    assert kalshi("check", "positions").exit_code == 2  # CRITICAL: over the default limit

    def positions(request: httpx.Request) -> bool:
        return request.url.path.endswith("/portfolio/positions")

    checked = kalshi(
        "check",
        "positions",
        client=lambda: connect(prime.account, transport=ListedAs(positions, {})),
    )
    assert checked.exit_code == 3, checked.output  # UNKNOWN: it could not look
    assert "'market_positions' list" in checked.output, checked.output
