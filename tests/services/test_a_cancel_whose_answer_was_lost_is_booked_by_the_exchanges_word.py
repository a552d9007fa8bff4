"""A batch cancel whose answer is lost, resent and answered `not_found` for each order: the first
(lost) cancel may have taken the orders off, or they filled meanwhile. The kill switch asks the
exchange each order's status and books it by that: cancelled (status `canceled`), filled, or
gone without a known cause; its report counts and names each so. With no answer lost it asks
nothing more."""

from __future__ import annotations

import copy
import io
import json
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Self

import httpx
import msgspec
import pytest

from kalshi_cli.cli._output import Output
from kalshi_cli.cli.trading import render_kill_report
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import ApiError, RateLimitedError, TransportError
from kalshi_cli.vocabulary.models import Order, decode_answer
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets, state_path
from tests.services.killswitch_fakes import UnexpectedCalls

TICKER = "KXT-EV-M00"


def _seed_losing_the_first_write_only(rate: float) -> int:
    """A seed of the simulator's fault draws that drops the first answer and not the second."""
    for seed in range(1000):
        draws = random.Random(seed)
        if draws.random() < rate <= draws.random():
            return seed
    raise AssertionError("no such seed")


def test_orders_a_lost_batch_cancel_took_off_are_counted_cancelled(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)
    for price in ("0.10", "0.11"):
        args = ["order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "2"]
        placed = kalshi(*args, "--price", price)
        assert placed.exit_code == 0, placed.output
    with Store.open(state_path(tmp_path)) as store:
        ids = sorted(i.order_id or "" for i in store.orders.intents(ticker=ticker))
    # the batch cancel is the run's only write: its answer is lost, its resend answered
    seed = _seed_losing_the_first_write_only(0.5)
    prime.set_faults(drop_response_after_commit_rate=0.5, seed=seed)

    pulled = kalshi("cancel-all", "--ticker", ticker, "--yes", "--json")

    prime.clear_faults()
    assert pulled.exit_code == 0, pulled.output
    report = json.loads(pulled.stdout)
    assert report["proven"] is True
    assert sorted(report["cancelled"]) == ids
    assert (report["cancelled_count"], report["contracts_cancelled"]) == (2, "4.00")
    assert (report["filled"], report["gone"]) == ([], [])
    # neither is an error: the exchange says they were cancelled
    assert not [e for e in report["errors"] if any(i in e for i in ids)], report["errors"]
    with Store.open(state_path(tmp_path)) as store:
        assert {i.status for i in store.orders.intents(ticker=ticker)} == {"canceled"}


def resting(order_id: str, *, status: str = "resting", filled: str = "0.00") -> Order:
    left = "0.00" if status != "resting" else f"{Decimal('2.00') - Decimal(filled):.2f}"
    return decode_answer(
        Order,
        {
            "order_id": order_id,
            "ticker": TICKER,
            "book_side": "bid",
            "status": status,
            "yes_price_dollars": "0.2000",
            "fill_count_fp": filled,
            "remaining_count_fp": left,
            "initial_count_fp": "2.00",
            "created_time": "2026-11-22T10:00:00Z",
        },
    )


class LosesTheFirstAnswer(UnexpectedCalls):
    """Lists its orders resting until a cancel takes them off; the first batch cancel takes
    them off and its answer is lost, and the resend is answered `not_found` for each. What each
    order became is `became` (None: the exchange does not know it by its id)."""

    def __init__(self, became: dict[str, Order | None], *, lose: bool = True) -> None:
        self.listed = [resting(i) for i in became]
        self.became = became
        self.lose = lose
        self.looked_up: list[str] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield from list(self.listed)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        if not self.listed:
            gone = "not_found: order not found"
            return [CancelResult(oid, Decimal(0), error=gone) for oid, _ in orders]
        taken, self.listed = self.listed, []
        if self.lose:
            raise TransportError("POST batch: the connection dropped after sending")
        return [CancelResult(o.order_id, o.remaining_count) for o in taken]

    def get_order(self, order_id: str) -> Order:
        self.looked_up.append(order_id)
        became = self.became[order_id]
        if became is None:
            raise ApiError.from_response(
                404, {"error": {"code": "not_found", "message": "no such order"}}
            )
        return became


def _resting_here(store: Store, order_id: str, subaccount: int = 0) -> None:
    """The state file's row of an order resting on the exchange: 2 to buy YES at 0.20."""
    store.orders.record_intent(
        IntentRecord(
            f"c-{order_id}", TICKER, BookSide.BID, Decimal("0.20"), Decimal(2), Side.YES,
            Action.BUY, subaccount=subaccount,
        )
    )  # fmt: skip
    store.orders.mark_sent(
        f"c-{order_id}",
        order_id=order_id,
        status="resting",
        fill_count=Decimal(0),
        remaining_count=Decimal(2),
    )


def test_each_order_of_a_lost_cancel_is_booked_as_the_exchange_says_it_ended(
    clock: ManualClock, clocked_store: Store
) -> None:
    for order_id in ("cancelled", "filled", "unknown", "lagging"):
        _resting_here(clocked_store, order_id)
    clock.advance(5)  # acknowledged long before the switch: listed by now
    exchange = LosesTheFirstAnswer(
        {
            "cancelled": resting("cancelled", status="canceled", filled="0.50"),
            "filled": resting("filled", status="executed", filled="2.00"),
            "unknown": None,
            "lagging": resting("lagging"),  # a read by its id that lags the listing
        }
    )

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven and report.result_recorded
    assert sorted(exchange.looked_up) == ["cancelled", "filled", "lagging", "unknown"]
    document = report.to_json()
    # cancelled with what it had left after the fill the cancel's resend came after
    assert (document["cancelled"], document["contracts_cancelled"]) == (["cancelled"], "1.50")
    assert (document["filled"], document["filled_count"]) == (["filled"], 1)
    assert (document["gone"], document["gone_count"]) == (["unknown"], 1)
    (said,) = [e for e in report.errors if e.startswith("unknown")]
    assert said == (
        "unknown: gone, cause unknown: its cancel's answer was lost, the cancel sent again "
        "answered not_found: order not found, and the order could not be read by its id "
        "(`kalshi reconcile` settles it)"
    )
    # one its read shows resting still is left to the next run's listing, and said so
    assert "lagging: not_found: order not found; read by its id: resting" in report.errors
    assert not [e for e in report.errors if e.startswith(("cancelled", "filled"))]
    # the text report names them too, not only --json
    out = io.StringIO()
    render_kill_report(Output(stdout=out), report, scope=TICKER)
    text = out.getvalue()
    assert "filled, not cancelled: filled (strategy" in text
    assert "gone, cause unknown (`kalshi reconcile` settles it): unknown (strategy" in text
    # the state file books each as read: its fills counted, nothing left resting
    rows = {
        order_id: (row.status, row.filled, row.remaining)
        for order_id in ("cancelled", "filled", "unknown")
        if (row := clocked_store.orders.intent_by_order_id(order_id)) is not None
    }
    assert rows == {
        "cancelled": ("canceled", Decimal("0.50"), Decimal(0)),
        "filled": ("executed", Decimal(2), Decimal(0)),
        "unknown": ("canceled", Decimal(0), Decimal(0)),
    }


def test_a_cancel_answered_at_once_asks_nothing_more(store: Store) -> None:
    """No answer lost: an order a cancel answered `not_found` is no order looked up (the
    fake's `get_order` would record it)."""
    exchange = LosesTheFirstAnswer({"a": None}, lose=False)

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven and report.cancelled == ["a"]
    assert exchange.looked_up == []


class RefusesTheFirstTry(LosesTheFirstAnswer):
    """The first batch cancel fails with `first` and takes nothing off; the order then fills, so
    the resend is answered `not_found`."""

    def __init__(self, first: Exception) -> None:
        super().__init__({"a": None})
        self.first: Exception | None = first

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        if self.first is not None:
            failed, self.first = self.first, None
            raise failed
        self.listed = []
        return [CancelResult(oid, Decimal(0), error="not_found") for oid, _ in orders]


def _never_sent() -> TransportError:
    refused = TransportError("POST batch: connection refused")
    refused.__cause__ = httpx.ConnectError("connection refused")
    return refused


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(
            lambda: RateLimitedError.from_response(429, {"error": {"code": "too_many_requests"}}),
            id="rate-limited",
        ),
        pytest.param(_never_sent, id="never-sent"),
    ],
)
def test_a_cancel_refused_before_it_acted_leaves_no_order_in_doubt(
    store: Store, first: Callable[[], Exception]
) -> None:
    """A 429, or a connection refused before the request left, did nothing: the resend's
    `not_found` is the order's own end, an error of the run, and no order is read by its id."""
    exchange = RefusesTheFirstTry(first())

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert exchange.looked_up == []
    assert (report.cancelled, report.filled, report.gone) == ([], [], [])
    assert "a: not_found" in report.errors


class OnSubaccounts(LosesTheFirstAnswer):
    """`LosesTheFirstAnswer`, where an order is read by its id through a handle on a subaccount
    (`read_on`: the subaccount each read went to, None for the handle on every one)."""

    def __init__(self, became: dict[str, Order | None], listed: list[Order]) -> None:
        super().__init__(became)
        self.listed = listed
        self.read_on: list[tuple[int | None, str]] = []

    def on_subaccount(self, subaccount: int | None) -> Self:
        handle = copy.copy(self)
        handle.subaccount = subaccount
        return handle

    def get_order(self, order_id: str) -> Order:
        self.read_on.append((self.subaccount, order_id))
        return super().get_order(order_id)


def on_three(order: Order) -> Order:
    return msgspec.structs.replace(order, subaccount=3)


def test_an_order_listed_on_a_subaccount_is_read_there_and_counted_with_its_listed_fills(
    store: Store,
) -> None:
    """No state file row: the listing says the order is subaccount 3's, with 0.50 of its 2
    filled; the exchange knows it by its id there alone. Cancelled with what it had left."""
    exchange = OnSubaccounts(
        {"sub": on_three(resting("sub", status="canceled", filled="0.50"))},
        [on_three(resting("sub", filled="0.50"))],
    )

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert exchange.read_on == [(3, "sub")]
    assert (report.cancelled, report.contracts_cancelled) == (["sub"], Decimal("1.50"))


def test_orders_the_state_file_holds_are_each_read_on_their_own_subaccount(
    clock: ManualClock, clocked_store: Store
) -> None:
    """Cancelled from the state file before any listing, answered `not_found` (they ended before
    the switch) and never listed: each read by its id on the subaccount its row names, and
    booked as the exchange says it ended (cancelled with 0.50 filled; filled), not as a cancel of
    this run."""
    for order_id, subaccount in (("sub", 3), ("primary", 0)):
        _resting_here(clocked_store, order_id, subaccount)
    clock.advance(5)
    became: dict[str, Order | None] = {
        "sub": on_three(resting("sub", status="canceled", filled="0.50")),
        "primary": resting("primary", status="executed", filled="2.00"),
    }
    exchange = OnSubaccounts(became, [])

    report = KillSwitch(exchange, clocked_store, clock, deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert sorted(exchange.read_on, key=str) == [(3, "sub"), (None, "primary")]
    assert report.proven and report.cancelled == []
    rows = {
        order_id: (row.status, row.filled, row.remaining)
        for order_id in became
        if (row := clocked_store.orders.intent_by_order_id(order_id)) is not None
    }
    assert rows == {
        "sub": ("canceled", Decimal("0.50"), Decimal(0)),
        "primary": ("executed", Decimal(2), Decimal(0)),
    }


class ConfirmsOneLater(LosesTheFirstAnswer):
    """The first batch cancel takes off every order but `stuck` and its answer is lost; the
    resend is refused for each (`stuck` for `stuck_error`, the others `not_found`). `stuck` stays
    listed, and while `refuses` every later cancel of it is refused; else the next one takes it
    off."""

    def __init__(
        self, became: dict[str, Order | None], stuck: str, stuck_error: str, *, refuses: bool
    ) -> None:
        super().__init__(became)
        self.stuck, self.stuck_error, self.refuses = stuck, stuck_error, refuses
        self.sends = 0

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        self.sends += 1
        if self.sends == 1:
            self.listed = [o for o in self.listed if o.order_id == self.stuck]
            raise TransportError("POST batch: the connection dropped after sending")
        if self.sends == 2 or self.refuses:
            return [
                CancelResult(oid, Decimal(0), error=self.stuck_error)
                if oid == self.stuck
                else CancelResult(oid, Decimal(0), error="not_found: order not found")
                for oid, _ in orders
            ]
        taken, self.listed = self.listed, []
        return [CancelResult(o.order_id, o.remaining_count) for o in taken]


def test_an_order_of_a_lost_cancel_a_later_cancel_confirmed_is_counted_once_and_the_rest_read(
    store: Store,
) -> None:
    """`stuck`'s resend is refused and the next round's cancel takes it off: it is cancelled
    once, by that cancel's word, never read by its id, and the orders of the lost cancel after it
    are still each read and booked as the exchange says they ended."""
    exchange = ConfirmsOneLater(
        {"stuck": None, "taken": resting("taken", status="canceled")},
        "stuck",
        "internal_error: try again",
        refuses=False,
    )

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven
    assert exchange.looked_up == ["taken"]
    assert (report.cancelled, report.contracts_cancelled) == (["stuck", "taken"], Decimal(4))
    assert report.gone == []
    # what its first resend was answered is said, as for any refused cancel
    assert "stuck: internal_error: try again" in report.errors


def test_an_order_of_a_lost_cancel_still_listed_at_the_deadline_is_left_to_the_listings(
    store: Store,
) -> None:
    """Every cancel of `stuck` is refused and every listing shows it resting to the deadline: the
    listing decides, so it is left resting and unproven, never read by its id and booked by a
    read that may lag the listing (this one says cancelled)."""
    exchange = ConfirmsOneLater(
        {"stuck": resting("stuck", status="canceled")},
        "stuck",
        "not_found: order not found",
        refuses=True,
    )

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert not report.proven
    assert exchange.looked_up == []
    assert report.left == ["stuck"]
    assert (report.cancelled, report.gone) == ([], [])
    assert "stuck: not_found: order not found" in report.errors


def test_an_order_ended_uncancelled_is_read_after_one_a_lost_cancel_left_in_doubt(
    clock: ManualClock, clocked_store: Store
) -> None:
    """The state file's two orders, both filled before the switch, are cancelled one a batch:
    the first batch's answer is lost and its resend answered `not_found` (in doubt, read by its
    id as such), the second answered `not_found` at once. Neither is listed after: the second is
    still read by its id and booked filled, not booked cancelled."""
    for order_id in ("doubted", "filled"):
        _resting_here(clocked_store, order_id)
    clock.advance(5)
    exchange = ConfirmsOneLater(
        {
            "doubted": resting("doubted", status="executed", filled="2.00"),
            "filled": resting("filled", status="executed", filled="2.00"),
        },
        "none",
        "",
        refuses=True,
    )
    exchange.listed = []

    report = KillSwitch(
        exchange, clocked_store, clock, deadline_s=30, read_lag_s=0, batch_size=1
    ).run(ticker=TICKER)

    assert report.proven
    assert exchange.looked_up == ["doubted", "filled"]
    assert report.filled == ["doubted"]
    for order_id in ("doubted", "filled"):
        row = clocked_store.orders.intent_by_order_id(order_id)
        assert row is not None
        assert (row.status, row.filled, row.remaining) == ("executed", Decimal(2), Decimal(0))


class LosesTheAnswerThenRefusesTheBatchWhole(LosesTheFirstAnswer):
    """The first batch cancel takes the orders off and its answer is lost; the batch sent again
    is refused whole (400), and each order sent alone is answered `not_found`."""

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        if not self.listed and len(orders) > 1:
            raise ApiError.from_response(400, {"error": {"code": "bad_request"}})
        return super().batch_cancel(orders, subaccounts=subaccounts)


def test_orders_of_a_lost_cancel_sent_alone_after_their_batch_was_refused_are_read_and_counted(
    store: Store,
) -> None:
    """The lost answer of the batch's first try is carried to its orders sent alone: each
    refusal may be that lost cancel's doing, so each order is read by its id and counted
    cancelled as the exchange says. The refusals were taken at their word, named as errors and
    counted cancelled by no one."""
    exchange = LosesTheAnswerThenRefusesTheBatchWhole(
        {"a": resting("a", status="canceled"), "b": resting("b", status="canceled")}
    )

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven
    assert sorted(exchange.looked_up) == ["a", "b"]
    assert sorted(report.cancelled) == ["a", "b"]
    assert report.contracts_cancelled == Decimal(4)
    assert not [e for e in report.errors if e.startswith(("a:", "b:"))], report.errors


class LosesTheAnswerThenRefusesEveryBatchWhole(LosesTheFirstAnswer):
    """The first batch cancel takes the orders off and its answer is lost; every batch sent
    after it is refused whole (400), one of a single order too."""

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        if not self.listed:
            raise ApiError.from_response(400, {"error": {"code": "bad_request"}})
        return super().batch_cancel(orders, subaccounts=subaccounts)


@pytest.mark.parametrize("count", [1, 2], ids=["a-batch-of-one", "sent-alone-from-a-batch"])
def test_a_lone_order_refused_whole_after_a_lost_answer_is_read(store: Store, count: int) -> None:
    """A request of one order refused whole after a try of it lost its answer (a batch of one
    sent again, or an order of a refused batch sent alone) is that order's refusal after a lost
    answer, as an item's would be: the lost try may have cancelled it, so it is read by its id
    and counted as the exchange says, whatever the size of the batch it went in first."""
    ids = ["a", "b"][:count]
    exchange = LosesTheAnswerThenRefusesEveryBatchWhole(
        {i: resting(i, status="canceled") for i in ids}
    )

    report = KillSwitch(exchange, store, ManualClock(), deadline_s=30, read_lag_s=0).run(
        ticker=TICKER
    )

    assert report.proven
    assert sorted(exchange.looked_up) == ids
    assert sorted(report.cancelled) == ids
    assert report.contracts_cancelled == Decimal(2 * count)
    assert (report.filled, report.gone) == ([], [])


class LosesTheFirstBatchAnswerThenRefusesBatches(httpx.BaseTransport):
    """The real simulator over loopback, except batch cancels: the first is done and its answer
    lost (a 503 in its place); every later one of more than one order is refused whole (400)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.batches = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and request.url.path.endswith("/orders/batched"):
            self.batches += 1
            if self.batches == 1:
                self._inner.handle_request(request).read()
                return httpx.Response(503, json={"error": {"code": "internal", "message": "x"}})
            if len(json.loads(request.content)["orders"]) > 1:
                return httpx.Response(400, json={"error": {"code": "bad_request", "message": "x"}})
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_orders_of_a_batch_the_clients_retry_saw_refused_after_a_lost_answer_are_read(
    prime: SimHarness, tmp_path: Path
) -> None:
    """The client's own retry of a batch cancel whose answer was lost is refused whole: the
    lost try took the orders off, so the kill switch reads each by its id and counts it
    cancelled. Only the refusal was raised: the orders, sent alone and answered gone, were
    named errors and counted cancelled by no one."""
    from kalshi_cli.vocabulary.keys import load_private_key
    from tests.prime_tier import seed_resting

    (ticker,) = make_markets(prime, 1)
    seed_resting(prime, [ticker], 2)
    transport = LosesTheFirstBatchAnswerThenRefusesBatches()
    key, _ = load_private_key(path=prime.account.private_key_path)
    client = KalshiClient(
        api_base=prime.account.api_base,
        key_id=prime.account.key_id,
        private_key=key,
        max_attempts=2,
        transport=transport,
    )
    ids = sorted(o.order_id or "" for o in client.orders.iter_orders(ticker=ticker))
    assert len(ids) == 2
    with client, Store.open(tmp_path / "state.db") as store:
        report = KillSwitch(client, store, SystemClock(), deadline_s=30, read_lag_s=0).run(
            ticker=ticker
        )
    assert transport.batches >= 2, "the client's retry was not refused"
    assert report.proven
    assert sorted(report.cancelled) == ids
    assert not [e for e in report.errors if any(i in e for i in ids)], report.errors
