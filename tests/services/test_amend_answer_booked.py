"""An amend's answer booked in the order's row (`OrderAmends.book`), on the simulator:
the row takes the new price and total, and what rests as the answer says, capped by the fills
the state file booked while the answer was out (counted against the old total); none left is
executed, one contract left rests; a row cancelled meanwhile stays cancelled; an answer
without counts leaves what rests as the row says, unless fills booked meanwhile ended the row
short of the new total: then it rests again with what that total leaves. An answer for an
order whose row is gone writes nothing."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import AmendResult
from kalshi_cli.services.orders.amend import AmendOutcome
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import Store
from kalshi_cli.store.retention import RetentionPolicy
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import SimHarness
from tests.prime_tier import another_accounts_order
from tests.services.amend_steps import bid_of_ten, recorded_amend


def _fills_booked(store: Store, order_id: str, filled: int) -> None:
    """Fills read while the amend's answer was out, booked as the trade loop's fill reads book
    them: against the row's count, the total before the amend."""
    row = store.orders.intent_by_order_id(order_id)
    assert row is not None and row.remaining is not None
    remaining = max(min(row.count - filled, row.remaining), D(0))
    store.orders.update_order(
        order_id=order_id,
        status="executed" if remaining == 0 else "resting",
        fill_count=D(filled),
        remaining_count=remaining,
    )


def _row(store: Store, order_id: str) -> tuple[str, D, D, D | None]:
    row = store.orders.intent_by_order_id(order_id)
    assert row is not None
    return row.status, row.price, row.count, row.remaining


def test_an_amend_answered_after_its_order_was_cancelled_leaves_it_cancelled_at_its_new_terms(
    store: Store, ticker: str, service: OrderService
) -> None:
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.21", 12)
    sent = service.amends.send(amend)
    assert sent.result is not None
    service.client.orders.cancel_order(order_id, ticker=ticker)
    store.orders.mark_cancelled(order_id)  # the cancel's answer, booked first

    outcome = service.amends.book(amend, sent.result)

    assert outcome == AmendOutcome("canceled", D(0), D(0))
    assert _row(store, order_id) == ("canceled", D("0.21"), D(12), D(0))


def test_an_amend_lowering_the_total_to_what_filled_meanwhile_ends_the_order(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    order_id = bid_of_ten(service, ticker)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.20", 6)
    _fills_booked(store, order_id, 6)
    amend = recorded_amend(service, order_id, ticker, "0.21", 2)  # a total of 8: 2 rest
    sent = service.amends.send(amend)
    assert sent.result is not None and sent.result.remaining_count == D(2)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.21", 2)  # the last 2 fill
    _fills_booked(store, order_id, 8)  # against the old total of 10: 2 seem to rest

    outcome = service.amends.book(amend, sent.result)

    assert outcome == AmendOutcome("executed", D(0), D(0))
    assert _row(store, order_id) == ("executed", D("0.21"), D(8), D(0))


def test_fills_booked_while_an_amend_was_out_cap_what_its_answer_says_rests(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.21", 12)
    sent = service.amends.send(amend)
    assert sent.result is not None and sent.result.remaining_count == D(12)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.21", 5)
    _fills_booked(store, order_id, 5)

    outcome = service.amends.book(amend, sent.result)

    assert outcome == AmendOutcome("resting", D(7), D(0))
    assert _row(store, order_id) == ("resting", D("0.21"), D(12), D(7))


@pytest.mark.parametrize(("offered", "status"), [(12, "executed"), (11, "resting")])
def test_an_amend_filling_all_it_asks_ends_the_order_and_one_contract_left_rests(
    prime: SimHarness, ticker: str, service: OrderService, offered: int, status: str
) -> None:
    order_id = bid_of_ten(service, ticker)
    another_accounts_order(prime, ticker, BookSide.ASK, "0.25", offered)
    amend = recorded_amend(service, order_id, ticker, "0.25", 12)  # crosses the offer
    sent = service.amends.send(amend)
    assert sent.result is not None

    outcome = service.amends.book(amend, sent.result)

    assert outcome == AmendOutcome(status, D(12 - offered), D(offered))
    assert _row(service.store, order_id) == (status, D("0.25"), D(12), D(12 - offered))


def test_an_amend_answered_without_counts_leaves_what_rests_as_the_row_says(
    store: Store, ticker: str, service: OrderService
) -> None:
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.21", 10)  # a new price, the same total
    sent = service.amends.send(amend)
    assert sent.result is not None and sent.result.remaining_count is None

    outcome = service.amends.book(amend, sent.result)

    assert outcome == AmendOutcome("resting", None, D(0))
    assert _row(store, order_id) == ("resting", D("0.21"), D(10), D(10))


def test_a_row_that_fills_ended_short_of_the_new_total_rests_again_on_an_answer_without_counts(
    prime: SimHarness, store: Store, ticker: str, service: OrderService
) -> None:
    """The exchange sends an amend's counts null, or not at all, when they did not change
    (`AmendResult`); the row's own count is then what the new total leaves."""
    order_id = bid_of_ten(service, ticker)
    amend = recorded_amend(service, order_id, ticker, "0.21", 12)
    assert service.amends.send(amend).result is not None
    another_accounts_order(prime, ticker, BookSide.ASK, "0.21", 10)
    _fills_booked(store, order_id, 10)  # against the old total of 10: ended
    assert _row(store, order_id)[0] == "executed"

    outcome = service.amends.book(amend, AmendResult(order_id=order_id))

    assert outcome == AmendOutcome("resting", D(2), D(0), reopened=True)
    assert _row(store, order_id) == ("resting", D("0.21"), D(12), D(2))


def test_an_amend_answered_after_retention_removed_its_cancelled_order_writes_nothing(
    client: KalshiClient, ticker: str, tmp_path: Path
) -> None:
    """Retention removes a cancelled order once unchanged for `unfilled_orders_s`, which may
    be set shorter than an amend's answer takes: the answer then finds no row, and its
    booking neither fails nor brings one back."""
    clock = ManualClock(1_800_000_000.0)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        service = OrderService(client, store)
        order_id = bid_of_ten(service, ticker)
        amend = recorded_amend(service, order_id, ticker, "0.21", 12)
        sent = service.amends.send(amend)
        assert sent.result is not None
        service.client.orders.cancel_order(order_id, ticker=ticker)
        store.orders.mark_cancelled(order_id)
        clock.advance(2)
        pruned = store.retention.prune(
            RetentionPolicy(unfilled_orders_s=1.0, pause_s=0), agent_strategy=AGENT
        )
        assert pruned.removed["orders"] == 1
        assert store.orders.intent_by_order_id(order_id) is None

        service.amends.book(amend, sent.result)

        assert store.orders.intent_by_order_id(order_id) is None
