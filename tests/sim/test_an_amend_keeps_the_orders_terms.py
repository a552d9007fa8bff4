"""What the exchange core's amend (`OrderDesk.amend_resting`) keeps of the order and refuses: the
order's post-only and self-trade prevention still hold at its new price, and an amend to a
client order id another order holds, to an expiry already past, or of an order no longer
resting is refused."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.vocabulary.units import BookSide
from tests.sim.test_core import Env

BID, ASK = BookSide.BID, BookSide.ASK


def test_a_post_only_order_amended_across_the_book_is_refused_and_rests_as_it_was() -> None:
    """A post-only bid amended to a price that meets an offer would take it (and pay a taker's
    fee): refused, and it rests where it was, nothing filled."""
    env = Env()
    env.place(env.b, ASK, "0.45", 5)
    bid = env.place(env.a, BID, "0.40", 5, post_only=True).order
    with pytest.raises(ExchangeError):
        env.ex.desk.amend_order(
            env.a, bid.order_id, ticker="M", book_side=BID, price=D("0.46"), count=D(5)
        )
    order = env.ex.history.order(env.a, bid.order_id)
    assert (order.status, order.price, order.remaining_count) == ("resting", D("0.40"), D(5))
    assert env.ex.history.fills(env.a) == []


def test_an_amend_meeting_the_accounts_own_offer_keeps_its_self_trade_prevention() -> None:
    """Amended up into the account's own offer, a bid sent with taker-at-cross stops there: the
    offer still rests, nothing trades with itself."""
    env = Env()
    offer = env.place(env.a, ASK, "0.45", 5).order
    bid = env.place(env.a, BID, "0.40", 5).order
    env.ex.desk.amend_order(
        env.a, bid.order_id, ticker="M", book_side=BID, price=D("0.46"), count=D(5)
    )
    kept = env.ex.history.order(env.a, offer.order_id)
    assert (kept.status, kept.remaining_count) == ("resting", D(5))
    assert env.ex.history.fills(env.a) == []


def test_an_amend_to_a_client_order_id_another_order_holds_is_refused() -> None:
    env = Env()
    first = env.place(env.a, BID, "0.40", 5, client_order_id="first").order
    env.place(env.a, BID, "0.39", 5, client_order_id="second")
    with pytest.raises(ExchangeError) as refused:
        env.ex.desk.amend_order(
            env.a,
            first.order_id,
            ticker="M",
            book_side=BID,
            price=D("0.41"),
            count=D(5),
            updated_client_order_id="second",
        )
    assert refused.value.status == 409
    assert env.ex.history.order(env.a, first.order_id).client_order_id == "first"


def test_an_amend_to_an_expiry_already_past_is_refused() -> None:
    """Any expiry before now, the epoch's first seconds too, is refused with a message that
    names it; 0 (no expiry) is not."""
    env = Env()
    bid = env.place(env.a, BID, "0.40", 5).order
    for past in (1, int(env.clock.wall()) - 1):
        with pytest.raises(ExchangeError) as refused:
            env.ex.desk.amend_order(
                env.a,
                bid.order_id,
                ticker="M",
                book_side=BID,
                price=D("0.40"),
                count=D(5),
                expiration_time=past,
            )
        assert "expiration_time" in refused.value.message
    assert env.ex.history.order(env.a, bid.order_id).expiration_time is None


def test_an_amend_of_an_order_no_longer_resting_is_refused_as_not_resting() -> None:
    """Refused with the exchange's `order_not_resting`, the message naming what the order
    became (here cancelled), not amended back to life."""
    env = Env()
    bid = env.place(env.a, BID, "0.40", 5).order
    env.ex.desk.cancel_order(env.a, bid.order_id)
    with pytest.raises(ExchangeError) as refused:
        env.ex.desk.amend_order(
            env.a, bid.order_id, ticker="M", book_side=BID, price=D("0.41"), count=D(5)
        )
    assert refused.value.code == "order_not_resting"
    assert "canceled" in refused.value.message
