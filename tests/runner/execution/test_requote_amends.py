"""A requote of one resting order of its own is an amend of that order (one call), not a cancel
and a new order: the order keeps its identity and takes the new price and size only when the
exchange says it did; a refusal leaves it as it was; an answer lost leaves its market holding new
orders, the new quote counted beside the old, until a read by its order id says which it is
(runner/execution/amends.py)."""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.client.connection import LANDING_WINDOW_S
from kalshi_cli.client.requests import AmendOrder, AmendResult
from kalshi_cli.runner.execution.answers import UNMADE
from kalshi_cli.runner.execution.unknown_orders import LOOKUP_SHARE
from kalshi_cli.services.orders.amend import Amend
from kalshi_cli.services.pretrade.books import OpenOrder
from kalshi_cli.store import Store
from kalshi_cli.store.connection import BUSY_TIMEOUT_SECONDS
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import (
    ApiError,
    BadRequestError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from kalshi_cli.vocabulary.models import Order
from kalshi_cli.vocabulary.units import Action, BookSide, Side, TimeInForce
from tests.runner.fakes import Rig, another_trader_places, make_rig
from tests.runner.simproc import log_events
from tests.waiting import poll_until

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
# the record id of an amend made up in the loop alone: the state file has none by it
UNRECORDED = 0
QUOTE = Intent(
    ticker=LAL,
    side=Side.YES,
    action=Action.BUY,
    price=Decimal("0.40"),
    count=Decimal("10"),
    model_fair=Decimal("0.46"),
    reason="a quote",
    strategy="market-maker",
    post_only=True,
)


# the stop-loss off (and so its check at entry): these tests add to positions where no one else bids
NO_STOP_LOSS: dict[str, Any] = {"stop_loss_share": "0"}


def _rig(tmp_path: Path, **risk: Any) -> Rig:
    """A loop whose own strategy stays quiet (a spike it never sees): the tests decide. Its
    stop-loss is off: the tests add to positions in a book where no one else bids, which the
    stop-loss at entry refuses (tests/risk proves that rule)."""
    risk = {**NO_STOP_LOSS, **risk}
    rig = make_rig(
        tmp_path / "s.db", params={"spike_share": 5}, risk=risk, read_lag_s=0.5,
        log_path=tmp_path / "trade.log",
    )  # fmt: skip
    rig.step(0.1)
    return rig


def _quoted(rig: Rig) -> str:
    """The quote placed and resting; its order id."""
    assert rig.loop.executor.execute(QUOTE, last_data_at=rig.clock.wall())
    (resting,) = rig.loop.portfolio.resting(LAL)
    return str(resting.order_id)


def _requote(rig: Rig, order_id: str, price: str = "0.41", count: str = "10") -> bool:
    requote = replace(QUOTE, price=Decimal(price), count=Decimal(count), replaces=(order_id,))
    return bool(rig.loop.executor.execute(requote, last_data_at=rig.clock.wall()))


def _on_exchange(rig: Rig, order_id: str) -> tuple[Decimal, Decimal]:
    order = rig.exchange.history.order(rig.client.account_id, order_id)
    return order.price, order.remaining_count


def test_a_requote_amends_its_order_in_place(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    creates = len(rig.client.requests)
    assert _requote(rig, order_id, "0.42", "12")
    assert len(rig.client.requests) == creates, "no new order"
    assert rig.client.amends == 1
    assert rig.loop.log.counts.get("order_cancelled", 0) == 0
    assert _on_exchange(rig, order_id) == (Decimal("0.42"), Decimal("12"))
    # the same order in the view and the state file, at its new price and size
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.order_id, resting.client_order_id) == (order_id, row.client_order_id)
    assert (resting.price, resting.remaining) == (Decimal("0.42"), Decimal("12"))
    after = rig.store.orders.get_intent(row.client_order_id)
    assert after is not None
    assert (after.status, after.price, after.count, after.remaining) == (
        "resting",
        Decimal("0.42"),
        Decimal("12"),
        Decimal("12"),
    )
    notes = [h.note for h in rig.store.orders.order_history(row.client_order_id)]
    # written before it left, then the exchange's answer
    assert notes[-2:] == ["amend sent: YES price 0.42, total 12", "amend"]
    assert rig.loop.log.counts.get("order_amended") == 1
    assert _requote(rig, order_id, "0.43", "12")  # and once more
    rig.step(1.0)
    beat = rig.store.entries.last_heartbeat("trade")
    assert beat is not None and beat.detail["amends"] == 2, "the heartbeat counts them"


# the exchange's refusal, and the client's own before the request left (a total it cannot
# write): either way nothing changed on the exchange
REFUSALS = {
    "by the exchange": (
        BadRequestError("HTTP 400 invalid_order: post only cross", status=400),
        "amend refused: HTTP 400 invalid_order: post only cross",
    ),
    "by the client before sending": (
        ValidationError("count 10.001 has more than two decimals", code="bad_count"),
        "amend not sent: count 10.001 has more than two decimals",
    ),
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_refused_amend_leaves_the_order_as_it_was(tmp_path: Path, refusal: str) -> None:
    """The order rests as it was in the exchange, the view and the state file, whose history
    says the amend was refused (not only that it was about to leave); the loop goes on, and a
    later requote amends the order."""
    error, note = REFUSALS[refusal]
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append(error)
    assert not _requote(rig, order_id)
    assert rig.loop.log.counts.get("amend_rejected") == 1
    assert _on_exchange(rig, order_id) == (Decimal("0.40"), Decimal("10"))
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.order_id, resting.price, resting.remaining) == (
        order_id,
        Decimal("0.40"),
        Decimal("10"),
    )
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and (row.status, row.price) == ("resting", Decimal("0.40"))
    assert not rig.loop.executor.unknown_orders.holds(LAL)
    notes = [h.note for h in rig.store.orders.order_history(row.client_order_id)]
    assert notes[-2:] == ["amend sent: YES price 0.41, total 10", note]
    rig.step(1.0)  # the loop goes on
    assert _requote(rig, order_id, "0.42")
    assert _on_exchange(rig, order_id) == (Decimal("0.42"), Decimal("10"))


def test_an_amend_whose_answer_was_lost_holds_its_market_until_a_read_shows_it(
    tmp_path: Path,
) -> None:
    """The exchange amended the order and the answer never came: until a read by its order id
    shows the new price, the market takes no new order that adds and the new quote counts
    as resting beside the old; the read settles it at once (no landing window to wait)."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    exposure = rig.loop.executor.outbox.total_exposure()
    rig.client.amend_errors.append("unknown")
    assert not _requote(rig, order_id, "0.43")
    assert _on_exchange(rig, order_id) == (Decimal("0.43"), Decimal("10"))
    unknown = rig.loop.executor.unknown_orders
    assert unknown.holds(LAL)
    # the old quote (4.00) and the new one beside it (4.30)
    assert rig.loop.executor.outbox.total_exposure() == exposure + Decimal("4.30")
    other = replace(QUOTE, price=Decimal("0.30"))
    creates = len(rig.client.requests)
    assert not rig.loop.executor.execute(other, last_data_at=rig.clock.wall())
    assert len(rig.client.requests) == creates, "held while the amend is in doubt"
    for _ in range(4):
        rig.step(0.5)
    assert not unknown.holds(LAL)
    # the log says what the amend became: made
    resolved = [e for e in log_events(tmp_path / "trade.log") if e["event"] == "amend_resolved"]
    assert [(e["order_id"], e["status"]) for e in resolved] == [(order_id, "amended")]
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.order_id, resting.price) == (order_id, Decimal("0.43"))
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.price == Decimal("0.43")
    assert rig.loop.executor.outbox.total_exposure() == exposure + Decimal("0.30")


def test_a_read_of_a_lost_amend_counts_a_single_contract_it_shows_filled(tmp_path: Path) -> None:
    """A read of an amend in doubt that shows one contract filled, unheard: it counts toward
    the limits as told filled until the fill read brings it in, and the 9 left rest."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    _sell_into_the_quote(rig, Decimal(1))
    rig.loop.executor.amends.look_later()
    told = rig.loop.portfolio.unbooked_orders(LAL)
    assert sum((o.remaining for o in told), Decimal(0)) == Decimal(1)
    assert [o.remaining for o in rig.loop.portfolio.resting(LAL)] == [Decimal(9)]


def test_an_amend_lost_before_it_landed_is_called_not_amended_only_after_the_window(
    tmp_path: Path,
) -> None:
    """The answer was lost and the exchange never amended: a read showing the old price
    proves nothing until the amend could no longer land (`landing_s`); then the order is
    as it was and the market trades again."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    unknown = rig.loop.executor.unknown_orders
    failed_at = rig.clock.monotonic()
    while rig.clock.monotonic() - failed_at < LANDING_WINDOW_S - 1:
        rig.step(1.0)
        assert unknown.holds(LAL)
    for _ in range(4):
        rig.step(1.0)
    assert not unknown.holds(LAL)
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.order_id, resting.price) == (order_id, Decimal("0.40"))
    assert rig.loop.log.counts.get("amend_resolved") == 1
    # the state file holds it settled too: the next start neither reads it nor writes of it
    assert rig.store.orders.amends_in_doubt() == []
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    notes = [h.note or "" for h in rig.store.orders.order_history(row.client_order_id)]
    assert notes[-1].startswith("amend not made"), notes


def test_an_amend_lowering_only_the_size_whose_answer_was_lost_is_settled_by_the_read(
    tmp_path: Path,
) -> None:
    """The exchange lowered the quote from 10 to 7 at its price and the answer never came:
    the read that shows it settles the amend in the view and in the state file, whose row
    rests the new size (a change named a decrease in its history, not an amend)."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("unknown")
    assert not _requote(rig, order_id, "0.40", "7")
    assert [i.order_id for i, *_ in rig.store.orders.amends_in_doubt()] == [order_id]
    for _ in range(4):
        rig.step(0.5)
    assert rig.loop.log.counts.get("amend_resolved") == 1
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.remaining == Decimal("7")
    assert rig.store.orders.amends_in_doubt() == []


def test_an_amended_quote_that_filled_unseen_is_capped_and_its_fill_read(
    tmp_path: Path,
) -> None:
    """Another trader sold 6 into the quote; the loop has not heard of it. The amend names a
    total of 10 (what the loop knew filled, none, plus 10 to rest), so only 4 rest at the new
    price: what is held and what rests never exceed what was asked, and the loop's view, 10
    resting and nothing held until it reads the fill, counts the same worst case. The answer
    says nothing of it (what rests did not change), so the fill comes in with the next read."""
    rig = _rig(tmp_path, max_position_per_market=12)
    order_id = _quoted(rig)
    _sell_into_the_quote(rig, Decimal("6"))
    assert _requote(rig, order_id, "0.39")
    assert _on_exchange(rig, order_id) == (Decimal("0.39"), Decimal("4"))
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert rig.loop.portfolio.position(LAL) + resting.remaining == 10
    for _ in range(12):  # past the fill poll's 5 s
        rig.step(0.5)
    assert rig.loop.portfolio.position(LAL) == 6
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.price, resting.remaining) == (Decimal("0.39"), Decimal("4"))


def test_an_amend_answered_with_less_resting_than_asked_reads_the_fill_at_once(
    tmp_path: Path,
) -> None:
    """The same unseen fill of 6, and a requote to 12: the exchange rests 6 of a total of 12
    and says so. Less rests than asked beyond what the amend filled: the fill is read before
    the market decides again."""
    rig = _rig(tmp_path, max_position_per_market=20)
    order_id = _quoted(rig)
    _sell_into_the_quote(rig, Decimal("6"))
    assert _requote(rig, order_id, "0.39", "12")
    assert _on_exchange(rig, order_id) == (Decimal("0.39"), Decimal("6"))
    assert rig.loop.portfolio.position(LAL) == 6
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.price, resting.remaining) == (Decimal("0.39"), Decimal("6"))


def _sell_into_the_quote(
    rig: Rig, count: Decimal, price: Decimal = Decimal("0.40"), quoted: Decimal = Decimal("10")
) -> None:
    """Another trader sells `count` into the loop's bid of `quoted` at `price` (after the bids
    ahead of it); the loop hears nothing of it."""
    yes_bids, _ = rig.exchange.engine.book(LAL)
    ahead = sum((n for p, n in yes_bids if p >= price), Decimal(0)) - quoted
    another_trader_places(rig.exchange, LAL, BookSide.ASK, price, ahead + count)
    rig.feed.drain_messages()


def test_a_requote_of_an_order_on_other_terms_goes_as_cancel_and_new_order(
    tmp_path: Path,
) -> None:
    """An amend keeps an order's terms: a requote that changes them (here post-only) cannot
    be one, and goes as a cancel, then a new order."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    requote = replace(QUOTE, price=Decimal("0.41"), post_only=False, replaces=(order_id,))
    assert rig.loop.executor.execute(requote, last_data_at=rig.clock.wall())
    assert rig.client.amends == 0
    assert rig.loop.log.counts.get("order_cancelled") == 1
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert resting.order_id != order_id and resting.price == Decimal("0.41")


def _asked(asked: list[str], n: int) -> bool:
    return len(asked) == n


def test_the_reads_of_amends_in_doubt_take_at_most_their_share_of_the_send_workers(
    tmp_path: Path,
) -> None:
    """Amends whose answers were lost in many markets (an outage's aftermath): each order is
    read by its id, but no more such reads are out at once than a share of the send workers,
    and as they are booked the orders not read yet take their turn, each once at a time."""
    rig = make_rig(tmp_path / "s.db", send_workers=32)
    amends = rig.loop.executor.amends
    markets = [f"KXDOUBT-{n}" for n in range(6)]
    for n, ticker in enumerate(markets):
        order = OpenOrder(f"order-{n}", f"c-{n}", ticker, Side.YES, Action.BUY, QUOTE.price,
                          QUOTE.count, QUOTE.strategy)  # fmt: skip
        amend = Amend(order.order_id, ticker, BookSide.BID, Decimal("0.41"), Decimal("10"),
                      UNRECORDED)  # fmt: skip
        amends._lose(amend, order, replace(QUOTE, ticker=ticker))  # what a lost answer does
    release = threading.Event()
    asked: list[str] = []

    def held(order_id: str) -> Order:
        asked.append(order_id)
        release.wait(60)
        raise NotFoundError("HTTP 404 not_found", status=404)

    rig.client.get_order = held  # type: ignore[method-assign]
    dispatch = rig.loop.dispatch
    share = 32 // LOOKUP_SHARE
    assert len(markets) % share == 0
    for turn in range(len(markets) // share):
        amends.look_later()
        assert dispatch.in_flight == share
        amends.look_later()  # no order read twice at once, none past the share
        assert dispatch.in_flight == share
        release.set()
        assert poll_until(partial(_asked, asked, share * (turn + 1)))
        while dispatch.in_flight:
            assert poll_until(lambda: dispatch.answered)
            dispatch.drain()
        release.clear()
    assert sorted(asked) == sorted(f"order-{n}" for n in range(len(markets))), "each once"
    assert amends.lost == {} and not rig.loop.executor.unknown_orders.amending


def test_a_read_sent_before_the_amend_could_no_longer_land_does_not_settle_it(
    tmp_path: Path,
) -> None:
    """The answer was lost; a read of the order goes out just before the amend could no longer
    land and comes back after. What it shows is the exchange as it was when the read was
    taken: the amend, held in the network, may land after that and before its window closes.
    Only a read sent once the window closed proves it never will; until then the market
    holds and both quotes count."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    amends, unknown = rig.loop.executor.amends, rig.loop.executor.unknown_orders
    rig.clock.advance(LANDING_WINDOW_S - 2)
    read = rig.client.get_order

    def slow(order_id: str) -> Order:
        shown = read(order_id)  # the old price, as the read is taken
        rig.clock.advance(1)
        # the amend, signed before its answer was lost, lands within its window
        rig.exchange.desk.amend_order(
            rig.client.account_id,
            order_id,
            ticker=LAL,
            book_side=BookSide.BID,
            price=Decimal("0.43"),
            count=Decimal("10"),
        )
        rig.clock.advance(4)  # and the read's answer comes back past the window
        return shown

    rig.client.get_order = slow  # type: ignore[method-assign]
    amends.look_later()
    assert unknown.holds(LAL), "a read taken inside the window proves nothing"
    assert amends.lost
    rig.client.get_order = read  # type: ignore[method-assign]
    amends.look_later()
    assert not unknown.holds(LAL)
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.order_id, resting.price) == (order_id, Decimal("0.43"))


def test_reads_of_an_amend_in_doubt_during_the_backoff_of_a_block_do_not_feed_the_guard(
    tmp_path: Path,
) -> None:
    """The lost answer itself put trading into SAFE_MODE; the order is read through the
    backoff (trading is blocked), as the lookups of lost orders are. An outage answering
    those reads with errors must neither extend the backoff nor trip SAFE_MODE again: a
    storm of errors would otherwise keep the loop backing off, and tell the trader of
    SAFE_MODE, once a second."""
    rig = _rig(tmp_path, max_consecutive_errors=1, max_orders_per_minute=1000)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.43")
    guard = rig.loop.executor.guard
    assert rig.store.trading.trading_state().state == "SAFE_MODE"
    assert guard.backing_off
    backoff_until = guard.backoff_until
    tripped = rig.loop.log.counts.get("safe_mode", 0)
    reads: list[str] = []

    def outage(order_id: str) -> Order:
        reads.append(order_id)
        raise ServerError("request failed: HTTP 503", status=503)

    rig.client.get_order = outage  # type: ignore[method-assign]
    for _ in range(10):
        rig.step(0.5)
    assert reads, "the order in doubt is read through the backoff"
    assert guard.backoff_until == backoff_until, "the reads' errors do not extend the backoff"
    assert rig.loop.log.counts.get("safe_mode", 0) == tripped


def _booked_all(rig: Rig) -> None:
    dispatch = rig.loop.dispatch
    while dispatch.in_flight:
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()


def test_an_amend_answered_after_a_withdrawal_booked_leaves_the_order_cancelled(
    tmp_path: Path,
) -> None:
    """The amend lands, then the withdrawal's cancel (trading blocked) lands on the same
    order; the cancel's answer is booked first. The amend's answer, booked after, must not
    bring the order back to resting in the state file: the exchange cancelled it."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, read_lag_s=0.5, send_workers=4)
    rig.step(0.1)
    rig.loop.executor.execute(QUOTE, last_data_at=rig.clock.wall())
    _booked_all(rig)
    (resting,) = rig.loop.portfolio.resting(LAL)
    order_id = str(resting.order_id)
    amend = rig.client.amend_order
    release = threading.Event()

    def held(order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        result = amend(order_id, terms, **where)
        release.wait(60)  # its answer is slow to come back
        return result

    rig.client.amend_order = held  # type: ignore[method-assign]
    _requote(rig, order_id, "0.41", "12")
    assert poll_until(lambda: _on_exchange(rig, order_id) == (Decimal("0.41"), Decimal("12")))
    rig.loop.executor.cancels.withdraw(LAL, order_id, "trading is blocked")
    assert poll_until(lambda: rig.loop.dispatch.answered)
    rig.loop.dispatch.drain()
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.status == "canceled"
    release.set()
    _booked_all(rig)
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.status == "canceled", "the exchange cancelled it"
    assert rig.exchange.history.order(rig.client.account_id, order_id).status == "canceled"
    assert not rig.loop.portfolio.resting(LAL)


def test_fills_booked_while_an_amend_raising_the_total_is_out_do_not_end_the_order(
    tmp_path: Path,
) -> None:
    """The amend raises the quote from 10 to 12 and lands; 10 fill at the new price; the fill
    read is booked before the amend's answer. Counted against the old total of 10, those
    fills would end the order, in the state file and the view, while 2 of the new total
    still rest on the exchange: a quote the loop no longer counts, nor withdraws. Booked,
    the amend's answer leaves the order resting with what the new total leaves."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, read_lag_s=0.5, send_workers=4)
    rig.step(0.1)
    rig.loop.executor.execute(QUOTE, last_data_at=rig.clock.wall())
    _booked_all(rig)
    (resting,) = rig.loop.portfolio.resting(LAL)
    order_id = str(resting.order_id)
    amend = rig.client.amend_order
    release = threading.Event()

    def held(order_id: str, terms: AmendOrder, **where: Any) -> AmendResult:
        result = amend(order_id, terms, **where)
        release.wait(60)  # its answer is slow to come back
        return result

    rig.client.amend_order = held  # type: ignore[method-assign]
    _requote(rig, order_id, "0.41", "12")
    assert poll_until(lambda: _on_exchange(rig, order_id) == (Decimal("0.41"), Decimal("12")))
    _sell_into_the_quote(rig, Decimal("10"), Decimal("0.41"), Decimal("12"))
    assert _on_exchange(rig, order_id) == (Decimal("0.41"), Decimal("2"))
    rig.loop.executor.fills.read_for()
    assert poll_until(lambda: rig.loop.dispatch.answered)
    rig.loop.dispatch.drain()
    assert rig.loop.portfolio.position(LAL) == 10
    release.set()
    _booked_all(rig)
    (resting,) = rig.loop.portfolio.resting(LAL)
    assert (resting.order_id, resting.price, resting.remaining) == (
        order_id,
        Decimal("0.41"),
        Decimal("2"),
    )
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    assert (row.status, row.count, row.remaining) == ("resting", Decimal("12"), Decimal("2"))


def test_a_fill_made_before_an_amend_is_measured_against_the_price_it_filled_at(
    tmp_path: Path,
) -> None:
    """Another trader sold 6 into the quote at its limit of 0.40; the loop reads the fill
    only after it amended the quote to 0.39. The fill's slippage is against the 0.40 it was
    made at (none), not the new limit; and its latency from when the quote was sent. A fill
    of the amended quote is measured against its new limit, as its strategy's."""
    rig = make_rig(
        tmp_path / "s.db",
        params={"spike_share": 5},
        risk=NO_STOP_LOSS,
        read_lag_s=0.5,
        log_path=tmp_path / "trade.log",
    )
    rig.step(0.1)
    order_id = _quoted(rig)
    _sell_into_the_quote(rig, Decimal("6"))
    rig.clock.advance(1.0)  # the amend lands a second after the fill
    assert _requote(rig, order_id, "0.39")
    for _ in range(12):  # past the fill poll's 5 s
        rig.step(0.5)
    # then 2 of the 4 left at the new limit of 0.39
    _sell_into_the_quote(rig, Decimal("2"), price=Decimal("0.39"), quoted=Decimal("4"))
    for _ in range(12):
        rig.step(0.5)
    rig.loop.log.close()
    lines = [json.loads(line) for line in (tmp_path / "trade.log").read_text().splitlines()]
    before, after = [e for e in lines if e["event"] == "fill_received"]
    assert Decimal(before["price"]) == Decimal("0.40")
    assert Decimal(before["slippage"]) == 0
    assert (Decimal(after["price"]), Decimal(after["count"])) == (Decimal("0.39"), 2)
    assert Decimal(after["slippage"]) == 0
    assert (after["side"], after["action"], after["strategy"]) == ("yes", "buy", "market-maker")
    assert Decimal(after["model_fair"]) == QUOTE.model_fair


def _is_amended(rig: Rig, intent: Intent) -> bool:
    """The requote went as an amend (False: it would go as cancels and a new order)."""
    return rig.loop.executor.amends.amendable(intent) is not None


def test_only_a_requote_of_one_order_of_its_own_on_the_same_terms_is_amended(
    tmp_path: Path,
) -> None:
    """An amend changes the price and size of one order and nothing else: a requote of two
    orders, of another strategy's order, on the other side or action, or one that reduces
    only or is not good till cancelled goes as cancels, then a new order."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    other = _quoted_too(rig, replace(QUOTE, price=Decimal("0.30")))
    same = replace(QUOTE, price=Decimal("0.41"), replaces=(order_id,))
    assert _is_amended(rig, same)
    assert not _is_amended(rig, replace(same, replaces=(order_id, other)))
    assert not _is_amended(rig, replace(same, strategy="spike"))  # not its order
    assert not _is_amended(rig, replace(same, side=Side.NO, action=Action.SELL))
    assert not _is_amended(rig, replace(same, action=Action.SELL))
    reducing = replace(same, reduce_only=True, time_in_force=TimeInForce.IOC)
    assert not _is_amended(rig, reducing)
    assert not _is_amended(rig, replace(same, time_in_force=TimeInForce.IOC))
    assert not _is_amended(rig, replace(same, ticker="KXNBAGAME-SIM-LALGSW-GSW"))


def _quoted_too(rig: Rig, quote: Intent) -> str:
    """A second quote in the market; its order id."""
    before = {o.order_id for o in rig.loop.portfolio.resting(LAL)}
    assert rig.loop.executor.execute(quote, last_data_at=rig.clock.wall())
    (new,) = [o.order_id for o in rig.loop.portfolio.resting(LAL) if o.order_id not in before]
    return str(new)


def test_an_amend_decided_before_halted_was_written_is_neither_sent_nor_a_cancel(
    tmp_path: Path,
) -> None:
    """The kill switch writes HALTED after the risk engine allowed the requote: the amend is
    refused in the transaction that would record it, and nothing is sent (no amend, and no
    cancel in its place)."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    requote = replace(QUOTE, price=Decimal("0.41"), replaces=(order_id,))
    order = rig.loop.executor.amends.amendable(requote)
    assert order is not None
    with Store.open(tmp_path / "s.db") as kill_switch:
        kill_switch.trading.set_trading_state("HALTED", reason="kill switch", source="cancel-all")
    answers: list[Decimal | None] = []
    taken: list[bool] = []
    assert rig.loop.executor.amends.submit(
        requote,
        order,
        taken=lambda: taken.append(True),
        beside=rig.loop.executor.outbox.replacing_until,
        then=answers.append,
    )
    assert answers == [None] and taken == []
    assert rig.client.amends == 0
    assert _on_exchange(rig, order_id) == (Decimal("0.40"), Decimal("10"))
    assert rig.loop.log.counts.get("intent_dropped") == 1


def test_a_lost_amend_counts_toward_the_api_error_guard(tmp_path: Path) -> None:
    """An amend's answer lost is the exchange failing, as a lost order's is: with one error
    enough, SAFE_MODE."""
    rig = _rig(tmp_path, max_consecutive_errors=1)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.41")
    assert rig.loop.executor.guard.safe_mode_tripped


def test_an_amend_refused_for_balance_holds_the_orders_that_add(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append(
        ApiError("HTTP 400 insufficient_balance", status=400, code="insufficient_balance")
    )
    assert not _requote(rig, order_id, "0.41")
    assert rig.loop.executor.balance_hold.holds()


def test_a_refused_amend_of_an_order_gone_meanwhile_reads_it_back(tmp_path: Path) -> None:
    """The quote was cancelled by hand and the loop has not heard: the amend is refused, the
    order read back, and the view and the state file stop counting it."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.exchange.desk.cancel_order(rig.client.account_id, order_id)
    rig.feed.drain_messages()
    assert not _requote(rig, order_id, "0.41")
    assert rig.loop.log.counts.get("amend_rejected") == 1
    assert rig.loop.portfolio.resting(LAL) == []
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None and row.status == "canceled"


def test_an_order_cancelled_while_its_amend_was_in_doubt_settles_it(tmp_path: Path) -> None:
    """The amend's answer was lost, and the order was cancelled by hand meanwhile: the read
    shows it cancelled, the doubt is over, and nothing counts it."""
    rig = _rig(tmp_path)
    order_id = _quoted(rig)
    rig.client.amend_errors.append("lost")
    assert not _requote(rig, order_id, "0.41")
    rig.exchange.desk.cancel_order(rig.client.account_id, order_id)
    rig.feed.drain_messages()
    rig.loop.executor.amends.look_later()
    unknown = rig.loop.executor.unknown_orders
    assert not unknown.holds(LAL)
    assert rig.loop.portfolio.resting(LAL) == []
    assert rig.loop.executor.outbox.total_exposure() == 0


def _placed_by_a_worker(rig: Rig) -> str:
    """The quote placed through the rig's send workers, its answer booked; its order id."""
    dispatch = rig.loop.dispatch
    assert rig.loop.executor.execute(QUOTE, last_data_at=rig.clock.wall())
    assert poll_until(lambda: dispatch.answered)
    dispatch.drain()
    (resting,) = rig.loop.portfolio.resting(LAL)
    return str(resting.order_id)


def _amend_submitted(rig: Rig, order_id: str, answers: list[Decimal | None]) -> None:
    """A requote of the order to 0.41 handed to the amends, its answer to `answers`."""
    requote = replace(QUOTE, price=Decimal("0.41"), replaces=(order_id,))
    order = rig.loop.executor.amends.amendable(requote)
    assert order is not None
    assert rig.loop.executor.amends.submit(
        requote,
        order,
        taken=lambda: None,
        beside=rig.loop.executor.outbox.replacing_until,
        then=answers.append,
    )


class _HeldOnceArmed(queue.PriorityQueue[Any]):
    """The dispatch's line of calls, where, once `armed`, a worker that draws a call waits
    for `go` before going on: the moment between its draw and its taking the call."""

    def __init__(self) -> None:
        super().__init__()
        self.armed, self.drew, self.go = threading.Event(), threading.Event(), threading.Event()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        if item[2] is not None and self.armed.is_set() and not self.drew.is_set():
            self.drew.set()
            self.go.wait(30)
        return item


@contextlib.contextmanager
def _amend_drawn_by_a_worker(tmp_path: Path) -> Iterator[tuple[Rig, str]]:
    """A rig with one send worker that has drawn a requote's amend of the quote (its order id
    given) but not yet taken it: the moment a close drops the call unmade."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=1)
    rig.step(0.1)
    line = _HeldOnceArmed()
    rig.loop.dispatch._calls = line  # before any worker starts: they start with the first call
    try:
        order_id = _placed_by_a_worker(rig)
        line.armed.set()
        _amend_submitted(rig, order_id, [])
        assert line.drew.wait(30), "the worker drew the amend"
        yield rig, order_id
    finally:
        line.go.set()


def test_an_amend_dropped_unmade_says_so_in_the_orders_history(tmp_path: Path) -> None:
    """The dispatch closes while a worker has drawn the amend but not taken it: the amend is
    never made, and the order's history, which said it was about to leave, says it did not."""
    with _amend_drawn_by_a_worker(tmp_path) as (rig, order_id):
        rig.loop.dispatch.close()
    assert rig.client.amends == 0
    assert _on_exchange(rig, order_id) == (Decimal("0.40"), Decimal("10"))
    row = rig.store.orders.intent_by_order_id(order_id)
    assert row is not None
    notes = [h.note for h in rig.store.orders.order_history(row.client_order_id)]
    assert notes[-2:] == ["amend sent: YES price 0.41, total 10", f"amend not sent: {UNMADE}"]


def test_an_amend_dropped_unmade_does_not_wait_for_the_state_files_lock(tmp_path: Path) -> None:
    """The dispatch closes while a worker has drawn the amend but not taken it, and another
    process holds the state file's write lock (the loop stops because it cannot write): the
    note that the amend never left is given up at once, not waited for, so the withdrawal of
    the loop's resting orders that follows the close is not held back by it."""
    with _amend_drawn_by_a_worker(tmp_path) as (rig, _):
        other = sqlite3.connect(rig.store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            rig.loop.dispatch.close()
            took = time.monotonic() - started
        finally:
            other.close()
    # waiting for the lock is waiting its whole busy timeout: the bound is just below that, not
    # half of it, so a busy machine's stall of the close cannot reach it
    assert took < BUSY_TIMEOUT_SECONDS, f"the close waited {took:.1f}s for the lock"
    assert rig.client.amends == 0
    assert not rig.loop.executor.outbox.replacing


def test_an_amend_a_worker_takes_once_the_stop_began_is_never_sent(tmp_path: Path) -> None:
    """A stopping loop places nothing: an amend still waiting for a worker when the stop
    begins is withdrawn (the stop cancels the order as it is), not sent."""
    rig = make_rig(tmp_path / "s.db", params={"spike_share": 5}, send_workers=2)
    rig.step(0.1)
    dispatch = rig.loop.dispatch
    try:
        order_id = _placed_by_a_worker(rig)
        dispatch.stopping = True
        answers: list[Decimal | None] = []
        _amend_submitted(rig, order_id, answers)
        assert poll_until(lambda: dispatch.answered)
        dispatch.drain()
        assert answers == [None]
        assert rig.client.amends == 0
        assert _on_exchange(rig, order_id) == (Decimal("0.40"), Decimal("10"))
        row = rig.store.orders.intent_by_order_id(order_id)
        assert row is not None
        notes = [h.note for h in rig.store.orders.order_history(row.client_order_id)]
        # written before it would leave, then that it never left
        assert notes[-2] == "amend sent: YES price 0.41, total 10"
        assert notes[-1] == "amend not sent: the loop was stopping before the request was sent"
    finally:
        dispatch.close()
