"""A start that waits for an earlier run's orders of unknown outcome to settle (`reconcile`)
ends that wait when the run's stop event is set (SIGTERM, SIGINT), says so, and cancels the
resting orders of its strategies the state file knows: the killed run's quotes do not stay."""

from __future__ import annotations

import sqlite3
import threading
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.client.retry import DEFAULT_RETRY_BUDGET_S, retry_budget
from kalshi_cli.runner.loop.settings import CLIENT_RETRY_BUDGET_S
from kalshi_cli.runner.preflight import StartStop, StoppedWhileStarting, reconcile
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import ApiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.cli.test_order_writes_the_state_file_cannot_record import LockAfterTheFirstCancel
from tests.conftest import SimHarness
from tests.fakes import Unanswered
from tests.prime_tier import connect_as, make_markets


def _quotes_and_an_amend_in_doubt(
    service: OrderService, ticker: str, prices: tuple[str, ...], amended: int, *, to: str
) -> list[str]:
    """Bids of 2 at `prices` placed on the simulator, their order ids in that order; an amend
    of the `amended` one to `to` recorded and never answered (a killed run's, in doubt)."""
    ids = []
    for price in prices:
        request = OrderRequest(ticker, Side.YES, Action.BUY, D(2), D(price), strategy="spike")
        placed = service.place(service.prepare(request))
        assert placed.order_id is not None
        ids.append(placed.order_id)
    recorded = service.amends.record(
        ids[amended], ticker=ticker, book_side=BookSide.BID, yes_price=D(to), rest=D(2),
        post_only=None,
    )  # fmt: skip
    assert recorded is not None
    return ids


def test_a_stop_during_the_settling_wait_ends_it_and_cancels_the_runs_quotes(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    (ticker,) = make_markets(prime, 1)
    service = OrderService(client, store)
    # another strategy's quote, first in the state file: not the run's, left alone
    theirs = OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.10"), strategy="other")
    other = service.place(service.prepare(theirs)).order_id
    # the same strategy's quote on another subaccount: that subaccount's run's, left alone
    store.orders.record_intent(
        IntentRecord(
            client_order_id="spike-elsewhere", ticker=ticker, book_side=BookSide.BID,
            price=D("0.15"), count=D(1), side=Side.YES, action=Action.BUY, strategy="spike",
            subaccount=3,
        )
    )  # fmt: skip
    store.orders.mark_sent(
        "spike-elsewhere", order_id="ord-elsewhere", status="resting", fill_count=D(0),
        remaining_count=D(1),
    )  # fmt: skip
    # an amend of the killed run's, recorded and never answered: in doubt for the landing wait
    ids = _quotes_and_an_amend_in_doubt(service, ticker, ("0.20", "0.21"), 0, to="0.22")
    stop = threading.Event()
    waits: list[float] = []

    def sigterm_while_waiting(orders: int, wait_s: float) -> None:
        waits.append(wait_s)
        stop.set()

    with pytest.raises(StoppedWhileStarting) as stopped:
        reconcile(
            client,
            store,
            SystemClock(),
            waiting=sigterm_while_waiting,
            stop=StartStop(stop, frozenset({"spike"})),
        )

    assert waits and waits[0] > 10, "the start waited for the amend in doubt"
    assert stopped.value.message == (
        "stopped while the start waited for orders of unknown outcome to settle; no loop ran; "
        "2 resting order(s) of its strategies cancelled"
    )
    assert stopped.value.hint == (
        "run `kalshi reconcile` (or start again) to settle the orders of unknown outcome"
    )
    assert stopped.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert [client.orders.get_order(i).status for i in ids] == ["canceled", "canceled"]
    assert other is not None and client.orders.get_order(other).status == "resting"


def test_the_cancels_of_a_stop_during_the_start_retry_within_the_loops_budget(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    """The start's reads retry within the default budget (nothing ticks yet), but the cancels a
    stop makes while the start waits are the stop's: SIGTERM waits on them, so each retries
    within the loop's budget, as the loop's own stop does."""
    (ticker,) = make_markets(prime, 1)
    service = OrderService(client, store)
    ids = _quotes_and_an_amend_in_doubt(service, ticker, ("0.20", "0.21"), -1, to="0.22")
    stop = threading.Event()
    # every cancel gets no answer for longer than the loop's budget
    transport = Unanswered("DELETE", "", CLIENT_RETRY_BUDGET_S + 0.5)
    key, _ = load_private_key(path=prime.account.private_key_path)
    slow = KalshiClient(
        api_base=prime.account.api_base,
        key_id=prime.account.key_id,
        private_key=key,
        transport=transport,
        max_retry_seconds=CLIENT_RETRY_BUDGET_S,  # as `kalshi trade` builds it
    )
    with slow, retry_budget(DEFAULT_RETRY_BUDGET_S), pytest.raises(StoppedWhileStarting) as stopped:
        reconcile(
            slow,
            store,
            SystemClock(),
            waiting=lambda _orders, _wait_s: stop.set(),
            stop=StartStop(stop, frozenset({"spike"})),
        )
    # each cancel that failed named, one after the other
    assert "0 resting order(s) of its strategies cancelled, 2 not: " in stopped.value.message
    first, second = stopped.value.message.split(", 2 not: ")[1].split("; ")
    assert (first.split(":")[0], second.split(":")[0]) == tuple(ids)
    assert transport.unanswered == 2, "a cancel was not tried again past the loop's budget"


def test_a_stop_during_the_start_whose_state_file_fails_cancels_the_rest_without_it(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state file locked by another writer once the first cancel is answered: the busy
    timeout is waited out once, the other quotes cancelled without the state file, and each
    named cancelled but not recorded. Each cancel waited out the timeout and, its booking
    failed, was named not cancelled though the exchange had taken it off."""
    busy_s = 1.0
    monkeypatch.setattr("kalshi_cli.store.connection.BUSY_TIMEOUT_SECONDS", busy_s)
    path = tmp_path / "state.db"
    (ticker,) = make_markets(prime, 1)
    holders: list[sqlite3.Connection] = []

    def lock() -> None:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holders.append(holder)

    with Store.open(path) as store:
        service = OrderService(client, store)
        prices = ("0.20", "0.21", "0.22", "0.23")
        ids = _quotes_and_an_amend_in_doubt(service, ticker, prices, -1, to="0.24")
        stop = threading.Event()
        cancelling = connect_as(LockAfterTheFirstCancel, prime.account)
        cancelling.area.fail = lock
        started = time.monotonic()
        try:
            with cancelling, pytest.raises(StoppedWhileStarting) as stopped:
                reconcile(
                    cancelling,
                    store,
                    SystemClock(),
                    waiting=lambda _orders, _wait_s: stop.set(),
                    stop=StartStop(stop, frozenset({"spike"})),
                )
            took = time.monotonic() - started
        finally:
            for holder in holders:
                holder.rollback()
                holder.close()

    assert [client.orders.get_order(i).status for i in ids] == ["canceled"] * 4
    message = stopped.value.message
    assert "4 resting order(s) of its strategies cancelled" in message, message
    assert " not: " not in message, message
    assert "4 not recorded" in message and all(i in message for i in ids), message
    assert "is locked" in message, message
    assert took < 2 * busy_s, f"the busy timeout was waited out more than once: {took:.1f}s"


class RefusesTheKey(OrdersApi):
    """Orders on the simulator's wire whose cancels are answered 401 (the key refused)."""

    cancels: int = 0

    def cancel_order(
        self, order_id: str, *, ticker: str | None = None, subaccount: int | None = None
    ) -> CancelResult:
        self.cancels += 1
        raise ApiError.from_response(401, {"error": {"code": "unauthorized", "message": "no"}})


def test_a_stop_during_the_start_whose_key_is_refused_sends_no_other_cancel(
    prime: SimHarness, client: KalshiClient, store: Store
) -> None:
    """A refused key refuses every cancel: the first refusal ends them, and the error says so."""
    (ticker,) = make_markets(prime, 1)
    service = OrderService(client, store)
    ids = _quotes_and_an_amend_in_doubt(service, ticker, ("0.20", "0.21"), -1, to="0.22")
    stop = threading.Event()
    refused = connect_as(RefusesTheKey, prime.account)
    with refused, pytest.raises(StoppedWhileStarting) as stopped:
        reconcile(
            refused,
            store,
            SystemClock(),
            waiting=lambda _orders, _wait_s: stop.set(),
            stop=StartStop(stop, frozenset({"spike"})),
        )
    assert refused.area.cancels == 1
    message = stopped.value.message
    assert "no loop ran; its cancels ended: " in message and "401" in message, message
    assert [client.orders.get_order(i).status for i in ids] == ["resting"] * 2
