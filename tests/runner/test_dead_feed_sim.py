"""A feed that goes silent without closing (the WebSocket stays open, no message comes) leaves
no quote of the loop resting: once its data is older than `risk.stale_after_s`, every market's
quotes are withdrawn, and none is placed again while the silence lasts.

The loop runs on the simulator with its real WebSocket feed; the simulator's `ws_silence_s`
fault keeps the connection open and sends nothing."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import SimHarness
from tests.runner.lifecycle.test_stop_deadline import MARKETS, quoting, resting_on_the_exchange
from tests.runner.simproc import log_events

STALE_AFTER_S = 2.0


def test_a_silent_feed_leaves_no_quote_resting(sim: SimHarness, tmp_path: Path) -> None:
    with quoting(sim, tmp_path, group=False, stale_after_s=STALE_AFTER_S) as rig:
        assert resting_on_the_exchange(sim, rig) == 2 * len(MARKETS)
        sim.set_faults(ws_silence_s=60)
        # the loop runs as `kalshi trade` runs it: a pass every tick, for three times the
        # bound, each pass draining what the feed has. The silence lasting is what is tested,
        # so this runs for a length of time, not until a condition. What rests is counted
        # after each pass that began twice the bound into the silence (a pass that began
        # before its data was stale may end after that on a loaded machine, its quotes rightly
        # still out), and at least one such pass runs however slow the passes are
        feed = rig.loop.feed
        end = time.monotonic() + 3 * STALE_AFTER_S
        left: list[int] = []
        while time.monotonic() < end or not left:
            began = time.monotonic()
            rig.loop.tick(feed.drain_messages(), full=True)
            if began > end - STALE_AFTER_S:
                left.append(resting_on_the_exchange(sim, rig))
            time.sleep(0.1)  # the loop's tick
        events = [e["event"] for e in log_events(rig.log)]
        assert "feed_stale" in events
        # once the data is past its bound (and a pass has run), nothing of the loop rests
        assert left and max(left) == 0, (left, rig.loop.stop.own.resting())
        assert rig.loop.stop.own.resting() == []
