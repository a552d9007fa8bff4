"""The position limit of `kalshi order place` counts the subaccount the order goes to: its
position and its own resting orders, never another subaccount's.

`GET /portfolio/orders` without `subaccount` lists every subaccount's orders, while
`GET /portfolio/positions` answers for subaccount 0 (openapi.yaml 3.31.0). Counting the first
beside the second added subaccount 1's bids to subaccount 0's exposure, so an order within the
limit on 0 was refused. Kalshi names an order's subaccount (`subaccount_number`) to direct
members only (REFERENCE.md), so the orders are asked for by subaccount, not sorted afterwards.

Each account here: subaccount 1 created and funded, 4 YES held on 0 (bought from another
account), a bid of 9 resting on 1, and `limits.max_position_per_market: 10`."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.venue import LocalVenue, MarketInfo
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.fakes import ticks
from tests.prime_tier import (
    Counted,
    Kalshi,
    connect,
    counted,
    funded_subaccount,
    make_markets,
    state_path,
)


@pytest.fixture
def held(prime: SimHarness, client: KalshiClient, tmp_path: Path) -> str:
    """The account of the module docstring; returns the market's ticker."""
    (ticker,) = make_markets(prime, 1)
    assert funded_subaccount(client) == 1
    with connect(prime.new_account(balance_cents=100_000)) as other:
        other.orders.create_order(CreateOrder(ticker, BookSide.ASK, D("0.40"), D(4)))
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(4)))  # 4 held on 0
    client.on_subaccount(1).orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.25"), D(9)))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.yaml").write_text("limits:\n  max_position_per_market: 10\n")
    return ticker


def _buy(kalshi: Kalshi, ticker: str, count: int, *subaccount: str) -> tuple[int, str]:
    result = kalshi(
        "order",
        "place",
        ticker,
        "--side",
        "yes",
        "--action",
        "buy",
        "--count",
        str(count),
        "--price",
        "0.20",
        *subaccount,
    )
    return result.exit_code, result.stderr


def _resting(client: KalshiClient, ticker: str, subaccount: int) -> list[D]:
    mine = client.on_subaccount(subaccount).orders.iter_orders(ticker=ticker, status="resting")
    return sorted(o.remaining_count for o in mine)


@pytest.mark.parametrize("named", [(), ("--subaccount", "0")], ids=["unnamed", "named"])
def test_an_order_on_subaccount_0_is_held_to_0s_own_exposure(
    client: KalshiClient, kalshi: Kalshi, held: str, tmp_path: Path, named: tuple[str, ...]
) -> None:
    # 4 held + 7 = 11, over 10: refused, whatever rests on 1
    code, stderr = _buy(kalshi, held, 7, *named)
    assert code == ExitCode.REJECTED
    assert "would reach 11.00 contracts, over the limit of 10" in stderr
    # 4 held + 3 = 7: accepted (with 1's bid of 9 counted it was 16, refused)
    code, stderr = _buy(kalshi, held, 3, *named)
    assert code == 0, stderr
    assert _resting(client, held, 0) == [D(3)]
    # 4 held + 3 resting + 3 = 10: at the limit, accepted; one more is over it
    assert _buy(kalshi, held, 3, *named)[0] == 0
    code, stderr = _buy(kalshi, held, 1, *named)
    assert code == ExitCode.REJECTED
    assert "would reach 11.00 contracts" in stderr
    assert _resting(client, held, 0) == [D(3), D(3)]
    assert _resting(client, held, 1) == [D(9)]
    with Store.open(state_path(tmp_path)) as store:
        assert {i.subaccount for i in store.orders.intents()} == {0}


def test_an_order_on_subaccount_1_is_held_to_1s_own_exposure(
    client: KalshiClient, kalshi: Kalshi, held: str
) -> None:
    # 1 holds nothing and rests 9: 2 more is 11, refused (0's 4 held are not 1's)
    code, stderr = _buy(kalshi, held, 2, "--subaccount", "1")
    assert code == ExitCode.REJECTED
    assert "would reach 11.00 contracts" in stderr
    assert _buy(kalshi, held, 1, "--subaccount", "1")[0] == 0
    assert _resting(client, held, 1) == [D(1), D(9)]
    # and 0 is still held to its own: 4 held + 6 = 10, accepted
    assert _buy(kalshi, held, 6)[0] == 0
    assert _resting(client, held, 0) == [D(6)]


def test_the_service_counts_the_clients_subaccount_and_leaves_the_client_on_it(
    client: KalshiClient, held: str, store: Store
) -> None:
    service = OrderService(client, store)
    assert counted(service, held) == Counted(D(4), D(0), D(0))
    assert client.subaccount is None
    client.subaccount = 1
    assert counted(service, held) == Counted(D(0), D(9), D(0))
    assert client.subaccount == 1


def test_the_local_venues_client_counts_its_subaccounts_own_orders(tmp_path: Path) -> None:
    """A backtest's and a paper session's client (venue/): the same exposure as the exchange's,
    subaccount by subaccount."""
    ticker = "KXTEST-26JAN01-A"
    info = MarketInfo(ticker, "KXTEST-26JAN01", "KXTEST", fee_type="quadratic", fee_multiplier="1")
    venue = LocalVenue(ManualClock(), [info], balance=D(1000))
    assert venue.core.subaccounts.create_subaccount(venue.account) == 1
    venue.core.subaccounts.transfer(
        venue.account,
        client_transfer_id="fund-1",
        from_subaccount=0,
        to_subaccount=1,
        amount_cents=20_000,
    )
    venue.book_changed(
        ticker, ticks({D("0.40"): D(50)}), ticks({D("0.45"): D(10)})
    )  # YES asks 0.55 x10
    ioc = TimeInForce.IOC
    client = venue.client
    client.orders.create_order(
        CreateOrder(ticker, BookSide.BID, D("0.55"), D(3), time_in_force=ioc)
    )
    client.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.40"), D(1)))
    one = client.on_subaccount(1)
    one.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.55"), D(2), time_in_force=ioc))
    one.orders.create_order(CreateOrder(ticker, BookSide.BID, D("0.30"), D(4)))
    with Store.open(tmp_path / "state.db") as store:
        assert counted(OrderService(client, store), ticker) == Counted(D(3), D(1), D(0))
        assert counted(OrderService(one, store), ticker) == Counted(D(2), D(4), D(0))
    assert (client.subaccount, one.subaccount) == (None, 1)
