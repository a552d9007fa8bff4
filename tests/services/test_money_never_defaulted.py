"""No defaults in money: a money figure the exchange's answer leaves out is never read as zero.

The exchange here is the real simulator; a transport between the client and it (a test's: the
simulator stays faithful) takes fields out of the items of the listings it names, as an
exchange answering a half response would. What decides money (a realized P&L, the day's loss
the circuit breaker reads, the exposure a check grades) must then fail the read, never go on
from a zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import httpx
import pytest

from kalshi_cli.checks import CheckResult, CheckStatus, guarded
from kalshi_cli.checks.remote import check_exposure
from kalshi_cli.checks.thresholds import resolve
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import connect, make_markets, state_path


class Stripping(httpx.BaseTransport):
    """The real simulator, except that every item of the listing at `path` (its list `key`)
    loses the field `field`."""

    def __init__(self, path: str, key: str, field: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._path, self._key, self._field = path, key, field

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method != "GET" or not request.url.path.endswith(self._path):
            return response
        body = json.loads(response.read())
        for item in body.get(self._key) or []:
            item.pop(self._field, None)
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def settled_win(prime: SimHarness) -> Iterator[str]:
    """4 YES bought at 0.60 in a market that then settles YES: $4.00 paid for $2.40."""
    (ticker,) = make_markets(prime, 1)
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.60"), D(4)))
    with connect(prime.account) as ours:
        ours.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(4)))
    prime.settle(ticker, "yes")
    yield ticker


@pytest.mark.parametrize(
    "field",
    [
        "revenue",
        "yes_count_fp",
        "yes_total_cost_dollars",
        "no_count_fp",
        "no_total_cost_dollars",
        "fee_cost",
        "settled_time",
    ],
)
def test_a_settlement_listed_without_a_money_field_is_never_booked(
    prime: SimHarness, settled_win: str, tmp_path: Path, field: str
) -> None:
    """Read as $0 revenue, a winning settlement was booked as the loss of its whole cost; read
    as 0 cost, a loss as a gain; without its time it was dated 1970, outside the day whose
    losses the circuit breaker sums. The settlements read fails instead, and nothing is
    booked."""
    transport = Stripping("/portfolio/settlements", "settlements", field)
    with (
        Store.open(state_path(tmp_path)) as store,
        connect(prime.account, transport=transport) as client,
    ):
        with pytest.raises(KalshiError, match=field):
            OrderService(client, store).reconcile()
        assert list(store.settlements.read()) == []
    with Store.open(state_path(tmp_path)) as store, connect(prime.account) as client:
        OrderService(client, store).reconcile()  # the whole answer books it
        (booked,) = store.settlements.read()
        assert booked.ticker == settled_win and booked.revenue == D(4)
        assert booked.yes_total_cost == D("2.40")


@pytest.fixture
def held(prime: SimHarness) -> Iterator[str]:
    """4 YES bought at 0.60 and held: $2.40 of exposure."""
    (ticker,) = make_markets(prime, 1)
    with connect(prime.new_account(balance_cents=1_000_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.60"), D(4)))
    with connect(prime.account) as ours:
        ours.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.60"), D(4)))
    yield ticker


@pytest.mark.parametrize(
    "field",
    [
        "market_exposure_dollars",
        "realized_pnl_dollars",
        "fees_paid_dollars",
        "total_traded_dollars",
    ],
)
def test_a_position_listed_without_its_money_is_no_exposure_of_zero(
    prime: SimHarness, held: str, field: str
) -> None:
    """`kalshi check exposure` sums the exchange's `market_exposure_dollars`: a position listed
    without it counted $0, and $2.40 against a $2.00 cap was OK. The positions read fails, and
    the check is UNKNOWN ("cannot tell"), never OK."""
    cap = D(2)

    def exposure(client: KalshiClient) -> CheckResult:
        return guarded("exposure", lambda: check_exposure(client, resolve(None), cap))

    with connect(prime.account) as client:
        assert exposure(client).status is CheckStatus.CRITICAL  # the whole answer
    transport = Stripping("/portfolio/positions", "market_positions", field)
    with connect(prime.account, transport=transport) as client:
        result = exposure(client)
    assert result.status is CheckStatus.UNKNOWN, result.summary
    assert field in result.summary


class Rewriting(httpx.BaseTransport):
    """The real simulator, except that the balance answer says `balance_dollars` is `value`."""

    def __init__(self, value: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._value = value

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method != "GET" or not request.url.path.endswith("/portfolio/balance"):
            return response
        body = json.loads(response.read())
        body["balance_dollars"] = self._value
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize("value", ["Infinity", "NaN", "-Infinity"])
def test_a_balance_that_is_no_finite_number_never_lets_an_order_past_the_balance_check(
    prime: SimHarness, tmp_path: Path, value: str
) -> None:
    """An order costing more than the account's $1,000.00 is refused locally for its balance.
    A balance answer of `Infinity` let it past that check, and `NaN` failed it with a bare
    `decimal.InvalidOperation`: the balance read fails, naming the field, and nothing is
    sent."""
    make_markets(prime, 1)
    request = OrderRequest("KXT-EV-M00", Side.YES, Action.BUY, D(2600), D("0.40"))
    with (
        Store.open(tmp_path / "state.db") as store,
        connect(prime.account, transport=Rewriting(value)) as client,
        pytest.raises(KalshiError, match="balance_dollars"),
    ):
        # the account's size and position limits (`risk:`) raised past it: the balance refuses
        raised = RiskLimits(max_order_count=D(10**6), max_position_per_market=D(10**6))
        OrderService(client, store, limits=raised).prepare(request)
