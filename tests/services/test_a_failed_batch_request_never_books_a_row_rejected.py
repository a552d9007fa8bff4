"""A batch request that failed whole is judged by the one rule of a lost answer
(`retry.may_have_acted`): refused before acting, its rows were never placed (not sent, their
intents withdrawn, a rerun sends them); after which the exchange may have acted, each row is
looked up by its client order id. No row of a failed request is ever booked `rejected`: the
exchange may hold the order.

Through the real client the simulator's lost answers all come as `OrderOutcomeUnknown`
(`Connection.write`); a client of a caller's own that passes the failure on as it came is
judged by the same rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.client.batch_orders import BatchItem
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.orders.batch import place_batch
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown, RateLimitedError
from kalshi_cli.vocabulary.models import Order
from tests.cli.test_order_batch import creates, ladder
from tests.conftest import SimHarness
from tests.prime_tier import connect_as, make_markets


class FaultOnTheBatch(OrdersApi):
    """The client's orders, the simulator's `faults` striking its batch request only (the
    market reads before it and the lookups after it are answered); `as_it_came`: a client of
    a caller's own that passes on the failure the wire gave (a 5xx, a connection lost after
    sending) rather than the unknown outcome it means."""

    harness: SimHarness
    faults: dict[str, float]
    as_it_came = False

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        self.harness.set_faults(**self.faults)
        try:
            return super().batch_create_orders(orders, subaccount=subaccount)
        except OrderOutcomeUnknown as exc:
            if not self.as_it_came:
                raise
            assert exc.__cause__ is not None
            raise exc.__cause__ from None
        finally:
            self.harness.clear_faults()


def _batch_of_four(
    prime: SimHarness,
    tmp_path: Path,
    fault: str,
    *,
    as_it_came: bool,
    notes: list[str | None] | None = None,
) -> tuple[list[str], list[str], KalshiError | None]:
    """Four rows sent as one request under `fault`: each row's status, each intent's, and the
    refusal the report names; each row's note added to `notes`."""
    path = tmp_path / "orders.csv"
    path.write_text(ladder(make_markets(prime, 2), 4))
    clock = SystemClock()
    with (
        connect_as(FaultOnTheBatch, prime.account) as client,
        Store.open(tmp_path / "state.db", clock=clock) as store,
    ):
        client.area.harness, client.area.faults = prime, {fault: 1.0}
        client.area.as_it_came = as_it_came
        service = OrderService(client, store, clock=clock, read_lag_s=0.0)
        report = place_batch(service, path)
        assert report.batch_size >= 4  # one request
        booked = [i.status for i in store.orders.intents()]
    if notes is not None:
        notes += [r.note for r in report.rows]
    return [r.status for r in report.rows], booked, report.refused


# (the fault, each row's status then, whether the exchange holds the orders)
FAULTS = [
    ("drop_response_after_commit_rate", "resting", True),  # placed, its answer lost
    ("write_503_after_commit_rate", "resting", True),  # placed, then answered 503
    ("http_5xx_rate", "unknown", False),  # a 5xx proves nothing: looked up, not found yet
]


@pytest.mark.parametrize(("fault", "status", "placed"), FAULTS)
def test_a_batch_whose_answer_was_lost_through_the_client_is_looked_up_row_by_row(
    prime: SimHarness, tmp_path: Path, fault: str, status: str, placed: bool
) -> None:
    notes: list[str | None] = []
    rows, booked, refused = _batch_of_four(prime, tmp_path, fault, as_it_came=False, notes=notes)
    assert rows == booked == [status] * 4
    assert refused is None
    assert creates(prime) == (4 if placed else 0)
    if not placed:  # each row still in doubt says what the exchange answered
        assert all(n is not None and n.startswith("the exchange answered HTTP 5") for n in notes)


def test_a_batch_answered_429_was_refused_before_acting_and_withdrawn(
    prime: SimHarness, tmp_path: Path
) -> None:
    rows, booked, refused = _batch_of_four(prime, tmp_path, "http_429_rate", as_it_came=False)
    assert rows == ["not_sent"] * 4
    assert booked == []  # a rerun sends them
    assert isinstance(refused, RateLimitedError)
    assert creates(prime) == 0


@pytest.mark.parametrize(("fault", "status", "placed"), FAULTS)
def test_a_failure_passed_on_as_it_came_books_no_row_rejected(
    prime: SimHarness, tmp_path: Path, fault: str, status: str, placed: bool
) -> None:
    """Before: a 5xx or a lost connection raised as it came booked every row of the request
    `rejected`, also orders the exchange held: a rerun skipped them and nothing tracked them."""
    rows, booked, refused = _batch_of_four(prime, tmp_path, fault, as_it_came=True)
    assert rows == booked == [status] * 4
    assert refused is None
    assert creates(prime) == (4 if placed else 0)


class LostOnTheSecondRequest(FaultOnTheBatch):
    """Two rows a request, and the faults strike the second request alone."""

    requests = 0

    def batch_size(self) -> int:
        return 2

    def batch_create_orders(
        self, orders: list[CreateOrder], *, subaccount: int | None = None
    ) -> list[BatchItem]:
        self.requests += 1
        if self.requests == 2:
            return super().batch_create_orders(orders, subaccount=subaccount)
        return OrdersApi.batch_create_orders(self, orders, subaccount=subaccount)


def test_a_lost_answer_mid_file_keeps_the_rows_placed_before_it_and_sends_none_after(
    prime: SimHarness, tmp_path: Path
) -> None:
    """Six rows, two a request, the second request's answer lost after the exchange placed
    it: the first two placed, the next two looked up and found, the last two never recorded
    nor sent (a rerun sends them), each row named by its line and client order id; what was
    recorded is the batch's, each naming its line."""
    path = tmp_path / "orders.csv"
    path.write_text(ladder(make_markets(prime, 2), 6))
    clock = SystemClock()
    with (
        connect_as(LostOnTheSecondRequest, prime.account) as client,
        Store.open(tmp_path / "state.db", clock=clock) as store,
    ):
        client.area.harness = prime
        client.area.faults = {"drop_response_after_commit_rate": 1.0}
        report = place_batch(OrderService(client, store, clock=clock, read_lag_s=0.0), path)
        recorded = [(i.client_order_id, i.strategy, i.reason) for i in store.orders.intents()]
    assert [(r.line, r.status) for r in report.rows] == [
        (2, "resting"),
        (3, "resting"),
        (4, "resting"),
        (5, "resting"),
        (6, "not_sent"),
        (7, "not_sent"),
    ]
    assert [r.note for r in report.rows[4:]] == ["after a lost answer"] * 2
    assert all(r.client_order_id == r.request.client_order_id for r in report.rows)
    # recorded as the batch's orders (`pnl --by strategy`), each naming its line
    assert sorted(recorded) == sorted(
        (r.client_order_id, "batch", f"batch line {r.line}") for r in report.rows[:4]
    )
    assert (report.halted, report.refused) == (None, None)
    assert creates(prime) == 4


def test_a_request_refused_whole_mid_file_keeps_the_rows_placed_before_it(
    prime: SimHarness, tmp_path: Path
) -> None:
    """The second request of three answered 429: the first two rows placed and reported, the
    other four not sent, each named by its line and client order id with the refusal, and
    only the placed rows left recorded (a rerun sends the rest)."""
    path = tmp_path / "orders.csv"
    path.write_text(ladder(make_markets(prime, 2), 6))
    clock = SystemClock()
    with (
        connect_as(LostOnTheSecondRequest, prime.account) as client,
        Store.open(tmp_path / "state.db", clock=clock) as store,
    ):
        client.area.harness, client.area.faults = prime, {"http_429_rate": 1.0}
        report = place_batch(OrderService(client, store, clock=clock, read_lag_s=0.0), path)
        recorded = [i.client_order_id for i in store.orders.intents()]
    assert [(r.line, r.status) for r in report.rows] == [(2, "resting"), (3, "resting")] + [
        (line, "not_sent") for line in range(4, 8)
    ]
    assert all(r.client_order_id == r.request.client_order_id for r in report.rows)
    for row in report.rows[2:]:
        assert row.note is not None
        assert row.note.startswith("the exchange refused the whole request before acting (")
        assert row.note.endswith("): not placed; run the file again to send it")
    assert sorted(recorded) == sorted(r.client_order_id for r in report.rows[:2])
    assert isinstance(report.refused, RateLimitedError)
    assert creates(prime) == 2


class LostAndUnasked(FaultOnTheBatch):
    """The batch's answer lost, and each lookup after it answered 5xx (the client retries no
    read here): the exchange could not be asked."""

    def find_order_by_client_id(self, client_order_id: str, ticker: str) -> Order | None:
        self.harness.set_faults(http_5xx_rate=1.0)
        try:
            return super().find_order_by_client_id(client_order_id, ticker)
        finally:
            self.harness.clear_faults()


def test_a_lost_batch_row_whose_lookup_failed_says_the_exchange_could_not_be_asked(
    prime: SimHarness, tmp_path: Path
) -> None:
    """Each row says what `order place` says of one order so looked up. Before: `not found
    yet`, as if the exchange had been asked and had no such order."""
    path = tmp_path / "orders.csv"
    path.write_text(ladder(make_markets(prime, 2), 2))
    clock = SystemClock()
    with (
        connect_as(LostAndUnasked, prime.account, max_attempts=1) as client,
        Store.open(tmp_path / "state.db", clock=clock) as store,
    ):
        client.area.harness = prime
        client.area.faults = {"drop_response_after_commit_rate": 1.0}
        report = place_batch(OrderService(client, store, clock=clock, read_lag_s=0.0), path)
        booked = [i.status for i in store.orders.intents()]
    assert [r.status for r in report.rows] == booked == ["unknown"] * 2
    for row in report.rows:
        assert row.note is not None
        assert row.note.endswith(
            "; the answer was lost and the exchange could not be asked; run `kalshi reconcile`"
        ), row.note
    assert creates(prime) == 2
