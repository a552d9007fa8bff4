"""A loop stopped while its orders wait for the write budget, against the real simulator: the
orders still waiting are withdrawn at once and give their tokens back, so the stop's own
cancels go out within its deadline instead of queueing behind orders that will never leave,
and the stop proves that nothing of the loop rests."""

from __future__ import annotations

import time
from pathlib import Path

from kalshi_cli.client.ratelimit import BucketLimit, TierLimits
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.waiting import pause, poll_until

TICKERS = [f"KXWRITEBUDGET-SIM-M{n:02d}" for n in range(10)]
# one order a second: sixteen workers each holding an order take fourteen seconds of writes,
# past the stop's deadline, which is itself far past a busy machine's stall of the stop's calls
SLOW_WRITES = TierLimits(read=BucketLimit(1000, 1000), write=BucketLimit(10, 20))
STOP_DEADLINE_S = 8.0


def test_a_stop_behind_a_backlog_of_orders_cancels_what_rests_within_its_deadline(
    sim: SimHarness, tmp_path: Path
) -> None:
    with rig(
        sim, tmp_path, TICKERS, strategy="market-maker", params={}, batch_wait_s=0.0,
        send_workers=16, rate_limits=SLOW_WRITES, settings={"stop_deadline_s": STOP_DEADLINE_S},
    ) as r:  # fmt: skip
        # a tick called on its own (as `--once` runs it) decides every market at once, as a
        # loop does when the budget runs out under it (a 429 that empties the bucket): the
        # backlog is the client's
        r.loop.tick(r.feed.drain_messages(), full=True)
        assert len(r.store.orders.intents()) == 2 * len(TICKERS)  # every quote decided

        def resting() -> int:
            return len(list(r.client.orders.iter_orders(status="resting")))

        def some_rest() -> bool:
            r.loop.tick(r.feed.drain_messages(), full=False)
            pause()
            return resting() >= 2

        assert poll_until(some_rest)
        assert r.loop.dispatch.in_flight > 8, "most orders still wait for the write budget"
        began = time.monotonic()
        summary = r.loop.stop.shutdown(cancel_resting=True)
        took = time.monotonic() - began
        assert summary.not_proven == (), summary.not_proven
        assert resting() == 0
        assert took < STOP_DEADLINE_S + 1.0, f"the stop took {took:.1f}s"
