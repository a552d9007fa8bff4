"""`kalshi order cancel-all --ticker T` without `--subaccount`, in-process against the
simulator: it covers every subaccount the account has (docs/orders.md), each order cancelled on
its own, whether the state file placed it or another program did, and whether the order names
its subaccount or not (the exchange names it to direct members only)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx
import pytest

from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_order_changes_go_to_the_orders_subaccount import (
    _fund_subaccount_1,
    _the_order,
    _unnamed,
)
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, make_markets
from tests.wire import order_body


@pytest.mark.parametrize("names_it", [True, False], ids=["order-names-it", "order-names-none"])
def test_a_markets_cancel_all_cancels_its_orders_on_every_subaccount(
    prime: SimHarness, kalshi: Kalshi, names_it: bool
) -> None:
    """Four of T's orders rest on subaccount 1 (two placed here, two by another program) and
    one on the primary: all five are cancelled and the command says so, and another market's
    order on subaccount 1 rests on. It listed subaccount 0 alone, printed "orders cancelled 1"
    and exited 0 with the four left resting."""
    ticker, other = make_markets(prime, 2)
    run: dict[str, Any] = {} if names_it else {"client": _unnamed(prime)}
    _fund_subaccount_1(kalshi)
    ids = []
    for _ in range(2):
        placed = kalshi(
            "order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "2",
            "--price", "0.30", "--subaccount", "1", "--json", **run,
        )  # fmt: skip
        assert placed.exit_code == 0, placed.output
        ids.append(json.loads(placed.stdout)["order"]["order_id"])
    for subaccount in (1, 1, 0):
        body = order_body(ticker, price="0.20", count="3.00", subaccount=subaccount)
        ids.append(str(prime.placed(prime.account, body)["order_id"]))

    elsewhere = str(
        prime.placed(prime.account, order_body(other, price="0.20", subaccount=1))["order_id"]
    )

    done = kalshi("order", "cancel-all", "--ticker", ticker, "--json", **run)

    assert done.exit_code == 0, done.output
    assert sorted(json.loads(done.stdout)["cancelled"]) == sorted(ids)
    assert json.loads(done.stdout)["contracts_cancelled"] == "13.00"
    assert {_the_order(prime, i)["status"] for i in ids} == {"canceled"}
    assert _the_order(prime, elsewhere)["status"] == "resting"


class _FirstCancelFails(httpx.HTTPTransport):
    """The real simulator, except that it answers every cancel of the first order a cancel is
    asked for with `status` (500: the exchange failing that one request; 401: the key refused);
    `cancels` are the order ids of the cancels asked, in order."""

    def __init__(self, status: int = 500) -> None:
        super().__init__()
        self.status = status
        self.failing: str | None = None
        self.cancels: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        prefix, _, order_id = request.url.path.rpartition("/")
        if request.method == "DELETE" and prefix.endswith("/portfolio/events/orders"):
            self.cancels.append(order_id)
            self.failing = self.failing or order_id
            if order_id == self.failing:
                return httpx.Response(self.status, json={"error": {"code": "refused"}})
        return super().handle_request(request)


def test_an_order_whose_cancel_fails_does_not_keep_the_markets_others_resting(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """T's first order whose cancel the exchange keeps failing is named not cancelled, and the
    command exits NOT_PROVEN; every other order of T is cancelled all the same. The failure
    ended the command, the orders after it left resting."""
    (ticker,) = make_markets(prime, 1)
    ids = [
        str(prime.placed(prime.account, order_body(ticker, price=f"0.2{n}"))["order_id"])
        for n in range(3)
    ]
    exchange = _FirstCancelFails()

    done = kalshi(
        "order", "cancel-all", "--ticker", ticker, "--json",
        client=partial(connect, prime.account, transport=exchange),
    )  # fmt: skip

    failing = exchange.failing
    assert failing in ids
    others = [i for i in ids if i != failing]
    assert {_the_order(prime, i)["status"] for i in others} == {"canceled"}
    assert _the_order(prime, failing)["status"] == "resting"
    assert done.exit_code == ExitCode.NOT_PROVEN, done.output
    document = json.loads(done.stdout)
    assert sorted(document["cancelled"]) == sorted(others)
    ((named, error),) = [(n["order_id"], n["error"]) for n in document["not_cancelled"]]
    assert named == failing and "HTTP 500" in error
    assert f"not cancelled: {failing}: " in done.stderr


def test_a_refused_key_ends_a_markets_cancel_all_at_once(prime: SimHarness, kalshi: Kalshi) -> None:
    """A 401 refuses the key, not the order: every other cancel would be refused too, so none
    is sent after it and the command exits AUTH."""
    (ticker,) = make_markets(prime, 1)
    for n in range(3):
        prime.placed(prime.account, order_body(ticker, price=f"0.2{n}"))
    exchange = _FirstCancelFails(401)

    done = kalshi(
        "order", "cancel-all", "--ticker", ticker, "--json",
        client=partial(connect, prime.account, transport=exchange),
    )  # fmt: skip

    assert done.exit_code == ExitCode.AUTH, done.output
    assert exchange.cancels and set(exchange.cancels) == {exchange.failing}


class _KeyRefusedAfterOneCancel(httpx.HTTPTransport):
    """The real simulator, except that every cancel after the first is answered 401 (the key
    refused midway); `cancels` are the order ids of the cancels asked, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.cancels: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        prefix, _, order_id = request.url.path.rpartition("/")
        if request.method == "DELETE" and prefix.endswith("/portfolio/events/orders"):
            self.cancels.append(order_id)
            if len(self.cancels) > 1:
                return httpx.Response(401, json={"error": {"code": "unauthorized"}})
        return super().handle_request(request)


def test_a_key_refused_midway_still_names_the_orders_cancelled_before_it(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """The first of T's orders is cancelled, the next cancel's key refused: the command exits
    AUTH and names the order it did cancel. It said only that the key was refused, so the
    trader could not tell that one of T's orders was off the book and the others rest."""
    (ticker,) = make_markets(prime, 1)
    for n in range(3):
        prime.placed(prime.account, order_body(ticker, price=f"0.2{n}"))
    exchange = _KeyRefusedAfterOneCancel()

    done = kalshi(
        "order", "cancel-all", "--ticker", ticker,
        client=partial(connect, prime.account, transport=exchange),
    )  # fmt: skip

    assert done.exit_code == ExitCode.AUTH, done.output
    first = exchange.cancels[0]
    assert _the_order(prime, first)["status"] == "canceled"
    assert f"cancelled before it: {first}" in done.output, done.output


class _MarketLookupFails(httpx.HTTPTransport):
    """The real simulator, except that every read of the market `ticker` is answered 500;
    `order_reads` are the order ids read one by one, in order."""

    def __init__(self, ticker: str) -> None:
        super().__init__()
        self.ticker = ticker
        self.order_reads: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        prefix, _, last = request.url.path.rpartition("/")
        if request.method == "GET" and prefix.endswith("/markets") and last == self.ticker:
            return httpx.Response(500, json={"error": {"code": "internal_server_error"}})
        if request.method == "GET" and prefix.endswith("/portfolio/orders"):
            self.order_reads.append(last)
        return super().handle_request(request)


def test_a_markets_cancel_all_whose_market_lookup_fails_cancels_as_typed_and_says_not_done(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """The exchange failing the market's lookup: the failure is said, T's orders are cancelled
    as typed, each by the market its listing names (no order read again), and the command
    says it is not done and exits NOT_PROVEN, the spelling not confirmed."""
    (ticker,) = make_markets(prime, 1)
    ids = [
        str(prime.placed(prime.account, order_body(ticker, price=f"0.2{n}"))["order_id"])
        for n in range(2)
    ]
    exchange = _MarketLookupFails(ticker)

    done = kalshi(
        "order", "cancel-all", "--ticker", ticker, "--json",
        client=partial(connect, prime.account, transport=exchange),
    )  # fmt: skip

    assert {_the_order(prime, i)["status"] for i in ids} == {"canceled"}
    assert sorted(json.loads(done.stdout)["cancelled"]) == sorted(ids)
    assert exchange.order_reads == []
    assert f"could not tell whether {ticker} exists" in done.stderr, done.stderr
    assert "cancelling anyway" in done.stderr
    assert "not done: " in done.stderr
    assert done.exit_code == ExitCode.NOT_PROVEN, done.output
