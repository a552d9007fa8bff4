"""The stop's proof is the exchange's listing, not the loop's belief: an order resting under
the name of one of the loop's strategies is the loop's, whether its view still holds it or
not (one loop per account: no other loop places orders under those names)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshi_cli.client import CreateOrder
from kalshi_cli.vocabulary.models import ZERO, BookSide
from tests.conftest import SimHarness
from tests.runner.test_loop_order_batches_sim import rig

TICKER = "KXSTOPPROOF-SIM-A"


def test_a_quote_the_loops_view_lost_track_of_is_named_by_the_stop(
    sim: SimHarness, tmp_path: Path
) -> None:
    with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}) as r:
        r.loop.tick(r.feed.drain_events(), full=True)
        _, lost = sorted(o.order_id for o in r.loop.own_resting())
        # a slip of the loop's own books (a missed or misread message): the view no longer
        # counts the quote as resting, though it rests on the exchange
        r.loop.portfolio.update_order(lost, remaining=ZERO, status="canceled")
        summary = r.loop.shutdown(cancel_resting=True)
        resting = {o.order_id for o in r.client.orders.iter_orders(status="resting")}
        assert resting == {lost}, "the stop withdrew what it believed resting, and only that"
        assert summary.not_proven == (lost,)


def test_an_order_placed_by_hand_in_the_loops_market_is_not_the_stops_to_name(
    sim: SimHarness, tmp_path: Path
) -> None:
    with rig(sim, tmp_path, [TICKER], strategy="market-maker", params={}) as r:
        r.loop.tick(r.feed.drain_events(), full=True)
        by_hand = r.client.orders.create_order(_a_bid_by_hand())
        summary = r.loop.shutdown(cancel_resting=True)
        resting = {o.order_id for o in r.client.orders.iter_orders(status="resting")}
        assert resting == {by_hand.order_id}
        assert summary.not_proven == ()


def _a_bid_by_hand() -> CreateOrder:
    return CreateOrder(
        ticker=TICKER, book_side=BookSide.BID, price=Decimal("0.30"), count=Decimal(1)
    )
