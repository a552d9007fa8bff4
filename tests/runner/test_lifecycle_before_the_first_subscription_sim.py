"""Lifecycle messages said between the start's listing of the markets and the first
subscription of the lifecycle channel, against the real simulator.

The loop starts from the markets it listed, all open. The `market_lifecycle_v2` channel has no
snapshot: a pause or close said before the loop's subscription of it was granted is never said
on it. The loop makes that window good as it makes a gap of the channel good: when it sees its
first lifecycle subscription granted, it reads its markets' state once, one listing for all of
them (runner/loop/watch.py). On the old code the loop traded a market paused or closed
in that window on the status it listed, until something else read it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.feed.channels import LIFECYCLE
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.waiting import pause, poll_until

LISTING = "GET /markets"


def _ticking(r: Rig) -> None:
    r.loop.tick(r.feed.drain_messages(), full=False)
    pause()


def _lifecycle_granted(r: Rig) -> bool:
    ws = r.feed.ws
    return ws is not None and LIFECYCLE in ws.session.sids


@pytest.mark.parametrize(("status", "read"), [("paused", "inactive"), ("closed", "closed")])
def test_a_market_stopped_before_the_first_lifecycle_subscription_is_not_traded(
    sim: SimHarness, tmp_path: Path, status: str, read: str
) -> None:
    stopped, other = "KXSTARTWINDOW-SIM-A", "KXSTARTWINDOW-SIM-B"
    with rig(
        sim,
        tmp_path,
        [stopped, other],
        strategy="market-maker",
        params={},
        before_feed=lambda: sim.set_status(stopped, status),
    ) as r:
        assert poll_until(lambda: _lifecycle_granted(r)), "the lifecycle channel is granted"
        assert poll_until(lambda: stopped in r.loop.closed, between=lambda: _ticking(r)), (
            "the status changed before the subscription is read once it is granted"
        )
        assert other not in r.loop.closed
        (closed,) = r.events("market_closed")
        assert (closed["ticker"], closed["status"]) == (stopped, read)
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert {o.ticker for o in r.client.orders.iter_orders(status="resting")} == {other}
        # one listing for both markets, and no other for the rest of the start
        assert r.requests(sim).get(LISTING, 0) == 1
        for _ in range(5):
            _ticking(r)
        assert r.requests(sim).get(LISTING, 0) == 1
