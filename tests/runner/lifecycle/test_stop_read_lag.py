"""A stop whose withdrawal failed does not take a listing that lags the loop's orders as proof.

Kalshi's reads lag its writes (REFERENCE.md "Observed on the real wire": ~360 ms), and the
simulator's `read_lag_ms` does the same. The loop's two quotes are placed just before the stop,
whose batch cancel is refused (503, after the client's retries). The stop's listings, asked
within the read lag of those orders, do not show them yet. On the old code the stop booked
both as gone for not being listed, cancelled neither, and called that listing its proof:
`kalshi trade` exited 0 with both quotes resting. Now an order whose withdrawal failed is gone
only by a listing asked a read lag after the stop began: it is cancelled on its own, and when
that fails too, the proof waits out the lag, sees it resting and names it (exit 11).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kalshi_cli.store.records import RESTING
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig

TICKER = "KXSTOPLAG-SIM-A"
# the simulator's reads lag this long, and the loop is told so (`read_lag`): longer than the
# client's retries of the refused batch cancel take
READ_LAG_S = 3.0


class RefusedCancels(httpx.HTTPTransport):
    """The real transport, answering 503 to the cancels `refused` names without passing them
    on (the exchange never sees them)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        batched = path.endswith("/portfolio/events/orders/batched")
        if request.method == "DELETE" and (self.refused == "every" or batched):
            return httpx.Response(503, json={"code": "service_unavailable", "message": "down"})
        return super().handle_request(request)


@pytest.mark.parametrize("refused", ["batched", "every"])
def test_a_failed_withdrawal_is_not_proven_by_a_listing_that_lags_the_orders(
    sim: SimHarness, tmp_path: Path, refused: str
) -> None:
    transport = RefusedCancels(refused)
    with rig(
        sim, tmp_path, [TICKER], strategy="market-maker", params={},
        transport=transport, read_lag_s=READ_LAG_S,
    ) as r:  # fmt: skip
        sim.set_faults(read_lag_ms=READ_LAG_S * 1000)
        r.loop.tick(r.feed.drain_messages(), full=True)
        placed = {o.order_id for o in r.loop.stop.own.resting()}
        assert len(placed) == 2
        summary = r.loop.stop.shutdown(cancel_resting=True)
        sim.clear_faults()
        resting = {o.order_id for o in r.client.orders.iter_orders(status="resting")}
        if refused == "batched":
            # each cancelled on its own once the batch was refused: proven, nothing left
            assert resting == set()
            assert summary.not_proven == ()
        else:
            # nothing could cancel them: both rest, and the stop says so
            assert resting == placed
            assert set(summary.not_proven) == placed
            assert {i.status for i in r.store.orders.intents()} == {RESTING}


class CancelsDoneButAnswered503(httpx.HTTPTransport):
    """The real transport, whose cancels reach the exchange (which cancels the orders) and
    are all answered 503 all the same: the loop cannot tell its cancels worked."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "DELETE":
            response.read()
            return httpx.Response(503, json={"code": "service_unavailable", "message": "down"})
        return response


def test_a_failed_withdrawal_whose_orders_are_gone_is_proven_by_a_listing_a_read_lag_on(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Every cancel of the stop answered 503, though each was done: the loop still holds both
    quotes resting. The proof waits until a read lag has passed since the stop began, lists
    the resting orders, finds neither, and the stop is proven. Not waiting, its listing was
    too soon to say they were gone, and it named both (exit 11); listing every order, not the
    resting ones, it counted the cancelled quotes as resting."""
    with rig(
        sim, tmp_path, [TICKER], strategy="market-maker", params={},
        transport=CancelsDoneButAnswered503(), read_lag_s=READ_LAG_S,
    ) as r:  # fmt: skip
        r.loop.tick(r.feed.drain_messages(), full=True)
        placed = {o.order_id for o in r.loop.stop.own.resting()}
        assert len(placed) == 2
        summary = r.loop.stop.shutdown(cancel_resting=True)
        assert {o.order_id for o in r.client.orders.iter_orders(status="resting")} == set()
        assert summary.not_proven == ()


def test_a_proof_its_deadline_cuts_short_of_the_read_lag_names_what_its_listing_does_not_show(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Nothing could cancel the two quotes, and the stop's deadline ends before a read lag has
    passed since the stop began: the proof's listing, asked sooner, does not show the quotes
    yet, and cannot say they are gone. Both are named."""
    with rig(
        sim, tmp_path, [TICKER], strategy="market-maker", params={},
        transport=RefusedCancels("every"), read_lag_s=READ_LAG_S, settings={"stop_deadline_s": 1.0},
    ) as r:  # fmt: skip
        sim.set_faults(read_lag_ms=READ_LAG_S * 1000)
        r.loop.tick(r.feed.drain_messages(), full=True)
        placed = {o.order_id for o in r.loop.stop.own.resting()}
        assert len(placed) == 2
        summary = r.loop.stop.shutdown(cancel_resting=True)
        sim.clear_faults()
        assert {o.order_id for o in r.client.orders.iter_orders(status="resting")} == placed
        assert set(summary.not_proven) == placed
