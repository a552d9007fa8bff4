"""A paper loop whose client acts on a subaccount (runner/paper.py, venue/venue.py): its
orders rest on that subaccount of its venue, it books the fills they get there, and its kill switch
cancels that subaccount's orders only, as on the exchange."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.paper_kill import ANSWER_KEY, request
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import BookSide, Side, TimeInForce
from tests.runner.paper_rig import paper_rig


def test_a_paper_loop_on_a_subaccount_books_the_fills_of_its_orders(tmp_path: Path) -> None:
    """The loop keeps the fills of its own subaccount (runner/execution/fills.py drops another's, as
    another book): the venue must list its orders' fills as that subaccount's, or the loop
    never sees its position and its limits never count it."""
    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state, subaccount=1) as rig:
        for _ in range(3):
            rig.step(1.0)
        loop = rig.loop
        resting = [
            o
            for o in loop.stop.client.orders.iter_orders(status="resting")
            if o.book_side is BookSide.BID
        ]
        assert resting, "the market maker quotes on paper"
        bid = resting[0]
        # a NO taker meets the YES bids at the quote's price: the recorded queue, then ours
        rig.venue.trade(bid.ticker, bid.yes_price, Decimal(100_000), Side.NO)
        for _ in range(60):  # the loop polls its fills every few (simulated) seconds
            rig.step(1.0)
            if loop.portfolio.position(bid.ticker):
                break
        bought = loop.portfolio.position(bid.ticker)
        assert bought > 0, "the loop counts the position its quote bought"
        fills = [f for f in rig.store.fills.iter_fills() if f.ticker == bid.ticker]
        assert sum(f.count for f in fills) == bought
        assert {f.subaccount for f in fills} == {1}
        # on the venue, where the exchange would hold it: subaccount 1, and nothing on 0
        venue = rig.venue.client
        assert venue.subaccount == 1
        assert [(p.ticker, p.position) for p in venue.portfolio.get_positions()] == [
            (bid.ticker, bought)
        ]
        assert venue.on_subaccount(0).portfolio.get_positions() == []
        assert venue.subaccount == 1


def test_the_kill_switch_of_a_paper_loop_on_a_subaccount_cancels_only_its_orders(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.paper-sim.db"
    with paper_rig(state, subaccount=1) as rig:
        for _ in range(3):
            rig.step(1.0)
        venue = rig.venue.client
        quoted = {o.order_id for o in venue.orders.iter_orders(status="resting")}
        assert quoted, "the market maker quotes on paper"
        ticker = next(iter(rig.loop.portfolio.markets))
        # an order of subaccount 0 on the same venue, through a handle: the loop's stays on 1
        other = venue.on_subaccount(0).orders.create_order(
            CreateOrder(ticker, BookSide.BID, Decimal("0.01"), Decimal(1), TimeInForce.GTC)
        )
        with Store.open(state, clock=rig.clock) as asker:
            request(asker, rig.clock, source="kalshi dashboard")
        rig.step(1.0)
        answer = json.loads(rig.store.entries.get_kv(ANSWER_KEY) or "{}")
        assert answer["proven"] is True
        assert set(answer["cancelled"]) == quoted
        assert rig.venue.resting_order_ids() == [other.order_id]
        assert venue.orders.get_order(other.order_id).status == "resting"
