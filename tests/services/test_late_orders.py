"""An order whose answer was lost is never called "never placed" while it can still land, and
`kalshi reconcile` settles every intent that is unknown or was wrongly marked rejected against
the exchange's orders of every status and its fills, attributing late fills to the intent.

The order is held in the network by the simulator's `hold_request_s` fault: the client gives up
(a short timeout), the order reaches the exchange afterwards, inside the signature window."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.client import LANDING_WINDOW_S
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.services.reconcile import DEFAULT_READ_LAG_S, landing_wait_s
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import AmendOutcomeUnknown, OrderOutcomeUnknown
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, Side
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, state_path
from tests.waiting import wait_until
from tests.wire import order_body

# what the trade loop before this fix wrote 10 s after a lost answer
OLD_LOOP_REASON = "not on the exchange after its answer was lost; never placed"


def _wait_listed(client: KalshiClient, ticker: str, coid: str) -> None:
    wait_until(
        lambda: client.orders.find_order_by_client_id(coid, ticker) is not None,
        f"order {coid} to reach the exchange",
    )


def _place_held(prime: SimHarness, store: Store, ticker: str, coid: str) -> None:
    """Buy 3 YES @ 0.40 for the strategy `spike`, its request held in the network until the
    client gave up on it: the answer is lost, and the order lands afterwards. The client's
    deadline must not end before the request has left whole (signed, head and body written),
    or nothing can land: 0.3 s was a race with a busy machine, 4 s is not."""
    prime.set_faults(hold_request_s=600)  # until cleared below
    with connect(prime.account, timeout=4.0) as impatient:
        service = OrderService(impatient, store)
        request = OrderRequest(
            ticker, Side.YES, Action.BUY, D(3), D("0.40"), client_order_id=coid, strategy="spike"
        )
        with pytest.raises(OrderOutcomeUnknown):
            service.place(service.prepare(request))
    intent = store.orders.get_intent(coid)
    assert intent is not None and intent.status == "unknown"
    # the request reached the exchange whole (the hold is taken only then), and now lands
    wait_until(lambda: prime.faults()["hold_request_s"] == 0, "the held request reached it")
    prime.clear_faults()


def _take(prime: SimHarness, ticker: str, count: str) -> None:
    taker = prime.new_account(balance_cents=10_000_000)
    answer = prime.place_order(
        taker,
        order_body(ticker, side="ask", count=count, time_in_force="immediate_or_cancel"),
    )
    assert answer.status_code == 201 and answer.json()["fill_count"] == f"{D(count):.2f}"


def test_a_late_fill_wrongly_marked_rejected_is_put_right_by_kalshi_reconcile(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path, ticker: str
) -> None:
    db = state_path(tmp_path)
    db.parent.mkdir(parents=True)
    with Store.open(db) as store:
        _place_held(prime, store, ticker, "late-1")
        # what a state file written by the old loop says: rejected 10 s after the lost answer
        store.orders.mark_rejected("late-1", reason=OLD_LOOP_REASON)
    _wait_listed(client, ticker, "late-1")
    _take(prime, ticker, "3")  # it filled, and the order is executed: no longer resting

    result = kalshi("reconcile", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["found_after_rejection"] == ["late-1"]
    assert report["still_unknown"] == []

    (order,) = [o for o in client.orders.iter_orders(ticker=ticker)]
    with Store.open(db) as store:
        intent = store.orders.get_intent("late-1")
        assert intent is not None
        assert (intent.status, intent.order_id, intent.filled) == ("executed", order.order_id, 3)
        fills = store.fills.read(ticker=ticker)
        assert sum((f.count for f in fills), D(0)) == 3
        assert {(f.client_order_id, f.strategy) for f in fills} == {("late-1", "spike")}
    again = json.loads(kalshi("reconcile", "--json").stdout)
    assert again["changed"] is False


def _reconciled(service: OrderService, coid: str, _ticker: str) -> None:
    assert service.reconcile().resolved_unknown == [coid]


def _looked_up(service: OrderService, coid: str, ticker: str) -> None:
    lookup = service.look_up_lost(coid, ticker)
    assert lookup.found is not None and lookup.unrecorded is None


@pytest.mark.parametrize(
    "find", [_reconciled, _looked_up], ids=["kalshi reconcile", "order place look_up_lost"]
)
def test_fills_recorded_before_the_order_was_found_are_attributed_afterwards(
    prime: SimHarness,
    client: KalshiClient,
    store: Store,
    ticker: str,
    find: Callable[[OrderService, str, str], None],
) -> None:
    """Whoever finds it (a reconcile, `order place` or `order batch`, the trade loop: one rule,
    `reconcile.take_found`), an order found after its answer was lost takes the fills copied
    before it was found."""
    _place_held(prime, store, ticker, "late-2")
    _wait_listed(client, ticker, "late-2")
    _take(prime, ticker, "2")
    service = OrderService(client, store)
    # the fills are copied while the intent still has no order id (as the old reconcile did,
    # a loop whose lookup failed, or another process sharing the state file): recorded without
    # an intent
    assert service.sync_fills() == 1
    assert [f.client_order_id for f in store.fills.read(ticker=ticker)] == [None]
    find(service, "late-2", ticker)
    intent = store.orders.get_intent("late-2")
    assert intent is not None and (intent.status, intent.filled) == ("resting", 2)
    (fill,) = store.fills.read(ticker=ticker)
    assert (fill.client_order_id, fill.strategy) == ("late-2", "spike")


def test_a_cancelled_late_order_is_found_among_every_status(
    prime: SimHarness, client: KalshiClient, store: Store, ticker: str
) -> None:
    _place_held(prime, store, ticker, "late-3")
    _wait_listed(client, ticker, "late-3")
    order = client.orders.find_order_by_client_id("late-3", ticker)
    assert order is not None
    client.orders.cancel_order(order.order_id, ticker=ticker)
    report = OrderService(client, store).reconcile()
    assert report.resolved_unknown == ["late-3"]
    intent = store.orders.get_intent("late-3")
    assert intent is not None and (intent.status, intent.order_id) == ("canceled", order.order_id)


def test_an_intent_not_listed_stays_unknown_until_it_can_no_longer_land(
    prime: SimHarness, client: KalshiClient, tmp_path: Path, ticker: str
) -> None:
    start = SystemClock().wall()
    clock = ManualClock(start)
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        service = OrderService(client, store, clock=clock)
        # answered 503 (the exchange did not act, which the client cannot know): unknown, and
        # looked up, never sent again
        prime.set_faults(write_503_rate=1.0)
        request = OrderRequest(ticker, Side.NO, Action.BUY, D(1), D("0.30"), client_order_id="x")
        with pytest.raises(OrderOutcomeUnknown, match="HTTP 503"):
            service.place(service.prepare(request))
        prime.clear_faults()
        assert prime.stats()["order_create_requests"] == 1
        for grace in (0.0, 30.0):  # `--grace` never shortens the window
            clock.advance(LANDING_WINDOW_S - 1 - clock.wall() + start)
            report = service.reconcile(grace_s=grace)
            assert report.still_unknown == ["x"] and report.not_on_exchange == []
        clock.advance(2)
        report = service.reconcile()
        assert report.not_on_exchange == ["x"]
        intent = store.orders.get_intent("x")
        assert intent is not None and intent.status == "rejected"
        assert intent.error == (
            f"not on the exchange {landing_wait_s(DEFAULT_READ_LAG_S):g}s after an unknown "
            "outcome, past the "
            "signature window; never placed"
        )


def _amends(prime: SimHarness) -> int:
    requests = prime.stats()["accounts"][prime.account.key_id]["requests"]
    return int(requests.get("POST /portfolio/events/orders/{order_id}/amend", 0))


@pytest.mark.parametrize("applied", [False, True])
def test_an_amend_answered_503_is_looked_up_never_resent(
    prime: SimHarness, store: Store, applied: bool, ticker: str, service: OrderService
) -> None:
    placed = service.place(
        service.prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(2), D("0.30")))
    )
    assert placed.order_id is not None
    prime.set_faults(**{"write_503_after_commit_rate" if applied else "write_503_rate": 1.0})
    if applied:
        # the exchange did it and said 503: the lookup shows the new price, so it is done
        order = service.amends.amend(placed.order_id, price=D("0.32")).order
        assert order.yes_price == D("0.32")
    else:
        with pytest.raises(AmendOutcomeUnknown, match="HTTP 503") as info:
            service.amends.amend(placed.order_id, price=D("0.32"))
        assert "0.3000" in info.value.message  # what the exchange shows now
    prime.clear_faults()
    assert _amends(prime) == 1
    intent = store.orders.get_intent(placed.client_order_id)
    assert intent is not None
    assert intent.price == (D("0.32") if applied else D("0.30"))
