"""What a cancel's answer does beyond the order's own row (runner/execution/cancels.py): a
refusal reads the order back, and the view and the state file take what the read shows (an
order the exchange no longer knows dropped; one a lagging read still shows resting no longer
counted, and left to the fills; one found ended written as it ended, its fills read when it
filled); the API error guard hears the read as of when the cancel left. A withdrawal goes
ahead of the calls that are not exits, once an order while it is out, and its failure is
counted but neither backs off nor counts toward SAFE_MODE. Every cancel names its market (the
exchange routes a cancel to its market's shard by it)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.client.requests import AmendOrder, CancelResult
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.vocabulary.decisions import Cancel
from kalshi_cli.vocabulary.errors import BadRequestError, NotFoundError, ServerError
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import ZERO, BookSide
from tests.runner.execution.test_amend_answers import (
    _a_failure_of_the_call_sent_meanwhile_trips_safe_mode,
    _answered_while_out,
    _counting_fill_reads,
    _sent_while_each_is_out,
    _worker_busy,
)
from tests.runner.execution.test_requote_amends import (
    LAL,
    QUOTE,
    _booked_all,
    _quoted,
    _rig,
    _sell_into_the_quote,
)
from tests.runner.fakes import Rig, make_rig


def _cancel(rig: Rig, order_id: str) -> None:
    rig.loop.executor.cancels.cancel(Cancel(LAL, order_id, "the strategy's cancel"))


def _refused(rig: Rig) -> None:
    """The next cancel refused as if the order no longer rested (the exchange's 400)."""
    rig.client.cancel_errors.append(BadRequestError("HTTP 400 invalid_order", status=400))


def _failing_read(rig: Rig) -> None:
    """Every read of one order fails: the exchange answers 503."""

    def outage(order_id: str) -> Order:
        raise ServerError("request failed: HTTP 503", status=503)

    rig.client.get_order = outage  # type: ignore[method-assign]


def _quote_at(rig: Rig, price: str) -> str:
    """One more quote in the market, at `price`, its answer booked; its order id."""
    before = {o.order_id for o in rig.loop.portfolio.resting(LAL)}
    quote = replace(QUOTE, price=Decimal(price))
    assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    if rig.loop.dispatch.threaded:
        _booked_all(rig)
    (new,) = [o.order_id for o in rig.loop.portfolio.resting(LAL) if o.order_id not in before]
    return str(new)


def _cancels_named(rig: Rig) -> list[tuple[str, str | None]]:
    """Each cancel the client is asked for, in order: its order id and the market it names."""
    asked: list[tuple[str, str | None]] = []
    cancel = rig.client.cancel_order

    def named(order_id: str, *, ticker: str | None = None, **rest: Any) -> CancelResult:
        asked.append((order_id, ticker))
        return cancel(order_id, ticker=ticker, **rest)

    rig.client.cancel_order = named  # type: ignore[method-assign]
    return asked


def test_a_cancel_refused_for_an_order_the_exchange_no_longer_knows_drops_it(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.cancel_errors.append(NotFoundError("HTTP 404 not_found", status=404))

    def gone(order_id: str) -> Order:
        raise NotFoundError("HTTP 404 not_found", status=404)

    rig.client.get_order = gone  # type: ignore[method-assign]
    _cancel(rig, order_id)
    assert rig.loop.log.counts.get("cancel_failed") == 1
    assert rig.loop.portfolio.resting(LAL) == []


def test_a_cancel_refused_while_a_lagging_read_still_shows_the_order_resting_stops_counting_it(
    tmp_path: Path,
) -> None:
    """The refusal says the order no longer rests; the read made after it lags and still shows
    it resting. The view stops counting it and a fill read is made due; the state file keeps
    the row as it was, for the fills to decide what it became."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    reads = _counting_fill_reads(rig)
    _refused(rig)
    _cancel(rig, order_id)
    assert rig.loop.portfolio.resting(LAL) == []
    assert rig.loop.executor.fills_due
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.status == "resting"
    assert reads == []  # made due, read on the next tick


@pytest.mark.parametrize("filled", [0, 1])
def test_a_cancel_refused_for_an_order_ended_meanwhile_writes_what_the_read_shows(
    tmp_path: Path, filled: int
) -> None:
    """The quote filled by `filled` contracts, then cancelled by hand, and the loop heard of
    neither: the cancel is refused and the order read back; the state file's row takes its
    status and counts, and its fills are read only if it filled."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    if filled:
        _sell_into_the_quote(rig, Decimal(filled))
    rig.exchange.desk.cancel_order(rig.client.account_id, order_id)
    rig.feed.drain_messages()
    _cancel(rig, order_id)
    assert rig.loop.log.counts.get("cancel_failed") == 1
    assert rig.loop.portfolio.resting(LAL) == []
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    assert (row.status, row.filled, row.remaining) == ("canceled", Decimal(filled), 0)
    assert rig.loop.executor.fills_due is bool(filled)


def _amended_and_filled_elsewhere(rig: Rig, order_id: str) -> None:
    """Reads of the order show it amended (to 0.45 for 12) and then filled whole by another
    process, none of which the loop heard of."""
    read = rig.client.get_order

    def amended(order_id: str) -> Order:
        order = read(order_id)
        return msgspec.structs.replace(
            order, status="executed", yes_price=D45, fill_count=Decimal(12), remaining_count=ZERO
        )

    rig.client.get_order = amended  # type: ignore[method-assign]


D45 = Decimal("0.45")


def test_a_refused_cancel_is_booked_by_the_loop_as_by_a_person_from_the_same_read(
    tmp_path: Path,
) -> None:
    """One rule books what the read after a refused cancel shows, whoever sent the cancel:
    the trade loop's row and `kalshi order cancel`'s are the same (the exchange's price and
    total, not only its status and counts)."""
    rows = []
    for who in ("loop", "person"):
        rig = _rig(tmp_path / who)
        order_id = _quoted(rig)
        _amended_and_filled_elsewhere(rig, order_id)
        _refused(rig)
        if who == "loop":
            _cancel(rig, order_id)
        else:
            with pytest.raises(BadRequestError, match="executed"):
                OrderService(rig.client, rig.store).cancels.cancel(order_id)
        row = rig.store.orders.intent_by_order_id(order_id)
        assert row is not None
        rows.append((row.status, row.price, row.count, row.filled, row.remaining))
    assert rows[0] == rows[1] == ("executed", D45, Decimal(12), Decimal(12), ZERO)


def test_a_failed_read_after_a_refused_cancel_counts_toward_the_api_error_guard(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    _refused(rig)
    _failing_read(rig)
    _cancel(rig, order_id)
    assert rig.loop.executor.guard.safe_mode_tripped


def test_a_read_after_a_refused_cancel_failing_after_a_later_call_was_answered_is_no_outage(
    tmp_path: Path,
) -> None:
    """The read is judged by when the refused cancel left: a call sent after that was answered
    while the two were out, so the read's failure is no evidence of an outage."""
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    _refused(rig)

    def outage_after_an_answer(order_id: str) -> Order:
        _answered_while_out(rig)
        raise ServerError("request failed: HTTP 503", status=503)

    rig.client.get_order = outage_after_an_answer  # type: ignore[method-assign]
    _cancel(rig, order_id)
    guard = rig.loop.executor.guard
    assert not guard.safe_mode_tripped and not guard.backing_off


def test_an_order_read_back_after_a_refused_cancel_vouches_only_for_the_calls_sent_before_it(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    _refused(rig)
    sent = _sent_while_each_is_out(rig, "get_order")
    _cancel(rig, order_id)
    assert _a_failure_of_the_call_sent_meanwhile_trips_safe_mode(rig, sent), "sent after it"


def test_every_cancel_names_the_market_of_its_order(tmp_path: Path) -> None:
    """A strategy's cancel, the cancels of the orders a requote replaces and a withdrawal."""
    rig = _rig(tmp_path)
    first = _quoted(rig)
    asked = _cancels_named(rig)
    _cancel(rig, first)
    second = _quoted(rig)
    rig.loop.executor.cancels.send_cancels(LAL, (second,), "replaced")
    third = _quoted(rig)
    rig.loop.executor.cancels.withdraw(LAL, third, "stale")
    assert asked == [(first, LAL), (second, LAL), (third, LAL)]
    assert rig.loop.portfolio.resting(LAL) == []


def test_a_failed_withdrawal_is_counted_but_neither_backs_off_nor_trips_safe_mode(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=1)
    orders = [_quote_at(rig, "0.40"), _quote_at(rig, "0.39")]
    rig.client.cancel_errors.extend([ServerError("request failed: HTTP 503", status=503)] * 2)
    errors = rig.loop.executor.counters.errors
    for order_id in orders:
        rig.loop.executor.cancels.withdraw(LAL, order_id, "stale")
    guard = rig.loop.executor.guard
    assert rig.loop.log.counts.get("cancel_failed") == 2
    assert rig.loop.executor.counters.errors == errors + 2
    assert not guard.backing_off and not guard.safe_mode_tripped


def test_a_withdrawal_goes_ahead_of_a_cancel_sent_before_it_and_once_while_it_is_out(
    tmp_path: Path,
) -> None:
    """With the one send worker busy, a requote's cancel waits in line; a withdrawal sent after
    it, and sent again on the next pass while the first is still out, goes first, once."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    replaced, withdrawn = _quote_at(rig, "0.40"), _quote_at(rig, "0.39")
    asked = _cancels_named(rig)
    cancels, dispatch = rig.loop.executor.cancels, rig.loop.dispatch
    try:
        release = _worker_busy(rig)
        cancels.send_cancels(LAL, (replaced,), "replaced")
        cancels.withdraw(LAL, withdrawn, "stale")
        cancels.withdraw(LAL, withdrawn, "stale")
        release.set()
        _booked_all(rig)
    finally:
        dispatch.close()
    assert asked == [(withdrawn, LAL), (replaced, LAL)]
    assert rig.loop.portfolio.resting(LAL) == []


def test_a_cancel_failing_after_a_later_call_was_answered_is_no_evidence_of_an_outage(
    tmp_path: Path,
) -> None:
    """As an amend: a call sent after the cancel left is answered while it is out, and the
    exchange then fails the cancel. It is judged by when it left: held in the network while
    the exchange answered, no outage."""
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    cancel = rig.client.cancel_order

    def failing_after_an_answer(order_id: str, **where: Any) -> CancelResult:
        _answered_while_out(rig)
        rig.client.cancel_errors.append(ServerError("request failed: HTTP 503", status=503))
        return cancel(order_id, **where)

    rig.client.cancel_order = failing_after_an_answer  # type: ignore[method-assign]
    _cancel(rig, order_id)
    guard = rig.loop.executor.guard
    assert rig.loop.log.counts.get("cancel_failed") == 1
    assert not guard.safe_mode_tripped and not guard.backing_off


def test_a_replacement_is_not_sent_when_the_cancel_of_the_order_it_replaces_fails(
    tmp_path: Path,
) -> None:
    """A requote on other terms goes as a cancel, then a new order: the cancel refused, the
    new order is dropped, never sent beside the order it was to replace."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    creates = len(rig.client.requests)
    _refused(rig)
    requote = replace(QUOTE, price=Decimal("0.41"), post_only=False, replaces=(order_id,))
    rig.loop.executor.execute(requote, last_data_at=rig.clock.wall())
    assert rig.loop.log.counts.get("cancel_failed") == 1
    assert len(rig.client.requests) == creates
    assert rig.loop.log.counts.get("intent_dropped") == 1


def test_each_order_cancelled_is_counted_once(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    counters = rig.loop.executor.counters
    _cancel(rig, _quoted(rig))
    assert counters.cancels == 1
    _cancel(rig, _quoted(rig))
    assert counters.cancels == 2


def test_a_cancel_that_found_all_the_view_held_resting_makes_no_fill_read(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path)
    _cancel(rig, _quoted(rig))
    assert rig.loop.portfolio.resting(LAL) == []
    assert not rig.loop.executor.fills_due


def test_each_replaced_order_that_filled_unseen_has_its_fills_read_before_the_replacement(
    tmp_path: Path,
) -> None:
    """Two requotes on other terms (each a cancel, then a new order), the order each replaces
    filled by one contract the loop has not seen: the cancel finds less resting than the view
    held, and the fills are read before the replacement is judged, the second time too."""
    rig = _rig(tmp_path)
    reads = _counting_fill_reads(rig)
    quote = QUOTE
    _quoted(rig)
    for n, price in enumerate(("0.41", "0.42"), start=1):
        (resting,) = rig.loop.portfolio.resting(LAL)
        _sell_into_the_quote(rig, Decimal(1), resting.price, resting.remaining)
        quote = replace(
            quote,
            price=Decimal(price),
            post_only=not quote.post_only,  # other terms: no amend
            replaces=(str(resting.order_id),),
        )
        assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
        assert len(reads) == n
        (placed,) = rig.loop.portfolio.resting(LAL)
        assert placed.price == Decimal(price)


def test_a_fill_read_after_its_orders_cancel_was_booked_makes_the_row_executed(
    tmp_path: Path,
) -> None:
    """The exchange executed the whole quote, and the state file had already booked it
    canceled with nothing filled (a cancel booked before the fill was read): the fill wins,
    and the row says executed with all 10 filled, as a reconcile's read would."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    _sell_into_the_quote(rig, Decimal(10))
    assert rig.store.orders.mark_cancelled(order_id)
    rig.loop.executor.fills.sync()
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.status, row.filled) == ("executed", Decimal(10))


def test_a_fill_read_of_an_order_grown_elsewhere_and_cancelled_part_filled_leaves_it_cancelled(
    tmp_path: Path,
) -> None:
    """An amend made elsewhere grew the quote of 10 to 15; 12 filled and it was cancelled.
    The exchange's read, copied in, leaves the row canceled with 12 filled (its total raised
    to 12, all the state file can know of it). The fill read afterwards adds nothing the row
    does not hold: the order stays cancelled as the exchange said, not executed."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_order(
        order_id,
        AmendOrder(ticker=LAL, book_side=BookSide.BID, price=Decimal("0.40"), count=Decimal(15)),
    )
    _sell_into_the_quote(rig, Decimal(12), quoted=Decimal(15))
    rig.client.cancel_order(order_id, ticker=LAL)
    read = rig.client.get_order(order_id)
    assert (read.status, read.fill_count) == ("canceled", Decimal(12))
    rig.store.orders.update_order(
        order_id=order_id,
        status=read.status,
        fill_count=read.fill_count,
        remaining_count=read.remaining_count,
    )
    rig.loop.executor.fills.sync()
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.status, row.filled, row.count) == (
        "canceled",
        Decimal(12),
        Decimal(12),
    )
