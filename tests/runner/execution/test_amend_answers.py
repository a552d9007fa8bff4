"""What an amend's answer does beyond the order's own row (runner/execution/amends.py): a
refusal or a read of an amend in doubt that finds the order gone drops it from the view; a
read that shows the old terms takes what rests from it; the API error guard hears refusals
and reads as it hears orders; an amend that fills reads its fills at once, and one that fills
nothing does not; an answer without a time is still booked; the reads of amends in doubt take
their share of the send workers, and one held in the network holds back no other."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.client.connection import LANDING_WINDOW_S
from kalshi_cli.client.requests import AmendOrder, AmendResult
from kalshi_cli.runner.execution.dispatch import Urgency
from kalshi_cli.runner.execution.unknown_orders import LOOKUP_SHARE
from kalshi_cli.services.orders.amend import Amend
from kalshi_cli.services.pretrade.books import OpenOrder
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Cancel, Intent
from kalshi_cli.vocabulary.errors import (
    BadRequestError,
    NotFoundError,
    OrderOutcomeUnknown,
    ServerError,
)
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.execution.test_requote_amends import (
    LAL,
    QUOTE,
    UNRECORDED,
    _amend_drawn_by_a_worker,
    _amend_submitted,
    _booked_all,
    _on_exchange,
    _placed_by_a_worker,
    _quoted,
    _requote,
    _rig,
    _sell_into_the_quote,
)
from tests.runner.fakes import START, Rig, another_trader_places, make_rig
from tests.waiting import poll_until


def _gone(order_id: str) -> Order:
    raise NotFoundError("HTTP 404 not_found", status=404)


def test_a_refused_amend_of_an_order_the_exchange_no_longer_knows_drops_it(
    tmp_path: Path,
) -> None:
    """The amend is refused as not found, and the read back says the exchange does not know
    the order: the view stops counting it (the state file is left to the next reconcile, as
    after a cancel's refusal)."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append(NotFoundError("HTTP 404 not_found", status=404))
    rig.client.get_order = _gone  # type: ignore[method-assign]
    assert not _requote(rig, order_id, "0.41")
    assert rig.loop.log.counts.get("amend_rejected") == 1
    assert rig.loop.portfolio.resting(LAL) == []
    assert rig.loop.executor.outbox.total_exposure() == 0


def test_an_amend_in_doubt_whose_order_the_exchange_no_longer_knows_is_dropped(
    tmp_path: Path,
) -> None:
    """The amend's answer was lost; the read by its order id finds nothing: the doubt is over
    and neither the order nor the new quote beside it counts any more."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.41")
    rig.client.get_order = _gone  # type: ignore[method-assign]
    rig.loop.executor.amends.look_later()
    assert not rig.loop.executor.unknown_orders.holds(LAL)
    assert rig.loop.executor.amends.lost == {}
    assert rig.loop.portfolio.resting(LAL) == []
    assert rig.loop.executor.outbox.total_exposure() == 0


def test_a_read_of_an_amend_in_doubt_showing_the_old_terms_takes_what_rests(
    tmp_path: Path,
) -> None:
    """The amend never landed, and another trader sold 4 into the quote meanwhile: the read
    shows it at its old price with 6 resting. The view takes the 6 at once, inside the
    landing window (the doubt stays), not with the fills read later."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    _sell_into_the_quote(rig, Decimal("4"))
    amends = rig.loop.executor.amends
    amends.look_later()
    assert rig.loop.executor.unknown_orders.holds(LAL)
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.price, resting.remaining) == (Decimal("0.40"), Decimal("6"))
    rig.clock.advance(LANDING_WINDOW_S + 5)
    amends.look_later()
    assert not rig.loop.executor.unknown_orders.holds(LAL)
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.price, resting.remaining) == (Decimal("0.40"), Decimal("6"))


class _RunningLong(ManualClock):
    """A clock whose monotonic time is a day on, as a machine's is long after it started:
    the landing window must be measured from the amend, not from the clock's zero."""

    def monotonic(self) -> float:
        return super().monotonic() + 86_400.0


def test_a_lost_amend_waits_out_its_landing_window_on_a_clock_far_from_zero(
    tmp_path: Path,
) -> None:
    rig = make_rig(
        tmp_path / "s.db", clock=_RunningLong(START), params={"spike_share": 5}, read_lag_s=0.5
    )
    rig.step(0.1)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    amends = rig.loop.executor.amends
    amends.look_later()
    assert rig.loop.executor.unknown_orders.holds(LAL), "the amend may still land"
    rig.clock.advance(LANDING_WINDOW_S + 5)
    amends.look_later()
    assert not rig.loop.executor.unknown_orders.holds(LAL)


def test_an_amend_refused_by_a_failing_exchange_counts_toward_the_api_error_guard(
    tmp_path: Path,
) -> None:
    """A 503 to an amend is the exchange failing, as it is to an order: with one error
    enough, SAFE_MODE."""
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    rig.client.amend_errors.append(ServerError("request failed: HTTP 503", status=503))
    assert not _requote(rig, order_id, "0.41")
    assert rig.loop.executor.guard.safe_mode_tripped


def test_reads_of_an_amend_in_doubt_while_trading_count_toward_the_api_error_guard(
    tmp_path: Path,
) -> None:
    """The lost answer is one error; a read of the order that fails while trading is not
    blocked is the second, and with two enough, SAFE_MODE."""
    rig = _rig(tmp_path, max_consecutive_errors=2)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    guard = rig.loop.executor.guard
    assert not guard.safe_mode_tripped

    def outage(order_id: str) -> Order:
        raise ServerError("request failed: HTTP 503", status=503)

    rig.client.get_order = outage  # type: ignore[method-assign]
    rig.loop.executor.amends.look_later(guarded=True)
    assert guard.safe_mode_tripped


def _counting_fill_reads(rig: Rig) -> list[int]:
    reads: list[int] = []
    listing = rig.client.iter_fills

    def counted(**filters: Any) -> Any:
        reads.append(1)
        return listing(**filters)

    rig.client.iter_fills = counted  # type: ignore[method-assign]
    return reads


def test_an_amend_that_fills_nothing_makes_no_fill_read(tmp_path: Path) -> None:
    """Every requote of a market maker is an amend: one that filled nothing and rests what
    was asked leaves nothing to read, and a read after each would double its calls."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    reads = _counting_fill_reads(rig)
    assert _requote(rig, order_id, "0.41")
    assert _on_exchange(rig, order_id) == (Decimal("0.41"), Decimal("10"))
    assert _requote(rig, order_id, "0.41", "12")  # the answer says what rests: all of it
    assert _on_exchange(rig, order_id) == (Decimal("0.41"), Decimal("12"))
    assert reads == []


def _crossing_quote(rig: Rig) -> tuple[Intent, str]:
    """A quote that is not post-only, resting below the spread, and one contract offered at
    0.50 inside it (the asks behind it start at 0.51); the quote and its order id."""
    quote = replace(QUOTE, post_only=False, model_fair=Decimal("0.60"))
    assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    (resting,) = rig.loop.portfolio.resting(LAL)
    another_trader_places(
        rig.exchange,
        LAL,
        BookSide.ASK,
        Decimal("0.50"),
        Decimal("1"),
        time_in_force=TimeInForce.GTC,
    )
    rig.feed.drain_messages()
    return quote, str(resting.order_id)


def test_an_amend_that_fills_one_contract_at_once_reads_it_before_the_next_decision(
    tmp_path: Path,
) -> None:
    """The quote amended up through the one contract offered: the amend fills that one and
    rests the rest. The fill is read at once: the position is known before the market
    decides again."""
    rig = _rig(tmp_path, max_position_per_market=20)
    quote, order_id = _crossing_quote(rig)
    requote = replace(quote, price=Decimal("0.50"), replaces=(order_id,))
    assert rig.loop.executor.execute(requote, last_data_at=rig.clock.wall())
    assert rig.client.amends == 1
    assert _on_exchange(rig, order_id) == (Decimal("0.50"), Decimal("9"))
    assert rig.loop.portfolio.position(LAL) == 1, "read before the next decision"
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.price, resting.remaining) == (Decimal("0.50"), Decimal("9"))


def test_a_fill_an_amend_made_below_its_new_limit_is_measured_against_that_limit(
    tmp_path: Path,
) -> None:
    """The quote amended to buy at 0.51 takes the contract offered at 0.50 and nine at 0.51:
    the fill at 0.50 bought a cent better than the amended limit (slippage -0.01), the
    others at it."""
    log = tmp_path / "log"
    rig = make_rig(
        tmp_path / "s.db",
        params={"spike_share": 5},
        risk={"max_position_per_market": 20},
        read_lag_s=0.5,
        log_path=log,
    )
    rig.step(0.1)
    quote, order_id = _crossing_quote(rig)
    requote = replace(quote, price=Decimal("0.51"), replaces=(order_id,))
    assert rig.loop.executor.execute(requote, last_data_at=rig.clock.wall())
    assert rig.loop.portfolio.position(LAL) == 10
    rig.loop.log.close()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    slippage = {
        Decimal(e["price"]): Decimal(e["slippage"]) for e in lines if e["event"] == "fill_received"
    }
    assert slippage == {Decimal("0.50"): Decimal("-0.01"), Decimal("0.51"): 0}


def test_an_amend_answered_without_a_time_is_booked(tmp_path: Path) -> None:
    """The exchange may leave out when the amend landed: the amend is booked all the same
    (the fills made after it are measured against the new terms)."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    amend = rig.client.amend_order

    def timeless(order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        return msgspec.structs.replace(amend(order_id, terms, **where), ts_ms=None)

    rig.client.amend_order = timeless  # type: ignore[method-assign]
    assert _requote(rig, order_id, "0.41")
    assert rig.loop.log.counts.get("order_amended") == 1
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.price, resting.remaining) == (Decimal("0.41"), Decimal("10"))


def test_a_quote_in_doubt_stops_counting_once_a_read_shows_its_order_cancelled(
    tmp_path: Path,
) -> None:
    """The amend's answer was lost, and the order was cancelled by hand: a message saying so
    drops it from the view, and the new quote still counts beside it (the amend may have
    landed first). The read showing it cancelled ends that: nothing counts any more."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.41")
    rig.exchange.desk.cancel_order(rig.client.account_id, order_id)
    rig.loop.portfolio.update_order(order_id, remaining=Decimal(0), status="canceled")
    outbox = rig.loop.executor.outbox
    assert rig.loop.portfolio.resting(LAL) == []
    assert outbox.total_exposure() == Decimal("4.10"), "the quote in doubt"
    rig.loop.executor.amends.look_later()
    assert not rig.loop.executor.unknown_orders.holds(LAL)
    assert outbox.total_exposure() == 0


def test_a_fill_of_a_quote_found_amended_after_its_answer_was_lost_is_booked_as_its_own(
    tmp_path: Path,
) -> None:
    """The exchange amended the quote to 0.43 and the answer never came; a read shows the
    amend, and then another trader sells 2 into it. The fill is the quote's: in the state
    file under its client order id and strategy, and in the log with its latency and no
    slippage against the amended limit."""
    rig = make_rig(
        tmp_path / "s.db", params={"spike_share": 5}, read_lag_s=0.5, log_path=tmp_path / "log"
    )
    rig.step(0.1)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("unknown")
    assert not _requote(rig, order_id, "0.43")
    rig.loop.executor.amends.look_later()
    assert not rig.loop.executor.unknown_orders.holds(LAL)
    _sell_into_the_quote(rig, Decimal("2"), price=Decimal("0.43"))
    for _ in range(12):  # past the fill poll's 5 s
        rig.step(0.5)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    (fill,) = rig.store.fills.read(ticker=LAL)
    assert (fill.client_order_id, fill.strategy) == (row.client_order_id, "market-maker")
    rig.loop.log.close()
    lines = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    (received,) = [e for e in lines if e["event"] == "fill_received"]
    assert (Decimal(received["price"]), Decimal(received["slippage"])) == (Decimal("0.43"), 0)
    assert received["latency_ms"] >= 0


def _lost_in(rig: Rig, markets: int) -> list[str]:
    """Amends of quotes in `markets` markets whose answers were lost (as a lost answer leaves
    them); their order ids."""
    amends = rig.loop.executor.amends
    ids = []
    for n in range(markets):
        ticker = f"KXDOUBT-{n}"
        order = OpenOrder(f"order-{n}", f"c-{n}", ticker, Side.YES, Action.BUY, QUOTE.price,
                          QUOTE.count, QUOTE.strategy)  # fmt: skip
        amend = Amend(order.order_id, ticker, BookSide.BID, Decimal("0.41"), Decimal("10"),
                      UNRECORDED)  # fmt: skip
        amends._lose(amend, order, replace(QUOTE, ticker=ticker))
        ids.append(order.order_id)
    return ids


def test_reads_of_amends_in_doubt_take_one_worker_when_their_share_is_less_than_two(
    tmp_path: Path,
) -> None:
    """With 24 send workers a sixteenth is one and a half: the reads take one worker, never
    two (the share rounds down, to no less than one)."""
    rig = make_rig(tmp_path / "s.db", send_workers=LOOKUP_SHARE + LOOKUP_SHARE // 2)
    _lost_in(rig, 3)
    release = threading.Event()

    def held(order_id: str) -> Order:
        release.wait(60)
        raise NotFoundError("HTTP 404 not_found", status=404)

    rig.client.get_order = held  # type: ignore[method-assign]
    try:
        rig.loop.executor.amends.look_later()
        assert rig.loop.dispatch.in_flight == 1
    finally:
        release.set()
        _booked_all(rig)
        rig.loop.dispatch.close()


def test_a_read_of_an_amend_in_doubt_held_in_the_network_keeps_no_other_from_its_turn(
    tmp_path: Path,
) -> None:
    """Two amends in doubt; the read of the first hangs, the read of the second fails and is
    booked. The next round reads the second again: a read still out holds only its own order
    back."""
    rig = make_rig(tmp_path / "s.db", send_workers=2 * LOOKUP_SHARE)
    first, second = _lost_in(rig, 2)
    release = threading.Event()
    asked: list[str] = []

    def read(order_id: str) -> Order:
        asked.append(order_id)
        if order_id == first:
            release.wait(60)
        raise ServerError("request failed: HTTP 503", status=503)

    rig.client.get_order = read  # type: ignore[method-assign]
    dispatch, amends = rig.loop.dispatch, rig.loop.executor.amends
    try:
        amends.look_later()
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        assert dispatch.in_flight == 1, "the first read still out"
        rig.clock.advance(1.0)
        amends.look_later()
        assert poll_until(lambda: asked.count(second) == 2)
    finally:
        release.set()
        _booked_all(rig)
        dispatch.close()


# With calls made side by side, a failure is evidence of an outage only if no call sent after
# it was answered (runner/execution/call_guard.py): an amend's failure, or a read's, is judged
# by when it was sent, and its answer vouches only for the calls sent before it.


def _answered_while_out(rig: Rig) -> None:
    """A call sent after the one now out is answered before it: the exchange is answering."""
    guard = rig.loop.executor.guard
    rig.clock.advance(1.0)
    guard.ok(guard.stamp())
    rig.clock.advance(1.0)


def _sent_while_out(rig: Rig, sent: list[float]) -> None:
    """A call sent while the one now out is still out; its answer comes later."""
    rig.clock.advance(1.0)
    sent.append(rig.loop.executor.guard.stamp())
    rig.clock.advance(1.0)


def _sent_while_each_is_out(rig: Rig, call: str) -> list[float]:
    """The client's `call` made slow: while each is out, another call is sent
    (`_sent_while_out`); the times those were sent."""
    made = getattr(rig.client, call)
    sent: list[float] = []

    def slow(*args: Any, **kwargs: Any) -> Any:
        _sent_while_out(rig, sent)
        return made(*args, **kwargs)

    setattr(rig.client, call, slow)
    return sent


def _a_failure_of_the_call_sent_meanwhile_trips_safe_mode(rig: Rig, sent: list[float]) -> bool:
    """That call fails: with `max_consecutive_errors=1`, SAFE_MODE unless the guard took an
    answer as coming after it was sent."""
    guard = rig.loop.executor.guard
    guard.failed(ServerError("request failed: HTTP 503", status=503), sent[0])
    return bool(guard.safe_mode_tripped)


@pytest.mark.parametrize("failure", ["refused by a failing exchange", "answer lost"])
def test_an_amend_failing_after_a_later_call_was_answered_is_no_evidence_of_an_outage(
    tmp_path: Path, failure: str
) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    rig.client.amend_errors.append(
        ServerError("request failed: HTTP 503", status=503)
        if failure.startswith("refused")
        else "lost"
    )
    amend = rig.client.amend_order

    def slow(order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        _answered_while_out(rig)
        return amend(order_id, terms, **where)

    rig.client.amend_order = slow  # type: ignore[method-assign]
    assert not _requote(rig, order_id, "0.41")
    guard = rig.loop.executor.guard
    assert not guard.safe_mode_tripped and not guard.backing_off


def test_an_amend_answered_vouches_only_for_the_calls_sent_before_it(tmp_path: Path) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    sent = _sent_while_each_is_out(rig, "amend_order")
    assert _requote(rig, order_id, "0.41")
    assert _a_failure_of_the_call_sent_meanwhile_trips_safe_mode(rig, sent), "sent after it"


def _in_doubt(rig: Rig) -> str:
    """The quote, and an amend of it to 0.41 whose answer was lost (as a lost answer leaves
    it, the API error guard untold); its order id."""
    order_id = _quoted(rig)
    order = rig.loop.portfolio.orders[order_id]
    amend = Amend(order_id, LAL, BookSide.BID, Decimal("0.41"), Decimal("10"), UNRECORDED)
    requote = replace(QUOTE, price=Decimal("0.41"), replaces=(order_id,))
    rig.loop.executor.amends._lose(amend, order, requote)
    return order_id


def test_a_read_of_an_amend_in_doubt_failing_after_a_later_call_was_answered_is_no_outage(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=1)
    _in_doubt(rig)

    def slow(order_id: str) -> Order:
        _answered_while_out(rig)
        raise ServerError("request failed: HTTP 503", status=503)

    rig.client.get_order = slow  # type: ignore[method-assign]
    rig.loop.executor.amends.look_later(guarded=True)
    guard = rig.loop.executor.guard
    assert not guard.safe_mode_tripped and not guard.backing_off
    assert rig.loop.executor.unknown_orders.holds(LAL)


def test_a_read_of_an_amend_in_doubt_vouches_only_for_the_calls_sent_before_it(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, max_consecutive_errors=1)
    _in_doubt(rig)
    read = rig.client.get_order
    sent: list[float] = []

    def slow(order_id: str) -> Order:
        _sent_while_out(rig, sent)
        return read(order_id)

    rig.client.get_order = slow  # type: ignore[method-assign]
    rig.loop.executor.amends.look_later(guarded=True)
    guard = rig.loop.executor.guard
    guard.failed(ServerError("request failed: HTTP 503", status=503), sent[0])
    assert guard.safe_mode_tripped, "sent after the read: the exchange is failing now"


def test_an_amend_dropped_unmade_as_the_state_file_fails_still_stops_counting(
    tmp_path: Path,
) -> None:
    """The dispatch closes while a worker has drawn the amend but not taken it, and the state
    file has failed (its failure stops the loop): the note that the amend never left cannot
    be written, and the close still drops the call and stops counting the new quote."""
    with _amend_drawn_by_a_worker(tmp_path) as (rig, _):
        assert rig.loop.executor.outbox.replacing
        rig.store.close()
        rig.loop.dispatch.close()
    assert rig.client.amends == 0
    assert not rig.loop.executor.outbox.replacing


def _worker_busy(rig: Rig) -> threading.Event:
    """The one send worker held by a call until the event returned is set; what is sent
    meanwhile waits in line, and a free worker takes the most urgent first."""
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        release.wait(60)

    rig.loop.dispatch.send((), busy, lambda answer: None, Urgency.EXIT)
    assert started.wait(30)
    return release


def _made(made: list[str], what: str) -> Callable[[], None]:
    return lambda: made.append(what)


def _amends_told(rig: Rig) -> list[str]:
    """The calls made, in order: each amend the client makes adds "amend"."""
    made: list[str] = []
    amend = rig.client.amend_order

    def amend_made(order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        made.append("amend")
        return amend(order_id, terms, **where)

    rig.client.amend_order = amend_made  # type: ignore[method-assign]
    return made


def test_an_amend_waits_behind_an_exit_sent_after_it(tmp_path: Path) -> None:
    """An amend is a requote: an order that only reduces a position (a stop-loss), sent while
    the amend waits for a worker, is made first."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    dispatch = rig.loop.dispatch
    try:
        order_id = _placed_by_a_worker(rig)
        made = _amends_told(rig)
        release = _worker_busy(rig)
        _amend_submitted(rig, order_id, [])
        dispatch.send((), _made(made, "exit"), lambda answer: None, Urgency.EXIT)
        release.set()
        assert poll_until(lambda: len(made) == 2)
        assert made == ["exit", "amend"]
        _booked_all(rig)
    finally:
        dispatch.close()


def test_a_read_of_an_amend_in_doubt_goes_ahead_of_the_requotes(tmp_path: Path) -> None:
    """The market of an amend in doubt takes no new order until a read settles it: the read
    is made before the requotes waiting for a worker, as the lookups of lost orders are."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    dispatch = rig.loop.dispatch
    try:
        order_id = _placed_by_a_worker(rig)
        order = rig.loop.portfolio.orders[order_id]
        amend = Amend(order_id, LAL, BookSide.BID, Decimal("0.41"), Decimal("10"), UNRECORDED)
        requote = replace(QUOTE, price=Decimal("0.41"), replaces=(order_id,))
        rig.loop.executor.amends._lose(amend, order, requote)  # as a lost answer leaves it
        made: list[str] = []
        read = rig.client.get_order

        def read_made(order_id: str) -> Order:
            made.append("read")
            return read(order_id)

        rig.client.get_order = read_made  # type: ignore[method-assign]
        release = _worker_busy(rig)
        dispatch.send((), _made(made, "requote"), lambda answer: None, Urgency.AGAIN)
        rig.loop.executor.amends.look_later()
        release.set()
        assert poll_until(lambda: len(made) == 2)
        assert made == ["read", "requote"]
        _booked_all(rig)
    finally:
        dispatch.close()


def test_the_reads_of_amends_in_doubt_take_turns_the_least_recently_read_first(
    tmp_path: Path,
) -> None:
    """Two amends in doubt and room for one read at a time: the read of the first fails, and
    the next round reads the second, never read yet, rather than the first again (an outage
    answering one order's reads with errors must not keep the other in doubt for good)."""
    rig = make_rig(tmp_path / "s.db", send_workers=LOOKUP_SHARE)
    first, second = _lost_in(rig, 2)
    asked: list[str] = []

    def read(order_id: str) -> Order:
        asked.append(order_id)
        raise ServerError("request failed: HTTP 503", status=503)

    rig.client.get_order = read  # type: ignore[method-assign]
    amends = rig.loop.executor.amends
    try:
        for _ in range(3):
            amends.look_later()
            _booked_all(rig)
            rig.clock.advance(1.0)
        assert asked == [first, second, first]
    finally:
        rig.loop.dispatch.close()


def test_an_amend_of_a_quote_an_earlier_run_left_goes_ahead_of_requotes(tmp_path: Path) -> None:
    """The first call this run in a market is made before the requotes of markets quoted
    already, an amend of a quote an earlier run left as much as a new order."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    dispatch = rig.loop.dispatch
    try:
        order_id = _placed_by_a_worker(rig)
        dispatch.quoted.clear()  # as a restart finds the quote: not placed by this run
        made = _amends_told(rig)
        release = _worker_busy(rig)
        dispatch.send((), _made(made, "requote"), lambda answer: None, Urgency.AGAIN)
        _amend_submitted(rig, order_id, [])
        release.set()
        assert poll_until(lambda: len(made) == 2)
        assert made == ["amend", "requote"]
        _booked_all(rig)
    finally:
        dispatch.close()


def test_an_order_read_back_after_a_refused_amend_vouches_only_for_the_calls_sent_before_it(
    tmp_path: Path,
) -> None:
    """The amend is refused and its order read back; a call sent while they were out fails
    afterwards. The read's answer is no evidence the exchange answered that later call's kind
    of request after it left: its failure counts toward the API error guard."""
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    rig.client.amend_errors.append(
        BadRequestError("HTTP 400 invalid_order: post only cross", status=400)
    )
    sent = _sent_while_each_is_out(rig, "get_order")
    assert not _requote(rig, order_id, "0.41")
    assert _a_failure_of_the_call_sent_meanwhile_trips_safe_mode(rig, sent), "sent after it"


def test_a_cancel_answered_vouches_only_for_the_calls_sent_before_it(tmp_path: Path) -> None:
    """A strategy's cancel is answered; a call sent while it was out fails afterwards: that
    failure counts toward the API error guard, as after an order's or an amend's answer."""
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    sent = _sent_while_each_is_out(rig, "cancel_order")
    rig.loop.executor.cancels.cancel(Cancel(LAL, order_id, "the strategy's cancel"))
    assert rig.loop.portfolio.resting(LAL) == []
    assert _a_failure_of_the_call_sent_meanwhile_trips_safe_mode(rig, sent), "sent after it"


def _behind_an_exit_answered(rig: Rig, send: Callable[[], None]) -> None:
    """`send` puts a call in line behind the one send worker, held busy; an exit sent after it
    goes first and is answered; then every answer is booked and the dispatch closed."""
    dispatch, guard = rig.loop.dispatch, rig.loop.executor.guard
    try:
        release = _worker_busy(rig)
        send()
        rig.clock.advance(1.0)
        exit_sent = guard.stamp()
        dispatch.send((), lambda: None, lambda answer: guard.ok(exit_sent), Urgency.EXIT)
        release.set()
        _booked_all(rig)
    finally:
        dispatch.close()


def test_a_cancel_that_waited_for_a_worker_counts_from_when_it_left(tmp_path: Path) -> None:
    """A cancel waits for the one send worker while an exit sent after it goes first and is
    answered; the exchange then fails the cancel. It left after that answer: its failure is
    the exchange's trouble now, and backs off, not a call held in the network."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    order_id = _placed_by_a_worker(rig)
    rig.client.cancel_errors.append(ServerError("request failed: HTTP 503", status=503))
    _behind_an_exit_answered(
        rig, lambda: rig.loop.executor.cancels.send_cancels(LAL, (order_id,), "a requote")
    )
    guard = rig.loop.executor.guard
    assert rig.loop.log.counts.get("cancel_failed") == 1
    assert rig.loop.log.counts.get("api_error_isolated", 0) == 0
    assert guard.backing_off


def test_an_amend_that_waited_for_a_worker_counts_from_when_it_left(tmp_path: Path) -> None:
    """As a cancel: an amend waits for the one send worker while an exit sent after it goes
    first and is answered; the exchange then fails the amend. Its failure counts."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    order_id = _placed_by_a_worker(rig)
    rig.client.amend_errors.append(ServerError("request failed: HTTP 503", status=503))
    _behind_an_exit_answered(rig, lambda: _amend_submitted(rig, order_id, []))
    guard = rig.loop.executor.guard
    assert rig.loop.log.counts.get("amend_rejected") == 1
    assert rig.loop.log.counts.get("api_error_isolated", 0) == 0
    assert guard.backing_off


def test_an_order_that_waited_for_a_worker_counts_from_when_it_left(tmp_path: Path) -> None:
    """As an amend and a cancel: a new order waits for the one send worker while an exit sent
    after it goes first and is answered; the exchange then refuses the order with a 503. Its
    failure counts."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    rig.client.create_errors.append(ServerError("request failed: HTTP 503", status=503))

    def send() -> None:
        assert rig.loop.executor.execute(QUOTE, last_data_at=rig.clock.wall())

    _behind_an_exit_answered(rig, send)
    guard = rig.loop.executor.guard
    assert rig.loop.log.counts.get("api_error_isolated", 0) == 0
    assert guard.backing_off


def test_a_batch_that_waited_for_a_worker_counts_from_when_it_left(tmp_path: Path) -> None:
    """The same for the tick's batch of new orders: its answer lost with a 503 after an exit
    sent after it was answered counts toward the API error guard."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)

    def lost(creates: list[Any], *, subaccount: int | None = None) -> Any:
        raise OrderOutcomeUnknown(
            "the exchange answered HTTP 503 to the batch; any of them may exist",
            client_order_id=creates[0].client_order_id,
        )

    rig.client.batch_size = lambda: 2  # type: ignore[attr-defined]
    rig.client.batch_create_orders = lost  # type: ignore[attr-defined]

    def send() -> None:
        for price in ("0.40", "0.39"):
            quote = replace(QUOTE, price=Decimal(price))
            assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall(), batch=True)
        rig.loop.executor.flush()

    _behind_an_exit_answered(rig, send)
    guard = rig.loop.executor.guard
    assert rig.loop.log.counts.get("api_error_isolated", 0) == 0
    assert guard.backing_off


def test_a_read_back_after_a_refused_amend_that_lags_the_state_file_does_not_move_it_back(
    tmp_path: Path,
) -> None:
    """The order filled whole and the state file booked it executed (its fills read), while a
    requote's amend was already on its way: the exchange refuses it (the order no longer
    rests) and the order read back comes from a replica that has not seen the fills yet
    (reads lag writes: REFERENCE.md), showing it resting with nothing filled. Copied in, it
    moved the row back to resting, and the stop's proof then named an executed order as one
    of the loop's still resting."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    stale = rig.client.get_order(order_id)  # as a lagging replica still shows it
    assert (stale.status, stale.fill_count) == ("resting", 0)
    rig.client.amend_errors.append(
        BadRequestError(
            f"HTTP 400 order_not_resting: order {order_id} is executed",
            status=400,
            code="order_not_resting",
        )
    )

    def lagging(_id: str) -> Order:
        # the fills were booked while the amend was out (as a fill read does)
        assert rig.store.orders.update_order(
            order_id=order_id,
            status="executed",
            fill_count=Decimal(10),
            remaining_count=Decimal(0),
        )
        return stale

    rig.client.get_order = lagging  # type: ignore[method-assign,assignment]
    assert not _requote(rig, order_id, "0.41")
    assert rig.loop.log.counts.get("amend_rejected") == 1
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    assert (row.status, row.filled, row.remaining) == ("executed", Decimal(10), Decimal(0))


def _row_counts(rig: Rig, order_id: str) -> tuple[str, Decimal, Decimal, Decimal | None]:
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    return row.status, row.price, row.count, row.remaining


def test_a_size_only_amend_answered_after_its_user_orders_message_books_the_new_total(
    tmp_path: Path,
) -> None:
    """The amend raises the quote from 10 to 12 at its price and lands; the `user_orders`
    message saying 12 rest is booked before the amend's answer. The row's total is the
    amended 12, not the 10 it was placed with, beside the 12 the message says rest."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, read_lag_s=0.5, send_workers=4)
    rig.step(0.1)
    order_id = _placed_by_a_worker(rig)
    amend = rig.client.amend_order
    release = threading.Event()

    def held(order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        result = amend(order_id, terms, **where)
        release.wait(60)  # its answer is slow to come back
        return result

    rig.client.amend_order = held  # type: ignore[method-assign]
    _requote(rig, order_id, "0.40", "12")
    assert poll_until(lambda: _on_exchange(rig, order_id) == (Decimal("0.40"), Decimal("12")))
    rig.step(0.1)  # the user_orders message of the amended order
    assert _row_counts(rig, order_id)[3] == Decimal("12"), "the message landed first"
    release.set()
    _booked_all(rig)
    assert _row_counts(rig, order_id) == ("resting", Decimal("0.40"), Decimal("12"), Decimal("12"))


def test_a_size_only_amend_in_doubt_read_after_its_user_orders_message_books_the_new_total(
    tmp_path: Path,
) -> None:
    """The amend from 10 to 12 at the same price lands and its answer is lost; the
    `user_orders` message saying 12 rest is booked, then the read by its order id settles the
    doubt. The read shows what the row already holds but its total: the row's total must be
    the amended 12, or a row resting 12 of 10 goes on to the next reconcile and the risk
    engine's count."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("unknown")  # applied, its answer lost
    assert not _requote(rig, order_id, "0.40", "12")
    assert _on_exchange(rig, order_id) == (Decimal("0.40"), Decimal("12"))
    rig.step(0.1)  # the user_orders message of the amended order
    assert _row_counts(rig, order_id)[3] == Decimal("12"), "the message landed first"
    amends = rig.loop.executor.amends
    amends.look_later()
    assert amends.lost == {}, "the read settled the amend"
    assert _row_counts(rig, order_id) == ("resting", Decimal("0.40"), Decimal("12"), Decimal("12"))
