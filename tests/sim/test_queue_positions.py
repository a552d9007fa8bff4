"""Queue positions come from the book's real FIFO: the contracts resting ahead of an order at its
price, in order of arrival, through every kind of amend (openapi.yaml GetOrderQueuePosition(s);
REFERENCE.md "Changes in 3.31.0": an expiry-only amend or a decrease keeps the place, a price
change or a size increase sends the order to the back)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from kalshi_cli.sim.server.announce import AccountInfo
from tests.conftest import SimHarness
from tests.wire import order_body

T = "KXQUEUE-26JAN01-A"
U = "KXQUEUE-26JAN01-B"
OTHER_EVENT = "KXOTHER-26JAN01-A"
ORDERS = "/portfolio/events/orders"


def place(
    sim: SimHarness, who: AccountInfo, price: str, count: str, *, side: str = "bid", ticker: str = T
) -> str:
    body = order_body(ticker, side=side, price=price, count=count)
    return str(sim.placed(who, body)["order_id"])


def amend(sim: SimHarness, who: AccountInfo, order_id: str, **fields: Any) -> None:
    body = {"ticker": T, "side": "bid", **fields}
    answer = sim.signed(who, "POST", f"{ORDERS}/{order_id}/amend", json=body)
    assert answer.status_code == 200, answer.text


def one(sim: SimHarness, who: AccountInfo, order_id: str) -> Decimal:
    answer = sim.signed(who, "GET", f"/portfolio/orders/{order_id}/queue_position")
    assert answer.status_code == 200, answer.text
    return Decimal(answer.json()["queue_position_fp"])


def every(sim: SimHarness, who: AccountInfo, **params: str) -> dict[str, Decimal]:
    answer = sim.signed(who, "GET", "/portfolio/orders/queue_positions", params=params)
    assert answer.status_code == 200, answer.text
    return {
        row["order_id"]: Decimal(row["queue_position_fp"])
        for row in answer.json()["queue_positions"]
    }


def test_queue_position_follows_arrival_through_amends(sim: SimHarness) -> None:
    sim.create_market(T)
    me, other, taker = sim.account, sim.new_account(), sim.new_account()
    a = place(sim, me, "0.40", "5")
    b = place(sim, other, "0.40", "3")
    c = place(sim, me, "0.40", "2")
    assert (one(sim, me, a), one(sim, other, b), one(sim, me, c)) == (0, 5, 8)
    assert every(sim, me) == {a: 0, c: 8}  # only my own orders, each with the whole queue ahead

    # a decrease keeps the place; what is ahead of the others shrinks
    answer = sim.signed(me, "POST", f"{ORDERS}/{a}/decrease", json={"reduce_to": "2"})
    assert answer.status_code == 200, answer.text
    assert every(sim, me) == {a: 0, c: 5}
    # an amend of the expiry alone keeps the place
    later = int(time.time()) + 3600
    amend(sim, me, c, price="0.40", count="2", expiration_time=later)
    assert one(sim, me, c) == 5
    # an amend that lowers the size at the same price keeps the place too
    amend(sim, me, a, price="0.40", count="1")
    assert (one(sim, me, a), one(sim, me, c)) == (0, 4)
    # a size increase sends the order to the back: behind b (3) and c (2)
    amend(sim, me, a, price="0.40", count="4")
    assert every(sim, me) == {a: 5, c: 3}
    assert one(sim, other, b) == 0
    # a price change sends it to the back of its new level, and back again behind everyone
    amend(sim, me, c, price="0.41", count="2")
    assert one(sim, me, c) == 0
    amend(sim, me, c, price="0.40", count="2")
    assert every(sim, me) == {a: 3, c: 7}
    # a fill takes from the head of the queue: 2 of b's 3
    sell = order_body(T, side="ask", count="2", time_in_force="immediate_or_cancel")
    sim.placed(taker, sell)
    assert every(sim, me) == {a: 1, c: 5}
    # an order that no longer rests has no queue position: the one order 404
    assert sim.signed(me, "DELETE", f"{ORDERS}/{a}").status_code == 200
    gone = sim.signed(me, "GET", f"/portfolio/orders/{a}/queue_position")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert every(sim, me) == {c: 1}
    # someone else's order is not found either
    assert sim.signed(me, "GET", f"/portfolio/orders/{b}/queue_position").status_code == 404


def test_asks_queue_on_their_own_side(sim: SimHarness) -> None:
    """An ask (sell YES) rests as a NO bid at 1 - price: its queue is the other asks at that
    price, not the bids."""
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    place(sim, other, "0.40", "7")  # a bid: not in any ask's queue
    first = place(sim, other, "0.60", "4", side="ask")
    mine = place(sim, me, "0.60", "1", side="ask")
    better = place(sim, me, "0.59", "1", side="ask")
    assert one(sim, other, first) == 0
    assert every(sim, me) == {mine: 4, better: 0}


def test_queue_positions_filter_by_market_and_event(sim: SimHarness) -> None:
    for ticker in (T, U, OTHER_EVENT):
        sim.create_market(ticker)
    me = sim.account
    t, u, o = (place(sim, me, "0.30", "1", ticker=k) for k in (T, U, OTHER_EVENT))
    assert every(sim, me) == {t: 0, u: 0, o: 0}
    assert every(sim, me, market_tickers=f"{T},{OTHER_EVENT}") == {t: 0, o: 0}
    assert every(sim, me, event_ticker="KXQUEUE-26JAN01") == {t: 0, u: 0}
    assert every(sim, me, subaccount="3") == {}


def test_an_amend_answers_what_it_filled_and_what_rests_only_when_it_changed_them(
    sim: SimHarness,
) -> None:
    """AmendOrderV2Response: `fill_count` is what the amend itself filled (what
    `average_fill_price` averages over), and the counts are null when the amend neither filled
    nor changed the resting size ("only present" then; the spec's schema refuses a null)."""
    sim.create_market(T)
    me, other = sim.account, sim.new_account()
    mine = place(sim, me, "0.41", "5")
    place(sim, other, "0.41", "2", side="ask")  # meets 2 of mine: filled before the amend
    place(sim, other, "0.45", "3", side="ask")

    def amend_answer(**fields: Any) -> dict[str, Any]:
        body = {"ticker": T, "side": "bid", **fields}
        answer = sim.signed(me, "POST", f"{ORDERS}/{mine}/amend", json=body)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    later = int(time.time()) + 3600
    unchanged = amend_answer(price="0.41", count="5", expiration_time=later)
    assert "fill_count" not in unchanged and "remaining_count" not in unchanged
    crossed = amend_answer(price="0.45", count="5")
    assert (crossed["fill_count"], crossed["remaining_count"]) == ("3.00", "0.00")
    assert crossed["average_fill_price"] == "0.4500"
