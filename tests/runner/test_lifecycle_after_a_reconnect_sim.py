"""Lifecycle messages lost while the WebSocket reconnects, against the real simulator.

The `market_lifecycle_v2` channel has no snapshot: a close, pause or resume said while the
connection was down is never said again on the new one. The feed reports the new subscription
of the channel as a gap of it (feed/ws.py), and the trade loop makes that gap good as it makes
any lifecycle gap good: one listing of its markets' state (runner/loop/watch.py). On
the old code the loop went on with what it last heard until the next gap: a market resumed
during the reconnect was never traded again, and one paused during it still counted as open.
"""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.feed.ws import WsFeed
from tests.conftest import SimHarness
from tests.runner.sim_rig import Rig, rig
from tests.waiting import pause, poll_until

LISTING = "GET /markets"


def _ticking(r: Rig) -> None:
    r.loop.tick(r.feed.drain_messages(), full=False)
    pause()


def _feed(r: Rig) -> WsFeed:
    ws = r.feed.ws
    assert ws is not None
    return ws


def _lost_in_a_reconnect(sim: SimHarness, r: Rig, ticker: str, status: str) -> None:
    """Change the market's status while the loop's connection is being dropped: the message
    that says so is the one the simulator drops the connection on instead of sending, and the
    feed then connects again and resubscribes."""
    ws = _feed(r)
    before = ws.connections
    sim.set_faults(ws_drop_rate=1.0)
    sim.set_status(ticker, status)
    assert poll_until(lambda: not ws.connected, between=lambda: _ticking(r)), "dropped"
    sim.clear_faults()
    assert poll_until(
        lambda: ws.connected and all(r.feed.is_fresh(t) for t in r.books),
        between=lambda: _ticking(r),
    ), "the feed is back"
    assert ws.connections > before


def test_a_resume_lost_while_the_feed_reconnected_trades_the_market_again(
    sim: SimHarness, tmp_path: Path
) -> None:
    resumed, other = "KXRECONNECT-SIM-A", "KXRECONNECT-SIM-B"
    with rig(sim, tmp_path, [resumed, other], strategy="market-maker", params={}) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        sim.set_status(resumed, "paused")
        assert poll_until(lambda: resumed in r.loop.closed, between=lambda: _ticking(r))
        listings = r.requests(sim).get(LISTING, 0)
        _lost_in_a_reconnect(sim, r, resumed, "open")
        assert poll_until(lambda: resumed not in r.loop.closed, between=lambda: _ticking(r)), (
            "the resume lost in the reconnect is read once the feed is back"
        )
        (reopened,) = r.events("market_reopened")
        assert (reopened["ticker"], reopened["status"]) == (resumed, "active")
        # one listing for both markets, not a read of each
        assert r.requests(sim).get(LISTING, 0) == listings + 1


def test_a_pause_lost_while_the_feed_reconnected_stops_the_market(
    sim: SimHarness, tmp_path: Path
) -> None:
    paused, other = "KXRECONNECT-SIM-C", "KXRECONNECT-SIM-D"
    with rig(sim, tmp_path, [paused, other], strategy="market-maker", params={}) as r:
        r.loop.tick(r.feed.drain_messages(), full=True)
        _lost_in_a_reconnect(sim, r, paused, "paused")
        assert poll_until(lambda: paused in r.loop.closed, between=lambda: _ticking(r)), (
            "the pause lost in the reconnect is read once the feed is back"
        )
        assert other not in r.loop.closed
        (closed,) = r.events("market_closed")
        assert (closed["ticker"], closed["status"]) == (paused, "inactive")
